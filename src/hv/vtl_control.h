// The VTL control area of each VTL's VP assist page (TLFS vsm "Identifying VTL Entry Reason" and
// "Fast Return"): the entry reason hvk writes when a VTL above 0 is entered, and the registers a
// non-fast VtlReturn loads into the lower VTL. Rules in docs/conformance.md, rows T3 and T9-T11.
#pragma once

#include <cstdint>
#include <optional>

#include "hv/call_context.h"
#include "hvk/tlfs/vp_assist.h"

namespace hvk::hv {

// Writes `reason` into the VTL control area of `vtl`'s VP assist page on `vp`, if that VTL (above
// 0) has the page enabled and it is guest RAM; otherwise nothing.
void note_vtl_entry(Partition& p, const Vp& vp, tlfs::Vtl vtl, tlfs::VtlEntryReason reason);

// The registers a non-fast VtlReturn from `from` loads into the lower VTL, which runs in `mode`:
// RAX and RCX (64-bit mode) or EAX, ECX and EDX (32-bit), from `from`'s VTL control area. nullopt
// when `from` has no VP assist page enabled (the registers stay as they are).
struct VtlReturnRegisters {
  std::uint64_t rax = 0, rcx = 0;
  std::optional<std::uint64_t> rdx;  // 32-bit callers only
};
std::optional<VtlReturnRegisters> vtl_return_registers(const Partition& p, const Vp& vp,
                                                       tlfs::Vtl from, ExecMode mode);

}  // namespace hvk::hv
