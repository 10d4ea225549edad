// Virtual trust levels: HvCallEnablePartitionVtl (0x000D), HvCallEnableVpVtl (0x000F) and the VSM
// registers of HvCallGetVpRegisters (0x0050). Rules in docs/conformance.md, rows E, F, G.
#include "hv/calls.h"
#include "hv/context_check.h"
#include "hv/target.h"
#include "hv/vp_registers.h"
#include "hvk/tlfs/flush.h"
#include "hvk/tlfs/registers.h"

namespace hvk::hv {

using tlfs::Privilege;
using tlfs::RegisterName;
using tlfs::Status;

namespace {

// The highest VTL enabled on `p` below `vtl`.
tlfs::Vtl highest_enabled_below(const Partition& p, tlfs::Vtl vtl) {
  tlfs::Vtl v = vtl == 0 ? 0 : static_cast<tlfs::Vtl>(vtl - 1);
  while (v > 0 && !p.vtl_enabled(v)) --v;
  return v;
}

// TLFS: a VTL may enable a lower one, its own, or the next one up: a higher target only from the
// highest VTL enabled below it.
bool may_enable(const Partition& p, tlfs::Vtl caller, tlfs::Vtl target) {
  return caller >= target || caller == highest_enabled_below(p, target);
}

// The lower VTL an HvRegisterVsmVpSecureConfigVtlN names: N. It exists for each VTL below the
// one whose register it is (the input VTL); another N is INVALID_PARAMETER (conformance G9).
tlfs::Vtl secure_config_vtl(std::uint32_t name) {
  return static_cast<tlfs::Vtl>(name - static_cast<std::uint32_t>(RegisterName::kVsmVpSecureConfigVtl0));
}

// The checks Get/SetVpRegisters share: the VP (resolve_vp), then the VTL its HV_INPUT_VTL names,
// which must be enabled on the partition and on the VP (else INVALID_VTL_STATE).
struct RegisterTarget {
  Status status;
  VpTarget vp;
  tlfs::Vtl vtl;
};

RegisterTarget resolve_registers(const CallContext& ctx, const tlfs::VpRegistersHeader& h) {
  const VpTarget t = resolve_vp(ctx, h.partition_id, h.vp_index);
  if (t.status != Status::kSuccess) return {t.status, t, 0};
  const VtlTarget v = resolve_input_vtl(ctx, t.self, h.target_vtl);
  if (v.status != Status::kSuccess) return {v.status, t, 0};
  if (!t.partition->vtl_enabled(v.vtl) || !t.vp->vtl_enabled(v.vtl)) {
    return {Status::kInvalidVtlState, t, 0};
  }
  return {Status::kSuccess, t, v.vtl};
}

}  // namespace

Status enable_partition_vtl(CallContext& ctx, const tlfs::EnablePartitionVtlInput& in, NoOutput&) {
  if (!ctx.partition.privileges().has(Privilege::kAccessVsm)) return Status::kAccessDenied;
  const Target t = resolve_partition(ctx, in.partition_id);
  if (t.status != Status::kSuccess) return t.status;
  Partition& p = *t.partition;
  if (p.state() != PartitionState::kActive) return Status::kInvalidPartitionState;
  // No MBEC (VsmCapabilities says so), and no other flag is defined. The RsvdZ bytes are the
  // caller's to zero and are not looked at (conformance E3). VTL 0 is not a VTL one enables.
  if (in.flags != 0) return Status::kInvalidParameter;
  if (in.target_vtl == 0 || in.target_vtl > p.max_vtl()) return Status::kInvalidParameter;
  const tlfs::Vtl caller = t.self ? ctx.vtl : tlfs::kMaxVtl;
  if (!may_enable(p, caller, in.target_vtl)) return Status::kAccessDenied;
  if (p.vtl_enabled(in.target_vtl)) return Status::kVtlAlreadyEnabled;
  if (p.backend() != nullptr && !p.backend()->prepare_vtl(in.target_vtl)) {
    return Status::kInsufficientMemory;
  }
  return p.enable_vtl(in.target_vtl) ? Status::kSuccess : Status::kVtlAlreadyEnabled;
}

Status enable_vp_vtl(CallContext& ctx, const tlfs::EnableVpVtlInput& in, NoOutput&) {
  if (!ctx.partition.privileges().has(Privilege::kAccessVsm)) return Status::kAccessDenied;
  const VpTarget t = resolve_vp(ctx, in.partition_id, in.vp_index);
  if (t.status != Status::kSuccess) return t.status;
  Partition& p = *t.partition;
  Vp* vp = t.vp;
  // Bytes 13-15 (RsvdZ) are not looked at (conformance E6). VTL 0 is not a VTL one enables.
  if (in.target_vtl == 0) return Status::kInvalidParameter;
  if (in.target_vtl > p.max_vtl() || !p.vtl_enabled(in.target_vtl)) return Status::kInvalidVtlState;
  const tlfs::Vtl caller = t.self ? ctx.vtl : tlfs::kMaxVtl;
  if (!may_enable(p, caller, in.target_vtl)) return Status::kAccessDenied;
  // Once a VP has the VTL, only that VTL or a higher one may enable it on others (conformance E11).
  const bool from_below = caller < in.target_vtl;
  if (from_below && p.vp_vtl_marked(in.target_vtl)) return Status::kAccessDenied;
  if (vp->vtl_enabled(in.target_vtl)) return Status::kVtlAlreadyEnabled;
  if (check_initial_context(in.vp_context, p.cpu_limits()) != ContextFault::kNone) {
    return Status::kInvalidRegisterValue;
  }
  if (p.backend() != nullptr && !p.backend()->prepare_vp_vtl(vp->index(), in.target_vtl)) {
    return Status::kInsufficientMemory;
  }
  // A lower caller claims the VTL's first VP; of two racing, one loses with ACCESS_DENIED.
  if (!p.mark_vp_vtl(in.target_vtl) && from_below) return Status::kAccessDenied;
  return vp->enable_vtl(in.target_vtl, in.vp_context) ? Status::kSuccess
                                                      : Status::kVtlAlreadyEnabled;
}

RepResult get_vp_registers(CallContext& ctx, const tlfs::VpRegistersHeader& h,
                           RepInput<tlfs::GetVpRegistersElement> names,
                           RepOutput<tlfs::RegisterValue> values) {
  if (!ctx.partition.privileges().has(Privilege::kAccessVpRegisters)) {
    return {Status::kAccessDenied, 0};
  }
  const RegisterTarget r = resolve_registers(ctx, h);
  if (r.status != Status::kSuccess) return {r.status, 0};
  const Partition& p = *r.vp.partition;
  const Vp* vp = r.vp.vp;
  const tlfs::Vtl vtl = r.vtl;
  const VpTarget& t = r.vp;

  for (std::size_t i = 0; i < names.size(); ++i) {
    tlfs::RegisterValue v{0, 0};
    switch (static_cast<RegisterName>(names[i])) {
      case RegisterName::kVsmVpStatus:
        // ActiveVtl 3:0 · ActiveMbec 4 · EnabledVtlSet 31:16.
        v.low = vp->current_vtl() | (std::uint64_t{vp->enabled_vtl_set()} << 16);
        break;
      case RegisterName::kVsmPartitionStatus:
        // EnabledVtlSet 15:0 · MaximumVtl 19:16.
        v.low = p.enabled_vtl_set() | (std::uint64_t{p.max_vtl()} << 16);
        break;
      case RegisterName::kVsmPartitionConfig:
        v.low = p.vsm_config(vtl);
        break;
      case RegisterName::kVsmCodePageOffsets:
        v.low = p.vsm_code_page_offsets();
        break;
      case RegisterName::kVsmCapabilities:
        v.low = 0;  // no MBEC, no optional VSM features
        break;
      case RegisterName::kVsmVpSecureConfigVtl0:
      case RegisterName::kVsmVpSecureConfigVtl1: {
        const auto lower = secure_config_vtl(names[i]);
        if (lower >= vtl) return {Status::kInvalidParameter, static_cast<std::uint16_t>(i)};
        v.low = vp->secure_config(vtl, lower);
        break;
      }
      default: {
        const auto name = static_cast<RegisterName>(names[i]);
        if (!is_general_register(name)) {
          return {Status::kInvalidParameter, static_cast<std::uint16_t>(i)};
        }
        // Another VP is running on its own thread: hvk reads only the caller's own registers.
        if (!t.self || vp != &ctx.vp || ctx.state == nullptr) {
          return {Status::kInvalidVpState, static_cast<std::uint16_t>(i)};
        }
        v = *read_register(ctx.state->context(vtl), name);
        break;
      }
    }
    values.set(i, v);
  }
  return {Status::kSuccess, static_cast<std::uint16_t>(names.size())};
}

}  // namespace hvk::hv

