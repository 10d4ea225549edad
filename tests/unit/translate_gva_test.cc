// HvCallTranslateVirtualAddress and the page walk under it (hv/translate_gva.h): paging modes,
// present, rights, reserved bits, RAM bounds, the input VTL, overlay pages.
#include "hv/translate_gva.h"

#include <cstring>

#include "engine_fixture.h"
#include "hv/synthetic_msrs.h"

namespace hvk::test {
namespace {

using hv::GvaAccess;
using tlfs::TranslateGvaResultCode;
namespace f = tlfs::translate_flags;

constexpr std::uint64_t kP = 1, kRw = 2, kUs = 4, kPs = 0x80, kNx = 1ull << 63;
constexpr std::uint64_t kPml4 = 0x4000, kPdpt = 0x5000, kPd = 0x6000, kPt = 0x7000;

class Walk : public ::testing::Test {
 protected:
  void put64(std::uint64_t gpa, std::uint64_t v) {
    ASSERT_TRUE(mem_.write(gpa, tlfs::as_bytes(v)));
  }
  void put32(std::uint64_t gpa, std::uint32_t v) {
    ASSERT_TRUE(mem_.write(gpa, tlfs::as_bytes(v)));
  }
  // 4-level: VA 0x0000'0080'0020'3000 (PML4 1, PDPT 0, PD 1, PT 3) -> 0x9000, and the 2 MiB page
  // at VA 0x80'0040'0000 (PD 2) -> 0x20'0000.
  tlfs::InitialVpContext long_mode(std::uint64_t leaf_bits = kP | kRw | kUs) {
    put64(kPml4 + 1 * 8, kPdpt | kP | kRw | kUs);
    put64(kPdpt + 0 * 8, kPd | kP | kRw | kUs);
    put64(kPd + 1 * 8, kPt | kP | kRw | kUs);
    put64(kPd + 2 * 8, 0x20'0000 | kPs | kP | kRw);
    put64(kPt + 3 * 8, 0x9000 | leaf_bits);
    tlfs::InitialVpContext c = good_context();
    c.cr3 = kPml4;
    return c;
  }
  hv::GvaWalk walk(const tlfs::InitialVpContext& c, std::uint64_t gva, GvaAccess a = {}) {
    return hv::walk_gva(mem_, c, gva, a);
  }
  std::vector<std::byte> ram_ = std::vector<std::byte>(4 << 20);
  hv::MemoryMap mem_ = [this] {
    hv::MemoryMap m;
    m.add(0, ram_);
    return m;
  }();
};

constexpr std::uint64_t kVa4k = 0x80'0020'3000ull;
constexpr std::uint64_t kVa2m = 0x80'0040'0000ull;

TEST_F(Walk, FourLevelPagesAndTheTwoMegabytePage) {
  const auto c = long_mode();
  auto w = walk(c, kVa4k + 0x123);
  EXPECT_EQ(w.code, TranslateGvaResultCode::kSuccess);
  EXPECT_EQ(w.gpa, 0x9123u);
  w = walk(c, kVa2m + 0x1'2345);
  EXPECT_EQ(w.code, TranslateGvaResultCode::kSuccess);
  EXPECT_EQ(w.gpa, 0x21'2345u);
  // Not present: another PML4 slot, another PT slot.
  EXPECT_EQ(walk(c, 0x100'0000'0000ull).code, TranslateGvaResultCode::kPageNotPresent);
  EXPECT_EQ(walk(c, kVa4k + 0x1000).code, TranslateGvaResultCode::kPageNotPresent);
  // Non-canonical.
  EXPECT_EQ(walk(c, 0x8000'0000'0000ull).code, TranslateGvaResultCode::kPageNotPresent);
}

TEST_F(Walk, RightsWriteUserExecuteAndSmep) {
  auto c = long_mode(kP | kUs);  // read-only user page
  GvaAccess write;
  write.write = true;
  EXPECT_EQ(walk(c, kVa4k, write).code, TranslateGvaResultCode::kPrivilegeViolation);  // CR0.WP
  c.cr0 &= ~(1ull << 16);
  EXPECT_EQ(walk(c, kVa4k, write).code, TranslateGvaResultCode::kSuccess);  // supervisor, WP 0
  write.user = true;
  EXPECT_EQ(walk(c, kVa4k, write).code, TranslateGvaResultCode::kPrivilegeViolation);
  // The 2 MiB page is supervisor-only.
  GvaAccess user;
  user.user = true;
  EXPECT_EQ(walk(c, kVa2m, user).code, TranslateGvaResultCode::kPrivilegeViolation);
  user.check_privilege = false;  // PRIVILEGE_EXEMPT
  EXPECT_EQ(walk(c, kVa2m, user).code, TranslateGvaResultCode::kSuccess);
  // No-execute counts only with EFER.NXE; without it the bit is reserved.
  c = long_mode(kP | kRw | kNx);
  GvaAccess exec;
  exec.execute = true;
  c.efer |= 1u << 11;
  EXPECT_EQ(walk(c, kVa4k, exec).code, TranslateGvaResultCode::kPrivilegeViolation);
  EXPECT_EQ(walk(c, kVa4k).code, TranslateGvaResultCode::kSuccess);
  c.efer &= ~(1ull << 11);
  EXPECT_EQ(walk(c, kVa4k).code, TranslateGvaResultCode::kInvalidPageTableFlags);
  // SMEP: a supervisor fetch from a user page.
  c = long_mode();
  c.cr4 |= 1u << 20;
  EXPECT_EQ(walk(c, kVa4k, exec).code, TranslateGvaResultCode::kPrivilegeViolation);
}

TEST_F(Walk, TablesAndPagesOutsideRamAreGpaUnmapped) {
  auto c = long_mode(kP | kRw);
  put64(kPt + 3 * 8, 0x1'0000'0000ull | kP | kRw);  // a page beyond the 4 MiB of RAM
  EXPECT_EQ(walk(c, kVa4k).code, TranslateGvaResultCode::kGpaUnmapped);
  c.cr3 = 0x10'0000'0000ull;  // the PML4 itself outside RAM
  EXPECT_EQ(walk(c, kVa4k).code, TranslateGvaResultCode::kGpaUnmapped);
}

TEST_F(Walk, ThirtyTwoBitPaeAndNoPaging) {
  tlfs::InitialVpContext c = good_context();
  // No paging: GVA = GPA (32 bits).
  c.cr0 &= ~(1ull << 31);
  EXPECT_EQ(walk(c, 0x1234).gpa, 0x1234u);
  EXPECT_EQ(walk(c, 0x1'0000'1234ull).gpa, 0x1234u);
  EXPECT_EQ(walk(c, 0x8000'0000).code, TranslateGvaResultCode::kGpaUnmapped);
  // 32-bit paging, a 4 KiB page and a 4 MiB page (CR4.PSE).
  c.cr0 |= 1ull << 31;
  c.cr4 = 1u << 4;
  c.efer = 0;
  c.cr3 = kPd;
  put32(kPd + 1 * 4, kPt | kP | kRw);
  put32(kPt + 2 * 4, 0xA000 | kP | kRw);
  put32(kPd + 0 * 4, 0x0 | kPs | kP | kRw);  // VA 0-4 MiB -> 0
  EXPECT_EQ(walk(c, 0x40'2010).gpa, 0xA010u);
  EXPECT_EQ(walk(c, 0x30'0000).gpa, 0x30'0000u);
  // PAE: PDPTE 0 -> PD, a reserved PDPTE bit is invalid flags.
  c.cr4 = 1u << 5;
  c.cr3 = kPdpt;
  put64(kPdpt, kPd | kP);
  put64(kPd + 1 * 8, kPt | kP | kRw);
  put64(kPt + 2 * 8, 0xB000 | kP | kRw);
  EXPECT_EQ(walk(c, 0x20'2010).gpa, 0xB010u);
  put64(kPdpt, kPd | kP | kRw);  // bit 1 is reserved in a PAE PDPTE
  EXPECT_EQ(walk(c, 0x20'2010).code, TranslateGvaResultCode::kInvalidPageTableFlags);
}

// The call itself, through the dispatcher, from VP 0 whose VTL contexts FakeXlateState holds.
class XlateState final : public hv::VpState {
 public:
  tlfs::InitialVpContext context(tlfs::Vtl vtl) override { return contexts[vtl]; }
  void set_context(tlfs::Vtl, const tlfs::InitialVpContext&) override {}
  std::array<tlfs::InitialVpContext, 3> contexts{good_context(), good_context(), good_context()};
};

class Translate : public Engine {
 protected:
  void SetUp() override {
    Engine::SetUp();
    // VTL 0's tables in the fixture's 64 KiB: VA 0x80'0000'0000 + 3 pages -> GPA 0xA000.
    put(0x8000 + 1 * 8, 0x9000 | 7);  // PML4[1] -> PDPT at 0x9000
    put(0x9000, 0xC000 | 7);          // PDPT[0] -> PD at 0xC000
    put(0xC000, 0xD000 | 7);          // PD[0] -> PT at 0xD000
    put(0xD000 + 3 * 8, 0xA000 | 7);  // PT[3] -> 0xA000
    state_.contexts[0].cr3 = 0x8000;
    state_.contexts[1].cr3 = 0xE000;  // VTL 1: empty tables
  }
  void put(std::uint64_t gpa, std::uint64_t v) { memory_.write(gpa, tlfs::as_bytes(v)); }
  hv::Outcome translate(std::uint64_t flags, std::uint64_t gva_page,
                        tlfs::VpIndex vp = tlfs::kVpIndexSelf) {
    tlfs::TranslateVirtualAddressInput in{tlfs::kPartitionIdSelf, vp, 0xACAC'ACAC, flags, gva_page};
    memory_.write(kIn, tlfs::as_bytes(in));
    hv::VpCallState s{hv::ExecMode::k64Bit, 0, {}};
    s.regs.rcx = HypercallControl::make(CallCode::kTranslateVirtualAddress).raw;
    s.regs.rdx = kIn;
    s.regs.r8 = kOut;
    return dispatcher_->dispatch(*root_, *root_->vp(0), s, &state_);
  }
  tlfs::TranslateVirtualAddressOutput result() { return out_at<tlfs::TranslateVirtualAddressOutput>(); }
  XlateState state_;
  static constexpr std::uint64_t kGva = (0x80'0000'0000ull >> 12) + 3;
  static constexpr std::uint64_t kAll = f::kValidateRead | f::kValidateWrite | f::kValidateExecute |
                                        f::kPrivilegeExempt;
};

TEST_F(Translate, TranslatesThroughTheTargetVtlsTables) {
  EXPECT_EQ(translate(kAll, kGva).result.status(), Status::kSuccess);
  EXPECT_EQ(result().result_code, TranslateGvaResultCode::kSuccess);
  EXPECT_EQ(result().gpa_page, 0xAu);
  EXPECT_EQ(result().attributes, tlfs::kCacheTypeWriteBack);  // WB, not an overlay
  // Unmapped: SUCCESS with result code PageNotPresent.
  EXPECT_EQ(translate(kAll, kGva + 1).result.status(), Status::kSuccess);
  EXPECT_EQ(result().result_code, TranslateGvaResultCode::kPageNotPresent);
  // From VTL 1, naming VTL 0 in bits 63:56: VTL 0's tables, not VTL 1's.
  ASSERT_NO_FATAL_FAILURE(enable_vtl1(0));
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(translate(kAll | 0x10ull << 56, kGva).result.status(), Status::kSuccess);
  EXPECT_EQ(result().gpa_page, 0xAu);
  EXPECT_EQ(translate(kAll, kGva).result.status(), Status::kSuccess);  // VTL 1's own: empty
  EXPECT_EQ(result().result_code, TranslateGvaResultCode::kPageNotPresent);
}

TEST_F(Translate, HypercallAndAssistPagesAreOverlays) {
  hv::write_synthetic_msr(*root_, *root_->vp(0), hv::msr::kGuestOsId, 1);
  hv::write_synthetic_msr(*root_, *root_->vp(0), hv::msr::kHypercall, 0xA000 | 1);
  EXPECT_EQ(translate(kAll, kGva).result.status(), Status::kSuccess);
  EXPECT_EQ(result().attributes, tlfs::kCacheTypeWriteBack | 1u << 8);
  hv::write_synthetic_msr(*root_, *root_->vp(0), hv::msr::kHypercall, 0xB000 | 1);
  hv::write_synthetic_msr(*root_, *root_->vp(0), hv::msr::kVpAssistPage, 0xA000 | 1);
  EXPECT_EQ(translate(kAll, kGva).result.status(), Status::kSuccess);
  EXPECT_EQ(result().attributes >> 8 & 1, 1u);
  hv::write_synthetic_msr(*root_, *root_->vp(0), hv::msr::kVpAssistPage, 0);
  EXPECT_EQ(translate(kAll, kGva).result.status(), Status::kSuccess);
  EXPECT_EQ(result().attributes >> 8 & 1, 0u);
  // The SynIC's event flags page (with the SynIC privileges).
  auto cfg = root_config();
  cfg.synic = true;
  make_root(cfg);  // the page tables and VP state stay in the fixture's memory
  ASSERT_FALSE(hv::write_synthetic_msr(*root_, *root_->vp(0), hv::msr::kSiefp, 0xA000 | 1).gp);
  EXPECT_EQ(translate(kAll, kGva).result.status(), Status::kSuccess);
  EXPECT_EQ(result().attributes >> 8 & 1, 1u);
}

TEST_F(Translate, Statuses) {
  EXPECT_EQ(translate(kAll, kGva, 9).result.status(), Status::kInvalidVpIndex);
  EXPECT_EQ(translate(kAll, kGva, 1).result.status(), Status::kInvalidVpState);  // another VP
  EXPECT_EQ(translate(kAll | 1ull << 20, kGva).result.status(), Status::kInvalidParameter);
  EXPECT_EQ(translate(f::kSetPageTableBits, kGva).result.status(), Status::kInvalidParameter);
  EXPECT_EQ(translate(f::kUserAccess | f::kSupervisorAccess, kGva).result.status(),
            Status::kInvalidParameter);
  EXPECT_EQ(translate(0x20ull << 56, kGva).result.status(), Status::kInvalidParameter);  // reserved
  EXPECT_EQ(translate(0x11ull << 56, kGva).result.status(), Status::kAccessDenied);  // above VTL 0
}

}  // namespace
}  // namespace hvk::test
