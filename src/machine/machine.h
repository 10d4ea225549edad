// One partition running on KVM: guest RAM, the loaded image, one KVM VM per enabled VTL with a
// vCPU per VP in each, a thread per VP, and the exit handling that connects them to the engine.
// Implements hv::Backend.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "hv/backend.h"
#include "hv/guest_memory.h"
#include "hv/partition.h"
#include "hv/synthetic_msrs.h"
#include "hv/vtl_switch.h"
#include "hvk/tlfs/vtl_protection.h"
#include "kvm/exit.h"
#include "kvm/kick.h"
#include "machine/apic/lapic_gate.h"
#include "machine/apic/lapic_timer.h"
#include "kvm/mapping.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "machine/console.h"
#include "machine/devices/hyperv_testdev.h"
#include "machine/devices/platform.h"
#include "machine/guest_tsc_clock.h"
#include "machine/loader/boot.h"
#include "machine/loader/result.h"
#include "machine/report/start_trace.h"
#include "machine/synic/synic_delivery.h"
#include "machine/vcpu_state.h"
#include "machine/tlb/tlb_shootdown.h"
#include "machine/vtl/protected_ram.h"
#include "machine/vtl/vtl_interrupt_watch.h"
#include "machine/vtl/vtl_vm.h"

namespace hvk::gdb {
class Target;
}

namespace hvk::machine {

class Vmm;
class MachineDebugger;

struct MachineConfig {
  std::uint64_t mem_bytes = 256ull << 20;
  std::string cmdline;
  // true: VP 0 boots the image at once (a root partition). false: the image is loaded but VP 0
  // waits until someone starts it with HvCallStartVirtualProcessor (a child partition).
  bool boot = true;
  std::string console_prefix;  // put before each console line of this partition
  // Called for each byte a VP writes to the benchmark mark port (0xF8; `hvk bench`), on that VP's
  // thread. Unset: the port is ignored like any other.
  std::function<void(std::uint32_t vp, std::uint8_t mark)> on_mark;
  std::span<const std::byte> initrd;  // must outlive create()
  std::string initrd_name;            // its file name (a Multiboot module's string)
  std::string image_name;  // the image's file name (first on a Multiboot command line)
  BzImageMode bzimage = BzImageMode::kBoot;
  bool hyperv_testdev = false;  // QEMU's hyperv-testdev on port 0x3000 (kvm-unit-tests)
  // Print where each VP start's time goes inside hvk (report/start_trace.h; `hvk bench`).
  bool trace_starts = false;
  // A debugger may attach (machine/debug/machine_debugger.h; `hvk run --gdb`); with gdb_hold every
  // VP stops before its first instruction until gdb lets it run (--gdb-wait).
  bool gdb = false;
  bool gdb_hold = false;
};

// Exit statuses hvk itself gives a VM that ends abnormally (docs/guest-abi.md).
inline constexpr int kExitGdbKill = 122;     // gdb's kill command ended the VM
inline constexpr int kExitGuestCrash = 123;  // the guest reported a crash (HV_X64_MSR_CRASH_CTL)
inline constexpr int kExitTimeout = 124;
inline constexpr int kExitTripleFault = 125;
inline constexpr int kExitVcpuFailure = 126;

class Machine final : public hv::Backend {
 public:
  static Result<std::unique_ptr<Machine>> create(Vmm& vmm, hv::Partition& partition,
                                                 std::span<const std::byte> image,
                                                 const MachineConfig& config);
  ~Machine() override;

  // The most RAM (--mem) a guest can have on this KVM: what its physical address width reaches,
  // less the 32-bit hole (loader/layout.h RamSplit).
  static std::uint64_t max_guest_ram(kvm::Kvm& kvm);

  hv::Partition& partition() const { return partition_; }
  std::uint64_t entry() const { return boot_.image.entry; }

