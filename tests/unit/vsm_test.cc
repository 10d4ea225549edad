// HvCallEnablePartitionVtl, HvCallEnableVpVtl and the VSM registers of HvCallGetVpRegisters.
#include "engine_fixture.h"
#include "hvk/tlfs/registers.h"

namespace hvk::test {
namespace {

using tlfs::Privilege;
using tlfs::RegisterName;

HypercallControl ctl(CallCode c) {
  return HypercallControl::make(c);
}

tlfs::EnablePartitionVtlInput partition_vtl(tlfs::Vtl vtl,
                                            tlfs::PartitionId pid = tlfs::kPartitionIdSelf) {
  return {pid, vtl, 0, {}};
}

struct RegQuery {
  tlfs::VpRegistersHeader header;
  std::uint32_t names[4];
};

class Vsm : public Engine {
 protected:
  Status enable_partition(tlfs::Vtl vtl, tlfs::VpIndex caller = 0) {
    return status_of(ctl(CallCode::kEnablePartitionVtl), partition_vtl(vtl), nullptr, caller);
  }
  Status enable_vp(tlfs::VpIndex vp, tlfs::Vtl vtl, tlfs::VpIndex caller = 0) {
    return status_of(ctl(CallCode::kEnableVpVtl), start_input(vp, vtl), nullptr, caller);
  }
  hv::Outcome get(std::initializer_list<std::uint32_t> names, tlfs::VpIndex vp = tlfs::kVpIndexSelf,
                  tlfs::InputVtl vtl = tlfs::InputVtl::current(), tlfs::VpIndex caller = 0) {
    RegQuery q{{tlfs::kPartitionIdSelf, vp, vtl, {}}, {}};
    std::size_t i = 0;
    for (std::uint32_t n : names) q.names[i++] = n;
    return call(HypercallControl::make(CallCode::kGetVpRegisters, false,
                                       static_cast<std::uint16_t>(names.size())),
                q, nullptr, caller);
  }
  static std::uint32_t name(RegisterName r) { return static_cast<std::uint32_t>(r); }
};

TEST_F(Vsm, EnablePartitionVtlFromVtl0EnablesVtl1Once) {
  EXPECT_EQ(enable_partition(1), Status::kSuccess);
  EXPECT_TRUE(root_->vtl_enabled(1));
  EXPECT_EQ(enable_partition(1), Status::kVtlAlreadyEnabled);
}

TEST_F(Vsm, Vtl0IsNotAVtlOneEnables) {
  EXPECT_EQ(enable_partition(0), Status::kInvalidParameter);
  EXPECT_EQ(enable_vp(tlfs::kVpIndexSelf, 0), Status::kInvalidParameter);
  EXPECT_EQ(enable_vp(1, 0), Status::kInvalidParameter);
}

TEST_F(Vsm, EnablePartitionVtlSkippingALevelIsAccessDenied) {
  // VTL 0 is not the highest enabled VTL below 2 once VTL 1 is enabled.
  EXPECT_EQ(enable_partition(1), Status::kSuccess);
  EXPECT_EQ(enable_partition(2), Status::kAccessDenied);
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(enable_partition(2), Status::kSuccess);
}

TEST_F(Vsm, EnablePartitionVtlRules) {
  EXPECT_EQ(enable_partition(3), Status::kInvalidParameter);  // above hvk's maximum
  auto in = partition_vtl(1);
  in.flags = 1;  // EnableMbec: not offered
  EXPECT_EQ(status_of(ctl(CallCode::kEnablePartitionVtl), in), Status::kInvalidParameter);
  in = partition_vtl(1);
  in.reserved[5] = 1;  // RsvdZ: the caller's to zero, not looked at
  EXPECT_EQ(status_of(ctl(CallCode::kEnablePartitionVtl), in), Status::kSuccess);
  auto cfg = root_config();
  cfg.privileges.raw &= ~tlfs::privilege_bit(Privilege::kAccessVsm);
  make_root(cfg);
  EXPECT_EQ(enable_partition(1), Status::kAccessDenied);
}

TEST_F(Vsm, EnableVpVtlNeedsThePartitionVtlFirst) {
  EXPECT_EQ(enable_vp(1, 1), Status::kInvalidVtlState);
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  EXPECT_EQ(enable_vp(1, 1), Status::kSuccess);
  EXPECT_TRUE(root_->vp(1)->vtl_enabled(1));
  EXPECT_EQ(root_->vp(1)->vtl_context(1), good_context());
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(enable_vp(1, 1), Status::kVtlAlreadyEnabled);
  EXPECT_EQ(root_->vp(1)->current_vtl(), 0);  // enabling does not change the active VTL
}

TEST_F(Vsm, OnceAVpHasTheVtlOnlyThatVtlOrHigherEnablesIt) {
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  ASSERT_EQ(enable_vp(tlfs::kVpIndexSelf, 1), Status::kSuccess);  // the first: from VTL 0
  EXPECT_EQ(enable_vp(tlfs::kVpIndexSelf, 1), Status::kAccessDenied);  // preferred to "already"
  EXPECT_EQ(enable_vp(1, 1), Status::kAccessDenied);
  EXPECT_EQ(enable_vp(2, 1, 2), Status::kAccessDenied);  // from any VP's VTL 0
  EXPECT_FALSE(root_->vp(1)->vtl_enabled(1));
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(enable_vp(1, 1), Status::kSuccess);  // VTL 1 enables the others
  EXPECT_TRUE(root_->vp(1)->vtl_enabled(1));
  EXPECT_EQ(enable_vp(1, 1), Status::kVtlAlreadyEnabled);
}

TEST_F(Vsm, EnableVpVtlFromBelowTheHighestLowerVtlIsAccessDenied) {
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  root_->vp(0)->set_current_vtl(1);
  ASSERT_EQ(enable_partition(2), Status::kSuccess);
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(enable_vp(1, 2), Status::kAccessDenied);  // VTL 1, not 0, is the highest below 2
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(enable_vp(1, 2), Status::kSuccess);
}

TEST_F(Vsm, EnableVpVtlChecksVpIndexReservedBytesAndContext) {
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  EXPECT_EQ(enable_vp(9, 1), Status::kInvalidVpIndex);
  auto bad = good_context();
  bad.cr0 |= 1ull << 63;
  EXPECT_EQ(status_of(ctl(CallCode::kEnableVpVtl), start_input(1, 1, tlfs::kPartitionIdSelf, bad)),
            Status::kInvalidRegisterValue);
  EXPECT_FALSE(root_->vp(1)->vtl_enabled(1));
  EXPECT_EQ(enable_vp(tlfs::kVpIndexSelf, 1), Status::kSuccess);  // the caller itself
  EXPECT_TRUE(root_->vp(0)->vtl_enabled(1));
  // Bytes 13-15 (RsvdZ) are the caller's to zero and are not looked at.
  root_->vp(0)->set_current_vtl(1);
  auto in = start_input(1, 1);
  in.pad[1] = 0xAC;
  EXPECT_EQ(status_of(ctl(CallCode::kEnableVpVtl), in), Status::kSuccess);
  EXPECT_TRUE(root_->vp(1)->vtl_enabled(1));
}

TEST_F(Vsm, LinuxVtl2ApBringUpSequence) {
  // hv_vtl.c: a VTL 2 boot VP enables VTL 2 on each AP, then starts it there.
  auto cfg = root_config();
  cfg.boot_vtl = 2;
  make_root(cfg);
  for (tlfs::VpIndex vp = 1; vp < 4; ++vp) {
    EXPECT_EQ(enable_vp(vp, 2), Status::kSuccess);
    EXPECT_EQ(start(start_input(vp, 2)), Status::kSuccess);
  }
  EXPECT_EQ(backend_.starts.size(), 3u);
  for (const auto& s : backend_.starts) EXPECT_EQ(s.run_vtl, 2);
}

TEST_F(Vsm, VsmVpStatusReportsActiveAndEnabledVtls) {
  auto cfg = root_config();
  cfg.boot_vtl = 2;
  make_root(cfg);
  // Linux's get_vtl(): SELF, HV_VP_INDEX_SELF, rep 1, output at the input GPA.
  RegQuery q{{tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, {}, {}},
             {name(RegisterName::kVsmVpStatus)}};
  const auto o =
      call(HypercallControl::make(CallCode::kGetVpRegisters, false, 1), q, nullptr, 0, kIn, kIn);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 1);
  std::array<std::byte, 16> b{};
  memory_.read(kIn, b);
  const auto v = tlfs::load<tlfs::RegisterValue>(b);
  EXPECT_EQ(v.low & 0xF, 2u);                 // ActiveVtl
  EXPECT_EQ((v.low >> 16) & 0xFFFF, 0b101u);  // EnabledVtlSet of VP 0: VTLs 0 and 2
}

TEST_F(Vsm, VsmPartitionStatusAndUnknownNames) {
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  auto o = get({name(RegisterName::kVsmPartitionStatus), name(RegisterName::kVsmCapabilities)});
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  const auto ps = out_at<tlfs::RegisterValue>(0);
  EXPECT_EQ(ps.low & 0xFFFF, 0b011u);
  EXPECT_EQ((ps.low >> 16) & 0xF, 2u);  // MaximumVtl
  o = get({name(RegisterName::kVsmVpStatus), 0x1234'5678});
  EXPECT_EQ(o.result.status(), Status::kInvalidParameter);
  EXPECT_EQ(o.result.reps_completed(), 1);
}

TEST_F(Vsm, GetVpRegistersVtlRules) {
  EXPECT_EQ(get({name(RegisterName::kVsmVpStatus)}, 0, tlfs::InputVtl{0x20}).result.status(),
            Status::kInvalidParameter);
  EXPECT_EQ(get({name(RegisterName::kVsmVpStatus)}, 0, tlfs::InputVtl::target(1)).result.status(),
            Status::kAccessDenied);
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(get({name(RegisterName::kVsmVpStatus)}, 1, tlfs::InputVtl::target(1)).result.status(),
            Status::kInvalidVtlState);
  EXPECT_EQ(get({name(RegisterName::kVsmVpStatus)}, 7).result.status(), Status::kInvalidVpIndex);
}

struct SetQuery {
  tlfs::VpRegistersHeader header;
  tlfs::SetVpRegistersElement element;
};

class VsmConfig : public Vsm {
 protected:
  Status set_config(std::uint64_t value, std::uint32_t reg = 0x000D'0007) {
    SetQuery q{{tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, {}, {}}, {reg, 0, 0, {value, 0}}};
    return status_of(HypercallControl::make(CallCode::kSetVpRegisters, false, 1), q);
  }
};

TEST_F(VsmConfig, DenyLowerVtlStartupSetByVtl1RefusesVtl0Starts) {
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  ASSERT_EQ(enable_vp(tlfs::kVpIndexSelf, 1), Status::kSuccess);
  root_->vp(0)->set_current_vtl(1);
  ASSERT_EQ(enable_vp(1, 1), Status::kSuccess);
  EXPECT_EQ(set_config(tlfs::vsm_config::kDenyLowerVtlStartup), Status::kSuccess);
  EXPECT_EQ(root_->vsm_config(1), tlfs::vsm_config::kDenyLowerVtlStartup);
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(start(start_input(1)), Status::kAccessDenied);
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(start(start_input(1)), Status::kSuccess);
}

TEST_F(VsmConfig, Rules) {
  EXPECT_EQ(set_config(0), Status::kInvalidParameter);  // VTL 0 has no VSM configuration
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  ASSERT_EQ(enable_vp(tlfs::kVpIndexSelf, 1), Status::kSuccess);
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(set_config(1ull << 13), Status::kInvalidParameter);  // reserved bit
  EXPECT_EQ(set_config(0, 0x1234), Status::kInvalidParameter);
  auto q = get({name(RegisterName::kVsmPartitionConfig)});
  EXPECT_EQ(q.result.status(), Status::kSuccess);
  EXPECT_EQ(out_at<tlfs::RegisterValue>().low, 0u);
  EXPECT_EQ(set_config(tlfs::vsm_config::kEnableVtlProtection), Status::kSuccess);
  q = get({name(RegisterName::kVsmPartitionConfig)});
  EXPECT_EQ(out_at<tlfs::RegisterValue>().low, tlfs::vsm_config::kEnableVtlProtection);
}

TEST_F(VsmConfig, ProtectionEnableAndDefaultMaskAreFixedOnceSet) {
  ASSERT_EQ(enable_partition(1), Status::kSuccess);
  ASSERT_EQ(enable_vp(tlfs::kVpIndexSelf, 1), Status::kSuccess);
  root_->vp(0)->set_current_vtl(1);
  // Before EnableVtlProtection the mask may change.
  EXPECT_EQ(set_config(0x6), Status::kSuccess);
  EXPECT_EQ(root_->vsm_config(1), 0x6u);
  // EnableVtlProtection with DefaultVtlProtectionMask 0xB (kvm-unit-tests hyperv_vsm's 0x17).
  EXPECT_EQ(set_config(0x17), Status::kSuccess);
  EXPECT_EQ(root_->vsm_config(1), 0x17u);
  // Later writes succeed; bits 4:0 keep their values, the others change.
  EXPECT_EQ(set_config(0x1), Status::kSuccess);
  EXPECT_EQ(root_->vsm_config(1), 0x17u);
  EXPECT_EQ(set_config(tlfs::vsm_config::kDenyLowerVtlStartup), Status::kSuccess);
  EXPECT_EQ(root_->vsm_config(1), 0x17u | tlfs::vsm_config::kDenyLowerVtlStartup);
}

}  // namespace
}  // namespace hvk::test
