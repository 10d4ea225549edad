// Get/SetVpRegisters of the general registers: the caller's own VP, per VTL, through VpState.
#include "hv/vp_registers.h"

#include <cstring>

#include "engine_fixture.h"
#include "hvk/tlfs/registers.h"

namespace hvk::test {
namespace {

using tlfs::RegisterName;

// The machine's side, kept in memory: one context per VTL.
class FakeState final : public hv::VpState {
 public:
  tlfs::InitialVpContext context(tlfs::Vtl vtl) override { return contexts[vtl]; }
  void set_context(tlfs::Vtl vtl, const tlfs::InitialVpContext& c) override { contexts[vtl] = c; }
  std::array<tlfs::InitialVpContext, 3> contexts{good_context(), good_context(), good_context()};
};

struct GetQuery {
  tlfs::VpRegistersHeader header;
  std::uint32_t names[4];
};
struct SetQuery {
  tlfs::VpRegistersHeader header;
  tlfs::SetVpRegistersElement element;
};

class VpRegisters : public Engine {
 protected:
  hv::Outcome get(std::initializer_list<RegisterName> names, tlfs::VpIndex vp = tlfs::kVpIndexSelf,
                  tlfs::InputVtl vtl = tlfs::InputVtl::current(), hv::VpState* st = nullptr) {
    GetQuery q{{tlfs::kPartitionIdSelf, vp, vtl, {}}, {}};
    std::size_t i = 0;
    for (RegisterName n : names) q.names[i++] = static_cast<std::uint32_t>(n);
    memory_.write(kIn, tlfs::as_bytes(q));
    hv::VpCallState s{hv::ExecMode::k64Bit, 0, {}};
    s.regs.rcx = HypercallControl::make(CallCode::kGetVpRegisters, false,
                                        static_cast<std::uint16_t>(names.size()))
                     .raw;
    s.regs.rdx = kIn;
    s.regs.r8 = kOut;
    return dispatcher_->dispatch(*root_, *root_->vp(0), s, st == nullptr ? &state_ : st);
  }
  Status set(RegisterName name, tlfs::RegisterValue value,
             tlfs::InputVtl vtl = tlfs::InputVtl::current(),
             tlfs::VpIndex vp = tlfs::kVpIndexSelf) {
    SetQuery q{{tlfs::kPartitionIdSelf, vp, vtl, {}},
               {static_cast<std::uint32_t>(name), 0, 0, value}};
    memory_.write(kIn, tlfs::as_bytes(q));
    hv::VpCallState s{hv::ExecMode::k64Bit, 0, {}};
    s.regs.rcx = HypercallControl::make(CallCode::kSetVpRegisters, false, 1).raw;
    s.regs.rdx = kIn;
    return dispatcher_->dispatch(*root_, *root_->vp(0), s, &state_).result.status();
  }
  FakeState state_;
};

TEST_F(VpRegisters, ReadsScalarsSegmentsAndTablesAsTheTlfsPacksThem) {
  const auto o =
      get({RegisterName::kRip, RegisterName::kCs, RegisterName::kGdtr, RegisterName::kPat});
  ASSERT_EQ(o.result.status(), Status::kSuccess);
  EXPECT_EQ(o.result.reps_completed(), 4);
  const auto c = good_context();
  EXPECT_EQ(out_at<tlfs::RegisterValue>(0).low, c.rip);
  const auto cs = out_at<tlfs::SegmentRegister>(16);
  EXPECT_EQ(cs, c.cs);
  const auto gdtr = out_at<tlfs::TableRegister>(32);
  EXPECT_EQ(gdtr.base, c.gdtr.base);
  EXPECT_EQ(gdtr.limit, c.gdtr.limit);
  EXPECT_EQ(out_at<tlfs::RegisterValue>(48).low, c.msr_cr_pat);
}

TEST_F(VpRegisters, WritesGoThroughTheContextChecks) {
  EXPECT_EQ(set(RegisterName::kRip, {0xffff'ffff'8123'4000ull, 0}), Status::kSuccess);
  EXPECT_EQ(state_.contexts[0].rip, 0xffff'ffff'8123'4000ull);
  EXPECT_EQ(set(RegisterName::kRip, {0x0000'8000'0000'0000ull, 0}), Status::kInvalidRegisterValue);
  EXPECT_EQ(set(RegisterName::kCr0, {1ull << 40, 0}), Status::kInvalidRegisterValue);
  EXPECT_EQ(set(RegisterName::kPat, {0x0202020202020202ull, 0}), Status::kInvalidRegisterValue);
  EXPECT_EQ(state_.contexts[0].rip, 0xffff'ffff'8123'4000ull);  // refused writes change nothing
  tlfs::SegmentRegister fs{0x7000, 0xFFFF'FFFF, 0x18, 0xC093};
  tlfs::RegisterValue v{};
  std::memcpy(&v, &fs, sizeof v);
  EXPECT_EQ(set(RegisterName::kFs, v), Status::kSuccess);
  EXPECT_EQ(state_.contexts[0].fs, fs);
}

TEST_F(VpRegisters, TargetVtlSelectsTheContext) {
  auto cfg = root_config();
  cfg.boot_vtl = 2;  // VP 0 runs in VTL 2; VTL 0 is enabled on it, VTL 1 is not
  make_root(cfg);
  state_.contexts[0].rip = 0xffff'ffff'8000'0000ull;
  state_.contexts[2].rip = 0xffff'ffff'9000'0000ull;
  ASSERT_EQ(
      get({RegisterName::kRip}, tlfs::kVpIndexSelf, tlfs::InputVtl::target(0)).result.status(),
      Status::kSuccess);
  EXPECT_EQ(out_at<tlfs::RegisterValue>().low, 0xffff'ffff'8000'0000ull);
  ASSERT_EQ(get({RegisterName::kRip}).result.status(), Status::kSuccess);
  EXPECT_EQ(out_at<tlfs::RegisterValue>().low, 0xffff'ffff'9000'0000ull);
  EXPECT_EQ(
      get({RegisterName::kRip}, tlfs::kVpIndexSelf, tlfs::InputVtl::target(1)).result.status(),
      Status::kInvalidVtlState);
  EXPECT_EQ(set(RegisterName::kRsp, {0x5000, 0}, tlfs::InputVtl::target(0)), Status::kSuccess);
  EXPECT_EQ(state_.contexts[0].rsp, 0x5000u);
  EXPECT_NE(state_.contexts[2].rsp, 0x5000u);
}

TEST_F(VpRegisters, AnotherVpsRegistersAreInvalidVpState) {
  EXPECT_EQ(get({RegisterName::kRip}, 1).result.status(), Status::kInvalidVpState);
  EXPECT_EQ(set(RegisterName::kRip, {0x1000, 0}, tlfs::InputVtl::current(), 1),
            Status::kInvalidVpState);
  FakeState* none = nullptr;
  GetQuery q{{tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, {}, {}},
             {static_cast<std::uint32_t>(RegisterName::kRip)}};
  memory_.write(kIn, tlfs::as_bytes(q));
  hv::VpCallState s{hv::ExecMode::k64Bit, 0, {}};
  s.regs.rcx = HypercallControl::make(CallCode::kGetVpRegisters, false, 1).raw;
  s.regs.rdx = kIn;
  s.regs.r8 = kOut;
  EXPECT_EQ(dispatcher_->dispatch(*root_, *root_->vp(0), s, none).result.status(),
            Status::kInvalidVpState);
}

TEST(GeneralRegisters, NamesOfNotes6) {
  for (RegisterName n :
       {RegisterName::kRsp, RegisterName::kRip, RegisterName::kRflags, RegisterName::kCr0,
        RegisterName::kCr3, RegisterName::kCr4, RegisterName::kEs, RegisterName::kTr,
        RegisterName::kIdtr, RegisterName::kGdtr, RegisterName::kEfer, RegisterName::kPat}) {
    EXPECT_TRUE(hv::is_general_register(n));
  }
  EXPECT_FALSE(hv::is_general_register(RegisterName::kVsmVpStatus));
}

}  // namespace
}  // namespace hvk::test
