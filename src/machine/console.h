// Guest console output (COM1) to stdout, one whole line at a time, so lines from different VPs
// and partitions never interleave; each line is prefixed with its partition id when asked. At an
// interactive terminal (set_immediate) every byte goes out as it comes, carriage returns
// included, so a prompt without a newline shows and a guest can redraw its line.
#pragma once

#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

namespace hvk::machine {

class Console {
 public:
  explicit Console(std::FILE* out = stdout) : out_(out) {}

  // Called once, with the errno, when a line cannot be written (a full disk behind a redirected
  // stdout); later lines are dropped. Set before any output.
  void on_write_error(std::function<void(int err)> f) { on_error_ = std::move(f); }
  // Each byte written at once (a person at a raw terminal reads along). Set before any output.
  void set_immediate(bool on) { immediate_ = on; }

  // A line buffer of one partition.
  class Stream {
   public:
    Stream(Console& console, std::string prefix) : console_(console), prefix_(std::move(prefix)) {}
    void put(char c);
    void flush();  // writes a partial line, if any

   private:
    Console& console_;
    std::string prefix_;
    std::string line_;
    bool line_start_ = true;  // immediate mode: the next byte begins a line (prefix first)
    std::mutex mu_;
  };

 private:
  void write_line(const std::string& prefix, const std::string& line);
  bool immediate_ = false;
  std::FILE* out_;
  std::mutex mu_;
  bool failed_ = false;  // guarded by mu_
  std::function<void(int)> on_error_;
};

}  // namespace hvk::machine
