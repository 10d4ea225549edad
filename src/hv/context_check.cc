#include "hv/context_check.h"

#include <cstdint>

namespace hvk::hv {

namespace {

namespace cr0 {
constexpr std::uint64_t kPe = 1ull << 0;
constexpr std::uint64_t kNw = 1ull << 29;
constexpr std::uint64_t kCd = 1ull << 30;
constexpr std::uint64_t kPg = 1ull << 31;
}  // namespace cr0

namespace cr4 {
constexpr std::uint64_t kPae = 1ull << 5;
constexpr std::uint64_t kLa57 = 1ull << 12;
// Defined bits: VME..SMXE (0-14), FSGSBASE (16), PCIDE (17), OSXSAVE (18), KL (19), SMEP (20),
// SMAP (21), PKE (22), CET (23), PKS (24). Bit 15 and bits 25 and up are refused.
constexpr std::uint64_t kDefined = 0x7FFFull | (0x1FFull << 16);
}  // namespace cr4

namespace efer {
constexpr std::uint64_t kSce = 1ull << 0;
constexpr std::uint64_t kLme = 1ull << 8;
constexpr std::uint64_t kLma = 1ull << 10;
constexpr std::uint64_t kNxe = 1ull << 11;
// hvk offers its guests no SVM, LMSLE, FFXSR or TCE: those bits are refused like reserved ones.
constexpr std::uint64_t kAllowed = kSce | kLme | kLma | kNxe;
}  // namespace efer

namespace rflags {
constexpr std::uint64_t kFixed1 = 1ull << 1;
constexpr std::uint64_t kVm = 1ull << 17;
// Reserved: 3, 5, 15, 63:22.
constexpr std::uint64_t kReserved = (1ull << 3) | (1ull << 5) | (1ull << 15) | (~0ull << 22);
}  // namespace rflags

bool canonical(std::uint64_t va, bool la57) {
  const unsigned bits = la57 ? 57 : 48;
  const auto sign = static_cast<std::int64_t>(va << (64 - bits)) >> (64 - bits);
  return static_cast<std::uint64_t>(sign) == va;
}

bool pat_ok(std::uint64_t pat) {
  for (unsigned i = 0; i < 8; ++i) {
    const auto type = static_cast<std::uint8_t>(pat >> (8 * i));
    // Valid memory types: UC 0, WC 1, WT 4, WP 5, WB 6, UC- 7; 2, 3 and 8+ are reserved.
    if (type > 7 || type == 2 || type == 3) return false;
  }
  return true;
}

}  // namespace

const char* context_fault_name(ContextFault f) {
  switch (f) {
    case ContextFault::kNone:
      return "none";
    case ContextFault::kRflagsReserved:
      return "RFLAGS reserved bits";
    case ContextFault::kRflagsVm:
      return "RFLAGS.VM (virtual-8086 mode)";
    case ContextFault::kCr0Reserved:
      return "CR0 reserved bits";
    case ContextFault::kCr0PgWithoutPe:
      return "CR0.PG without CR0.PE";
    case ContextFault::kCr0NwWithoutCd:
      return "CR0.NW without CR0.CD";
    case ContextFault::kCr4Reserved:
      return "CR4 reserved bits";
    case ContextFault::kEferReserved:
      return "EFER reserved bits";
    case ContextFault::kLongModeWithoutPae:
      return "long mode without CR4.PAE";
    case ContextFault::kEferLmaMismatch:
      return "EFER.LMA inconsistent with EFER.LME and CR0.PG";
    case ContextFault::kCsLongAndDefaultBig:
      return "CS.L together with CS.D";
    case ContextFault::kCr3BeyondPhysWidth:
      return "CR3 beyond the physical address width";
    case ContextFault::kPatReservedType:
      return "PAT entry with a reserved memory type";
    case ContextFault::kRipNonCanonical:
      return "RIP not a valid address for the code segment";
    case ContextFault::kTableBaseNonCanonical:
      return "GDTR/IDTR base not canonical";
    case ContextFault::kSegmentBaseNonCanonical:
      return "segment base not valid";
  }
  return "?";
}

ContextFault check_initial_context(const tlfs::InitialVpContext& c, const CpuLimits& cpu) {
  using F = ContextFault;
  if ((c.rflags & rflags::kReserved) != 0 || (c.rflags & rflags::kFixed1) == 0) {
    return F::kRflagsReserved;
  }
  if ((c.rflags & rflags::kVm) != 0) return F::kRflagsVm;
  if ((c.cr0 >> 32) != 0) return F::kCr0Reserved;
  if ((c.cr0 & cr0::kPg) != 0 && (c.cr0 & cr0::kPe) == 0) return F::kCr0PgWithoutPe;
  if ((c.cr0 & cr0::kNw) != 0 && (c.cr0 & cr0::kCd) == 0) return F::kCr0NwWithoutCd;
  if ((c.cr4 & ~cr4::kDefined) != 0) return F::kCr4Reserved;
  if ((c.cr4 & cr4::kLa57) != 0 && !cpu.la57) return F::kCr4Reserved;
  if ((c.efer & ~efer::kAllowed) != 0) return F::kEferReserved;

  const bool lme = (c.efer & efer::kLme) != 0;
  const bool lma = (c.efer & efer::kLma) != 0;
  const bool pg = (c.cr0 & cr0::kPg) != 0;
  if (lma != (lme && pg)) return F::kEferLmaMismatch;
  if (lma && (c.cr4 & cr4::kPae) == 0) return F::kLongModeWithoutPae;
  if (lma && c.cs.long_mode() && c.cs.default_big()) return F::kCsLongAndDefaultBig;

  const unsigned phys = cpu.phys_addr_bits;
  if (phys < 64 && (c.cr3 >> phys) != 0) return F::kCr3BeyondPhysWidth;
  if (!pat_ok(c.msr_cr_pat)) return F::kPatReservedType;

  const bool la57 = (c.cr4 & cr4::kLa57) != 0;
  const bool code64 = lma && c.cs.long_mode();
  if (code64 ? !canonical(c.rip, la57) : (c.rip >> 32) != 0) return F::kRipNonCanonical;
  if (lma) {
    if (!canonical(c.gdtr.base, la57) || !canonical(c.idtr.base, la57)) {
      return F::kTableBaseNonCanonical;
    }
    // VM entry: FS, GS, TR and LDTR bases canonical; CS, SS, DS, ES bases below 4 GiB.
    for (const tlfs::SegmentRegister* s : {&c.fs, &c.gs, &c.tr, &c.ldtr}) {
      if (!canonical(s->base, la57)) return F::kSegmentBaseNonCanonical;
    }
    for (const tlfs::SegmentRegister* s : {&c.cs, &c.ss, &c.ds, &c.es}) {
      if ((s->base >> 32) != 0) return F::kSegmentBaseNonCanonical;
    }
  } else {
    if ((c.gdtr.base >> 32) != 0 || (c.idtr.base >> 32) != 0) return F::kTableBaseNonCanonical;
    for (const tlfs::SegmentRegister* s :
         {&c.cs, &c.ds, &c.es, &c.fs, &c.gs, &c.ss, &c.tr, &c.ldtr}) {
      if ((s->base >> 32) != 0) return F::kSegmentBaseNonCanonical;
    }
  }
  return F::kNone;
}

}  // namespace hvk::hv
