// GDT, identity page tables (walked like the MMU would) and the initial vCPU state.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <optional>

#include "loader_test_support.h"
#include "machine/loader/cpu_state.h"
#include "machine/loader/layout.h"

namespace hvk::machine {
namespace {

using test::GuardedRam;

constexpr std::size_t kRamSize = 16 << 20;

// A 4-level walk from `cr3` in guest memory `mem` (GPA 0 based). Returns the GPA `va` maps to, or
// nothing when an entry is not present. Accepts 2 MiB (PD PS) and 4 KiB leaves; fails the test on
// 1 GiB pages or table pointers outside `mem`.
std::optional<std::uint64_t> translate(std::span<const std::byte> mem, std::uint64_t cr3,
                                       std::uint64_t va) {
  auto entry = [&](std::uint64_t table, std::uint64_t index) -> std::optional<std::uint64_t> {
    const std::uint64_t gpa = (table & kPteAddrMask) + index * 8;
    if (gpa + 8 > mem.size()) {
      ADD_FAILURE() << "page table entry at " << gpa << " outside RAM";
      return std::nullopt;
    }
    std::uint64_t e;
    std::memcpy(&e, mem.data() + gpa, 8);
    if (!(e & kPtePresent)) return std::nullopt;
    return e;
  };
  auto pml4e = entry(cr3, (va >> 39) & 511);
  if (!pml4e) return std::nullopt;
  auto pdpte = entry(*pml4e, (va >> 30) & 511);
  if (!pdpte) return std::nullopt;
  EXPECT_FALSE(*pdpte & kPteLargePage) << "unexpected 1 GiB page";
  auto pde = entry(*pdpte, (va >> 21) & 511);
  if (!pde) return std::nullopt;
  if (*pde & kPteLargePage) return (*pde & kPteAddrMask & ~(kLargePageSize - 1)) | (va & 0x1fffff);
  auto pte = entry(*pde, (va >> 12) & 511);
  if (!pte) return std::nullopt;
  return (*pte & kPteAddrMask) | (va & 0xfff);
}

TEST(LoaderCpuState, GdtHoldsBootCsAndBootDs) {
  GuardedRam ram(kRamSize);
  ASSERT_TRUE(write_gdt(ram.span()).ok());
  EXPECT_EQ(ram.load<std::uint64_t>(0x1000), 0u);
  EXPECT_EQ(ram.load<std::uint64_t>(0x1008), 0u);
  EXPECT_EQ(ram.load<std::uint64_t>(0x1010), 0x00af9b000000ffffu);  // 64-bit code, G, P, DPL 0
  EXPECT_EQ(ram.load<std::uint64_t>(0x1018), 0x00cf93000000ffffu);  // flat 4 GiB r/w data
  EXPECT_EQ(ram.span()[0x1020], std::byte{0xcc});
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderCpuState, DescriptorEncoding) {
  Segment s;
  s.base = 0x12345678;
  s.limit = 0xabcde;
  s.type = 0xa;
  s.s = 1;
  s.dpl = 3;
  s.present = 1;
  s.avl = 1;
  s.db = 1;
  EXPECT_EQ(encode_descriptor(s), 0x125afa345678bcdeu);
  s.g = 1;
  s.limit = 0xabcdefff;  // byte-granular limit, stored in pages
  EXPECT_EQ(encode_descriptor(s), 0x12dafa345678bcdeu);
}

TEST(LoaderCpuState, PageTablesIdentityMapRamAndFirst4GiB) {
  GuardedRam ram(kRamSize);
  ASSERT_TRUE(write_identity_page_tables(ram.span()).ok());
  const auto mem = ram.span();
  const std::uint64_t addresses[] = {0x0,          0x7000,     0x9000,     0x20000,
                                     0x100000,     0x1fffff,   0x200000,   0xabcdef,
                                     kRamSize - 1, 0x12345678, 0xfee00000, 0xffffffff};
  for (std::uint64_t va : addresses) {
    SCOPED_TRACE(va);
    auto pa = translate(mem, kPml4Addr, va);
    ASSERT_TRUE(pa.has_value());
    EXPECT_EQ(*pa, va);
  }
  EXPECT_FALSE(translate(mem, 0x9000, 0x100000000).has_value());         // 4 GiB: not mapped
  EXPECT_FALSE(translate(mem, 0x9000, 0x8000000000).has_value());        // PML4[1]
  EXPECT_FALSE(translate(mem, 0x9000, 0xffffffff81000000).has_value());  // no high half
  // Entries are writable, supervisor; PD entries are 2 MiB pages.
  EXPECT_EQ(ram.load<std::uint64_t>(0x9000), 0xa000u | 0x3u);
  EXPECT_EQ(ram.load<std::uint64_t>(0xa000 + 3 * 8), (0xb000u + 3 * 0x1000u) | 0x3u);
  EXPECT_EQ(ram.load<std::uint64_t>(0xb000 + 8), 0x200000u | 0x83u);
  EXPECT_EQ(ram.load<std::uint64_t>(0xa000 + 4 * 8), 0u);
  EXPECT_EQ(ram.span()[0xf000], std::byte{0xcc});  // only four directories written
  EXPECT_TRUE(ram.guards_intact());
}

// The PDPT has exactly `directories` present entries, each pointing at its page directory, and
// every entry of those directories maps a 2 MiB page at GPA == GVA.
void expect_identity_directories(const GuardedRam& ram, std::uint64_t directories) {
  for (std::uint64_t i = 0; i < 512; ++i) {
    const auto pdpte = ram.load<std::uint64_t>(kPdptAddr + 8 * i);
    if (i >= directories) {
      ASSERT_EQ(pdpte, 0u) << "PDPT entry " << i;
      continue;
    }
    ASSERT_EQ(pdpte, (kPdAddr + i * kPageSize) | 0x3u) << "PDPT entry " << i;
    for (std::uint64_t j = 0; j < 512; ++j) {
      ASSERT_EQ(ram.load<std::uint64_t>(kPdAddr + i * kPageSize + 8 * j),
                (i * kGiB + j * kLargePageSize) | 0x83u)
          << "directory " << i << " entry " << j;
    }
  }
}

TEST(LoaderCpuState, PageTablesMapRamAbove4GiBUpTo21GiB) {
  struct Case {
    std::uint64_t high_ram;
    std::uint64_t directories;  // ceil((4 GiB + high_ram) / 1 GiB), at least 4, at most 21
  } cases[] = {
      {0, 4},
      {1, 5},
      {kGiB, 5},
      {kGiB + 1, 6},
      {3 * kGiB, 7},
      {17 * kGiB, 21},
      // Beyond 21 GiB: the rest is not mapped, and that is not an error.
      {30 * kGiB, 21},
      {UINT64_MAX, 21},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.high_ram);
    GuardedRam ram(kRamSize);  // the high RAM itself is never touched: no need to allocate it
    ASSERT_TRUE(write_identity_page_tables(ram.span(), c.high_ram).ok());
    expect_identity_directories(ram, c.directories);
    const std::uint64_t mapped = c.directories * kGiB;
    for (std::uint64_t va : {std::uint64_t{0x7000}, 4 * kGiB - 1, mapped - 1}) {
      auto pa = translate(ram.span(), kPml4Addr, va);
      ASSERT_TRUE(pa.has_value()) << va;
      EXPECT_EQ(*pa, va);
    }
    EXPECT_FALSE(translate(ram.span(), kPml4Addr, mapped).has_value());
    if (c.directories < kMaxPageDirectories) {  // the unused directories are not written
      EXPECT_EQ(ram.span()[kPdAddr + c.directories * kPageSize], std::byte{0xcc});
    }
    EXPECT_TRUE(ram.guards_intact());
  }
}

// RAM bigger than 4 GiB, reserved but never touched beyond the tables (MAP_NORESERVE).
class LargeRam {
 public:
  explicit LargeRam(std::uint64_t size, int prot) : size_(size) {
    void* p = mmap(nullptr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) base_ = static_cast<std::byte*>(p);
  }
  ~LargeRam() {
    if (base_) munmap(base_, size_);
  }
  LargeRam(const LargeRam&) = delete;
  LargeRam& operator=(const LargeRam&) = delete;
  bool ok() const { return base_ != nullptr; }
  std::span<std::byte> span() { return {base_, size_}; }

