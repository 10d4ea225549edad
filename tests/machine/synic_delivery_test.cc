// The machine's SynIC room without KVM: the auto-EOI injection rules, the deadline thread, QEMU's
// hyperv-testdev, and SynicDelivery's routing of the engine's interrupts and timer deadlines
// (docs/architecture.md, "SynIC interrupts"; docs/conformance.md Y29).
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "hv/hypervisor.h"
#include "hv/synthetic_msrs.h"
#include "hvk/tlfs/synic.h"
#include "machine/devices/hyperv_testdev.h"
#include "machine/synic/auto_eoi.h"
#include "machine/synic/deadline_thread.h"
#include "machine/synic/synic_delivery.h"

namespace hvk::machine {
namespace {

using namespace std::chrono_literals;

// --- auto-EOI rules ------------------------------------------------------------------------------

InterruptWindow open_window() {
  InterruptWindow w;
  w.interrupts_enabled = true;
  return w;
}

TEST(AutoEoi, InjectsOnlyWhenTheApicWouldDeliver) {
  EXPECT_TRUE(can_inject(0xB3, open_window()));
  InterruptWindow w = open_window();
  w.interrupts_enabled = false;
  EXPECT_FALSE(can_inject(0xB3, w));  // RFLAGS.IF clear
  w = open_window();
  w.shadow = true;
  EXPECT_FALSE(can_inject(0xB3, w));  // after STI / MOV SS
  w = open_window();
  w.event_in_flight = true;
  EXPECT_FALSE(can_inject(0xB3, w));  // KVM is injecting something already
}

TEST(AutoEoi, ProcessorPriorityIsTheHigherOfTprAndInService) {
  InterruptWindow w = open_window();
  w.tpr = 0xB0;
  EXPECT_FALSE(can_inject(0xBF, w));  // same class as the TPR: held
  EXPECT_TRUE(can_inject(0xC0, w));
  w.tpr = 0x20;
  w.highest_in_service = 0xB1;
  EXPECT_FALSE(can_inject(0xB3, w));  // a handler of its class is running
  EXPECT_TRUE(can_inject(0xC1, w));
}

TEST(AutoEoi, AHigherPendingVectorGoesFirst) {
  InterruptWindow w = open_window();
  w.highest_requested = 0xC0;
  EXPECT_FALSE(can_inject(0xB3, w));
  w.highest_requested = 0xB3;
  EXPECT_TRUE(can_inject(0xB3, w));
  w.highest_requested = 0x40;
  EXPECT_TRUE(can_inject(0xB3, w));
}

TEST(AutoEoi, HighestInApicRegisterReadsTheSparseLayout) {
  std::array<char, 1024> regs{};
  EXPECT_EQ(highest_in_apic_register(regs.data(), 0x100), 0);
  auto set = [&](unsigned offset, unsigned v) {
    std::uint32_t word = 0;
    std::memcpy(&word, regs.data() + offset + (v / 32) * 16, 4);
    word |= 1u << (v % 32);
    std::memcpy(regs.data() + offset + (v / 32) * 16, &word, 4);
  };
  set(0x100, 0x31);
  set(0x100, 0xB3);
  set(0x200, 0xEF);
  EXPECT_EQ(highest_in_apic_register(regs.data(), 0x100), 0xB3);
  EXPECT_EQ(highest_in_apic_register(regs.data(), 0x200), 0xEF);
}

TEST(AutoEoi, VectorSetHighestAndRemove) {
  VectorSet s;
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.highest().has_value());
  s.add(0x20);
  s.add(0xFF);
  s.add(0x80);
  EXPECT_EQ(s.highest(), 0xFF);
  s.remove(0xFF);
  EXPECT_EQ(s.highest(), 0x80);
  s.remove(0x80);
  s.remove(0x20);
  EXPECT_TRUE(s.empty());
}

// --- the deadline thread -------------------------------------------------------------------------

class Calls {
 public:
  void add(std::size_t key) {
    std::lock_guard lock(mu_);
    keys_.push_back(key);
    cv_.notify_all();
  }
  bool wait_for_count(std::size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return keys_.size() >= n; });
  }
  std::vector<std::size_t> keys() {
    std::lock_guard lock(mu_);
    return keys_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::size_t> keys_;
};

