#include "machine/console.h"

namespace hvk::machine {

namespace {
constexpr std::size_t kMaxLine = 4096;  // a guest that never sends '\n' still gets printed
}

void Console::Stream::put(char c) {
  std::lock_guard lock(mu_);
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
  std::lock_guard lock(mu_);
  std::fwrite(prefix.data(), 1, prefix.size(), out_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace hvk::machine
