#include "hv/synthetic_msrs.h"

#include "hv/synic/synic_msrs.h"

namespace hvk::hv {

using tlfs::Privilege;

namespace {

MsrAccess gp() {
  return {true, 0, false, 0};
}
MsrAccess value(std::uint64_t v) {
  return {false, v, false, 0};
}
MsrAccess apic(ApicAccess what, std::uint64_t v = 0) {
  MsrAccess a = value(v);
  a.apic = what;
  return a;
}

// HV_X64_MSR_EOI: bits 63:32 RsvdZ, 31:0 the value (ignored). HV_X64_MSR_TPR: 63:8 RsvdZ.
constexpr std::uint64_t kEoiReserved = ~std::uint64_t{0xFFFF'FFFF};
constexpr std::uint64_t kTprReserved = ~std::uint64_t{0xFF};

}  // namespace

ReferenceTscPage reference_tsc_page(std::uint64_t tsc_hz) {
  if (tsc_hz == 0) return {0, 0, 0, 0};  // sequence 0: the guest falls back to TIME_REF_COUNT
  // scale = 2^64 * 10^7 / tsc_hz, in 128-bit arithmetic.
  __extension__ using u128 = unsigned __int128;  // GCC and Clang: exact 128-bit arithmetic
  const u128 scale = (static_cast<u128>(10'000'000u) << 64) / tsc_hz;
  return {1, 0, static_cast<std::uint64_t>(scale), 0};
}

MsrAccess read_synthetic_msr(const Partition& p, const Vp& vp, std::uint32_t index) {
  if (is_synic_msr(index)) return read_synic_msr(p, vp, index);
  switch (index) {
    case msr::kGuestOsId:
    case msr::kHypercall:
      if (!p.privileges().has(Privilege::kHypercallMsrs)) return gp();
      return value(index == msr::kGuestOsId ? p.guest_os_id(vp.current_vtl())
                                            : p.hypercall_msr(vp.current_vtl()));
    case msr::kVpIndex:
      if (!p.privileges().has(Privilege::kVpIndex)) return gp();
      return value(vp.index());
    case msr::kTimeRefCount:
      if (!p.privileges().has(Privilege::kPartitionReferenceCounter)) return gp();
      return value(p.reference_time());
    case msr::kTscFrequency:
    case msr::kApicFrequency:
      if (!p.privileges().has(Privilege::kFrequencyRegs)) return gp();
      return value(index == msr::kTscFrequency ? p.tsc_hz() : p.apic_hz());
    case msr::kVpAssistPage:
      return value(vp.vp_assist_page(vp.current_vtl()));
    case msr::kEoi:  // write-only
      return gp();
    case msr::kIcr:
    case msr::kTpr:
      if (!p.privileges().has(Privilege::kIntrCtrlRegs)) return gp();
      return apic(index == msr::kIcr ? ApicAccess::kReadIcr : ApicAccess::kReadTpr);
    case msr::kReferenceTsc:
      if (!p.privileges().has(Privilege::kPartitionReferenceTsc)) return gp();
      return value(p.reference_tsc_msr(vp.current_vtl()));
    case msr::kGuestIdle: {
      if (!p.privileges().has(Privilege::kGuestIdleReg)) return gp();
      MsrAccess a = value(0);
      a.idle = true;
      return a;
    }
    case msr::kCrashCtl:
      return value(crash_ctl::kSupported);
    default:
      if (index >= msr::kCrashP0 && index < msr::kCrashP0 + Partition::kCrashParams) {
        return value(p.crash_param(index - msr::kCrashP0));
      }
      return gp();
  }
}

MsrAccess write_synthetic_msr(Partition& p, Vp& vp, std::uint32_t index, std::uint64_t v) {
  if (is_synic_msr(index)) return write_synic_msr(p, vp, index, v);
  // The caller's VTL: GUEST_OS_ID, HYPERCALL, REFERENCE_TSC and VP_ASSIST_PAGE are its own.
  const tlfs::Vtl vtl = vp.current_vtl();
  switch (index) {
    case msr::kGuestOsId:
      if (!p.privileges().has(Privilege::kHypercallMsrs)) return gp();
      p.set_guest_os_id(vtl, v);
      return {};
    case msr::kHypercall: {
      if (!p.privileges().has(Privilege::kHypercallMsrs)) return gp();
      HypercallMsr next{v &
                        (HypercallMsr::kGpaMask | HypercallMsr::kLocked | HypercallMsr::kEnable)};
      // The page can be enabled only once the guest has identified itself.
      if (p.guest_os_id(vtl) == 0) next.raw &= ~HypercallMsr::kEnable;
      std::uint64_t old = p.hypercall_msr(vtl);
      do {
        if (HypercallMsr{old}.locked()) return {};  // locked: writes are ignored until reset
      } while (!p.replace_hypercall_msr(vtl, old, next.raw));
      if (next.enabled()) return {false, 0, true, next.page_gpa()};
      return {};
    }
    case msr::kReferenceTsc: {
      // 63:12 page GPA, 0 enable; bits 11:1 reserved (read as zero).
      if (!p.privileges().has(Privilege::kPartitionReferenceTsc)) return gp();
      const std::uint64_t kept = v & (HypercallMsr::kGpaMask | 1u);
      p.set_reference_tsc_msr(vtl, kept);
      MsrAccess a;
      if ((kept & 1u) != 0) {
        a.install_reference_tsc = true;
        a.reference_tsc_gpa = kept & HypercallMsr::kGpaMask;
        // Valid only when TIME_REF_COUNT reads the same TSC: otherwise sequence 0, and the guest
        // uses the MSR (as KVM does when its clock cannot follow the TSC).
        a.reference_tsc =
            reference_tsc_page(p.reference_time_reads_guest_tsc() ? p.tsc_hz() : 0);
      }
      return a;
    }
    case msr::kEoi:
    case msr::kIcr:
    case msr::kTpr: {
      if (!p.privileges().has(Privilege::kIntrCtrlRegs)) return gp();
      if (index == msr::kEoi) return (v & kEoiReserved) ? gp() : apic(ApicAccess::kEoi);
      if (index == msr::kTpr) return (v & kTprReserved) ? gp() : apic(ApicAccess::kWriteTpr, v);
      return apic(ApicAccess::kWriteIcr, v);
    }
    case msr::kVpAssistPage:
      // 63:12 page GPA, 0 enable; bits 11:1 reserved. Per VTL; hvk writes a VTL's entry reason
      // into its page's VTL control area (vtl_switch.cc) and reads its VtlReturn registers.
      if ((v & 0xFFEull) != 0) return gp();
      vp.set_vp_assist_page(vtl, v);
      return {};
    case msr::kCrashCtl: {
      if ((v & ~crash_ctl::kSupported) != 0) return gp();
      MsrAccess a;
      if (v & crash_ctl::kNotify) {
        a.crash = true;
        a.crash_ctl = v;
        for (std::size_t i = 0; i < Partition::kCrashParams; ++i) a.crash_params[i] = p.crash_param(i);
      }
      return a;
    }
    default:
      if (index >= msr::kCrashP0 && index < msr::kCrashP0 + Partition::kCrashParams) {
        p.set_crash_param(index - msr::kCrashP0, v);
        return {};
      }
      // VP_INDEX, TIME_REF_COUNT, GUEST_IDLE and the frequencies are read-only; the rest hvk lacks
      return gp();
  }
}

}  // namespace hvk::hv