TEST(DeadlineThread, CallsBackInDeadlineOrderOnce) {
  Calls calls;
  DeadlineThread t(4, [&](std::size_t k) { calls.add(k); });
  const auto now = DeadlineThread::Clock::now();
  t.set(2, now + 30ms);
  t.set(1, now + 10ms);
  t.set(3, now - 1ms);  // already passed: at once
  ASSERT_TRUE(calls.wait_for_count(3, 5s));
  EXPECT_EQ(calls.keys(), (std::vector<std::size_t>{3, 1, 2}));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.keys().size(), 3u);  // each deadline fires once
}

TEST(DeadlineThread, SetReplacesClearCancelsSetEarlierOnlyMovesForward) {
  Calls calls;
  DeadlineThread t(3, [&](std::size_t k) { calls.add(k); });
  const auto now = DeadlineThread::Clock::now();
  t.set(0, now + 10s);
  t.set(0, now + 5ms);  // replaces the far one
  t.set(1, now + 5ms);
  t.clear(1);
  t.set(2, now + 5ms);
  t.set_earlier(2, now + 10s);  // later: ignored
  ASSERT_TRUE(calls.wait_for_count(2, 5s));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls.keys(), (std::vector<std::size_t>{0, 2}));
  t.set(7, now);  // out of range: ignored
}

// --- a partition with the SynIC, for the testdev and SynicDelivery --------------------------------

class Recorder final : public hv::Backend {
 public:
  void start_vp(const hv::StartRequest&) noexcept override {}
  void partition_state_changed(hv::PartitionState) noexcept override {}
  void assert_sint(const hv::SintInterrupt& irq) noexcept override {
    if (delivery != nullptr) {
      delivery->raise(irq, false);
      return;
    }
    std::lock_guard lock(mu);
    sints.push_back(irq);
  }
  void timers_changed(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline) noexcept override {
    if (delivery != nullptr) delivery->timers_changed(vp, vtl, deadline);
  }
  std::mutex mu;
  std::vector<hv::SintInterrupt> sints;
  SynicDelivery* delivery = nullptr;
};

constexpr std::uint64_t kSimp = 0x8000;
constexpr std::uint64_t kSiefp = 0x9000;

class WithSynic : public ::testing::Test {
 protected:
  void SetUp() override {
    hv::PartitionConfig cfg;
    cfg.vp_count = 2;
    cfg.apic_ids = {0, 7};
    cfg.synic = true;
    root_ = &hv_.create_root(cfg);
    memory_.add(0, std::span(ram_));
    root_->attach(&backend_, &memory_);
  }
  void TearDown() override { root_->attach(nullptr, nullptr); }

  void wr(tlfs::VpIndex vp, std::uint32_t msr, std::uint64_t v) {
    ASSERT_FALSE(hv::write_synthetic_msr(*root_, *root_->vp(vp), msr, v).gp) << std::hex << msr;
  }
  // VP `vp`'s SynIC on, its pages at kSimp/kSiefp + 0x2000 vp, SINT `sint` at `vector`.
  void enable(tlfs::VpIndex vp, unsigned sint, std::uint8_t vector, bool auto_eoi) {
    wr(vp, hv::msr::kSimp, (kSimp + 0x2000ull * vp) | 1);
    wr(vp, hv::msr::kSiefp, (kSiefp + 0x2000ull * vp) | 1);
    wr(vp, hv::msr::kScontrol, 1);
    wr(vp, hv::msr::kSint0 + sint, vector | (auto_eoi ? tlfs::SintRegister::kAutoEoi : 0));
  }
  std::vector<hv::SintInterrupt> sints() {
    std::lock_guard lock(backend_.mu);
    return backend_.sints;
  }

  hv::Hypervisor hv_;
  hv::Partition* root_ = nullptr;
  std::vector<std::byte> ram_ = std::vector<std::byte>(64 * 1024);
  hv::MemoryMap memory_;
  Recorder backend_;
};

std::uint32_t testdev_command(std::uint8_t conn, std::uint8_t cmd, std::uint8_t vp,
                              std::uint8_t sint) {
  return std::uint32_t{conn} << 24 | std::uint32_t{cmd} << 16 | std::uint32_t{vp} << 8 | sint;
}

