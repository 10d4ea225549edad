// The local APIC timer read from a kvm_lapic_state page (src/machine/apic/lapic_timer.h): the
// divide encoding, the LVT timer fields, and when the timer next fires (conformance T12).
#include "machine/apic/lapic_timer.h"

#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <array>
#include <cstring>
#include <utility>

#include "machine/apic/apic_page.h"

namespace hvk::machine {
namespace {

constexpr std::uint32_t kMasked = 1u << 16;
constexpr std::uint32_t kPeriodic = 1u << 17;
constexpr std::uint32_t kTscDeadline = 2u << 17;
constexpr std::uint32_t kReservedMode = 3u << 17;

// A register page with LVTT, TMCCT and TDCR as given, every other byte 0xA5.
kvm_lapic_state page(std::uint32_t lvtt, std::uint32_t tmcct, std::uint32_t tdcr) {
  kvm_lapic_state s{};
  std::memset(s.regs, 0xA5, sizeof s.regs);
  auto put = [&s](unsigned offset, std::uint32_t v) { std::memcpy(s.regs + offset, &v, 4); };
  put(kApicLvtt, lvtt);
  put(kApicTmcct, tmcct);
  put(kApicTdcr, tdcr);
  return s;
}

TEST(LapicTimer, DivideFollowsTheSdmEncoding) {
  // SDM Vol. 3A "Divide Configuration Register": bits 3, 1, 0; bit 2 is reserved.
  const std::array<std::pair<std::uint32_t, std::uint32_t>, 8> sdm{{{0b0000, 2},
                                                                    {0b0001, 4},
                                                                    {0b0010, 8},
                                                                    {0b0011, 16},
                                                                    {0b1000, 32},
                                                                    {0b1001, 64},
                                                                    {0b1010, 128},
                                                                    {0b1011, 1}}};
  for (const auto& [tdcr, divide] : sdm) {
    EXPECT_EQ(lapic_timer_divide(tdcr), divide) << "TDCR " << tdcr;
    // Bit 2 and bits 31:4 are not part of the encoding.
    EXPECT_EQ(lapic_timer_divide(tdcr | 0b0100), divide) << "TDCR " << (tdcr | 4);
    EXPECT_EQ(lapic_timer_divide(tdcr | 0xFFFF'FFF0u), divide) << "TDCR " << tdcr;
  }
}

TEST(LapicTimer, ReadsTheLvtTimerCurrentCountAndDivide) {
  const kvm_lapic_state one_shot = page(0x40, 1234, 0b1010);
  LapicTimer t = read_lapic_timer(one_shot.regs);
  EXPECT_FALSE(t.masked);
  EXPECT_EQ(t.mode, LapicTimerMode::kOneShot);
  EXPECT_EQ(t.vector, 0x40);
  EXPECT_EQ(t.current_count, 1234u);  // TMCCT (0x390), not the initial count at 0x380
  EXPECT_EQ(t.divide, 128u);

  const kvm_lapic_state periodic = page(kMasked | kPeriodic | 0xEF, 7, 0b1011);
  t = read_lapic_timer(periodic.regs);
  EXPECT_TRUE(t.masked);
  EXPECT_EQ(t.mode, LapicTimerMode::kPeriodic);
  EXPECT_EQ(t.vector, 0xEF);
  EXPECT_EQ(t.current_count, 7u);
  EXPECT_EQ(t.divide, 1u);

  // Delivery status (bit 12) and the bits above the mode are not the timer's fields.
  const kvm_lapic_state deadline = page(0xFFF8'0000u | (1u << 12) | kTscDeadline | 0x31, 0, 0);
  t = read_lapic_timer(deadline.regs);
  EXPECT_FALSE(t.masked);
  EXPECT_EQ(t.mode, LapicTimerMode::kTscDeadline);
  EXPECT_EQ(t.vector, 0x31);
  EXPECT_EQ(t.divide, 2u);
}

TEST(LapicTimer, OneShotAndPeriodicFireAfterTheCurrentCountTimesTheDivide) {
  const TimerClocks clocks{.apic_hz = 1'000'000'000};
  for (const std::uint32_t mode : {0u, kPeriodic}) {
    const LapicTimer t = read_lapic_timer(page(mode | 0x40, 1000, 0b0011).regs);  // / 16
    EXPECT_EQ(lapic_timer_remaining_ns(t, clocks), 16'000u) << mode;
  }
  // A 25 MHz APIC clock: 40 ns a tick.
  const LapicTimer t = read_lapic_timer(page(0x40, 3, 0b1011).regs);
  EXPECT_EQ(lapic_timer_remaining_ns(t, {.apic_hz = 25'000'000}), 120u);
  // The largest count and divide at 25 MHz: 2^32-1 * 128 * 40 ns, past what 64 bits hold before
  // the division.
  const LapicTimer big = read_lapic_timer(page(0x40, 0xFFFF'FFFFu, 0b1010).regs);
  EXPECT_EQ(lapic_timer_remaining_ns(big, {.apic_hz = 25'000'000}),
            std::uint64_t{0xFFFF'FFFFu} * 128 * 40);
}

TEST(LapicTimer, NotArmedWhenMaskedStoppedOrWithABadVector) {
  const TimerClocks clocks{.apic_hz = 1'000'000'000};
  // TMCCT 0: a one-shot that has fired, or a timer never started.
  EXPECT_EQ(lapic_timer_remaining_ns(read_lapic_timer(page(0x40, 0, 0).regs), clocks),
            std::nullopt);
  EXPECT_EQ(lapic_timer_remaining_ns(read_lapic_timer(page(kPeriodic | 0x40, 0, 0).regs), clocks),
            std::nullopt);
  EXPECT_EQ(lapic_timer_remaining_ns(read_lapic_timer(page(kMasked | 0x40, 100, 0).regs), clocks),
            std::nullopt);
  for (const std::uint32_t vector : {0u, 15u}) {
    EXPECT_EQ(lapic_timer_remaining_ns(read_lapic_timer(page(vector, 100, 0).regs), clocks),
              std::nullopt)
        << vector;
  }
  EXPECT_EQ(lapic_timer_remaining_ns(read_lapic_timer(page(16, 100, 0).regs), clocks), 200u);
  // No APIC clock known; the reserved mode 3.
  EXPECT_EQ(lapic_timer_remaining_ns(read_lapic_timer(page(0x40, 100, 0).regs), {}), std::nullopt);
  EXPECT_EQ(
      lapic_timer_remaining_ns(read_lapic_timer(page(kReservedMode | 0x40, 100, 0).regs), clocks),
      std::nullopt);
}

TEST(LapicTimer, TscDeadlineModeFiresAtTheDeadline) {
  // TMCCT and the divide mean nothing in this mode.
  const LapicTimer t = read_lapic_timer(page(kTscDeadline | 0x50, 0, 0).regs);
  TimerClocks c{.apic_hz = 1'000'000'000, .tsc_hz = 3'000'000'000, .tsc_now = 1'000'000};
  EXPECT_EQ(lapic_timer_remaining_ns(t, c), std::nullopt);  // deadline 0: disarmed
  c.tsc_deadline = c.tsc_now + 3'000'000'000;
  EXPECT_EQ(lapic_timer_remaining_ns(t, c), 1'000'000'000u);
  c.tsc_deadline = c.tsc_now + 3;
  EXPECT_EQ(lapic_timer_remaining_ns(t, c), 1u);
  // A deadline already passed fires at once.
  c.tsc_deadline = c.tsc_now;
  EXPECT_EQ(lapic_timer_remaining_ns(t, c), 0u);
  c.tsc_deadline = 1;
  EXPECT_EQ(lapic_timer_remaining_ns(t, c), 0u);
  // No TSC frequency; masked.
  c.tsc_deadline = c.tsc_now + 1000;
  EXPECT_EQ(lapic_timer_remaining_ns(t, {.tsc_hz = 0, .tsc_now = 0, .tsc_deadline = 1000}),
            std::nullopt);
  EXPECT_EQ(lapic_timer_remaining_ns(read_lapic_timer(page(kMasked | kTscDeadline | 0x50, 0, 0).regs),
                                     c),
            std::nullopt);
  // A TMCCT left over from another mode does not arm it.
  const LapicTimer stale = read_lapic_timer(page(kTscDeadline | 0x50, 500, 0).regs);
  EXPECT_EQ(lapic_timer_remaining_ns(stale, {.apic_hz = 1'000'000'000, .tsc_hz = 1'000'000'000}),
            std::nullopt);
}

}  // namespace
}  // namespace hvk::machine
