// Per-VTL synthetic MSRs (TLFS vsm "Private State") and the VTL control area of the VP assist
// page: the entry reason, and the registers a non-fast VtlReturn loads.
#include "hv/vtl_control.h"

#include <gtest/gtest.h>

#include <vector>

#include "hv/guest_memory.h"
#include "hv/hypervisor.h"
#include "hv/synthetic_msrs.h"
#include "hvk/tlfs/bytes.h"

namespace hvk::hv {
namespace {

using tlfs::VtlEntryReason;

class VtlControl : public ::testing::Test {
 protected:
  void SetUp() override {
    PartitionConfig cfg;
    cfg.vp_count = 2;
    cfg.privileges = default_privileges();
    p_ = &hv_.create_root(cfg);
    memory_.add(0, ram_);
    p_->attach(nullptr, &memory_);
    ASSERT_TRUE(p_->enable_vtl(1));
    ASSERT_TRUE(p_->vp(0)->enable_vtl(1, tlfs::InitialVpContext{}));
  }
  std::uint32_t u32_at(std::uint64_t gpa) {
    std::array<std::byte, 4> b{};
    EXPECT_TRUE(memory_.read(gpa, b));
    return tlfs::load<std::uint32_t>(std::span<const std::byte>(b));
  }
  void u64_to(std::uint64_t gpa, std::uint64_t v) {
    std::array<std::byte, 8> b{};
    tlfs::store(std::span(b), v);
    ASSERT_TRUE(memory_.write(gpa, b));
  }
  Vp& vp() { return *p_->vp(0); }
  // wrmsr from `vtl` of VP 0.
  MsrAccess wrmsr(tlfs::Vtl vtl, std::uint32_t index, std::uint64_t v) {
    vp().set_current_vtl(vtl);
    return write_synthetic_msr(*p_, vp(), index, v);
  }
  std::uint64_t rdmsr(tlfs::Vtl vtl, std::uint32_t index) {
    vp().set_current_vtl(vtl);
    return read_synthetic_msr(*p_, vp(), index).value;
  }

