// The machine's half of interrupts into a VTL above the one a VP runs (conformance T12; the
// watch's rationale is in vtl/vtl_interrupt_watch.h): noting them, and on the VP's own thread
// switching to the VTL whose APIC would deliver one.
#include <algorithm>
#include <chrono>

#include "hv/vtl_control.h"
#include "hv/vtl_switch.h"
#include "machine/apic/apic_page.h"
#include "machine/apic/lapic_timer.h"
#include "machine/machine.h"
#include "machine/synic/auto_eoi.h"

namespace hvk::machine {

void Machine::note_vtl_interrupt(tlfs::VpIndex vp, tlfs::Vtl vtl, bool on_target_thread) {
  if (vtl == 0 || vp >= slots_.size()) return;
  Slot& slot = *slots_[vp];
  slot.vtl_check.store(true, std::memory_order_release);
  if (!on_target_thread) kick(slot);
}

void Machine::poke_vtl(tlfs::VpIndex vp, tlfs::Vtl vtl, bool timer_due) {
  if (vp >= slots_.size() || vtl == 0 || vtl > tlfs::kMaxVtl) return;
  Slot& slot = *slots_[vp];
  if (slot.published[vtl].load(std::memory_order_acquire) == nullptr) return;
  if (timer_due) slot.timer_due[vtl].store(true, std::memory_order_release);
  slot.vtl_check.store(true, std::memory_order_release);
  kick(slot);
}

void Machine::vtl_switched(Slot& slot) {
  vtl_watch_.switched(slot.id(), slot.active);
  const tlfs::Vtl n = slot.active;
  // KVM runs the entered VTL's timer itself now.
  slot.timer_due[n].store(false, std::memory_order_relaxed);
  if (slot.timer_armed[n]) {
    slot.timer_armed[n] = false;
    vtl_watch_.clear_timer(slot.id(), n);
  }
}

void Machine::watch_vtl_timer(Slot& slot, tlfs::Vtl n, const LapicTimer& timer) {
  TimerClocks clocks{.apic_hz = partition_.apic_hz(), .tsc_hz = partition_.tsc_hz()};
  if (!timer.masked && timer.mode == LapicTimerMode::kTscDeadline) {
    const auto deadline = slot.vcpus[n]->msr(kMsrTscDeadline);
    if (!deadline || !clock_) return;
    clocks.tsc_deadline = *deadline;
    clocks.tsc_now = clock_->guest_tsc();
  }
  const auto ns = lapic_timer_remaining_ns(timer, clocks);
  if (!ns) {
    if (slot.timer_armed[n]) vtl_watch_.clear_timer(slot.id(), n);
    slot.timer_armed[n] = false;
    return;
  }
  vtl_watch_.arm_timer(slot.id(), n,
                       VtlInterruptWatch::Clock::now() + std::chrono::nanoseconds(*ns));
  slot.timer_armed[n] = true;
}

void Machine::enter_vtl_for_interrupt(Slot& slot, tlfs::Vtl vtl) {
  hv::Vp& vp = *partition_.vp(slot.id());
  const hv::VtlTransfer t = hv::interrupt_vtl_entry(vp, vtl);
  if (t.ud || !enter_vtl_vcpu(slot, t)) return;
  hv::note_vtl_entry(partition_, vp, vtl, tlfs::VtlEntryReason::kInterrupt);
}

void Machine::take_vtl_interrupt(Slot& slot) {
  hv::Vp& vp = *partition_.vp(slot.id());
  for (tlfs::Vtl n = tlfs::kMaxVtl; n > slot.active; --n) {
    if (!slot.vcpus[n] || !slot.entered[n] || !vp.vtl_enabled(n)) continue;
    const auto apic = slot.vcpus[n]->lapic();
    if (!apic) continue;
    const LapicTimer timer = read_lapic_timer(apic->regs);
    // What that APIC would deliver (its SVR software-enable bit, then the same priority rules as
    // an auto-EOI injection). An expired timer of a vCPU out of KVM_RUN is not in IRR yet (KVM
    // sets it at the next entry), so a due timer's vector counts as requested. Its RFLAGS.IF is
    // its own business: it takes the interrupt when it enables them, as the TLFS's VTL entry
    // lets it.
    InterruptWindow w;
    w.interrupts_enabled = true;
    w.tpr = static_cast<std::uint8_t>(apic_register(apic->regs, kApicTpr));
    w.highest_in_service = highest_in_apic_register(apic->regs, kApicIsr);
    w.highest_requested = highest_in_apic_register(apic->regs, kApicIrr);
    const bool timer_due = slot.timer_due[n].load(std::memory_order_acquire);
    if (timer_due && !timer.masked && timer.vector >= 16) {
      w.highest_requested = std::max(w.highest_requested, timer.vector);
    }
    const bool software_enabled = (apic_register(apic->regs, kApicSvr) & 0x100u) != 0;
    if (!software_enabled || w.highest_requested == 0 || !can_inject(w.highest_requested, w)) {
      if (!timer_due) watch_vtl_timer(slot, n, timer);
      continue;
    }
    enter_vtl_for_interrupt(slot, n);
    return;
  }
}

}  // namespace hvk::machine
