#include "hv/vtl_switch.h"

namespace hvk::hv {

namespace {
constexpr std::uint64_t kFastReturn = 1;
}

VtlTransfer interrupt_vtl_entry(Vp& vp, tlfs::Vtl vtl) {
  VtlTransfer t;
  t.from = vp.current_vtl();
  t.ud = vtl <= t.from || vtl > tlfs::kMaxVtl || !vp.vtl_enabled(vtl);
  if (t.ud) return t;
  t.to = vtl;
  t.first_entry = vp.vtl_context(vtl);
  vp.set_current_vtl(vtl);
  return t;
}

VtlTransfer transfer_vtl(Vp& vp, VtlDirection direction, ExecMode mode, std::uint8_t cpl,
                         std::uint64_t control_input) {
  VtlTransfer t;
  t.ud = true;
  if (mode == ExecMode::kReal || mode == ExecMode::kVirtual8086 || cpl != 0) return t;
  const tlfs::Vtl from = vp.current_vtl();
  t.from = from;
  std::optional<tlfs::Vtl> to;
  if (direction == VtlDirection::kCall) {
    if (control_input != 0) return t;
    for (tlfs::Vtl v = static_cast<tlfs::Vtl>(from + 1); v <= tlfs::kMaxVtl; ++v) {
      if (vp.vtl_enabled(v)) {
        to = v;
        break;
      }
    }
  } else {
    if ((control_input & ~kFastReturn) != 0 || from == 0) return t;
    t.fast = (control_input & kFastReturn) != 0;
    for (tlfs::Vtl v = from; v-- > 0;) {
      if (vp.vtl_enabled(v)) {
        to = v;
        break;
      }
    }
  }
  if (!to) return t;
  t.ud = false;
  t.to = *to;
  t.first_entry = vp.vtl_context(*to);
  if (direction == VtlDirection::kReturn) {
    t.released_tlb_locks = vp.release_tlb_locks(from);
    t.drop_init_sipi = true;  // `from` is above `to` and enabled
  }
  vp.set_current_vtl(*to);
  return t;
}

}  // namespace hvk::hv
