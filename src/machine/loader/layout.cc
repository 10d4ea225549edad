#include "machine/loader/layout.h"

#include <algorithm>

namespace hvk::machine {
namespace {

// Half-open ranges [a, a + alen) and [b, b + blen) intersect. Both lengths non-zero; the ends are
// computed saturating so a range running to the top of the address space cannot wrap.
bool intersects(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
  const std::uint64_t aend = alen > UINT64_MAX - a ? UINT64_MAX : a + alen;
  const std::uint64_t bend = blen > UINT64_MAX - b ? UINT64_MAX : b + blen;
  return a < bend && b < aend;
}

// Every fixed area is below 1 MiB and they do not overlap each other.
constexpr bool fixed_areas_sane() {
  for (std::size_t i = 0; i < kFixedAreas.size(); ++i) {
    if (kFixedAreas[i].size == 0 || kFixedAreas[i].end() > kLegacyHoleStart) return false;
    if (i > 0 && kFixedAreas[i - 1].end() > kFixedAreas[i].base) return false;
  }
  return true;
}
static_assert(fixed_areas_sane(), "fixed areas must be sorted, disjoint and below the EBDA");
static_assert(kGdtEntries * 8 <= kPageSize);
static_assert(kMaxPageDirectories == 21);
static_assert(kLowRamMax <= kHighRamBase && kHighRamBase < kMaxRamSize);

}  // namespace

std::optional<FixedArea> overlapped_fixed_area(std::uint64_t gpa, std::uint64_t len) {
  if (len == 0) return std::nullopt;
  for (const FixedArea& area : kFixedAreas) {
    if (intersects(gpa, len, area.base, area.size)) return area;
  }
  if (intersects(gpa, len, kLegacyHoleStart, kLowMemoryEnd - kLegacyHoleStart)) {
    return FixedArea{"legacy EBDA/VGA/BIOS hole", kLegacyHoleStart,
                     kLowMemoryEnd - kLegacyHoleStart};
  }
  if (intersects(gpa, len, 0, kLowMemoryEnd))
    return FixedArea{"reserved low memory", 0, kLowMemoryEnd};
  return std::nullopt;
}

std::vector<E820Entry> e820_layout(std::uint64_t ram_size, std::uint64_t high_ram) {
  const E820Entry candidates[] = {
      {0, kLegacyHoleStart, kE820Ram},
      {kLegacyHoleStart, kLowMemoryEnd - kLegacyHoleStart, kE820Reserved},
      {kLowMemoryEnd, UINT64_MAX - kLowMemoryEnd, kE820Ram},
  };
  std::vector<E820Entry> map;
  for (const E820Entry& e : candidates) {
    if (e.addr >= ram_size) break;
    map.push_back({e.addr, std::min(e.size, ram_size - e.addr), e.type});
  }
  // Clipped so that addr + size cannot wrap for a caller adding them.
  if (high_ram != 0) {
    map.push_back({kHighRamBase, std::min(high_ram, UINT64_MAX - kHighRamBase), kE820Ram});
  }
  return map;
}

std::uint64_t identity_map_size(std::uint64_t ram_top) {
  constexpr std::uint64_t k4GiB = 4 * kGiB;
  if (ram_top <= k4GiB) return k4GiB;
  const std::uint64_t rounded = (ram_top / kGiB) * kGiB;
  if (rounded == ram_top) return rounded;
  return rounded > UINT64_MAX - kGiB ? rounded : rounded + kGiB;  // saturate; callers cap first
}

}  // namespace hvk::machine