  void start_threads();
  // Feeds `fd` (the host's stdin) to the guest's COM1 until the machine stops, through `filter`
  // (Platform::InputFilter) if given.
  void attach_input(int fd, Platform::InputFilter filter = {}) {
    platform_->start_input(fd, std::move(filter));
  }
  void stop();  // asks every VP thread to leave; returns at once
  // One line per VP saying what it is doing (report/vp_report.h), each filled in by the VP's own
  // thread within `wait`; for a timeout's report, while the guest still runs.
  std::vector<std::string> describe_vps(std::chrono::milliseconds wait);
  void join();
  // What gdb drives (MachineConfig::gdb), or nullptr.
  gdb::Target* debug_target();

  void start_vp(const hv::StartRequest& request) noexcept override;
  void partition_state_changed(hv::PartitionState state) noexcept override;
  void refresh_vp_state(tlfs::VpIndex vp_index) noexcept override;
  bool prepare_vtl(tlfs::Vtl vtl) noexcept override;
  void send_ipi(tlfs::VpIndex vp_index, tlfs::Vtl vtl, std::uint8_t vector) noexcept override;
  bool prepare_vp_vtl(tlfs::VpIndex vp_index, tlfs::Vtl vtl) noexcept override;
  void assert_sint(const hv::SintInterrupt& irq) noexcept override;
  void timers_changed(tlfs::VpIndex vp_index, tlfs::Vtl vtl,
                      std::uint64_t deadline) noexcept override;
  void flush_tlb(tlfs::VpIndex caller, const hv::VpSet& targets, tlfs::Vtl vtl) noexcept override;
  void tlb_locks_released() noexcept override;
  bool vtl_protections_changed(tlfs::Vtl vtl,
                               std::span<const std::uint64_t> pages) noexcept override;

 private:
  friend class MachineDebugger;

  struct Slot {
    explicit Slot(kvm::Vcpu v) {
      vcpus[0] = std::make_unique<kvm::Vcpu>(std::move(v));
      published[0].store(vcpus[0].get());
      entered[0] = true;  // VTL 0's vCPU is live from the start (KVM's INIT-SIPI brings up APs)
    }
    // The vCPU of the active VTL (the VP's own thread only).
    kvm::Vcpu& vcpu() const { return *vcpus[active]; }
    tlfs::VpIndex id() const { return vcpus[0]->id(); }
    // One vCPU per VTL the VP has, each in that VTL's VM (vtl/vtl_vm.h). [0] always; the others
    // are created (under mu) when the VTL is enabled on the VP, before the engine marks it so.
    std::array<std::unique_ptr<kvm::Vcpu>, tlfs::kMaxVtl + 1> vcpus;
    std::array<std::atomic<kvm::Vcpu*>, tlfs::kMaxVtl + 1> published{};  // for kicks
    tlfs::Vtl active = 0;  // the VTL whose vCPU runs (the VP's own thread only)
    // Whether each VTL has run since the VP was (re)started: a VTL not yet entered starts from
    // the context EnableVpVtl or StartVirtualProcessor recorded (the VP's own thread only).
    std::array<bool, tlfs::kMaxVtl + 1> entered{};
    // Per VTL, the PAT its vCPU holds while hvk knows it: KVM's power-on value from the vCPU's
    // creation until its first context load, or until hvk sees that INIT-SIPI ran guest code on
    // it (load_context; own thread).
    std::array<std::optional<std::uint64_t>, tlfs::kMaxVtl + 1> pat_in_vcpu{
        kPatPowerOn, kPatPowerOn, kPatPowerOn};
    std::unique_ptr<kvm_xsave> xsave;  // XMM fast-call scratch, allocated when first needed
    // The FPU kept across the completion of a denied access (vtl/vtl_intercepts.cc).
    std::unique_ptr<kvm_xsave> intercept_xsave;  // allocated when first needed
    // A protected page taken out of the map so that KVM emulates an allowed read of it
    // (vtl/vtl_intercepts.cc), and EFAULTs in a row hvk could not attribute. Own thread only.
    std::optional<std::uint64_t> hole;
    tlfs::Vtl hole_vtl = 0;
    int unattributed_faults = 0;
    std::uint64_t fault_rip = 0;  // the instruction they were counted for, since when
    std::chrono::steady_clock::time_point fault_since{};
    bool hole_stepping = false;  // the hole's vCPU single-steps until the hole closes
    FpuImages fpu;  // the VTL switch's view of each vCPU's x87/SSE/AVX state
    // Set (with a kick) when hvk sent an interrupt into a VTL above the active one: the VP's
    // thread then looks at that VTL's APIC before its next KVM_RUN (take_vtl_interrupt).
    std::atomic<bool> vtl_check{false};
    // Per VTL: the watch found the APIC timer hvk armed for it (watch_vtl_timer) expired while the
    // VP ran below it; and whether such a timer is armed (the VP's own thread only).
    std::array<std::atomic<bool>, tlfs::kMaxVtl + 1> timer_due{};
    std::array<bool, tlfs::kMaxVtl + 1> timer_armed{};
    // A flush found a target's TLB locked (hv::Action::kSuspend): before its next KVM_RUN the VP
    // waits for a lock to be lifted (tlb_epoch_ moving past suspend_epoch). Own thread only.
    bool suspended = false;
    std::uint64_t suspend_epoch = 0;
    std::thread thread;  // for join(), on the thread that started it only
    kvm::KickTarget kick_target;  // published by the VP's own thread; kicks go here
    std::mutex mu;  // guards pending and the creation of vcpus[1..]
    std::condition_variable cv;
    std::optional<hv::StartRequest> pending;
    StartTrace pending_trace;  // with pending, under trace_starts (guarded by mu)
    std::optional<StartTrace> start_trace;  // the start being traced (own thread)
    bool refresh_requested = false;  // guarded by mu; see refresh_vp_state()
    bool refresh_done = false;
    // describe_vps(): asked (with a kick), and the VP thread's answer (guarded by mu).
    std::atomic<bool> describe_requested{false};
    std::optional<std::string> description;
    std::size_t last_exit = SIZE_MAX;  // kvm::Exit index of the last exit but kicks (own thread)
    std::uint64_t exits = 0;           // how many exits (own thread)
  };

