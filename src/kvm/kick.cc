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
  published_.store(true, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // before KVM_RUN reads immediate_exit
}

bool KickTarget::is_self() const noexcept {
  return published_.load(std::memory_order_acquire) && pthread_equal(thread_, pthread_self()) != 0;
}

bool KickTarget::kick() const noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the kicker's immediate_exit first
  if (!published_.load(std::memory_order_seq_cst)) return false;
  return static_cast<bool>(hvk::kvm::kick(thread_));
}

}  // namespace hvk::kvm
