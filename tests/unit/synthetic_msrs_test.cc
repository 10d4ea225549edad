// Synthetic MSRs and the Hyper-V CPUID leaves: what the engine answers a guest's rdmsr, wrmsr and
// cpuid with.
#include "hv/synthetic_msrs.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "hv/hyperv_cpuid.h"
#include "hv/hypervisor.h"

namespace hvk::hv {
namespace {

using tlfs::Privilege;

class SyntheticMsrs : public ::testing::Test {
 protected:
  Partition& make(std::uint64_t privileges = default_privileges().raw, std::uint32_t vps = 2) {
    PartitionConfig cfg;
    cfg.vp_count = vps;
    cfg.privileges = {privileges};
    return hv.create_root(cfg);
  }
  Hypervisor hv;
};

TEST_F(SyntheticMsrs, HypercallPageNeedsAGuestOsIdFirst) {
  Partition& p = make();
  Vp& vp = *p.vp(0);
  MsrAccess a = write_synthetic_msr(p, vp, msr::kHypercall, 0x5000 | 1);
  EXPECT_FALSE(a.gp);
  EXPECT_FALSE(a.install_hypercall_page);
  EXPECT_EQ(read_synthetic_msr(p, vp, msr::kHypercall).value, 0x5000u);  // enable bit dropped
  EXPECT_FALSE(write_synthetic_msr(p, vp, msr::kGuestOsId, 0x8100'0000'0000'0001ull).gp);
  EXPECT_EQ(read_synthetic_msr(p, vp, msr::kGuestOsId).value, 0x8100'0000'0000'0001ull);
  a = write_synthetic_msr(p, vp, msr::kHypercall, 0x5000 | 1);
  EXPECT_TRUE(a.install_hypercall_page);
  EXPECT_EQ(a.hypercall_page_gpa, 0x5000u);
  EXPECT_EQ(read_synthetic_msr(p, vp, msr::kHypercall).value, 0x5001u);
}

TEST_F(SyntheticMsrs, HypercallReservedBitsReadAsZero) {
  Partition& p = make();
  write_synthetic_msr(p, *p.vp(0), msr::kGuestOsId, 1);
  write_synthetic_msr(p, *p.vp(0), msr::kHypercall, 0x7000 | 0xFFC | 1);
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(1), msr::kHypercall).value, 0x7001u);  // partition-wide
}

TEST_F(SyntheticMsrs, LockedHypercallMsrIgnoresWrites) {
  Partition& p = make();
  write_synthetic_msr(p, *p.vp(0), msr::kGuestOsId, 1);
  write_synthetic_msr(p, *p.vp(0), msr::kHypercall, 0x5000 | 3);
  const MsrAccess a = write_synthetic_msr(p, *p.vp(1), msr::kHypercall, 0x9000 | 1);
  EXPECT_FALSE(a.gp);
  EXPECT_FALSE(a.install_hypercall_page);
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kHypercall).value, 0x5003u);
}

TEST_F(SyntheticMsrs, VpIndexIsReadOnlyAndPerVp) {
  Partition& p = make();
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kVpIndex).value, 0u);
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(1), msr::kVpIndex).value, 1u);
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(1), msr::kVpIndex, 5).gp);
}

