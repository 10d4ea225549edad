// HvCallSendSyntheticClusterIpi (0x000B): rules in docs/conformance.md, rows I1-I4.
#include "hv/calls.h"
#include "hv/target.h"

namespace hvk::hv {

using tlfs::Status;

namespace {
constexpr std::uint32_t kLowestVector = 0x10;
constexpr std::uint32_t kHighestVector = 0xFF;
constexpr unsigned kMaskBits = 64;
}  // namespace

Status send_synthetic_cluster_ipi(CallContext& ctx, const tlfs::SendSyntheticClusterIpiInput& in,
                                  NoOutput&) {
  if (in.vector < kLowestVector || in.vector > kHighestVector) return Status::kInvalidParameter;
  // HV_INPUT_VTL: reserved bits, then the VTL (the caller's own unless named). A higher VTL may
  // be named (a VTL 0 caller can interrupt VTL 1); it must be enabled on the partition.
  if (in.target_vtl.reserved_set()) return Status::kInvalidParameter;
  const tlfs::Vtl vtl = in.target_vtl.use_target_vtl() ? in.target_vtl.target_vtl() : ctx.vtl;
  if (!ctx.partition.vtl_enabled(vtl)) return Status::kInvalidVtlState;
  Backend* backend = ctx.partition.backend();
  const std::uint32_t vps = ctx.partition.vp_count();
  for (unsigned i = 0; i < kMaskBits && i < vps; ++i) {
    if ((in.processor_mask >> i & 1u) == 0) continue;
    const Vp* vp = ctx.partition.vp(i);
    // A VP without the VTL has no APIC there: nothing to interrupt.
    if (vp == nullptr || !vp->vtl_enabled(vtl) || backend == nullptr) continue;
    backend->send_ipi(i, vtl, static_cast<std::uint8_t>(in.vector));
  }
  return Status::kSuccess;
}

}  // namespace hvk::hv
