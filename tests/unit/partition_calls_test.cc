// Parent and child partitions: Initialize, Finalize, Delete, GetNextChild, GetPartitionId.
#include <atomic>
#include <thread>
#include <vector>

#include "engine_fixture.h"

namespace hvk::test {
namespace {

using hv::PartitionState;
using tlfs::Privilege;

HypercallControl ctl(CallCode c) {
  return HypercallControl::make(c);
}
tlfs::PartitionIdInput pid(tlfs::PartitionId id) {
  return {id};
}

using Partitions = Engine;

TEST_F(Partitions, ChildLifecycle) {
  hv::Partition& child = make_child();
  EXPECT_EQ(child.state(), PartitionState::kCreated);
  EXPECT_EQ(child.vp(0)->run_state(), hv::VpRunState::kStopped);
  EXPECT_EQ(status_of(ctl(CallCode::kFinalizePartition), pid(child.id())),
            Status::kInvalidPartitionState);
  EXPECT_EQ(status_of(ctl(CallCode::kInitializePartition), pid(child.id())), Status::kSuccess);
  EXPECT_EQ(child.state(), PartitionState::kActive);
  EXPECT_EQ(status_of(ctl(CallCode::kInitializePartition), pid(child.id())),
            Status::kInvalidPartitionState);
  EXPECT_EQ(status_of(ctl(CallCode::kFinalizePartition), pid(child.id())), Status::kSuccess);
  EXPECT_EQ(child.state(), PartitionState::kFinalized);
  EXPECT_EQ(status_of(ctl(CallCode::kFinalizePartition), pid(child.id())),
            Status::kInvalidPartitionState);
  EXPECT_EQ(status_of(ctl(CallCode::kDeletePartition), pid(child.id())), Status::kSuccess);
  EXPECT_EQ(hv_->find(child.id()), nullptr);
  for (CallCode c :
       {CallCode::kInitializePartition, CallCode::kFinalizePartition, CallCode::kDeletePartition}) {
    EXPECT_EQ(status_of(ctl(c), pid(child.id())), Status::kInvalidPartitionId);
  }
  EXPECT_EQ(child_backend_.states,
            (std::vector<PartitionState>{PartitionState::kActive, PartitionState::kFinalized,
                                         PartitionState::kDeleted}));
}

TEST_F(Partitions, DeleteWorksFromEveryLiveState) {
  hv::Partition& a = make_child();
  hv::Partition& b = make_child();
  ASSERT_TRUE(b.transition(PartitionState::kCreated, PartitionState::kActive));
  EXPECT_EQ(status_of(ctl(CallCode::kDeletePartition), pid(a.id())), Status::kSuccess);
  EXPECT_EQ(status_of(ctl(CallCode::kDeletePartition), pid(b.id())), Status::kSuccess);
  EXPECT_EQ(a.state(), PartitionState::kDeleted);
  EXPECT_EQ(b.state(), PartitionState::kDeleted);
}

TEST_F(Partitions, OfTwoRacingDeletionsOnlyOneSucceeds) {
  // Both callers found the child live; the one that deletes it second finds nothing to delete.
  hv::Partition& child = make_child();
  EXPECT_TRUE(hv_->delete_tree(child));
  EXPECT_FALSE(hv_->delete_tree(child));

  // The same through the dispatcher, from every root VP at once.
  hv::Partition& raced = make_child();
  const auto in = pid(raced.id());
  memory_.write(kIn, tlfs::as_bytes(in));
  std::atomic<int> successes{0};
  std::vector<std::thread> threads;
  for (tlfs::VpIndex vp = 0; vp < root_->vp_count(); ++vp) {
    threads.emplace_back([&, vp] {
      const Status s =
          raw_call(ctl(CallCode::kDeletePartition), kIn, kOut, root_, vp).result.status();
      EXPECT_TRUE(s == Status::kSuccess || s == Status::kInvalidPartitionId)
          << static_cast<int>(s);
      if (s == Status::kSuccess) successes.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(successes.load(), 1);
  EXPECT_EQ(raced.state(), PartitionState::kDeleted);
}

TEST_F(Partitions, DeletingAParentDeletesItsChildren) {
  hv::Partition& child = make_child();
  hv::Partition& grandchild = hv_->create_child(child, root_config(1));
  EXPECT_EQ(status_of(ctl(CallCode::kDeletePartition), pid(child.id())), Status::kSuccess);
  EXPECT_EQ(grandchild.state(), PartitionState::kDeleted);
}

TEST_F(Partitions, OnlyAChildCanBeManaged) {
  hv::Partition& child = make_child();
  hv::Partition& grandchild = hv_->create_child(child, root_config(1));
  for (CallCode c :
       {CallCode::kInitializePartition, CallCode::kFinalizePartition, CallCode::kDeletePartition}) {
    EXPECT_EQ(status_of(ctl(c), pid(tlfs::kPartitionIdSelf)), Status::kInvalidPartitionId);
    EXPECT_EQ(status_of(ctl(c), pid(root_->id())), Status::kInvalidPartitionId);
    EXPECT_EQ(status_of(ctl(c), pid(grandchild.id())), Status::kInvalidPartitionId);
    EXPECT_EQ(status_of(ctl(c), pid(0)), Status::kInvalidPartitionId);
  }
  EXPECT_EQ(root_->state(), PartitionState::kActive);
}

TEST_F(Partitions, ManagementNeedsCpuManagement) {
  auto cfg = root_config();
  cfg.privileges.raw &= ~tlfs::privilege_bit(Privilege::kCpuManagement);
  make_root(cfg);
  hv::Partition& child = make_child();
  for (CallCode c :
       {CallCode::kInitializePartition, CallCode::kFinalizePartition, CallCode::kDeletePartition}) {
    EXPECT_EQ(status_of(ctl(c), pid(child.id())), Status::kAccessDenied);
    // The privilege is checked before the id.
    EXPECT_EQ(status_of(ctl(c), pid(12345)), Status::kAccessDenied);
  }
  EXPECT_EQ(status_of(ctl(CallCode::kGetNextChildPartition),
                      tlfs::GetNextChildPartitionInput{tlfs::kPartitionIdSelf, 0}),
            Status::kAccessDenied);
  EXPECT_EQ(child.state(), PartitionState::kCreated);
}

TEST_F(Partitions, GetNextChildWalksLiveChildrenInIdOrder) {
  hv::Partition& a = make_child();
  hv::Partition& b = make_child();
  hv::Partition& c = make_child();
  hv_->create_child(b, root_config(1));  // a grandchild is not listed
  auto next = [&](tlfs::PartitionId prev, tlfs::PartitionId parent = tlfs::kPartitionIdSelf) {
    EXPECT_EQ(status_of(ctl(CallCode::kGetNextChildPartition),
                        tlfs::GetNextChildPartitionInput{parent, prev}),
              Status::kSuccess);
    return out_at<tlfs::GetNextChildPartitionOutput>().next_child_id;
  };
  EXPECT_EQ(next(0), a.id());
  EXPECT_EQ(next(a.id()), b.id());
  EXPECT_EQ(next(b.id()), c.id());
  EXPECT_EQ(next(c.id()), 0u);
  EXPECT_EQ(next(0, root_->id()), a.id());
  EXPECT_EQ(next(tlfs::kPartitionIdSelf - 1), 0u);
  ASSERT_EQ(status_of(ctl(CallCode::kDeletePartition), pid(b.id())), Status::kSuccess);
  EXPECT_EQ(next(a.id()), c.id());
}

TEST_F(Partitions, GetNextChildOfAnotherPartitionIsInvalidPartitionId) {
  hv::Partition& child = make_child();
  EXPECT_EQ(status_of(ctl(CallCode::kGetNextChildPartition),
                      tlfs::GetNextChildPartitionInput{child.id(), 0}),
            Status::kInvalidPartitionId);
}

TEST_F(Partitions, GetPartitionId) {
  EXPECT_EQ(raw_call(ctl(CallCode::kGetPartitionId), 0, kOut).result.status(), Status::kSuccess);
  EXPECT_EQ(out_at<tlfs::GetPartitionIdOutput>().partition_id, root_->id());
  auto cfg = root_config();
  cfg.privileges.raw &= ~tlfs::privilege_bit(Privilege::kAccessPartitionId);
  make_root(cfg);
  EXPECT_EQ(raw_call(ctl(CallCode::kGetPartitionId), 0, kOut).result.status(),
            Status::kAccessDenied);
}

TEST_F(Partitions, ChildVpsRunOnlyOnceStartedByTheParent) {
  hv::Partition& child = make_child(2);
  ASSERT_EQ(status_of(ctl(CallCode::kInitializePartition), pid(child.id())), Status::kSuccess);
  EXPECT_EQ(child.vp(0)->run_state(), hv::VpRunState::kStopped);
  EXPECT_EQ(start(start_input(0, 0, child.id())), Status::kSuccess);
  EXPECT_EQ(start(start_input(1, 0, child.id())), Status::kSuccess);
  EXPECT_EQ(child_backend_.starts.size(), 2u);
}

}  // namespace
}  // namespace hvk::test