TEST_F(SyntheticMsrs, UnknownSyntheticMsrsAreGp) {
  Partition& p = make();
  for (std::uint32_t index : {0x4000'0003u, 0x4000'0080u, 0x4000'00FFu}) {
    EXPECT_TRUE(read_synthetic_msr(p, *p.vp(0), index).gp) << std::hex << index;
    EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), index, 0).gp) << std::hex << index;
  }
  EXPECT_TRUE(is_synthetic_msr(0x4000'0000));
  EXPECT_TRUE(is_synthetic_msr(0x4000'00FF));
  EXPECT_TRUE(is_synthetic_msr(0x4000'0105));  // CRASH_CTL, the last one
  EXPECT_FALSE(is_synthetic_msr(0x4000'0106));
  EXPECT_FALSE(is_synthetic_msr(0x3FFF'FFFF));
}

TEST_F(SyntheticMsrs, PrivilegesGateTheMsrs) {
  Partition& p = make(default_privileges().raw & ~tlfs::privilege_bit(Privilege::kHypercallMsrs) &
                      ~tlfs::privilege_bit(Privilege::kVpIndex));
  EXPECT_TRUE(read_synthetic_msr(p, *p.vp(0), msr::kGuestOsId).gp);
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), msr::kGuestOsId, 1).gp);
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), msr::kHypercall, 0x5001).gp);
  EXPECT_TRUE(read_synthetic_msr(p, *p.vp(0), msr::kVpIndex).gp);
}

TEST_F(SyntheticMsrs, ClockAndFrequencyMsrs) {
  Partition& p = make();
  p.set_frequencies(2'000'000'000, 1'000'000'000);
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kTscFrequency).value, 2'000'000'000u);
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kApicFrequency).value, 1'000'000'000u);
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), msr::kTscFrequency, 1).gp);
  const std::uint64_t t0 = read_synthetic_msr(p, *p.vp(0), msr::kTimeRefCount).value;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const std::uint64_t t1 = read_synthetic_msr(p, *p.vp(1), msr::kTimeRefCount).value;
  EXPECT_GE(t1 - t0, 20'000u);  // 100 ns units: 2 ms is 20,000
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), msr::kTimeRefCount, 0).gp);
  Partition& q = make(default_privileges().raw & ~tlfs::privilege_bit(Privilege::kFrequencyRegs) &
                      ~tlfs::privilege_bit(Privilege::kPartitionReferenceCounter));
  EXPECT_TRUE(read_synthetic_msr(q, *q.vp(0), msr::kTscFrequency).gp);
  EXPECT_TRUE(read_synthetic_msr(q, *q.vp(0), msr::kTimeRefCount).gp);
}

// Conformance Y29: the APIC access MSRs are not there yet, SynIC or not: #GP, privilege clear.
TEST_F(SyntheticMsrs, ApicAccessMsrsNeedAccessIntrCtrlRegs) {
  const std::uint64_t without =
      default_privileges().raw & ~tlfs::privilege_bit(Privilege::kIntrCtrlRegs);
  Partition& p = make(without);
  for (std::uint32_t index : {msr::kEoi, msr::kIcr, msr::kTpr}) {
    EXPECT_TRUE(read_synthetic_msr(p, *p.vp(0), index).gp) << std::hex << index;
    EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), index, 0).gp) << std::hex << index;
  }
  EXPECT_TRUE(default_privileges().has(Privilege::kIntrCtrlRegs));
}

