// The APIC access MSRs' pure pieces: an xAPIC ICR value as the MSIs that deliver it, and the
// LapicGate that keeps every vCPU out of KVM_RUN while one rewrites its APIC.
#include "machine/apic/apic_msrs.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

namespace hvk::machine {
namespace {

constexpr std::array<std::uint32_t, 4> kIds{0, 1, 2, 7};

std::vector<ApicMsi> msis(std::uint64_t icr, std::uint32_t self) {
  std::array<ApicMsi, kIds.size()> out{};
  return {out.begin(), out.begin() + xapic_icr_to_msis(icr, self, kIds, out)};
}

TEST(ApicIcr, FixedPhysicalIsOneMsiToItsDestination) {
  // Fixed, vector 0x41, edge, physical, destination 7 (ICR2 bits 31:24).
  EXPECT_EQ(msis(0x0700'0000'0000'0041ull, 0),
            (std::vector<ApicMsi>{{0xFEE0'7000, 0x41}}));
}

TEST(ApicIcr, LogicalNmiAndLevelKeepTheirBits) {
  // NMI (mode 4) to logical destination 0x03: address bit 2 set.
  EXPECT_EQ(msis(0x0300'0000'0000'0C02ull, 0), (std::vector<ApicMsi>{{0xFEE0'3004, 0x402}}));
  // Level-triggered asserted fixed: data bits 14 and 15.
  EXPECT_EQ(msis(0x0100'0000'0000'C030ull, 0), (std::vector<ApicMsi>{{0xFEE0'1000, 0xC030}}));
}

TEST(ApicIcr, ShorthandsExpand) {
  // Self (01): the sender's own ID, whatever the destination field says.
  EXPECT_EQ(msis(0x0700'0000'0004'0050ull, 2), (std::vector<ApicMsi>{{0xFEE0'2000, 0x50}}));
  // All including self (10): the broadcast ID.
  EXPECT_EQ(msis(0x0000'0000'0008'0050ull, 2), (std::vector<ApicMsi>{{0xFEEF'F000, 0x50}}));
  // All excluding self (11): one per other VP.
  EXPECT_EQ(msis(0x0000'0000'000C'0050ull, 1),
            (std::vector<ApicMsi>{{0xFEE0'0000, 0x50}, {0xFEE0'2000, 0x50}, {0xFEE0'7000, 0x50}}));
}

TEST(ApicIcr, InitDeassertSendsNothingAndDeliveryStatusIsNotData) {
  // INIT (mode 5), level-triggered, de-assert: nothing on an xAPIC.
  EXPECT_TRUE(msis(0x0100'0000'0000'8500ull, 0).empty());
  // INIT assert goes out; the read-only delivery status bit (12) is not part of the MSI.
  EXPECT_EQ(msis(0x0100'0000'0000'5500ull, 0), (std::vector<ApicMsi>{{0xFEE0'1000, 0x4500}}));
}

TEST(LapicGate, ClosedRunsWithEveryOtherVcpuOutOfRunAndNoSender) {
  constexpr std::size_t kVcpus = 3;
  LapicGate gate(kVcpus);
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};  // vCPUs "in KVM_RUN"
  std::atomic<int> sending{0};
  std::atomic<bool> violated{false};
  std::vector<std::thread> vcpus;
  for (std::size_t i = 1; i < kVcpus; ++i) {
    vcpus.emplace_back([&, i] {
      while (!stop.load()) {
        if (!gate.enter_run(i)) {
          gate.wait_open();
          continue;
        }
        running.fetch_add(1);
        std::this_thread::yield();  // "in the guest"
        running.fetch_sub(1);
        gate.leave_run(i);
      }
    });
  }
  std::thread sender([&] {
    while (!stop.load()) {
      auto hold = gate.sending();
      sending.fetch_add(1);
      std::this_thread::yield();
      sending.fetch_sub(1);
    }
  });
  for (int n = 0; n < 200; ++n) {
    gate.closed(0, [](std::size_t) {}, [&] {
      if (running.load() != 0 || sending.load() != 0) violated = true;
    });
  }
  stop = true;
  for (auto& t : vcpus) t.join();
  sender.join();
  EXPECT_FALSE(violated.load());
  EXPECT_EQ(gate.closures(), 200u);
}

}  // namespace
}  // namespace hvk::machine
