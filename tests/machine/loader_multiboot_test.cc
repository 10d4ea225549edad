// Multiboot (version 1): finding the header, its flags and the a.out kludge, loading ELF32, ELF64
// and kludge images, the information structure byte for byte, the module, the entry state, the
// format detection of prepare_boot, and refusals that leave RAM untouched.
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "loader_test_support.h"
#include "machine/loader/boot.h"
#include "machine/loader/multiboot.h"
#include "machine/loader/multiboot_info.h"

namespace hvk::machine {
namespace {

using test::Elf32Builder;
using test::ElfBuilder;
using test::get_u32;
using test::GuardedRam;
using test::multiboot_header;
using test::place;
using test::put_u32;

constexpr std::size_t kRamSize = 16 << 20;
constexpr std::uint32_t kText = 0x200000;
constexpr std::uint32_t kData = 0x201000;

// An ELF32 Multiboot kernel: text at 2 MiB starting with the header (flags `flags`), data at
// 2 MiB + 4 KiB with 0x80 file bytes and 0x2000 bytes of memory (the rest is bss).
std::vector<std::byte> elf32_kernel(std::uint32_t flags = 0x3) {
  auto text = test::pattern(0x300, 5);
  place(text, 0, multiboot_header(flags));
  return Elf32Builder()
      .entry(kText + 0x10)
      .segment(kText, text, 0x300)
      .segment(kData, test::pattern(0x80, 6), 0x2000, PT_LOAD, PF_R | PF_W)
      .build();
}

// A raw binary with the a.out kludge: the header at file offset 0x40, loaded so that file offset
// 0 lands at `load`; `size` bytes in all, bss to `bss_end` (0: none).
std::vector<std::byte> kludge_image(std::uint32_t load, std::size_t size, std::uint32_t load_end,
                                    std::uint32_t bss_end, std::uint32_t entry) {
  auto file = test::pattern(size, 9);
  place(file, 0x40, multiboot_header(0x10003, {load + 0x40, load, load_end, bss_end, entry}));
  return file;
}

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%#x", v);
  return buf;
}

std::string str_at(const GuardedRam& ram, std::uint64_t gpa) {
  return {reinterpret_cast<const char*>(ram.span().data() + gpa)};
}

void expect_one_line(const std::string& error, std::string_view needle) {
  EXPECT_NE(error.find(needle), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

// prepare_boot refuses `image` with an error containing `needle`, writing nothing.
void expect_refused(const std::vector<std::byte>& image, std::string_view needle,
                    const BootOptions& options = {}, std::size_t ram_size = kRamSize) {
  GuardedRam ram(ram_size);
  const auto before = ram.snapshot();
  auto r = prepare_boot(image, ram.span(), options);
  ASSERT_FALSE(r.ok()) << "accepted; expected: " << needle;
  expect_one_line(r.error(), needle);
  EXPECT_TRUE(ram.snapshot() == before) << "RAM was written before the refusal";
  EXPECT_TRUE(ram.guards_intact());
}

// --- Finding the header --------------------------------------------------------------------------

TEST(LoaderMultiboot, FindsTheHeaderAtAlignedOffsetsInTheFirst8KiB) {
  for (std::size_t at :
       {std::size_t{0}, std::size_t{4}, std::size_t{0x1000}, std::size_t{8192 - 12}}) {
    SCOPED_TRACE(at);
    std::vector<std::byte> image(0x3000, std::byte{0x90});
    place(image, at, multiboot_header(0));
    EXPECT_EQ(find_multiboot_header(image), std::optional<std::uint64_t>(at));
  }
}

TEST(LoaderMultiboot, IgnoresHeadersPast8KiBMisalignedOrCutOff) {
  // Crossing or past the 8192-byte limit.
  for (std::size_t at : {std::size_t{8192 - 8}, std::size_t{8192}, std::size_t{0x3000}}) {
    SCOPED_TRACE(at);
    std::vector<std::byte> image(0x4000, std::byte{0});
    place(image, at, multiboot_header(0));
    EXPECT_FALSE(find_multiboot_header(image).has_value());
    EXPECT_FALSE(find_multiboot_magic(image).has_value());
  }
  // Not 32-bit aligned.
  for (std::size_t at : {std::size_t{1}, std::size_t{2}, std::size_t{0x103}}) {
    SCOPED_TRACE(at);
    std::vector<std::byte> image(0x1000, std::byte{0});
    place(image, at, multiboot_header(0));
    EXPECT_FALSE(find_multiboot_header(image).has_value());
  }
  // The file ends inside the header.
  auto cut = multiboot_header(0);
  cut.resize(11);
  EXPECT_FALSE(find_multiboot_header(cut).has_value());
  EXPECT_FALSE(find_multiboot_header({}).has_value());
  // 12 bytes exactly is a header.
  EXPECT_EQ(find_multiboot_header(multiboot_header(0)), std::optional<std::uint64_t>(0));
}

TEST(LoaderMultiboot, TheChecksumMakesTheSumZero) {
  // Flags whose sum with the magic wraps past 2^32.
  for (std::uint32_t flags : {0u, 3u, 0x10000u, 0xe4524ffeu, 0xffff0000u}) {
    SCOPED_TRACE(flags);
    EXPECT_TRUE(find_multiboot_header(multiboot_header(flags)).has_value());
    auto broken = multiboot_header(flags);
    put_u32(broken, 8, get_u32(broken, 8) + 1);
    EXPECT_FALSE(find_multiboot_header(broken).has_value());
    EXPECT_EQ(find_multiboot_magic(broken), std::optional<std::uint64_t>(0));
  }
}

TEST(LoaderMultiboot, ABadChecksumIsSkippedForALaterGoodHeader) {
  std::vector<std::byte> image(0x100, std::byte{0});
  auto bad = multiboot_header(3);
  put_u32(bad, 8, 0);
  place(image, 0x10, bad);
  place(image, 0x40, multiboot_header(3));
  EXPECT_EQ(find_multiboot_magic(image), std::optional<std::uint64_t>(0x10));
  EXPECT_EQ(find_multiboot_header(image), std::optional<std::uint64_t>(0x40));
  auto parsed = parse_multiboot_header(image, 0x10);
  ASSERT_FALSE(parsed.ok());
  expect_one_line(parsed.error(),
                  "bad checksum (magic + flags + checksum = 0x1badb005, must be 0)");
}

// --- Flags -------------------------------------------------------------------------------------

TEST(LoaderMultiboot, ParsesFlagsAndTheKludgeFields) {
  auto image = multiboot_header(0x10003, {0x101000, 0x100000, 0x102000, 0x103000, 0x101020});
  auto h = parse_multiboot_header(image, 0);
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->offset, 0u);
  EXPECT_EQ(h->flags, 0x10003u);
  EXPECT_EQ(h->header_addr, 0x101000u);
  EXPECT_EQ(h->load_addr, 0x100000u);
  EXPECT_EQ(h->load_end_addr, 0x102000u);
  EXPECT_EQ(h->bss_end_addr, 0x103000u);
  EXPECT_EQ(h->entry_addr, 0x101020u);
  // Without bit 16 the words after the checksum are not read.
  auto plain = multiboot_header(0x3, {0x101000, 0x100000, 0x102000, 0x103000, 0x101020});
  auto p = parse_multiboot_header(plain, 0);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->load_addr, 0u);
  EXPECT_EQ(p->entry_addr, 0u);
}

TEST(LoaderMultiboot, RefusesTheVideoModeAndUnknownRequirements) {
  auto video = parse_multiboot_header(multiboot_header(0x7), 0);
  ASSERT_FALSE(video.ok());
  expect_one_line(video.error(), "requires a video mode (header flags bit 2)");
  for (unsigned bit = 3; bit < 16; ++bit) {
    SCOPED_TRACE(bit);
    auto r = parse_multiboot_header(multiboot_header(1u << bit), 0);
    ASSERT_FALSE(r.ok());
    expect_one_line(r.error(), "does not know (header flags " + hex(1u << bit));
  }
  // Bits 16-31 other than 16 are optional: ignored.
  for (unsigned bit = 17; bit < 32; ++bit) {
    SCOPED_TRACE(bit);
    auto r = parse_multiboot_header(multiboot_header(0x3 | 1u << bit), 0);
    EXPECT_TRUE(r.ok()) << r.error();
  }
}

TEST(LoaderMultiboot, RefusesKludgeFieldsOutsideTheFileOrThe8KiB) {
  // The header fits, its five address words do not: end of file, then the 8192-byte limit.
  auto short_file = multiboot_header(0x10000, {0x100000, 0x100000});
  auto r = parse_multiboot_header(short_file, 0);
  ASSERT_FALSE(r.ok());
  expect_one_line(r.error(), "extend past the first 20 bytes");
  std::vector<std::byte> image(0x3000, std::byte{0});
  place(image, 8192 - 12, multiboot_header(0x10000));
  ASSERT_EQ(find_multiboot_header(image), std::optional<std::uint64_t>(8192 - 12));
  r = parse_multiboot_header(image, 8192 - 12);
  ASSERT_FALSE(r.ok());
  expect_one_line(r.error(), "extend past the first 8192 bytes");
}

// --- Loading -----------------------------------------------------------------------------------

TEST(LoaderMultiboot, LoadsAnElf32BySegmentsAndZeroesItsBss) {
  const auto image = elf32_kernel();
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(image, ram.span(), {});
  ASSERT_TRUE(mb.ok()) << mb.error();
  EXPECT_EQ(mb->image.entry, kText + 0x10u);
  EXPECT_EQ(mb->image.low, kText);
  EXPECT_EQ(mb->image.high, kData + 0x2000u);
  ASSERT_EQ(mb->image.segments.size(), 2u);
  const auto mem = ram.span();
  const std::size_t text_at = Elf32Builder().segment(0, {}, 0).segment(0, {}, 0).offset_of(0);
  for (std::size_t i = 0; i < 0x300; ++i) ASSERT_EQ(mem[kText + i], image[text_at + i]) << i;
  const auto data = test::pattern(0x80, 6);
  for (std::size_t i = 0; i < data.size(); ++i) ASSERT_EQ(mem[kData + i], data[i]) << i;
  for (std::size_t i = kData + 0x80; i < kData + 0x2000; ++i) ASSERT_EQ(mem[i], std::byte{0}) << i;
  // Nothing between or around the segments.
  EXPECT_EQ(mem[kText - 1], std::byte{0xcc});
  EXPECT_EQ(mem[kText + 0x300], std::byte{0xcc});
  EXPECT_EQ(mem[kData - 1], std::byte{0xcc});
  EXPECT_EQ(mem[kData + 0x2000], std::byte{0xcc});
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderMultiboot, LoadsAnElf64ByPhysicalAddress) {
  auto text = test::pattern(0x100, 3);
  place(text, 8, multiboot_header(0x2));
  const auto image = ElfBuilder()
                         .entry(0x300000)
                         .segment(0x300000, text, 0x1000, PT_LOAD, PF_R | PF_X, 0x80300000)
                         .build();
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(image, ram.span(), {});
  ASSERT_TRUE(mb.ok()) << mb.error();
  EXPECT_EQ(mb->image.entry, 0x300000u);
  EXPECT_EQ(ram.span()[0x300000 + 0xff], text[0xff]);
  EXPECT_EQ(ram.span()[0x300000 + 0x100], std::byte{0});
  EXPECT_EQ(ram.span()[0x300000 + 0x1000], std::byte{0xcc});
}

TEST(LoaderMultiboot, AVirtualEntryMovesToItsPhysicalAddress) {
  auto text = test::pattern(0x200, 3);
  place(text, 0, multiboot_header(0x3));
  // A higher-half kernel: linked at 0xc0200000, loaded at 2 MiB, entry given virtually.
  const auto image = Elf32Builder()
                         .entry(0xc0200040)
                         .segment(kText, text, 0x200, PT_LOAD, PF_R | PF_X, 0xc0200000)
                         .build();
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(image, ram.span(), {});
  ASSERT_TRUE(mb.ok()) << mb.error();
  EXPECT_EQ(mb->image.entry, kText + 0x40u);
  EXPECT_EQ(mb->state.rip, kText + 0x40u);
  // An entry in neither range is refused.
  const auto lost = Elf32Builder()
                        .entry(0xd0000000)
                        .segment(kText, text, 0x200, PT_LOAD, PF_R, 0xc0200000)
                        .build();
  expect_refused(lost, "Multiboot: ELF: entry point 0xd0000000 is not inside any loaded segment");
}

TEST(LoaderMultiboot, TheKludgeLoadsARawBinaryAndZeroesItsBss) {
  constexpr std::uint32_t kLoad = 0x180000;
  // Load to the end of the 0x900-byte file, bss to +0x3000, entry at +0x100.
  const auto image = kludge_image(kLoad, 0x900, 0, kLoad + 0x3000, kLoad + 0x100);
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(image, ram.span(), {});
  ASSERT_TRUE(mb.ok()) << mb.error();
  EXPECT_EQ(mb->image.entry, kLoad + 0x100u);
  EXPECT_EQ(mb->image.low, kLoad);
  EXPECT_EQ(mb->image.high, kLoad + 0x3000u);
  ASSERT_EQ(mb->image.segments.size(), 1u);
  EXPECT_EQ(mb->image.segments[0].filesz, 0x900u);
  const auto mem = ram.span();
  for (std::size_t i = 0; i < 0x900; ++i) ASSERT_EQ(mem[kLoad + i], image[i]) << i;
  for (std::size_t i = kLoad + 0x900; i < kLoad + 0x3000; ++i) ASSERT_EQ(mem[i], std::byte{0}) << i;
  EXPECT_EQ(mem[kLoad - 1], std::byte{0xcc});
  EXPECT_EQ(mem[kLoad + 0x3000], std::byte{0xcc});
}

TEST(LoaderMultiboot, TheKludgeStartsWhereHeaderAddrSaysAndStopsAtLoadEnd) {
  // The header at file offset 0x40 is meant for 0x100040 + 0x20: the text begins at file offset
  // 0x20, and only 0x100 bytes of it load.
  auto file = test::pattern(0x800, 4);
  place(file, 0x40, multiboot_header(0x10000, {0x100020, 0x100000, 0x100100, 0, 0x100000}));
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(file, ram.span(), {});
  ASSERT_TRUE(mb.ok()) << mb.error();
  EXPECT_EQ(mb->image.high, 0x100100u);
  for (std::size_t i = 0; i < 0x100; ++i) ASSERT_EQ(ram.span()[0x100000 + i], file[0x20 + i]) << i;
  EXPECT_EQ(ram.span()[0x100100], std::byte{0xcc});
}

TEST(LoaderMultiboot, TheKludgeWinsOverTheElfHeaders) {
  // An ELF32 whose program headers say 2 MiB, whose kludge says 3 MiB: the kludge is used.
  auto text = test::pattern(0x400, 2);
  const auto probe = Elf32Builder().segment(kText, text, 0x400).build();
  const std::size_t text_at = probe.size() - text.size();
  constexpr std::uint32_t kAt = 0x300000;
  // The text's byte 0 (the header) is meant for kAt: file offset text_at lands at kAt.
  place(text, 0, multiboot_header(0x10000, {kAt, kAt, 0, kAt + 0x1000, kAt + 0x20}));
  const auto image = Elf32Builder().entry(kText).segment(kText, text, 0x400).build();
  ASSERT_EQ(image.size() - text.size(), text_at);
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(image, ram.span(), {});
  ASSERT_TRUE(mb.ok()) << mb.error();
  EXPECT_EQ(mb->image.entry, kAt + 0x20u);
  EXPECT_EQ(get_u32(ram.span(), kAt), 0x1BADB002u);
  EXPECT_EQ(ram.span()[kText], std::byte{0xcc});  // the ELF's own address is untouched
}

TEST(LoaderMultiboot, RefusesBadKludgeAddresses) {
  struct Case {
    std::vector<std::uint32_t> fields;  // header_addr, load_addr, load_end, bss_end, entry
    const char* needle;
  } cases[] = {
      {{0x100040, 0x100080, 0, 0, 0x100080}, "header_addr 0x100040 is below load_addr 0x100080"},
      {{0x100100, 0x100000, 0, 0, 0x100000}, "is 0x100 bytes before the header"},
      {{0x100040, 0x100000, 0xfffff, 0, 0x100000}, "load_end_addr 0xfffff is below load_addr"},
      {{0x100040, 0x100000, 0x100900, 0, 0x100000}, "needs file bytes [0x0, 0x900) of a 2048"},
      {{0x100040, 0x100000, 0x100400, 0x100300, 0x100000}, "bss_end_addr 0x100300 is below"},
      {{0x100040, 0x100000, 0x100400, 0, 0x100400}, "entry_addr 0x100400 is outside the image"},
      {{0x100040, 0x100000, 0x100400, 0, 0xfffff}, "entry_addr 0xfffff is outside"},
      {{0x40, 0, 0x400, 0, 0}, "overlaps the loader's real-mode IVT/BDA"},
      {{0x20840, 0x20800, 0x20c00, 0, 0x20800}, "overlaps the loader's Multiboot information"},
      {{0xf0040, 0xf0000, 0, 0x110000, 0xf0000}, "overlaps the loader's legacy EBDA/VGA/BIOS"},
      {{0xff0040, 0xff0000, 0, 0x1000010, 0xff0000}, "lies beyond the end of RAM (0x1000000)"},
      {{0x100040, 0x100000, 0x100000, 0, 0x100000}, "the image loads no bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needle);
    auto file = test::pattern(0x800, 4);
    place(file, 0x40,
          multiboot_header(0x10000,
                           {c.fields[0], c.fields[1], c.fields[2], c.fields[3], c.fields[4]}));
    GuardedRam ram(kRamSize);
    const auto before = ram.snapshot();
    auto r = load_multiboot(file, ram.span(), {});
    ASSERT_FALSE(r.ok());
    expect_one_line(r.error(), c.needle);
    EXPECT_EQ(r.error().rfind("Multiboot: a.out kludge: ", 0), 0u) << r.error();
    EXPECT_TRUE(ram.snapshot() == before);
  }
}

TEST(LoaderMultiboot, RefusesImagesAbove4GiB) {
  // Checked against a RAM size alone: RAM of 8 GiB, a segment at 4 GiB - 4 KiB crossing 4 GiB.
  auto text = test::pattern(0x100, 1);
  place(text, 0, multiboot_header(0));
  const auto image = ElfBuilder().entry(0xfffff000).segment(0xfffff000, text, 0x2000).build();
  auto h = parse_multiboot_header(image, *find_multiboot_header(image));
  ASSERT_TRUE(h.ok()) << h.error();
  auto plan = plan_multiboot_image(image, *h, 8ull << 30);
  ASSERT_FALSE(plan.ok());
  expect_one_line(plan.error(), "ends above 0x100000000");
  // The same segment below 4 GiB passes.
  const auto low = ElfBuilder().entry(0xffffe000).segment(0xffffe000, text, 0x2000).build();
  EXPECT_TRUE(plan_multiboot_image(low, *h, 8ull << 30).ok());
}

TEST(LoaderMultiboot, RefusesElfProblemsWithTheElfMessage) {
  auto image = elf32_kernel();
  image[EI_DATA] = std::byte{ELFDATA2MSB};
  expect_refused(image, "Multiboot: ELF: data encoding 2 is not little-endian");
  image = elf32_kernel();
  Elf32_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  eh.e_machine = EM_X86_64;  // an ELF32 must be EM_386
  std::memcpy(image.data(), &eh, sizeof eh);
  expect_refused(image, "Multiboot: ELF: machine 62 is not EM_386");
  // Neither ELF nor the kludge.
  std::vector<std::byte> raw(0x400, std::byte{0x90});
  place(raw, 0x20, multiboot_header(0x3));
  expect_refused(raw, "Multiboot: the image is not an ELF file and its header gives no load");
}

// --- The information structure -----------------------------------------------------------------

TEST(LoaderMultiboot, TheInformationStructureHoldsExactlyWhatHvkGives) {
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(elf32_kernel(), ram.span(), {.cmdline = "console=ttyS0 x=1"});
  ASSERT_TRUE(mb.ok()) << mb.error();
  const std::uint64_t info = mb->info;
  EXPECT_EQ(info, 0x20800u);
  auto field = [&](std::uint64_t off) { return ram.load<std::uint32_t>(info + off); };
  EXPECT_EQ(field(0), 0x24du);                        // mem, cmdline, mods, mmap, boot_loader_name
  EXPECT_EQ(field(4), 639u);                          // mem_lower: [0, 0x9fc00)
  EXPECT_EQ(field(8), (kRamSize - 0x100000) / 1024);  // mem_upper
  EXPECT_EQ(field(12), 0u);                           // boot_device: not given
  EXPECT_EQ(str_at(ram, field(16)), "console=ttyS0 x=1");
  EXPECT_EQ(field(20), 0u);   // mods_count
  EXPECT_EQ(field(44), 72u);  // mmap_length: three entries
  EXPECT_EQ(str_at(ram, field(64)), "hvk");
  // syms, drives, config table, APM, VBE and framebuffer: all zero.
  for (std::uint64_t off : {28u, 32u, 36u, 40u, 52u, 56u, 60u, 68u, 72u, 76u, 80u, 84u, 88u, 92u,
                            96u, 100u, 104u, 108u, 112u}) {
    EXPECT_EQ(field(off), 0u) << off;
  }

  // The memory map, byte for byte: {size 20, base_addr, length, type} three times.
  std::vector<std::byte> expected;
  auto put64 = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) expected.push_back(static_cast<std::byte>(v >> (8 * i)));
  };
  auto put32 = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) expected.push_back(static_cast<std::byte>(v >> (8 * i)));
  };
  for (auto [base, length, type] :
       {std::tuple{0x0ull, 0x9fc00ull, 1u}, std::tuple{0x9fc00ull, 0x60400ull, 2u},
        std::tuple{0x100000ull, kRamSize - 0x100000ull, 1u}}) {
    put32(20);
    put64(base);
    put64(length);
    put32(type);
  }
  const std::uint32_t mmap = field(48);
  ASSERT_EQ(expected.size(), 72u);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(ram.span()[mmap + i], expected[i]) << "mmap byte " << i;
  }
  // The same map boot_params gets.
  const auto e820 = e820_layout(kRamSize);
  ASSERT_EQ(e820.size(), 3u);
  EXPECT_EQ(ram.load<std::uint64_t>(mmap + 24 * 2 + 4), e820[2].addr);
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderMultiboot, MemUpperFollowsTheRamSize) {
  for (std::size_t size :
       {std::size_t{3} << 20, std::size_t{64} << 20, (std::size_t{64} << 20) + 0x1800}) {
    SCOPED_TRACE(size);
    GuardedRam ram(size);
    auto text = test::pattern(0x40, 1);
    place(text, 0, multiboot_header(0));
    auto mb = load_multiboot(Elf32Builder().entry(0x100000).segment(0x100000, text, 0x40).build(),
                             ram.span(), {});
    ASSERT_TRUE(mb.ok()) << mb.error();
    EXPECT_EQ(ram.load<std::uint32_t>(mb->info + 8), (size - 0x100000) / 1024);
    EXPECT_EQ(ram.load<std::uint64_t>(ram.load<std::uint32_t>(mb->info + 48) + 48 + 12),
              size - 0x100000);
  }
}

