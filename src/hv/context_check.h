// Refuses an HV_INITIAL_VP_CONTEXT that a real CPU would refuse at VM entry.
#pragma once

#include "hv/partition.h"
#include "hvk/tlfs/vp_context.h"

namespace hvk::hv {

// Which rule a context broke; kNone when it is acceptable. Every value maps to
// HV_STATUS_INVALID_REGISTER_VALUE; the name is for traces and tests.
enum class ContextFault : std::uint8_t {
  kNone,
  kRflagsReserved,  // a reserved RFLAGS bit set, or bit 1 clear
  kRflagsVm,        // virtual-8086 mode: not protected or long mode
  kCr0Reserved,     // CR0 bits 63:32
  kCr0PgWithoutPe,
  kCr0NwWithoutCd,
  kCr4Reserved,
  kEferReserved,
  kLongModeWithoutPae,
  kEferLmaMismatch,  // EFER.LMA != (EFER.LME && CR0.PG)
  kCsLongAndDefaultBig,
  kCr3BeyondPhysWidth,
  kPatReservedType,
  kRipNonCanonical,        // or RIP above 4 GiB outside 64-bit code
  kTableBaseNonCanonical,  // GDTR/IDTR base
  kSegmentBaseNonCanonical,
};

const char* context_fault_name(ContextFault f);
ContextFault check_initial_context(const tlfs::InitialVpContext& ctx, const CpuLimits& cpu);

}  // namespace hvk::hv
