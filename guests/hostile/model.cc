// What docs/conformance.md allows for one call. The dispatcher's rows come first and decide alone
// (A4-A15: the code, the control word, the fast-call fit, the GPAs). Past them, a handler's rows
// decide exactly wherever the input and the partition's fixed facts do (privileges, which ids
// exist, the VP count, the caller's VTL 0, the identity register values); where the answer
// depends on state other VPs change at random (VTLs enabled, a child's life), the call's status
// must still be one its rows list.
#include "calls.h"

namespace hostile {

namespace {

using tlfs::HypercallControl;
using tlfs::Privilege;
using S = Status;

constexpr StatusSet kStartSet =
    set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId, S::kInvalidPartitionState,
           S::kInvalidVpIndex, S::kInvalidVtlState, S::kInvalidVpState, S::kInvalidRegisterValue);
constexpr StatusSet kVpIndexSet =
    set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId, S::kInvalidPartitionState,
           S::kInvalidParameter, S::kInvalidVtlState);
constexpr StatusSet kLifeSet =
    set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId, S::kInvalidPartitionState);
constexpr StatusSet kDeleteSet = set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId);
constexpr StatusSet kEnablePartitionSet =
    set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId, S::kInvalidPartitionState,
           S::kInvalidParameter, S::kVtlAlreadyEnabled);
constexpr StatusSet kEnableVpSet =
    set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId, S::kInvalidPartitionState,
           S::kInvalidVpIndex, S::kInvalidParameter, S::kInvalidVtlState, S::kVtlAlreadyEnabled,
           S::kInvalidRegisterValue);
constexpr StatusSet kGetRegsSet =
    set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId, S::kInvalidPartitionState,
           S::kInvalidVpIndex, S::kInvalidParameter, S::kInvalidVtlState, S::kInvalidVpState);
constexpr StatusSet kSetRegsSet = kGetRegsSet | one(S::kInvalidRegisterValue);

const Shape kShapes[] = {
    {0x0099, kClsStartVp, false, true, 240, 0, 0, 0, kStartSet, "StartVirtualProcessor"},
    {0x009A, kClsVpIndex, true, false, 16, 0, 4, 4, kVpIndexSet, "GetVpIndexFromApicId"},
    {0x0041, kClsInit, false, true, 8, 0, 0, 0, kLifeSet, "InitializePartition"},
    {0x0042, kClsFinalize, false, true, 8, 0, 0, 0, kLifeSet, "FinalizePartition"},
    {0x0043, kClsDelete, false, true, 8, 0, 0, 0, kDeleteSet, "DeletePartition"},
    {0x0046, kClsPartitionId, false, false, 0, 8, 0, 0, set_of(S::kSuccess, S::kAccessDenied),
     "GetPartitionId"},
    {0x0047, kClsNextChild, false, false, 16, 8, 0, 0,
     set_of(S::kSuccess, S::kAccessDenied, S::kInvalidPartitionId), "GetNextChildPartition"},
    {0x000D, kClsEnablePartitionVtl, false, true, 16, 0, 0, 0, kEnablePartitionSet,
     "EnablePartitionVtl"},
    {0x000F, kClsEnableVpVtl, false, true, 240, 0, 0, 0, kEnableVpSet, "EnableVpVtl"},
    {0x0050, kClsGetRegs, true, false, 16, 0, 4, 16, kGetRegsSet, "GetVpRegisters"},
    {0x0051, kClsSetRegs, true, true, 16, 0, 32, 0, kSetRegsSet, "SetVpRegisters"},
};

Expect exact(Status s, int reps, const char* rule) {
  return {one(s), reps, false, rule};
}

enum class Pid { kSelf, kChild, kNever };

Pid classify(std::uint64_t id) {
  const Env& e = env();
  if (id == tlfs::kPartitionIdSelf || id == e.own_id) return Pid::kSelf;
  for (std::uint32_t i = 0; i < e.children; ++i) {
    if (id == e.child_part[i].id) return Pid::kChild;
  }
  return Pid::kNever;  // 0, unknown ids, the parent, a sibling: ids the caller may not name
}