namespace hvk::hv {

namespace {
// HvRegisterVsmPartitionConfig bits hvk accepts: EnableVtlProtection 0,
// DefaultVtlProtectionMask 4:1, ZeroMemoryOnReset 5, DenyLowerVtlStartup 6,
// InterceptAcceptance 7, InterceptEnableVtlProtection 8, InterceptVpStartup 9,
// InterceptCpuidUnimplemented 10, InterceptUnrecoverableException 11, InterceptPage 12.
constexpr std::uint64_t kVsmPartitionConfigMask = 0x1FFF;
}  // namespace

RepResult set_vp_registers(CallContext& ctx, const tlfs::VpRegistersHeader& h,
                           RepInput<tlfs::SetVpRegistersElement> elements, RepOutput<NoOutput>) {
  if (!ctx.partition.privileges().has(Privilege::kAccessVpRegisters)) {
    return {Status::kAccessDenied, 0};
  }
  const RegisterTarget r = resolve_registers(ctx, h);
  if (r.status != Status::kSuccess) return {r.status, 0};
  Partition& p = *r.vp.partition;
  const Vp* vp = r.vp.vp;
  const tlfs::Vtl vtl = r.vtl;
  const VpTarget& t = r.vp;

  for (std::size_t i = 0; i < elements.size(); ++i) {
    const tlfs::SetVpRegistersElement e = elements[i];
    const auto done = static_cast<std::uint16_t>(i);
    switch (static_cast<RegisterName>(e.name)) {
      case RegisterName::kVsmPartitionConfig:
        // Each VTL above 0 configures itself; VTL 0 has no VSM configuration.
        if (vtl == 0) return {Status::kInvalidParameter, done};
        if ((e.value.low & ~kVsmPartitionConfigMask) != 0 || e.value.high != 0) {
          return {Status::kInvalidParameter, done};
        }
        if (p.write_vsm_config(vtl, e.value.low)) vtl_protection_enabled(p, vtl);
        break;
      case RegisterName::kVsmVpSecureConfigVtl0:
      case RegisterName::kVsmVpSecureConfigVtl1: {
        // TlbLocked only: no MBEC (VsmCapabilities.MbecVtlMask is 0), the rest ReservedZ (G9).
        const tlfs::Vtl lower = secure_config_vtl(e.name);
        if (lower >= vtl || e.value.high != 0 ||
            (e.value.low & ~tlfs::secure_vtl_config::kTlbLocked) != 0) {
          return {Status::kInvalidParameter, done};
        }
        const std::uint64_t before = r.vp.vp->set_secure_config(vtl, lower, e.value.low);
        const bool unlocked = (before & ~e.value.low & tlfs::secure_vtl_config::kTlbLocked) != 0;
        if (unlocked && p.backend() != nullptr) p.backend()->tlb_locks_released();
        break;
      }
      default: {
        const auto name = static_cast<RegisterName>(e.name);
        if (!is_general_register(name)) return {Status::kInvalidParameter, done};
        if (!t.self || vp != &ctx.vp || ctx.state == nullptr) {
          return {Status::kInvalidVpState, done};
        }
        tlfs::InitialVpContext c = ctx.state->context(vtl);
        write_register(c, name, e.value);
        if (check_initial_context(c, p.cpu_limits()) != ContextFault::kNone) {
          return {Status::kInvalidRegisterValue, done};
        }
        ctx.state->set_context(vtl, c);
        break;
      }
    }
  }
  return {Status::kSuccess, static_cast<std::uint16_t>(elements.size())};
}

}  // namespace hvk::hv
