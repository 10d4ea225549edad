#include "machine/guest_tsc_clock.h"

#include <x86intrin.h>

#include <thread>

namespace hvk::machine {

namespace {

constexpr std::uint32_t kMsrIa32Tsc = 0x10;
constexpr int kTries = 4;
// Between the two measurements: long enough that a TSC stopped between ioctls shows.
constexpr auto kApart = std::chrono::microseconds(200);

// The guest's TSC read between two host reads: of a few tries, the narrowest bracket, with the
// guest's reading taken to be at its middle.
kvm::Result<GuestTscClock::Sample> measure(const kvm::Vcpu& vcpu) {
  GuestTscClock::Sample best{0, ~std::uint64_t{0}};
  for (int i = 0; i < kTries; ++i) {
    const std::uint64_t before = __rdtsc();
    auto guest = vcpu.msr(kMsrIa32Tsc);
    const std::uint64_t after = __rdtsc();
    if (!guest) return guest.error();
    const std::uint64_t width = after - before;
    if (width < best.width) best = {*guest - (before + width / 2), width};
  }
  return best;
}

}  // namespace

bool GuestTscClock::agree(Sample a, Sample b, std::uint64_t slack) noexcept {
  const std::uint64_t gap = a.delta - b.delta;  // modulo 2^64: either sign
  const std::uint64_t distance = std::min(gap, std::uint64_t{0} - gap);
  return distance <= a.width / 2 + b.width / 2 + slack;
}

kvm::Result<GuestTscClock> GuestTscClock::calibrate(const kvm::Vcpu& vcpu,
                                                    const hv::ReferenceTscPage& page) {
  auto first = measure(vcpu);
  if (!first) return first.error();
  std::this_thread::sleep_for(kApart);
  auto second = measure(vcpu);
  if (!second) return second.error();
  // A TSC that follows the host's gives the same difference; one stopped between ioctls gives
  // one smaller by the time between (200 µs, against brackets of a few µs).
  constexpr std::uint64_t kSlackCycles = 1000;
  const bool follows = page.sequence != 0 && agree(*first, *second, kSlackCycles);
  const Sample& best = first->width <= second->width ? *first : *second;
  return GuestTscClock(best.delta, page, follows);
}

std::uint64_t GuestTscClock::ticks(std::uint64_t tsc, const hv::ReferenceTscPage& page) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC and Clang: the page's 64x64 -> 128 product
  const auto scaled = static_cast<std::uint64_t>((static_cast<u128>(tsc) * page.scale) >> 64);
  return scaled + static_cast<std::uint64_t>(page.offset);
}

std::uint64_t GuestTscClock::guest_tsc() const noexcept { return __rdtsc() + delta_; }

std::uint64_t GuestTscClock::now() const noexcept {
  if (follows_tsc_) return ticks(guest_tsc(), page_);
  const auto since = std::chrono::steady_clock::now() - created_;
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since).count() / 100);
}

}  // namespace hvk::machine
