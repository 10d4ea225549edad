#include "hv/target.h"

#include "hv/hypervisor.h"

namespace hvk::hv {

using tlfs::Privilege;
using tlfs::Status;

namespace {

Partition* live_child(const CallContext& ctx, tlfs::PartitionId id) {
  Partition* p = ctx.hv.find(id);
  return p != nullptr && p->parent() == ctx.partition.id() ? p : nullptr;
}

}  // namespace

Target resolve_partition(const CallContext& ctx, tlfs::PartitionId id) {
  if (id == tlfs::kPartitionIdSelf || id == ctx.partition.id()) {
    return {Status::kSuccess, &ctx.partition, true};
  }
  Partition* child = live_child(ctx, id);
  if (child == nullptr) return {Status::kInvalidPartitionId, nullptr, false};
  if (!ctx.partition.privileges().has(Privilege::kCpuManagement)) {
    return {Status::kAccessDenied, nullptr, false};
  }
  return {Status::kSuccess, child, false};
}

Target resolve_child(const CallContext& ctx, tlfs::PartitionId id) {
  if (!ctx.partition.privileges().has(Privilege::kCpuManagement)) {
    return {Status::kAccessDenied, nullptr, false};
  }
  Partition* child = live_child(ctx, id);
  if (child == nullptr) return {Status::kInvalidPartitionId, nullptr, false};
  return {Status::kSuccess, child, false};
}

}  // namespace hvk::hv
