#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "kvm/linux_kvm.h"

namespace hvk::kvm {

// Why KVM_RUN returned, one type per exit reason hvk handles. Each views the vCPU's kvm_run:
// spans and setters are valid until the next run() of that vCPU.
namespace exits {

// Port I/O (KVM_EXIT_IO). `data` is size * count bytes (count > 1 for rep ins/outs): what the
// guest wrote for an out; for an in, fill it and the next run() completes the instruction.
struct Io {
  enum class Direction : std::uint8_t { kIn = KVM_EXIT_IO_IN, kOut = KVM_EXIT_IO_OUT };
  std::uint16_t port;
  Direction direction;
  std::uint8_t size;
  std::uint32_t count;
  std::span<std::uint8_t> data;

  bool is_out() const { return direction == Direction::kOut; }
};

// An access to guest physical memory no slot backs (KVM_EXIT_MMIO). `data` is the access's
// length in bytes: the value written, or to be filled for a read.
struct Mmio {
  std::uint64_t addr;
  std::span<std::uint8_t> data;
  bool is_write;
};

using MsrFields = decltype(kvm_run::msr);

// rdmsr handed to user space (KVM_EXIT_X86_RDMSR). `reason` is a KVM_MSR_EXIT_REASON_* bit.
class MsrRead {
 public:
  explicit MsrRead(MsrFields& msr) : index(msr.index), reason(msr.reason), msr_(&msr) {}
  std::uint32_t index;
  std::uint32_t reason;
  // The value the guest reads in EDX:EAX.
  void set_data(std::uint64_t value) const { msr_->data = value; }
  // The guest gets #GP instead.
  void set_error() const { msr_->error = 1; }

 private:
  MsrFields* msr_;
};

// wrmsr handed to user space (KVM_EXIT_X86_WRMSR).
class MsrWrite {
 public:
  explicit MsrWrite(MsrFields& msr)
      : index(msr.index), reason(msr.reason), data(msr.data), msr_(&msr) {}
  std::uint32_t index;
  std::uint32_t reason;
  std::uint64_t data;
  // The guest gets #GP instead of the write taking effect.
  void set_error() const { msr_->error = 1; }

 private:
  MsrFields* msr_;
};

struct Hlt {};
// Triple fault (KVM_EXIT_SHUTDOWN).
struct Shutdown {};

// KVM could not go on (KVM_EXIT_INTERNAL_ERROR); suberror is KVM_INTERNAL_ERROR_*.
// `instruction` holds the bytes of the instruction KVM's emulator failed on, when it says.
struct InternalError {
  std::uint32_t suberror;
  std::span<const __u64> data;  // `ndata` words (kvm_run's own type)
  std::span<const std::uint8_t> instruction;
};

// VM entry failed (KVM_EXIT_FAIL_ENTRY) with a hardware-specific reason.
struct FailEntry {
  std::uint64_t reason;
  std::uint32_t cpu;
};

// KVM_EXIT_SYSTEM_EVENT; type is KVM_SYSTEM_EVENT_*.
struct SystemEvent {
  std::uint32_t type;
  std::span<const __u64> data;
};

// KVM_RUN was interrupted by a signal or immediate_exit (EINTR).
struct Intr {};

// KVM_RUN failed with EFAULT: the vCPU touched guest memory whose host page does not allow the
// access (the instruction did nothing). KVM says which page only on kernels that report
// KVM_EXIT_MEMORY_FAULT for it (`gpa_known`).
struct MemoryFault {
  bool gpa_known;
  std::uint64_t gpa;
  std::uint64_t size;
};

// A guest debug event user space asked for (KVM_EXIT_DEBUG): `exception` 1 after a single step
// or a debug register match (`dr6` says which), 3 at an int3 (KVM_GUESTDBG_USE_SW_BP).
struct Debug {
  std::uint32_t exception;
  std::uint64_t pc;
  std::uint64_t dr6 = 0;
  std::uint64_t dr7 = 0;
};

// KVM_RUN returned EAGAIN: a vCPU waiting for INIT/SIPI changed state without running.
struct Again {};

// Any other exit reason; hardware_exit_reason is set for KVM_EXIT_UNKNOWN.
struct Unknown {
  std::uint32_t exit_reason;
  std::uint64_t hardware_exit_reason;
};

}  // namespace exits

using Exit = std::variant<exits::Io, exits::Mmio, exits::MsrRead, exits::MsrWrite, exits::Hlt,
                          exits::Shutdown, exits::InternalError, exits::FailEntry,
                          exits::SystemEvent, exits::Intr, exits::Again, exits::MemoryFault,
                          exits::Debug, exits::Unknown>;

// Reads the exit KVM_RUN left in `run` (after a successful KVM_RUN).
Exit decode_exit(kvm_run& run);

// One line for logs and test failures, e.g. "io out port 0xf4 size 1 count 1 data 42".
std::string describe(const Exit& exit);

}  // namespace hvk::kvm
