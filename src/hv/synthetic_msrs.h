// The synthetic MSRs (0x40000000-0x40000105) and what a guest's rdmsr/wrmsr of them does
// (TLFS "Hypercall interface" and "Virtual processor"; notes §8).
#pragma once

#include <array>
#include <cstdint>

#include "hv/partition.h"

namespace hvk::hv {

namespace msr {
inline constexpr std::uint32_t kGuestOsId = 0x4000'0000;
inline constexpr std::uint32_t kHypercall = 0x4000'0001;
inline constexpr std::uint32_t kVpIndex = 0x4000'0002;
inline constexpr std::uint32_t kTimeRefCount = 0x4000'0020;
inline constexpr std::uint32_t kReferenceTsc = 0x4000'0021;
inline constexpr std::uint32_t kTscFrequency = 0x4000'0022;
inline constexpr std::uint32_t kApicFrequency = 0x4000'0023;
inline constexpr std::uint32_t kEoi = 0x4000'0070;  // the APIC access MSRs (privilege
inline constexpr std::uint32_t kIcr = 0x4000'0071;  // AccessIntrCtrlRegs): the local APIC's EOI,
inline constexpr std::uint32_t kTpr = 0x4000'0072;  // ICR (high << 32 | low) and TPR
inline constexpr std::uint32_t kVpAssistPage = 0x4000'0073;
inline constexpr std::uint32_t kScontrol = 0x4000'0080;
inline constexpr std::uint32_t kSversion = 0x4000'0081;
inline constexpr std::uint32_t kSiefp = 0x4000'0082;
inline constexpr std::uint32_t kSimp = 0x4000'0083;
inline constexpr std::uint32_t kEom = 0x4000'0084;
inline constexpr std::uint32_t kSint0 = 0x4000'0090;          // ..SINT15 = 0x4000009F
inline constexpr std::uint32_t kStimer0Config = 0x4000'00B0;  // STIMERn CONFIG = B0 + 2n
inline constexpr std::uint32_t kStimer0Count = 0x4000'00B1;   // STIMERn COUNT = B1 + 2n
inline constexpr std::uint32_t kGuestIdle = 0x4000'00F0;
inline constexpr std::uint32_t kCrashP0 = 0x4000'0100;  // ..P4 = 0x40000104
inline constexpr std::uint32_t kCrashCtl = 0x4000'0105;
inline constexpr std::uint32_t kSyntheticFirst = 0x4000'0000;
inline constexpr std::uint32_t kSyntheticCount = kCrashCtl + 1 - kSyntheticFirst;
}  // namespace msr

// HV_X64_MSR_CRASH_CTL: bit 63 CrashNotify (the guest has crashed; P0..P4 say how), bit 62
// CrashMessage (P3 = GPA, P4 = length of a text message). Reads return the bits hvk supports.
namespace crash_ctl {
inline constexpr std::uint64_t kNotify = 1ull << 63;
inline constexpr std::uint64_t kMessage = 1ull << 62;
inline constexpr std::uint64_t kSupported = kNotify | kMessage;
}  // namespace msr

// HV_X64_MSR_HYPERCALL: 63:12 page GPA, 11:2 reserved, 1 locked, 0 enable.
struct HypercallMsr {
  std::uint64_t raw = 0;
  static constexpr std::uint64_t kEnable = 1;
  static constexpr std::uint64_t kLocked = 2;
  static constexpr std::uint64_t kGpaMask = ~0xFFFull;
  constexpr bool enabled() const { return raw & kEnable; }
  constexpr bool locked() const { return raw & kLocked; }
  constexpr std::uint64_t page_gpa() const { return raw & kGpaMask; }
};

// HV_REFERENCE_TSC_PAGE: reference time (100 ns) = ((TSC * scale) >> 64) + offset, valid while
// the sequence is not 0.
struct ReferenceTscPage {
  std::uint32_t sequence;
  std::uint32_t reserved;
  std::uint64_t scale;
  std::int64_t offset;
};
static_assert(sizeof(ReferenceTscPage) == 24);

// An access to the VP's own local APIC through the APIC access MSRs, checked by the engine and
// done by the machine (which owns the APIC): it fills in a read's value.
enum class ApicAccess : std::uint8_t {
  kNone,
  kEoi,        // an EOI (the written value is ignored)
  kReadIcr,    // ICR high << 32 | ICR low
  kWriteIcr,   // `value`: send the interrupt it describes
  kReadTpr,    // TPR in bits 7:0
  kWriteTpr,   // `value`, bits 7:0
};

struct MsrAccess {
  bool gp = false;                       // the guest gets #GP
  std::uint64_t value = 0;               // for a read
  bool install_hypercall_page = false;   // the machine writes the hypercall code at...
  std::uint64_t hypercall_page_gpa = 0;  // ...this GPA
  bool install_reference_tsc = false;    // the machine writes `reference_tsc` at...
  std::uint64_t reference_tsc_gpa = 0;   // ...this GPA
  ReferenceTscPage reference_tsc{};
  bool idle = false;   // GUEST_IDLE read: the VP halts until its next interrupt
  bool crash = false;  // CRASH_CTL notification: the guest reports a crash...
  std::uint64_t crash_ctl = 0;  // ...with these CRASH_CTL bits...
  std::array<std::uint64_t, Partition::kCrashParams> crash_params{};  // ...and P0..P4
  ApicAccess apic = ApicAccess::kNone;  // the machine does this on the VP's APIC (with `value`)
};

// The reference TSC page for a TSC running at `tsc_hz`: offset 0 (reference time counts from TSC
// 0, which KVM sets at VM creation); tsc_hz 0 gives sequence 0, a page the guest must not use.
ReferenceTscPage reference_tsc_page(std::uint64_t tsc_hz);

// True for an index hvk handles as a synthetic MSR (the whole range: unknown ones are #GP).
constexpr bool is_synthetic_msr(std::uint32_t index) {
  return index - msr::kSyntheticFirst < msr::kSyntheticCount;
}

MsrAccess read_synthetic_msr(const Partition& p, const Vp& vp, std::uint32_t index);
MsrAccess write_synthetic_msr(Partition& p, Vp& vp, std::uint32_t index, std::uint64_t value);

}  // namespace hvk::hv
