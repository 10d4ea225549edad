#pragma once

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <mutex>

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

// The thread a kick reaches, published by that thread itself before its first KVM_RUN. A kicker
// must not read the std::thread that started the vCPU thread: its creator may still be assigning
// it while the vCPU thread already runs (and kicks others, or is kicked), which is a data race,
// and a kick that found no thread there sent no signal: lost, with the target asleep in KVM_RUN.
class KickTarget {
 public:
  // On the target thread, before its first KVM_RUN.
  void publish_self() noexcept;
  // Whether the calling thread is the target.
  bool is_self() const noexcept;
  // After the kicker set the vCPU's immediate_exit: signals the thread once it has published
  // itself, else nothing (its first KVM_RUN then sees immediate_exit: publication and kick are
  // ordered by the lock, so one of the two always happens), and nothing once it has retired.
  // Returns whether a signal was sent.
  bool kick() const noexcept;
  // On the target thread, before it ends: no kick signals it afterwards (pthread_kill on a
  // thread that has ended and been joined is undefined; it crashed hvk).
  void retire() noexcept;

 private:
  mutable std::mutex mu_;  // orders publication and retirement with kicks
  pthread_t thread_{};
  std::atomic<int> published_{0};  // for is_self() without the lock
  bool retired_ = false;
};

}  // namespace hvk::kvm
