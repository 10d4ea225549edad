// Auto-EOI SINTs on KVM's in-kernel local APIC (docs/architecture.md, "SynIC interrupts").
//
// A SINT with AutoEOI set is one the guest never EOIs, so it must never occupy the APIC's
// in-service register. KVM's split irqchip offers no way to mark a vector so, and an interrupt
// sent through the APIC (KVM_SIGNAL_MSI) would stay in service and block every vector of its
// priority class and below. So hvk bypasses the APIC for these vectors: the VP's own thread, when
// the vCPU is out of KVM_RUN, injects the vector as an external interrupt through the vCPU's event
// state (kvm_vcpu_events.interrupt), which KVM delivers at the next entry without touching IRR or
// ISR. It does so only when the APIC itself would deliver the vector at that moment: interrupts
// enabled, no interrupt shadow, no other event in flight, and the vector's priority class above
// the processor priority (TPR and the highest in-service vector) and not below the highest
// pending one. Otherwise the vector waits and the VP is kicked again a little later.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

namespace hvk::machine {

// A set of interrupt vectors, safe to add to from any thread and to take from on one.
class VectorSet {
 public:
  void add(std::uint8_t v) {
    words_[v / 64].fetch_or(std::uint64_t{1} << (v % 64), std::memory_order_release);
  }
  void remove(std::uint8_t v) {
    words_[v / 64].fetch_and(~(std::uint64_t{1} << (v % 64)), std::memory_order_acq_rel);
  }
  bool empty() const {
    for (const auto& w : words_) {
      if (w.load(std::memory_order_acquire) != 0) return false;
    }
    return true;
  }
  // The highest vector in the set.
  std::optional<std::uint8_t> highest() const;

 private:
  std::array<std::atomic<std::uint64_t>, 4> words_{};
};

// What the vCPU's state says at an exit, as far as taking an external interrupt goes.
struct InterruptWindow {
  bool interrupts_enabled = false;  // RFLAGS.IF
  bool shadow = false;              // the instruction after STI or MOV SS
  bool event_in_flight = false;     // an exception, NMI or interrupt KVM is already injecting
  std::uint8_t tpr = 0;             // APIC TPR (CR8 << 4)
  std::uint8_t highest_in_service = 0;  // 0: none
  std::uint8_t highest_requested = 0;   // highest vector in IRR; 0: none
};

// Whether vector `v` may be injected now, exactly as the APIC would deliver it.
bool can_inject(std::uint8_t v, const InterruptWindow& w);

// The highest vector of a kvm_lapic_state register page's 256-bit register at `offset` (IRR at
// 0x200, ISR at 0x100: eight 32-bit words, 16 bytes apart); 0 when none is set.
std::uint8_t highest_in_apic_register(const char* regs, unsigned offset);

}  // namespace hvk::machine
