// The APIC access MSRs (HV_X64_MSR_EOI, ICR, TPR; docs/conformance.md Y29) done on a VP's own
// in-kernel local APIC, on that VP's thread. The engine has checked the privilege and the
// reserved bits (hv::ApicAccess); this room knows the APIC's two modes:
//   x2APIC  each access is the x2APIC MSR of the same register (EOI 0x80B, ICR 0x830, TPR 0x808)
//           through KVM_GET/SET_MSRS: KVM does exactly what the guest's own wrmsr would.
//   xAPIC   reads come from KVM_GET_LAPIC; an EOI, a TPR write and the ICR's new value are
//           written with KVM_SET_LAPIC behind the LapicGate; the interrupt an ICR write asks for
//           is sent as MSIs (KVM's own xAPIC would send it from inside KVM).
// An APIC that is disabled (IA32_APIC_BASE bit 11 clear) has no registers: #GP.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "hv/synthetic_msrs.h"
#include "kvm/vcpu.h"
#include "machine/apic/lapic_gate.h"

namespace hvk::machine {

// One MSI: the address and data of KVM_SIGNAL_MSI.
struct ApicMsi {
  std::uint64_t address;
  std::uint32_t data;
  bool operator==(const ApicMsi&) const = default;
};

// The MSIs that deliver xAPIC ICR value `icr` (high << 32 | low) sent by the APIC whose ID is
// `self`, with `apic_ids` the IDs of every VP: the destination shorthands expanded (self, all
// including self as the broadcast ID 0xFF, all excluding self one MSI per other VP), and none for
// an INIT level de-assert (which does nothing on an xAPIC, while KVM's MSI path would treat it as
// an INIT). At most apic_ids.size() entries are written to `out`; returns how many.
std::size_t xapic_icr_to_msis(std::uint64_t icr, std::uint32_t self,
                              std::span<const std::uint32_t> apic_ids, std::span<ApicMsi> out);

struct ApicMsrContext {
  kvm::Vcpu& vcpu;
  std::size_t slot;                          // the vCPU's index in the gate
  LapicGate& gate;
  std::function<void(std::size_t)> kick;     // kicks vCPU i out of KVM_RUN
  std::function<void(const ApicMsi&)> send;  // KVM_SIGNAL_MSI, with the gate already closed
  std::span<const std::uint32_t> apic_ids;   // every VP's APIC ID, by VP index
};

// Does `what` (with `value` for a write). Returns the value read (0 for a write), or nullopt for
// #GP.
std::optional<std::uint64_t> apic_msr_access(const ApicMsrContext& c, hv::ApicAccess what,
                                             std::uint64_t value);

}  // namespace hvk::machine
