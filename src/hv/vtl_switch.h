// HvCallVtlCall (0x0011) and HvCallVtlReturn (0x0012): the switches between a VP's VTLs. They are
// not table calls: each has its own hypercall-page entry, takes a control input (RCX, or EDX:EAX
// from 32-bit code) instead of a control word, returns no status, and raises #UD on misuse.
#pragma once

#include <optional>

#include "hv/call_context.h"

namespace hvk::hv {

enum class VtlDirection : std::uint8_t { kCall, kReturn };

struct VtlTransfer {
  bool ud = false;  // misuse: the machine raises #UD and nothing changes
  tlfs::Vtl from = 0;
  tlfs::Vtl to = 0;
  bool fast = false;  // VtlReturn's fast-return bit
  // The context `to` starts from if the machine has never run that VTL on this VP (the one
  // EnableVpVtl or StartVirtualProcessor recorded); nullopt when none was ever given.
  std::optional<tlfs::InitialVpContext> first_entry;
  // A return let go of TLB locks `from` held on the VP (TLFS vsm TlbLocked): VPs suspended in a
  // flush may go on.
  bool released_tlb_locks = false;
  // `to` lies below an enabled VTL of the VP: an INIT or SIPI that reached it while it did not
  // run is dropped (TLFS vsm; conformance T8).
  bool drop_init_sipi = false;
};

// An interrupt is pending for VTL `vtl` of `vp`, above the VTL it runs (TLFS vsm "VTL Entry":
// "if an interrupt is received for a higher VTL, the VP will enter the higher VTL"). Makes `vtl`
// the current VTL and returns the transfer, with the context of a first entry; ud (nothing
// changes) when `vtl` is not above the current VTL or not enabled on the VP.
VtlTransfer interrupt_vtl_entry(Vp& vp, tlfs::Vtl vtl);

// Decides a VTL call or return of `vp` and, when allowed, makes `to` the VP's current VTL.
// VtlCall: control input 0; goes to the lowest enabled VTL above the current one.
// VtlReturn: control input bit 0 = fast return, other bits 0; goes to the highest enabled VTL
// below the current one (VTL 0 is always enabled), and releases the TLB locks the returning VTL
// holds on the VP.
VtlTransfer transfer_vtl(Vp& vp, VtlDirection direction, ExecMode mode, std::uint8_t cpl,
                         std::uint64_t control_input);

}  // namespace hvk::hv