bool has(Privilege p) {
  return env().privs.has(p);
}

// The VP a self-partition call names, or kVpCount for none (S8).
std::uint32_t resolve_vp(std::uint32_t vp, const Worker& w) {
  if (vp == tlfs::kVpIndexSelf) return w.index;
  return vp < env().vps ? vp : env().vps;
}

// HvCallStartVirtualProcessor / HvCallEnableVpVtl inputs (S1-S17, E1-E9).
Expect start_like(const Call& c, const Worker& w, int start) {
  const std::uint8_t* in = c.bytes;
  const auto pid = load<std::uint64_t>(in);
  const auto vp = load<std::uint32_t>(in + 8);
  const std::uint8_t vtl = in[12];
  const bool enable = c.shape->code == 0x000F;
  const Env& e = env();
  if (!has(enable ? Privilege::kAccessVsm : Privilege::kStartVirtualProcessor)) {
    return exact(S::kAccessDenied, start, enable ? "E1" : "S3");
  }
  const Pid p = classify(pid);
  if (p == Pid::kNever) return exact(S::kInvalidPartitionId, start, enable ? "E2/S4" : "S4");
  if (p == Pid::kChild) return {c.shape->handler, start, false, "child partition (rows S4-S17)"};
  const std::uint32_t idx = resolve_vp(vp, w);
  if (idx >= e.vps) return exact(S::kInvalidVpIndex, start, enable ? "E2/S8" : "S8");
  if (enable) {
    // E6: the RsvdZ bytes are not looked at.
    if (vtl == 0) return exact(S::kInvalidParameter, start, "E12");
    if (vtl > e.max_vtl) return exact(S::kInvalidVtlState, start, "E7");
    StatusSet s = set_of(S::kInvalidVtlState, S::kAccessDenied, S::kVtlAlreadyEnabled,
                         S::kInvalidRegisterValue, S::kSuccess);
    if (c.bad_context) s &= ~one(S::kSuccess);
    return {s, start, false, "E4/E5/E7/E8/E9/E11"};
  }
  if (vtl > 0) return exact(S::kAccessDenied, start, "S9 (above the caller's VTL 0)");
  if (idx == w.index || e.all_started) return exact(S::kInvalidVpState, start, "S13");
  // A VP of this partition that may not have been started yet (a child's other VPs).
  if (c.bad_context)
    return {set_of(S::kInvalidVpState, S::kInvalidRegisterValue), start, false, "S13/S15"};
  return {set_of(S::kInvalidVpState, S::kInvalidRegisterValue, S::kSuccess), start, false,
          "S13/S15/S17"};
}

// HvCallEnablePartitionVtl (E1-E5), memory or fast form (the same 16 bytes).
Expect enable_partition(const Call& c) {
  const std::uint8_t* in = c.bytes;
  const auto pid = load<std::uint64_t>(in);
  const std::uint8_t vtl = in[8];
  const std::uint8_t flags = in[9];
  if (!has(Privilege::kAccessVsm)) return exact(S::kAccessDenied, 0, "E1");
  const Pid p = classify(pid);
  if (p == Pid::kNever) return exact(S::kInvalidPartitionId, 0, "E2/S4");
  if (p == Pid::kChild) return {c.shape->handler, 0, false, "child partition (rows E2-E5)"};
  // The RsvdZ bytes 10-15 are not looked at (E3).
  if (flags != 0) return exact(S::kInvalidParameter, 0, "E3 (flags)");
  if (vtl > env().max_vtl) return exact(S::kInvalidParameter, 0, "E3 (above the maximum)");
  if (vtl == 0) return exact(S::kInvalidParameter, 0, "E12");
  return {set_of(S::kSuccess, S::kAccessDenied, S::kVtlAlreadyEnabled), 0, false, "E4/E5"};
}

