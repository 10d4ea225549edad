// Parent/child partition management: Initialize, Finalize, Delete, GetNextChild, GetPartitionId.
#include "hv/calls.h"
#include "hv/hypervisor.h"
#include "hv/target.h"

namespace hvk::hv {

using tlfs::Privilege;
using tlfs::Status;

Status initialize_partition(CallContext& ctx, const tlfs::PartitionIdInput& in, NoOutput&) {
  const Target t = resolve_child(ctx, in.partition_id);
  if (t.status != Status::kSuccess) return t.status;
  return t.partition->transition(PartitionState::kCreated, PartitionState::kActive)
             ? Status::kSuccess
             : Status::kInvalidPartitionState;
}

Status finalize_partition(CallContext& ctx, const tlfs::PartitionIdInput& in, NoOutput&) {
  const Target t = resolve_child(ctx, in.partition_id);
  if (t.status != Status::kSuccess) return t.status;
  return t.partition->transition(PartitionState::kActive, PartitionState::kFinalized)
             ? Status::kSuccess
             : Status::kInvalidPartitionState;
}

Status delete_partition(CallContext& ctx, const tlfs::PartitionIdInput& in, NoOutput&) {
  const Target t = resolve_child(ctx, in.partition_id);
  if (t.status != Status::kSuccess) return t.status;
  // A racing DeletePartition that got there first leaves nothing to delete.
  return ctx.hv.delete_tree(*t.partition) ? Status::kSuccess : Status::kInvalidPartitionId;
}

Status get_next_child_partition(CallContext& ctx, const tlfs::GetNextChildPartitionInput& in,
                                tlfs::GetNextChildPartitionOutput& out) {
  if (!ctx.partition.privileges().has(Privilege::kCpuManagement)) return Status::kAccessDenied;
  if (in.parent_id != tlfs::kPartitionIdSelf && in.parent_id != ctx.partition.id()) {
    return Status::kInvalidPartitionId;
  }
  out.next_child_id = ctx.hv.next_child(ctx.partition.id(), in.previous_child_id);
  return Status::kSuccess;
}

Status get_partition_id(CallContext& ctx, const NoInput&, tlfs::GetPartitionIdOutput& out) {
  if (!ctx.partition.privileges().has(Privilege::kAccessPartitionId)) return Status::kAccessDenied;
  out.partition_id = ctx.partition.id();
  return Status::kSuccess;
}

}  // namespace hvk::hv
