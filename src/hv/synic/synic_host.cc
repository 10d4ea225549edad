#include "hv/synic/synic_host.h"

namespace hvk::hv {

std::uint64_t poll_synic(Partition& p, tlfs::VpIndex vp_index, tlfs::Vtl vtl) {
  Vp* vp = p.vp(vp_index);
  if (vp == nullptr || vtl > tlfs::kMaxVtl) return kNoDeadline;
  IrqBatch irqs;
  const std::uint64_t next = vp->synic(vtl).poll(p.reference_time(), p.memory(), irqs);
  irqs.flush(p.backend());
  return next;
}

std::uint64_t next_synic_deadline(const Partition& p, tlfs::VpIndex vp_index, tlfs::Vtl vtl) {
  const Vp* vp = p.vp(vp_index);
  if (vp == nullptr || vtl > tlfs::kMaxVtl) return kNoDeadline;
  return vp->synic(vtl).timers.next_deadline();
}

bool signal_sint(Partition& p, tlfs::VpIndex vp_index, tlfs::Vtl vtl, unsigned sint) {
  Vp* vp = p.vp(vp_index);
  if (vp == nullptr || vtl > tlfs::kMaxVtl) return false;
  IrqBatch irqs;
  const bool raised = vp->synic(vtl).synic.assert_sint(sint, irqs);
  irqs.flush(p.backend());
  return raised;
}

}  // namespace hvk::hv
