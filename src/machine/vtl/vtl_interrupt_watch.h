// Interrupts that reach a VTL's vCPU while its VP runs a lower VTL (issue 14 point 2; conformance
// T12; docs/architecture.md "Interrupts into a VTL that is not running").
//
// A VP runs one VTL's vCPU at a time. hvk's own interrupts (the SynIC, hypercall IPIs, MSIs) tell
// the VP's thread at once. Two kinds arise inside KVM, which tells user space nothing when a vCPU
// that is not in KVM_RUN receives one:
//   - IPIs sent by another VP's in-kernel APIC in VTL n. A VP can send from VTL n only while it
//     runs VTL n. So while any VP runs VTL n (or has entered or left it since the last look), the
//     watch pokes, once a period, every VP that runs below VTL n; a poked VP's thread reads its
//     VTL n APIC before its next KVM_RUN. A period after the last VP left VTL n, the watch looks
//     once more, then rests.
//   - the APIC timer of VTL n's own vCPU. Whenever the VP's thread reads that APIC and stays
//     below VTL n, it arms a timer here with the expiry it computed (apic/lapic_timer.h); the
//     watch pokes the VP at that time, saying the timer is due.
// So an IPI into a higher VTL waits at most a period (plus the kick), a timer not at all beyond
// the kick. The watch's thread starts the first time a VTL above 0 is entered or a timer armed.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "hv/partition.h"

namespace hvk::machine {

class VtlInterruptWatch {
 public:
  using Clock = std::chrono::steady_clock;
  // Called on the watch's thread, no lock held: VP `vp` should look at its VTL `vtl` APIC;
  // `timer_due`: the timer armed for it has expired.
  using Poke = std::function<void(tlfs::VpIndex vp, tlfs::Vtl vtl, bool timer_due)>;

  static constexpr Clock::duration kDefaultPeriod = std::chrono::milliseconds(1);

  VtlInterruptWatch(std::uint32_t vps, Poke poke, Clock::duration period = kDefaultPeriod);
  ~VtlInterruptWatch();
  VtlInterruptWatch(const VtlInterruptWatch&) = delete;
  VtlInterruptWatch& operator=(const VtlInterruptWatch&) = delete;

  // VP `vp` now runs VTL `to` (on the VP's own thread; cheap: no lock, unless the watch rests
  // and must wake).
  void switched(tlfs::VpIndex vp, tlfs::Vtl to) noexcept;
  // Pokes (vp, vtl) with timer_due at `when`; replaces its earlier timer.
  void arm_timer(tlfs::VpIndex vp, tlfs::Vtl vtl, Clock::time_point when);
  void clear_timer(tlfs::VpIndex vp, tlfs::Vtl vtl);
  // No poke runs once it returns (the destructor calls it).
  void stop();

 private:
  static constexpr std::size_t kVtls = tlfs::kMaxVtl + 1;
  std::size_t key(tlfs::VpIndex vp, tlfs::Vtl vtl) const { return vp * kVtls + vtl; }
  void start_locked();
  void loop();

  const std::uint32_t vps_;
  const Poke poke_;
  const Clock::duration period_;
  std::unique_ptr<std::atomic<tlfs::Vtl>[]> running_vtl_;  // by VP
  std::array<std::atomic<std::uint32_t>, kVtls> in_vtl_{};   // VPs running each VTL
  std::array<std::atomic<bool>, kVtls> touched_{};  // entered or left since the last look
  std::atomic<bool> resting_{true};  // the thread waits for no period: switched() must wake it
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Clock::time_point> timers_;  // by key(); time_point::max(): none
  bool stopping_ = false;
  std::thread thread_;  // started by start_locked()
  bool start_failed_ = false;  // the system refused the thread (guarded by mu_)
};

}  // namespace hvk::machine
