// What a gdb session needs of the machine it debugs, in gdb's terms: threads, all-stop control,
// registers, memory at virtual addresses, breakpoints. The machine implements it (machine/debug/)
// and keeps the thread rules (only a VP's own thread touches its vCPUs); the session knows nothing
// of KVM, and tests drive it with a fake.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gdb/x86_registers.h"

namespace hvk::gdb {

struct ThreadInfo {
  std::uint64_t number = 0;  // command.h's thread_number(vp, vtl)
  std::string description;   // "VP 3 VTL 1", with its state ("not started", ...)
  bool active = false;       // the VTL its VP runs now (a started VP's only current thread)
};

// A hardware breakpoint or watchpoint in one of the four debug address registers, applied to
// every VP in every VTL (gdb's breakpoints are not per thread).
struct HwBreakpoint {
  enum class Kind { kExecute, kWrite, kAccess };  // x86 has no read-only watch: reads use kAccess
  Kind kind = Kind::kExecute;
  std::uint64_t address = 0;
  std::uint8_t length = 1;  // 1, 2, 4 or 8, aligned to itself; 1 for kExecute
};
using HwBreakpoints = std::array<std::optional<HwBreakpoint>, 4>;

// Why the machine stopped.
struct StopEvent {
  enum class Kind {
    kSoftwareBreak,  // an int3 hvk inserted (the thread's RIP is at it)
    kHardwareBreak,  // debug register `slot` matched
    kStep,           // the single step asked for is done (or the VP switched VTL during it)
    kVtlSwitch,      // the VP switched VTL and stopping on that was asked for
    kInterrupt,      // interrupt() asked for it
    kExited,         // the VM ended with `exit_status`
  };
  Kind kind = Kind::kInterrupt;
  std::uint64_t thread = 0;  // the thread that stopped (0 for kExited, or none in particular)
  int slot = 0;              // kHardwareBreak
  int exit_status = 0;       // kExited
};

class Target {
 public:
  virtual ~Target() = default;

  // Every present (VP, VTL) pair, by VP then VTL.
  virtual std::vector<ThreadInfo> threads() = 0;
  // Stops every VP and returns once none runs guest code (all-stop). False if the VM has ended.
  virtual bool stop() = 0;
  // Lets the VPs run again: with `step`, only that thread's VP runs, for one instruction; else
  // every VP continues. Each ends in a StopEvent.
  virtual void resume(std::optional<std::uint64_t> step) = 0;
  // Asks running VPs to stop (gdb's Ctrl-C); the stop arrives as a kInterrupt event.
  virtual void interrupt() = 0;
  // Readable while an event waits for take_event() (for poll()).
  virtual int event_fd() const = 0;
  virtual std::optional<StopEvent> take_event() = 0;

  // A stopped thread's registers; false for a thread that does not exist.
  virtual bool read_registers(std::uint64_t thread, X86Registers& regs) = 0;
  virtual bool write_registers(std::uint64_t thread, const X86Registers& regs) = 0;
  // Memory at virtual addresses, through `thread`'s page tables and its VTL's view of RAM: the
  // number of bytes done, stopping at the first byte that cannot be. Reads show the guest's bytes
  // where hvk inserted breakpoints.
  virtual std::size_t read_memory(std::uint64_t thread, std::uint64_t address,
                                  std::span<std::uint8_t> out) = 0;
  virtual std::size_t write_memory(std::uint64_t thread, std::uint64_t address,
                                   std::span<const std::uint8_t> in) = 0;
  // An int3 at `address` as `thread` sees it; false if it cannot be written there.
  virtual bool insert_breakpoint(std::uint64_t thread, std::uint64_t address) = 0;
  virtual bool remove_breakpoint(std::uint64_t thread, std::uint64_t address) = 0;
  // The debug registers' breakpoints, addresses as `thread` sees them; false when the machine
  // cannot watch one of them (the session then refuses the one gdb just asked for).
  virtual bool set_hw_breakpoints(std::uint64_t thread, const HwBreakpoints& breakpoints) = 0;
  // Removes every breakpoint hvk inserted, lets every VP run and forgets the debugger (gdb
  // detached or went away).
  virtual void detach() = 0;
  // Ends the VM (gdb's kill).
  virtual void kill() = 0;
  // Whether a VTL switch stops the machine (kVtlSwitch).
  virtual void set_stop_on_vtl_switch(bool on) = 0;
};

}  // namespace hvk::gdb