 private:
  std::byte* base_ = nullptr;
  std::uint64_t size_;
};

TEST(LoaderCpuState, PageTablesCoverRamAbove4GiB) {
  LargeRam ram(6 * kGiB + 0x200000, PROT_READ | PROT_WRITE);
  if (!ram.ok()) GTEST_SKIP() << "cannot reserve 6 GiB of address space";
  ASSERT_TRUE(write_identity_page_tables(ram.span()).ok());
  const std::uint64_t addresses[] = {0x1000, 4 * kGiB, 5 * kGiB + 0x123456, 6 * kGiB + 0x1fffff,
                                     7 * kGiB - 1};
  for (std::uint64_t va : addresses) {
    SCOPED_TRACE(va);
    auto pa = translate(ram.span(), kPml4Addr, va);
    ASSERT_TRUE(pa.has_value());
    EXPECT_EQ(*pa, va);
  }
  EXPECT_FALSE(translate(ram.span(), kPml4Addr, 7 * kGiB).has_value());
}

TEST(LoaderCpuState, PageTablesRejectRamTooLargeWithoutTouchingIt) {
  // PROT_NONE: any write would crash the test, so an error here proves nothing was written.
  LargeRam ram(kMaxRamSize + 1, PROT_NONE);
  if (!ram.ok()) GTEST_SKIP() << "cannot reserve 21 GiB of address space";
  auto st = write_identity_page_tables(ram.span());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("exceeds"), std::string::npos) << st.error();
  // High RAM does not excuse a low span the tables cannot cover.
  auto with_high = write_identity_page_tables(ram.span(), kGiB);
  ASSERT_FALSE(with_high.ok());
  EXPECT_NE(with_high.error().find("exceeds"), std::string::npos) << with_high.error();
}

