// load_elf64: segments land at p_paddr, bss is zeroed, and every malformed image is refused with a
// one-line error and without a single byte of RAM (or of the guard zones around it) written.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "loader_test_support.h"
#include "machine/loader/elf_loader.h"
#include "machine/loader/layout.h"

namespace hvk::machine {
namespace {

using test::ElfBuilder;
using test::GuardedRam;

constexpr std::size_t kRamSize = 8 << 20;

// Loads `file` into a fresh canary-filled RAM and expects a one-line error containing `needle`,
// with RAM and its guards untouched.
void expect_rejected(const std::vector<std::byte>& file, const std::string& needle,
                     std::size_t ram_size = kRamSize) {
  GuardedRam ram(ram_size);
  const auto before = ram.snapshot();
  auto result = load_elf64(file, ram.span());
  ASSERT_FALSE(result.ok()) << "accepted; expected error containing: " << needle;
  EXPECT_NE(result.error().find(needle), std::string::npos) << result.error();
  EXPECT_EQ(result.error().find('\n'), std::string::npos) << result.error();
  EXPECT_EQ(result.error().rfind("ELF: ", 0), 0u) << result.error();
  EXPECT_TRUE(ram.guards_intact());
  EXPECT_TRUE(ram.snapshot() == before) << "RAM was modified by a rejected image";
}

std::vector<std::byte> good_image() {
  return ElfBuilder().entry(0x100010).segment(0x100000, test::pattern(0x40, 1), 0x40).build();
}

TEST(LoaderElf, SegmentsLandAtPaddrAndBssIsZeroed) {
  const auto text = test::pattern(0x1234, 7);
  const auto data = test::pattern(0x10, 9);
  const auto file = ElfBuilder()
                        .entry(0x100100)
                        .segment(0x100000, text, 0x1234, PT_LOAD, PF_R | PF_X)
                        .segment(0x200000, data, 0x3000, PT_LOAD, PF_R | PF_W)
                        .build();
  GuardedRam ram(kRamSize);  // RAM starts as 0xcc everywhere
  auto result = load_elf64(file, ram.span());
  ASSERT_TRUE(result.ok()) << result.error();

  EXPECT_EQ(result->entry, 0x100100u);
  EXPECT_EQ(result->low, 0x100000u);
  EXPECT_EQ(result->high, 0x203000u);
  ASSERT_EQ(result->segments.size(), 2u);
  EXPECT_EQ(result->segments[0].paddr, 0x100000u);
  EXPECT_EQ(result->segments[0].filesz, 0x1234u);
  EXPECT_EQ(result->segments[0].flags, PF_R | PF_X);
  EXPECT_EQ(result->segments[1].paddr, 0x200000u);
  EXPECT_EQ(result->segments[1].filesz, 0x10u);
  EXPECT_EQ(result->segments[1].memsz, 0x3000u);

  const auto mem = ram.span();
  for (std::size_t i = 0; i < text.size(); ++i) ASSERT_EQ(mem[0x100000 + i], text[i]) << i;
  for (std::size_t i = 0; i < data.size(); ++i) ASSERT_EQ(mem[0x200000 + i], data[i]) << i;
  for (std::size_t i = 0x200010; i < 0x203000; ++i) ASSERT_EQ(mem[i], std::byte{0}) << i;
  // Nothing outside the segments was written.
  EXPECT_EQ(mem[0xfffff], std::byte{0xcc});
  EXPECT_EQ(mem[0x100000 + 0x1234], std::byte{0xcc});
  EXPECT_EQ(mem[0x1fffff], std::byte{0xcc});
  EXPECT_EQ(mem[0x203000], std::byte{0xcc});
  EXPECT_EQ(mem[0x7000], std::byte{0xcc});
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderElf, UsesPhysicalNotVirtualAddresses) {
  // A vmlinux-like segment: linked at a high-half vaddr, loaded at its paddr, entry physical.
  const auto file = ElfBuilder()
                        .entry(0x1000000)
                        .segment(0x1000000, test::bytes_of({0xf4}), 0x1000, PT_LOAD, PF_R | PF_X,
                                 0xffffffff81000000)
                        .build();
  GuardedRam ram(32 << 20);
  auto result = load_elf64(file, ram.span());
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(ram.span()[0x1000000], std::byte{0xf4});
  EXPECT_EQ(ram.span()[0x1000001], std::byte{0});
  EXPECT_EQ(result->entry, 0x1000000u);
}

TEST(LoaderElf, SkipsNonLoadAndEmptySegments) {
  const auto file = ElfBuilder()
                        .entry(0x100000)
                        .segment(0x7000, test::pattern(8, 1), 8, PT_NOTE)  // ignored
                        .segment(0x0, {}, 0, PT_LOAD)                      // empty: ignored
                        .segment(0x100000, test::pattern(8, 2), 8)
                        .segment(0xffffffffffff0000, {}, 0, PT_GNU_STACK)  // ignored
                        .build();
  GuardedRam ram(kRamSize);
  auto result = load_elf64(file, ram.span());
  ASSERT_TRUE(result.ok()) << result.error();
  ASSERT_EQ(result->segments.size(), 1u);
  EXPECT_EQ(ram.span()[0x7000], std::byte{0xcc});
}

TEST(LoaderElf, SegmentEndingExactlyAtEndOfRam) {
  const auto file = ElfBuilder()
                        .entry(kRamSize - 0x1000)
                        .segment(kRamSize - 0x1000, test::pattern(0x10, 3), 0x1000)
                        .build();
  GuardedRam ram(kRamSize);
  auto result = load_elf64(file, ram.span());
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->high, kRamSize);
  EXPECT_EQ(ram.span()[kRamSize - 1], std::byte{0});
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderElf, RejectsTruncatedHeader) {
  const auto file = good_image();
  for (std::size_t n : {std::size_t{0}, std::size_t{4}, std::size_t{16}, sizeof(Elf64_Ehdr) - 1}) {
    SCOPED_TRACE(n);
    expect_rejected({file.begin(), file.begin() + static_cast<std::ptrdiff_t>(n)}, "too short");
  }
}

TEST(LoaderElf, RejectsBadIdentAndHeaderFields) {
  auto patched = [](auto mutate) {
    auto file = good_image();
    auto eh = test::get_ehdr(file);
    mutate(eh);
    test::set_ehdr(file, eh);
    return file;
  };
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_ident[EI_MAG1] = 'X'; }), "bad magic");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_ident[EI_CLASS] = ELFCLASS32; }),
                  "not ELFCLASS64");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_ident[EI_DATA] = ELFDATA2MSB; }),
                  "not little-endian");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_version = 2; }), "EV_CURRENT");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_type = ET_DYN; }), "not ET_EXEC");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_type = ET_REL; }), "not ET_EXEC");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_machine = EM_386; }), "not EM_X86_64");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_machine = EM_AARCH64; }), "not EM_X86_64");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_phnum = 0; }), "no program headers");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_phnum = PN_XNUM; }), "extended");
  expect_rejected(patched([](Elf64_Ehdr& eh) { eh.e_phentsize = 32; }), "e_phentsize");
}

