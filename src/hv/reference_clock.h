// Where the partition reference time comes from (TIME_REF_COUNT, the synthetic timers): the
// steady clock by default; tests put a clock they move by hand in its place.
#pragma once

#include <cstdint>

namespace hvk::hv {

class ReferenceClock {
 public:
  virtual ~ReferenceClock() = default;
  // 100 ns units; never goes backwards.
  virtual std::uint64_t now() const noexcept = 0;
  // true when now() is the reference TSC page's formula over the guest's own TSC at the
  // partition's TSC frequency: only then may hvk give the guest a valid page (conformance M-12).
  virtual bool reads_guest_tsc() const noexcept { return false; }
};

}  // namespace hvk::hv
