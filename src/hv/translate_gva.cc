#include "hv/translate_gva.h"

#include <array>
#include <cstring>

#include "hv/calls.h"
#include "hv/target.h"

namespace hvk::hv {

namespace {

using tlfs::TranslateGvaResultCode;

constexpr std::uint64_t kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr0Wp = 1ull << 16;
constexpr std::uint64_t kCr4Pse = 1ull << 4;
constexpr std::uint64_t kCr4Pae = 1ull << 5;
constexpr std::uint64_t kCr4La57 = 1ull << 12;
constexpr std::uint64_t kCr4Smep = 1ull << 20;
constexpr std::uint64_t kCr4Smap = 1ull << 21;
constexpr std::uint64_t kEferLma = 1ull << 10;
constexpr std::uint64_t kEferNxe = 1ull << 11;

constexpr std::uint64_t kP = 1u << 0;
constexpr std::uint64_t kRw = 1u << 1;
constexpr std::uint64_t kUs = 1u << 2;
constexpr std::uint64_t kPs = 1u << 7;
constexpr std::uint64_t kNx = 1ull << 63;
constexpr std::uint64_t kAddr = 0x000F'FFFF'FFFF'F000ull;  // bits 51:12

// What the levels of one walk allow, ANDed (writable, user) or ORed (no-execute) on the way.
struct Rights {
  bool writable = true;
  bool user = true;
  bool no_execute = false;
  void add(std::uint64_t entry, bool nxe) {
    writable = writable && (entry & kRw) != 0;
    user = user && (entry & kUs) != 0;
    no_execute = no_execute || (nxe && (entry & kNx) != 0);
  }
};

bool read_entry(const GuestMemory& m, std::uint64_t gpa, unsigned size, std::uint64_t& out) {
  std::array<std::byte, 8> b{};
  if (!m.read(gpa, std::span(b).first(size))) return false;
  out = 0;
  std::memcpy(&out, b.data(), size);
  return true;
}

GvaWalk fail(TranslateGvaResultCode code) {
  return {code, 0};
}

// The checks of a successful walk, then the final page (which must be RAM).
GvaWalk finish(const GuestMemory& m, const tlfs::InitialVpContext& c, const Rights& r,
               std::uint64_t gpa, const GvaAccess& a) {
  if (a.check_privilege && a.user && !r.user) return fail(TranslateGvaResultCode::kPrivilegeViolation);
  if (a.write && !r.writable && (a.user || (c.cr0 & kCr0Wp) != 0)) {
    return fail(TranslateGvaResultCode::kPrivilegeViolation);
  }
  if (a.execute && r.no_execute) return fail(TranslateGvaResultCode::kPrivilegeViolation);
  if (a.check_privilege && !a.user && r.user) {
    if (a.execute && (c.cr4 & kCr4Smep) != 0) {
      return fail(TranslateGvaResultCode::kPrivilegeViolation);
    }
    if (!a.execute && a.enforce_smap && (c.cr4 & kCr4Smap) != 0) {
      return fail(TranslateGvaResultCode::kPrivilegeViolation);
    }
  }
  if (!m.contains(gpa & ~0xFFFull, 4096)) return fail(TranslateGvaResultCode::kGpaUnmapped);
  return {TranslateGvaResultCode::kSuccess, gpa};
}

GvaWalk walk_32bit(const GuestMemory& m, const tlfs::InitialVpContext& c, std::uint32_t gva,
                   const GvaAccess& a) {
  Rights r;
  std::uint64_t pde = 0;
  if (!read_entry(m, (c.cr3 & 0xFFFF'F000u) + std::uint64_t{(gva >> 22) & 0x3FFu} * 4, 4, pde)) {
    return fail(TranslateGvaResultCode::kGpaUnmapped);
  }
  if ((pde & kP) == 0) return fail(TranslateGvaResultCode::kPageNotPresent);
  r.add(pde, false);
  if ((pde & kPs) != 0 && (c.cr4 & kCr4Pse) != 0) {
    // A 4 MiB page: bits 31:22, and PSE-36's bits 39:32 in PDE bits 20:13.
    const std::uint64_t base = (pde & 0xFFC0'0000u) | ((pde >> 13) & 0xFF) << 32;
    return finish(m, c, r, base | (gva & 0x3F'FFFFu), a);
  }
  std::uint64_t pte = 0;
  if (!read_entry(m, (pde & 0xFFFF'F000u) + std::uint64_t{(gva >> 12) & 0x3FFu} * 4, 4, pte)) {
    return fail(TranslateGvaResultCode::kGpaUnmapped);
  }
  if ((pte & kP) == 0) return fail(TranslateGvaResultCode::kPageNotPresent);
  r.add(pte, false);
  return finish(m, c, r, (pte & 0xFFFF'F000u) | (gva & 0xFFFu), a);
}

// PAE and 4- and 5-level paging: 8-byte entries, 9 index bits per level.
GvaWalk walk_64bit_entries(const GuestMemory& m, const tlfs::InitialVpContext& c,
                           std::uint64_t gva, const GvaAccess& a) {
  const bool nxe = (c.efer & kEferNxe) != 0;
  const bool long_mode = (c.efer & kEferLma) != 0;
  Rights r;
  std::uint64_t table = 0;
  int level = 0;  // the level whose table `table` is: 5, 4, 3 (PDPT), 2 (PD), 1 (PT)
  if (!long_mode) {
    // PAE: four PDPTEs at CR3 bits 31:5, no rights of their own.
    std::uint64_t pdpte = 0;
    if (!read_entry(m, (c.cr3 & 0xFFFF'FFE0u) + ((gva >> 30) & 3) * 8, 8, pdpte)) {
      return fail(TranslateGvaResultCode::kGpaUnmapped);
    }
    if ((pdpte & kP) == 0) return fail(TranslateGvaResultCode::kPageNotPresent);
    if ((pdpte & 0x1E6u) != 0 || (pdpte & kNx) != 0) {  // bits 1, 2, 5-8 and 63 are reserved
      return fail(TranslateGvaResultCode::kInvalidPageTableFlags);
    }
    table = pdpte & kAddr;
    level = 2;
  } else {
    const bool la57 = (c.cr4 & kCr4La57) != 0;
    // Canonical: the bits above the top index bit all equal it.
    const unsigned top = la57 ? 56 : 47;
    const std::uint64_t high = gva >> top;
    if (high != 0 && high != (~0ull >> top)) return fail(TranslateGvaResultCode::kPageNotPresent);
    table = c.cr3 & kAddr;
    level = la57 ? 5 : 4;
  }
  for (; level >= 1; --level) {
    const unsigned shift = 12 + 9 * static_cast<unsigned>(level - 1);
    std::uint64_t e = 0;
    if (!read_entry(m, table + ((gva >> shift) & 0x1FF) * 8, 8, e)) {
      return fail(TranslateGvaResultCode::kGpaUnmapped);
    }
    if ((e & kP) == 0) return fail(TranslateGvaResultCode::kPageNotPresent);
    // Reserved: the no-execute bit without EFER.NXE; PS in a PML5E or PML4E.
    if ((!nxe && (e & kNx) != 0) || (level >= 4 && (e & kPs) != 0)) {
      return fail(TranslateGvaResultCode::kInvalidPageTableFlags);
    }
    r.add(e, nxe);
    if (level == 1 || (level <= 3 && (e & kPs) != 0)) {
      // A page: 4 KiB at level 1, 2 MiB at level 2, 1 GiB at level 3 (bit 12 up is PAT there).
      const std::uint64_t size_mask = (1ull << shift) - 1;
      const std::uint64_t base = level == 1 ? (e & kAddr) : (e & kAddr & ~size_mask);
      return finish(m, c, r, base | (gva & size_mask), a);
    }
    table = e & kAddr;
  }
  return fail(TranslateGvaResultCode::kPageNotPresent);  // not reached
}

}  // namespace

GvaWalk walk_gva(const GuestMemory& memory, const tlfs::InitialVpContext& context,
                 std::uint64_t gva, const GvaAccess& access) {
  if ((context.cr0 & kCr0Pg) == 0) {
    // No paging: the linear address is the physical one (32 bits), with no rights to check.
    const std::uint64_t gpa = gva & 0xFFFF'FFFFu;
    if (!memory.contains(gpa & ~0xFFFull, 4096)) return fail(TranslateGvaResultCode::kGpaUnmapped);
    return {TranslateGvaResultCode::kSuccess, gpa};
  }
  if ((context.cr4 & kCr4Pae) == 0) {
    return walk_32bit(memory, context, static_cast<std::uint32_t>(gva), access);
  }
  return walk_64bit_entries(memory, context, gva, access);
}

}  // namespace hvk::hv

// HvCallTranslateVirtualAddress (0x0052).
namespace hvk::hv {

namespace {

namespace f = tlfs::translate_flags;

constexpr std::uint64_t kMsrEnable = 1;
constexpr std::uint64_t kPageMask = ~0xFFFull;

// Pages hvk lays over guest RAM: every VTL's hypercall and reference TSC pages, and the VP's
// assist, SynIC message and event flags pages (conformance X7).
bool is_overlay(const Partition& p, const Vp& vp, std::uint64_t gpa_page) {
  const std::uint64_t page = gpa_page << 12;
  for (tlfs::Vtl v = 0; v <= tlfs::kMaxVtl; ++v) {
    const Synic& synic = vp.synic(v).synic;
    for (const std::uint64_t msr : {p.hypercall_msr(v), p.reference_tsc_msr(v),
                                    vp.vp_assist_page(v), synic.simp(), synic.siefp()}) {
      if ((msr & kMsrEnable) != 0 && (msr & kPageMask) == page) return true;
    }
  }
  return false;
}

}  // namespace

tlfs::Status translate_virtual_address(CallContext& ctx, const tlfs::TranslateVirtualAddressInput& in,
                                       tlfs::TranslateVirtualAddressOutput& out) {
  using tlfs::Status;
  const VpTarget t = resolve_vp(ctx, in.partition_id, in.vp_index);
  if (t.status != Status::kSuccess) return t.status;
  const std::uint64_t flags = in.control_flags;
  // Bits 55:11 are reserved; setting A/D bits and shadow-stack walks hvk does not offer; an access
  // cannot be both user and supervisor.
  const std::uint64_t low = flags & ((1ull << f::kInputVtlShift) - 1);
  if ((low & ~f::kDefined) != 0 || (low & (f::kSetPageTableBits | f::kShadowStack)) != 0 ||
      ((low & f::kUserAccess) != 0 && (low & f::kSupervisorAccess) != 0)) {
    return Status::kInvalidParameter;
  }
  const tlfs::InputVtl input_vtl{static_cast<std::uint8_t>(flags >> f::kInputVtlShift)};
  const VtlTarget v = resolve_input_vtl(ctx, t.self, input_vtl);
  if (v.status != Status::kSuccess) return v.status;
  if (!t.partition->vtl_enabled(v.vtl) || !t.vp->vtl_enabled(v.vtl)) return Status::kInvalidVtlState;
  // The walk needs the VP's control registers: hvk reads only the caller's own (as G8).
  if (!t.self || t.vp != &ctx.vp || ctx.state == nullptr) return Status::kInvalidVpState;
  const tlfs::InitialVpContext c = ctx.state->context(v.vtl);
  GvaAccess access;
  access.write = (low & f::kValidateWrite) != 0;
  access.execute = (low & f::kValidateExecute) != 0;
  access.check_privilege = (low & f::kPrivilegeExempt) == 0;
  // The access mode named, or else the VP's own: CPL 3 (the CS selector's RPL) is user.
  access.user = (low & f::kUserAccess) != 0 ||
                ((low & f::kSupervisorAccess) == 0 && (c.cs.selector & 3) == 3);
  access.enforce_smap = (low & f::kEnforceSmap) != 0 && (low & f::kOverrideSmap) == 0;
  const GuestMemory* mem = ctx.partition.memory();
  if (mem == nullptr) return Status::kInvalidVpState;
  const GvaWalk w = walk_gva(*mem, c, in.gva_page << 12, access);
  out = {};
  out.result_code = w.code;
  if (w.code == tlfs::TranslateGvaResultCode::kSuccess) {
    out.gpa_page = w.gpa >> 12;
    out.attributes = tlfs::kCacheTypeWriteBack |
                     (is_overlay(*t.partition, *t.vp, out.gpa_page) ? 1u << 8 : 0u);
  }
  return Status::kSuccess;
}

}  // namespace hvk::hv
