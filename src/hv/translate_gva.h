// Guest virtual to guest physical translation as a processor does it, over guest memory (for
// HvCallTranslateVirtualAddress; rules in docs/conformance.md, rows X1-X7).
#pragma once

#include <cstdint>

#include "hv/guest_memory.h"
#include "hvk/tlfs/translate.h"
#include "hvk/tlfs/vp_context.h"

namespace hvk::hv {

// The access a translation checks.
struct GvaAccess {
  bool write = false;
  bool execute = false;
  bool user = false;          // a user-mode access (else supervisor)
  bool check_privilege = true;  // false: HV_TRANSLATE_GVA_PRIVILEGE_EXEMPT
  bool enforce_smap = false;  // supervisor access to a user page faults when CR4.SMAP is set
};

struct GvaWalk {
  tlfs::TranslateGvaResultCode code = tlfs::TranslateGvaResultCode::kSuccess;
  std::uint64_t gpa = 0;  // valid on success
};

// Walks the paging structures `context` selects (CR0.PG, CR4.PAE/LA57, EFER.LMA; CR0.WP, EFER.NXE,
// CR4.SMEP/SMAP for the checks): no paging, 32-bit, PAE, 4-level and 5-level. A table outside
// guest RAM is kGpaUnmapped; a non-present entry kPageNotPresent; a reserved bit set
// kInvalidPageTableFlags; a check that fails kPrivilegeViolation. Reads only; sets no A/D bit.
GvaWalk walk_gva(const GuestMemory& memory, const tlfs::InitialVpContext& context,
                 std::uint64_t gva, const GvaAccess& access);

}  // namespace hvk::hv
