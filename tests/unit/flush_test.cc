// HvCallFlushVirtualAddressSpace/List (0x0002, 0x0003) and the TLB lock of
// HvRegisterVsmVpSecureConfigVtlN: conformance rows L1-L8 and G9.
#include "engine_fixture.h"
#include "hv/vtl_switch.h"
#include "hvk/tlfs/flush.h"
#include "hvk/tlfs/registers.h"

namespace hvk::test {
namespace {

using tlfs::FlushVirtualAddressInput;
using tlfs::RegisterName;
namespace flags = tlfs::flush_flags;

struct ListInput {
  FlushVirtualAddressInput header;
  std::uint64_t ranges[3];
};

struct SetQuery {
  tlfs::VpRegistersHeader header;
  tlfs::SetVpRegistersElement element;
};

struct GetQuery {
  tlfs::VpRegistersHeader header;
  std::uint32_t name;
};

constexpr std::uint32_t kConfigVtl0 = static_cast<std::uint32_t>(RegisterName::kVsmVpSecureConfigVtl0);
constexpr std::uint32_t kConfigVtl1 = static_cast<std::uint32_t>(RegisterName::kVsmVpSecureConfigVtl1);

class Flush : public Engine {
 protected:
  hv::Outcome flush_space(std::uint64_t f, std::uint64_t mask, tlfs::VpIndex caller = 0) {
    return call(HypercallControl::make(CallCode::kFlushVirtualAddressSpace),
                FlushVirtualAddressInput{0x1000, f, mask}, nullptr, caller);
  }
  hv::Outcome flush_list(std::uint64_t f, std::uint64_t mask, std::uint16_t reps = 3) {
    ListInput in{{0x1000, f, mask}, {0xFFFF'8000'0000'0000ull, 0x7000'0003ull, 0x123}};
    return call(HypercallControl::make(CallCode::kFlushVirtualAddressList, false, reps), in);
  }
  // Set/GetVpRegisters of one register of VP `vp` in the caller's VTL, from VP `caller`.
  Status set_reg(std::uint32_t name, std::uint64_t value, tlfs::VpIndex vp = tlfs::kVpIndexSelf,
                 tlfs::VpIndex caller = 0, std::uint64_t high = 0) {
    SetQuery q{{tlfs::kPartitionIdSelf, vp, tlfs::InputVtl::current(), {}},
               {name, 0, 0, {value, high}}};
    return status_of(HypercallControl::make(CallCode::kSetVpRegisters, false, 1), q, nullptr,
                     caller);
  }
  hv::Outcome get_reg(std::uint32_t name, tlfs::VpIndex vp = tlfs::kVpIndexSelf) {
    GetQuery q{{tlfs::kPartitionIdSelf, vp, tlfs::InputVtl::current(), {}}, name};
    return call(HypercallControl::make(CallCode::kGetVpRegisters, false, 1), q);
  }
  // VTL 1 on VPs 0 and 1, VP 0 running it.
  void vtl1_on_two_vps() {
    ASSERT_NO_FATAL_FAILURE(enable_vtl1(0));
    root_->vp(0)->set_current_vtl(1);
    ASSERT_EQ(status_of(HypercallControl::make(CallCode::kEnableVpVtl), start_input(1, 1)),
              Status::kSuccess);
  }
  static std::vector<tlfs::VpIndex> members(const hv::VpSet& s, tlfs::VpIndex count) {
    std::vector<tlfs::VpIndex> out;
    for (tlfs::VpIndex i = 0; i < count; ++i) {
      if (s.contains(i)) out.push_back(i);
    }
    return out;
  }
};

TEST_F(Flush, SpaceFlushesTheCallersVtlOnTheVpsOfTheMask) {
  EXPECT_EQ(flush_space(0, 0b101, 1).result.status(), Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_EQ(backend_.flushes[0].caller, 1u);
  EXPECT_EQ(backend_.flushes[0].vtl, 0);
  EXPECT_EQ(members(backend_.flushes[0].targets, 64), (std::vector<tlfs::VpIndex>{0, 2}));
}

TEST_F(Flush, AllProcessorsIgnoresTheMask) {
  EXPECT_EQ(flush_space(flags::kAllProcessors | flags::kAllVirtualAddressSpaces, 0).result.status(),
            Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_TRUE(backend_.flushes[0].targets.all());
}

TEST_F(Flush, ReservedFlagBitsAndAbsentVpsAreNotLookedAt) {
  // hyperv_vsm passes HV_FLUSH_FLAGS as 32 bits and leaves the upper half uninitialised (L2).
  EXPECT_EQ(flush_space(0xA5A5'A5A5'0000'0000ull | flags::kNonGlobalMappingsOnly, ~0ull << 4)
                .result.status(),
            Status::kSuccess);
  ASSERT_EQ(backend_.flushes.size(), 1u);
  EXPECT_TRUE(members(backend_.flushes[0].targets, root_->vp_count()).empty());
}

TEST_F(Flush, ListCompletesEveryRangeAndRefusesNonGlobalOnly) {
  const hv::Outcome o = flush_list(0, 0b1);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 3);
  EXPECT_EQ(backend_.flushes.size(), 1u);
  const hv::Outcome bad = flush_list(flags::kNonGlobalMappingsOnly, 0b1);
  EXPECT_EQ(bad.result.status(), Status::kInvalidParameter);
  EXPECT_EQ(bad.result.reps_completed(), 0);
  EXPECT_EQ(backend_.flushes.size(), 1u);
  // A rep count of 0 is the dispatcher's INVALID_HYPERCALL_INPUT, as for every rep call.
  EXPECT_EQ(flush_list(0, 1, 0).result.status(), Status::kInvalidHypercallInput);
}

TEST_F(Flush, SecureConfigRegisterRules) {
  // VTL 0 has no lower VTL to configure; no VTL 1 yet.
  EXPECT_EQ(set_reg(kConfigVtl0, tlfs::secure_vtl_config::kTlbLocked), Status::kInvalidParameter);
  EXPECT_EQ(get_reg(kConfigVtl0).result.status(), Status::kInvalidParameter);
  ASSERT_NO_FATAL_FAILURE(vtl1_on_two_vps());
  EXPECT_EQ(set_reg(kConfigVtl0, tlfs::secure_vtl_config::kTlbLocked), Status::kSuccess);
  EXPECT_EQ(get_reg(kConfigVtl0).result.status(), Status::kSuccess);
  EXPECT_EQ(out_at<std::uint64_t>(), tlfs::secure_vtl_config::kTlbLocked);
  // VTL 1 configures only VTLs below it; no MBEC; the other bits are ReservedZ.
  EXPECT_EQ(set_reg(kConfigVtl1, 0), Status::kInvalidParameter);
  EXPECT_EQ(get_reg(kConfigVtl1).result.status(), Status::kInvalidParameter);
  EXPECT_EQ(set_reg(kConfigVtl0, tlfs::secure_vtl_config::kMbecEnabled), Status::kInvalidParameter);
  EXPECT_EQ(set_reg(kConfigVtl0, 1u << 2), Status::kInvalidParameter);
  EXPECT_EQ(set_reg(kConfigVtl0, 0, tlfs::kVpIndexSelf, 0, 1), Status::kInvalidParameter);
  // Another VP's register: the lock is engine state, not a running VP's registers (hyperv_vsm
  // locks every VP's TLB from one).
  EXPECT_EQ(set_reg(kConfigVtl0, tlfs::secure_vtl_config::kTlbLocked, 1), Status::kSuccess);
  EXPECT_TRUE(root_->vp(1)->tlb_locked(0));
  EXPECT_FALSE(root_->vp(1)->tlb_locked(1));
}

TEST_F(Flush, ALockedTargetSuspendsTheCallerUntilTheLockIsLifted) {
  ASSERT_NO_FATAL_FAILURE(vtl1_on_two_vps());
  ASSERT_EQ(set_reg(kConfigVtl0, tlfs::secure_vtl_config::kTlbLocked, 1), Status::kSuccess);
  root_->vp(0)->set_current_vtl(0);
  // VTL 0 of VP 0 flushes VP 1: suspended, nothing written, nothing flushed.
  hv::VpCallState st{hv::ExecMode::k64Bit, 0, {}};
  const auto control = HypercallControl::make(CallCode::kFlushVirtualAddressSpace);
  memory_.write(kIn, tlfs::as_bytes(FlushVirtualAddressInput{0, 0, 0b10}));
  st.regs.rax = 0x5555;
  st.regs.rcx = control.raw;
  st.regs.rdx = kIn;
  st.regs.r8 = kOut;
  EXPECT_EQ(dispatcher_->dispatch(*root_, *root_->vp(0), st).action, hv::Action::kSuspend);
  EXPECT_EQ(st.regs.rax, 0x5555u);
  EXPECT_EQ(st.regs.rcx, control.raw);
  EXPECT_TRUE(backend_.flushes.empty());
  // VP 0 alone is not locked; VTL 1's flushes are not held by a lock on VTL 0.
  EXPECT_EQ(flush_space(0, 0b01).result.status(), Status::kSuccess);
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(flush_space(flags::kAllProcessors, 0).result.status(), Status::kSuccess);
  EXPECT_EQ(backend_.flushes.size(), 2u);
  // VTL 1 lifts the lock: the backend hears of it, and the re-issued call goes through.
  EXPECT_EQ(set_reg(kConfigVtl0, 0, 1), Status::kSuccess);
  EXPECT_EQ(backend_.unlocks, 1);
  EXPECT_EQ(set_reg(kConfigVtl0, 0, 1), Status::kSuccess);  // nothing lifted: no news
  EXPECT_EQ(backend_.unlocks, 1);
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(dispatcher_->dispatch(*root_, *root_->vp(0), st).action, hv::Action::kComplete);
  EXPECT_EQ(tlfs::HypercallResult{st.regs.rax}.status(), Status::kSuccess);
  EXPECT_EQ(backend_.flushes.size(), 3u);
}

TEST_F(Flush, AReturnReleasesTheLocksTheReturningVtlHoldsOnItsVp) {
  ASSERT_NO_FATAL_FAILURE(vtl1_on_two_vps());
  ASSERT_EQ(set_reg(kConfigVtl0, tlfs::secure_vtl_config::kTlbLocked), Status::kSuccess);
  ASSERT_EQ(set_reg(kConfigVtl0, tlfs::secure_vtl_config::kTlbLocked, 1), Status::kSuccess);
  const hv::VtlTransfer t =
      hv::transfer_vtl(*root_->vp(0), hv::VtlDirection::kReturn, hv::ExecMode::k64Bit, 0, 0);
  ASSERT_FALSE(t.ud);
  EXPECT_TRUE(t.released_tlb_locks);
  EXPECT_FALSE(root_->vp(0)->tlb_locked(0));
  EXPECT_TRUE(root_->vp(1)->tlb_locked(0));  // VP 1's own VTL 1 holds that one
  // A call up releases nothing; a return with nothing held says so.
  EXPECT_FALSE(hv::transfer_vtl(*root_->vp(0), hv::VtlDirection::kCall, hv::ExecMode::k64Bit, 0, 0)
                   .released_tlb_locks);
  EXPECT_FALSE(
      hv::transfer_vtl(*root_->vp(0), hv::VtlDirection::kReturn, hv::ExecMode::k64Bit, 0, 0)
          .released_tlb_locks);
}

}  // namespace
}  // namespace hvk::test
