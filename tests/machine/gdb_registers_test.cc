// gdb's register file to and from KVM's structures (machine/debug/gdb_registers.h).
#include "machine/debug/gdb_registers.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

namespace hvk::machine {
namespace {

std::uint8_t* legacy(kvm_xsave& x) {
  return reinterpret_cast<std::uint8_t*>(x.region);
}

TEST(GdbRegisters, IntegerAndSystemRegistersInGdbsOrder) {
  kvm_regs r{};
  r.rax = 1, r.rbx = 2, r.rcx = 3, r.rdx = 4, r.rsi = 5, r.rdi = 6, r.rbp = 7, r.rsp = 8;
  r.r8 = 9, r.r15 = 16, r.rip = 0x1234, r.rflags = 0x246;
  kvm_sregs s{};
  s.cs.selector = 0x10, s.cs.base = 0x100, s.fs.base = 0xf5, s.gs.base = 0x65;
  s.cr0 = 0x80000011, s.cr3 = 0x9000, s.cr4 = 0x20, s.cr8 = 2, s.efer = 0x500;
  s.gdt.base = 0x5000, s.gdt.limit = 0x27, s.tr.selector = 0x28, s.tr.base = 0x7000;
  const gdb::X86Registers g = gdb_registers(r, s);
  EXPECT_EQ(g.gpr[0], 1u);
  EXPECT_EQ(g.gpr[1], 2u);  // rbx second, as gdb numbers them
  EXPECT_EQ(g.gpr[7], 8u);  // rsp eighth
  EXPECT_EQ(g.gpr[15], 16u);
  EXPECT_EQ(g.rip, 0x1234u);
  EXPECT_EQ(g.cs, 0x10);
  EXPECT_EQ(g.cs_base, 0x100u);
  EXPECT_EQ(g.fs_base, 0xf5u);
  EXPECT_EQ(g.gs_base, 0x65u);
  EXPECT_EQ(g.cr3, 0x9000u);
  EXPECT_EQ(g.cr8, 2u);
  EXPECT_EQ(g.efer, 0x500u);
  EXPECT_EQ(g.gdtr_limit, 0x27);
  EXPECT_EQ(g.tr, 0x28);
  EXPECT_EQ(g.tr_base, 0x7000u);
  EXPECT_EQ(g.fctrl, 0x37Fu);  // no FPU state given: the reset values
  EXPECT_EQ(g.ftag, 0xFFFFu);
  EXPECT_EQ(g.mxcsr, 0x1F80u);

  kvm_regs back{};
  back.rflags = 0xFFFF'FFFF'0000'0000ull;
  apply_integer(back, g);
  EXPECT_EQ(back.rbx, 2u);
  EXPECT_EQ(back.r15, 16u);
  EXPECT_EQ(back.rip, 0x1234u);
  EXPECT_EQ(back.rflags, 0xFFFF'FFFF'0000'0246ull);  // gdb's eflags has 32 bits

  kvm_sregs sback{};
  EXPECT_FALSE(system_differs(g, g));
  gdb::X86Registers changed = g;
  changed.cr3 = 0xA000;
  EXPECT_TRUE(system_differs(g, changed));
  apply_system(sback, changed);
  EXPECT_EQ(sback.cr3, 0xA000u);
  EXPECT_EQ(sback.cs.base, 0x100u);
  EXPECT_EQ(sback.tr.selector, 0x28);
  EXPECT_EQ(sback.gdt.limit, 0x27);
}

TEST(GdbRegisters, FpuFromTheLegacyAreaWithTheFullTagWord) {
  auto x = std::make_unique<kvm_xsave>();
  std::uint8_t* fx = legacy(*x);
  const std::uint16_t fsw = 6u << 11;  // TOP = 6: ST0 is physical register 6, ST1 register 7
  std::memcpy(fx + 2, &fsw, 2);
  fx[4] = (1u << 6) | (1u << 7);  // registers 6 and 7 in use
  // ST0 = 1.0 (valid), ST1 = 0.0 (zero).
  const std::uint64_t one_mantissa = 1ull << 63;
  const std::uint16_t one_exponent = 0x3FFF;
  std::memcpy(fx + 32, &one_mantissa, 8);
  std::memcpy(fx + 40, &one_exponent, 2);
  const std::uint32_t mxcsr = 0x1FA0;
  std::memcpy(fx + 24, &mxcsr, 4);
  fx[160 + 16 * 3] = 0xAB;  // XMM3's first byte
  gdb::X86Registers g;
  add_fpu(g, *x);
  EXPECT_EQ(g.fstat, fsw);
  // Physical 0-5 empty (3), 6 valid (0), 7 zero (1).
  EXPECT_EQ(g.ftag, 0x0FFFu | (0u << 12) | (1u << 14));
  EXPECT_EQ(g.st[0][9], 0x3F);
  EXPECT_EQ(g.mxcsr, 0x1FA0u);
  EXPECT_EQ(g.xmm[3][0], 0xAB);

  auto out = std::make_unique<kvm_xsave>();
  EXPECT_FALSE(fpu_differs(g, g));
  apply_fpu(*out, g);
  std::uint8_t* ofx = legacy(*out);
  EXPECT_EQ(ofx[4], (1u << 6) | (1u << 7));  // the abridged tag again
  EXPECT_EQ(std::memcmp(ofx + 32, fx + 32, 10), 0);
  EXPECT_EQ(ofx[160 + 16 * 3], 0xAB);
  std::uint64_t bv = 0;
  std::memcpy(&bv, ofx + 512, 8);
  EXPECT_EQ(bv & 3u, 3u);  // x87 and SSE in use, or XRSTOR would load their init state
  gdb::X86Registers again;
  add_fpu(again, *out);
  EXPECT_FALSE(fpu_differs(g, again));
}

}  // namespace
}  // namespace hvk::machine
