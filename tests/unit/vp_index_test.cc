// HvCallGetVpIndexFromApicId: packed u32 elements, partition and VTL rules, unknown APIC IDs.
#include "engine_fixture.h"

namespace hvk::test {
namespace {

HypercallControl control(std::uint16_t count) {
  return HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, count);
}
VpIndexQuery query(std::initializer_list<std::uint32_t> ids,
                   tlfs::InputVtl vtl = tlfs::InputVtl::current(),
                   tlfs::PartitionId pid = tlfs::kPartitionIdSelf) {
  VpIndexQuery q{{pid, vtl, {}}, {}};
  std::size_t i = 0;
  for (std::uint32_t id : ids) q.apic_ids[i++] = id;
  return q;
}

class VpIndex : public Engine {
 protected:
  // APIC IDs that are not the VP indexes: 0, 2, 4, 6 for VPs 0-3.
  void SetUp() override {
    auto cfg = root_config();
    cfg.apic_ids = {0, 2, 4, 6};
    make_root(cfg);
  }
};

TEST_F(VpIndex, MapsApicIdsToVpIndexesAsPackedU32) {
  const auto o = call(control(4), query({6, 0, 4, 2}));
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 4);
  const std::uint32_t expect[] = {3, 0, 2, 1};
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_EQ(out_at<std::uint32_t>(4 * i), expect[i]);
}

TEST_F(VpIndex, LinuxLayoutOutputRightAfterTheInput) {
  // Linux: rep count 1, output GPA = input GPA + 24 (16-byte header, 4-byte element, padding).
  const auto o = call(control(1), query({4}), nullptr, 0, kIn, kIn + 24);
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  std::array<std::byte, 4> b{};
  memory_.read(kIn + 24, b);
  EXPECT_EQ(tlfs::load<std::uint32_t>(b), 2u);
}

TEST_F(VpIndex, UnknownApicIdStopsWithItsIndexAsRepsCompleted) {
  const auto o = call(control(4), query({0, 2, 5, 4}));
  EXPECT_EQ(o.result.status(), Status::kInvalidParameter);
  EXPECT_EQ(o.result.reps_completed(), 2);
  EXPECT_EQ(out_at<std::uint32_t>(0), 0u);
  EXPECT_EQ(out_at<std::uint32_t>(4), 1u);
  EXPECT_EQ(out_at<std::uint32_t>(8), 0u);  // not written
}

TEST_F(VpIndex, StartIndexSkipsEarlierElements) {
  const auto o =
      call(HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, 3, 1), query({99, 2, 6}));
  EXPECT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 3);
  EXPECT_EQ(out_at<std::uint32_t>(4), 1u);
  EXPECT_EQ(out_at<std::uint32_t>(8), 3u);
}

TEST_F(VpIndex, ReservedInputVtlBitsAreInvalidParameter) {
  for (std::uint8_t raw : {0x20, 0x40, 0x80, 0xF0}) {
    EXPECT_EQ(call(control(1), query({0}, tlfs::InputVtl{raw})).result.status(),
              Status::kInvalidParameter);
  }
}

TEST_F(VpIndex, VtlAboveTheCallerIsAccessDenied) {
  EXPECT_EQ(call(control(1), query({0}, tlfs::InputVtl::target(1))).result.status(),
            Status::kAccessDenied);
}

TEST_F(VpIndex, VtlNotEnabledIsInvalidVtlState) {
  root_->vp(0)->set_current_vtl(2);  // a VTL 2 caller in a partition with only VTL 0 enabled
  EXPECT_EQ(call(control(1), query({0}, tlfs::InputVtl::target(1))).result.status(),
            Status::kInvalidVtlState);
  EXPECT_EQ(call(control(1), query({0}, tlfs::InputVtl::current())).result.status(),
            Status::kInvalidVtlState);
  EXPECT_EQ(call(control(1), query({0}, tlfs::InputVtl::target(0))).result.status(),
            Status::kSuccess);
}

TEST_F(VpIndex, PartitionRules) {
  EXPECT_EQ(call(control(1), query({0}, {}, 77)).result.status(), Status::kInvalidPartitionId);
  hv::Partition& child = make_child(2);
  EXPECT_EQ(call(control(1), query({1}, {}, child.id())).result.status(),
            Status::kInvalidPartitionState);
  ASSERT_TRUE(child.transition(hv::PartitionState::kCreated, hv::PartitionState::kActive));
  EXPECT_EQ(call(control(1), query({1}, {}, child.id())).result.status(), Status::kSuccess);
  EXPECT_EQ(out_at<std::uint32_t>(), 1u);
}

TEST_F(VpIndex, ChildNeedsCpuManagement) {
  auto cfg = root_config();
  cfg.privileges.raw &= ~tlfs::privilege_bit(tlfs::Privilege::kCpuManagement);
  make_root(cfg);
  hv::Partition& child = make_child(2);
  ASSERT_TRUE(child.transition(hv::PartitionState::kCreated, hv::PartitionState::kActive));
  EXPECT_EQ(call(control(1), query({1}, {}, child.id())).result.status(), Status::kAccessDenied);
}

}  // namespace
}  // namespace hvk::test
