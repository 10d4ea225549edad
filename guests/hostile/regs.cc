// The registers SetVpRegisters may name. A hostile guest cannot write random values into its own
// running VP and live, so each general register gets either its identity value (read once with
// GetVpRegisters: writing it back changes nothing) or a value table R refuses (so nothing
// changes either); which one was chosen is the model's to tell (G7).
#include "calls.h"

namespace hostile {

namespace {

using N = tlfs::RegisterName;

// Registers with an identity value, in Worker::ident order. RFLAGS' identity is 0x2: the call
// clobbers the arithmetic flags anyway, and interrupts stay off.
constexpr N kIdent[] = {N::kRflags, N::kCr0,  N::kCr3,  N::kCr4, N::kEs,   N::kCs,
                        N::kSs,     N::kDs,   N::kFs,   N::kGs,  N::kLdtr, N::kTr,
                        N::kIdtr,   N::kGdtr, N::kEfer, N::kPat};
constexpr unsigned kIdentCount = sizeof kIdent / sizeof kIdent[0];
static_assert(kIdentCount <= sizeof(Worker::ident) / sizeof(Worker::ident[0]));

constexpr std::uint32_t name_of(N n) {
  return static_cast<std::uint32_t>(n);
}

int ident_index(std::uint32_t name) {
  for (unsigned i = 0; i < kIdentCount; ++i) {
    if (name_of(kIdent[i]) == name) return static_cast<int>(i);
  }
  return -1;
}

bool is_segment(std::uint32_t name) {
  return name >= name_of(N::kEs) && name <= name_of(N::kTr);
}
bool is_table(std::uint32_t name) {
  return name == name_of(N::kIdtr) || name == name_of(N::kGdtr);
}

std::uint64_t non_canonical(Rng& r) {
  return 0x0000'8000'0000'0000ull | (r.next() & 0x7FFF'FFFF'FFFFull);  // bit 47 set, 63:48 clear
}

// A value for `name` that table R refuses, all else in the context unchanged.
tlfs::RegisterValue bad_value(Rng& r, std::uint32_t name, tlfs::RegisterValue v) {
  switch (static_cast<N>(name)) {
    case N::kRip:
      return {non_canonical(r), 0};  // R12
    case N::kRflags: {
      static constexpr std::uint64_t kBad[] = {0, 0x2 | 1u << 3, 0x2 | 1u << 5, 0x2 | 1u << 15,
                                               0x2 | 1u << 17};
      const unsigned i = static_cast<unsigned>(r.below(6));
      return {i < 5 ? kBad[i] : 0x2 | 1ull << (22 + r.below(42)), 0};  // R1, R2
    }
    case N::kCr0:
      return {v.low | 1ull << (32 + r.below(32)), 0};  // R3
    case N::kCr3:
      return {v.low | 1ull << (52 + r.below(11)), 0};  // R10 (bits at or above 52)
    case N::kCr4:
      return {v.low | (r.percent(50) ? 1ull << 15 : 1ull << (25 + r.below(39))), 0};  // R5
    case N::kEfer: {
      static constexpr unsigned kBits[] = {1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 20, 33, 63};
      return {v.low | 1ull << kBits[r.below(15)], 0};  // R6
    }
    case N::kPat: {
      const unsigned byte = static_cast<unsigned>(r.below(8));
      const std::uint64_t type = r.percent(50) ? 2 + r.below(2) : 8 + r.below(248);
      return {(v.low & ~(0xFFull << (8 * byte))) | type << (8 * byte), 0};  // R11
    }
    case N::kCs:
      if (r.percent(50)) return {v.low, v.high | (std::uint64_t{0x6000} << 48)};  // R9: L and D
      return {v.low | 1ull << (32 + r.below(15)), v.high};  // R13: base above 4 GiB
    case N::kEs:
    case N::kSs:
    case N::kDs:
      return {v.low | 1ull << (32 + r.below(15)), v.high};  // R13
    case N::kFs:
    case N::kGs:
    case N::kTr:
    case N::kLdtr:
      return {non_canonical(r), v.high};  // R13
    case N::kIdtr:
    case N::kGdtr:
      return {v.low, non_canonical(r)};  // R13 (TableRegister: base in the high half)
    default:
      return {r.next(), r.next()};
  }
}

}  // namespace

bool reg_is_general(std::uint32_t name) {
  return name == name_of(N::kRsp) || name == name_of(N::kRip) || ident_index(name) >= 0;
}

bool reg_is_vsm_readable(std::uint32_t name) {
  return name == name_of(N::kVsmCodePageOffsets) || name == name_of(N::kVsmVpStatus) ||
         name == name_of(N::kVsmPartitionStatus) || name == name_of(N::kVsmCapabilities) ||
         name == name_of(N::kVsmPartitionConfig);
}

bool reg_is_identity(const Worker& w, std::uint32_t name, const tlfs::RegisterValue& v) {
  const int i = ident_index(name);
  if (i < 0) return false;
  const tlfs::RegisterValue& id = w.ident[i];
  if (is_segment(name) || is_table(name)) return v.low == id.low && v.high == id.high;
  return v.low == id.low;  // scalars: hvk reads the low half only
}

tlfs::RegisterValue get_own_register(Worker& w, tlfs::RegisterName name) {
  struct {
    tlfs::VpRegistersHeader h;
    std::uint32_t name;
  } in{};
  in.h.partition_id = tlfs::kPartitionIdSelf;
  in.h.vp_index = tlfs::kVpIndexSelf;
  in.name = name_of(name);
  memcpy(w.in, &in, sizeof in);
  const std::uint64_t r = hostile_raw_call(hv_control(tlfs::CallCode::kGetVpRegisters, 1),
                                           reinterpret_cast<std::uint64_t>(w.in),
                                           reinterpret_cast<std::uint64_t>(w.in + kScratchOut));
  if (r != (1ull << 32)) {
    fail("GetVpRegisters(SELF, SELF, %s) at start-up: result 0x%lx, want SUCCESS with 1 rep",
         tlfs::register_name(name), r);
  }
  tlfs::RegisterValue v{};
  memcpy(&v, w.in + kScratchOut, sizeof v);
  return v;
}

void regs_init(Worker& w) {
  const auto cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4();
  const auto efer = rdmsr(kMsrEfer), pat = rdmsr(kMsrPat);
  const DescriptorTablePointer gdtr = sgdt(), idtr = sidt();
  for (unsigned i = 0; i < kIdentCount; ++i) {
    w.ident[i] = kIdent[i] == N::kRflags ? tlfs::RegisterValue{0x2, 0}
                                         : get_own_register(w, kIdent[i]);
  }
  // G6: the values are the CPU's own.
  const auto want = [&](N n, std::uint64_t low, std::uint64_t high, bool check_high) {
    const tlfs::RegisterValue& v = w.ident[ident_index(name_of(n))];
    if (v.low != low || (check_high && v.high != high)) {
      fail("G6: GetVpRegisters(%s) = 0x%lx:%016lx, the CPU says 0x%lx:%016lx",
           tlfs::register_name(n), v.high, v.low, high, low);
    }
  };
  want(N::kCr0, cr0, 0, false);
  want(N::kCr3, cr3, 0, false);
  want(N::kCr4, cr4, 0, false);
  want(N::kEfer, efer, 0, false);
  want(N::kPat, pat, 0, false);
  want(N::kGdtr, std::uint64_t{gdtr.limit} << 48, gdtr.base, true);
  want(N::kIdtr, std::uint64_t{idtr.limit} << 48, idtr.base, true);
}

RegChoice reg_choice(Worker& w) {
  Rng& r = w.rng;
  const unsigned kind = static_cast<unsigned>(r.below(100));
  if (kind < 65) {
    // A general register: the identity value (70%) or one table R refuses; RIP has only the latter.
    const unsigned i = static_cast<unsigned>(r.below(kIdentCount + 1));
    if (i == kIdentCount) return {name_of(N::kRip), bad_value(r, name_of(N::kRip), {}), true};
    const std::uint32_t name = name_of(kIdent[i]);
    if (r.percent(70)) return {name, w.ident[i], false};
    return {name, bad_value(r, name, w.ident[i]), true};
  }
  if (kind < 75) return {name_of(N::kVsmPartitionConfig), {r.below(0x4000), 0}, true};
  static constexpr N kOther[] = {N::kVsmVina,     N::kVsmVpSecureConfigVtl0, N::kVsmCodePageOffsets,
                                 N::kVsmVpStatus, N::kVsmCapabilities,       N::kRsp};
  const unsigned j = static_cast<unsigned>(r.below(8));
  // RSP has neither an identity (it moves) nor a value table R refuses: it is never set.
  std::uint32_t name = j < 6 ? name_of(kOther[j]) : static_cast<std::uint32_t>(r.next());
  if (name == name_of(N::kRsp) || ident_index(name) >= 0 || name == name_of(N::kRip)) {
    name = name_of(N::kVsmVina);
  }
  return {name, {r.next(), r.next()}, true};
}

void reg_check_read(const Worker& w, std::uint32_t name, const tlfs::RegisterValue& v) {
  const Env& e = env();
  switch (static_cast<N>(name)) {
    case N::kVsmVpStatus:
      // ActiveVtl 0 (nobody leaves VTL 0 here), VTL 0 in EnabledVtlSet.
      if ((v.low & 0xF) != 0 || ((v.low >> 16) & 1) == 0 || v.high != 0) {
        fail("G2: VsmVpStatus = 0x%lx:%016lx (want ActiveVtl 0, VTL 0 enabled)", v.high, v.low);
      }
      return;
    case N::kVsmPartitionStatus:
      if ((v.low & 1) == 0 || ((v.low >> 16) & 0xF) != e.max_vtl || v.high != 0) {
        fail("G2: VsmPartitionStatus = 0x%lx:%016lx (want VTL 0 enabled, MaximumVtl %u)", v.high,
             v.low, e.max_vtl);
      }
      return;
    case N::kVsmCodePageOffsets:
      if (v.low != e.code_page_offsets || v.high != 0) {
        fail("G5: VsmCodePageOffsets = 0x%lx:%016lx, first read 0x%lx", v.high, v.low,
             e.code_page_offsets);
      }
      return;
    case N::kVsmCapabilities:
    case N::kVsmPartitionConfig:
      if (v.low != 0 || v.high != 0) {
        fail("G2: %s = 0x%lx:%016lx, want 0 at VTL 0", tlfs::register_name(static_cast<N>(name)),
             v.high, v.low);
      }
      return;
    default:
      break;
  }
  const int i = ident_index(name);
  if (i <= 0) return;  // RFLAGS, RIP, RSP move; unknown names are not read
  if (!reg_is_identity(w, name, v)) {
    fail("G6: GetVpRegisters(%s) = 0x%lx:%016lx, it was 0x%lx:%016lx and nothing changed it",
         tlfs::register_name(static_cast<N>(name)), v.high, v.low, w.ident[i].high, w.ident[i].low);
  }
}

}  // namespace hostile
