#include "cli/terminal.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>

namespace hvk::cli {

namespace {

// The one terminal hvk changed and its modes as they were; read by signal handlers.
struct termios g_saved {};
std::atomic<int> g_fd{-1};

// Signals after which hvk would end without running destructors: restore, then die of the same
// signal as before (the handler is reset by SA_RESETHAND; a fault re-raises on return).
constexpr std::array<int, 9> kFatal = {SIGINT,  SIGTERM, SIGHUP, SIGQUIT, SIGABRT,
                                       SIGSEGV, SIGBUS,  SIGFPE, SIGILL};
std::array<struct sigaction, kFatal.size()> g_previous{};

void on_fatal(int sig) {
  restore_terminal_now();
  ::raise(sig);  // the default action now: delivered when the handler returns
}

}  // namespace

void restore_terminal_now() noexcept {
  const int fd = g_fd.load();
  if (fd >= 0) (void)::tcsetattr(fd, TCSAFLUSH, &g_saved);
}

RawTerminal::RawTerminal(int fd) {
  if (!::isatty(fd) || ::tcgetattr(fd, &g_saved) != 0) return;
  struct termios raw = g_saved;
  ::cfmakeraw(&raw);
  raw.c_oflag |= OPOST | ONLCR;  // "\n" still starts a new line
  // The handlers first: a signal right after the switch must find them.
  g_fd.store(fd);
  for (std::size_t i = 0; i < kFatal.size(); ++i) {
    struct sigaction sa {};
    sa.sa_handler = on_fatal;
    sa.sa_flags = static_cast<int>(SA_RESETHAND);
    sigemptyset(&sa.sa_mask);
    (void)::sigaction(kFatal[i], &sa, &g_previous[i]);
  }
  active_ = true;
  if (::tcsetattr(fd, TCSAFLUSH, &raw) != 0) undo();
}

RawTerminal::~RawTerminal() {
  undo();
}

void RawTerminal::undo() {
  if (!active_) return;
  active_ = false;
  restore_terminal_now();
  g_fd.store(-1);
  for (std::size_t i = 0; i < kFatal.size(); ++i) {
    (void)::sigaction(kFatal[i], &g_previous[i], nullptr);
  }
}

}  // namespace hvk::cli
