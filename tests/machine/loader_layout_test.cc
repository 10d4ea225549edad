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
  // Above 4 GiB: still one usable region above 1 MiB (single low RAM region, no PCI hole yet).
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

TEST(LoaderLayout, IdentityMapCoversRamAndTheFirst4GiB) {
  EXPECT_EQ(identity_map_size(0), 4 * kGiB);
  EXPECT_EQ(identity_map_size(64u << 20), 4 * kGiB);
  EXPECT_EQ(identity_map_size(4 * kGiB), 4 * kGiB);
  EXPECT_EQ(identity_map_size(4 * kGiB + 1), 5 * kGiB);
  EXPECT_EQ(identity_map_size(6 * kGiB), 6 * kGiB);
  EXPECT_EQ(identity_map_size(kMaxRamSize), kMaxRamSize);
}

}  // namespace
}  // namespace hvk::machine
