// The four synthetic timers of one VP in one VTL (TLFS "Timers": STIMER0-3 CONFIG/COUNT). Time is
// the partition reference time in 100 ns units, always passed in by the caller, so the tests
// control it; the machine calls poll() when the deadline it was given has passed.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "hv/synic/synic.h"

namespace hvk::hv {

inline constexpr std::uint64_t kNoDeadline = ~std::uint64_t{0};

struct TimerStats {
  std::uint64_t expirations = 0;  // signals delivered (messages written, direct interrupts)
  std::uint64_t skipped = 0;      // periodic ticks dropped (slot busy, or period already gone)
};

class SyntheticTimers {
 public:
  SyntheticTimers(tlfs::VpIndex vp, tlfs::Vtl vtl) : vp_(vp), vtl_(vtl) {}
  SyntheticTimers(const SyntheticTimers&) = delete;
  SyntheticTimers& operator=(const SyntheticTimers&) = delete;

  std::uint64_t config(unsigned index) const;
  std::uint64_t count(unsigned index) const;
  // Register writes at reference time `now`. Either one stops the timer and starts it again if it
  // is enabled with a non-zero count; a due timer fires at the next poll().
  void set_config(unsigned index, std::uint64_t value, std::uint64_t now);
  void set_count(unsigned index, std::uint64_t value, std::uint64_t now);

  // Fires every timer due at `now` (a message through `synic`, or a direct interrupt), retries the
  // expiry messages still waiting for their slot, and returns the earliest deadline left.
  std::uint64_t poll(std::uint64_t now, Synic& synic, GuestMemory* memory, IrqBatch& irqs);
  std::uint64_t next_deadline() const;
  TimerStats stats() const;

 private:
  struct Timer {
    tlfs::StimerConfig config{};
    std::uint64_t count = 0;
    bool armed = false;  // deadline is meaningful
    std::uint64_t deadline = 0;
    bool held = false;  // a one-shot expiry message waits for its slot (EOM)
    std::uint64_t held_expiration = 0;
  };
  void restart(Timer& t, std::uint64_t now);
  bool signal(unsigned index, Timer& t, std::uint64_t expiration, std::uint64_t now, Synic& synic,
              GuestMemory* memory, IrqBatch& irqs);
  void after_signal(Timer& t, std::uint64_t now);
  std::uint64_t next_deadline_locked() const;

  const tlfs::VpIndex vp_;
  const tlfs::Vtl vtl_;
  mutable std::mutex mu_;  // taken before the Synic's lock, never after
  std::array<Timer, tlfs::kStimerCount> timers_{};
  TimerStats stats_{};
};

}  // namespace hvk::hv
