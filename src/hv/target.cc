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

VpTarget resolve_vp(const CallContext& ctx, tlfs::PartitionId id, tlfs::VpIndex vp_index) {
  const Target t = resolve_partition(ctx, id);
  if (t.status != Status::kSuccess) return {t.status, nullptr, nullptr, false};
  if (t.partition->state() != PartitionState::kActive) {
    return {Status::kInvalidPartitionState, nullptr, nullptr, t.self};
  }
  const tlfs::VpIndex index =
      (vp_index == tlfs::kVpIndexSelf && t.self) ? ctx.vp.index() : vp_index;
  Vp* vp = t.partition->vp(index);
  if (vp == nullptr) return {Status::kInvalidVpIndex, nullptr, nullptr, t.self};
  return {Status::kSuccess, t.partition, vp, t.self};
}

VtlTarget resolve_input_vtl(const CallContext& ctx, bool self, tlfs::InputVtl in) {
  if (in.reserved_set()) return {Status::kInvalidParameter, 0};
  const tlfs::Vtl vtl = in.use_target_vtl() ? in.target_vtl() : (self ? ctx.vtl : tlfs::Vtl{0});
  if (self && vtl > ctx.vtl) return {Status::kAccessDenied, vtl};
  return {Status::kSuccess, vtl};
}

}  // namespace hvk::hv
