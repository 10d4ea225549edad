#include "machine/tlb/tlb_shootdown.h"

namespace hvk::machine {

TlbShootdown::TlbShootdown(std::size_t vps)
    : boxes_(std::make_unique<Mailbox[]>(vps)), count_(vps) {}

std::uint64_t TlbShootdown::post(tlfs::VpIndex vp, std::uint32_t vtl_mask) {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mu_);
    Mailbox& b = boxes_[vp];
    b.vtls |= vtl_mask;
    ticket = b.posted.load(std::memory_order_relaxed) + 1;
    b.posted.store(ticket, std::memory_order_release);
  }
  // A target that is itself waiting in wait_served() serves from there.
  cv_.notify_all();
  return ticket;
}

bool TlbShootdown::pending(tlfs::VpIndex vp) const {
  if (vp >= count_) return false;
  const Mailbox& b = boxes_[vp];
  return b.posted.load(std::memory_order_acquire) != b.served.load(std::memory_order_acquire);
}

void TlbShootdown::serve(tlfs::VpIndex vp,
                         const std::function<void(std::uint32_t vtl_mask)>& flush) {
  if (!pending(vp)) return;
  Mailbox& b = boxes_[vp];
  std::uint32_t vtls = 0;
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mu_);
    vtls = b.vtls;
    b.vtls = 0;
    ticket = b.posted.load(std::memory_order_relaxed);
  }
  // Every flush posted up to `ticket` put its VTLs in `vtls` first (or in an earlier take that
  // flushed them after they were posted).
  if (vtls != 0) flush(vtls);
  {
    std::lock_guard lock(mu_);
    if (b.served.load(std::memory_order_relaxed) < ticket) {
      b.served.store(ticket, std::memory_order_release);
    }
  }
  cv_.notify_all();
}

bool TlbShootdown::wait_served(tlfs::VpIndex target, std::uint64_t ticket, tlfs::VpIndex self,
                               const std::function<void()>& serve_self,
                               const std::atomic<bool>& stop) {
  const Mailbox& t = boxes_[target];
  std::unique_lock lock(mu_);
  while (t.served.load(std::memory_order_acquire) < ticket) {
    if (stop.load(std::memory_order_acquire)) return false;
    if (pending(self)) {
      lock.unlock();
      serve_self();
      lock.lock();
      continue;
    }
    cv_.wait_for(lock, kRecheck);
  }
  return true;
}

}  // namespace hvk::machine