  Hypervisor hv_;
  Partition* p_ = nullptr;
  std::vector<std::byte> ram_ = std::vector<std::byte>(64 * 1024);
  MemoryMap memory_;
};

TEST_F(VtlControl, HypercallGuestOsIdReferenceTscAndAssistPageArePerVtl) {
  EXPECT_FALSE(wrmsr(0, msr::kGuestOsId, 0x8F00'0000'0000'0000ull).gp);
  EXPECT_TRUE(wrmsr(0, msr::kHypercall, 0x2000 | 1).install_hypercall_page);
  // VTL 1 has not identified itself: its own page cannot be enabled yet.
  EXPECT_FALSE(wrmsr(1, msr::kHypercall, 0x3000 | 1).install_hypercall_page);
  EXPECT_EQ(rdmsr(1, msr::kGuestOsId), 0u);
  EXPECT_FALSE(wrmsr(1, msr::kGuestOsId, 0x8F00'0000'0000'0001ull).gp);
  const MsrAccess a = wrmsr(1, msr::kHypercall, 0x3000 | 1);
  EXPECT_TRUE(a.install_hypercall_page);
  EXPECT_EQ(a.hypercall_page_gpa, 0x3000u);
  EXPECT_EQ(rdmsr(0, msr::kHypercall), 0x2001u);
  EXPECT_EQ(rdmsr(1, msr::kHypercall), 0x3001u);
  EXPECT_EQ(rdmsr(0, msr::kGuestOsId), 0x8F00'0000'0000'0000ull);
  // The lock of one VTL's page does not lock the other's.
  EXPECT_FALSE(wrmsr(0, msr::kHypercall, 0x2000 | 3).gp);
  EXPECT_FALSE(wrmsr(1, msr::kHypercall, 0x4000 | 1).gp);
  EXPECT_EQ(rdmsr(1, msr::kHypercall), 0x4001u);
  EXPECT_EQ(rdmsr(0, msr::kHypercall), 0x2003u);

  EXPECT_FALSE(wrmsr(0, msr::kReferenceTsc, 0x5000 | 1).gp);
  EXPECT_FALSE(wrmsr(1, msr::kReferenceTsc, 0x6000 | 1).gp);
  EXPECT_EQ(rdmsr(0, msr::kReferenceTsc), 0x5001u);
  EXPECT_EQ(rdmsr(1, msr::kReferenceTsc), 0x6001u);

  EXPECT_FALSE(wrmsr(0, msr::kVpAssistPage, 0x7000 | 1).gp);
  EXPECT_EQ(rdmsr(1, msr::kVpAssistPage), 0u);
  EXPECT_FALSE(wrmsr(1, msr::kVpAssistPage, 0x8000 | 1).gp);
  EXPECT_EQ(rdmsr(0, msr::kVpAssistPage), 0x7001u);
  EXPECT_EQ(rdmsr(1, msr::kVpAssistPage), 0x8001u);
}

TEST_F(VtlControl, EntryReasonGoesToTheEnteredVtlsPageOnly) {
  note_vtl_entry(*p_, vp(), 1, VtlEntryReason::kVtlCall);  // no page yet: nothing, no crash
  wrmsr(0, msr::kVpAssistPage, 0x7000 | 1);
  u64_to(0x7008, 0xFFFF'FFFF'FFFF'FFFFull);
  note_vtl_entry(*p_, vp(), 0, VtlEntryReason::kVtlCall);  // VTL 0 has no control area
  EXPECT_EQ(u32_at(0x7008), 0xFFFF'FFFFu);
  wrmsr(1, msr::kVpAssistPage, 0x8000);  // not enabled
  note_vtl_entry(*p_, vp(), 1, VtlEntryReason::kVtlCall);
  EXPECT_EQ(u32_at(0x8008), 0u);
  wrmsr(1, msr::kVpAssistPage, 0x8000 | 1);
  note_vtl_entry(*p_, vp(), 1, VtlEntryReason::kVtlCall);
  EXPECT_EQ(u32_at(0x8008), 1u);
  note_vtl_entry(*p_, vp(), 1, VtlEntryReason::kInterrupt);
  EXPECT_EQ(u32_at(0x8008), 2u);
  EXPECT_EQ(u32_at(0x800C), 0u);  // the bytes after the reason are the guest's
  // A page outside RAM gets nothing (and nothing fails).
  wrmsr(1, msr::kVpAssistPage, 0x10'0000'0000ull | 1);
  note_vtl_entry(*p_, vp(), 1, VtlEntryReason::kVtlCall);
}

TEST_F(VtlControl, NonFastReturnRegistersComeFromTheReturningVtlsControlArea) {
  EXPECT_FALSE(vtl_return_registers(*p_, vp(), 1, ExecMode::k64Bit));  // no page
  wrmsr(1, msr::kVpAssistPage, 0x8000 | 1);
  u64_to(0x8010, 0x1111'2222'3333'4444ull);
  u64_to(0x8018, 0x5555'6666'7777'8888ull);
  auto r = vtl_return_registers(*p_, vp(), 1, ExecMode::k64Bit);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rax, 0x1111'2222'3333'4444ull);
  EXPECT_EQ(r->rcx, 0x5555'6666'7777'8888ull);
  EXPECT_FALSE(r->rdx);
  // A 32-bit lower VTL: EAX, ECX, EDX, 4 bytes each.
  r = vtl_return_registers(*p_, vp(), 1, ExecMode::kProtected);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rax, 0x3333'4444u);
  EXPECT_EQ(r->rcx, 0x1111'2222u);
  ASSERT_TRUE(r->rdx);
  EXPECT_EQ(*r->rdx, 0x7777'8888u);
  EXPECT_FALSE(vtl_return_registers(*p_, vp(), 0, ExecMode::k64Bit));  // VTL 0 has none
}

}  // namespace
}  // namespace hvk::hv
