// The local APIC timer of a kvm_lapic_state page, read from user space: when it next fires. For a
// VTL's vCPU that is not running (vtl/vtl_interrupt_watch.h): KVM queues its expiry inside the
// vCPU and says nothing, so hvk computes the expiry from the page KVM_GET_LAPIC returned (whose
// TMCCT KVM fills with the current count) and watches the clock itself.
#pragma once

#include <cstdint>
#include <optional>

namespace hvk::machine {

inline constexpr std::uint32_t kMsrTscDeadline = 0x6E0;

enum class LapicTimerMode : std::uint8_t { kOneShot = 0, kPeriodic = 1, kTscDeadline = 2 };

struct LapicTimer {
  bool masked = true;
  LapicTimerMode mode = LapicTimerMode::kOneShot;
  std::uint8_t vector = 0;
  std::uint32_t current_count = 0;  // TMCCT as KVM computed it
  std::uint32_t divide = 1;         // TDCR decoded: 1, 2, 4, ..., 128
};

// The timer fields of a register page (`regs`, 1 KiB).
LapicTimer read_lapic_timer(const char* regs);

// The divide value TDCR encodes (bits 0, 1 and 3; SDM "Divide Configuration Register").
std::uint32_t lapic_timer_divide(std::uint32_t tdcr);

// Nanoseconds until the timer next fires, or nullopt when it will not fire by itself: masked, a
// vector below 16 (the APIC refuses it), a one-shot or periodic count of 0, or in TSC-deadline
// mode a deadline of 0. `apic_hz` is the APIC timer's input clock; for TSC-deadline mode
// `tsc_deadline`, `tsc_now` (the guest's TSC now) and `tsc_hz` say when.
struct TimerClocks {
  std::uint64_t apic_hz = 0;
  std::uint64_t tsc_hz = 0;
  std::uint64_t tsc_now = 0;
  std::uint64_t tsc_deadline = 0;
};
std::optional<std::uint64_t> lapic_timer_remaining_ns(const LapicTimer& t,
                                                      const TimerClocks& clocks);

}  // namespace hvk::machine
