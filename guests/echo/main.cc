// echo: the guest a person types into (issue 17; tests/console). It reads COM1 and writes back
// what arrived, one token per byte: a printable character as itself, a control character as
// ^X (so Ctrl-C shows as ^C and Ctrl-A as ^A), Enter as a new line. Ctrl-D ends it with status 0;
// '!' makes it triple-fault (a guest that crashes while the terminal is raw).
#include <cstdint>

#include "guest/guest.h"

namespace {

constexpr std::uint16_t kLsr = guest::kCom1 + 5;
constexpr std::uint8_t kDataReady = 0x01;

std::uint8_t read_byte() {
  while ((guest::inb(kLsr) & kDataReady) == 0) {
    asm volatile("pause");
  }
  return guest::inb(guest::kCom1);
}

[[noreturn]] void triple_fault() {
  // No IDT: the first exception cannot be delivered, nor the double fault after it.
  struct [[gnu::packed]] {
    std::uint16_t limit;
    std::uint64_t base;
  } idtr{0, 0};
  asm volatile("lidt %0; int3" : : "m"(idtr));
  for (;;) {
  }
}

}  // namespace

extern "C" int guest_main(const void*) {
  guest::puts("echo: type; Ctrl-D ends, ! crashes");
  for (;;) {
    const std::uint8_t c = read_byte();
    if (c == 0x04) break;
    if (c == '!') {
      guest::puts("echo: crashing");
      triple_fault();
    }
    guest::LineLock lock;
    if (c == '\r' || c == '\n') {
      guest::putc('\n');
    } else if (c < 0x20 || c == 0x7F) {
      guest::putc('^');
      guest::putc(static_cast<char>(c == 0x7F ? '?' : c + '@'));
    } else {
      guest::putc(static_cast<char>(c));
    }
  }
  guest::puts("");
  guest::puts("echo: bye");
  return 0;
}