TEST(LoaderCpuState, TablesRejectTinyRam) {
  for (std::size_t size : {std::size_t{0}, std::size_t{0x1000}, std::size_t{0xe000}}) {
    SCOPED_TRACE(size);
    GuardedRam ram(size);
    const auto before = ram.snapshot();
    EXPECT_FALSE(write_identity_page_tables(ram.span()).ok());
    EXPECT_TRUE(ram.snapshot() == before);
    EXPECT_EQ(write_gdt(ram.span()).ok(), size >= 0x1020);
    if (size < 0x1020) {
      EXPECT_TRUE(ram.snapshot() == before);
    }
    EXPECT_TRUE(ram.guards_intact());
  }
}

TEST(LoaderCpuState, BootStateFollowsThe64BitProtocol) {
  const BootState st = make_boot_state(0x1000000);
  EXPECT_EQ(st.rip, 0x1000000u);
  EXPECT_EQ(st.rsi, 0x7000u);      // boot_params
  EXPECT_EQ(st.rsp, 0x7000u);      // top of the boot stack
  EXPECT_EQ(st.rflags, 0x2u);      // IF clear
  EXPECT_EQ(st.cr0, 0x80000031u);  // PG | NE | ET | PE
  EXPECT_EQ(st.cr3, 0x9000u);
  EXPECT_EQ(st.cr4, 0x20u);    // PAE
  EXPECT_EQ(st.efer, 0x500u);  // LME | LMA

  EXPECT_EQ(st.cs.selector, 0x10);
  EXPECT_EQ(st.cs.type, 0xb);
  EXPECT_EQ(st.cs.s, 1);
  EXPECT_EQ(st.cs.present, 1);
  EXPECT_EQ(st.cs.l, 1);
  EXPECT_EQ(st.cs.db, 0);
  EXPECT_EQ(st.cs.g, 1);
  EXPECT_EQ(st.cs.dpl, 0);
  EXPECT_EQ(st.cs.base, 0u);
  EXPECT_EQ(st.cs.limit, 0xffffffffu);
  for (const Segment* seg : {&st.ds, &st.es, &st.fs, &st.gs, &st.ss}) {
    EXPECT_EQ(seg->selector, 0x18);
    EXPECT_EQ(seg->type, 0x3);
    EXPECT_EQ(seg->s, 1);
    EXPECT_EQ(seg->present, 1);
    EXPECT_EQ(seg->db, 1);
    EXPECT_EQ(seg->g, 1);
    EXPECT_EQ(seg->l, 0);
    EXPECT_EQ(seg->base, 0u);
    EXPECT_EQ(seg->limit, 0xffffffffu);
  }
  EXPECT_EQ(st.tr.selector, 0);
  EXPECT_EQ(st.tr.type, 11);  // busy 64-bit TSS
  EXPECT_EQ(st.tr.s, 0);
  EXPECT_EQ(st.tr.present, 1);
  EXPECT_EQ(st.tr.limit, 0x67u);
  EXPECT_EQ(st.ldtr.type, 2);
  EXPECT_EQ(st.gdt.base, 0x1000u);
  EXPECT_EQ(st.gdt.limit, 31);
  EXPECT_EQ(st.idt.limit, 0);

  // The hidden segment state matches what the GDT holds for the same selectors.
  GuardedRam ram(kRamSize);
  ASSERT_TRUE(write_gdt(ram.span()).ok());
  EXPECT_EQ(ram.load<std::uint64_t>(st.gdt.base + st.cs.selector), encode_descriptor(st.cs));
  EXPECT_EQ(ram.load<std::uint64_t>(st.gdt.base + st.ds.selector), encode_descriptor(st.ds));
  EXPECT_LE(st.ds.selector + 7u, st.gdt.limit);
}

}  // namespace
}  // namespace hvk::machine
