#include "machine/vtl/vtl_interrupt_watch.h"

#include <algorithm>
#include <cstdio>
#include <system_error>

namespace hvk::machine {

VtlInterruptWatch::VtlInterruptWatch(std::uint32_t vps, Poke poke, Clock::duration period)
    : vps_(vps),
      poke_(std::move(poke)),
      period_(period),
      running_vtl_(std::make_unique<std::atomic<tlfs::Vtl>[]>(vps)),
      timers_(std::size_t{vps} * kVtls, Clock::time_point::max()) {}

VtlInterruptWatch::~VtlInterruptWatch() { stop(); }

void VtlInterruptWatch::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void VtlInterruptWatch::start_locked() {
  if (thread_.joinable() || stopping_ || start_failed_) return;
  // Called from noexcept paths (a VTL switch): a thread the system refuses leaves the machine
  // without the watch (interrupts KVM delivers into an inactive VTL then wait for its next entry)
  // instead of ending the process, and says so once.
  try {
    thread_ = std::thread([this] { loop(); });
  } catch (const std::system_error& e) {
    start_failed_ = true;
    std::fprintf(stderr, "hvk: the VTL interrupt watch could not start (%s): interrupts KVM "
                         "delivers into an inactive VTL wait for that VTL's next entry\n", e.what());
  }
}

void VtlInterruptWatch::switched(tlfs::VpIndex vp, tlfs::Vtl to) noexcept {
  if (vp >= vps_ || to > tlfs::kMaxVtl) return;
  const tlfs::Vtl from = running_vtl_[vp].exchange(to, std::memory_order_acq_rel);
  if (from == to) return;
  // Sequentially consistent against loop()'s resting_ then touched_: either this sees the watch
  // resting and wakes it, or the watch sees the mark before it rests.
  if (from > 0) {
    in_vtl_[from].fetch_sub(1);
    touched_[from].store(true);
  }
  if (to > 0) {
    in_vtl_[to].fetch_add(1);
    touched_[to].store(true);
  }
  if (resting_.load()) {
    std::lock_guard lock(mu_);
    start_locked();
    cv_.notify_one();
  }
}

void VtlInterruptWatch::arm_timer(tlfs::VpIndex vp, tlfs::Vtl vtl, Clock::time_point when) {
  if (vp >= vps_ || vtl > tlfs::kMaxVtl) return;
  {
    std::lock_guard lock(mu_);
    timers_[key(vp, vtl)] = when;
    start_locked();
  }
  cv_.notify_one();
}

void VtlInterruptWatch::clear_timer(tlfs::VpIndex vp, tlfs::Vtl vtl) {
  if (vp >= vps_ || vtl > tlfs::kMaxVtl) return;
  std::lock_guard lock(mu_);
  timers_[key(vp, vtl)] = Clock::time_point::max();
}

void VtlInterruptWatch::loop() {
  std::unique_lock lock(mu_);
  bool polling = false;  // looking once a period (else resting until woken)
  auto next_look = Clock::now();
  std::vector<std::size_t> due;
  while (!stopping_) {
    const auto now = Clock::now();
    due.clear();
    for (std::size_t k = 0; k < timers_.size(); ++k) {
      if (timers_[k] <= now) {
        due.push_back(k);
        timers_[k] = Clock::time_point::max();
      }
    }
    std::array<bool, kVtls> look{};
    if (!polling || now >= next_look) {
      polling = false;
      for (tlfs::Vtl n = 1; n <= tlfs::kMaxVtl; ++n) {
        look[n] = touched_[n].exchange(false) || in_vtl_[n].load() > 0;
        polling = polling || look[n];
      }
      next_look = now + period_;
      if (polling) resting_.store(false);
    }
    lock.unlock();
    for (const std::size_t k : due) {
      poke_(static_cast<tlfs::VpIndex>(k / kVtls), static_cast<tlfs::Vtl>(k % kVtls), true);
    }
    for (tlfs::Vtl n = 1; n <= tlfs::kMaxVtl; ++n) {
      if (!look[n]) continue;
      for (tlfs::VpIndex vp = 0; vp < vps_; ++vp) {
        if (running_vtl_[vp].load(std::memory_order_acquire) < n) poke_(vp, n, false);
      }
    }
    lock.lock();
    if (stopping_) break;
    auto until = *std::min_element(timers_.begin(), timers_.end());
    if (polling) {
      until = std::min(until, next_look);
    } else {
      resting_.store(true);
      bool marked = false;
      for (tlfs::Vtl n = 1; n <= tlfs::kMaxVtl; ++n) marked = marked || touched_[n].load();
      if (marked) continue;  // a switch came before it could see the watch resting
    }
    if (until == Clock::time_point::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, until);
    }
  }
}

}  // namespace hvk::machine
