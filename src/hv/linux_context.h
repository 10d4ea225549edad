// The HV_INITIAL_VP_CONTEXT a Linux VTL-mode kernel builds for a secondary CPU
// (arch/x86/hyperv/hv_vtl.c): 64-bit code from the boot CPU's GDT, control registers copied.
#pragma once

#include <cstdint>

#include "hvk/tlfs/vp_context.h"

namespace hvk::hv {

struct LinuxBootCpu {
  std::uint64_t cr0 = 0x8005'0033;  // PG WP NE ET MP PE
  std::uint64_t cr3 = 0x0100'0000;
  std::uint64_t cr4 = 0x0000'06b0;  // OSXMMEXCPT OSFXSR PGE PAE PSE
  std::uint64_t efer = 0x0d01;      // NXE LMA LME SCE
  std::uint64_t pat = 0x0007'0406'0007'0406ull;
  std::uint64_t gdt_base = 0xffff'8880'0000'1000ull;
  std::uint16_t gdt_limit = 0x7f;
  std::uint64_t idt_base = 0xffff'ffff'ff57'9000ull;
  std::uint16_t idt_limit = 0xfff;
};

constexpr tlfs::InitialVpContext linux_ap_context(std::uint64_t rip, std::uint64_t rsp,
                                                  const LinuxBootCpu& cpu = {}) {
  tlfs::InitialVpContext c{};
  c.rip = rip;
  c.rsp = rsp;
  c.rflags = 0x2;
  c.cs = {0, 0xffff'ffff, 0x10, 0xa09b};
  c.ss = {0, 0xffff'ffff, 0x18, 0xc093};
  c.ds = c.es = c.fs = c.gs = c.ss;
  c.ldtr = {0, 0, 0, 0x82};      // LDT, present, empty
  c.tr = {0, 0x67, 0x40, 0x8b};  // busy 64-bit TSS
  c.gdtr = {{0, 0, 0}, cpu.gdt_limit, cpu.gdt_base};
  c.idtr = {{0, 0, 0}, cpu.idt_limit, cpu.idt_base};
  c.efer = cpu.efer;
  c.cr0 = cpu.cr0;
  c.cr3 = cpu.cr3;
  c.cr4 = cpu.cr4;
  c.msr_cr_pat = cpu.pat;
  return c;
}

}  // namespace hvk::hv