TEST_F(SyntheticMsrs, ApicAccessMsrsGoToTheMachineWithTheirReservedBitsChecked) {
  Partition& p = make();
  Vp& vp = *p.vp(1);
  // EOI: write-only; bits 63:32 RsvdZ; the value itself is ignored.
  EXPECT_TRUE(read_synthetic_msr(p, vp, msr::kEoi).gp);
  EXPECT_TRUE(write_synthetic_msr(p, vp, msr::kEoi, 1ull << 32).gp);
  MsrAccess a = write_synthetic_msr(p, vp, msr::kEoi, 0x1234);
  EXPECT_FALSE(a.gp);
  EXPECT_EQ(a.apic, ApicAccess::kEoi);
  // ICR: the whole 64 bits, both ways (the APIC's mode decides what the high half means).
  a = write_synthetic_msr(p, vp, msr::kIcr, 0xFF00'0000'000C'40F3ull);
  EXPECT_FALSE(a.gp);
  EXPECT_EQ(a.apic, ApicAccess::kWriteIcr);
  EXPECT_EQ(a.value, 0xFF00'0000'000C'40F3ull);
  EXPECT_EQ(read_synthetic_msr(p, vp, msr::kIcr).apic, ApicAccess::kReadIcr);
  // TPR: bits 63:8 RsvdZ.
  EXPECT_TRUE(write_synthetic_msr(p, vp, msr::kTpr, 0x100).gp);
  EXPECT_TRUE(write_synthetic_msr(p, vp, msr::kTpr, 1ull << 63).gp);
  a = write_synthetic_msr(p, vp, msr::kTpr, 0xAB);
  EXPECT_FALSE(a.gp);
  EXPECT_EQ(a.apic, ApicAccess::kWriteTpr);
  EXPECT_EQ(a.value, 0xABu);
  EXPECT_EQ(read_synthetic_msr(p, vp, msr::kTpr).apic, ApicAccess::kReadTpr);
  // Nothing else reaches the APIC.
  EXPECT_EQ(read_synthetic_msr(p, vp, msr::kVpIndex).apic, ApicAccess::kNone);
}

TEST_F(SyntheticMsrs, CpuidAdvertisesTheApicAccessMsrsButDoesNotRecommendThem) {
  Partition& p = make();
  const auto leaves = hyperv_cpuid_leaves(p);
  EXPECT_EQ(leaves[3].function, 0x4000'0003u);
  EXPECT_NE(leaves[3].eax & (1u << 4), 0u);  // AccessIntrCtrlRegs
  EXPECT_EQ(leaves[4].function, 0x4000'0004u);
  EXPECT_EQ(leaves[4].eax & (1u << 3), 0u);  // not "use the MSRs for EOI, ICR and TPR"
}

TEST_F(SyntheticMsrs, VpAssistPageIsKeptPerVp) {
  Partition& p = make();
  EXPECT_FALSE(write_synthetic_msr(p, *p.vp(1), msr::kVpAssistPage, 0x7000 | 1).gp);
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(1), msr::kVpAssistPage).value, 0x7001u);
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kVpAssistPage).value, 0u);
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(1), msr::kVpAssistPage, 0x7002).gp);  // reserved bit
}

// A clock that says it reads the guest's TSC, as the machine's does on a host with a stable TSC.
class TscClock final : public ReferenceClock {
 public:
  std::uint64_t now() const noexcept override { return 0; }
  bool reads_guest_tsc() const noexcept override { return true; }
};

TEST_F(SyntheticMsrs, ReferenceTscPageIsInvalidUnlessTheClockReadsTheTsc) {
  Partition& p = make();
  p.set_frequencies(2'500'000'000, 1'000'000'000);
  const MsrAccess a = write_synthetic_msr(p, *p.vp(0), msr::kReferenceTsc, 0x9000 | 1);
  ASSERT_TRUE(a.install_reference_tsc);
  EXPECT_EQ(a.reference_tsc.sequence, 0u);  // the steady clock: the guest must use the MSR
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kReferenceTsc).value, 0x9001u);
}

TEST_F(SyntheticMsrs, ReferenceTscPage) {
  Partition& p = make();
  p.set_frequencies(2'500'000'000, 1'000'000'000);
  const TscClock clock;
  p.set_reference_clock(&clock);
  const MsrAccess a = write_synthetic_msr(p, *p.vp(0), msr::kReferenceTsc, 0x9000 | 0xFF0 | 1);
  EXPECT_FALSE(a.gp);
  ASSERT_TRUE(a.install_reference_tsc);
  EXPECT_EQ(a.reference_tsc_gpa, 0x9000u);
  EXPECT_EQ(a.reference_tsc.sequence, 1u);
  EXPECT_EQ(a.reference_tsc.offset, 0);
  // 2.5 GHz: one 100 ns unit every 250 cycles, so scale = 2^64 / 250.
  EXPECT_EQ(a.reference_tsc.scale, 73'786'976'294'838'206ull);  // floor(2^64 / 250)
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(1), msr::kReferenceTsc).value, 0x9001u);
  EXPECT_FALSE(write_synthetic_msr(p, *p.vp(0), msr::kReferenceTsc, 0x9000).install_reference_tsc);
  EXPECT_EQ(reference_tsc_page(0).sequence, 0u);  // unknown TSC rate: the guest falls back
  p.set_reference_clock(nullptr);
  Partition& q = make(default_privileges().raw &
                      ~tlfs::privilege_bit(Privilege::kPartitionReferenceTsc));
  EXPECT_TRUE(write_synthetic_msr(q, *q.vp(0), msr::kReferenceTsc, 0x9001).gp);
}

