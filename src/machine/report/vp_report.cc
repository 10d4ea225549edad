#include "machine/report/vp_report.h"

#include <fmt/format.h>

#include <array>
#include <variant>

#include "kvm/exit.h"

namespace hvk::machine {

namespace {

constexpr std::array<const char*, 14> kExitNames = {
    "io",    "mmio",       "msr read", "msr write", "hlt",          "shutdown", "internal error",
    "fail entry", "system event", "kick", "again", "memory fault", "debug", "unknown"};
static_assert(kExitNames.size() == std::variant_size_v<kvm::Exit>,
              "one name per kvm::Exit alternative");

const char* mp_state_name(std::uint32_t s) {
  switch (s) {
    case KVM_MP_STATE_RUNNABLE: return "runnable";
    case KVM_MP_STATE_UNINITIALIZED: return "uninitialized";
    case KVM_MP_STATE_INIT_RECEIVED: return "INIT received";
    case KVM_MP_STATE_HALTED: return "halted";
    case KVM_MP_STATE_SIPI_RECEIVED: return "SIPI received";
    default: return "other";
  }
}

}  // namespace

const char* exit_kind_name(std::size_t index) {
  return index < kExitNames.size() ? kExitNames[index] : "?";
}

std::string format_snapshot(const VpSnapshot& s) {
  constexpr std::uint64_t kIf = 1u << 9;
  std::string line = fmt::format("VP {} VTL {} {}: RIP {:#x} RFLAGS {:#x} ({})", s.vp, s.vtl,
                                 s.run_state, s.rip, s.rflags,
                                 (s.rflags & kIf) != 0 ? "IF" : "IF clear");
  line += s.mp_state ? fmt::format(", KVM {}", mp_state_name(*s.mp_state)) : ", KVM state unknown";
  if (s.interrupt_injected) line += fmt::format(", vector {:#x} being injected", s.injected_vector);
  if (s.interrupt_shadow) line += ", interrupt shadow";
  if (s.nmi_pending) line += ", NMI pending";
  if (s.apic) {
    line += fmt::format(", APIC IRR {:#04x} ISR {:#04x} TPR {:#04x}{}", s.apic->irr, s.apic->isr,
                        s.apic->tpr, s.apic->enabled ? "" : " (software-disabled)");
  } else {
    line += ", APIC unknown";
  }
  if (s.auto_eoi_waiting) line += fmt::format(", auto-EOI {:#04x} waiting", *s.auto_eoi_waiting);
  line += fmt::format(", {} exits, last {}", s.exits, s.last_exit);
  return line;
}

}  // namespace hvk::machine