// The memory map's entries as e820_layout(low, high) gives them, byte for byte.
void expect_mmap(std::span<const std::byte> ram, std::uint64_t info, std::uint64_t low,
                 std::uint64_t high) {
  auto u32 = [&](std::uint64_t at) {
    std::uint32_t v;
    std::memcpy(&v, ram.data() + at, 4);
    return v;
  };
  auto u64 = [&](std::uint64_t at) {
    std::uint64_t v;
    std::memcpy(&v, ram.data() + at, 8);
    return v;
  };
  const auto map = e820_layout(low, high);
  ASSERT_EQ(u32(info + 44), map.size() * 24);  // mmap_length
  const std::uint32_t mmap = u32(info + 48);
  for (std::size_t i = 0; i < map.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(u32(mmap + 24 * i), 20u);
    EXPECT_EQ(u64(mmap + 24 * i + 4), map[i].addr);
    EXPECT_EQ(u64(mmap + 24 * i + 12), map[i].size);
    EXPECT_EQ(u32(mmap + 24 * i + 20), map[i].type);
  }
}

TEST(LoaderMultiboot, TheMemoryMapDescribesRamAbove4GiBAndMemUpperDoesNot) {
  constexpr std::uint64_t kHigh = 3ull << 30;
  for (bool via_prepare : {false, true}) {
    SCOPED_TRACE(via_prepare);
    GuardedRam ram(kRamSize);  // the high RAM is only described: no need for it
    if (via_prepare) {
      auto setup = prepare_boot(elf32_kernel(), ram.span(), {.cmdline = "", .high_ram = kHigh});
      ASSERT_TRUE(setup.ok()) << setup.error();
      EXPECT_EQ(setup->format, BootFormat::kMultiboot);
    } else {
      auto mb = load_multiboot(elf32_kernel(), ram.span(), {.high_ram = kHigh});
      ASSERT_TRUE(mb.ok()) << mb.error();
    }
    const std::uint64_t info = 0x20800;
    EXPECT_EQ(ram.load<std::uint32_t>(info), 0x24du);
    EXPECT_EQ(ram.load<std::uint32_t>(info + 4), 639u);                          // mem_lower
    EXPECT_EQ(ram.load<std::uint32_t>(info + 8), (kRamSize - 0x100000) / 1024);  // to the hole
    EXPECT_EQ(ram.load<std::uint32_t>(info + 44), 96u);                          // four entries
    const std::uint32_t mmap = ram.load<std::uint32_t>(info + 48);
    EXPECT_EQ(ram.load<std::uint64_t>(mmap + 3 * 24 + 4), 0x100000000u);
    EXPECT_EQ(ram.load<std::uint64_t>(mmap + 3 * 24 + 12), kHigh);
    EXPECT_EQ(ram.load<std::uint32_t>(mmap + 3 * 24 + 20), 1u);
    expect_mmap(ram.span(), info, kRamSize, kHigh);
    EXPECT_TRUE(ram.guards_intact());
  }
}