  // The calling VP's registers per VTL, for Get/SetVpRegisters during one hypercall.
  class SlotState final : public hv::VpState {
   public:
    SlotState(Machine& m, Slot& s) : machine_(m), slot_(s) {}
    tlfs::InitialVpContext context(tlfs::Vtl vtl) override;
    void set_context(tlfs::Vtl vtl, const tlfs::InitialVpContext& c) override;
    bool xmm(std::span<std::byte, kXmmBytes> out) override;
    bool set_xmm(std::span<const std::byte, kXmmBytes> in) override;

   private:
    Machine& machine_;
    Slot& slot_;
  };

  // Guest RAM and its views (Machine::create).
  struct RamViews {
    kvm::SharedMemory memory;
    kvm::Mapping own;                                   // hvk's, and the top VTL's VM's
    std::array<kvm::Mapping, tlfs::kMaxVtl> vtl;  // VTL n's VM's, n below the top
  };
  Machine(Vmm& vmm, hv::Partition& partition, kvm::Vm vm, RamViews views,
          const MachineConfig& config);
  // VTL `vtl`'s VM, created if needed (prepare_vtl); nullptr if KVM refused.
  kvm::Vm* vtl_vm(tlfs::Vtl vtl);
  // Creates VP `vp`'s vCPU in VTL `vtl`'s VM (prepare_vp_vtl, and at boot).
  bool add_vtl_vcpu(tlfs::VpIndex vp, tlfs::Vtl vtl);
  void run_vp(Slot& slot);
  // An AP's thread first: pays its vCPU's first-entry cost before the guest starts it
  // (vcpu_warmup.h). False when the VP's thread should stop.
  bool warm_up(Slot& slot);
  // Whether the KVM_RUN that ended with `exit` ran the guest: false for a kick of a vCPU that KVM
  // still holds for INIT or SIPI.
  static bool ran_guest(const Slot& slot, const kvm::Exit& exit);
  // Handles one exit; false when the VP's thread should stop.
  bool handle_exit(Slot& slot, kvm::Exit& exit);
  void answer_refresh(Slot& slot);
  // On the VP's own thread, out of KVM_RUN: its line for describe_vps() (report/).
  void answer_describe(Slot& slot);
  // TLB flushes (tlb/machine_flush.cc): on the slot's own thread, flush the VTLs other VPs asked
  // of it; and the wait of a suspended VP, which serves them too.
  void serve_tlb_flushes(Slot& slot);
  void flush_own_tlb(Slot& slot, std::uint32_t vtl_mask);
  void wait_unsuspended(Slot& slot);
  void on_hypercall(Slot& slot);
  void on_vtl_switch(Slot& slot, hv::VtlDirection direction);
  // Makes `t.to` the slot's running VTL after the engine decided the transfer: loads its first
  // context if it never ran and moves the shared state into its vCPU. False after fail().
  bool enter_vtl_vcpu(Slot& slot, const hv::VtlTransfer& t);
  // An interrupt went into VTL `vtl` of VP `vp` (any thread): if the VP may run a lower VTL, have
  // its thread look (vtl_check) and kick it unless it is the caller.
  void note_vtl_interrupt(tlfs::VpIndex vp, tlfs::Vtl vtl, bool on_target_thread);
  // On the VP's thread before KVM_RUN: if a VTL above the active one has an interrupt its APIC
  // would deliver, switch the VP to it (entry reason interrupt); else watch the timers of those
  // it read. Conformance T12; vtl/vtl_interrupts.cc.
  void take_vtl_interrupt(Slot& slot);
  // Switches the VP to VTL `vtl` (above the active one) with entry reason interrupt.
  void enter_vtl_for_interrupt(Slot& slot, tlfs::Vtl vtl);
  // The watch's poke (vtl/vtl_interrupt_watch.h): VP `vp` should look at its VTL `vtl` APIC.
  void poke_vtl(tlfs::VpIndex vp, tlfs::Vtl vtl, bool timer_due);
  // slot.active changed (the VP's own thread): tells the watch; the entered VTL's timer is KVM's.
  void vtl_switched(Slot& slot);
  // Arms the watch at the expiry of VTL n's APIC timer `timer` (read while the VP runs below n).
  void watch_vtl_timer(Slot& slot, tlfs::Vtl n, const LapicTimer& timer);
  bool on_io(Slot& slot, const kvm::exits::Io& io);
  void on_msr_read(Slot& slot, const kvm::exits::MsrRead& msr);
  void on_msr_write(Slot& slot, const kvm::exits::MsrWrite& msr);
  void on_guest_crash(Slot& slot, const hv::MsrAccess& a);
  // HV_X64_MSR_EOI, ICR, TPR on the slot's own APIC: the value read, or nullopt for #GP.
  std::optional<std::uint64_t> on_apic_msr(Slot& slot, hv::ApicAccess what, std::uint64_t value);
  // KVM_SIGNAL_MSI into VTL `vtl`'s VM (dropped if that VTL has none).
  void signal_msi(tlfs::Vtl vtl, std::uint64_t address, std::uint32_t data);
  bool on_internal_error(Slot& slot, const kvm::exits::InternalError& e);
  // VTL memory protections (vtl/vtl_intercepts.cc). An MMIO exit inside RAM: an access the
  // active VTL's KVM VM does not map as asked; completed if allowed, else denied. False when
  // the address is not RAM after all.
  bool on_ram_mmio(Slot& slot, const kvm::exits::Mmio& mmio);
  // KVM could not fetch the instruction at RIP: true if that is a page the VTL may not execute
  // (the fetch is then denied).
  bool on_denied_fetch(Slot& slot);
  // KVM_RUN failed with EFAULT: an access the VTL's view of RAM refused. Finds which access of the
  // instruction it was and denies it, or lets an allowed read through a hole. False: not a
  // protection (the VP fails).
  bool on_memory_fault(Slot& slot, const kvm::exits::MemoryFault& fault);
  // Completes the MMIO access KVM left pending on the active vCPU without running the guest.
  bool complete_mmio(Slot& slot, bool serve);
  // Does an MMIO access on hvk's view of RAM; false when it is not all RAM.
  bool copy_ram_mmio(const kvm::exits::Mmio& mmio);
  // Maps the slot's hole page again (after completing the read it was opened for).
  void close_hole(Slot& slot, bool complete_first);
  ProtectedRam* protected_ram(tlfs::Vtl vtl);
  // A fault on protected memory that nothing explains now (the protections changed meanwhile):
  // true to run the instruction at `rip` again, false once it has failed too often.
  bool retry_fault(Slot& slot, std::uint64_t rip);
  // Stops the access (an MMIO exit's instruction is undone) and raises its GPA intercept.
  void deny_access(Slot& slot, tlfs::InterceptAccess access, std::uint64_t gpa,
                   const kvm::exits::Mmio* mmio);
  // Ends the VM (root) or this partition (child) because of the VP in `slot`.
  void fail(Slot& slot, int status, const std::string& what);
  void end(int status, const std::string& message);
  void kick(Slot& slot);
  // The guest's own int3 at RIP (trapped or failed in KVM's emulator): RIP past it and #BP
  // injected, as the CPU raises it. False if KVM refused the injection.
  bool give_guest_int3(Slot& slot);
  // KVM_SET_GUEST_DEBUG for vCPU `vtl` of the slot: hvk's own single step of a hole
  // (slot.hole_stepping) combined with the debugger's settings. False if KVM refused.
  bool apply_guest_debug(Slot& slot, tlfs::Vtl vtl);