TEST(HypervCpuid, SignatureInterfacePrivilegesAndVpCount) {
  Hypervisor hv;
  PartitionConfig cfg;
  cfg.vp_count = 64;
  cfg.privileges = default_privileges();
  const auto leaves = hyperv_cpuid_leaves(hv.create_root(cfg));
  ASSERT_EQ(leaves[0].function, 0x4000'0000u);
  EXPECT_GE(leaves[0].eax, 0x4000'0005u);
  char vendor[13] = {};
  std::memcpy(vendor, &leaves[0].ebx, 4);
  std::memcpy(vendor + 4, &leaves[0].ecx, 4);
  std::memcpy(vendor + 8, &leaves[0].edx, 4);
  EXPECT_STREQ(vendor, "Microsoft Hv");
  EXPECT_EQ(leaves[1].eax, 0x3123'7648u);  // "Hv#1"
  EXPECT_EQ(leaves[3].eax, static_cast<std::uint32_t>(cfg.privileges.raw));
  EXPECT_EQ(leaves[3].ebx, static_cast<std::uint32_t>(cfg.privileges.raw >> 32));
  // Linux detects Hyper-V only with HypercallMsrs (bit 5) and VpIndex (bit 6).
  EXPECT_EQ(leaves[3].eax & 0x60u, 0x60u);
  EXPECT_TRUE(leaves[3].ebx & (1u << 21));  // StartVirtualProcessor
  EXPECT_EQ(leaves[5].function, 0x4000'0005u);
  EXPECT_EQ(leaves[5].eax, 64u);
  for (std::size_t i = 0; i < leaves.size(); ++i) EXPECT_EQ(leaves[i].function, 0x4000'0000u + i);
}

}  // namespace
}  // namespace hvk::hv

namespace hvk::hv {
namespace {

TEST_F(SyntheticMsrs, CrashMsrsKeepParametersAndNotify) {
  Partition& p = make();
  EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kCrashCtl).value, crash_ctl::kSupported);
  for (std::uint32_t i = 0; i < 5; ++i) {
    EXPECT_FALSE(write_synthetic_msr(p, *p.vp(0), msr::kCrashP0 + i, 0x100 + i).gp);
    EXPECT_EQ(read_synthetic_msr(p, *p.vp(0), msr::kCrashP0 + i).value, 0x100u + i);
  }
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), msr::kCrashCtl, 1).gp);  // reserved bit
  EXPECT_FALSE(write_synthetic_msr(p, *p.vp(0), msr::kCrashCtl, 0).crash);
  const MsrAccess a =
      write_synthetic_msr(p, *p.vp(0), msr::kCrashCtl, crash_ctl::kNotify | crash_ctl::kMessage);
  EXPECT_TRUE(a.crash);
  EXPECT_EQ(a.crash_params[4], 0x104u);
  EXPECT_EQ(a.crash_ctl & crash_ctl::kMessage, crash_ctl::kMessage);
}

TEST_F(SyntheticMsrs, GuestIdleIsReadOnlyAndGated) {
  Partition& p = make();
  EXPECT_TRUE(read_synthetic_msr(p, *p.vp(0), msr::kGuestIdle).idle);
  EXPECT_TRUE(write_synthetic_msr(p, *p.vp(0), msr::kGuestIdle, 0).gp);
  Partition& q = make(default_privileges().raw & ~tlfs::privilege_bit(Privilege::kGuestIdleReg));
  EXPECT_TRUE(read_synthetic_msr(q, *q.vp(0), msr::kGuestIdle).gp);
}

}  // namespace
}  // namespace hvk::hv