TEST_F(WithSynic, TestdevRaisesASintOnlyThroughARoute) {
  HypervTestdev dev(*root_);
  enable(1, 3, 0xB3, true);
  dev.command(testdev_command(0, HypervTestdev::kSintRouteSetSint, 1, 3));
  EXPECT_TRUE(sints().empty());  // no route yet
  dev.command(testdev_command(0, HypervTestdev::kSintRouteCreate, 1, 3));
  dev.command(testdev_command(0, HypervTestdev::kSintRouteSetSint, 1, 3));
  ASSERT_EQ(sints().size(), 1u);
  EXPECT_EQ(sints()[0].vp_index, 1u);
  EXPECT_EQ(sints()[0].vector, 0xB3);
  EXPECT_TRUE(sints()[0].auto_eoi);
  dev.command(testdev_command(0, HypervTestdev::kSintRouteDestroy, 1, 3));
  dev.command(testdev_command(0, HypervTestdev::kSintRouteSetSint, 1, 3));
  EXPECT_EQ(sints().size(), 1u);
  EXPECT_EQ(dev.routes(), 0u);
  dev.command(testdev_command(0, HypervTestdev::kSintRouteCreate, 9, 3));   // no VP 9
  dev.command(testdev_command(0, HypervTestdev::kSintRouteCreate, 1, 16));  // no SINT 16
  EXPECT_EQ(dev.routes(), 0u);
}

TEST_F(WithSynic, TestdevConnectionsAimAtTheNamedVpAndSint) {
  HypervTestdev dev(*root_);
  dev.command(testdev_command(0x11, HypervTestdev::kMessageConnectionCreate, 1, 8));
  dev.command(testdev_command(0x21, HypervTestdev::kEventConnectionCreate, 1, 9));
  const auto msg = root_->connections().find(0x11, hv::PortKind::kMessage);
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->port.kind, hv::PortKind::kMessage);
  EXPECT_EQ(msg->port.vp, 1u);
  EXPECT_EQ(msg->port.sint, 8);
  const auto evt = root_->connections().find(0x21, hv::PortKind::kEvent);
  ASSERT_TRUE(evt.has_value());
  EXPECT_EQ(evt->port.kind, hv::PortKind::kEvent);
  EXPECT_EQ(evt->port.flag_base, 0x21);  // QEMU: the flag is the connection id
  EXPECT_EQ(evt->port.flag_count, 1);
  dev.command(testdev_command(0x11, HypervTestdev::kMessageConnectionDestroy, 0, 0));
  dev.command(testdev_command(0x21, HypervTestdev::kEventConnectionDestroy, 0, 0));
  EXPECT_FALSE(root_->connections().find(0x11, hv::PortKind::kMessage).has_value());
  EXPECT_FALSE(root_->connections().find(0x21, hv::PortKind::kEvent).has_value());
}

TEST_F(WithSynic, TestdevPortDecoding) {
  HypervTestdev dev(*root_);
  std::array<std::uint8_t, 4> data{};
  const std::uint32_t create = testdev_command(0, HypervTestdev::kSintRouteCreate, 0, 2);
  std::memcpy(data.data(), &create, 4);
  EXPECT_FALSE(dev.io(0x3004, true, data));  // not its port
  EXPECT_TRUE(dev.io(HypervTestdev::kPort, true, std::span(data).first(2)));  // 16-bit: ignored
  EXPECT_EQ(dev.routes(), 0u);
  EXPECT_TRUE(dev.io(HypervTestdev::kPort, true, data));
  EXPECT_EQ(dev.routes(), 1u);
  data.fill(0xAA);
  EXPECT_TRUE(dev.io(HypervTestdev::kPort, false, data));  // reads see zero
  EXPECT_EQ(data, (std::array<std::uint8_t, 4>{}));
}

struct DeliveryLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> msis;
  std::vector<tlfs::Vtl> msi_vtls;
  std::vector<tlfs::VpIndex> kicks;
};

SynicDelivery::Hooks hooks_into(DeliveryLog& log) {
  return {.msi =
              [&log](tlfs::Vtl vtl, std::uint64_t a, std::uint32_t d) {
                std::lock_guard lock(log.mu);
                log.msis.emplace_back(a, d);
                log.msi_vtls.push_back(vtl);
                log.cv.notify_all();
              },
          .kick =
              [&log](tlfs::VpIndex vp) {
                std::lock_guard lock(log.mu);
                log.kicks.push_back(vp);
                log.cv.notify_all();
              }};
}

