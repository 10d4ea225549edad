#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "kvm/exit.h"
#include "kvm/fd.h"
#include "kvm/linux_kvm.h"
#include "kvm/mapping.h"
#include "kvm/result.h"

namespace hvk::kvm {

struct MsrValue {
  std::uint32_t index;
  std::uint64_t value;
};

// One vCPU: its fd and its mmap'd kvm_run. Created by Vm::create_vcpu(). Only the thread that
// runs it should call its methods, except set_immediate_exit().
class Vcpu {
 public:
  // The register classes enable_sync_regs() can mirror in kvm_run.
  static constexpr std::uint64_t kSyncAll =
      KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;

  std::uint32_t id() const { return id_; }
  int fd() const { return fd_.get(); }
  kvm_run& run_struct() const { return *run_.as<kvm_run>(); }

  Result<void> set_cpuid(std::span<const kvm_cpuid_entry2> entries);

  // Ioctl access. With sync regs on, the set_* calls also refresh the synced copy and drop a
  // pending edit of that class, so the two views never disagree.
  Result<kvm_regs> regs() const;
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> sregs() const;
  Result<void> set_sregs(const kvm_sregs& sregs);
  // Invalidates the guest's TLB: every translation the vCPU cached is gone before it runs
  // another guest instruction. Only the vCPU's own thread (it must not be in KVM_RUN).
  Result<void> flush_guest_tlb();
  Result<kvm_vcpu_events> events() const;
  Result<void> set_events(const kvm_vcpu_events& events);
  Result<kvm_fpu> fpu() const;
  Result<void> set_fpu(const kvm_fpu& fpu);
  // KVM_GET/SET_XSAVE: the x87, SSE and AVX state (4 KiB, the legacy XSAVE layout).
  Result<void> xsave(kvm_xsave& out) const;
  // A 4 KiB kvm_xsave buffer allocated at its first use (a zeroed one is resident memory, and
  // most VPs never need theirs).
  static kvm_xsave& xsave_buffer(std::unique_ptr<kvm_xsave>& buffer) {
    if (!buffer) buffer = std::make_unique<kvm_xsave>();
    return *buffer;
  }
  Result<void> set_xsave(const kvm_xsave& in);
  // The vCPU's TSC offset (KVM_VCPU_TSC_CTRL / KVM_VCPU_TSC_OFFSET device attribute, Linux 5.16+):
  // guest TSC = host TSC + offset. Two vCPUs with the same offset read the same TSC.
  Result<std::int64_t> tsc_offset() const;
  Result<void> set_tsc_offset(std::int64_t offset);
  Result<kvm_mp_state> mp_state() const;
  // KVM_GET_LAPIC: the in-kernel local APIC's register page (IRR, ISR, TPR, ...).
  Result<kvm_lapic_state> lapic() const;
  // KVM_SET_LAPIC: replaces the whole page (IRR included: see machine/apic/lapic_gate.h).
  Result<void> set_lapic(const kvm_lapic_state& state);
  Result<void> set_mp_state(std::uint32_t state);  // KVM_MP_STATE_*
  // KVM_SET_GUEST_DEBUG: with `on`, KVM_RUN ends (exits::Debug) after each guest instruction.
  Result<void> set_single_step(bool on);
  // KVM_SET_GUEST_DEBUG as given (hardware breakpoints; all zero turns guest debugging off).
  Result<void> set_guest_debug(const kvm_guest_debug& debug);

  // Reads each msrs[i].value; fails naming the first MSR KVM refuses.
  Result<void> get_msrs(std::span<MsrValue> msrs) const;
  Result<void> set_msrs(std::span<const MsrValue> msrs);
  Result<std::uint64_t> msr(std::uint32_t index) const;
  Result<void> set_msr(std::uint32_t index, std::uint64_t value);

  // KVM_GET_TSC_KHZ: the guest's TSC frequency.
  Result<std::uint32_t> tsc_khz() const;

  // KVM_TRANSLATE: the guest-physical address behind virtual address `va` under the vCPU's
  // current paging, or nullopt when it is not mapped.
  Result<std::optional<std::uint64_t>> translate(std::uint64_t va) const;

  // Queues an exception for delivery on the next run(), after any instruction an exit left
  // half done (an out or rdmsr completes first).
  Result<void> inject_exception(std::uint8_t vector, bool has_error_code = false,
                                std::uint32_t error_code = 0);

  // Has KVM mirror the `mask` classes in kvm_run on every exit, so the exit path reads and
  // writes them without ioctls. Loads the current values now, so the views are valid at once.
  Result<void> enable_sync_regs(std::uint64_t mask = kSyncAll);
  // Whether every class in `mask` is synced (enable_sync_regs).
  bool syncs(std::uint64_t mask) const { return (run_struct().kvm_valid_regs & mask) == mask; }
  const kvm_regs& synced_regs() const { return run_struct().s.regs.regs; }
  const kvm_sregs& synced_sregs() const { return run_struct().s.regs.sregs; }
  const kvm_vcpu_events& synced_events() const { return run_struct().s.regs.events; }
  // Write access; the next run() loads the edited class into the vCPU.
  kvm_regs& edit_synced_regs();
  kvm_sregs& edit_synced_sregs();
  kvm_vcpu_events& edit_synced_events();

  // KVM_RUN returns EINTR at once while set. Safe from any thread; see kick.h for the protocol.
  void set_immediate_exit(bool on);
  bool immediate_exit() const;

  // KVM_RUN once. A signal or immediate_exit gives exits::Intr; other errors are host failures.
  Result<Exit> run();

 private:
  friend class Vm;
  Vcpu(std::uint32_t id, Fd fd, Mapping run) : id_(id), fd_(std::move(fd)), run_(std::move(run)) {}

  // After a set_* ioctl: keep the synced copy of that class in step.
  template <class T>
  void refresh_synced(std::uint64_t cls, T& synced, const T& value);

  std::uint32_t id_;
  Fd fd_;
  Mapping run_;
};

}  // namespace hvk::kvm
