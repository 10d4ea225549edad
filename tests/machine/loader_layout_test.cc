// The fixed low-memory layout, e820 as a function of the RAM size, and the identity-map extent.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "machine/loader/layout.h"

namespace hvk::machine {
namespace {

TEST(LoaderLayout, FixedAreasAreDisjointSortedAndBelowTheLegacyHole) {
  for (std::size_t i = 0; i < kFixedAreas.size(); ++i) {
    SCOPED_TRACE(std::string(kFixedAreas[i].name));
    EXPECT_GT(kFixedAreas[i].size, 0u);
    EXPECT_LE(kFixedAreas[i].end(), kLegacyHoleStart);
    if (i > 0) {
      EXPECT_LE(kFixedAreas[i - 1].end(), kFixedAreas[i].base);
    }
  }
  // The addresses the guest contract promises.
  EXPECT_EQ(kGdtAddr, 0x1000u);
  EXPECT_EQ(kBootParamsAddr, 0x7000u);
  EXPECT_EQ(kPml4Addr, 0x9000u);
  EXPECT_EQ(kCmdlineAddr, 0x20000u);
  EXPECT_EQ(kImageMinAddr, 0x100000u);
  EXPECT_EQ(kMaxRamSize, 21 * kGiB);
}

TEST(LoaderLayout, OverlappedFixedAreaNamesTheArea) {
  EXPECT_EQ(overlapped_fixed_area(0x7000, 1)->name, "boot_params");
  EXPECT_EQ(overlapped_fixed_area(0x6fff, 2)->name, "boot stack");  // first area wins
  EXPECT_EQ(overlapped_fixed_area(0x1f000, 0x2000)->name, "page directories");
  EXPECT_EQ(overlapped_fixed_area(0x20000, 1)->name, "command line");
  EXPECT_EQ(overlapped_fixed_area(0x8000, 0x1000)->name, "reserved low memory");
  EXPECT_EQ(overlapped_fixed_area(0xfffff, 1)->name, "legacy EBDA/VGA/BIOS hole");
  EXPECT_FALSE(overlapped_fixed_area(0x100000, 0x1000).has_value());
  EXPECT_FALSE(overlapped_fixed_area(0x7000, 0).has_value());               // empty range
  EXPECT_FALSE(overlapped_fixed_area(UINT64_MAX, UINT64_MAX).has_value());  // no wrap to 0
  EXPECT_FALSE(overlapped_fixed_area(UINT64_MAX - 0xfff, 0x2000).has_value());
}

TEST(LoaderLayout, E820ForTypicalRam) {
  const std::vector<E820Entry> expected = {
      {0, 0x9fc00, kE820Ram},
      {0x9fc00, 0x100000 - 0x9fc00, kE820Reserved},
      {0x100000, (256u << 20) - 0x100000, kE820Ram},
  };
  EXPECT_EQ(e820_layout(256u << 20), expected);
}

TEST(LoaderLayout, E820IsAFunctionOfRamSize) {
  // A low span above 4 GiB (no high RAM given): still one usable region above 1 MiB.
  const auto big = e820_layout(6 * kGiB);
  ASSERT_EQ(big.size(), 3u);
  EXPECT_EQ(big[2].addr + big[2].size, 6 * kGiB);

  // Exactly 1 MiB: no high entry.
  const auto one_mib = e820_layout(0x100000);
  ASSERT_EQ(one_mib.size(), 2u);
  EXPECT_EQ(one_mib[1].addr + one_mib[1].size, 0x100000u);

  // Inside the legacy hole: the reserved entry is clipped to RAM.
  const std::vector<E820Entry> clipped = {{0, 0x9fc00, kE820Ram}, {0x9fc00, 0x400, kE820Reserved}};
  EXPECT_EQ(e820_layout(0xa0000), clipped);

  // Below the hole: one usable entry; nothing for no RAM.
  const std::vector<E820Entry> tiny = {{0, 0x80000, kE820Ram}};
  EXPECT_EQ(e820_layout(0x80000), tiny);
  EXPECT_TRUE(e820_layout(0).empty());

  // Entries are contiguous, sorted and cover exactly [0, ram_size).
  const std::uint64_t sizes[] = {0x100001, 3 << 20, 1 << 30, 0xfffff000, 21 * kGiB};
  for (std::uint64_t size : sizes) {
    SCOPED_TRACE(size);
    std::uint64_t next = 0;
    for (const E820Entry& e : e820_layout(size)) {
      EXPECT_EQ(e.addr, next);
      EXPECT_GT(e.size, 0u);
      next = e.addr + e.size;
    }
    EXPECT_EQ(next, size);
  }
}

TEST(LoaderLayout, RamSplitPutsWhatIsAbove3GiBAt4GiB) {
  static_assert(RamSplit::of(0).low == 0 && RamSplit::of(0).high == 0 &&
                RamSplit::of(0).top() == 0);
  constexpr RamSplit two = RamSplit::of(2 * kGiB);
  EXPECT_EQ(two.low, 2 * kGiB);
  EXPECT_EQ(two.high, 0u);
  EXPECT_EQ(two.top(), 2 * kGiB);
  constexpr RamSplit three = RamSplit::of(kLowRamMax);  // exactly 3 GiB: nothing above the hole
  EXPECT_EQ(three.low, 3 * kGiB);
  EXPECT_EQ(three.high, 0u);
  EXPECT_EQ(three.top(), 3 * kGiB);
  constexpr RamSplit eight = RamSplit::of(8 * kGiB);
  EXPECT_EQ(eight.low, 3 * kGiB);
  EXPECT_EQ(eight.high, 5 * kGiB);
  EXPECT_EQ(eight.total(), 8 * kGiB);
  EXPECT_EQ(eight.top(), 9 * kGiB);
}

TEST(LoaderLayout, E820DescribesRamAbove4GiB) {
  // 8 GiB: the low entry stops at 3 GiB, nothing for the hole [3 GiB, 4 GiB), the rest at 4 GiB.
  const RamSplit split = RamSplit::of(8 * kGiB);
  const std::vector<E820Entry> expected = {
      {0, 0x9fc00, kE820Ram},
      {0x9fc00, 0x100000 - 0x9fc00, kE820Reserved},
      {0x100000, 3 * kGiB - 0x100000, kE820Ram},
      {4 * kGiB, 5 * kGiB, kE820Ram},
  };
  EXPECT_EQ(e820_layout(split.low, split.high), expected);

  // No high RAM: no entry at 4 GiB, the same map as without the argument.
  const auto low_only = e820_layout(kLowRamMax, 0);
  EXPECT_EQ(low_only, e820_layout(kLowRamMax));
  ASSERT_EQ(low_only.size(), 3u);
  EXPECT_EQ(low_only[2].addr + low_only[2].size, 3 * kGiB);

  // A small low span (tests, or a machine that asked for it) with high RAM.
  const auto small = e820_layout(64u << 20, 3 * kGiB);
  ASSERT_EQ(small.size(), 4u);
  EXPECT_EQ(small[2].addr + small[2].size, 64u << 20);
  EXPECT_EQ(small[3], (E820Entry{kHighRamBase, 3 * kGiB, kE820Ram}));

  // An absurd size is clipped so that the entry's end does not wrap.
  const auto absurd = e820_layout(64u << 20, UINT64_MAX);
  ASSERT_EQ(absurd.size(), 4u);
  EXPECT_EQ(absurd[3].addr, kHighRamBase);
  EXPECT_EQ(absurd[3].size, UINT64_MAX - kHighRamBase);
}

TEST(LoaderLayout, IdentityMapCoversRamAndTheFirst4GiB) {
  EXPECT_EQ(identity_map_size(0), 4 * kGiB);
  EXPECT_EQ(identity_map_size(64u << 20), 4 * kGiB);
  EXPECT_EQ(identity_map_size(4 * kGiB), 4 * kGiB);
  EXPECT_EQ(identity_map_size(4 * kGiB + 1), 5 * kGiB);
  EXPECT_EQ(identity_map_size(6 * kGiB), 6 * kGiB);
  EXPECT_EQ(identity_map_size(kMaxRamSize), kMaxRamSize);
  // RAM above 4 GiB: the top is 4 GiB + high.
  EXPECT_EQ(identity_map_size(RamSplit::of(8 * kGiB).top()), 9 * kGiB);
  EXPECT_EQ(identity_map_size(RamSplit::of(4 * kGiB + 1).top()), 6 * kGiB);
  EXPECT_EQ(identity_map_size(UINT64_MAX), UINT64_MAX / kGiB * kGiB);  // saturates, no wrap
}

}  // namespace
}  // namespace hvk::machine
