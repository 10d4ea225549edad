// HvCallSendSyntheticClusterIpi (0x000B): the vector range, HV_INPUT_VTL, the processor mask.
#include "engine_fixture.h"

namespace hvk::test {
namespace {

using Ipi = RecordingBackend::Ipi;

class ClusterIpi : public Engine {
 protected:
  Status send(std::uint32_t vector, std::uint64_t mask,
              tlfs::InputVtl vtl = tlfs::InputVtl::current(), bool fast = true,
              tlfs::VpIndex caller = 0) {
    tlfs::SendSyntheticClusterIpiInput in{vector, vtl, {}, mask};
    const auto control = HypercallControl::make(CallCode::kSendSyntheticClusterIpi, fast);
    if (!fast) return status_of(control, in, nullptr, caller);
    std::uint64_t rdx = 0;
    std::memcpy(&rdx, &in, 8);
    return raw_call(control, rdx, mask, nullptr, caller).result.status();
  }
};

TEST_F(ClusterIpi, SendsTheVectorToEachVpOfTheMaskInTheCallersVtl) {
  EXPECT_EQ(send(0x21, 0b1011), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{0, 0, 0x21}, {1, 0, 0x21}, {3, 0, 0x21}}));
  backend_.ipis.clear();
  // Memory form, garbage in the padding (bytes 5-7 are not looked at).
  tlfs::SendSyntheticClusterIpiInput in{0xFF, tlfs::InputVtl::current(), {0xAC, 0xAC, 0xAC}, 4};
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kSendSyntheticClusterIpi), in),
            Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{2, 0, 0xFF}}));
}

TEST_F(ClusterIpi, VectorsBelow16OrAbove255AreInvalid) {
  for (std::uint32_t v : {0u, 0xFu, 0x100u, 0xFFFF'FFFFu}) {
    EXPECT_EQ(send(v, 1), Status::kInvalidParameter) << v;
  }
  EXPECT_TRUE(backend_.ipis.empty());
  EXPECT_EQ(send(0x10, 1), Status::kSuccess);
}

TEST_F(ClusterIpi, MaskBitsBeyondTheVpsAndAnEmptyMaskSendNothing) {
  EXPECT_EQ(send(0x30, 0), Status::kSuccess);
  EXPECT_EQ(send(0x30, ~0ull << 4), Status::kSuccess);  // 4 VPs: bits 4-63 name none
  EXPECT_TRUE(backend_.ipis.empty());
}

TEST_F(ClusterIpi, TargetVtlRules) {
  EXPECT_EQ(send(0x30, 1, tlfs::InputVtl{0x20}), Status::kInvalidParameter);  // reserved bit
  EXPECT_EQ(send(0x30, 1, tlfs::InputVtl::target(1)), Status::kInvalidVtlState);  // not enabled
  ASSERT_NO_FATAL_FAILURE(enable_vtl1(1));
  // VTL 0 may interrupt VTL 1 (hyperv_vsm's "VTL0 to VTL1 PV IPI"); only VPs with VTL 1 get it.
  EXPECT_EQ(send(0x31, 0b11, tlfs::InputVtl::target(1)), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{1, 1, 0x31}}));
  backend_.ipis.clear();
  // From VTL 1 with no VTL named: VTL 1; naming VTL 0: VTL 0.
  root_->vp(1)->set_current_vtl(1);
  EXPECT_EQ(send(0x32, 0b10, tlfs::InputVtl::current(), true, 1), Status::kSuccess);
  EXPECT_EQ(send(0x33, 0b01, tlfs::InputVtl::target(0), true, 1), Status::kSuccess);
  EXPECT_EQ(backend_.ipis, (std::vector<Ipi>{{1, 1, 0x32}, {0, 0, 0x33}}));
}

}  // namespace
}  // namespace hvk::test
