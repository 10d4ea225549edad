// gdb's view of a Machine (issue 16): every (VP, VTL) pair a thread, all-stop control, registers
// and memory of each pair, breakpoints. The gdb server's thread calls the gdb::Target side; the VP
// threads call the hooks, from the run loop, and do every vCPU access themselves: a stopped VP's
// thread is parked here and runs the jobs the server's thread hands it (the house rule: only a
// VP's own thread touches its vCPUs). docs/debugging.md tells the user's side.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "gdb/target.h"
#include "hvk/tlfs/types.h"
#include "kvm/exit.h"
#include "kvm/linux_kvm.h"
#include "machine/machine.h"

namespace hvk::machine {

class MachineDebugger final : public gdb::Target {
 public:
  // `hold`: every VP stops before its first instruction until gdb resumes it (--gdb-wait).
  MachineDebugger(Machine& machine, bool hold);
  ~MachineDebugger() override;
  MachineDebugger(const MachineDebugger&) = delete;
  MachineDebugger& operator=(const MachineDebugger&) = delete;

  // --- gdb::Target, on the server's thread.
  std::vector<gdb::ThreadInfo> threads() override;
  bool stop() override;
  void resume(std::optional<std::uint64_t> step) override;
  void interrupt() override;
  int event_fd() const override { return event_fds_[0]; }
  std::optional<gdb::StopEvent> take_event() override;
  bool read_registers(std::uint64_t thread, gdb::X86Registers& regs) override;
  bool write_registers(std::uint64_t thread, const gdb::X86Registers& regs) override;
  std::size_t read_memory(std::uint64_t thread, std::uint64_t address,
                          std::span<std::uint8_t> out) override;
  std::size_t write_memory(std::uint64_t thread, std::uint64_t address,
                           std::span<const std::uint8_t> in) override;
  bool insert_breakpoint(std::uint64_t thread, std::uint64_t address) override;
  bool remove_breakpoint(std::uint64_t thread, std::uint64_t address) override;
  bool set_hw_breakpoints(std::uint64_t thread, const gdb::HwBreakpoints& breakpoints) override;
  void detach() override;
  void kill() override;
  void set_stop_on_vtl_switch(bool on) override { stop_on_vtl_switch_.store(on); }

  // --- Hooks, on VP `slot`'s own thread.
  // Whether the VP should stop before its next KVM_RUN.
  bool wants_park(const Machine::Slot& slot) const;
  // Stops there, serving the server's jobs, until resumed or the machine stops.
  void park(Machine::Slot& slot);
  // Before each KVM_RUN: the active vCPU gets the debug settings it should have.
  void before_run(Machine::Slot& slot);
  // KVM_EXIT_DEBUG: true when it was gdb's (the VP then stops); false leaves it to the machine.
  bool on_debug_exit(Machine::Slot& slot, const kvm::exits::Debug& d);
  // An int3 at RIP trapped (however the KVM reports it): true when it is a breakpoint hvk
  // inserted (the VP stops with RIP at it) or was one until just now (the VP runs the guest's
  // byte again); false: the guest's own int3.
  bool on_int3(Machine::Slot& slot);
  // The VP switched VTL (Machine::enter_vtl_vcpu).
  void on_vtl_switched(Machine::Slot& slot);
  // The KVM_SET_GUEST_DEBUG settings of vCPU `vtl` of the slot, with `extra_step` (hvk's own
  // single step of a hole, vtl/vtl_intercepts.cc) added.
  kvm_guest_debug guest_debug(const Machine::Slot& slot, tlfs::Vtl vtl, bool extra_step) const;
  // Machine::stop(): parked VPs leave, and nothing waits for them any more.
  void machine_stopping();

 private:
  struct VpDebug {
    bool parked = false;                      // under mu_
    std::function<void(Machine::Slot&)> job;  // under mu_
    enum class Job { kNone, kPosted, kTaken, kDone } job_state = Job::kNone;
    std::atomic<bool> stepping{false};
    // What each vCPU of the VP was last given (own thread).
    std::array<std::uint64_t, tlfs::kMaxVtl + 1> applied_gen{};
    std::array<bool, tlfs::kMaxVtl + 1> applied_step{};
  };
  struct Breakpoint {
    std::uint64_t gpa = 0;
    std::uint8_t original = 0;
  };

  // The guest's byte back where `bp` put its int3 (under mu_).
  void put_back(const Breakpoint& bp);
  // Runs `job` on VP `vp`'s thread once it is parked; false if it does not park in time.
  bool run_on(std::uint32_t vp, const std::function<void(Machine::Slot&)>& job);
  // The same for a gdb thread: its VP's slot and its VTL; false for a thread that names none.
  bool on_thread(std::uint64_t thread, const std::function<void(Machine::Slot&, tlfs::Vtl)>& job);
  // Queues a stop of the VP in `slot` (first in its round only) and stops every other VP.
  void report(const gdb::StopEvent& ev);
  void kick_all();
  // The guest-physical address of `va` as VTL `vtl` of the slot sees it (own thread).
  std::optional<std::uint64_t> translate(Machine::Slot& slot, tlfs::Vtl vtl, std::uint64_t va);
  bool read_vcpu(Machine::Slot& slot, tlfs::Vtl vtl, gdb::X86Registers& regs);
  bool write_vcpu(Machine::Slot& slot, tlfs::Vtl vtl, const gdb::X86Registers& regs);
  // Copies between RAM and `buf` at `va` for VTL `vtl`, page by page, as far as the VTL may.
  std::size_t access(Machine::Slot& slot, tlfs::Vtl vtl, std::uint64_t va, std::uint8_t* buf,
                     std::size_t len, bool write);
  std::uint64_t thread_of(const Machine::Slot& slot) const;

  Machine& m_;
  std::vector<std::unique_ptr<VpDebug>> vps_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_requested_{false};
  bool round_reported_ = false;        // under mu_: this stop round has its event
  bool stopping_ = false;              // under mu_: the machine is ending
  std::size_t parked_ = 0;             // under mu_
  std::deque<gdb::StopEvent> events_;  // under mu_
  std::array<int, 2> event_fds_{-1, -1};
  std::atomic<std::uint64_t> debug_gen_{1};          // moves when the settings below change
  gdb::HwBreakpoints hw_{};                          // under mu_
  std::map<std::uint64_t, Breakpoint> breakpoints_;  // by virtual address; under mu_
  // Whether KVM reports data breakpoints here (kvm/debug_probe.h). Where it does not, a write
  // watch is hvk's: every VP single-steps, and after each instruction the watched bytes (at the
  // guest-physical address the watch's thread translated) are compared with their last value.
  // Reads cannot be seen that way: read and access watches are refused there.
  bool dr_data_ = true;
  struct SoftWatch {
    std::uint64_t gpa = 0;
    std::vector<std::uint8_t> last;
  };
  std::array<std::optional<SoftWatch>, 4> soft_{};  // by debug register; under mu_
  std::atomic<bool> soft_active_{false};
  // A write watch hvk keeps changed: its debug register number.
  std::optional<int> soft_watch_hit();
  std::atomic<bool> stop_on_vtl_switch_{false};
};

}  // namespace hvk::machine
