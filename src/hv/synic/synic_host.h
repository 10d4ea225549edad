// What the machine (and the host-side devices) ask of the SynIC of a VP's VTL.
#pragma once

#include <cstdint>

#include "hv/partition.h"

namespace hvk::hv {

// Retries queued messages and fires the synthetic timers of (vp, vtl) due at the partition's
// reference time, raising their interrupts through the partition's backend. Returns the next
// timer deadline (kNoDeadline: none). The machine calls it when a deadline it was given through
// Backend::timers_changed has passed, and may call it at any other time.
std::uint64_t poll_synic(Partition& partition, tlfs::VpIndex vp, tlfs::Vtl vtl);

// The next timer deadline of (vp, vtl) as the timers stand now (kNoDeadline: none), without
// firing anything.
std::uint64_t next_synic_deadline(const Partition& partition, tlfs::VpIndex vp, tlfs::Vtl vtl);

// Raises SINT `sint` of (vp, vtl) with no message (hyperv-testdev's "SINT route set"); false for a
// bad VP, VTL or SINT, or a masked SINT.
bool signal_sint(Partition& partition, tlfs::VpIndex vp, tlfs::Vtl vtl, unsigned sint);

}  // namespace hvk::hv
