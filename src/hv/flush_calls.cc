// HvCallFlushVirtualAddressSpace (0x0002), HvCallFlushVirtualAddressList (0x0003) and their Ex
// forms (0x0013, 0x0014): rules in docs/conformance.md, rows L1-L7 and X1-X3.
#include "hv/calls.h"
#include "hv/vp_set.h"

namespace hvk::hv {

using tlfs::Status;

namespace {

// Both forms: the VPs named, then the TLB locks, then the flush. hvk invalidates the whole TLB
// of the caller's VTL on each target (every address space, global entries too): a superset of
// what either form asks, which the TLFS allows ("may be (but are not required to be) left
// unflushed"). Flag bits the TLFS leaves reserved are not looked at (L2).
// HV_FLUSH_ALL_PROCESSORS names every VP in both forms, whatever the mask or set says.
Status flush(CallContext& ctx, std::uint64_t flags, const VpSet& named) {
  Partition& p = ctx.partition;
  const VpSet targets =
      (flags & tlfs::flush_flags::kAllProcessors) != 0 ? VpSet::every_vp() : named;
  // A target whose TLB a higher VTL has locked suspends the caller; the call is re-issued once a
  // lock is lifted (L5). A VP without the caller's VTL has no TLB in it to flush or lock.
  for (tlfs::VpIndex i = 0; i < p.vp_count(); ++i) {
    const Vp* vp = p.vp(i);
    if (!targets.contains(i) || vp == nullptr || !vp->vtl_enabled(ctx.vtl)) continue;
    if (vp->tlb_locked(ctx.vtl)) {
      ctx.suspend = true;
      return Status::kSuccess;
    }
  }
  if (Backend* b = p.backend()) b->flush_tlb(ctx.vp.index(), targets, ctx.vtl);
  return Status::kSuccess;
}

}  // namespace

Status flush_virtual_address_space(CallContext& ctx, const tlfs::FlushVirtualAddressInput& in,
                                   NoOutput&) {
  return flush(ctx, in.flags, VpSet::from_mask(in.processor_mask));
}

namespace {

RepResult flush_list(CallContext& ctx, std::uint64_t flags, const VpSet& named,
                     std::size_t ranges) {
  // TLFS: NON_GLOBAL_MAPPINGS_ONLY "does not make sense for this call" (L3).
  if ((flags & tlfs::flush_flags::kNonGlobalMappingsOnly) != 0) {
    return {Status::kInvalidParameter, 0};
  }
  const Status s = flush(ctx, flags, named);
  // One flush covers every range of the batch (invalid GVAs are ignored, as the TLFS says).
  return {s, static_cast<std::uint16_t>(s == Status::kSuccess ? ranges : 0)};
}

}  // namespace

RepResult flush_virtual_address_list(CallContext& ctx, const tlfs::FlushVirtualAddressInput& in,
                                     RepInput<tlfs::GvaRange> ranges, RepOutput<NoOutput>) {
  return flush_list(ctx, in.flags, VpSet::from_mask(in.processor_mask), ranges.size());
}

Status flush_virtual_address_space_ex(CallContext& ctx,
                                      const tlfs::FlushVirtualAddressExInput& in,
                                      VarHeader banks) {
  const ParsedVpSet named = parse_vp_set(in.processors, banks);
  if (named.status != Status::kSuccess) return named.status;
  return flush(ctx, in.flags, named.set);
}

RepResult flush_virtual_address_list_ex(CallContext& ctx,
                                        const tlfs::FlushVirtualAddressExInput& in,
                                        VarHeader banks, RepInput<tlfs::GvaRange> ranges,
                                        RepOutput<NoOutput>) {
  const ParsedVpSet named = parse_vp_set(in.processors, banks);
  if (named.status != Status::kSuccess) return {named.status, 0};
  return flush_list(ctx, in.flags, named.set, ranges.size());
}

}  // namespace hvk::hv
