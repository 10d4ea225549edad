// What each VP was doing when a run timed out: one line per VP, so that a guest that hangs (in
// CI, on a loaded host, once in a thousand runs) leaves more behind than "did not end". The VP's
// own thread fills in its line (only it may ask its vCPU anything); a thread that does not answer
// within the wait is reported as busy inside hvk, which is itself the finding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "hvk/tlfs/types.h"

namespace hvk::machine {

// The state one VP thread reports (its active vCPU, out of KVM_RUN).
struct VpSnapshot {
  tlfs::VpIndex vp = 0;
  const char* run_state = "";  // the engine's: "running", "stopped", "waiting for SIPI"
  tlfs::Vtl vtl = 0;           // the active VTL
  std::uint64_t rip = 0;
  std::uint64_t rflags = 0;
  std::optional<std::uint32_t> mp_state;  // KVM_MP_STATE_*, if KVM answered
  bool interrupt_injected = false;        // an event KVM has yet to deliver
  std::uint8_t injected_vector = 0;
  bool interrupt_shadow = false;
  bool nmi_pending = false;
  // The local APIC of the active VTL, if KVM answered: highest vector requested and in service
  // (0: none), TPR, software enable.
  struct Apic {
    std::uint8_t irr = 0, isr = 0, tpr = 0;
    bool enabled = false;
  };
  std::optional<Apic> apic;
  std::optional<std::uint8_t> auto_eoi_waiting;  // the highest SynIC auto-EOI vector not yet injected
  const char* last_exit = "none";  // the last exit that was not a kick
  std::uint64_t exits = 0;
};

// "VP 1 VTL 0 running: RIP 0x... RFLAGS 0x246 (IF), KVM halted, APIC IRR 0xb3 ISR 0xb1 TPR 0x00,
// auto-EOI 0xb3 waiting, 1234 exits, last io".
std::string format_snapshot(const VpSnapshot& s);

// The name of a kvm::Exit alternative by its index ("io", "mmio", "hlt", ...).
const char* exit_kind_name(std::size_t index);

}  // namespace hvk::machine
