// The reference time read off the guest's TSC (machine/guest_tsc_clock.h): the page's formula,
// and, where /dev/kvm opens, the calibration against a real vCPU's IA32_TSC.
#include "machine/guest_tsc_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kvm/kvm.h"
#include "kvm/vm.h"

namespace hvk::machine {
namespace {

TEST(GuestTscClock, OneSecondOfTscIsTenMillionTicks) {
  for (std::uint64_t hz : {1'000'000'000ull, 2'495'312'000ull, 3'000'000'000ull}) {
    const hv::ReferenceTscPage page = hv::reference_tsc_page(hz);
    const std::uint64_t t = GuestTscClock::ticks(hz, page);
    EXPECT_LE(t, 10'000'000u) << hz;  // the scale rounds down: never ahead of real time
    EXPECT_GE(t, 9'999'999u) << hz;
    EXPECT_EQ(GuestTscClock::ticks(0, page), 0u);
  }
}

TEST(GuestTscClock, AddsThePageOffset) {
  hv::ReferenceTscPage page = hv::reference_tsc_page(1'000'000'000);
  page.offset = 5;
  EXPECT_EQ(GuestTscClock::ticks(0, page), 5u);
  EXPECT_EQ(GuestTscClock::ticks(100, page), 5u);  // 100 ns is one tick: the product rounds down
  EXPECT_EQ(GuestTscClock::ticks(1000, page), 5u + 9u);
}

TEST(GuestTscClock, TwoMeasurementsAgreeWithinTheirBrackets) {
  using S = GuestTscClock::Sample;
  EXPECT_TRUE(GuestTscClock::agree(S{1000, 100}, S{1000, 100}, 0));
  EXPECT_TRUE(GuestTscClock::agree(S{1000, 100}, S{1100, 100}, 0));   // 50 + 50
  EXPECT_FALSE(GuestTscClock::agree(S{1000, 100}, S{1101, 100}, 0));
  EXPECT_TRUE(GuestTscClock::agree(S{1101, 100}, S{1000, 100}, 1));   // either sign, and slack
  EXPECT_TRUE(GuestTscClock::agree(S{~0ull, 2}, S{1, 2}, 0));        // across the wrap: 2 apart
  // A TSC stopped for 200 µs at 2 GHz against 2 µs brackets.
  EXPECT_FALSE(GuestTscClock::agree(S{5'000'000, 4000}, S{4'600'000, 4000}, 1000));
}

TEST(GuestTscClock, ReadsWhatTheVcpuReads) {
  auto kvm = kvm::Kvm::open();
  if (!kvm) GTEST_SKIP() << "no KVM: " << kvm.error().message();
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm) << vm.error().message();
  auto vcpu = vm->create_vcpu(0);
  ASSERT_TRUE(vcpu) << vcpu.error().message();
  auto khz = vcpu->tsc_khz();
  ASSERT_TRUE(khz) << khz.error().message();
  const hv::ReferenceTscPage page = hv::reference_tsc_page(std::uint64_t{*khz} * 1000);
  auto clock = GuestTscClock::calibrate(*vcpu, page);
  ASSERT_TRUE(clock) << clock.error().message();
  if (!clock->reads_guest_tsc()) {
    // This host's KVM does not keep the guest's TSC running with the host's (an unstable host
    // TSC): the clock counts the steady clock, and the guest gets no valid page.
    const std::uint64_t a = clock->now();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_GE(clock->now() - a, 20'000u);
    GTEST_SKIP() << "the guest's TSC does not follow the host's here (unstable host TSC)";
  }
  // Bracketed: what the clock said before KVM's read is not after it, and after is not before.
  for (int i = 0; i < 100; ++i) {
    const std::uint64_t before = clock->guest_tsc();
    auto tsc = vcpu->msr(0x10);
    const std::uint64_t after = clock->guest_tsc();
    ASSERT_TRUE(tsc);
    // The calibration's own error (half its narrowest bracket) is allowed: 10 µs at most.
    const std::uint64_t slack = std::uint64_t{*khz} * 10 / 1000;
    EXPECT_LE(before, *tsc + slack);
    EXPECT_GE(after + slack, *tsc);
  }
  const std::uint64_t a = clock->now();
  const std::uint64_t b = clock->now();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace hvk::machine
