#include "machine/console.h"

#include <cerrno>

namespace hvk::machine {

namespace {
constexpr std::size_t kMaxLine = 4096;  // a guest that never sends '\n' still gets printed
}

void Console::Stream::put(char c) {
  std::lock_guard lock(mu_);
  if (console_.immediate_) {
    const std::string byte(1, c);
    console_.write_line(line_start_ ? prefix_ : std::string(), byte);
    line_start_ = c == '\n';
    return;
  }
  if (c == '\r') return;
  line_.push_back(c);
  if (c == '\n' || line_.size() >= kMaxLine) {
    if (line_.back() != '\n') line_.push_back('\n');
    console_.write_line(prefix_, line_);
    line_.clear();
  }
}

void Console::Stream::flush() {
  std::lock_guard lock(mu_);
  if (line_.empty()) return;
  line_.push_back('\n');
  console_.write_line(prefix_, line_);
  line_.clear();
}

void Console::write_line(const std::string& prefix, const std::string& line) {
  int err = 0;
  {
    std::lock_guard lock(mu_);
    if (failed_) return;
    errno = 0;
    std::fwrite(prefix.data(), 1, prefix.size(), out_);
    std::fwrite(line.data(), 1, line.size(), out_);
    if (std::fflush(out_) != 0 || std::ferror(out_)) {
      failed_ = true;
      err = errno != 0 ? errno : EIO;
    }
  }
  if (err != 0 && on_error_) on_error_(err);  // outside the lock: it may end the run
}

}  // namespace hvk::machine