TEST(LoaderElf, RejectsProgramHeaderTableBeyondFile) {
  auto patched = [](std::uint64_t phoff, std::uint16_t phnum) {
    auto file = good_image();
    auto eh = test::get_ehdr(file);
    eh.e_phoff = phoff;
    eh.e_phnum = phnum;
    test::set_ehdr(file, eh);
    return file;
  };
  const auto size = good_image().size();
  expect_rejected(patched(size, 1), "program header table");
  expect_rejected(patched(size - sizeof(Elf64_Phdr) + 1, 1), "program header table");
  expect_rejected(patched(sizeof(Elf64_Ehdr), 3), "program header table");  // 232 > 192 bytes
  expect_rejected(patched(UINT64_MAX - 8, 1), "program header table");      // offset + size wraps
  expect_rejected(patched(sizeof(Elf64_Ehdr), 0xfffe), "program header table");
}

// Rewrites program header `i` of a two-segment image and expects rejection.
void expect_phdr_rejected(void (*mutate)(Elf64_Phdr&), const std::string& needle) {
  auto file = ElfBuilder()
                  .entry(0x100000)
                  .segment(0x100000, test::pattern(0x100, 1), 0x1000)  // valid, listed first
                  .segment(0x300000, test::pattern(0x100, 2), 0x2000)
                  .build();
  auto ph = test::get_phdr(file, 1);
  mutate(ph);
  test::set_phdr(file, 1, ph);
  expect_rejected(file, needle);
}

TEST(LoaderElf, RejectsSegmentFileBytesBeyondFile) {
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_filesz += 1; }, "beyond the end of the");
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_offset = 1 << 20; }, "beyond the end of the");
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_offset = UINT64_MAX - 0x10; },
                       "beyond the end of the");  // p_offset + p_filesz wraps
  expect_phdr_rejected(
      [](Elf64_Phdr& ph) {
        ph.p_filesz = UINT64_MAX;
        ph.p_memsz = UINT64_MAX;
      },
      "beyond the end of the");
}

TEST(LoaderElf, RejectsFileszLargerThanMemsz) {
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_memsz = ph.p_filesz - 1; }, "exceeds p_memsz");
}

