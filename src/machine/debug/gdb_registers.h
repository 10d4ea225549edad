// gdb's register file (gdb/x86_registers.h) to and from KVM's register structures: the integer
// and system registers from kvm_regs and kvm_sregs, the x87 and SSE state from the XSAVE image's
// legacy (FXSAVE) area. Pure conversions, unit-tested without KVM.
#pragma once

#include "gdb/x86_registers.h"
#include "kvm/linux_kvm.h"

namespace hvk::machine {

// The general registers, RIP, RFLAGS, segments, control registers, EFER and descriptor tables;
// the FPU fields at their reset values (FCW 0x37F, every tag empty, MXCSR 0x1F80).
gdb::X86Registers gdb_registers(const kvm_regs& r, const kvm_sregs& s);
// The x87 and SSE registers from an XSAVE image (KVM_GET_XSAVE fills the legacy area with the
// init values of components not in use). gdb's full tag word is computed from FXSAVE's abridged
// one, per physical register, as the SDM's FSTENV would give it.
void add_fpu(gdb::X86Registers& regs, const kvm_xsave& x);

// Writes the general registers and RIP; RFLAGS keeps its upper 32 bits (gdb's eflags has 32).
void apply_integer(kvm_regs& r, const gdb::X86Registers& regs);
// Whether the system part (segments, control registers, EFER, tables) differs, and writing it.
bool system_differs(const gdb::X86Registers& a, const gdb::X86Registers& b);
void apply_system(kvm_sregs& s, const gdb::X86Registers& regs);
// Whether the x87/SSE part differs, and writing it into an XSAVE image, with the x87 and SSE bits
// of XSTATE_BV set (or XRSTOR would load their init state instead).
bool fpu_differs(const gdb::X86Registers& a, const gdb::X86Registers& b);
void apply_fpu(kvm_xsave& x, const gdb::X86Registers& regs);

}  // namespace hvk::machine