// Initialize/Finalize/Delete (P2, P3): the guest never names a child here outside the events.
Expect lifecycle(const Call& c) {
  const auto pid = load<std::uint64_t>(c.bytes);
  if (!has(Privilege::kCpuManagement)) return exact(S::kAccessDenied, 0, "P2");
  if (classify(pid) != Pid::kChild) return exact(S::kInvalidPartitionId, 0, "P3");
  return {c.shape->handler, 0, false, "P4-P6 (a child)"};
}

Expect vp_index(const Call& c, int start, int count) {
  const std::uint8_t* in = c.bytes;
  const auto pid = load<std::uint64_t>(in);
  const tlfs::InputVtl ivtl{in[8]};
  const Pid p = classify(pid);
  if (p == Pid::kNever) return exact(S::kInvalidPartitionId, start, "V2/S4");
  if (p == Pid::kChild) return {c.shape->handler, -1, false, "V2 (a child)"};
  if (ivtl.reserved_set()) return exact(S::kInvalidParameter, start, "V3");
  if (ivtl.use_target_vtl() && ivtl.target_vtl() > 0) return exact(S::kAccessDenied, start, "V4");
  for (int i = start; i < count; ++i) {
    // APIC ID = VP index (M3); anything at or above the VP count is unknown.
    if (load<std::uint32_t>(in + 16 + 4 * i) >= env().vps) {
      return exact(S::kInvalidParameter, i, "V6");
    }
  }
  return exact(S::kSuccess, count, "V1/V7");
}

Expect vp_registers(const Call& c, const Worker& w, int start, int count) {
  const std::uint8_t* in = c.bytes;
  const bool set = c.shape->code == 0x0051;
  const auto pid = load<std::uint64_t>(in);
  const auto vp = load<std::uint32_t>(in + 8);
  const tlfs::InputVtl ivtl{in[12]};
  if (!has(Privilege::kAccessVpRegisters)) return exact(S::kAccessDenied, start, "E1");
  const Pid p = classify(pid);
  if (p == Pid::kNever) return exact(S::kInvalidPartitionId, start, "E2/S4");
  if (p == Pid::kChild) return {c.shape->handler, -1, false, "G1 (a child)"};
  const std::uint32_t idx = resolve_vp(vp, w);
  if (idx >= env().vps) return exact(S::kInvalidVpIndex, start, "E2/S8");
  if (ivtl.reserved_set()) return exact(S::kInvalidParameter, start, "G1 (HV_INPUT_VTL)");
  if (ivtl.use_target_vtl() && ivtl.target_vtl() > 0) {
    return exact(S::kAccessDenied, start, "G1 (above the caller's VTL)");
  }
  const bool other = idx != w.index;
  for (int i = start; i < count; ++i) {
    const std::uint8_t* e = in + 16 + (set ? 32 : 4) * i;
    const auto name = load<std::uint32_t>(e);
    if (!set) {
      if (reg_is_vsm_readable(name)) continue;
      if (!reg_is_general(name)) return exact(S::kInvalidParameter, i, "G3");
      if (other) return exact(S::kInvalidVpState, i, "G8");
      continue;
    }
    if (name == static_cast<std::uint32_t>(tlfs::RegisterName::kVsmPartitionConfig)) {
      return exact(S::kInvalidParameter, i, "G4 (VTL 0 has no configuration)");
    }
    if (!reg_is_general(name)) return exact(S::kInvalidParameter, i, "G3");
    if (other) return exact(S::kInvalidVpState, i, "G8");
    if (!reg_is_identity(w, name, load<tlfs::RegisterValue>(e + 16))) {
      return exact(S::kInvalidRegisterValue, i, "G7 (table R)");
    }
  }
  return exact(S::kSuccess, count, set ? "G7" : "G2/G6");
}

}  // namespace

const Shape* shape_of(std::uint16_t code) {
  for (const Shape& s : kShapes) {
    if (s.code == code) return &s;
  }
  return nullptr;
}

