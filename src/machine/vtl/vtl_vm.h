// One KVM VM per VTL (issue 14; docs/architecture.md "VTLs as KVM VMs"). Every enabled VTL of a
// partition is a KVM VM of its own over the same guest RAM, with one vCPU per VP that has the VTL:
// its own in-kernel local APIC, control registers, segments and MSRs. A VP's one thread runs the
// vCPU of its active VTL; a VTL switch moves only the state the TLFS says the VTLs share.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "hv/partition.h"
#include "kvm/kvm.h"
#include "kvm/mapping.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace hvk::machine {

// Guest physical space Intel VMX keeps for real mode, outside RAM and MMIO (harmless on AMD).
inline constexpr std::uint64_t kTssAddr = 0xFFFB'D000;
inline constexpr std::uint64_t kIdentityMapAddr = 0xFFFB'C000;

// A VM as every VTL's is made: the split irqchip (LAPICs in KVM), the synthetic MSRs sent to user
// space (also on a KVM that emulates Hyper-V itself), the VMX real-mode pages, and `ram`: its
// first `low_bytes` at GPA 0 (memslot 0), the rest at 4 GiB (memslot 1; loader/layout.h RamSplit).
kvm::Result<kvm::Vm> create_guest_vm(kvm::Kvm& kvm, kvm::Mapping& ram,
                                     std::uint64_t low_bytes = UINT64_MAX);

// VP `vp`'s vCPU in `vm`: vCPU id = VP index, the partition's CPUID with the VP's APIC ID, sync
// regs on.
kvm::Result<kvm::Vcpu> create_vp_vcpu(kvm::Kvm& kvm, kvm::Vm& vm, const hv::Partition& partition,
                                      tlfs::VpIndex vp);

// A VTL above 0 starts with its local APIC software-enabled (SVR 0x1FF), as Hyper-V's does:
// guests written for it (Windows, hyperv_vsm) send IPIs to a higher VTL's APIC without ever
// writing its SVR (conformance T13).
kvm::Result<void> software_enable_apic(kvm::Vcpu& vcpu);

// Gives a VTL's vCPU created after VTL 0's the same guest TSC (the TSC is shared: hyperv_vsm
// compares it across VTLs): VTL 0's TSC offset when KVM told it (`vtl0_offset`, read before any
// vCPU ran: a vCPU in KVM_RUN cannot be asked), else the TSC MSR written with `guest_tsc_now`.
kvm::Result<void> share_tsc(kvm::Vcpu& vcpu, std::optional<std::int64_t> vtl0_offset,
                            std::uint64_t guest_tsc_now);

// The x87/SSE/AVX image of each of a VP's vCPUs as hvk last read it from or wrote it into the
// vCPU while it was not running (or unknown). A switch into a vCPU whose image already equals the
// one being moved skips KVM_SET_XSAVE: a VTL that did not touch the FPU returns to one that still
// holds the same state. Forget it whenever something else may change a vCPU's FPU (a start).
struct FpuImages {
  std::array<std::unique_ptr<kvm_xsave>, tlfs::kMaxVtl + 1> image{};  // allocated when first used
  std::array<bool, tlfs::kMaxVtl + 1> known{};
  void forget() { known = {}; }
};

// The state a VP's VTLs share (TLFS vsm "Virtual Processor State Isolation"; conformance T5):
// the general registers but RSP (RIP and RFLAGS are private too), CR2, and the x87/SSE/AVX state.
// Copies it from `from` (VTL `from_vtl`), which has just left KVM_RUN, to `to` (`to_vtl`), which
// runs next. Both belong to the calling VP thread.
kvm::Result<void> move_shared_state(kvm::Vcpu& from, tlfs::Vtl from_vtl, kvm::Vcpu& to,
                                    tlfs::Vtl to_vtl, FpuImages& images);

// Drops an INIT that KVM latched in `vcpu`'s local APIC while the vCPU was not running (a VTL
// below the VP's active one; conformance T8), at the vCPU's next KVM_RUN through the sync-regs
// events: KVM reports and takes a latched INIT in the events' SMM block. A SIPI left without its
// INIT is then discarded by KVM itself, the vCPU not waiting for one. Only the SMM and interrupt
// shadow flags are kept: an NMI another vCPU queued meanwhile stays queued.
void drop_latched_init(kvm::Vcpu& vcpu);

}  // namespace hvk::machine
