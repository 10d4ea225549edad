// HvCallVtlCall / HvCallVtlReturn: which VTL a VP goes to, and when the call is #UD.
#include "hv/vtl_switch.h"

#include <gtest/gtest.h>

#include "hv/hypervisor.h"
#include "hv/linux_context.h"

namespace hvk::hv {
namespace {

class VtlSwitch : public ::testing::Test {
 protected:
  void SetUp() override {
    PartitionConfig cfg;
    cfg.vp_count = 2;
    cfg.privileges = default_privileges();
    p_ = &hv_.create_root(cfg);
    p_->enable_vtl(1);
    p_->enable_vtl(2);
  }
  VtlTransfer call(Vp& vp, std::uint64_t input = 0) {
    return transfer_vtl(vp, VtlDirection::kCall, ExecMode::k64Bit, 0, input);
  }
  VtlTransfer ret(Vp& vp, std::uint64_t input = 0) {
    return transfer_vtl(vp, VtlDirection::kReturn, ExecMode::k64Bit, 0, input);
  }
  Hypervisor hv_;
  Partition* p_ = nullptr;
  const tlfs::InitialVpContext ctx1_ = linux_ap_context(0xffff'ffff'8100'1000ull, 0x9000);
};

TEST_F(VtlSwitch, CallGoesToTheNextHigherEnabledVtlAndReturnComesBack) {
  Vp& vp = *p_->vp(0);
  ASSERT_TRUE(vp.enable_vtl(1, ctx1_));
  const VtlTransfer up = call(vp);
  EXPECT_FALSE(up.ud);
  EXPECT_EQ(up.from, 0);
  EXPECT_EQ(up.to, 1);
  EXPECT_EQ(up.first_entry, ctx1_);
  EXPECT_EQ(vp.current_vtl(), 1);
  const VtlTransfer down = ret(vp);
  EXPECT_FALSE(down.ud);
  EXPECT_EQ(down.to, 0);
  EXPECT_FALSE(down.fast);
  EXPECT_EQ(vp.current_vtl(), 0);
}

// Conformance T8: the VTL a return enters lies below an enabled one, so INIT and SIPI that reached
// it meanwhile are dropped; a call's target is the VP's higher VTL, which keeps its own.
TEST_F(VtlSwitch, AReturnDropsInitAndSipiOfTheLowerVtlACallDoesNot) {
  Vp& vp = *p_->vp(0);
  ASSERT_TRUE(vp.enable_vtl(1, ctx1_));
  EXPECT_FALSE(call(vp).drop_init_sipi);
  EXPECT_TRUE(ret(vp).drop_init_sipi);
  EXPECT_FALSE(ret(vp).drop_init_sipi);  // #UD from VTL 0: nothing entered
}

TEST_F(VtlSwitch, CallSkipsVtlsNotEnabledOnTheVp) {
  Vp& vp = *p_->vp(0);
  ASSERT_TRUE(vp.enable_vtl(2, ctx1_));
  EXPECT_EQ(call(vp).to, 2);
  EXPECT_EQ(ret(vp).to, 0);
}

TEST_F(VtlSwitch, CallWithNoHigherVtlIsUd) {
  Vp& vp = *p_->vp(1);
  EXPECT_TRUE(call(vp).ud);
  EXPECT_EQ(vp.current_vtl(), 0);
}

TEST_F(VtlSwitch, ReturnFromVtl0IsUd) {
  EXPECT_TRUE(ret(*p_->vp(0)).ud);
}

TEST_F(VtlSwitch, ReservedControlBitsAreUd) {
  Vp& vp = *p_->vp(0);
  ASSERT_TRUE(vp.enable_vtl(1, ctx1_));
  EXPECT_TRUE(call(vp, 1).ud);
  EXPECT_TRUE(call(vp, 0x11).ud);
  EXPECT_EQ(vp.current_vtl(), 0);
  ASSERT_FALSE(call(vp).ud);
  EXPECT_TRUE(ret(vp, 2).ud);
  EXPECT_TRUE(ret(vp, 1ull << 63).ud);
  EXPECT_EQ(vp.current_vtl(), 1);
  const VtlTransfer fast = ret(vp, 1);
  EXPECT_FALSE(fast.ud);
  EXPECT_TRUE(fast.fast);
}

TEST_F(VtlSwitch, OutsideCpl0OrProtectedModeIsUd) {
  Vp& vp = *p_->vp(0);
  ASSERT_TRUE(vp.enable_vtl(1, ctx1_));
  EXPECT_TRUE(transfer_vtl(vp, VtlDirection::kCall, ExecMode::k64Bit, 3, 0).ud);
  EXPECT_TRUE(transfer_vtl(vp, VtlDirection::kCall, ExecMode::kReal, 0, 0).ud);
  EXPECT_FALSE(transfer_vtl(vp, VtlDirection::kCall, ExecMode::kProtected, 0, 0).ud);
}

}  // namespace
}  // namespace hvk::hv
