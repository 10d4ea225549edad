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
  thread_ = pthread_self();
  // An RMW, like the kicker's: the two are ordered, and whichever comes second sees the first
  // (the kicker sees the thread, or this thread's KVM_RUN sees the kicker's immediate_exit).
  published_.exchange(1, std::memory_order_acq_rel);
}

bool KickTarget::is_self() const noexcept {
  return published_.load(std::memory_order_acquire) != 0 &&
         pthread_equal(thread_, pthread_self()) != 0;
}

bool KickTarget::kick() const noexcept {
  // An RMW after the kicker's immediate_exit store (see publish_self).
  if (published_.fetch_or(0, std::memory_order_acq_rel) == 0) return false;
  return static_cast<bool>(hvk::kvm::kick(thread_));
}

}  // namespace hvk::kvm