const Shape& shape_at(unsigned i) {
  return kShapes[i % shape_count()];
}

unsigned shape_count() {
  return sizeof kShapes / sizeof kShapes[0];
}

bool gpa_ok(std::uint64_t gpa, std::uint64_t len) {
  if (gpa % 8 != 0) return false;                 // A13
  if ((gpa % kPage) + len > kPage) return false;  // A14
  const std::uint64_t end = env().ram_end;        // A15, overflow-safe
  return gpa < end && len <= end - gpa;
}

std::uint64_t input_len(const Shape& s, tlfs::HypercallControl c) {
  return s.in_size + (s.rep ? std::uint64_t{c.rep_count()} * s.in_elem : 0);
}

std::uint64_t output_len(const Shape& s, tlfs::HypercallControl c) {
  return s.rep ? std::uint64_t{c.rep_count()} * s.out_elem : s.out_size;
}

bool content_known(const Call& c) {
  if (c.shape == nullptr) return false;
  const HypercallControl ctl{c.control};
  return ctl.fast() || input_len(*c.shape, ctl) == 0 || c.bytes != nullptr;
}

Expect predict(const Call& c, const Worker& w) {
  const HypercallControl ctl{c.control};
  const Shape* s = c.shape;
  if (s == nullptr) return {one(S::kInvalidHypercallCode), 0, true, "A4"};
  if (ctl.reserved_bits() != 0) return {one(S::kInvalidHypercallInput), 0, true, "A6"};
  if (ctl.nested()) return {one(S::kInvalidHypercallInput), 0, true, "A7"};
  if (ctl.var_header_qwords() != 0) return {one(S::kInvalidHypercallInput), 0, true, "A8"};
  const int count = ctl.rep_count();
  const int start = ctl.rep_start();
  if (s->rep ? (count == 0 || start >= count) : (count != 0 || start != 0)) {
    return {one(S::kInvalidHypercallInput), 0, true, s->rep ? "A10" : "A9"};
  }
  const std::uint64_t in_len = input_len(*s, ctl);
  const std::uint64_t out_len = output_len(*s, ctl);
  const int before = s->rep ? start : 0;
  if (ctl.fast()) {
    // A11: the input, then the output from the next 16-byte chunk, within RDX, R8 and XMM0-5.
    if (in_len > 112 || (out_len != 0 && (in_len + 15) / 16 * 16 + out_len > 112)) {
      return {one(S::kInvalidHypercallInput), 0, true, "A11"};
    }
  } else {
    if (in_len != 0 && !gpa_ok(c.input, in_len)) {
      return {one(S::kInvalidAlignment), before, true, "A13-A15 (input)"};
    }
    if (out_len != 0 && !gpa_ok(c.output, out_len)) {
      return {one(S::kInvalidAlignment), before, true, "A13-A15 (output)"};
    }
  }
  if (!content_known(c)) return {s->handler, -1, false, "the call's rows (input not the guest's)"};
  switch (s->code) {
    case 0x0099:
    case 0x000F:
      return start_like(c, w, 0);
    case 0x009A:
      return vp_index(c, start, count);
    case 0x0041:
    case 0x0042:
    case 0x0043:
      return lifecycle(c);
    case 0x0046:
      return has(Privilege::kAccessPartitionId) ? exact(S::kSuccess, 0, "P8")
                                                : exact(S::kAccessDenied, 0, "P8");
    case 0x0047: {
      if (!has(Privilege::kCpuManagement)) return exact(S::kAccessDenied, 0, "P7");
      const auto parent = load<std::uint64_t>(c.bytes);
      if (classify(parent) != Pid::kSelf) return exact(S::kInvalidPartitionId, 0, "P7");
      return exact(S::kSuccess, 0, "P7");
    }
    case 0x000D:
      return enable_partition(c);
    case 0x0050:
    case 0x0051:
      return vp_registers(c, w, start, count);
    default:
      return {s->handler, -1, false, "the call's rows"};
  }
}

}  // namespace hostile
