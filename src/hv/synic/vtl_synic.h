// What one VTL of one VP has of the SynIC: the controller and its four synthetic timers. Each VP
// holds one per VTL (partition.h), so each VTL has its own SINTs, pages, queues and timers.
#pragma once

#include <cstdint>

#include "hv/synic/stimer.h"
#include "hv/synic/synic.h"

namespace hvk::hv {

struct VtlSynic {
  VtlSynic(tlfs::VpIndex vp, tlfs::Vtl vtl) : synic(vp, vtl), timers(vp, vtl) {}

  // Queued messages first, then the timers due at `now`; returns the earliest deadline left.
  std::uint64_t poll(std::uint64_t now, GuestMemory* memory, IrqBatch& irqs) {
    synic.retry(memory, irqs);
    return timers.poll(now, synic, memory, irqs);
  }

  Synic synic;
  SyntheticTimers timers;
};

}  // namespace hvk::hv