TEST(LoaderMultiboot, ALowSpanOfExactly3GiBEndsAtTheHole) {
  // 3 GiB reserved but only touched where the loader writes (MAP_NORESERVE).
  constexpr std::uint64_t kLow = 3ull << 30, kHigh = 5ull << 30;
  void* p = mmap(nullptr, kLow, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) GTEST_SKIP() << "cannot reserve 3 GiB of address space";
  const std::span<std::byte> ram(static_cast<std::byte*>(p), kLow);
  auto mb = load_multiboot(elf32_kernel(), ram, {.high_ram = kHigh});
  ASSERT_TRUE(mb.ok()) << mb.error();
  EXPECT_EQ(test::get_u32(ram, mb->info + 8), (kLow - 0x100000) / 1024);  // mem_upper
  expect_mmap(ram, mb->info, kLow, kHigh);
  munmap(p, kLow);
}

TEST(LoaderMultiboot, HighRamNeedsALowSpanBelowTheMmioHole) {
  // Sizes only: check_multiboot_info writes nothing.
  auto st = check_multiboot_info((3ull << 30) + 0x1000, {.high_ram = 1ull << 30});
  ASSERT_FALSE(st.ok());
  expect_one_line(st.error(), "Multiboot: RAM of 0xc0001000 bytes at 0 and more at 0x100000000");
  EXPECT_TRUE(check_multiboot_info(3ull << 30, {.high_ram = 100ull << 30}).ok());
  EXPECT_TRUE(check_multiboot_info((3ull << 30) + 0x1000, {}).ok());  // no high RAM
}

