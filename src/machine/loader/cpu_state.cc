#include "machine/loader/cpu_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "machine/loader/guest_ram.h"
#include "machine/loader/layout.h"

namespace hvk::machine {

Segment boot_code_segment() {
  Segment s;
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = kBootCsSelector;
  s.type = 0xb;  // execute/read, accessed
  s.s = 1;
  s.dpl = 0;
  s.present = 1;
  s.avl = 0;
  s.l = 1;
  s.db = 0;
  s.g = 1;
  return s;
}

Segment boot_data_segment() {
  Segment s;
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = kBootDsSelector;
  s.type = 0x3;  // read/write, accessed
  s.s = 1;
  s.dpl = 0;
  s.present = 1;
  s.avl = 0;
  s.l = 0;
  s.db = 1;
  s.g = 1;
  return s;
}

Segment protected_code_segment() {
  Segment s = boot_code_segment();
  s.l = 0;
  s.db = 1;
  return s;
}

std::uint64_t encode_descriptor(const Segment& seg) {
  const std::uint64_t limit = seg.g ? (std::uint64_t{seg.limit} >> 12) : seg.limit;
  const std::uint64_t base = seg.base & 0xffffffff;
  std::uint64_t d = 0;
  d |= limit & 0xffff;
  d |= (base & 0xffffff) << 16;
  d |= std::uint64_t{seg.type & 0xfu} << 40;
  d |= std::uint64_t{seg.s & 1u} << 44;
  d |= std::uint64_t{seg.dpl & 3u} << 45;
  d |= std::uint64_t{seg.present & 1u} << 47;
  d |= ((limit >> 16) & 0xf) << 48;
  d |= std::uint64_t{seg.avl & 1u} << 52;
  d |= std::uint64_t{seg.l & 1u} << 53;
  d |= std::uint64_t{seg.db & 1u} << 54;
  d |= std::uint64_t{seg.g & 1u} << 55;
  d |= ((base >> 24) & 0xff) << 56;
  return d;
}

BootState make_boot_state(std::uint64_t entry) {
  BootState st;
  st.rip = entry;
  st.rsp = kBootStackTop;
  st.rsi = kBootParamsAddr;
  st.rflags = kRflagsReserved1;  // IF = 0
  st.cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg;
  st.cr3 = kPml4Addr;
  st.cr4 = kCr4Pae;
  st.efer = kEferLme | kEferLma;

  st.cs = boot_code_segment();
  st.ds = st.es = st.fs = st.gs = st.ss = boot_data_segment();

  st.tr.base = 0;
  st.tr.limit = 0x67;  // a minimal 64-bit TSS
  st.tr.selector = 0;
  st.tr.type = 0xb;  // busy 64-bit TSS
  st.tr.s = 0;
  st.tr.present = 1;

  st.ldtr.base = 0;
  st.ldtr.limit = 0xffff;
  st.ldtr.selector = 0;
  st.ldtr.type = 0x2;  // LDT
  st.ldtr.s = 0;
  st.ldtr.present = 1;

  st.gdt.base = kGdtAddr;
  st.gdt.limit = static_cast<std::uint16_t>(kGdtEntries * 8 - 1);
  st.idt.base = 0;
  st.idt.limit = 0;
  return st;
}

BootState make_protected_mode_state(std::uint64_t entry) {
  BootState st = make_boot_state(entry);
  st.rsi = 0;
  st.cr0 = kCr0Pe | kCr0Et | kCr0Ne;
  st.cr3 = 0;
  st.cr4 = 0;
  st.efer = 0;
  st.cs = protected_code_segment();
  // TR keeps type 11: a busy 32-bit TSS outside IA-32e mode, still what VMX wants in TR.
  return st;
}

Status write_gdt(std::span<std::byte> ram, const Segment& code) {
  const std::array<std::uint64_t, kGdtEntries> gdt = {0, 0, encode_descriptor(code),
                                                      encode_descriptor(boot_data_segment())};
  static_assert(kBootCsSelector / 8 == 2 && kBootDsSelector / 8 == 3);
  GuestRam guest(ram);
  if (!guest.store(kGdtAddr, gdt)) {
    return fail(fmt::format("GDT: [{:#x}, {:#x}) is outside RAM ({:#x} bytes)", kGdtAddr,
                            kGdtAddr + sizeof(gdt), ram.size()));
  }
  return {};
}

Status write_identity_page_tables(std::span<std::byte> ram, std::uint64_t high_ram) {
  GuestRam guest(ram);
  // The low span holds the image and everything the loader wrote: all of it must be mapped.
  if (ram.size() > kMaxRamSize) {
    return fail(
        fmt::format("page tables: RAM of {:#x} bytes exceeds the {:#x} bytes the "
                    "page-directory area can identity-map",
                    ram.size(), kMaxRamSize));
  }
  // RAM above 4 GiB is only mapped as far as the directories reach; the guest maps the rest.
  std::uint64_t top = ram.size();
  if (high_ram != 0) {
    const std::uint64_t high_top =
        high_ram > UINT64_MAX - kHighRamBase ? UINT64_MAX : kHighRamBase + high_ram;
    top = std::max(top, high_top);
  }
  const std::uint64_t mapped = std::min(identity_map_size(top), kMaxRamSize);
  const std::uint64_t directories = mapped / kGiB;  // <= kMaxPageDirectories
  if (!guest.contains(kPml4Addr, kPdAddr + directories * kPageSize - kPml4Addr)) {
    return fail(fmt::format("page tables: [{:#x}, {:#x}) is outside RAM ({:#x} bytes)", kPml4Addr,
                            kPdAddr + directories * kPageSize, ram.size()));
  }

  std::array<std::uint64_t, 512> table{};
  // PML4: entry 0 -> PDPT, the rest not present.
  table[0] = kPdptAddr | kPtePresent | kPteWritable;
  bool ok = guest.store(kPml4Addr, table);
  // PDPT: entry i -> page directory i (GiB i).
  table.fill(0);
  for (std::uint64_t i = 0; i < directories; ++i) {
    table[i] = (kPdAddr + i * kPageSize) | kPtePresent | kPteWritable;
  }
  ok = ok && guest.store(kPdptAddr, table);
  // Page directories: 2 MiB pages, GPA == GVA.
  for (std::uint64_t d = 0; d < directories && ok; ++d) {
    for (std::uint64_t j = 0; j < table.size(); ++j) {
      table[j] = (d * kGiB + j * kLargePageSize) | kPtePresent | kPteWritable | kPteLargePage;
    }
    ok = guest.store(kPdAddr + d * kPageSize, table);
  }
  if (!ok) return fail("page tables: internal error, write outside RAM");
  return {};
}

}  // namespace hvk::machine
