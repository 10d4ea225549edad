// HvCallStartVirtualProcessor: every documented status, the order of the checks, what a success
// records and hands to the backend, and the start race.
#include <atomic>
#include <thread>

#include "engine_fixture.h"
#include "hvk/tlfs/registers.h"

namespace hvk::test {
namespace {

using hv::PartitionState;
using hv::VpRunState;
using tlfs::Privilege;

using StartVp = Engine;

TEST_F(StartVp, StartsAnApInLongModeAndHandsTheContextToTheBackend) {
  const auto ctx = good_context();
  EXPECT_EQ(start(start_input(2, 0, tlfs::kPartitionIdSelf, ctx)), Status::kSuccess);
  ASSERT_EQ(backend_.starts.size(), 1u);
  const hv::StartRequest& r = backend_.starts[0];
  EXPECT_EQ(r.vp_index, 2u);
  EXPECT_EQ(r.target_vtl, 0);
  EXPECT_EQ(r.run_vtl, 0);
  EXPECT_EQ(r.context, ctx);
  EXPECT_EQ(root_->vp(2)->run_state(), VpRunState::kRunning);
  EXPECT_EQ(root_->vp(2)->vtl_context(0), ctx);
  EXPECT_EQ(root_->vp(1)->run_state(), VpRunState::kStopped);
}

TEST_F(StartVp, OwnPartitionIdActsAsSelf) {
  EXPECT_EQ(start(start_input(1, 0, root_->id())), Status::kSuccess);
}

TEST_F(StartVp, WithoutThePrivilegeIsAccessDenied) {
  auto cfg = root_config();
  cfg.privileges.raw &= ~tlfs::privilege_bit(Privilege::kStartVirtualProcessor);
  make_root(cfg);
  EXPECT_EQ(start(start_input(1)), Status::kAccessDenied);
  EXPECT_TRUE(backend_.starts.empty());
}

TEST_F(StartVp, UnknownPartitionIdIsInvalidPartitionId) {
  for (tlfs::PartitionId id : {tlfs::PartitionId{0}, tlfs::PartitionId{2},
                               tlfs::PartitionId{0x1234}, tlfs::kPartitionIdSelf - 1}) {
    EXPECT_EQ(start(start_input(1, 0, id)), Status::kInvalidPartitionId) << id;
  }
}

TEST_F(StartVp, ForeignPartitionIsInvalidPartitionId) {
  // A partition that is neither the caller nor its child: another root, and a grandchild.
  hv::Partition& other = hv_->create_root(root_config(1));
  hv::Partition& child = make_child();
  hv::Partition& grandchild = hv_->create_child(child, root_config(1));
  EXPECT_EQ(start(start_input(0, 0, other.id())), Status::kInvalidPartitionId);
  EXPECT_EQ(start(start_input(0, 0, grandchild.id())), Status::kInvalidPartitionId);
  // And the child cannot start its parent's VPs.
  ASSERT_TRUE(child.transition(PartitionState::kCreated, PartitionState::kActive));
  child.vp(0)->mark_running_in(0);
  EXPECT_EQ(start(start_input(1, 0, root_->id()), &child, 0), Status::kInvalidPartitionId);
}

TEST_F(StartVp, ChildNeedsCpuManagementInTheCaller) {
  auto cfg = root_config();
  cfg.privileges.raw &= ~tlfs::privilege_bit(Privilege::kCpuManagement);
  make_root(cfg);
  hv::Partition& child = make_child();
  ASSERT_TRUE(child.transition(PartitionState::kCreated, PartitionState::kActive));
  EXPECT_EQ(start(start_input(0, 0, child.id())), Status::kAccessDenied);
}

TEST_F(StartVp, ChildThatIsNotActiveIsInvalidPartitionState) {
  hv::Partition& child = make_child();
  EXPECT_EQ(start(start_input(0, 0, child.id())), Status::kInvalidPartitionState);
  ASSERT_TRUE(child.transition(PartitionState::kCreated, PartitionState::kActive));
  ASSERT_TRUE(child.transition(PartitionState::kActive, PartitionState::kFinalized));
  EXPECT_EQ(start(start_input(0, 0, child.id())), Status::kInvalidPartitionState);
  EXPECT_TRUE(child_backend_.starts.empty());
}

TEST_F(StartVp, StartsAChildsVp0) {
  hv::Partition& child = make_child();
  ASSERT_TRUE(child.transition(PartitionState::kCreated, PartitionState::kActive));
  EXPECT_EQ(start(start_input(0, 0, child.id())), Status::kSuccess);
  ASSERT_EQ(child_backend_.starts.size(), 1u);
  EXPECT_EQ(child_backend_.starts[0].vp_index, 0u);
  EXPECT_TRUE(backend_.starts.empty());
}

TEST_F(StartVp, VpIndexOutsideThePartitionIsInvalidVpIndex) {
  for (tlfs::VpIndex vp : {4u, 5u, 1000u, 0xFFFF'FFFFu}) {
    EXPECT_EQ(start(start_input(vp)), Status::kInvalidVpIndex) << vp;
  }
  hv::Partition& child = make_child(2);
  ASSERT_TRUE(child.transition(PartitionState::kCreated, PartitionState::kActive));
  EXPECT_EQ(start(start_input(2, 0, child.id())), Status::kInvalidVpIndex);
  // HV_VP_INDEX_SELF names the caller only inside its own partition.
  EXPECT_EQ(start(start_input(tlfs::kVpIndexSelf, 0, child.id())), Status::kInvalidVpIndex);
}

TEST_F(StartVp, VpIndexSelfIsTheCallerWhichIsRunning) {
  EXPECT_EQ(start(start_input(tlfs::kVpIndexSelf)), Status::kInvalidVpState);
}

TEST_F(StartVp, StartingTheCallerOrAStartedVpIsInvalidVpState) {
  EXPECT_EQ(start(start_input(0)), Status::kInvalidVpState);
  EXPECT_EQ(start(start_input(1)), Status::kSuccess);
  EXPECT_EQ(start(start_input(1)), Status::kInvalidVpState);
  EXPECT_EQ(start(start_input(2), nullptr, 1), Status::kSuccess);  // from VP 1, now running
  EXPECT_EQ(backend_.starts.size(), 2u);
}

TEST_F(StartVp, AVpReturnedToWaitForSipiByInitMayBeStartedAgain) {
  EXPECT_EQ(start(start_input(1)), Status::kSuccess);
  ASSERT_TRUE(root_->vp(1)->reset_to_wait_for_sipi());
  EXPECT_EQ(root_->vp(1)->run_state(), VpRunState::kWaitForSipi);
  EXPECT_EQ(start(start_input(1)), Status::kSuccess);
  EXPECT_EQ(root_->vp(1)->run_state(), VpRunState::kRunning);
  EXPECT_FALSE(root_->vp(2)->reset_to_wait_for_sipi());  // never started: nothing to reset
}

TEST_F(StartVp, TheMachineIsAskedBeforeAStartedVpIsRefused) {
  // An INIT handled by KVM's LAPIC: the machine finds the VP in wait-for-SIPI when asked.
  EXPECT_EQ(start(start_input(1)), Status::kSuccess);
  backend_.on_refresh = [this](tlfs::VpIndex vp) { root_->vp(vp)->reset_to_wait_for_sipi(); };
  EXPECT_EQ(start(start_input(1)), Status::kSuccess);
  EXPECT_EQ(backend_.refreshed, (std::vector<tlfs::VpIndex>{1}));
  // Nothing changed: still refused. The caller itself is never asked about.
  backend_.on_refresh = nullptr;
  EXPECT_EQ(start(start_input(1)), Status::kInvalidVpState);
  EXPECT_EQ(start(start_input(0)), Status::kInvalidVpState);
  EXPECT_EQ(backend_.refreshed, (std::vector<tlfs::VpIndex>{1, 1}));
}

TEST_F(StartVp, BadRegistersAreInvalidRegisterValueAndDoNotStart) {
  auto ctx = good_context();
  ctx.rflags = 0;
  EXPECT_EQ(start(start_input(1, 0, tlfs::kPartitionIdSelf, ctx)), Status::kInvalidRegisterValue);
  EXPECT_EQ(root_->vp(1)->run_state(), VpRunState::kStopped);
  EXPECT_FALSE(root_->vp(1)->vtl_context(0).has_value());
  EXPECT_TRUE(backend_.starts.empty());
}

// --- VTLs ---------------------------------------------------------------------------------

class StartVpVtl : public Engine {
 protected:
  // VP 0 boots in VTL 2 (a paravisor layout): the partition has VTLs 0-2 enabled.
  void SetUp() override {
    auto cfg = root_config();
    cfg.boot_vtl = 2;
    make_root(cfg);
  }
};

TEST_F(StartVpVtl, BootVpRunsInItsBootVtl) {
  EXPECT_EQ(root_->vp(0)->current_vtl(), 2);
  EXPECT_TRUE(root_->vp(0)->vtl_enabled(2));
  EXPECT_FALSE(root_->vp(0)->vtl_enabled(1));
  EXPECT_EQ(root_->enabled_vtl_set(), 0b111);
}

TEST_F(StartVpVtl, TargetVtlAboveTheCallersIsAccessDenied) {
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(start(start_input(1, 2)), Status::kAccessDenied);
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(start(start_input(1, 1)), Status::kAccessDenied);
  EXPECT_EQ(start(start_input(1, 0xFF)), Status::kAccessDenied);
}

TEST_F(StartVpVtl, TargetVtlNotEnabledOnTheVpIsInvalidVtlState) {
  EXPECT_EQ(start(start_input(1, 2)), Status::kInvalidVtlState);
  EXPECT_EQ(start(start_input(1, 1)), Status::kInvalidVtlState);
  ASSERT_TRUE(root_->vp(1)->enable_vtl(2, good_context()));
  EXPECT_EQ(start(start_input(1, 2)), Status::kSuccess);
}

TEST_F(StartVpVtl, TargetVtlNotEnabledOnThePartitionIsInvalidVtlState) {
  auto cfg = root_config();
  cfg.boot_vtl = 0;
  make_root(cfg);
  // Even with the VP's VTL 1 enabled (a state EnableVpVtl cannot reach), the partition decides.
  root_->vp(0)->set_current_vtl(2);
  ASSERT_TRUE(root_->vp(1)->enable_vtl(1, good_context()));
  EXPECT_EQ(start(start_input(1, 1)), Status::kInvalidVtlState);
}

TEST_F(StartVpVtl, TargetVtlAboveTheMaximumIsInvalidVtlState) {
  // Bounded by the caller's VTL inside a partition; a child target shows the maximum check.
  hv::PartitionConfig cfg = root_config(1);
  cfg.max_vtl = 0;
  hv::Partition& child = hv_->create_child(*root_, cfg);
  ASSERT_TRUE(child.transition(PartitionState::kCreated, PartitionState::kActive));
  for (tlfs::Vtl v : {1, 2, 3, 15, 0xFF}) {
    EXPECT_EQ(start(start_input(0, v, child.id())), Status::kInvalidVtlState) << int{v};
  }
}

TEST_F(StartVpVtl, HighestEnabledVtlRunsFirst) {
  auto vtl1 = good_context();
  vtl1.rip = 0xffff'ffff'8200'0000ull;
  ASSERT_TRUE(root_->vp(1)->enable_vtl(1, vtl1));
  const auto vtl0 = good_context();
  EXPECT_EQ(start(start_input(1, 0, tlfs::kPartitionIdSelf, vtl0)), Status::kSuccess);
  ASSERT_EQ(backend_.starts.size(), 1u);
  EXPECT_EQ(backend_.starts[0].target_vtl, 0);
  EXPECT_EQ(backend_.starts[0].run_vtl, 1);
  EXPECT_EQ(backend_.starts[0].context, vtl1);
  EXPECT_EQ(root_->vp(1)->vtl_context(0), vtl0);  // entered later, when VTL 1 returns
  EXPECT_EQ(root_->vp(1)->current_vtl(), 1);
}

TEST_F(StartVpVtl, EachVtlOfAVpIsStartedOnce) {
  // VTL 2 of VP 1 first (the paravisor brings its APs up), then VTL 0 of the same VP: the VP
  // keeps running in VTL 2; VTL 0 starts from its context when VTL 2 first returns to it.
  ASSERT_TRUE(root_->vp(1)->enable_vtl(2, good_context()));
  EXPECT_EQ(start(start_input(1, 2)), Status::kSuccess);
  ASSERT_EQ(backend_.starts.size(), 1u);
  auto vtl0 = good_context();
  vtl0.rip = 0xffff'ffff'8300'0000ull;
  EXPECT_EQ(start(start_input(1, 0, tlfs::kPartitionIdSelf, vtl0)), Status::kSuccess);
  EXPECT_EQ(backend_.starts.size(), 1u);  // no second start request: the VP runs
  EXPECT_EQ(root_->vp(1)->vtl_context(0), vtl0);
  EXPECT_EQ(root_->vp(1)->current_vtl(), 2);
  EXPECT_EQ(start(start_input(1, 0)), Status::kInvalidVpState);
  EXPECT_EQ(start(start_input(1, 2)), Status::kInvalidVpState);
  // The boot VP runs in VTL 2; its VTL 0 has not started yet.
  EXPECT_TRUE(root_->vp(0)->vtl_started(2));
  EXPECT_FALSE(root_->vp(0)->vtl_started(0));
  EXPECT_EQ(start(start_input(tlfs::kVpIndexSelf, 0)), Status::kSuccess);
  EXPECT_EQ(start(start_input(tlfs::kVpIndexSelf, 2)), Status::kInvalidVpState);
}

TEST_F(StartVpVtl, DenyLowerVtlStartupRefusesLowerCallers) {
  ASSERT_TRUE(root_->vp(1)->enable_vtl(2, good_context()));
  root_->write_vsm_config(2, tlfs::vsm_config::kDenyLowerVtlStartup);
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(start(start_input(1, 0)), Status::kAccessDenied);
  root_->vp(0)->set_current_vtl(1);
  EXPECT_EQ(start(start_input(1, 0)), Status::kAccessDenied);
  root_->vp(0)->set_current_vtl(2);  // the VTL that set it may still start the VP
  EXPECT_EQ(start(start_input(1, 0)), Status::kSuccess);
}

TEST_F(StartVpVtl, InterceptVpStartupIsRefusedUntilInterceptsExist) {
  ASSERT_TRUE(root_->vp(1)->enable_vtl(2, good_context()));
  root_->write_vsm_config(2, tlfs::vsm_config::kInterceptVpStartup);
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(start(start_input(1, 0)), Status::kAccessDenied);
  root_->vp(0)->set_current_vtl(2);
  EXPECT_EQ(start(start_input(1, 0)), Status::kSuccess);
}

TEST_F(StartVpVtl, DenyLowerVtlStartupOfAnotherVtlDoesNotApply) {
  ASSERT_TRUE(root_->vp(1)->enable_vtl(2, good_context()));
  root_->write_vsm_config(1, tlfs::vsm_config::kDenyLowerVtlStartup);  // VTL 1's, not VTL 2's
  root_->vp(0)->set_current_vtl(0);
  EXPECT_EQ(start(start_input(1, 0)), Status::kSuccess);
}

// --- Check order ----------------------------------------------------------------------------

// Each row makes every check from `first` on fail; the status must be that of `first`.
class StartVpOrder : public Engine {
 protected:
  Status child_chain(int first) {
    auto fault = [first](int i) { return i >= first; };
    auto cfg = root_config();
    if (fault(0)) cfg.privileges.raw &= ~tlfs::privilege_bit(Privilege::kStartVirtualProcessor);
    if (fault(2)) cfg.privileges.raw &= ~tlfs::privilege_bit(Privilege::kCpuManagement);
    make_root(cfg);
    hv::Partition& child = make_child(2);
    if (!fault(3)) child.transition(PartitionState::kCreated, PartitionState::kActive);
    if (fault(6)) child.vp(0)->mark_running_in(0);
    auto ctx = good_context();
    if (fault(7)) ctx.cr0 |= 1ull << 40;
    const tlfs::PartitionId pid = fault(1) ? 0x999 : child.id();
    return start(start_input(fault(4) ? 7 : 0, fault(5) ? 1 : 0, pid, ctx));
  }

  Status self_chain(int first) {
    auto fault = [first](int i) { return i >= first; };
    auto cfg = root_config();
    cfg.boot_vtl = 2;
    make_root(cfg);
    root_->vp(0)->set_current_vtl(1);
    if (!fault(1)) root_->vp(1)->enable_vtl(1, good_context());
    if (fault(2)) {
      root_->vp(1)->enable_vtl(2, good_context());
      root_->write_vsm_config(2, tlfs::vsm_config::kDenyLowerVtlStartup);
    }
    if (fault(3)) root_->vp(1)->mark_running_in(1);
    auto ctx = good_context();
    if (fault(4)) ctx.rip = 0x0000'8000'0000'0000ull;
    return start(start_input(1, fault(0) ? 2 : 1, tlfs::kPartitionIdSelf, ctx));
  }
};

TEST_F(StartVpOrder, PartitionChecksComeInTheDocumentedOrder) {
  const Status expected[] = {
      Status::kAccessDenied,          Status::kInvalidPartitionId,   Status::kAccessDenied,
      Status::kInvalidPartitionState, Status::kInvalidVpIndex,       Status::kInvalidVtlState,
      Status::kInvalidVpState,        Status::kInvalidRegisterValue, Status::kSuccess};
  for (int first = 0; first < 9; ++first) {
    EXPECT_EQ(child_chain(first), expected[first]) << "first failing check " << first;
  }
}

TEST_F(StartVpOrder, VtlChecksComeInTheDocumentedOrder) {
  const Status expected[] = {Status::kAccessDenied,         Status::kInvalidVtlState,
                             Status::kAccessDenied,         Status::kInvalidVpState,
                             Status::kInvalidRegisterValue, Status::kSuccess};
  for (int first = 0; first < 6; ++first) {
    EXPECT_EQ(self_chain(first), expected[first]) << "first failing check " << first;
  }
}

// --- The race ---------------------------------------------------------------------------------

class StartVpRace : public Engine {
 protected:
  void SetUp() override { make_root(root_config(kCallers + 1)); }
  static constexpr std::uint32_t kCallers = 8;
};

TEST_F(StartVpRace, ManyCallersOneTargetExactlyOneSuccess) {
  const tlfs::VpIndex target = kCallers;
  for (std::uint32_t v = 1; v < kCallers; ++v) root_->vp(v)->mark_running_in(0);
  for (std::uint32_t i = 0; i < kCallers; ++i) {
    memory_.write(0x4000 + i * 0x1000ull, tlfs::as_bytes(start_input(target)));
  }
  constexpr int kRounds = 300;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> ready{0};
    std::atomic<int> successes{0};
    std::atomic<int> vp_state{0};
    std::vector<std::thread> threads;
    for (std::uint32_t i = 0; i < kCallers; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < static_cast<int>(kCallers)) {
        }
        const auto o = raw_call(HypercallControl::make(CallCode::kStartVirtualProcessor),
                                0x4000 + i * 0x1000ull, 0, nullptr, i);
        if (o.result.status() == Status::kSuccess) successes.fetch_add(1);
        if (o.result.status() == Status::kInvalidVpState) vp_state.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(successes.load(), 1) << "round " << round;
    ASSERT_EQ(vp_state.load(), static_cast<int>(kCallers) - 1) << "round " << round;
    ASSERT_TRUE(root_->vp(target)->reset_to_wait_for_sipi());
  }
  EXPECT_EQ(backend_.starts.size(), static_cast<std::size_t>(kRounds));
}

}  // namespace
}  // namespace hvk::test
