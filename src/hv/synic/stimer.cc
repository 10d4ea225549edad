#include "hv/synic/stimer.h"

#include <cstring>

namespace hvk::hv {

using tlfs::StimerConfig;

namespace {

tlfs::Message expiry_message(unsigned index, std::uint64_t expiration, std::uint64_t now) {
  tlfs::Message m{};
  m.header.message_type = static_cast<std::uint32_t>(tlfs::MessageType::kTimerExpired);
  m.header.payload_size = sizeof(tlfs::TimerMessagePayload);
  const tlfs::TimerMessagePayload p{index, 0, expiration, now};
  std::memcpy(m.payload, &p, sizeof p);
  return m;
}

// a + b, or kNoDeadline when that passes 2^64 - 1: a deadline past the end of 64-bit reference
// time (58,000 years of 100 ns) is never reached, and wrapping it would put it in the past, due at
// every poll (found by fuzz_dispatcher).
std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) {
  return b > kNoDeadline - a ? kNoDeadline : a + b;
}

// TLFS: an enabled timer that is not in direct mode must name a SINT other than 0; otherwise it
// is disabled at once.
StimerConfig sanitized(StimerConfig c) {
  if (c.enabled() && !c.direct() && c.sintx() == 0) c.raw &= ~StimerConfig::kEnable;
  return c;
}

}  // namespace

std::uint64_t SyntheticTimers::config(unsigned index) const {
  std::lock_guard lock(mu_);
  return index < tlfs::kStimerCount ? timers_[index].config.raw : 0;
}

std::uint64_t SyntheticTimers::count(unsigned index) const {
  std::lock_guard lock(mu_);
  return index < tlfs::kStimerCount ? timers_[index].count : 0;
}

void SyntheticTimers::restart(Timer& t, std::uint64_t now) {
  t.armed = false;
  t.held = false;
  if (!t.config.enabled() || t.count == 0) return;
  // Periodic: the first period starts now. One-shot: the count is the absolute expiry time (one
  // in the past expires at once).
  t.deadline = t.config.periodic() ? add_saturating(now, t.count) : t.count;
  t.armed = true;
}

void SyntheticTimers::set_config(unsigned index, std::uint64_t value, std::uint64_t now) {
  if (index >= tlfs::kStimerCount) return;
  std::lock_guard lock(mu_);
  Timer& t = timers_[index];
  t.config = sanitized(StimerConfig{value & StimerConfig::kDefinedBits});
  restart(t, now);
}

void SyntheticTimers::set_count(unsigned index, std::uint64_t value, std::uint64_t now) {
  if (index >= tlfs::kStimerCount) return;
  std::lock_guard lock(mu_);
  Timer& t = timers_[index];
  t.count = value;
  if (value == 0) {
    t.config.raw &= ~StimerConfig::kEnable;  // a zero count stops the timer, AutoEnable or not
  } else if (t.config.auto_enable()) {
    t.config = sanitized(StimerConfig{t.config.raw | StimerConfig::kEnable});
  }
  restart(t, now);
}

void SyntheticTimers::after_signal(Timer& t, std::uint64_t now) {
  if (!t.config.periodic()) {
    t.config.raw &= ~StimerConfig::kEnable;  // a one-shot timer disables itself when it expires
    t.armed = false;
    return;
  }
  // The next period, in phase with the first; periods already gone are skipped, not replayed.
  std::uint64_t next = add_saturating(t.deadline, t.count);
  if (next <= now) {
    const std::uint64_t missed = (now - t.deadline) / t.count;
    stats_.skipped += missed;
    // deadline + missed * count <= now: only the last period can pass the end of time.
    next = add_saturating(t.deadline + missed * t.count, t.count);
  }
  t.deadline = next;
}

bool SyntheticTimers::signal(unsigned index, Timer& t, std::uint64_t expiration, std::uint64_t now,
                             Synic& synic, GuestMemory* memory, IrqBatch& irqs) {
  if (t.config.direct()) {
    // Direct mode: the configured vector, no message, no SINT (so no auto-EOI).
    irqs.add({vp_, vtl_, t.config.apic_vector(), false,
              static_cast<std::uint8_t>(SintInterrupt::kDirectTimer + index)});
    return true;
  }
  return synic.offer(t.config.sintx(), expiry_message(index, expiration, now), memory, irqs) ==
         Delivery::kDelivered;
}

std::uint64_t SyntheticTimers::poll(std::uint64_t now, Synic& synic, GuestMemory* memory,
                                    IrqBatch& irqs) {
  std::lock_guard lock(mu_);
  for (unsigned i = 0; i < tlfs::kStimerCount; ++i) {
    Timer& t = timers_[i];
    if (!t.config.enabled()) continue;
    if (t.held) {
      // A one-shot message that found its slot busy: try again (EOM, or the machine's poll).
      if (signal(i, t, t.held_expiration, now, synic, memory, irqs)) {
        t.held = false;
        ++stats_.expirations;
        after_signal(t, now);
      }
      continue;
    }
    if (!t.armed || now < t.deadline) continue;
    if (signal(i, t, t.deadline, now, synic, memory, irqs)) {
      ++stats_.expirations;
      after_signal(t, now);
    } else if (t.config.periodic()) {
      ++stats_.skipped;  // a periodic tick whose slot is busy is dropped, not piled up
      after_signal(t, now);
    } else {
      t.held = true;  // kept in the timer's own buffer until the slot is free
      t.held_expiration = t.deadline;
      t.armed = false;
    }
  }
  return next_deadline_locked();
}

std::uint64_t SyntheticTimers::next_deadline_locked() const {
  std::uint64_t next = kNoDeadline;
  for (const Timer& t : timers_) {
    if (t.config.enabled() && t.armed && t.deadline < next) next = t.deadline;
  }
  return next;
}

std::uint64_t SyntheticTimers::next_deadline() const {
  std::lock_guard lock(mu_);
  return next_deadline_locked();
}

TimerStats SyntheticTimers::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace hvk::hv
