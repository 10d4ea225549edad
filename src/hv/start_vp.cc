// HvCallStartVirtualProcessor (0x0099): the checks, in the order docs/conformance.md gives.
#include "hv/calls.h"
#include "hv/context_check.h"
#include "hv/hypervisor.h"
#include "hv/target.h"
#include "hvk/tlfs/registers.h"

namespace hvk::hv {

using tlfs::Privilege;
using tlfs::Status;

Status start_virtual_processor(CallContext& ctx, const tlfs::StartVirtualProcessorInput& in,
                               NoOutput&) {
  if (!ctx.partition.privileges().has(Privilege::kStartVirtualProcessor)) {
    return Status::kAccessDenied;
  }
  const VpTarget t = resolve_vp(ctx, in.partition_id, in.vp_index);
  if (t.status != Status::kSuccess) return t.status;
  Partition& p = *t.partition;
  Vp* vp = t.vp;
  const tlfs::VpIndex index = vp->index();

  const tlfs::Vtl vtl = in.target_vtl;
  // VTLs are a partition's own: only a caller in the same partition is bounded by its VTL.
  if (t.self && vtl > ctx.vtl) return Status::kAccessDenied;
  if (vtl > p.max_vtl() || !p.vtl_enabled(vtl) || !vp->vtl_enabled(vtl)) {
    return Status::kInvalidVtlState;
  }
  const tlfs::Vtl highest = vp->highest_enabled_vtl();
  // DenyLowerVtlStartup refuses lower VTLs' starts; InterceptVpStartup would turn them into
  // intercepts to the higher VTL, which hvk does not deliver yet, so it refuses them too.
  constexpr std::uint64_t kGuarded =
      tlfs::vsm_config::kDenyLowerVtlStartup | tlfs::vsm_config::kInterceptVpStartup;
  if (t.self && ctx.vtl < highest && (p.vsm_config(highest) & kGuarded) != 0) {
    return Status::kAccessDenied;
  }
  if (vp->vtl_started(vtl) && vp != &ctx.vp) {
    if (Backend* b = p.backend()) b->refresh_vp_state(index);
  }
  if (vp->vtl_started(vtl)) return Status::kInvalidVpState;
  if (check_initial_context(in.vp_context, p.cpu_limits()) != ContextFault::kNone) {
    return Status::kInvalidRegisterValue;
  }
  // The race between callers is decided here, once; the losers see the VTL started.
  if (!vp->try_start_vtl(vtl)) return Status::kInvalidVpState;
  vp->set_vtl_context(vtl, in.vp_context);
  if (!vp->try_mark_running()) {
    // The VP already runs in another VTL: this one starts from the context when first entered.
    return Status::kSuccess;
  }
  // The VP's highest enabled VTL runs first, from the context EnableVpVtl gave it.
  StartRequest request{index, vtl, highest, in.vp_context};
  if (highest != vtl) {
    request.context = vp->vtl_context(highest).value_or(tlfs::InitialVpContext{});
    vp->try_start_vtl(highest);
  }
  vp->set_current_vtl(highest);
  if (Backend* b = p.backend()) b->start_vp(request);
  return Status::kSuccess;
}

}  // namespace hvk::hv
