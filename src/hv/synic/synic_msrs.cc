#include "hv/synic/synic_msrs.h"

namespace hvk::hv {

using tlfs::Privilege;

namespace {

MsrAccess gp() {
  MsrAccess a;
  a.gp = true;
  return a;
}
MsrAccess value(std::uint64_t v) {
  MsrAccess a;
  a.value = v;
  return a;
}

bool is_timer_msr(std::uint32_t index) {
  return index >= msr::kStimer0Config;
}

bool allowed(const Partition& p, std::uint32_t index) {
  return p.privileges().has(is_timer_msr(index) ? Privilege::kSyntheticTimerRegs
                                                : Privilege::kSynicRegs);
}

}  // namespace

MsrAccess read_synic_msr(const Partition& p, const Vp& vp, std::uint32_t index) {
  if (!allowed(p, index)) return gp();
  const VtlSynic& s = vp.synic(vp.current_vtl());
  if (is_timer_msr(index)) {
    const unsigned timer = (index - msr::kStimer0Config) / 2;
    return value(index % 2 == 0 ? s.timers.config(timer) : s.timers.count(timer));
  }
  switch (index) {
    case msr::kScontrol:
      return value(s.synic.scontrol());
    case msr::kSversion:
      return value(tlfs::kSynicVersion);
    case msr::kSiefp:
      return value(s.synic.siefp());
    case msr::kSimp:
      return value(s.synic.simp());
    case msr::kEom:
      return value(0);
    default:
      return value(s.synic.sint(index - msr::kSint0));
  }
}

MsrAccess write_synic_msr(Partition& p, Vp& vp, std::uint32_t index, std::uint64_t v) {
  if (!allowed(p, index)) return gp();
  const tlfs::Vtl vtl = vp.current_vtl();
  VtlSynic& s = vp.synic(vtl);
  GuestMemory* memory = p.memory();
  IrqBatch irqs;
  bool ok = true;
  bool timers = false;
  if (is_timer_msr(index)) {
    const unsigned timer = (index - msr::kStimer0Config) / 2;
    const std::uint64_t now = p.reference_time();
    if (index % 2 == 0) {
      s.timers.set_config(timer, v, now);
    } else {
      s.timers.set_count(timer, v, now);
    }
    timers = true;
  } else {
    switch (index) {
      case msr::kScontrol:
        s.synic.set_scontrol(v, memory, irqs);
        break;
      case msr::kSversion:
        ok = false;  // read-only
        break;
      case msr::kSiefp:
        ok = s.synic.set_siefp(v, memory);
        break;
      case msr::kSimp:
        ok = s.synic.set_simp(v, memory, irqs);
        break;
      case msr::kEom:
        break;  // the value is ignored; the poll below delivers what waits
      default:
        ok = s.synic.set_sint(index - msr::kSint0, v);
        break;
    }
  }
  if (!ok) return gp();
  // Whatever the write freed or started: queued messages, held timer messages, due timers.
  const std::uint64_t next = s.poll(p.reference_time(), memory, irqs);
  irqs.flush(p.backend());
  if (timers && p.backend() != nullptr) p.backend()->timers_changed(vp.index(), vtl, next);
  return {};
}

}  // namespace hvk::hv