TEST(LoaderMultiboot, TheCommandLineIsNulTerminatedAndItsBufferCleared) {
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(elf32_kernel(), ram.span(), {.cmdline = "abc"});
  ASSERT_TRUE(mb.ok()) << mb.error();
  const std::uint32_t cmdline = ram.load<std::uint32_t>(mb->info + 16);
  EXPECT_EQ(cmdline, 0x20000u);
  EXPECT_EQ(str_at(ram, cmdline), "abc");
  for (std::size_t i = 3; i < 2048; ++i) ASSERT_EQ(ram.span()[cmdline + i], std::byte{0}) << i;
  // An empty command line is an empty string, and the flag is still set.
  GuardedRam ram2(kRamSize);
  ASSERT_TRUE(load_multiboot(elf32_kernel(), ram2.span(), {}).ok());
  EXPECT_EQ(str_at(ram2, 0x20000), "");
  EXPECT_EQ(ram2.load<std::uint32_t>(0x20800) & 4u, 4u);
}

TEST(LoaderMultiboot, TheImageNameComesFirstOnTheCommandLine) {
  struct Case {
    std::string_view program, cmdline, expected;
  } cases[] = {
      {"x86/msr.flat", "0x1 2", "x86/msr.flat 0x1 2"},
      {"x86/msr.flat", "", "x86/msr.flat"},
      {"", "a b", "a b"},
      {"", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.expected));
    GuardedRam ram(kRamSize);
    auto setup =
        prepare_boot(elf32_kernel(), ram.span(), {.cmdline = c.cmdline, .image_name = c.program});
    ASSERT_TRUE(setup.ok()) << setup.error();
    EXPECT_EQ(str_at(ram, ram.load<std::uint32_t>(0x20800 + 16)), c.expected);
  }
  // The limit counts both parts and the space: 1000 + 1 + 1046 = 2047 fits, one more does not.
  const std::string name(1000, 'n'), rest(1046, 'r');
  GuardedRam ram(kRamSize);
  ASSERT_TRUE(prepare_boot(elf32_kernel(), ram.span(), {.cmdline = rest, .image_name = name}).ok());
  EXPECT_EQ(str_at(ram, 0x20000).size(), 2047u);
  const std::string longer(1047, 'r');
  expect_refused(elf32_kernel(), "is 2048 bytes, the maximum is 2047",
                 {.cmdline = longer, .image_name = name});
  const std::string nul("a\0b", 3);
  expect_refused(elf32_kernel(), "contains a NUL byte", {.cmdline = "", .image_name = nul});
}

