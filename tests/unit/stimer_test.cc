// The synthetic timers, driven by a clock the test moves (docs/conformance.md Y15-Y23).
#include "synic_fixture.h"

namespace hvk::test {
namespace {

using hv::msr::kEom;
using hv::msr::kStimer0Config;
using hv::msr::kStimer0Count;
using tlfs::StimerConfig;

constexpr std::uint64_t kEnable = StimerConfig::kEnable;
constexpr std::uint64_t kPeriodic = StimerConfig::kPeriodic;
constexpr std::uint64_t kAutoEnable = StimerConfig::kAutoEnable;
constexpr std::uint64_t kDirect = StimerConfig::kDirectMode;
constexpr std::uint64_t sintx(unsigned s) {
  return std::uint64_t{s} << 16;
}
constexpr std::uint32_t config_msr(unsigned timer) {
  return kStimer0Config + 2 * timer;
}
constexpr std::uint32_t count_msr(unsigned timer) {
  return kStimer0Count + 2 * timer;
}

class Stimer : public SynicEngine {
 protected:
  void SetUp() override {
    SynicEngine::SetUp();
    enable_synic(0);
    set_sint(0, 2, 0xB2, true);
  }
  std::uint64_t poll() { return hv::poll_synic(*root_, 0, 0); }
  tlfs::TimerMessagePayload payload(unsigned sint) {
    tlfs::TimerMessagePayload p{};
    const tlfs::Message m = slot(0, sint);
    std::memcpy(&p, m.payload, sizeof p);
    return p;
  }
  hv::SyntheticTimers& timers() { return root_->vp(0)->synic(0).timers; }
};

TEST_F(Stimer, OneShotExpiresAtItsCountWithBothTimes) {
  EXPECT_FALSE(wr(0, count_msr(1), 5000).gp);
  EXPECT_FALSE(wr(0, config_msr(1), kEnable | sintx(2)).gp);
  EXPECT_EQ(poll(), 5000u);
  clock_.t = 4999;
  EXPECT_EQ(poll(), 5000u);
  EXPECT_EQ(slot(0, 2).header.message_type, 0u);  // never before its time
  clock_.t = 5003;
  EXPECT_EQ(poll(), hv::kNoDeadline);
  const tlfs::Message m = slot(0, 2);
  EXPECT_EQ(m.header.message_type, static_cast<std::uint32_t>(tlfs::MessageType::kTimerExpired));
  EXPECT_EQ(m.header.payload_size, 24u);
  EXPECT_EQ(m.header.origination_id, 0u);
  EXPECT_EQ(payload(2).timer_index, 1u);
  EXPECT_EQ(payload(2).expiration_time, 5000u);
  EXPECT_EQ(payload(2).delivery_time, 5003u);
  EXPECT_EQ(rd(0, config_msr(1)).value, sintx(2));  // a one-shot disables itself
  EXPECT_EQ(rd(0, count_msr(1)).value, 5000u);
  const auto s = sints();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].vector, 0xB2);
  EXPECT_TRUE(s[0].auto_eoi);
}

TEST_F(Stimer, OneShotInThePastExpiresAtOnce) {
  clock_.t = 9000;
  wr(0, count_msr(0), 100);
  wr(0, config_msr(0), kEnable | sintx(2));  // the write itself delivers it
  EXPECT_EQ(payload(2).expiration_time, 100u);
  EXPECT_EQ(payload(2).delivery_time, 9000u);
  EXPECT_EQ(sints().size(), 1u);
}

TEST_F(Stimer, PeriodicFiresEachPeriodAndSkipsMissedOnes) {
  clock_.t = 1000;
  wr(0, count_msr(3), 100);
  wr(0, config_msr(3), kEnable | kPeriodic | sintx(2));
  EXPECT_EQ(poll(), 1100u);  // the first period starts at the enabling write
  for (std::uint64_t k = 1; k <= 3; ++k) {
    clock_.t = 1000 + 100 * k;
    EXPECT_EQ(poll(), 1000 + 100 * (k + 1));
    EXPECT_EQ(payload(2).expiration_time, 1000 + 100 * k);
    empty_slot(0, 2);
  }
  // 3.5 periods late: one signal now, the next deadline stays in phase.
  clock_.t = 1650;
  EXPECT_EQ(poll(), 1700u);
  EXPECT_EQ(payload(2).expiration_time, 1400u);
  EXPECT_EQ(timers().stats().expirations, 4u);
  EXPECT_EQ(timers().stats().skipped, 2u);              // 1500 and 1600
  EXPECT_NE(rd(0, config_msr(3)).value & kEnable, 0u);  // periodic timers stay enabled
}

// Found by fuzz_dispatcher: a period so long that the deadline passes 2^64 wrapped around to a
// time already gone, so every poll fired the timer again and handed the machine a past deadline
// (its timer thread spun). A period that long never ends: no expiry, no deadline.
TEST_F(Stimer, PeriodPastTheEndOfTimeNeverExpires) {
  clock_.t = 2000;
  wr(0, count_msr(2), ~std::uint64_t{0});
  wr(0, config_msr(2), kEnable | kPeriodic | sintx(2));
  EXPECT_EQ(poll(), hv::kNoDeadline);
  clock_.t = 3000;
  EXPECT_EQ(poll(), hv::kNoDeadline);
  EXPECT_EQ(slot(0, 2).header.message_type, 0u);
  EXPECT_EQ(timers().stats().expirations, 0u);
  EXPECT_NE(rd(0, config_msr(2)).value & kEnable, 0u);  // still enabled, just never due

  // The same once the timer has run: a period that reaches past 2^64 from the last deadline.
  const std::uint64_t period = ~std::uint64_t{0} - 5000;
  wr(0, count_msr(3), period);
  clock_.t = 4000;
  wr(0, config_msr(3), kEnable | kPeriodic | sintx(2));
  clock_.t = 4000 + period;  // due now; the next one would be at 4000 + 2 * period
  EXPECT_EQ(poll(), hv::kNoDeadline);
  EXPECT_EQ(payload(2).expiration_time, 4000 + period);
  empty_slot(0, 2);
  EXPECT_EQ(poll(), hv::kNoDeadline);
  EXPECT_EQ(slot(0, 2).header.message_type, 0u);
  EXPECT_EQ(timers().stats().expirations, 1u);
}

