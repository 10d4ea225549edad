// boot_params ("zero page"), the command line and the setup_data chain, checked at the raw byte
// offsets of Documentation/arch/x86/boot.rst / zero-page.rst rather than through the struct.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "loader_test_support.h"
#include "machine/loader/boot_params.h"
#include "machine/loader/layout.h"

namespace hvk::machine {
namespace {

using test::GuardedRam;

constexpr std::size_t kRamSize = 16 << 20;
constexpr std::uint64_t kZeroPage = 0x7000;  // spelled out: the contract, not the constant

// Raw little-endian reads relative to the zero page.
template <typename T>
T zp(const GuardedRam& ram, std::uint64_t offset) {
  return ram.load<T>(kZeroPage + offset);
}

void expect_error(const Status& st, const std::string& needle) {
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find(needle), std::string::npos) << st.error();
  EXPECT_EQ(st.error().find('\n'), std::string::npos) << st.error();
}

TEST(LoaderBootParams, FieldsAtTheirByteOffsets) {
  GuardedRam ram(kRamSize);
  ASSERT_TRUE(build_boot_params(ram.span(), {.cmdline = "console=ttyS0 quiet"}).ok());

  // e820_entries @0x1e8, e820_table @0x2d0 (20-byte packed entries: u64 addr, u64 size, u32 type).
  EXPECT_EQ(zp<std::uint8_t>(ram, 0x1e8), 3);
  const std::uint64_t want[3][3] = {
      {0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {0x100000, kRamSize - 0x100000, 1}};
  for (std::uint64_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(zp<std::uint64_t>(ram, 0x2d0 + 20 * i + 0), want[i][0]);
    EXPECT_EQ(zp<std::uint64_t>(ram, 0x2d0 + 20 * i + 8), want[i][1]);
    EXPECT_EQ(zp<std::uint32_t>(ram, 0x2d0 + 20 * i + 16), want[i][2]);
  }
  EXPECT_EQ(zp<std::uint8_t>(ram, 0x1ef), 0);        // sentinel: clean zero page
  EXPECT_EQ(zp<std::uint16_t>(ram, 0x1fe), 0xAA55);  // hdr.boot_flag
  EXPECT_EQ(std::memcmp(ram.span().data() + kZeroPage + 0x202, "HdrS", 4), 0);  // hdr.header
  EXPECT_EQ(zp<std::uint16_t>(ram, 0x206), 0x020f);                             // hdr.version
  EXPECT_EQ(zp<std::uint8_t>(ram, 0x210), 0xff);       // hdr.type_of_loader
  EXPECT_EQ(zp<std::uint8_t>(ram, 0x211), 0x01);       // hdr.loadflags = LOADED_HIGH
  EXPECT_EQ(zp<std::uint32_t>(ram, 0x228), 0x20000u);  // hdr.cmd_line_ptr
  EXPECT_EQ(zp<std::uint32_t>(ram, 0x0c8), 0u);        // ext_cmd_line_ptr (high 32 bits)
  EXPECT_EQ(zp<std::uint32_t>(ram, 0x238), 2047u);     // hdr.cmdline_size
  EXPECT_EQ(zp<std::uint64_t>(ram, 0x250), 0u);        // hdr.setup_data
  EXPECT_EQ(zp<std::uint32_t>(ram, 0x218), 0u);        // hdr.ramdisk_image
  EXPECT_EQ(zp<std::uint32_t>(ram, 0x23c), 0u);        // hdr.hardware_subarch = PC

  // Every other byte of the 4 KiB page is zero.
  std::set<std::uint64_t> written;
  auto mark = [&](std::uint64_t off, std::uint64_t len) {
    for (std::uint64_t i = 0; i < len; ++i) written.insert(off + i);
  };
  mark(0x1e8, 1);
  mark(0x2d0, std::uint64_t{3} * 20);
  mark(0x1fe, 2);
  mark(0x202, 4);
  mark(0x206, 2);
  mark(0x210, 2);
  mark(0x228, 4);
  mark(0x238, 4);
  for (std::uint64_t off = 0; off < 0x1000; ++off) {
    if (!written.count(off)) {
      ASSERT_EQ(zp<std::uint8_t>(ram, off), 0) << "offset " << off;
    }
  }
  // Only the zero page and the command line buffer were written.
  EXPECT_EQ(ram.span()[kZeroPage - 1], std::byte{0xcc});
  EXPECT_EQ(ram.span()[kZeroPage + 0x1000], std::byte{0xcc});
  EXPECT_EQ(ram.span()[0x20000 + 2048], std::byte{0xcc});
  EXPECT_EQ(ram.span()[0x1000], std::byte{0xcc});
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBootParams, E820TableDescribesRamAbove4GiB) {
  // 64 MiB at 0 and 3 GiB at 4 GiB: the loader never touches the high RAM, so no need for it.
  constexpr std::size_t kLow = 64 << 20;
  constexpr std::uint64_t kHigh = 3 * kGiB;
  GuardedRam ram(kLow);
  ASSERT_TRUE(build_boot_params(ram.span(), {.cmdline = "", .high_ram = kHigh}).ok());
  EXPECT_EQ(zp<std::uint8_t>(ram, 0x1e8), 4);
  const std::uint64_t want[4][3] = {{0, 0x9fc00, 1},
                                    {0x9fc00, 0x60400, 2},
                                    {0x100000, kLow - 0x100000, 1},
                                    {0x100000000, kHigh, 1}};
  const auto layout = e820_layout(kLow, kHigh);
  ASSERT_EQ(layout.size(), 4u);
  for (std::uint64_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(zp<std::uint64_t>(ram, 0x2d0 + 20 * i + 0), want[i][0]);
    EXPECT_EQ(zp<std::uint64_t>(ram, 0x2d0 + 20 * i + 8), want[i][1]);
    EXPECT_EQ(zp<std::uint32_t>(ram, 0x2d0 + 20 * i + 16), want[i][2]);
    EXPECT_EQ(layout[i],
              (E820Entry{want[i][0], want[i][1], static_cast<std::uint32_t>(want[i][2])}));
  }
  EXPECT_EQ(zp<std::uint64_t>(ram, 0x2d0 + 20 * 4), 0u);  // nothing after it
  EXPECT_EQ(zp<std::uint64_t>(ram, 0x2d0 + 20 * 4 + 8), 0u);
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBootParams, HighRamNeedsALowSpanBelowTheMmioHole) {
  // Sizes only: check_boot_params writes nothing, so no RAM is needed.
  expect_error(check_boot_params(kLowRamMax + kPageSize, {.cmdline = "", .high_ram = kGiB}),
               "32-bit MMIO hole");
  EXPECT_TRUE(check_boot_params(kLowRamMax, {.cmdline = "", .high_ram = 100 * kGiB}).ok());
  EXPECT_TRUE(check_boot_params(kLowRamMax + kPageSize, {.cmdline = ""}).ok());  // no high RAM
}

TEST(LoaderBootParams, CommandLineIsNulTerminatedAt0x20000) {
  GuardedRam ram(kRamSize);
  const std::string cmdline = "console=ttyS0 hvk.test=1";
  ASSERT_TRUE(build_boot_params(ram.span(), {.cmdline = cmdline}).ok());
  const char* text = reinterpret_cast<const char*>(ram.span().data() + 0x20000);
  EXPECT_EQ(std::string(text), cmdline);
  for (std::size_t i = cmdline.size(); i < 2048; ++i) {
    ASSERT_EQ(ram.span()[0x20000 + i], std::byte{0}) << i;
  }
}

TEST(LoaderBootParams, EmptyAndMaximumCommandLines) {
  GuardedRam ram(kRamSize);
  ASSERT_TRUE(build_boot_params(ram.span(), {.cmdline = ""}).ok());
  EXPECT_EQ(ram.span()[0x20000], std::byte{0});

  const std::string longest(kCmdlineMax - 1, 'x');
  ASSERT_TRUE(build_boot_params(ram.span(), {.cmdline = longest}).ok());
  EXPECT_EQ(ram.span()[0x20000 + 2046], std::byte{'x'});
  EXPECT_EQ(ram.span()[0x20000 + 2047], std::byte{0});
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBootParams, RejectsBadOptionsWithoutWriting) {
  const std::string too_long(kCmdlineMax, 'x');
  const std::string with_nul("a\0b", 3);
  const std::string huge(1 << 20, 'y');
  struct Case {
    std::size_t ram;
    BootParamsOptions opts;
    const char* needle;
  } cases[] = {
      {kRamSize, {.cmdline = too_long}, "command line is 2048 bytes, the maximum is 2047"},
      {kRamSize, {.cmdline = huge}, "command line is"},
      {kRamSize, {.cmdline = with_nul}, "NUL"},
      {kRamSize, {.cmdline = "", .setup_data = kRamSize}, "setup_data pointer"},
      {kRamSize, {.cmdline = "", .setup_data = kRamSize - 8}, "setup_data pointer"},
      {kRamSize, {.cmdline = "", .setup_data = UINT64_MAX - 4}, "setup_data pointer"},
      {0x100000, {.cmdline = ""}, "smaller than the minimum"},
      {0x10000, {.cmdline = ""}, "smaller than the minimum"},
      {0, {.cmdline = ""}, "smaller than the minimum"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needle);
    GuardedRam ram(c.ram);
    const auto before = ram.snapshot();
    expect_error(build_boot_params(ram.span(), c.opts), c.needle);
    EXPECT_TRUE(ram.snapshot() == before);
    EXPECT_TRUE(ram.guards_intact());
  }
}

TEST(LoaderBootParams, SetupDataChainIsLinkedFromTheZeroPage) {
  GuardedRam ram(kRamSize);
  SetupDataChain chain(ram.span());
  EXPECT_EQ(chain.head(), 0u);
  const auto dtb = test::pattern(13, 5);  // odd size: the next node must still be 8-aligned
  const auto rng = test::pattern(32, 6);
  auto first = chain.add(2 /* SETUP_DTB */, dtb);
  ASSERT_TRUE(first.ok()) << first.error();
  auto second = chain.add(9 /* SETUP_RNG_SEED */, rng);
  ASSERT_TRUE(second.ok()) << second.error();
  EXPECT_EQ(chain.count(), 2u);
  EXPECT_EQ(*first, kSetupDataAddr);
  EXPECT_EQ(*second % 8, 0u);
  ASSERT_TRUE(build_boot_params(ram.span(), {.cmdline = "", .setup_data = chain.head()}).ok());

  // Walk: setup_data @0x250 -> {u64 next, u32 type, u32 len, u8 data[len]} -> ...
  std::uint64_t node = zp<std::uint64_t>(ram, 0x250);
  const std::pair<std::uint32_t, const std::vector<std::byte>*> want[] = {{2, &dtb}, {9, &rng}};
  for (const auto& [type, payload] : want) {
    ASSERT_NE(node, 0u);
    ASSERT_LT(node + 16 + payload->size(), kRamSize);
    EXPECT_EQ(ram.load<std::uint32_t>(node + 8), type);
    EXPECT_EQ(ram.load<std::uint32_t>(node + 12), payload->size());
    EXPECT_EQ(std::memcmp(ram.span().data() + node + 16, payload->data(), payload->size()), 0);
    node = ram.load<std::uint64_t>(node);
  }
  EXPECT_EQ(node, 0u);
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBootParams, SetupDataAreaFullIsAnErrorAndKeepsTheChain) {
  GuardedRam ram(kRamSize);
  SetupDataChain chain(ram.span());
  ASSERT_TRUE(chain.add(2, test::pattern(100, 1)).ok());
  const auto before = ram.snapshot();
  const std::vector<std::byte> huge(kSetupDataEnd - kSetupDataAddr);
  auto r = chain.add(2, huge);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("does not fit in the setup_data area"), std::string::npos) << r.error();
  EXPECT_TRUE(ram.snapshot() == before);
  EXPECT_EQ(chain.count(), 1u);
  EXPECT_EQ(ram.load<std::uint64_t>(chain.head()), 0u);  // still the tail

  // Exactly filling the rest of the area works.
  const std::uint64_t left = kSetupDataEnd - (kSetupDataAddr + 16 + 104) - 16;
  auto fits = chain.add(2, std::vector<std::byte>(left));
  ASSERT_TRUE(fits.ok()) << fits.error();
  EXPECT_FALSE(chain.add(2, {}).ok());  // not even an empty node fits now
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBootParams, SetupDataInTinyRamIsAnError) {
  GuardedRam ram(kSetupDataAddr + 0x20);
  SetupDataChain chain(ram.span());
  auto r = chain.add(2, test::pattern(0x40, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("beyond the end of RAM"), std::string::npos) << r.error();
  EXPECT_TRUE(ram.guards_intact());
}

}  // namespace
}  // namespace hvk::machine
