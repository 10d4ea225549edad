// HvCallGetVpIndexFromApicId (0x009A, rep): APIC IDs in, VP indexes out (packed u32 elements).
#include "hv/calls.h"
#include "hv/target.h"

namespace hvk::hv {

using tlfs::Status;

RepResult get_vp_index_from_apic_id(CallContext& ctx, const tlfs::GetVpIndexFromApicIdHeader& h,
                                    RepInput<tlfs::ApicIdElement> apic_ids,
                                    RepOutput<tlfs::VpIndexElement> vp_indexes) {
  const Target t = resolve_partition(ctx, h.partition_id);
  if (t.status != Status::kSuccess) return {t.status, 0};
  const Partition& p = *t.partition;
  if (p.state() != PartitionState::kActive) return {Status::kInvalidPartitionState, 0};
  const VtlTarget v = resolve_input_vtl(ctx, t.self, h.target_vtl);
  if (v.status != Status::kSuccess) return {v.status, 0};
  const tlfs::Vtl vtl = v.vtl;
  if (!p.vtl_enabled(vtl)) return {Status::kInvalidVtlState, 0};

  for (std::size_t i = 0; i < apic_ids.size(); ++i) {
    const Vp* vp = p.vp_by_apic_id(apic_ids[i]);
    if (vp == nullptr) return {Status::kInvalidParameter, static_cast<std::uint16_t>(i)};
    vp_indexes.set(i, vp->index());
  }
  return {Status::kSuccess, static_cast<std::uint16_t>(apic_ids.size())};
}

}  // namespace hvk::hv
