#include "machine/apic/lapic_timer.h"

#include "machine/apic/apic_page.h"

namespace hvk::machine {
namespace {

// a * b / c, the product in 128 bits (a quotient above 2^64 is cut: not for the values here).
std::uint64_t mul_div(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  __extension__ using u128 = unsigned __int128;  // GCC and Clang
  return static_cast<std::uint64_t>(static_cast<u128>(a) * b / c);
}

}  // namespace

std::uint32_t lapic_timer_divide(std::uint32_t tdcr) {
  const std::uint32_t code = (tdcr & 3u) | ((tdcr & 8u) >> 1);  // 0..7; 7 means divide by 1
  return 1u << ((code + 1) & 7u);
}

LapicTimer read_lapic_timer(const char* regs) {
  const std::uint32_t lvtt = apic_register(regs, kApicLvtt);
  LapicTimer t;
  t.vector = static_cast<std::uint8_t>(lvtt & 0xFFu);
  t.masked = (lvtt & (1u << 16)) != 0;
  t.mode = static_cast<LapicTimerMode>((lvtt >> 17) & 3u);
  t.current_count = apic_register(regs, kApicTmcct);
  t.divide = lapic_timer_divide(apic_register(regs, kApicTdcr));
  return t;
}

std::optional<std::uint64_t> lapic_timer_remaining_ns(const LapicTimer& t,
                                                      const TimerClocks& clocks) {
  if (t.masked || t.vector < 16) return std::nullopt;
  switch (t.mode) {
    case LapicTimerMode::kOneShot:
    case LapicTimerMode::kPeriodic:
      if (t.current_count == 0 || clocks.apic_hz == 0) return std::nullopt;
      return mul_div(std::uint64_t{t.current_count} * t.divide, 1'000'000'000, clocks.apic_hz);
    case LapicTimerMode::kTscDeadline:
      if (clocks.tsc_deadline == 0 || clocks.tsc_hz == 0) return std::nullopt;
      if (clocks.tsc_deadline <= clocks.tsc_now) return 0;
      return mul_div(clocks.tsc_deadline - clocks.tsc_now, 1'000'000'000, clocks.tsc_hz);
  }
  return std::nullopt;  // mode 3 is reserved
}

}  // namespace hvk::machine
