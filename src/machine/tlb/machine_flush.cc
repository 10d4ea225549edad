// The machine's half of HvCallFlushVirtualAddressSpace/List and of the TLB lock: posting flushes
// to other VPs' threads, serving them on a VP's own thread, and the wait of a VP the engine
// suspended because a target's TLB is locked (conformance L4-L6).
#include <utility>
#include <vector>

#include "machine/machine.h"

namespace hvk::machine {

namespace {
// How long a suspended VP sleeps before it re-issues its call anyway (a lifted lock wakes it at
// once; the bound only covers a wake-up that raced with the suspension).
constexpr std::chrono::milliseconds kSuspendRecheck{10};
}  // namespace

void Machine::flush_tlb(tlfs::VpIndex caller, const hv::VpSet& targets, tlfs::Vtl vtl) noexcept {
  if (caller >= slots_.size() || vtl > tlfs::kMaxVtl) return;
  Slot& self = *slots_[caller];
  const std::uint32_t mask = 1u << vtl;
  // Post to every other target first so that they flush in parallel, then flush the caller's own.
  std::vector<std::pair<tlfs::VpIndex, std::uint64_t>> tickets;
  for (tlfs::VpIndex i = 0; i < slots_.size(); ++i) {
    if (i == caller || !targets.contains(i)) continue;
    Slot& target = *slots_[i];
    if (target.published[vtl].load(std::memory_order_acquire) == nullptr) continue;
    tickets.emplace_back(i, shootdown_.post(i, mask));
    kick(target);
  }
  if (targets.contains(caller)) flush_own_tlb(self, mask);
  for (const auto& [vp, ticket] : tickets) {
    if (!shootdown_.wait_served(vp, ticket, caller, [&] { serve_tlb_flushes(self); },
                                stopping_)) {
      return;
    }
  }
}

void Machine::serve_tlb_flushes(Slot& slot) {
  shootdown_.serve(slot.id(), [&](std::uint32_t vtl_mask) { flush_own_tlb(slot, vtl_mask); });
}

void Machine::flush_own_tlb(Slot& slot, std::uint32_t vtl_mask) {
  for (tlfs::Vtl v = 0; v <= tlfs::kMaxVtl; ++v) {
    // A VTL not entered since the VP started has cached nothing: it loads its context first.
    if ((vtl_mask >> v & 1u) == 0 || !slot.vcpus[v] || !slot.entered[v]) continue;
    if (auto r = slot.vcpus[v]->flush_guest_tlb(); !r) {
      fail(slot, kExitVcpuFailure, "flushing the TLB of VTL " + std::to_string(v) +
                                       " failed: " + r.error().message());
      return;
    }
  }
}

void Machine::tlb_locks_released() noexcept {
  tlb_epoch_.fetch_add(1, std::memory_order_acq_rel);
  for (auto& s : slots_) {
    { std::lock_guard lock(s->mu); }  // a waiter sees the new epoch before it sleeps again
    s->cv.notify_all();
  }
}

void Machine::wait_unsuspended(Slot& slot) {
  {
    std::unique_lock lock(slot.mu);
    slot.cv.wait_for(lock, kSuspendRecheck, [&] {
      return stopping_.load(std::memory_order_acquire) ||
             tlb_epoch_.load(std::memory_order_acquire) != slot.suspend_epoch ||
             shootdown_.pending(slot.id()) || slot.vtl_check.load(std::memory_order_acquire);
    });
  }
  serve_tlb_flushes(slot);
}

}  // namespace hvk::machine