TEST(LoaderMultiboot, TheModuleGoesOnThePageAfterTheImage) {
  const auto module = test::pattern(0x1234, 8);
  GuardedRam ram(kRamSize);
  auto mb = load_multiboot(elf32_kernel(), ram.span(),
                           {.module = true, .module_bytes = module, .module_name = "/tmp/mod.bin"});
  ASSERT_TRUE(mb.ok()) << mb.error();
  // The image ends at 0x203000 (page aligned already); an unaligned end is tested below.
  EXPECT_EQ(mb->module, 0x203000u);
  const std::uint64_t info = mb->info;
  EXPECT_EQ(ram.load<std::uint32_t>(info + 20), 1u);
  const std::uint32_t mods = ram.load<std::uint32_t>(info + 24);
  EXPECT_EQ(ram.load<std::uint32_t>(mods), 0x203000u);
  EXPECT_EQ(ram.load<std::uint32_t>(mods + 4), 0x203000u + 0x1234u);  // one past the end
  EXPECT_EQ(str_at(ram, ram.load<std::uint32_t>(mods + 8)), "/tmp/mod.bin");
  EXPECT_EQ(ram.load<std::uint32_t>(mods + 12), 0u);
  for (std::size_t i = 0; i < module.size(); ++i) ASSERT_EQ(ram.span()[0x203000 + i], module[i]);
  EXPECT_EQ(ram.span()[0x203000 + 0x1234], std::byte{0xcc});
}

