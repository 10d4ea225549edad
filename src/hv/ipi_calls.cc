// HvCallSendSyntheticClusterIpi (0x000B) and its Ex form (0x0015): rules in
// docs/conformance.md, rows I1-I4 and X1-X3.
#include "hv/calls.h"
#include "hv/target.h"
#include "hv/vp_set.h"

namespace hvk::hv {

using tlfs::Status;

namespace {
constexpr std::uint32_t kLowestVector = 0x10;
constexpr std::uint32_t kHighestVector = 0xFF;


Status send_ipi(CallContext& ctx, std::uint32_t vector, tlfs::InputVtl target_vtl,
                const VpSet& targets) {
  if (vector < kLowestVector || vector > kHighestVector) return Status::kInvalidParameter;
  // HV_INPUT_VTL: reserved bits, then the VTL (the caller's own unless named). A higher VTL may
  // be named (a VTL 0 caller can interrupt VTL 1); it must be enabled on the partition.
  if (target_vtl.reserved_set()) return Status::kInvalidParameter;
  const tlfs::Vtl vtl = target_vtl.use_target_vtl() ? target_vtl.target_vtl() : ctx.vtl;
  if (!ctx.partition.vtl_enabled(vtl)) return Status::kInvalidVtlState;
  Backend* backend = ctx.partition.backend();
  for (tlfs::VpIndex i = 0; i < ctx.partition.vp_count(); ++i) {
    if (!targets.contains(i)) continue;
    const Vp* vp = ctx.partition.vp(i);
    // A VP without the VTL has no APIC there: nothing to interrupt.
    if (vp == nullptr || !vp->vtl_enabled(vtl) || backend == nullptr) continue;
    backend->send_ipi(i, vtl, static_cast<std::uint8_t>(vector));
  }
  return Status::kSuccess;
}

}  // namespace

Status send_synthetic_cluster_ipi(CallContext& ctx, const tlfs::SendSyntheticClusterIpiInput& in,
                                  NoOutput&) {
  return send_ipi(ctx, in.vector, in.target_vtl, VpSet::from_mask(in.processor_mask));
}

Status send_synthetic_cluster_ipi_ex(CallContext& ctx,
                                     const tlfs::SendSyntheticClusterIpiExInput& in,
                                     VarHeader banks) {
  const ParsedVpSet targets = parse_vp_set(in.processors, banks);
  if (targets.status != Status::kSuccess) return targets.status;
  return send_ipi(ctx, in.vector, in.target_vtl, targets.set);
}

}  // namespace hvk::hv
