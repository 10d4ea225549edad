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

}  // namespace hvk::kvm
