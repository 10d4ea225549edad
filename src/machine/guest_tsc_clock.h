// The partition reference time read off the guest's own TSC, so that TIME_REF_COUNT, the
// synthetic timers and the reference TSC page are one clock: a guest that reads
// TIME_REF_COUNT and then the page never sees time go backwards (kvm-unit-tests hyperv_clock).
//
// reference = ((guest TSC * scale) >> 64) + offset, the page's own formula with the page's own
// scale and offset (hv::reference_tsc_page). hvk reads the guest's TSC from user space as the
// host's RDTSC plus the difference measured at creation against KVM's IA32_TSC of a vCPU (KVM
// gives the vCPUs of a VM one TSC: they start at 0 within a second of each other, and hvk sets no
// TSC frequency, so the guest's TSC ticks at the host's rate).
//
// That holds only while KVM trusts the host's TSC. On a host whose kernel has marked its TSC
// unstable (seen under QEMU's TCG), KVM stops a vCPU's TSC while the vCPU is not running and
// lets it catch up later; no user-space formula follows that. calibrate() detects it (two
// measurements of the difference, some time apart, disagree), and the clock then counts the
// host's steady clock instead and says it does not read the guest's TSC: the guest gets an
// invalid page (sequence 0) and uses TIME_REF_COUNT, as under KVM's own Hyper-V emulation.
#pragma once

#include <chrono>
#include <cstdint>

#include "hv/reference_clock.h"
#include "hv/synthetic_msrs.h"
#include "kvm/result.h"
#include "kvm/vcpu.h"

namespace hvk::machine {

class GuestTscClock final : public hv::ReferenceClock {
 public:
  // Measures the guest-minus-host TSC difference on `vcpu` (any vCPU of the VM), twice.
  static kvm::Result<GuestTscClock> calibrate(const kvm::Vcpu& vcpu,
                                              const hv::ReferenceTscPage& page);

  // The host TSC plus the guest's difference: what the guest's RDTSC would read now.
  std::uint64_t guest_tsc() const noexcept;
  std::uint64_t now() const noexcept override;
  bool reads_guest_tsc() const noexcept override { return follows_tsc_; }

  // The page formula: 100 ns units at guest TSC `tsc`.
  static std::uint64_t ticks(std::uint64_t tsc, const hv::ReferenceTscPage& page) noexcept;

  // Whether two measurements of the guest-minus-host difference, each bracketed by host reads
  // `width` cycles apart, are the same difference: within half of each bracket and `slack`.
  struct Sample {
    std::uint64_t delta;
    std::uint64_t width;
  };
  static bool agree(Sample a, Sample b, std::uint64_t slack) noexcept;

 private:
  GuestTscClock(std::uint64_t delta, const hv::ReferenceTscPage& page, bool follows_tsc)
      : delta_(delta), page_(page), follows_tsc_(follows_tsc) {}
  std::uint64_t delta_;  // guest TSC - host TSC, modulo 2^64
  hv::ReferenceTscPage page_;
  bool follows_tsc_;
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
};

}  // namespace hvk::machine
