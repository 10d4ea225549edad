// Machine::describe_vps and its answer on each VP's thread (report/vp_report.h).
#include <fmt/format.h>

#include "machine/apic/apic_page.h"
#include "machine/machine.h"
#include "machine/report/vp_report.h"
#include "machine/synic/auto_eoi.h"

namespace hvk::machine {

namespace {

const char* run_state_name(hv::VpRunState s) {
  switch (s) {
    case hv::VpRunState::kRunning: return "running";
    case hv::VpRunState::kStopped: return "stopped";
    case hv::VpRunState::kWaitForSipi: return "waiting for SIPI";
  }
  return "?";
}

}  // namespace

void Machine::answer_describe(Slot& slot) {
  slot.describe_requested.store(false, std::memory_order_relaxed);
  const hv::Vp& vp = *partition_.vp(slot.id());
  const kvm::Vcpu& v = slot.vcpu();
  VpSnapshot s;
  s.vp = slot.id();
  s.run_state = run_state_name(vp.run_state());
  s.vtl = slot.active;
  s.rip = v.synced_regs().rip;
  s.rflags = v.synced_regs().rflags;
  if (auto mp = v.mp_state()) s.mp_state = mp->mp_state;
  const kvm_vcpu_events& ev = v.synced_events();
  s.interrupt_injected = ev.interrupt.injected != 0;
  s.injected_vector = ev.interrupt.nr;
  s.interrupt_shadow = ev.interrupt.shadow != 0;
  s.nmi_pending = ev.nmi.pending != 0;
  if (auto apic = v.lapic()) {
    VpSnapshot::Apic a;
    a.irr = highest_in_apic_register(apic->regs, kApicIrr);
    a.isr = highest_in_apic_register(apic->regs, kApicIsr);
    a.tpr = static_cast<std::uint8_t>(apic_register(apic->regs, kApicTpr));
    a.enabled = (apic_register(apic->regs, kApicSvr) & 0x100u) != 0;
    s.apic = a;
  }
  if (synic_) s.auto_eoi_waiting = synic_->waiting(slot.id(), slot.active);
  s.last_exit = slot.last_exit == SIZE_MAX ? "none" : exit_kind_name(slot.last_exit);
  s.exits = slot.exits;
  std::string line = format_snapshot(s);
  std::lock_guard lock(slot.mu);
  slot.description = std::move(line);
  slot.cv.notify_all();
}

std::vector<std::string> Machine::describe_vps(std::chrono::milliseconds wait) {
  for (auto& s : slots_) {
    {
      std::lock_guard lock(s->mu);
      s->description.reset();
    }
    s->describe_requested.store(true, std::memory_order_release);
    kick(*s);
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<std::string> lines;
  for (auto& s : slots_) {
    std::unique_lock lock(s->mu);
    s->cv.wait_until(lock, deadline, [&] { return s->description.has_value(); });
    if (s->description) {
      lines.push_back(*s->description);
      continue;
    }
    const hv::Vp& vp = *partition_.vp(s->id());
    lines.push_back(fmt::format(
        "VP {} VTL {} {}: no answer within {} ms (its thread is not in KVM_RUN: it waits inside "
        "hvk, or has ended)",
        s->id(), vp.current_vtl(), run_state_name(vp.run_state()), wait.count()));
  }
  return lines;
}

}  // namespace hvk::machine
