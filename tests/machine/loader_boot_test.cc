// prepare_elf64_boot end to end: everything the 64-bit boot protocol promises is in place, and a
// bad image or bad options leave RAM untouched.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "loader_test_support.h"
#include "machine/loader/boot.h"

namespace hvk::machine {
namespace {

using test::ElfBuilder;
using test::GuardedRam;

constexpr std::size_t kRamSize = 32 << 20;

std::vector<std::byte> kernel_like_image() {
  return ElfBuilder()
      .entry(0x1000000)
      .segment(0x1000000, test::pattern(0x3000, 1), 0x3000, PT_LOAD, PF_R | PF_X,
               0xffffffff81000000)
      .segment(0x1400000, test::pattern(0x100, 2), 0x10000, PT_LOAD, PF_R | PF_W,
               0xffffffff81400000)
      .build();
}

TEST(LoaderBoot, PreparesEverythingTheProtocolPromises) {
  GuardedRam ram(kRamSize);
  const auto image = kernel_like_image();
  auto setup = prepare_elf64_boot(image, ram.span(), {.cmdline = "console=ttyS0"});
  ASSERT_TRUE(setup.ok()) << setup.error();
  const BootState& st = setup->state;

  EXPECT_EQ(st.rip, 0x1000000u);
  EXPECT_EQ(setup->image.entry, st.rip);
  EXPECT_EQ(setup->image.low, 0x1000000u);
  EXPECT_EQ(setup->image.high, 0x1410000u);
  // Image bytes and bss.
  EXPECT_EQ(ram.span()[0x1000000], test::pattern(1, 1)[0]);
  EXPECT_EQ(ram.span()[0x1400000 + 0x100], std::byte{0});
  EXPECT_EQ(ram.span()[0x140ffff], std::byte{0});
  // RSI -> zero page with HdrS, the e820 map and the command line pointer.
  EXPECT_EQ(st.rsi, 0x7000u);
  EXPECT_EQ(ram.load<std::uint16_t>(st.rsi + 0x1fe), 0xAA55);
  EXPECT_EQ(ram.load<std::uint32_t>(st.rsi + 0x202), 0x53726448u);
  EXPECT_EQ(ram.load<std::uint8_t>(st.rsi + 0x1e8), 3);
  EXPECT_EQ(ram.load<std::uint64_t>(st.rsi + 0x2d0 + std::uint64_t{2} * 20 + 8),
            kRamSize - 0x100000u);
  const std::uint32_t cmdline = ram.load<std::uint32_t>(st.rsi + 0x228);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ram.span().data() + cmdline)),
            "console=ttyS0");
  // CR3 -> PML4 present, GDTR -> the boot descriptors.
  EXPECT_EQ(st.cr3, 0x9000u);
  EXPECT_EQ(ram.load<std::uint64_t>(st.cr3) & 1u, 1u);
  EXPECT_EQ(ram.load<std::uint64_t>(st.gdt.base + st.cs.selector), 0x00af9b000000ffffu);
  EXPECT_EQ(ram.load<std::uint64_t>(st.gdt.base + st.ds.selector), 0x00cf93000000ffffu);
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBoot, DescribesAndMapsRamAbove4GiBWithoutWritingIt) {
  struct Case {
    std::uint64_t high_ram;
    std::uint64_t directories;
  } cases[] = {{3 * kGiB, 7}, {17 * kGiB, 21}, {30 * kGiB, 21}, {100 * kGiB, 21}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.high_ram);
    GuardedRam ram(kRamSize);  // the low span; the high RAM is only described
    auto setup = prepare_elf64_boot(kernel_like_image(), ram.span(),
                                    {.cmdline = "console=ttyS0", .high_ram = c.high_ram});
    ASSERT_TRUE(setup.ok()) << setup.error();
    const std::uint64_t zp = setup->state.rsi;
    auto e820 = [&](std::uint64_t i) { return zp + 0x2d0 + 20 * i; };  // entry i of e820_table
    // e820: the low map, then the RAM at 4 GiB.
    EXPECT_EQ(ram.load<std::uint8_t>(zp + 0x1e8), 4);
    EXPECT_EQ(ram.load<std::uint64_t>(e820(2) + 8), kRamSize - 0x100000u);
    EXPECT_EQ(ram.load<std::uint64_t>(e820(3)), 0x100000000u);
    EXPECT_EQ(ram.load<std::uint64_t>(e820(3) + 8), c.high_ram);
    EXPECT_EQ(ram.load<std::uint32_t>(e820(3) + 16), 1u);
    // The identity map reaches the high RAM, up to 21 GiB.
    EXPECT_NE(ram.load<std::uint64_t>(0xa000 + 8 * (c.directories - 1)), 0u);
    EXPECT_EQ(ram.load<std::uint64_t>(0xa000 + 8 * c.directories), 0u);
    EXPECT_TRUE(ram.guards_intact());
  }
}

TEST(LoaderBoot, ErrorsLeaveRamUntouched) {
  const auto good = kernel_like_image();
  auto bad = good;
  bad[EI_CLASS] = std::byte{ELFCLASS32};
  const std::string too_long(kCmdlineMax, 'x');
  struct Case {
    const std::vector<std::byte>* image;
    std::size_t ram;
    std::string_view cmdline;
    const char* needle;
  } cases[] = {
      {&bad, kRamSize, "", "ELF: class 1 is not ELFCLASS64"},
      {&good, kRamSize, too_long, "command line"},
      {&good, 0x1000000, "", "beyond the end of RAM"},  // image at 16 MiB, RAM is 16 MiB
      {&good, 0x200000, "", "smaller than the minimum"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needle);
    GuardedRam ram(c.ram);
    const auto before = ram.snapshot();
    auto r = prepare_elf64_boot(*c.image, ram.span(), {.cmdline = c.cmdline});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find(c.needle), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find('\n'), std::string::npos);
    EXPECT_TRUE(ram.snapshot() == before);
    EXPECT_TRUE(ram.guards_intact());
  }
}

TEST(LoaderBoot, PassesTheSetupDataChain) {
  GuardedRam ram(kRamSize);
  SetupDataChain chain(ram.span());
  auto node = chain.add(2, test::pattern(64, 3));
  ASSERT_TRUE(node.ok()) << node.error();
  auto setup = prepare_elf64_boot(kernel_like_image(), ram.span(),
                                  {.cmdline = "", .setup_data = chain.head()});
  ASSERT_TRUE(setup.ok()) << setup.error();
  EXPECT_EQ(ram.load<std::uint64_t>(setup->state.rsi + 0x250), *node);
  EXPECT_EQ(ram.load<std::uint32_t>(*node + 8), 2u);
}

}  // namespace
}  // namespace hvk::machine
