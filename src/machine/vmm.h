// The process: the KVM handle, the engine (hypervisor, dispatcher) shared by every partition,
// the machines that run them, the console, and how the run ends.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hv/dispatcher.h"
#include "hv/hypervisor.h"
#include "kvm/kvm.h"
#include "machine/console.h"

namespace hvk::machine {

class Machine;

class Vmm {
 public:
  Vmm(kvm::Kvm kvm, bool trace);
  ~Vmm();

  kvm::Kvm& kvm() { return kvm_; }
  hv::Hypervisor& hv() { return hv_; }
  hv::Dispatcher& dispatcher() { return dispatcher_; }
  Console& console() { return console_; }

  void add(std::unique_ptr<Machine> machine);
  void start();

  // Ends the run: the first caller's status wins; every machine's VPs stop. `message` (if not
  // empty) goes to stderr.
  void end(int status, const std::string& message);
  // Blocks until end() or `timeout_seconds` (0: none) and returns the exit status.
  int wait(double timeout_seconds);
  // Whether the end() that won came with a message (a guest that ends itself gives none).
  bool explained() {
    std::lock_guard lock(mu_);
    return explained_;
  }

 private:
  class Trace final : public hv::TraceSink {
   public:
    void on_call(const hv::TraceRecord& r) noexcept override;
  };

  kvm::Kvm kvm_;
  hv::Hypervisor hv_;
  hv::Dispatcher dispatcher_;
  Trace trace_;
  Console console_;
  std::vector<std::unique_ptr<Machine>> machines_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<int> status_;
  bool explained_ = false;
};

}  // namespace hvk::machine
