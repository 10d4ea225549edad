// Random choices for one call: the code, the control word, partition ids, VP indexes, VTLs,
// APIC IDs and register names, each mostly valid and otherwise wrong in the ways the TLFS rows
// name.
#include "picks.h"

namespace hostile {

using tlfs::HypercallControl;

std::uint16_t pick_code(Rng& r) {
  static constexpr std::uint16_t kUnknown[] = {
      0x0000, 0x0001, 0x000A, 0x0010, 0x0011, 0x0012,
      0x0044, 0x0045, 0x0048, 0x004E, 0x0053, 0x0098, 0x009B, 0x00AF, 0x8001, 0xFFFF};
  // StartVp, VpIndex, Init, Finalize, Delete, PartitionId, NextChild, EnablePartitionVtl,
  // EnableVpVtl, GetRegs, SetRegs, then unknown codes from the list and any code at all.
  static constexpr unsigned kWeights[] = {8, 12, 4, 4, 4, 6, 6, 6, 7, 13, 13, 10, 5};
  const unsigned i = weighted(r, kWeights);
  if (i < shape_count()) return shape_at(i).code;
  if (i == shape_count()) return kUnknown[r.below(sizeof kUnknown / sizeof kUnknown[0])];
  // Any code the model has no shape for, except the two SynIC calls hvk has (their rules, Y1 and
  // Y24-Y27, are synic_send.cc's, not rule A4's) and HvCallSendSyntheticClusterIpi, whose random
  // vectors would land on this guest's own VPs (rows I1-I4 are checked by unit tests), and
  // HvCallTranslateVirtualAddress and the flush calls, whose results this model does not
  // predict (rows X1-X7, L1-L7: unit tests and the dispatcher fuzz target), and the Ex forms of
  // the flush and IPI calls (rows V1-V4, the same), and HvCallModifyVtlProtectionMask, which
  // would take this guest's own memory from it (rows K1-K10: unit tests and hyperv_vsm).
  for (;;) {
    const auto code = static_cast<std::uint16_t>(r.next());
    if (code == static_cast<std::uint16_t>(tlfs::CallCode::kPostMessage) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kSignalEvent) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kSendSyntheticClusterIpi) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kTranslateVirtualAddress) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kFlushVirtualAddressSpace) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kFlushVirtualAddressList) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kFlushVirtualAddressSpaceEx) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kFlushVirtualAddressListEx) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kSendSyntheticClusterIpiEx) ||
        code == static_cast<std::uint16_t>(tlfs::CallCode::kModifyVtlProtectionMask)) {
      continue;
    }
    if (shape_of(code) == nullptr) return code;
  }
}

std::uint64_t make_control(Rng& r, const Shape* s, std::uint16_t code, bool fast) {
  std::uint64_t c = code;
  if (fast) c |= 1ull << 16;
  std::uint16_t count = 0, start = 0;
  if (s != nullptr && s->rep && r.percent(85)) {
    // Mostly lists that fit a page; sometimes any count up to 4095.
    const unsigned fit =
        s->out_elem != 0 ? (kPage / s->out_elem) : ((kPage - s->in_size) / s->in_elem);
    const unsigned fit_in = (kPage - s->in_size) / s->in_elem;
    const unsigned max_fit = fit < fit_in ? fit : fit_in;
    // Long lists cost the guest time to build and check: few of them.
    const unsigned kind = static_cast<unsigned>(r.below(100));
    count = static_cast<std::uint16_t>(kind < 85   ? 1 + r.below(8)
                                       : kind < 95 ? 1 + r.below(64 < max_fit ? 64 : max_fit)
                                       : kind < 97 ? 1 + r.below(max_fit)
                                                   : 1 + r.below(HypercallControl::kMaxRep));
    start = r.percent(65) ? 0 : static_cast<std::uint16_t>(r.below(count));
  } else if (s != nullptr && s->rep) {
    // Wrong rep shapes (A10): no elements, or a start at or past the count.
    count = static_cast<std::uint16_t>(r.percent(40) ? 0 : r.below(HypercallControl::kMaxRep));
    start = static_cast<std::uint16_t>(count + r.below(HypercallControl::kMaxRep + 1 - count));
  } else if (r.percent(8)) {
    // A simple call (or an unknown code) with rep fields (A9).
    count = static_cast<std::uint16_t>(r.below(HypercallControl::kMaxRep + 1));
    start = static_cast<std::uint16_t>(r.below(HypercallControl::kMaxRep + 1));
  }
  c |= (std::uint64_t{count} & 0xFFF) << 32 | (std::uint64_t{start} & 0xFFF) << 48;
  if (r.percent(2)) c |= (1 + r.below(0x3FF)) << 17;  // variable header (A8)
  if (r.percent(2)) {
    static constexpr unsigned kReserved[] = {27, 28, 29, 30, 44, 45, 46, 47, 60, 61, 62, 63};
    c |= 1ull << kReserved[r.below(12)];  // A6
  }
  if (r.percent(1)) c |= 1ull << 31;  // nested (A7)
  return c;
}

