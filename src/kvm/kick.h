#pragma once

#include <pthread.h>

#include <csignal>

#include "kvm/result.h"

namespace hvk::kvm {

// Kicking a vCPU thread out of KVM_RUN:
//   kicker:     vcpu.set_immediate_exit(true); kick(thread);
//   vCPU thread: on exits::Intr, set_immediate_exit(false), then do the work it was kicked for,
//                then run() again.
// The signal interrupts a KVM_RUN in progress; immediate_exit covers a kick that lands just
// before KVM_RUN starts. Clearing the flag before the work means no kick is lost.
inline constexpr int kKickSignal = SIGUSR1;

// Installs a do-nothing handler for kKickSignal (with SA_RESTART: KVM_RUN still
// returns EINTR, other system calls are restarted), so the signal interrupts
// KVM_RUN instead of killing the process. Process-wide; calling it again is harmless.
Result<void> install_kick_handler();

// Sends kKickSignal to `thread`.
Result<void> kick(pthread_t thread);

}  // namespace hvk::kvm
