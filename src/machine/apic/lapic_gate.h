// The local APICs' gate: lets a VP's own thread rewrite its in-kernel APIC with KVM_GET_LAPIC and
// KVM_SET_LAPIC without losing an interrupt that another thread sets in between.
//
// KVM_SET_LAPIC replaces the whole register page, IRR included, so a bit set after the
// KVM_GET_LAPIC it started from would be lost. Interrupts reach an APIC from two places: the
// other vCPUs while they are in KVM_RUN (their IPIs, handled inside KVM), and hvk's own threads
// (KVM_SIGNAL_MSI: SynIC delivery, the IOAPIC, the hyperv-testdev). The gate stops both: while it
// is closed no vCPU is in KVM_RUN and no thread is in a KVM_SIGNAL_MSI. The VP's own LAPIC timer
// does not write IRR from outside its vCPU's KVM_RUN (KVM queues the expiry and injects it there).
//
//   vCPU threads:   if (!gate.enter_run(i)) { gate.wait_open(); continue; }  KVM_RUN;
//                   gate.leave_run(i);
//   MSI senders:    auto hold = gate.sending();  KVM_SIGNAL_MSI;
//   the closer:     gate.closed(self, kick, [&] { GET_LAPIC ... SET_LAPIC; });
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>

namespace hvk::machine {

class LapicGate {
 public:
  explicit LapicGate(std::size_t vcpus);

  // Before a KVM_RUN of vCPU `i`: false when the gate is closing (then do not run: wait_open()
  // and try again).
  bool enter_run(std::size_t i);
  // After that KVM_RUN returned.
  void leave_run(std::size_t i);
  // Returns once the gate is open.
  void wait_open();

  // Held around each KVM_SIGNAL_MSI hvk sends, on any thread.
  std::shared_lock<std::shared_mutex> sending() { return std::shared_lock(senders_); }

  // On vCPU `self`'s thread, outside KVM_RUN and holding no sending(): closes the gate (one closer
  // at a time), calls `kick(i)` for each other vCPU in KVM_RUN, waits until none is and no MSI is
  // being sent, runs `f`, and opens the gate.
  void closed(std::size_t self, const std::function<void(std::size_t)>& kick,
              const std::function<void()>& f);

  // How many times a closer waited for others (for tests and `hvk bench`).
  std::size_t closures() const { return closures_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) InRun {
    std::atomic<bool> value{false};
  };
  bool others_out(std::size_t self) const;

  std::size_t n_;
  std::unique_ptr<InRun[]> in_run_;
  std::atomic<bool> closing_{false};
  std::atomic<std::size_t> closures_{0};
  std::mutex closer_;           // one closer at a time
  std::shared_mutex senders_;   // shared: an MSI in flight; exclusive: the closer
  std::mutex mu_;               // with cv_: waits for vCPUs to leave KVM_RUN and for the open gate
  std::condition_variable cv_;
};

}  // namespace hvk::machine