TEST(LoaderMultiboot, TheModuleIsPageAlignedAboveAnUnalignedImage) {
  // A kludge image ending at 0x180000 + 0x2345.
  const auto image = kludge_image(0x180000, 0x900, 0, 0x182345, 0x180000);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{0x5000}}) {
    SCOPED_TRACE(size);
    const auto module = test::pattern(size, 1);
    GuardedRam ram(kRamSize);
    auto mb = load_multiboot(image, ram.span(),
                             {.module = true, .module_bytes = module, .module_name = ""});
    ASSERT_TRUE(mb.ok()) << mb.error();
    EXPECT_EQ(mb->module, 0x183000u);
    const std::uint32_t mods = ram.load<std::uint32_t>(mb->info + 24);
    EXPECT_EQ(ram.load<std::uint32_t>(mods + 4) - ram.load<std::uint32_t>(mods), size);
    EXPECT_EQ(str_at(ram, ram.load<std::uint32_t>(mods + 8)), "");
    EXPECT_EQ(ram.span()[0x182345], std::byte{0xcc});  // the gap up to the page is not written
  }
}

TEST(LoaderMultiboot, AModuleThatDoesNotFitIsRefusedWithNothingWritten) {
  GuardedRam ram(4 << 20);
  const auto before = ram.snapshot();
  const std::vector<std::byte> module((4 << 20) - 0x203000 + 1, std::byte{1});
  auto mb = load_multiboot(elf32_kernel(), ram.span(), {.module = true, .module_bytes = module});
  ASSERT_FALSE(mb.ok());
  expect_one_line(mb.error(), "Multiboot: the module (" + std::to_string(module.size()) +
                                  " bytes) does not fit between the image's end 0x203000 and "
                                  "0x400000; give more --mem");
  EXPECT_TRUE(ram.snapshot() == before);
  // One byte less fits exactly.
  const std::vector<std::byte> exact(module.size() - 1, std::byte{1});
  EXPECT_TRUE(
      load_multiboot(elf32_kernel(), ram.span(), {.module = true, .module_bytes = exact}).ok());
}

