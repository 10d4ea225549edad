// MemoryMap: bounds checks with overflow-safe arithmetic.
#include "hv/guest_memory.h"

#include <gtest/gtest.h>

#include <vector>

namespace hvk::hv {
namespace {

TEST(RangeWithin, OverflowSafe) {
  EXPECT_TRUE(range_within(0x1000, 0x1000, 0x1000, 0x1000));
  EXPECT_FALSE(range_within(0x1000, 0x1001, 0x1000, 0x1000));
  EXPECT_FALSE(range_within(0xFFF, 1, 0x1000, 0x1000));
  EXPECT_FALSE(range_within(0x1800, ~0ull, 0x1000, 0x1000));
  EXPECT_FALSE(range_within(~0ull, 2, 0x1000, 0x1000));
  EXPECT_TRUE(range_within(0x2000, 0, 0x1000, 0x1000));
}

TEST(MemoryMap, RegionsReadWriteAndRefusals) {
  std::vector<std::byte> low(0x10000), high(0x1000);
  MemoryMap m;
  ASSERT_TRUE(m.add(0, low));
  ASSERT_TRUE(m.add(0x1'0000'0000ull, high));
  EXPECT_FALSE(m.add(0x8000, high));                     // overlaps
  EXPECT_FALSE(m.add(~0ull - 0x10, high));               // wraps
  EXPECT_FALSE(m.add(0x20000, std::span<std::byte>{}));  // empty

  const std::byte pattern[4] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  EXPECT_TRUE(m.write(0xFFFC, pattern));
  EXPECT_FALSE(m.write(0xFFFD, pattern));  // one byte past the end
  EXPECT_TRUE(m.write(0x1'0000'0000ull, pattern));
  std::byte back[4]{};
  EXPECT_TRUE(m.read(0x1'0000'0000ull, back));
  EXPECT_EQ(back[3], std::byte{4});
  EXPECT_FALSE(m.read(0x1'0000'0FFEull, back));
  EXPECT_FALSE(m.read(~0ull - 1, back));
  EXPECT_FALSE(m.contains(0x10000, 0));
  EXPECT_TRUE(m.contains(0xFFFF, 0));
  // An empty read or write names no byte: it succeeds anywhere, at the end of RAM included.
  EXPECT_TRUE(m.read(0x10000, std::span<std::byte>{}));
  EXPECT_TRUE(m.read(~0ull, std::span<std::byte>{}));
  EXPECT_TRUE(m.write(0x10000, std::span<const std::byte>{}));
  // A range across two regions is refused even when they touch.
  EXPECT_FALSE(m.contains(0xFFFF'FFFEull, 4));
  EXPECT_EQ(m.host_span(0x10, 4).data(), low.data() + 0x10);
  EXPECT_TRUE(m.host_span(0x10000, 1).empty());
}

TEST(MemoryMap, TableIsBounded) {
  std::vector<std::byte> ram(0x1000 * 9);
  MemoryMap m;
  for (std::size_t i = 0; i < MemoryMap::kMaxRegions; ++i) {
    ASSERT_TRUE(m.add(i * 0x1000, std::span(ram).subspan(i * 0x1000, 0x1000)));
  }
  EXPECT_FALSE(m.add(0x8000, std::span(ram).subspan(0x8000, 0x1000)));
}

}  // namespace
}  // namespace hvk::hv