  Vmm& vmm_;
  hv::Partition& partition_;
  // One KVM VM per enabled VTL; [0] always. Created under vms_mu_, never destroyed before the
  // machine; read without the lock once the VTL is enabled (the engine's release/acquire).
  std::array<std::unique_ptr<kvm::Vm>, tlfs::kMaxVtl + 1> vms_;
  std::array<std::atomic<kvm::Vm*>, tlfs::kMaxVtl + 1> vm_ptrs_{};
  std::mutex vms_mu_;
  // VTL 0's TSC offset, read from VP 0's vCPU before any vCPU ran (vtl/vtl_vm.h share_tsc).
  std::optional<std::int64_t> tsc_offset_;
  kvm::SharedMemory ram_memory_;
  kvm::Mapping ram_;
  RamSplit ram_split_;  // where ram_'s bytes sit: below the 32-bit hole and from 4 GiB on
  // The view of RAM each VTL below the top maps in its KVM VM: its protections are mprotects of
  // this view, which leave hvk's own (ram_) and the other VTLs' untouched.
  std::array<kvm::Mapping, tlfs::kMaxVtl> vtl_ram_;
  hv::MemoryMap memory_;
  // Each lower VTL's RAM map under its protections, made at its first protection change.
  std::array<std::unique_ptr<ProtectedRam>, tlfs::kMaxVtl> protected_ram_;
  std::mutex protected_mu_;
  std::array<std::mutex, tlfs::kMaxVtl> protected_apply_mu_;  // vtl_protections_changed
  MachineConfig config_;
  BootSetup boot_{};
  Console::Stream console_;
  // Before platform_ and slots_: their MSIs and KVM_RUNs pass it (the APIC access MSRs).
  LapicGate gate_;
  TlbShootdown shootdown_;
  std::atomic<std::uint64_t> tlb_epoch_{0};  // moves each time a TLB lock is lifted
  std::vector<std::uint32_t> apic_ids_;  // by VP index
  std::unique_ptr<Platform> platform_;
  // Before slots_: their threads park in it and call its hooks until they are joined.
  std::unique_ptr<MachineDebugger> debugger_;
  std::vector<std::unique_ptr<Slot>> slots_;
  // After slots_, which its pokes kick (its destructor stops its thread first).
  VtlInterruptWatch vtl_watch_;
  std::unique_ptr<HypervTestdev> testdev_;  // with MachineConfig::hyperv_testdev
  // With the SynIC privileges; after slots_, whose threads it kicks (stopped in ~Machine).
  std::unique_ptr<SynicDelivery> synic_;
  std::optional<GuestTscClock> clock_;  // the reference time, when KVM tells the TSC's rate
  std::atomic<bool> stopping_{false};
};

}  // namespace hvk::machine
