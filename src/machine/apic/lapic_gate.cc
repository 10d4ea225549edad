#include "machine/apic/lapic_gate.h"

namespace hvk::machine {

LapicGate::LapicGate(std::size_t vcpus) : n_(vcpus), in_run_(std::make_unique<InRun[]>(vcpus)) {}

// enter_run and closed() each store their own flag and then read the other's, both seq_cst: at
// least one of them sees the other, so a vCPU never runs under a closed gate unseen.
bool LapicGate::enter_run(std::size_t i) {
  in_run_[i].value.store(true, std::memory_order_seq_cst);
  if (!closing_.load(std::memory_order_seq_cst)) return true;
  leave_run(i);
  return false;
}

void LapicGate::leave_run(std::size_t i) {
  in_run_[i].value.store(false, std::memory_order_seq_cst);
  if (closing_.load(std::memory_order_seq_cst)) {
    std::lock_guard lock(mu_);  // the closer checks under mu_: no wake-up is lost
    cv_.notify_all();
  }
}

void LapicGate::wait_open() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !closing_.load(std::memory_order_seq_cst); });
}

bool LapicGate::others_out(std::size_t self) const {
  for (std::size_t i = 0; i < n_; ++i) {
    if (i != self && in_run_[i].value.load(std::memory_order_seq_cst)) return false;
  }
  return true;
}

void LapicGate::closed(std::size_t self, const std::function<void(std::size_t)>& kick,
                       const std::function<void()>& f) {
  std::lock_guard one_closer(closer_);
  closing_.store(true, std::memory_order_seq_cst);
  for (std::size_t i = 0; i < n_; ++i) {
    if (i != self && in_run_[i].value.load(std::memory_order_seq_cst)) kick(i);
  }
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return others_out(self); });
  }
  {
    std::unique_lock no_senders(senders_);
    f();
  }
  closures_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    closing_.store(false, std::memory_order_seq_cst);
  }
  cv_.notify_all();
}

}  // namespace hvk::machine