TEST(LoaderElf, RejectsAddressOverflow) {
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_paddr = UINT64_MAX - 0xfff; }, "overflows");
  expect_phdr_rejected(
      [](Elf64_Phdr& ph) {
        ph.p_paddr = 0x300000;
        ph.p_memsz = UINT64_MAX - 0x2fffff;  // end would be exactly 2^64
      },
      "overflows");
}

TEST(LoaderElf, RejectsSegmentBeyondRam) {
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_paddr = kRamSize - 0x10; },
                       "beyond the end of RAM");
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_paddr = kRamSize; }, "beyond the end of RAM");
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_paddr = 0x100000000; }, "beyond the end of RAM");
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_memsz = kRamSize; }, "beyond the end of RAM");
}

TEST(LoaderElf, RejectsOverlapWithEveryFixedArea) {
  for (const FixedArea& area : kFixedAreas) {
    SCOPED_TRACE(std::string(area.name));
    // A segment covering the area's last byte only, and one covering the whole area.
    for (auto [base, size] :
         {std::pair{area.end() - 1, std::uint64_t{1}}, std::pair{area.base, area.size}}) {
      const auto file = ElfBuilder()
                            .entry(0x100000)
                            .segment(0x100000, test::pattern(0x10, 1), 0x10)
                            .segment(base, test::pattern(1, 2), size)
                            .build();
      expect_rejected(file, "overlaps the loader's " + std::string(area.name));
    }
  }
}

TEST(LoaderElf, RejectsAnythingBelowOneMiB) {
  const std::pair<std::uint64_t, std::uint64_t> cases[] = {
      {0x8000, 0x10},                    // unused gap between boot_params and the PML4
      {0x9f000, 0x10},                   // unused gap below the legacy hole
      {kLegacyHoleStart, 0x100},         // legacy hole (e820 reserved)
      {kLowMemoryEnd - 0x1000, 0x2000},  // straddles 1 MiB
      {0, kRamSize},                     // everything
  };
  const char* expected[] = {"reserved low memory", "reserved low memory", "legacy EBDA/VGA/BIOS",
                            "legacy EBDA/VGA/BIOS", "real-mode IVT/BDA"};
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    const auto [base, size] = cases[i];
    SCOPED_TRACE(base);
    const auto file = ElfBuilder().entry(base).segment(base, test::pattern(1, 2), size).build();
    expect_rejected(file, std::string("overlaps the loader's ") + expected[i]);
  }
}

TEST(LoaderElf, RejectsSegmentsOverlappingEachOther) {
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_paddr = 0x100fff; }, "overlaps segment");
  expect_phdr_rejected([](Elf64_Phdr& ph) { ph.p_paddr = 0x100000; }, "overlaps segment");
  expect_phdr_rejected(
      [](Elf64_Phdr& ph) {
        ph.p_paddr = 0x100800;
        ph.p_memsz = 0x100;  // entirely inside segment 0
        ph.p_filesz = 0x100;
      },
      "overlaps segment");
}

TEST(LoaderElf, AdjacentSegmentsAreFine) {
  const auto file = ElfBuilder()
                        .entry(0x101000)
                        .segment(0x101000, test::pattern(0x10, 1), 0x1000)
                        .segment(0x100000, test::pattern(0x10, 2), 0x1000)
                        .build();
  GuardedRam ram(kRamSize);
  auto result = load_elf64(file, ram.span());
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->low, 0x100000u);
  EXPECT_EQ(result->high, 0x102000u);
}

TEST(LoaderElf, RejectsEntryOutsideLoadedSegments) {
  for (std::uint64_t entry : {std::uint64_t{0}, std::uint64_t{0xfffff}, std::uint64_t{0x101000},
                              std::uint64_t{0xffffffff81000000}}) {
    SCOPED_TRACE(entry);
    const auto file =
        ElfBuilder().entry(entry).segment(0x100000, test::pattern(0x10, 1), 0x1000).build();
    expect_rejected(file, "entry point");
  }
}

TEST(LoaderElf, RejectsImageWithoutLoadableSegments) {
  const auto file = ElfBuilder()
                        .entry(0x100000)
                        .segment(0x100000, test::pattern(0x10, 1), 0x10, PT_NOTE)
                        .segment(0x200000, {}, 0, PT_LOAD)
                        .build();
  expect_rejected(file, "no PT_LOAD");
}

TEST(LoaderElf, RejectsImageLargerThanTinyRam) {
  // RAM smaller than 1 MiB: nothing can be loaded, and nothing is written.
  expect_rejected(good_image(), "beyond the end of RAM", 0x100000);
  expect_rejected(good_image(), "beyond the end of RAM", 0);
}

}  // namespace
}  // namespace hvk::machine