TEST_F(Stimer, AutoEnableAndZeroCount) {
  wr(0, config_msr(2), kAutoEnable | sintx(2));
  EXPECT_EQ(rd(0, config_msr(2)).value & kEnable, 0u);
  wr(0, count_msr(2), 7000);  // non-zero count: enabled
  EXPECT_EQ(rd(0, config_msr(2)).value, kAutoEnable | sintx(2) | kEnable);
  EXPECT_EQ(timers().next_deadline(), 7000u);
  wr(0, count_msr(2), 0);  // zero: disabled, AutoEnable or not
  EXPECT_EQ(rd(0, config_msr(2)).value & kEnable, 0u);
  EXPECT_EQ(timers().next_deadline(), hv::kNoDeadline);
  // Without AutoEnable a count does not enable.
  wr(0, config_msr(0), sintx(2));
  wr(0, count_msr(0), 7000);
  EXPECT_EQ(rd(0, config_msr(0)).value & kEnable, 0u);
}

TEST_F(Stimer, EnabledWithSint0IsDisabledAtOnce) {
  wr(0, count_msr(0), 7000);
  wr(0, config_msr(0), kEnable | sintx(0));
  EXPECT_EQ(rd(0, config_msr(0)).value & kEnable, 0u);
  wr(0, config_msr(0), kEnable | kDirect | (0x40 << 4));  // direct mode names no SINT
  EXPECT_NE(rd(0, config_msr(0)).value & kEnable, 0u);
}

TEST_F(Stimer, ReservedConfigBitsReadAsZero) {
  wr(0, config_msr(1), 0xFFFF'FFFF'FFFF'FFF0ull);
  EXPECT_EQ(rd(0, config_msr(1)).value, 0xF'1FF0u);
}

TEST_F(Stimer, DirectModeRaisesTheVectorWithoutAMessage) {
  wr(0, count_msr(1), 2000);
  wr(0, config_msr(1), kEnable | kDirect | (0x41u << 4) | sintx(2));
  clock_.t = 2000;
  poll();
  EXPECT_EQ(slot(0, 2).header.message_type, 0u);
  const auto s = sints();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].vector, 0x41);
  EXPECT_FALSE(s[0].auto_eoi);
  EXPECT_EQ(s[0].source, hv::SintInterrupt::kDirectTimer + 1);
}

TEST_F(Stimer, OneShotWaitsForABusySlotUntilEom) {
  set_slot_type(0, 2, static_cast<std::uint32_t>(tlfs::MessageType::kTimerExpired));
  wr(0, count_msr(0), 3000);
  wr(0, config_msr(0), kEnable | sintx(2));
  clock_.t = 3000;
  poll();
  EXPECT_EQ(slot(0, 2).header.message_flags, tlfs::kMessagePending);
  EXPECT_EQ(sints().size(), 0u);  // nothing fired while the slot is busy
  clock_.t = 3500;
  poll();
  EXPECT_EQ(sints().size(), 0u);
  empty_slot(0, 2);
  wr(0, kEom, 0);
  EXPECT_EQ(sints().size(), 1u);
  EXPECT_EQ(payload(2).expiration_time, 3000u);
  EXPECT_EQ(payload(2).delivery_time, 3500u);
  EXPECT_EQ(rd(0, config_msr(0)).value & kEnable, 0u);
}

TEST_F(Stimer, PeriodicTickIntoABusySlotIsSkipped) {
  wr(0, count_msr(0), 100);
  wr(0, config_msr(0), kEnable | kPeriodic | sintx(2));
  set_slot_type(0, 2, 0x1234);
  clock_.t = 1100;
  EXPECT_EQ(poll(), 1200u);
  EXPECT_EQ(slot(0, 2).header.message_type, 0x1234u);
  EXPECT_EQ(timers().stats().skipped, 1u);
}

TEST_F(Stimer, TimerWritesTellTheMachineTheNextDeadline) {
  wr(0, count_msr(0), 8000);
  wr(0, config_msr(0), kEnable | sintx(2));
  wr(0, count_msr(1), 100);
  wr(0, config_msr(1), kEnable | kPeriodic | sintx(2));
  std::lock_guard lock(backend_.mu);
  ASSERT_FALSE(backend_.deadlines.empty());
  EXPECT_EQ(backend_.deadlines.back().vp, 0u);
  EXPECT_EQ(backend_.deadlines.back().vtl, 0);
  EXPECT_EQ(backend_.deadlines.back().at, 1100u);
}

TEST_F(Stimer, TimeRefCountReadsTheSameClock) {
  clock_.t = 123456;
  EXPECT_EQ(rd(0, hv::msr::kTimeRefCount).value, 123456u);
}

TEST_F(Stimer, TimersArePerVtl) {
  wr(0, count_msr(0), 8000);
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(rd(0, count_msr(0)).value, 0u);
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(rd(0, count_msr(0)).value, 8000u);
}

}  // namespace
}  // namespace hvk::test