TEST(LoaderMultiboot, RefusesBadOptionsWithNothingWritten) {
  const std::string long_cmdline(2048, 'x');
  const std::string long_name(0x6c0, 'n');
  const std::string nul("a\0b", 3);
  expect_refused(
      elf32_kernel(),
      "Multiboot: command line (the image's name and --cmdline) is 2048 bytes, the maximum is 2047",
      {.cmdline = long_cmdline});
  expect_refused(elf32_kernel(), "Multiboot: command line contains a NUL byte", {.cmdline = nul});
  expect_refused(elf32_kernel(), "Multiboot: module name is 1728 bytes, the maximum is 1727",
                 {.cmdline = "", .initrd_name = long_name});
  expect_refused(elf32_kernel(), "Multiboot: RAM of 0x200000 bytes is smaller than the minimum", {},
                 2 << 20);
  // The longest name and command line fit.
  GuardedRam ram(kRamSize);
  auto ok = prepare_boot(elf32_kernel(), ram.span(),
                         {.cmdline = std::string_view(long_cmdline).substr(1),
                          .initrd_name = std::string_view(long_name).substr(1)});
  ASSERT_TRUE(ok.ok()) << ok.error();
  const std::uint32_t mods = ram.load<std::uint32_t>(0x20800 + 24);
  EXPECT_EQ(str_at(ram, ram.load<std::uint32_t>(mods + 8)).size(), 0x6bfu);
  EXPECT_EQ(ram.span()[0x21000], std::byte{0xcc});  // the setup_data area is not touched
}

TEST(LoaderMultiboot, RefusalsOfTheImageWriteNothing) {
  auto segment_low = test::pattern(0x100, 1);
  place(segment_low, 0, multiboot_header(3));
  expect_refused(Elf32Builder().entry(0x8000).segment(0x8000, segment_low, 0x100).build(),
                 "Multiboot: ELF: segment 0 (p_paddr 0x8000, p_memsz 0x100): [0x8000, 0x8100) "
                 "overlaps the loader's reserved low memory");
  expect_refused(Elf32Builder().entry(0x20800).segment(0x20800, segment_low, 0x100).build(),
                 "overlaps the loader's Multiboot information");
  expect_refused(Elf32Builder().entry(0xf00000).segment(0xf00000, segment_low, 0x200000).build(),
                 "lies beyond the end of RAM (0x1000000)");
  expect_refused(elf32_kernel(0x7), "Multiboot: the image requires a video mode");
  expect_refused(elf32_kernel(0x3 | 0x100), "Multiboot: the image requires features hvk does not");
}

// --- Entry state -------------------------------------------------------------------------------

TEST(LoaderMultiboot, EntersIn32BitProtectedModeWithTheMagicAndTheInfo) {
  GuardedRam ram(kRamSize);
  auto setup = prepare_boot(elf32_kernel(), ram.span(), {.cmdline = "x"});
  ASSERT_TRUE(setup.ok()) << setup.error();
  EXPECT_EQ(setup->format, BootFormat::kMultiboot);
  const BootState& st = setup->state;
  EXPECT_EQ(st.rax, 0x2BADB002u);
  EXPECT_EQ(st.rbx, 0x20800u);
  EXPECT_EQ(st.rsi, 0u);
  EXPECT_EQ(st.rip, kText + 0x10u);
  EXPECT_EQ(st.rsp, 0x7000u);
  EXPECT_EQ(st.rflags, 0x2u);  // IF and VM clear
  EXPECT_EQ(st.cr0, 0x31u);    // PE | ET | NE, PG clear
  EXPECT_EQ(st.cr3, 0u);
  EXPECT_EQ(st.cr4, 0u);
  EXPECT_EQ(st.efer, 0u);
  EXPECT_EQ(st.cs.selector, 0x10);
  EXPECT_EQ(st.cs.type, 0xb);  // execute/read
  EXPECT_EQ(st.cs.l, 0);
  EXPECT_EQ(st.cs.db, 1);  // 32-bit
  EXPECT_EQ(st.cs.base, 0u);
  EXPECT_EQ(st.cs.limit, 0xffffffffu);
  for (const Segment* seg : {&st.ds, &st.es, &st.fs, &st.gs, &st.ss}) {
    EXPECT_EQ(seg->selector, 0x18);
    EXPECT_EQ(seg->type, 0x3);  // read/write
    EXPECT_EQ(seg->db, 1);
    EXPECT_EQ(seg->base, 0u);
    EXPECT_EQ(seg->limit, 0xffffffffu);
  }
  // The selectors are real: the GDT in RAM holds the same descriptors.
  EXPECT_EQ(st.gdt.base, 0x1000u);
  EXPECT_EQ(ram.load<std::uint64_t>(st.gdt.base + st.cs.selector), 0x00cf9b000000ffffu);
  EXPECT_EQ(ram.load<std::uint64_t>(st.gdt.base + st.ds.selector), 0x00cf93000000ffffu);
  EXPECT_EQ(ram.load<std::uint64_t>(st.gdt.base + st.cs.selector), encode_descriptor(st.cs));
  // No boot_params and no page tables for Multiboot.
  EXPECT_EQ(ram.span()[0x7000], std::byte{0xcc});
  EXPECT_EQ(ram.span()[0x9000], std::byte{0xcc});
}

