#include "kvm/kick.h"

namespace hvk::kvm {
namespace {

void ignore_kick(int) {}

}  // namespace

Result<void> install_kick_handler() {
  struct sigaction action {};
  action.sa_handler = ignore_kick;
  sigemptyset(&action.sa_mask);
  // KVM_RUN returns EINTR on a signal whatever the flags; SA_RESTART spares the thread's other
  // system calls (console writes) a spurious EINTR.
  action.sa_flags = SA_RESTART;
  if (sigaction(kKickSignal, &action, nullptr) != 0) return Error::from_errno("sigaction SIGUSR1");
  return {};
}

Result<void> kick(pthread_t thread) {
  if (int err = pthread_kill(thread, kKickSignal); err != 0) return Error{"pthread_kill", err};
  return {};
}

void KickTarget::publish_self() noexcept {
  // Under the kickers' lock: whichever comes second sees the first (the kicker sees the thread,
  // or this thread's KVM_RUN sees the kicker's immediate_exit).
  std::lock_guard lock(mu_);
  thread_ = pthread_self();
  published_.store(1, std::memory_order_release);
}

void KickTarget::retire() noexcept {
  std::lock_guard lock(mu_);
  retired_ = true;
}

bool KickTarget::is_self() const noexcept {
  return published_.load(std::memory_order_acquire) != 0 &&
         pthread_equal(thread_, pthread_self()) != 0;
}

bool KickTarget::kick() const noexcept {
  // After the kicker's immediate_exit store (see publish_self); the thread cannot end while the
  // lock is held, since it retires under it first.
  std::lock_guard lock(mu_);
  if (published_.load(std::memory_order_relaxed) == 0 || retired_) return false;
  return static_cast<bool>(hvk::kvm::kick(thread_));
}

}  // namespace hvk::kvm
