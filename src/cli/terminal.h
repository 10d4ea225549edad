// hvk run at a terminal (issue 17): stdin in raw mode while the guest runs, so every key,
// Ctrl-C included, goes to the guest's COM1, and the terminal put back exactly as it was on every
// way hvk ends: a normal return, a fatal signal (SIGINT/SIGTERM/SIGHUP from elsewhere, a crash of
// hvk), and the seccomp sandbox's stop (cli/sandbox.cc calls restore_terminal_now()).
#pragma once

#include <termios.h>

namespace hvk::cli {

// While alive, `fd` (a terminal) is raw: no echo, no line editing, no signals from keys, bytes as
// they come; output still turns "\n" into "\r\n" so hvk's and the guest's lines stay readable.
// Restores the saved modes when destroyed.
class RawTerminal {
 public:
  // Does nothing (active() false) when `fd` is not a terminal or its modes cannot be read.
  explicit RawTerminal(int fd);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  bool active() const { return active_; }

 private:
  void undo();  // the modes and signal handlers as they were
  bool active_ = false;
};

// Puts back the modes a live RawTerminal saved, if any. Async-signal-safe (one tcsetattr).
void restore_terminal_now() noexcept;

}  // namespace hvk::cli
