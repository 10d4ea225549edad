// HvCallModifyVtlProtectionMask, the default protection mask, what a mask allows, and the GPA
// intercept message (docs/conformance.md rows K).
#include "hv/calls.h"
#include "hv/synthetic_msrs.h"
#include "hv/vtl_protection.h"
#include "hvk/tlfs/registers.h"
#include "hvk/tlfs/vtl_protection.h"
#include "synic_fixture.h"

namespace hvk::test {
namespace {

namespace map = tlfs::map_gpa;

struct ModifyInput {
  tlfs::ModifyVtlProtectionMaskHeader header;
  std::uint64_t pages[4];
};

std::uint64_t config(std::uint32_t default_mask) {
  return tlfs::vsm_config::kEnableVtlProtection |
         (std::uint64_t{default_mask} << tlfs::vsm_config::kDefaultVtlProtectionMaskShift);
}

class VtlProtection : public SynicEngine {
 protected:
  void SetUp() override {
    SynicEngine::SetUp();
    enable_vtl1(0);
  }
  // ModifyVtlProtectionMask from VP 0 in VTL `from` on `pages` (page numbers).
  hv::Outcome modify(std::uint32_t flags, std::initializer_list<std::uint64_t> pages,
                     tlfs::InputVtl target = tlfs::InputVtl::target(0), tlfs::Vtl from = 1) {
    root_->vp(0)->set_current_vtl(from);
    ModifyInput in{{tlfs::kPartitionIdSelf, flags, target, {}}, {}};
    std::size_t i = 0;
    for (std::uint64_t p : pages) in.pages[i++] = p;
    return call(HypercallControl::make(CallCode::kModifyVtlProtectionMask, false,
                                       static_cast<std::uint16_t>(pages.size())),
                in);
  }
  hv::PageAccess access(std::uint64_t page, tlfs::Vtl vtl = 0) {
    return hv::lower_vtl_access(*root_, vtl, page);
  }
  static constexpr hv::PageAccess kNone{false, false, false};
  static constexpr hv::PageAccess kAll{true, true, true};
};

TEST(VtlProtectionMask, TheTlfsCombinationsAreTheValidMasks) {
  for (std::uint32_t m : {0x0u, 0x1u, 0x3u, 0x5u, 0x7u, 0x9u, 0xBu, 0xDu, 0xFu}) {
    EXPECT_TRUE(hv::valid_protection_mask(m)) << m;
  }
  // Write or execute without read, and undefined bits.
  for (std::uint32_t m : {0x2u, 0x4u, 0x6u, 0x8u, 0xAu, 0xCu, 0xEu, 0x10u, 0x11u, 0x8000u}) {
    EXPECT_FALSE(hv::valid_protection_mask(m)) << m;
  }
}

TEST(VtlProtectionMask, WithoutMbecKernelExecuteDecidesAsTheTlfsSays) {
  EXPECT_EQ(hv::page_access(map::kReadable | map::kKernelExecutable, false),
            (hv::PageAccess{true, false, true}));
  // UserExecutable is ignored without MBEC.
  EXPECT_EQ(hv::page_access(map::kReadable | map::kWritable | map::kUserExecutable, false),
            (hv::PageAccess{true, true, false}));
  EXPECT_EQ(hv::page_access(map::kAll, false), (hv::PageAccess{true, true, true}));
  EXPECT_EQ(hv::page_access(0, false), (hv::PageAccess{false, false, false}));
}

TEST(VtlProtectionMask, TheEitherBitReadingGrantsExecuteForBit3Too) {
  EXPECT_EQ(hv::page_access(map::kReadable | map::kWritable | map::kUserExecutable, true),
            (hv::PageAccess{true, true, true}));
  EXPECT_EQ(hv::page_access(map::kReadable | map::kKernelExecutable, true),
            (hv::PageAccess{true, false, true}));
  EXPECT_EQ(hv::page_access(map::kReadable | map::kWritable, true),
            (hv::PageAccess{true, true, false}));
}

TEST_F(VtlProtection, NeedsEnableVtlProtectionInTheCallersConfig) {
  EXPECT_EQ(modify(map::kReadable, {1}).result.status(), Status::kAccessDenied);
  root_->write_vsm_config(1, config(map::kAll));
  EXPECT_EQ(modify(map::kReadable, {1}).result.status(), Status::kSuccess);
  EXPECT_EQ(access(1), (hv::PageAccess{true, false, false}));
}

TEST_F(VtlProtection, OnlyALowerVtlIsProtected) {
  root_->write_vsm_config(1, config(map::kAll));
  // From VTL 0 there is nothing below.
  EXPECT_EQ(modify(0, {1}, tlfs::InputVtl::current(), 0).result.status(), Status::kAccessDenied);
  EXPECT_EQ(modify(0, {1}, tlfs::InputVtl::target(0), 0).result.status(), Status::kAccessDenied);
  // From VTL 1: naming VTL 0, naming none, or naming itself all protect VTL 0.
  EXPECT_EQ(modify(0, {1}, tlfs::InputVtl::target(0)).result.status(), Status::kSuccess);
  EXPECT_EQ(access(1), kNone);
  EXPECT_EQ(modify(map::kReadable, {2}, tlfs::InputVtl::current()).result.status(),
            Status::kSuccess);
  EXPECT_EQ(access(2), (hv::PageAccess{true, false, false}));
  EXPECT_EQ(modify(map::kReadable | map::kWritable, {3}, tlfs::InputVtl::target(1))
                .result.status(),
            Status::kSuccess);
  EXPECT_EQ(access(3), (hv::PageAccess{true, true, false}));
  EXPECT_EQ(access(3, 1), kAll);  // VTL 1's own pages are untouched
  // A VTL above the caller, and reserved HV_INPUT_VTL bits.
  EXPECT_NE(modify(0, {1}, tlfs::InputVtl::target(2)).result.status(), Status::kSuccess);
  EXPECT_EQ(modify(0, {1}, tlfs::InputVtl{0x30}).result.status(), Status::kInvalidParameter);
}

TEST_F(VtlProtection, InvalidMasksAreInvalidParameterAndChangeNothing) {
  root_->write_vsm_config(1, config(map::kAll));
  for (std::uint32_t m : {map::kWritable, map::kKernelExecutable, 0x10u}) {
    EXPECT_EQ(modify(m, {1}).result.status(), Status::kInvalidParameter) << m;
  }
  EXPECT_EQ(access(1), kAll);
  EXPECT_TRUE(backend_.protection_changes.empty());
}

TEST_F(VtlProtection, PagesOutsideRamStopTheCallAtTheirRep) {
  root_->write_vsm_config(1, config(map::kAll));
  const std::uint64_t beyond = kRamSize >> 12;
  const hv::Outcome o = modify(0, {1, 2, beyond, 3});
  EXPECT_EQ(o.result.status(), Status::kInvalidParameter);
  EXPECT_EQ(o.result.reps_completed(), 2);
  EXPECT_EQ(access(1), kNone);
  EXPECT_EQ(access(2), kNone);
  EXPECT_EQ(access(3), kAll);
  // A page number whose address does not fit in 64 bits.
  EXPECT_EQ(modify(0, {~0ull}).result.status(), Status::kInvalidParameter);
}

TEST_F(VtlProtection, TheMachineIsToldEachChangeAndMayRefuseIt) {
  root_->write_vsm_config(1, config(map::kAll));
  ASSERT_EQ(modify(map::kReadable, {4, 5}).result.status(), Status::kSuccess);
  ASSERT_EQ(backend_.protection_changes.size(), 1u);
  EXPECT_EQ(backend_.protection_changes[0].vtl, 0);
  EXPECT_EQ(backend_.protection_changes[0].pages, (std::vector<std::uint64_t>{4, 5}));
  // Refused (too many ranges to map): INSUFFICIENT_MEMORY, nothing done, the old masks back.
  backend_.refuse_protections = true;
  const hv::Outcome o = modify(0, {4, 6});
  EXPECT_EQ(o.result.status(), Status::kInsufficientMemory);
  EXPECT_EQ(o.result.reps_completed(), 0);
  EXPECT_EQ(access(4), (hv::PageAccess{true, false, false}));
  EXPECT_EQ(access(6), kAll);
}

TEST_F(VtlProtection, BackToTheDefaultMaskNeedsNoEntry) {
  root_->write_vsm_config(1, config(map::kAll));
  ASSERT_EQ(modify(0, {7}).result.status(), Status::kSuccess);
  ASSERT_EQ(modify(map::kAll, {7}).result.status(), Status::kSuccess);
  EXPECT_EQ(access(7), kAll);
  int entries = 0;
  root_->protections().for_each(0, map::kAll, [&](std::uint64_t, std::uint32_t) { ++entries; });
  EXPECT_EQ(entries, 0);
}

TEST_F(VtlProtection, TheDefaultMaskAppliesOnceProtectionIsEnabledAndIsFixedThen) {
  // Before EnableVtlProtection, every page is open whatever the mask field says.
  root_->write_vsm_config(1, std::uint64_t{map::kReadable} << 1);
  EXPECT_EQ(access(9), kAll);
  EXPECT_TRUE(root_->write_vsm_config(1, config(map::kReadable | map::kWritable)));
  EXPECT_EQ(access(9), (hv::PageAccess{true, true, false}));
  // Fixed once set (conformance G4a): a later write keeps it.
  EXPECT_FALSE(root_->write_vsm_config(1, config(map::kAll)));
  EXPECT_EQ(hv::default_protection_mask(*root_, 0), map::kReadable | map::kWritable);
  // An explicit mask still wins over the default.
  ASSERT_EQ(modify(map::kAll, {9}).result.status(), Status::kSuccess);
  EXPECT_EQ(access(9), kAll);
  EXPECT_EQ(access(10), (hv::PageAccess{true, true, false}));
}

TEST_F(VtlProtection, SettingEnableVtlProtectionTellsTheMachineOfANonOpenDefault) {
  hv::vtl_protection_enabled(*root_, 1);  // nothing enabled yet: nothing to say
  EXPECT_TRUE(backend_.protection_changes.empty());
  root_->write_vsm_config(1, config(map::kReadable | map::kWritable));
  hv::vtl_protection_enabled(*root_, 1);
  ASSERT_EQ(backend_.protection_changes.size(), 1u);
  EXPECT_EQ(backend_.protection_changes[0].vtl, 0);
  EXPECT_TRUE(backend_.protection_changes[0].pages.empty());
}

TEST_F(VtlProtection, AnInterceptIsAGpaInterceptMessageInTheVtlAboveSint0) {
  // VTL 1's SynIC on VP 0: its pages, SCONTROL, SINT 0 with vector 0x23.
  root_->vp(0)->set_current_vtl(1);
  enable_synic(0);
  set_sint(0, 0, 0x23);
  clear_sints();
  hv::DeniedAccess d;
  d.vtl = 0;
  d.message.header.access_type = tlfs::InterceptAccess::kWrite;
  d.message.header.instruction_length = 3;
  d.message.gpa = 0x5008;
  d.message.rax = 0x1234;
  ASSERT_EQ(hv::raise_gpa_intercept(*root_, *root_->vp(0), d), hv::InterceptDelivery::kDelivered);
  const tlfs::Message m = slot(0, 0);
  EXPECT_EQ(m.header.message_type, static_cast<std::uint32_t>(tlfs::MessageType::kGpaIntercept));
  EXPECT_EQ(m.header.payload_size, sizeof(tlfs::MemoryInterceptMessage));
  tlfs::MemoryInterceptMessage body{};
  std::memcpy(&body, m.payload, sizeof body);
  EXPECT_EQ(body.header.vp_index, 0u);
  EXPECT_EQ(body.header.access_type, tlfs::InterceptAccess::kWrite);
  EXPECT_EQ(body.gpa, 0x5008u);
  EXPECT_EQ(body.rax, 0x1234u);
  const auto raised = sints();
  ASSERT_EQ(raised.size(), 1u);
  EXPECT_EQ(raised[0].vtl, 1);
  EXPECT_EQ(raised[0].vector, 0x23);
  // The slot is full now: the next one waits in the queue, with no interrupt.
  EXPECT_EQ(hv::raise_gpa_intercept(*root_, *root_->vp(0), d), hv::InterceptDelivery::kQueued);
  EXPECT_EQ(sints().size(), 1u);
  // A VTL with nothing above it, or a VP without the VTL above, takes no intercept.
  d.vtl = 1;
  EXPECT_EQ(hv::raise_gpa_intercept(*root_, *root_->vp(0), d), hv::InterceptDelivery::kFailed);
  d.vtl = 0;
  EXPECT_EQ(hv::raise_gpa_intercept(*root_, *root_->vp(1), d), hv::InterceptDelivery::kFailed);
}

}  // namespace
}  // namespace hvk::test