// --- Format detection --------------------------------------------------------------------------

TEST(LoaderMultiboot, AMultibootHeaderWinsInsideAnElf64) {
  auto text = test::pattern(0x100, 3);
  place(text, 0, multiboot_header(0x3));
  const auto image = ElfBuilder().entry(0x300000).segment(0x300000, text, 0x1000).build();
  GuardedRam ram(kRamSize);
  auto setup = prepare_boot(image, ram.span(), {});
  ASSERT_TRUE(setup.ok()) << setup.error();
  EXPECT_EQ(setup->format, BootFormat::kMultiboot);
  EXPECT_EQ(setup->state.rax, 0x2BADB002u);
  EXPECT_EQ(setup->state.cs.l, 0);
  // With a broken checksum the magic means nothing: an ELF64 boot.
  put_u32(text, 8, 0);
  const auto broken = ElfBuilder().entry(0x300000).segment(0x300000, text, 0x1000).build();
  GuardedRam ram2(kRamSize);
  auto elf64 = prepare_boot(broken, ram2.span(), {});
  ASSERT_TRUE(elf64.ok()) << elf64.error();
  EXPECT_EQ(elf64->format, BootFormat::kElf64);
  EXPECT_EQ(elf64->state.rsi, 0x7000u);
  EXPECT_EQ(elf64->state.cs.l, 1);
}

TEST(LoaderMultiboot, ImagesOfNoKnownFormatNameTheFormats) {
  auto plain32 =
      Elf32Builder().entry(0x100000).segment(0x100000, test::pattern(0x40, 1), 0x40).build();
  expect_refused(plain32,
                 "image: an ELF32 file without a Multiboot header (hvk boots ELF64, bzImage and "
                 "Multiboot images)");
  // An ELF32 whose header has a bad checksum: the checksum is named.
  auto text = test::pattern(0x40, 1);
  place(text, 0, multiboot_header(0x3));
  put_u32(text, 8, 0x12345678);
  expect_refused(Elf32Builder().entry(0x100000).segment(0x100000, text, 0x40).build(),
                 "Multiboot: the header at file offset 0x");
  std::vector<std::byte> junk(0x100, std::byte{0x41});
  expect_refused(junk, "image: not an ELF64, bzImage or Multiboot image");
  expect_refused({}, "image: the file is empty");
  // A broken header in a raw file.
  place(junk, 0x80, multiboot_header(0x10003));
  junk[0x84] = std::byte{0};  // flags changed: checksum off
  expect_refused(junk, "bad checksum");
}

// --- The bundled guest ---------------------------------------------------------------------------

TEST(LoaderMultiboot, LoadsTheBundledMultibootHelloGuest) {
#ifndef HVK_MULTIBOOT_HELLO_ELF
  GTEST_SKIP() << "multiboot-hello is not built in this tree";
#else
  std::ifstream in(HVK_MULTIBOOT_HELLO_ELF, std::ios::binary);
  ASSERT_TRUE(in) << HVK_MULTIBOOT_HELLO_ELF;
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::byte> image(chars.size());
  std::memcpy(image.data(), chars.data(), chars.size());
  ASSERT_GE(image.size(), sizeof(Elf32_Ehdr));
  Elf32_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  EXPECT_EQ(eh.e_ident[EI_CLASS], ELFCLASS32);
  ASSERT_TRUE(find_multiboot_header(image).has_value());
  EXPECT_LT(*find_multiboot_header(image), 8192u);

  const auto module = test::pattern(193, 2);
  GuardedRam ram(64 << 20);
  auto setup = prepare_boot(image, ram.span(),
                            {.cmdline = "mem-mib=64", .initrd = module, .initrd_name = "m.txt"});
  ASSERT_TRUE(setup.ok()) << setup.error();
  EXPECT_EQ(setup->format, BootFormat::kMultiboot);
  EXPECT_EQ(setup->state.rip, eh.e_entry);
  EXPECT_EQ(setup->image.low, 0x100000u);
  EXPECT_EQ(ram.load<std::uint32_t>(0x100000), 0x1BADB002u);  // the header starts the image
  EXPECT_EQ(setup->initrd % 0x1000, 0u);
  EXPECT_GE(setup->initrd, setup->image.high);
  EXPECT_EQ(ram.load<std::uint32_t>(0x20800 + 8), 63u * 1024);
#endif
}

}  // namespace
}  // namespace hvk::machine
