#include "machine/debug/gdb_registers.h"

#include <cstddef>
#include <cstring>
#include <tuple>

namespace hvk::machine {

namespace {

// The XSAVE legacy area (the FXSAVE image) and its header's XSTATE_BV.
constexpr std::size_t kFxFcw = 0, kFxFsw = 2, kFxFtw = 4, kFxFop = 6, kFxFip = 8, kFxFcs = 12,
                      kFxFdp = 16, kFxFds = 20, kFxMxcsr = 24, kFxSt = 32, kFxXmm = 160,
                      kXstateBv = 512;
constexpr std::uint64_t kXstateX87Sse = 0x3;

template <class T>
T load(const std::uint8_t* p) {
  T v{};
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(std::uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// The x87 tag of a non-empty register (SDM vol. 1, 8.1.7): valid 0, zero 1, special 2.
std::uint32_t x87_tag(const std::uint8_t* st) {
  const auto mantissa = load<std::uint64_t>(st);
  const auto exponent = static_cast<std::uint16_t>(load<std::uint16_t>(st + 8) & 0x7FFF);
  if (exponent == 0x7FFF) return 2;
  if (exponent == 0) return mantissa == 0 ? 1 : 2;
  return (mantissa >> 63) ? 0 : 2;
}

auto system_part(const gdb::X86Registers& a) {
  return std::tuple{a.cs,        a.ss,         a.ds,        a.es,         a.fs,      a.gs,
                    a.fs_base,   a.gs_base,    a.cr0,       a.cr2,        a.cr3,     a.cr4,
                    a.cr8,       a.efer,       a.cs_base,   a.ss_base,    a.ds_base, a.es_base,
                    a.gdtr_base, a.gdtr_limit, a.idtr_base, a.idtr_limit, a.tr,      a.tr_base,
                    a.ldtr,      a.ldtr_base};
}
auto fpu_part(const gdb::X86Registers& a) {
  return std::tuple{a.st,    a.fctrl, a.fstat, a.ftag, a.fiseg, a.fioff,
                    a.foseg, a.fooff, a.fop,   a.xmm,  a.mxcsr};
}

}  // namespace

gdb::X86Registers gdb_registers(const kvm_regs& r, const kvm_sregs& s) {
  gdb::X86Registers g;
  g.gpr = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp,
           r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  g.rip = r.rip;
  g.rflags = r.rflags;
  g.cs = s.cs.selector, g.ss = s.ss.selector, g.ds = s.ds.selector;
  g.es = s.es.selector, g.fs = s.fs.selector, g.gs = s.gs.selector;
  g.fs_base = s.fs.base, g.gs_base = s.gs.base;
  g.cr0 = s.cr0, g.cr2 = s.cr2, g.cr3 = s.cr3, g.cr4 = s.cr4, g.cr8 = s.cr8, g.efer = s.efer;
  g.cs_base = s.cs.base, g.ss_base = s.ss.base, g.ds_base = s.ds.base, g.es_base = s.es.base;
  g.gdtr_base = s.gdt.base, g.gdtr_limit = s.gdt.limit;
  g.idtr_base = s.idt.base, g.idtr_limit = s.idt.limit;
  g.tr = s.tr.selector, g.tr_base = s.tr.base;
  g.ldtr = s.ldt.selector, g.ldtr_base = s.ldt.base;
  g.fctrl = 0x37F, g.ftag = 0xFFFF, g.mxcsr = 0x1F80;
  return g;
}

void add_fpu(gdb::X86Registers& g, const kvm_xsave& x) {
  const auto* fx = reinterpret_cast<const std::uint8_t*>(x.region);
  g.fctrl = load<std::uint16_t>(fx + kFxFcw);
  g.fstat = load<std::uint16_t>(fx + kFxFsw);
  const std::uint8_t abridged = fx[kFxFtw];
  const unsigned top = (g.fstat >> 11) & 7;
  std::uint32_t tag = 0;
  for (unsigned phys = 0; phys < 8; ++phys) {
    const std::size_t st = (phys - top) & 7;  // the stack slot physical register `phys` holds
    const std::uint32_t t = (abridged & (1u << phys)) ? x87_tag(fx + kFxSt + 16 * st) : 3;
    tag |= t << (2 * phys);
  }
  g.ftag = tag;
  g.fop = load<std::uint16_t>(fx + kFxFop);
  g.fioff = load<std::uint32_t>(fx + kFxFip);
  g.fiseg = load<std::uint16_t>(fx + kFxFcs);
  g.fooff = load<std::uint32_t>(fx + kFxFdp);
  g.foseg = load<std::uint16_t>(fx + kFxFds);
  g.mxcsr = load<std::uint32_t>(fx + kFxMxcsr);
  for (std::size_t i = 0; i < 8; ++i) std::memcpy(g.st[i].data(), fx + kFxSt + 16 * i, 10);
  for (std::size_t i = 0; i < 16; ++i) std::memcpy(g.xmm[i].data(), fx + kFxXmm + 16 * i, 16);
}

void apply_integer(kvm_regs& r, const gdb::X86Registers& g) {
  r.rax = g.gpr[0], r.rbx = g.gpr[1], r.rcx = g.gpr[2], r.rdx = g.gpr[3];
  r.rsi = g.gpr[4], r.rdi = g.gpr[5], r.rbp = g.gpr[6], r.rsp = g.gpr[7];
  r.r8 = g.gpr[8], r.r9 = g.gpr[9], r.r10 = g.gpr[10], r.r11 = g.gpr[11];
  r.r12 = g.gpr[12], r.r13 = g.gpr[13], r.r14 = g.gpr[14], r.r15 = g.gpr[15];
  r.rip = g.rip;
  r.rflags = (r.rflags & ~0xFFFF'FFFFull) | (g.rflags & 0xFFFF'FFFFull);
}

bool system_differs(const gdb::X86Registers& a, const gdb::X86Registers& b) {
  return system_part(a) != system_part(b);
}

void apply_system(kvm_sregs& s, const gdb::X86Registers& g) {
  s.cs.selector = g.cs, s.ss.selector = g.ss, s.ds.selector = g.ds;
  s.es.selector = g.es, s.fs.selector = g.fs, s.gs.selector = g.gs;
  s.fs.base = g.fs_base, s.gs.base = g.gs_base;
  s.cr0 = g.cr0, s.cr2 = g.cr2, s.cr3 = g.cr3, s.cr4 = g.cr4, s.cr8 = g.cr8, s.efer = g.efer;
  s.cs.base = g.cs_base, s.ss.base = g.ss_base, s.ds.base = g.ds_base, s.es.base = g.es_base;
  s.gdt.base = g.gdtr_base, s.gdt.limit = g.gdtr_limit;
  s.idt.base = g.idtr_base, s.idt.limit = g.idtr_limit;
  s.tr.selector = g.tr, s.tr.base = g.tr_base;
  s.ldt.selector = g.ldtr, s.ldt.base = g.ldtr_base;
}

bool fpu_differs(const gdb::X86Registers& a, const gdb::X86Registers& b) {
  return fpu_part(a) != fpu_part(b);
}

void apply_fpu(kvm_xsave& x, const gdb::X86Registers& g) {
  auto* fx = reinterpret_cast<std::uint8_t*>(x.region);
  store(fx + kFxFcw, static_cast<std::uint16_t>(g.fctrl));
  store(fx + kFxFsw, static_cast<std::uint16_t>(g.fstat));
  std::uint8_t abridged = 0;
  for (unsigned phys = 0; phys < 8; ++phys) {
    if (((g.ftag >> (2 * phys)) & 3) != 3) abridged |= static_cast<std::uint8_t>(1u << phys);
  }
  fx[kFxFtw] = abridged;
  store(fx + kFxFop, static_cast<std::uint16_t>(g.fop));
  store(fx + kFxFip, g.fioff);
  store(fx + kFxFcs, static_cast<std::uint16_t>(g.fiseg));
  store(fx + kFxFdp, g.fooff);
  store(fx + kFxFds, static_cast<std::uint16_t>(g.foseg));
  store(fx + kFxMxcsr, g.mxcsr);
  for (std::size_t i = 0; i < 8; ++i) std::memcpy(fx + kFxSt + 16 * i, g.st[i].data(), 10);
  for (std::size_t i = 0; i < 16; ++i) std::memcpy(fx + kFxXmm + 16 * i, g.xmm[i].data(), 16);
  store(fx + kXstateBv, load<std::uint64_t>(fx + kXstateBv) | kXstateX87Sse);
}

}  // namespace hvk::machine
