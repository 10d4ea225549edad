// One partition running on one KVM VM: guest RAM, the loaded image, a vCPU and a thread per VP,
// and the exit handling that connects them to the engine. Implements hv::Backend.
#pragma once

#include <array>
#include <atomic>
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
#include "kvm/exit.h"
#include "kvm/kick.h"
#include "machine/apic/lapic_gate.h"
#include "kvm/mapping.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "machine/console.h"
#include "machine/devices/hyperv_testdev.h"
#include "machine/devices/platform.h"
#include "machine/guest_tsc_clock.h"
#include "machine/loader/boot.h"
#include "machine/loader/result.h"
#include "machine/synic/synic_delivery.h"

namespace hvk::machine {

class Vmm;

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
};

// Exit statuses hvk itself gives a VM that ends abnormally (docs/guest-abi.md).
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

  hv::Partition& partition() const { return partition_; }
  std::uint64_t entry() const { return boot_.image.entry; }

  void start_threads();
  // Feeds `fd` (the host's stdin) to the guest's COM1 until the machine stops.
  void attach_input(int fd) { platform_->start_input(fd); }
  void stop();  // asks every VP thread to leave; returns at once
  void join();

  void start_vp(const hv::StartRequest& request) noexcept override;
  void partition_state_changed(hv::PartitionState state) noexcept override;
  void refresh_vp_state(tlfs::VpIndex vp_index) noexcept override;
  void assert_sint(const hv::SintInterrupt& irq) noexcept override;
  void timers_changed(tlfs::VpIndex vp_index, tlfs::Vtl vtl,
                      std::uint64_t deadline) noexcept override;

 private:
  // What a VTL keeps to itself on a VP while another VTL runs (TLFS "VTL state isolation": the
  // general registers and the FPU/SSE state are shared).
  struct VtlState {
    static constexpr std::array<std::uint32_t, 10> kPrivateMsrs = {
        0x277,       // PAT
        0x174,       // SYSENTER_CS
        0x175,       // SYSENTER_ESP
        0x176,       // SYSENTER_EIP
        0xC0000081,  // STAR
        0xC0000082,  // LSTAR
        0xC0000083,  // CSTAR
        0xC0000084,  // SFMASK
        0xC0000102,  // KERNEL_GS_BASE
        0xC0000103,  // TSC_AUX
    };
    using Msrs = std::array<kvm::MsrValue, kPrivateMsrs.size()>;
    static Msrs reset_msrs(std::uint64_t pat);
    // The entries of `to` whose values differ from `from` (both in kPrivateMsrs order), copied to
    // the front of `out`; returns how many. A switch writes only those: a VP's VTLs mostly agree
    // (often all ten), and each KVM_SET_MSRS is a system call.
    static std::size_t changed_msrs(const Msrs& from, const Msrs& to, Msrs& out);
    std::uint64_t rip = 0, rsp = 0, rflags = 0;
    kvm_sregs sregs{};
    Msrs msrs = reset_msrs(0);
  };

  struct Slot {
    explicit Slot(kvm::Vcpu v) : vcpu(std::move(v)) {}
    kvm::Vcpu vcpu;
    std::thread thread;  // for join(), on the thread that started it only
    kvm::KickTarget kick_target;  // published by the VP's own thread; kicks go here
    std::mutex mu;  // guards pending
    std::condition_variable cv;
    std::optional<hv::StartRequest> pending;
    bool refresh_requested = false;  // guarded by mu; see refresh_vp_state()
    bool refresh_done = false;
    std::array<std::optional<VtlState>, tlfs::kMaxVtl + 1> vtl;  // saved while not running
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

  Machine(Vmm& vmm, hv::Partition& partition, kvm::Vm vm, kvm::Mapping ram,
          const MachineConfig& config);
  void run_vp(Slot& slot);
  // Whether the KVM_RUN that ended with `exit` ran the guest: false for a kick of a vCPU that KVM
  // still holds for INIT or SIPI.
  static bool ran_guest(const Slot& slot, const kvm::Exit& exit);
  // Handles one exit; false when the VP's thread should stop.
  bool handle_exit(Slot& slot, kvm::Exit& exit);
  void answer_refresh(Slot& slot);
  void on_hypercall(Slot& slot);
  void on_vtl_switch(Slot& slot, hv::VtlDirection direction);
  bool on_io(Slot& slot, const kvm::exits::Io& io);
  void on_msr_read(Slot& slot, const kvm::exits::MsrRead& msr);
  void on_msr_write(Slot& slot, const kvm::exits::MsrWrite& msr);
  void on_guest_crash(Slot& slot, const hv::MsrAccess& a);
  // HV_X64_MSR_EOI, ICR, TPR on the slot's own APIC: the value read, or nullopt for #GP.
  std::optional<std::uint64_t> on_apic_msr(Slot& slot, hv::ApicAccess what, std::uint64_t value);
  void signal_msi(std::uint64_t address, std::uint32_t data);
  bool on_internal_error(Slot& slot, const kvm::exits::InternalError& e);
  // Ends the VM (root) or this partition (child) because of the VP in `slot`.
  void fail(Slot& slot, int status, const std::string& what);
  void end(int status, const std::string& message);
  void kick(Slot& slot);

  Vmm& vmm_;
  hv::Partition& partition_;
  kvm::Vm vm_;
  kvm::Mapping ram_;
  hv::MemoryMap memory_;
  MachineConfig config_;
  BootSetup boot_{};
  Console::Stream console_;
  // Before platform_ and slots_: their MSIs and KVM_RUNs pass it (the APIC access MSRs).
  LapicGate gate_;
  std::vector<std::uint32_t> apic_ids_;  // by VP index
  std::unique_ptr<Platform> platform_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<HypervTestdev> testdev_;  // with MachineConfig::hyperv_testdev
  // With the SynIC privileges; after slots_, whose threads it kicks (stopped in ~Machine).
  std::unique_ptr<SynicDelivery> synic_;
  std::optional<GuestTscClock> clock_;  // the reference time, when KVM tells the TSC's rate
  std::atomic<bool> stopping_{false};
};

}  // namespace hvk::machine
