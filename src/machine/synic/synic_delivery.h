// The machine's side of the SynIC (docs/architecture.md, "SynIC interrupts"): it delivers the
// interrupts the engine raises (hv::Backend::assert_sint) and runs the synthetic timers' deadlines
// (hv::Backend::timers_changed). The engine decides what is raised and when a timer expires; this
// room only gets the vector into the right VP.
//   - A SINT without AutoEOI, and a direct-mode timer, goes to the VP's in-kernel local APIC as a
//     fixed, edge-triggered MSI (KVM_SIGNAL_MSI), from any thread.
//   - A SINT with AutoEOI is injected past the APIC by the VP's own thread (auto_eoi.h).
//   - One DeadlineThread calls hv::poll_synic when a VP's timer deadline passes, and kicks a VP
//     whose auto-EOI vector could not be injected yet.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "hv/backend.h"
#include "hv/partition.h"
#include "kvm/vcpu.h"
#include "machine/synic/auto_eoi.h"
#include "machine/synic/deadline_thread.h"

namespace hvk::machine {

class SynicDelivery {
 public:
  struct Hooks {
    // KVM_SIGNAL_MSI on the VM of a VTL (each VTL's SynIC raises its interrupts in its own).
    std::function<void(tlfs::Vtl vtl, std::uint64_t address, std::uint32_t data)> msi;
    // Gets VP `vp`'s thread out of KVM_RUN soon (Machine::kick).
    std::function<void(tlfs::VpIndex vp)> kick;
  };

  // First and longest wait before a VP whose auto-EOI vector cannot be injected yet is kicked
  // again; the wait doubles in between.
  static constexpr std::chrono::microseconds kRetryFirst{20};
  static constexpr std::chrono::microseconds kRetryMax{1000};

  SynicDelivery(hv::Partition& partition, Hooks hooks);
  ~SynicDelivery();
  SynicDelivery(const SynicDelivery&) = delete;
  SynicDelivery& operator=(const SynicDelivery&) = delete;

  // hv::Backend::assert_sint. `on_target_thread`: the caller is the target VP's own thread, which
  // will call before_run() before it enters the guest again, so it needs no kick.
  void raise(const hv::SintInterrupt& irq, bool on_target_thread);
  // hv::Backend::timers_changed. The deadline given is not trusted: the timers are read afresh
  // under the (vp, vtl)'s lock, which the deadline thread's poll also holds, so that of two
  // updates racing (a VP arming a timer while the deadline thread fires the last one) the later
  // one always sees the other's result (a stale "no deadline" once lost a new one-shot timer).
  void timers_changed(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline);

  // Whether VTL `vtl` of VP `vp` has auto-EOI vectors waiting (cheap; the VP's thread asks for
  // its active VTL before each KVM_RUN).
  bool pending(tlfs::VpIndex vp, tlfs::Vtl vtl) const {
    return vp < vp_count_ && vtl <= tlfs::kMaxVtl && !auto_eoi_[timer_key(vp, vtl)]->empty();
  }
  // The highest auto-EOI vector waiting for VTL `vtl` of VP `vp` (reports).
  std::optional<std::uint8_t> waiting(tlfs::VpIndex vp, tlfs::Vtl vtl) const {
    if (vp >= vp_count_ || vtl > tlfs::kMaxVtl) return std::nullopt;
    return auto_eoi_[timer_key(vp, vtl)]->highest();
  }
  // On VP `vp`'s own thread, with the vCPU of its active VTL `vtl` out of KVM_RUN: injects the
  // highest waiting auto-EOI vector if the APIC would deliver it now, else asks for a kick a
  // little later.
  void before_run(tlfs::VpIndex vp, tlfs::Vtl vtl, kvm::Vcpu& vcpu);

  // Stops the deadline thread (nothing calls back afterwards). The machine calls it after its
  // VP threads have ended.
  void stop();

  // How many auto-EOI vectors were injected, and how many times one had to wait (tests, bench).
  std::uint64_t injected() const { return injected_.load(std::memory_order_relaxed); }
  std::uint64_t deferred() const { return deferred_.load(std::memory_order_relaxed); }

 private:
  std::size_t timer_key(tlfs::VpIndex vp, tlfs::Vtl vtl) const {
    return std::size_t{vp} * (tlfs::kMaxVtl + 1) + vtl;
  }
  std::size_t retry_key(tlfs::VpIndex vp) const {
    return std::size_t{vp_count_} * (tlfs::kMaxVtl + 1) + vp;
  }
  // With timer_mu_ of (vp, vtl) held: the deadline thread's entry for it, `deadline` or none.
  void set_timer_locked(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline);
  void arm_timer(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline);
  void retry_later(tlfs::VpIndex vp, std::chrono::microseconds wait);
  void due(std::size_t key);

  hv::Partition& partition_;
  const Hooks hooks_;
  const tlfs::VpIndex vp_count_;
  std::vector<std::unique_ptr<VectorSet>> auto_eoi_;  // per (vp, vtl), by timer_key
  std::unique_ptr<std::mutex[]> timer_mu_;            // per (vp, vtl), by timer_key
  std::vector<std::chrono::microseconds> backoff_;    // per VP, its own thread only
  std::atomic<std::uint64_t> injected_{0};
  std::atomic<std::uint64_t> deferred_{0};
  std::unique_ptr<DeadlineThread> deadlines_;  // last: its thread calls into the members above
};

}  // namespace hvk::machine