std::uint64_t pick_pid(Rng& r, bool allow_child) {
  const Env& e = env();
  static constexpr unsigned kWeights[] = {40, 20, 5, 7, 3, 6, 5, 14};
  switch (weighted(r, kWeights)) {
    case 0:
      return tlfs::kPartitionIdSelf;
    case 1:
      return e.own_id;
    case 2:
      return 0;
    case 3: {
      // Never created: ids are handed out in order (P9), so above every id the guest knows.
      std::uint64_t top = e.own_id > e.parent_id ? e.own_id : e.parent_id;
      for (std::uint32_t i = 0; i < e.children; ++i) {
        if (e.child_part[i].id > top) top = e.child_part[i].id;
      }
      return top + 1 + r.below(1000);
    }
    case 4:
      return tlfs::kPartitionIdSelf - 1;
    case 5:
      return r.next();
    case 6:
      return e.parent_id != 0 ? e.parent_id : r.next();
    default:
      if (allow_child && e.children != 0) return e.child_part[r.below(e.children)].id;
      return tlfs::kPartitionIdSelf;
  }
}

std::uint32_t pick_vp(Rng& r, const Worker& w) {
  const std::uint32_t n = env().vps;
  static constexpr unsigned kWeights[] = {30, 20, 25, 5, 5, 5, 10};
  switch (weighted(r, kWeights)) {
    case 0:
      return w.index;
    case 1:
      return tlfs::kVpIndexSelf;
    case 2:
      return static_cast<std::uint32_t>(r.below(n));
    case 3:
      return n;
    case 4:
      return n + static_cast<std::uint32_t>(r.below(100));
    case 5:
      return 0xFFFF'FFFFu;
    default:
      return static_cast<std::uint32_t>(r.next());
  }
}

std::uint8_t pick_vtl(Rng& r) {
  static constexpr unsigned kWeights[] = {80, 8, 5, 3, 4};
  const unsigned i = weighted(r, kWeights);
  return static_cast<std::uint8_t>(i < 4 ? i : r.next());
}

std::uint8_t pick_input_vtl(Rng& r) {
  static constexpr unsigned kWeights[] = {65, 15, 6, 4, 6, 4};
  switch (weighted(r, kWeights)) {
    case 0:
      return tlfs::InputVtl::current().raw;
    case 1:
      return tlfs::InputVtl::target(0).raw;
    case 2:
      return tlfs::InputVtl::target(1).raw;
    case 3:
      return tlfs::InputVtl::target(2).raw;
    case 4:
      return static_cast<std::uint8_t>(r.next() | 0x20);  // a reserved bit (V3)
    default:
      return static_cast<std::uint8_t>(r.next());
  }
}

std::uint32_t pick_apic(Rng& r) {
  const std::uint32_t n = env().vps;
  if (r.percent(85)) return static_cast<std::uint32_t>(r.below(n));
  static constexpr unsigned kWeights[] = {3, 3, 2, 2};
  switch (weighted(r, kWeights)) {
    case 0:
      return n;
    case 1:
      return n + static_cast<std::uint32_t>(r.below(1000));
    case 2:
      return 0xFFFF'FFFFu;
    default:
      return static_cast<std::uint32_t>(r.next());
  }
}

std::uint32_t pick_get_name(Rng& r) {
  using N = tlfs::RegisterName;
  static constexpr N kVsm[] = {N::kVsmCodePageOffsets, N::kVsmVpStatus, N::kVsmPartitionStatus,
                               N::kVsmCapabilities, N::kVsmPartitionConfig};
  static constexpr N kGeneral[] = {N::kRsp,  N::kRip, N::kRflags, N::kCr0,  N::kCr3,  N::kCr4,
                                   N::kEs,   N::kCs,  N::kSs,     N::kDs,   N::kFs,   N::kGs,
                                   N::kLdtr, N::kTr,  N::kIdtr,   N::kGdtr, N::kEfer, N::kPat};
  static constexpr unsigned kWeights[] = {30, 45, 5, 20};
  switch (weighted(r, kWeights)) {
    case 0:
      return static_cast<std::uint32_t>(kVsm[r.below(5)]);
    case 1:
      return static_cast<std::uint32_t>(kGeneral[r.below(18)]);
    case 2:
      return static_cast<std::uint32_t>(r.percent(50) ? N::kVsmVina : N::kVsmVpSecureConfigVtl0);
    default:
      return r.percent(50) ? static_cast<std::uint32_t>(r.next())
                           : static_cast<std::uint32_t>(kGeneral[r.below(18)]) + 0x100;
  }
}

}  // namespace hostile
