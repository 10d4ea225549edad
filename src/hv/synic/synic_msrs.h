// The SynIC and synthetic-timer MSRs (SCONTROL 0x40000080 .. SINT15 0x4000009F, STIMER0-3
// CONFIG/COUNT 0x400000B0-B7): each reaches the SynIC of the VTL the VP runs in.
#pragma once

#include <cstdint>

#include "hv/synthetic_msrs.h"

namespace hvk::hv {

constexpr bool is_synic_msr(std::uint32_t index) {
  return (index >= msr::kScontrol && index <= msr::kEom) ||
         (index >= msr::kSint0 && index < msr::kSint0 + tlfs::kSintCount) ||
         (index >= msr::kStimer0Config && index < msr::kStimer0Config + 2 * tlfs::kStimerCount);
}

MsrAccess read_synic_msr(const Partition& p, const Vp& vp, std::uint32_t index);
// Raises the interrupts a write causes (a queued message delivered on EOM, a timer due at once)
// through the partition's backend, and tells it the VP's next timer deadline after a timer write.
MsrAccess write_synic_msr(Partition& p, Vp& vp, std::uint32_t index, std::uint64_t value);

}  // namespace hvk::hv
