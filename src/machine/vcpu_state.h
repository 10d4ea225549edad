// Converting between the TLFS's register state and KVM's: HV_INITIAL_VP_CONTEXT into a vCPU, the
// loader's boot state into a context, and a vCPU's registers into the dispatcher's view.
#pragma once

#include "hv/call_context.h"
#include "hvk/tlfs/vp_context.h"
#include "kvm/linux_kvm.h"
#include "kvm/result.h"
#include "machine/loader/cpu_state.h"

namespace hvk::kvm {
class Vcpu;
}

namespace hvk::machine {

inline constexpr std::uint32_t kMsrPat = 0x277;
// IA32_PAT's power-on value (SDM), which KVM gives every new vCPU.
inline constexpr std::uint64_t kPatPowerOn = 0x0007'0406'0007'0406ull;

// Bit for bit: Type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15. A segment that is not
// present is marked unusable, as VMX and SVM expect of a null segment.
kvm_segment to_kvm_segment(const tlfs::SegmentRegister& s);
tlfs::SegmentRegister from_kvm_segment(const kvm_segment& s);
tlfs::SegmentRegister to_tlfs_segment(const Segment& s);

// The loader's boot state as an HV_INITIAL_VP_CONTEXT, so the boot VP and started VPs are loaded
// by the same code.
tlfs::InitialVpContext context_from_boot_state(const BootState& b);

// Puts the context's registers into KVM's register structures: RIP, RSP, RFLAGS into `regs`
// (the other general registers are left alone), segments, tables, CR0/3/4, EFER into `sregs`
// (CR2, CR8, the APIC base and pending interrupts are left alone). PAT is an MSR: the caller
// sets it.
void apply_context(kvm_regs& regs, kvm_sregs& sregs, const tlfs::InitialVpContext& c);
// The reverse: the 18 fields of a context from KVM's structures and the PAT MSR's value.
tlfs::InitialVpContext context_from_kvm(const kvm_regs& regs, const kvm_sregs& sregs,
                                        std::uint64_t pat);

// The general registers a boot entry sets (HV_INITIAL_VP_CONTEXT has none): RSI for the 64-bit
// boot protocol's boot_params, EAX/EBX for Multiboot's magic and information structure.
struct EntryRegisters {
  std::uint64_t rax = 0;
  std::uint64_t rbx = 0;
  std::uint64_t rsi = 0;
};
EntryRegisters entry_registers(const BootState& b);

// Loads all 18 fields of `c` into `vcpu` (sregs keep the vCPU's APIC base), zeroes the general
// registers but those in `gprs`, and makes the vCPU runnable. With sync regs on, the registers are
// written into the synced copies and reach KVM with the vCPU's next KVM_RUN (only the PAT and the
// MP state are ioctls), so call it where nothing else edits the vCPU before that run: on its own
// thread, or before its thread starts. `pat_in_vcpu`, if given, is the PAT hvk knows the vCPU
// holds (KVM's power-on value on a vCPU no guest code ran on yet): a context with the same PAT
// skips the MSR write, the dearer of the two ioctls (docs/performance.md). The knowledge is used
// up (reset): the guest runs next.
kvm::Result<void> load_context(kvm::Vcpu& vcpu, const tlfs::InitialVpContext& c,
                               const EntryRegisters& gprs = {},
                               std::optional<std::uint64_t>* pat_in_vcpu = nullptr);

// The dispatcher's view of a vCPU stopped at a hypercall.
hv::VpCallState call_state(const kvm_regs& r, const kvm_sregs& s);
// Writes back what the dispatcher changed (RAX..R8 only).
void store_call_regs(kvm_regs& r, const hv::HypercallRegs& h);

}  // namespace hvk::machine
