// XMM fast hypercalls (TLFS "XMM Fast Hypercall Input" and "Output"): the register block RDX, R8,
// XMM0-XMM5 (112 bytes); output from the first 16-byte chunk the input leaves free.
#include <cstring>

#include "engine_fixture.h"
#include "xmm_state.h"
#include "hvk/tlfs/registers.h"

namespace hvk::test {
namespace {

using hv::Action;
using hv::ExecMode;
using tlfs::RegisterName;

class XmmFast : public Engine {
 protected:
  hv::Outcome fast(HypercallControl control, std::uint64_t rdx, std::uint64_t r8,
                   ExecMode mode = ExecMode::k64Bit, hv::VpState* state = nullptr) {
    st_ = fast_call_state(control, rdx, r8, mode);
    return dispatcher_->dispatch(*root_, *root_->vp(0), st_, state == nullptr ? &xmm_ : state);
  }
  static HypercallControl fast_control(CallCode code, std::uint16_t reps = 0,
                                       std::uint16_t start = 0) {
    return HypercallControl::make(code, true, reps, start);
  }
  static std::uint32_t name(RegisterName r) { return static_cast<std::uint32_t>(r); }
  XmmState xmm_;
  hv::VpCallState st_{};
};

TEST_F(XmmFast, InputFromXmmAndOutputAfterIt) {
  // GetVpIndexFromApicId, 3 APIC IDs: 16 + 12 input bytes (the IDs in XMM0), so the output (3 VP
  // indexes) starts at byte 32 of the block: XMM1.
  xmm_.put<std::uint32_t>(0, 3);
  xmm_.put<std::uint32_t>(4, 1);
  xmm_.put<std::uint32_t>(8, 2);
  xmm_.put<std::uint32_t>(16, 0xDEAD'BEEF);  // XMM1: overwritten by the output
  const auto o = fast(fast_control(CallCode::kGetVpIndexFromApicId, 3), tlfs::kPartitionIdSelf, 0);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 3);
  EXPECT_EQ(xmm_.get<std::uint32_t>(16), 3u);
  EXPECT_EQ(xmm_.get<std::uint32_t>(20), 1u);
  EXPECT_EQ(xmm_.get<std::uint32_t>(24), 2u);
  EXPECT_EQ(xmm_.get<std::uint32_t>(0), 3u);  // input registers left as they were
  EXPECT_FALSE(o.fast_output_in_gprs);
}

TEST_F(XmmFast, GetVpRegistersOneValuePerXmmFromXmm1) {
  // kvm-unit-tests hyperv_vsm's layout: up to four names in XMM0, the values from XMM1 on.
  xmm_.put<std::uint32_t>(0, name(RegisterName::kVsmCodePageOffsets));
  xmm_.put<std::uint32_t>(4, name(RegisterName::kVsmVpStatus));
  const auto o = fast(fast_control(CallCode::kGetVpRegisters, 2), tlfs::kPartitionIdSelf,
                      tlfs::kVpIndexSelf);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(xmm_.get<std::uint64_t>(16), root_->vsm_code_page_offsets());
  EXPECT_EQ(xmm_.get<std::uint64_t>(24), 0u);
  EXPECT_EQ(xmm_.get<std::uint64_t>(32) & 0xFFFF'000F, 1u << 16);  // VTL 0 active, {0} enabled
}

TEST_F(XmmFast, SetVpRegistersReadsItsElementFromXmm0AndXmm1) {
  ASSERT_NO_FATAL_FAILURE(enable_vtl1(0));
  root_->vp(0)->set_current_vtl(1);
  // One element: the name in XMM0's low dword, RsvdZ, the value in XMM1.
  xmm_.put<std::uint32_t>(0, name(RegisterName::kVsmPartitionConfig));
  xmm_.put<std::uint64_t>(16, tlfs::vsm_config::kDenyLowerVtlStartup);
  const auto o = fast(fast_control(CallCode::kSetVpRegisters, 1), tlfs::kPartitionIdSelf,
                      tlfs::kVpIndexSelf);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(root_->vsm_config(1), tlfs::vsm_config::kDenyLowerVtlStartup);
  EXPECT_EQ(xmm_.writes, 0);  // no output, no register write
}

TEST_F(XmmFast, InputOrOutputBeyond112BytesIsInvalidInputBeforeAnyRep) {
  // StartVirtualProcessor's 240 bytes.
  EXPECT_EQ(fast(fast_control(CallCode::kStartVirtualProcessor), tlfs::kPartitionIdSelf, 1)
                .result.status(),
            Status::kInvalidHypercallInput);
  EXPECT_TRUE(backend_.starts.empty());
  // GetVpRegisters with 5 names: 36 input bytes (48 rounded) and 80 of output = 128.
  auto o = fast(fast_control(CallCode::kGetVpRegisters, 5), tlfs::kPartitionIdSelf,
                tlfs::kVpIndexSelf);
  EXPECT_EQ(o.result.status(), Status::kInvalidHypercallInput);
  EXPECT_EQ(o.result.reps_completed(), 0);
  EXPECT_EQ(xmm_.writes, 0);
  // Four fit exactly: 32 + 64 = 96.
  for (int i = 0; i < 4; ++i) {
    xmm_.put<std::uint32_t>(4 * i, name(RegisterName::kVsmCodePageOffsets));
  }
  o = fast(fast_control(CallCode::kGetVpRegisters, 4), tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  // SetVpRegisters: 16 + 32 per element; 3 fit (112), 4 do not.
  o = fast(fast_control(CallCode::kSetVpRegisters, 4), tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf);
  EXPECT_EQ(o.result.status(), Status::kInvalidHypercallInput);
}

TEST_F(XmmFast, OutputOfACallWithNoInputStartsInRdx) {
  const auto o = fast(fast_control(CallCode::kGetPartitionId), 0x1111, 0x2222);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_TRUE(o.fast_output_in_gprs);
  EXPECT_EQ(st_.regs.rdx, root_->id());
  EXPECT_EQ(st_.regs.r8, 0x2222u);  // the rest of the chunk as it was
}

TEST_F(XmmFast, OutputIsFor64BitCallersOnlyInputIsForBoth) {
  EXPECT_EQ(fast(fast_control(CallCode::kGetPartitionId), 0, 0, ExecMode::kProtected)
                .result.status(),
            Status::kInvalidHypercallInput);
  // A 32-bit caller's EnableVpVtl cannot fit (240 bytes); GetVpIndexFromApicId has output. So a
  // 32-bit XMM input without output: SetVpRegisters of VsmPartitionConfig from VTL 0 reaches its
  // handler (INVALID_PARAMETER: VTL 0 has no VSM configuration), not the dispatcher's refusal.
  xmm_.put<std::uint32_t>(0, name(RegisterName::kVsmPartitionConfig));
  const auto o = fast(fast_control(CallCode::kSetVpRegisters, 1), tlfs::kPartitionIdSelf,
                      tlfs::kVpIndexSelf, ExecMode::kProtected);
  EXPECT_EQ(o.result.status(), Status::kInvalidParameter);
  EXPECT_EQ(xmm_.reads, 1);
}

TEST_F(XmmFast, TwoRegisterFastCallsNeverTouchXmm) {
  hv::Partition& child = make_child();
  const auto o = fast(HypercallControl::make(CallCode::kInitializePartition, true), child.id(), 0);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(xmm_.reads + xmm_.writes, 0);
}

TEST_F(XmmFast, WithoutTheCallersXmmStateItIsInvalidInput) {
  class NoXmm final : public hv::VpState {
   public:
    tlfs::InitialVpContext context(tlfs::Vtl) override { return good_context(); }
    void set_context(tlfs::Vtl, const tlfs::InitialVpContext&) override {}
  } none;
  EXPECT_EQ(fast(fast_control(CallCode::kGetPartitionId), 0, 0, ExecMode::k64Bit, &none)
                .result.status(),
            Status::kInvalidHypercallInput);
}

class XmmFastRep : public XmmFast {
 protected:
  void SetUp() override {
    options_.max_reps_per_entry = 2;
    XmmFast::SetUp();
  }
};

TEST_F(XmmFastRep, AnEarlyReturnKeepsEachOutputElementInItsPlace) {
  for (std::uint32_t i = 0; i < 4; ++i) xmm_.put<std::uint32_t>(4 * i, 3 - i);
  auto o = fast(fast_control(CallCode::kGetVpIndexFromApicId, 4), tlfs::kPartitionIdSelf, 0);
  ASSERT_EQ(o.action, Action::kRetry);
  const HypercallControl again{st_.regs.rcx};
  EXPECT_EQ(again.rep_start(), 2);
  o = fast(again, tlfs::kPartitionIdSelf, 0);
  EXPECT_EQ(o.action, Action::kComplete);
  EXPECT_EQ(o.result.reps_completed(), 4);
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_EQ(xmm_.get<std::uint32_t>(16 + 4 * i), 3 - i);
}

}  // namespace
}  // namespace hvk::test
