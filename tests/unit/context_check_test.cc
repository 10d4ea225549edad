// INVALID_REGISTER_VALUE rules: what a real CPU refuses at VM entry.
#include "hv/context_check.h"

#include <gtest/gtest.h>

#include "hv/linux_context.h"

namespace hvk::hv {
namespace {

using F = ContextFault;

tlfs::InitialVpContext long_mode() {
  return linux_ap_context(0xffff'ffff'8100'0000ull, 0x9000);
}

// Flat 32-bit protected mode, as a child image with no GDT of its own might be started.
tlfs::InitialVpContext protected_mode(bool paging) {
  tlfs::InitialVpContext c{};
  c.rip = 0x10'0000;
  c.rsp = 0x8'0000;
  c.rflags = 0x2;
  c.cs = {0, 0xFFFF'FFFF, 0x8, 0xC09B};  // 32-bit code, D=1
  c.ds = c.es = c.fs = c.gs = c.ss = {0, 0xFFFF'FFFF, 0x10, 0xC093};
  c.tr = {0, 0x67, 0x18, 0x8B};
  c.cr0 = paging ? 0x8000'0011 : 0x11;
  c.cr3 = paging ? 0x1000 : 0;
  c.cr4 = paging ? 0x10 : 0;  // PSE
  c.msr_cr_pat = 0x0007'0406'0007'0406ull;
  return c;
}

CpuLimits limits(std::uint8_t phys = 46, bool la57 = false) {
  return {phys, la57};
}

TEST(ContextCheck, AcceptsLinuxLongModeAndFlatProtectedMode) {
  EXPECT_EQ(check_initial_context(long_mode(), limits()), F::kNone);
  EXPECT_EQ(check_initial_context(protected_mode(false), limits()), F::kNone);
  EXPECT_EQ(check_initial_context(protected_mode(true), limits()), F::kNone);
}

TEST(ContextCheck, RflagsBit1MustBeSetAndReservedBitsClear) {
  auto c = long_mode();
  c.rflags = 0;
  EXPECT_EQ(check_initial_context(c, limits()), F::kRflagsReserved);
  for (unsigned bit : {3u, 5u, 15u, 22u, 40u, 63u}) {
    c.rflags = 0x2 | (1ull << bit);
    EXPECT_EQ(check_initial_context(c, limits()), F::kRflagsReserved) << bit;
  }
  c.rflags = 0x2 | (1ull << 9) | (1ull << 21);  // IF, ID: fine
  EXPECT_EQ(check_initial_context(c, limits()), F::kNone);
  c.rflags = 0x2 | (1ull << 17);
  EXPECT_EQ(check_initial_context(c, limits()), F::kRflagsVm);
}

TEST(ContextCheck, Cr0Rules) {
  auto c = long_mode();
  c.cr0 |= 1ull << 32;
  EXPECT_EQ(check_initial_context(c, limits()), F::kCr0Reserved);
  c = protected_mode(false);
  c.cr0 = 0x8000'0000;  // PG without PE
  EXPECT_EQ(check_initial_context(c, limits()), F::kCr0PgWithoutPe);
  c = protected_mode(false);
  c.cr0 |= 1ull << 29;  // NW without CD
  EXPECT_EQ(check_initial_context(c, limits()), F::kCr0NwWithoutCd);
  c.cr0 |= 1ull << 30;  // NW with CD is legal
  EXPECT_EQ(check_initial_context(c, limits()), F::kNone);
}

TEST(ContextCheck, Cr4ReservedBitsAndLa57) {
  auto c = long_mode();
  for (unsigned bit : {15u, 25u, 31u, 32u, 63u}) {
    c = long_mode();
    c.cr4 |= 1ull << bit;
    EXPECT_EQ(check_initial_context(c, limits()), F::kCr4Reserved) << bit;
  }
  c = long_mode();
  c.cr4 |= 1ull << 12;  // LA57
  EXPECT_EQ(check_initial_context(c, limits(46, false)), F::kCr4Reserved);
  EXPECT_EQ(check_initial_context(c, limits(46, true)), F::kNone);
}

TEST(ContextCheck, EferRules) {
  auto c = long_mode();
  for (unsigned bit : {1u, 9u, 12u, 14u, 20u, 63u}) {
    c = long_mode();
    c.efer |= 1ull << bit;
    EXPECT_EQ(check_initial_context(c, limits()), F::kEferReserved) << bit;
  }
  c = long_mode();
  c.efer &= ~(1ull << 10);  // LME and PG without LMA
  EXPECT_EQ(check_initial_context(c, limits()), F::kEferLmaMismatch);
  c = protected_mode(false);
  c.efer = 1ull << 10;  // LMA without LME
  EXPECT_EQ(check_initial_context(c, limits()), F::kEferLmaMismatch);
  c = protected_mode(false);
  c.efer = 1ull << 8;  // LME without paging: not yet active, legal
  EXPECT_EQ(check_initial_context(c, limits()), F::kNone);
  c = long_mode();
  c.cr4 &= ~(1ull << 5);
  EXPECT_EQ(check_initial_context(c, limits()), F::kLongModeWithoutPae);
}

TEST(ContextCheck, CsLongWithDefaultBig) {
  auto c = long_mode();
  c.cs.attributes |= tlfs::seg_attr::kDefaultBig;
  EXPECT_EQ(check_initial_context(c, limits()), F::kCsLongAndDefaultBig);
  // Outside long mode CS.L has no meaning and is not checked.
  c = protected_mode(false);
  c.cs.attributes |= tlfs::seg_attr::kLong;
  EXPECT_EQ(check_initial_context(c, limits()), F::kNone);
}

TEST(ContextCheck, Cr3WithinThePhysicalAddressWidth) {
  auto c = long_mode();
  c.cr3 = 1ull << 45;
  EXPECT_EQ(check_initial_context(c, limits(46)), F::kNone);
  c.cr3 = 1ull << 46;
  EXPECT_EQ(check_initial_context(c, limits(46)), F::kCr3BeyondPhysWidth);
  EXPECT_EQ(check_initial_context(c, limits(52)), F::kNone);
}

TEST(ContextCheck, PatMemoryTypes) {
  auto c = long_mode();
  for (std::uint64_t type : {0u, 1u, 4u, 5u, 6u, 7u}) {
    c.msr_cr_pat = type << 24;
    EXPECT_EQ(check_initial_context(c, limits()), F::kNone) << type;
  }
  for (std::uint64_t type : {2u, 3u, 8u, 0x10u, 0xFFu}) {
    c.msr_cr_pat = 0x0007'0406'0007'0406ull | (type << 56);
    EXPECT_EQ(check_initial_context(c, limits()), F::kPatReservedType) << type;
  }
}

TEST(ContextCheck, CanonicalAddressesInLongMode) {
  auto c = long_mode();
  c.rip = 0x0000'8000'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kRipNonCanonical);
  c.rip = 0x0000'7FFF'FFFF'FFFFull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kNone);
  c.rip = 0xFFFF'8000'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kNone);
  c.rip = 0x0000'8000'0000'0000ull;
  c.cr4 |= 1ull << 12;  // with LA57 the same address is canonical
  EXPECT_EQ(check_initial_context(c, limits(46, true)), F::kNone);

  c = long_mode();
  c.gdtr.base = 0x00F0'0000'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kTableBaseNonCanonical);
  c = long_mode();
  c.idtr.base = 0x8000'0000'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kTableBaseNonCanonical);
  for (auto member : {&tlfs::InitialVpContext::fs, &tlfs::InitialVpContext::gs,
                      &tlfs::InitialVpContext::tr, &tlfs::InitialVpContext::ldtr}) {
    c = long_mode();
    (c.*member).base = 0x0001'0000'0000'0000ull;
    EXPECT_EQ(check_initial_context(c, limits()), F::kSegmentBaseNonCanonical);
    (c.*member).base = 0xFFFF'FE00'0000'0000ull;
    EXPECT_EQ(check_initial_context(c, limits()), F::kNone);
  }
  // CS, SS, DS, ES bases must be below 4 GiB even in long mode.
  c = long_mode();
  c.ds.base = 0xFFFF'FE00'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kSegmentBaseNonCanonical);
}

TEST(ContextCheck, ThirtyTwoBitCodeNeedsAddressesBelow4GiB) {
  auto c = protected_mode(true);
  c.rip = 0x1'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kRipNonCanonical);
  c = protected_mode(true);
  c.gdtr.base = 0x1'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kTableBaseNonCanonical);
  c = protected_mode(true);
  c.fs.base = 0x1'0000'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kSegmentBaseNonCanonical);
  // Compatibility mode: long mode active, CS.L clear: RIP must fit 32 bits.
  c = long_mode();
  c.cs.attributes = 0xC09B;
  c.rip = 0xFFFF'FFFF'8100'0000ull;
  EXPECT_EQ(check_initial_context(c, limits()), F::kRipNonCanonical);
}

TEST(ContextCheck, EveryFaultHasAName) {
  for (int f = 0; f <= static_cast<int>(F::kSegmentBaseNonCanonical); ++f) {
    EXPECT_STRNE(context_fault_name(static_cast<F>(f)), "?");
  }
}

}  // namespace
}  // namespace hvk::hv
