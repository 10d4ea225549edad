// The console's escape key (issue 17), as QEMU's -nographic has it: Ctrl-A, then x ends the VM,
// h prints the escapes, Ctrl-A sends one Ctrl-A to the guest; any other key after Ctrl-A is
// dropped. Everything else goes to the guest unchanged. Pure; the input thread runs it on what
// it read from the terminal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

namespace hvk::cli {

inline constexpr std::uint8_t kEscapeKey = 0x01;  // Ctrl-A

// What the escapes do, for `Ctrl-A h` (with "\r\n": the terminal is raw).
inline constexpr std::string_view kEscapeHelp =
    "\r\nhvk console escapes (Ctrl-A, then):\r\n"
    "  x        end the VM\r\n"
    "  h        this help\r\n"
    "  Ctrl-A   send Ctrl-A to the guest\r\n";

class ConsoleEscape {
 public:
  ConsoleEscape(std::function<void()> on_quit, std::function<void()> on_help)
      : on_quit_(std::move(on_quit)), on_help_(std::move(on_help)) {}

  // Rewrites `bytes` in place to what the guest gets and returns how many of the first bytes
  // that is. After `Ctrl-A x` nothing more is delivered. An escape split across two reads works.
  std::size_t filter(std::span<std::uint8_t> bytes);

 private:
  std::function<void()> on_quit_;
  std::function<void()> on_help_;
  bool escape_ = false;
  bool quit_ = false;
};

}  // namespace hvk::cli