TEST_F(WithSynic, PlainSintGoesToTheVpsApicAsAnMsi) {
  DeliveryLog log;
  SynicDelivery d(*root_, hooks_into(log));
  d.raise({1, 0, 0xB1, false, 1}, false);
  ASSERT_EQ(log.msis.size(), 1u);
  EXPECT_EQ(log.msis[0].first, 0xFEE0'0000u | 7u << 12);  // VP 1 has APIC ID 7
  EXPECT_EQ(log.msis[0].second, 0xB1u);                   // fixed, edge
  EXPECT_TRUE(log.kicks.empty());
  EXPECT_FALSE(d.pending(1, 0));
  // VTL 1's SynIC raises into VTL 1's VM.
  d.raise({1, 1, 0xB2, false, 2}, false);
  ASSERT_EQ(log.msi_vtls.size(), 2u);
  EXPECT_EQ(log.msi_vtls[0], 0);
  EXPECT_EQ(log.msi_vtls[1], 1);
}

TEST_F(WithSynic, AutoEoiSintWaitsForItsVpsThread) {
  DeliveryLog log;
  SynicDelivery d(*root_, hooks_into(log));
  d.raise({1, 0, 0xB3, true, 3}, false);
  EXPECT_TRUE(log.msis.empty());  // never through the APIC
  EXPECT_TRUE(d.pending(1, 0));
  EXPECT_FALSE(d.pending(1, 1));  // each VTL waits on its own
  EXPECT_EQ(log.kicks, (std::vector<tlfs::VpIndex>{1}));
  d.raise({0, 0, 0xB8, true, 8}, true);  // from VP 0's own thread: no kick needed
  EXPECT_TRUE(d.pending(0, 0));
  EXPECT_EQ(log.kicks.size(), 1u);
  d.raise({5, 0, 0xB8, true, 8}, false);  // no VP 5
  d.raise({1, 0, 0x0F, false, 8}, false);  // not a vector a SINT can have
  EXPECT_TRUE(log.msis.empty());
}

TEST_F(WithSynic, TimerDeadlineRunsThroughTheDeadlineThread) {
  DeliveryLog log;
  SynicDelivery d(*root_, hooks_into(log));
  backend_.delivery = &d;
  enable(0, 2, 0xB2, false);
  // One-shot STIMER0 on SINT 2, 3 ms from now in reference time.
  wr(0, hv::msr::kStimer0Config, tlfs::StimerConfig::kEnable | (2ull << 16));
  wr(0, hv::msr::kStimer0Count, root_->reference_time() + 30'000);
  std::unique_lock lock(log.mu);
  ASSERT_TRUE(log.cv.wait_for(lock, 5s, [&] { return !log.msis.empty(); }));
  EXPECT_EQ(log.msis[0].second, 0xB2u);
  // The expiry message is in VP 0's slot 2.
  std::uint32_t type = 0;
  std::memcpy(&type, ram_.data() + kSimp + 2 * 256, 4);
  EXPECT_EQ(type, static_cast<std::uint32_t>(tlfs::MessageType::kTimerExpired));
  backend_.delivery = nullptr;
}

// The race that lost a one-shot timer (hyperv_stimer at 4 VPs): the deadline thread, done with the
// last timer, says "no deadline" after a VP armed a new one. timers_changed reads the timers
// afresh, so a stale "none" cannot cancel the new deadline.
TEST_F(WithSynic, AStaleNoDeadlineDoesNotCancelANewTimer) {
  DeliveryLog log;
  SynicDelivery d(*root_, hooks_into(log));
  backend_.delivery = &d;
  enable(0, 3, 0xB3, false);
  wr(0, hv::msr::kStimer0Config, tlfs::StimerConfig::kEnable | (3ull << 16));
  wr(0, hv::msr::kStimer0Count, root_->reference_time() + 20'000);  // 2 ms
  d.timers_changed(0, 0, hv::kNoDeadline);  // late news from a poll that saw no timer
  std::unique_lock lock(log.mu);
  ASSERT_TRUE(log.cv.wait_for(lock, 5s, [&] { return !log.msis.empty(); }));
  EXPECT_EQ(log.msis[0].second, 0xB3u);
  backend_.delivery = nullptr;
}

}  // namespace
}  // namespace hvk::machine
