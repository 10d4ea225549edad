// QEMU's fw_cfg as hvk presents it (src/machine/devices/fw_cfg.h): the selector and data ports,
// the items, and what reads past an item or of an unknown item give.
#include "machine/devices/fw_cfg.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "machine/devices/platform.h"

namespace hvk::machine {
namespace {

void select(FwCfg& f, std::uint16_t key) {
  std::array<std::uint8_t, 2> v{static_cast<std::uint8_t>(key), static_cast<std::uint8_t>(key >> 8)};
  f.io(FwCfg::kSelectorPort, true, 2, v);
}

// Reads `n` bytes one `in al, dx` at a time, as kvm-unit-tests' lib/x86/fwcfg.c does.
std::vector<std::uint8_t> read_bytes(FwCfg& f, std::size_t n) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 1> b{0xAA};
    f.io(FwCfg::kDataPort, false, 1, b);
    out.push_back(b[0]);
  }
  return out;
}

std::uint64_t read_le(FwCfg& f, std::uint16_t key, std::size_t n) {
  select(f, key);
  std::uint64_t v = 0;
  const auto bytes = read_bytes(f, n);
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{bytes[i]} << (8 * i);
  return v;
}

TEST(FwCfg, SignatureIdRamAndCpus) {
  FwCfg f(384ull << 20, 3);
  select(f, FwCfg::kSignature);
  EXPECT_EQ(read_bytes(f, 4), (std::vector<std::uint8_t>{'Q', 'E', 'M', 'U'}));
  EXPECT_EQ(read_le(f, FwCfg::kId, 4), 1u);  // traditional interface only, no DMA
  EXPECT_EQ(read_le(f, FwCfg::kRamSize, 8), 384ull << 20);
  EXPECT_EQ(read_le(f, FwCfg::kNbCpus, 2), 3u);
  EXPECT_EQ(read_le(f, FwCfg::kMaxCpus, 2), 3u);
}

TEST(FwCfg, UnknownItemsAndReadsPastTheEndGiveZero) {
  FwCfg f(1ull << 30, 2);
  // 0x11: kvm-unit-tests reads it as a RAM limit, where 0 means none.
  EXPECT_EQ(read_le(f, 0x11, 8), 0u);
  EXPECT_EQ(read_le(f, 0x8000, 4), 0u);
  EXPECT_TRUE(f.item(0x11).empty());
  select(f, FwCfg::kNbCpus);
  EXPECT_EQ(read_bytes(f, 5), (std::vector<std::uint8_t>{2, 0, 0, 0, 0}));
}

TEST(FwCfg, SelectingRewinds) {
  FwCfg f(1ull << 30, 2);
  select(f, FwCfg::kSignature);
  EXPECT_EQ(read_bytes(f, 2), (std::vector<std::uint8_t>{'Q', 'E'}));
  select(f, FwCfg::kSignature);
  EXPECT_EQ(read_bytes(f, 4), (std::vector<std::uint8_t>{'Q', 'E', 'M', 'U'}));
}

TEST(FwCfg, WideDataReadsGiveSuccessiveBytes) {
  FwCfg f(0x1122334455667788ull, 1);
  select(f, FwCfg::kRamSize);
  std::array<std::uint8_t, 4> w{};
  f.io(FwCfg::kDataPort, false, 4, w);
  EXPECT_EQ(w, (std::array<std::uint8_t, 4>{0x88, 0x77, 0x66, 0x55}));
  // A string read (rep insb) moves several units through the port.
  std::array<std::uint8_t, 4> rest{};
  f.io(FwCfg::kDataPort, false, 1, rest);
  EXPECT_EQ(rest, (std::array<std::uint8_t, 4>{0x44, 0x33, 0x22, 0x11}));
}

TEST(FwCfg, DataWritesAreIgnoredAndTheSelectorReadsZero) {
  FwCfg f(1ull << 30, 4);
  select(f, FwCfg::kNbCpus);
  std::array<std::uint8_t, 1> junk{0x55};
  f.io(FwCfg::kDataPort, true, 1, junk);
  EXPECT_EQ(read_bytes(f, 2), (std::vector<std::uint8_t>{4, 0}));
  std::array<std::uint8_t, 2> sel{0xAA, 0xAA};
  f.io(FwCfg::kSelectorPort, false, 2, sel);
  EXPECT_EQ(sel, (std::array<std::uint8_t, 2>{0, 0}));
}

TEST(FwCfg, AByteWideSelectorWriteTakesTheLowByte) {
  FwCfg f(1ull << 30, 6);
  std::array<std::uint8_t, 1> key{FwCfg::kNbCpus};
  f.io(FwCfg::kSelectorPort, true, 1, key);
  EXPECT_EQ(read_bytes(f, 2), (std::vector<std::uint8_t>{6, 0}));
}

TEST(FwCfg, ThePlatformRoutesItsPorts) {
  Platform p([](char) {}, [](const Ioapic::Msi&) {}, Platform::Shape{.ram_bytes = 64ull << 20, .cpus = 5});
  Platform::Event event{};
  std::array<std::uint8_t, 2> key{FwCfg::kNbCpus, 0};
  ASSERT_TRUE(p.io(FwCfg::kSelectorPort, true, 2, key, event));
  std::array<std::uint8_t, 1> b{};
  ASSERT_TRUE(p.io(FwCfg::kDataPort, false, 1, b, event));
  EXPECT_EQ(b[0], 5);
  EXPECT_EQ(event, Platform::Event::kNone);
  EXPECT_FALSE(p.io(0x512, false, 1, b, event));
}

}  // namespace
}  // namespace hvk::machine
