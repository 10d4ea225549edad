#include "cli/console_escape.h"

namespace hvk::cli {

std::size_t ConsoleEscape::filter(std::span<std::uint8_t> bytes) {
  std::size_t out = 0;
  for (std::uint8_t b : bytes) {
    if (quit_) break;
    if (!escape_) {
      if (b == kEscapeKey) {
        escape_ = true;
      } else {
        bytes[out++] = b;
      }
      continue;
    }
    escape_ = false;
    switch (b) {
      case kEscapeKey:
        bytes[out++] = b;
        break;
      case 'x':
      case 'X':
        quit_ = true;
        if (on_quit_) on_quit_();
        break;
      case 'h':
      case 'H':
      case '?':
        if (on_help_) on_help_();
        break;
      default:
        break;  // an escape hvk does not know: dropped, as QEMU does
    }
  }
  return out;
}

}  // namespace hvk::cli
