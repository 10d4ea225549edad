// What the image-loader fuzz targets (fuzz_elf_loader, fuzz_bzimage, fuzz_multiboot) share: guest
// RAM buffers of exact sizes filled with a pattern and restored cheaply between inputs, the RAM at
// 4 GiB they describe besides, and the checks of boot.h's contract that do not depend on the image
// format.
#pragma once

#include <asm/bootparam.h>
#include <elf.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "machine/loader/boot.h"

namespace hvk::fuzz {

namespace loader = hvk::machine;

struct Range {
  std::uint64_t lo, hi;
};

// One RAM buffer per size, exactly sized (ASan sees any write past the end), filled with a
// pattern. `reference` is what RAM must hold after a failure: the pattern, plus whatever
// setup_data the harness wrote (SetupDataChain writes only inside the setup_data area).
struct Ram {
  std::vector<std::byte> bytes;
  std::vector<std::byte> pristine;
  std::vector<std::byte> reference;
  std::vector<Range> dirty;      // where bytes may differ from pristine
  bool reference_dirty = false;  // reference's setup_data area differs from pristine

  // The setup_data area, clipped to RAM: [lo, hi).
  std::uint64_t area_lo() const { return std::min<std::uint64_t>(loader::kSetupDataAddr, bytes.size()); }
  std::uint64_t area_hi() const { return std::min<std::uint64_t>(loader::kSetupDataEnd, bytes.size()); }

  // Marks the setup_data area written by the harness: it is part of the reference from now on.
  void harness_wrote_setup_data() {
    std::memcpy(reference.data() + area_lo(), bytes.data() + area_lo(), area_hi() - area_lo());
    dirty.push_back({area_lo(), area_hi()});
    reference_dirty = true;
  }
  // True when RAM is exactly what a failed load must leave.
  bool as_before() const {
    return bytes.empty() || std::memcmp(bytes.data(), reference.data(), bytes.size()) == 0;
  }
};

// The RAM of `size` bytes, back to its pattern.
inline Ram& ram_of_size(std::uint64_t size) {
  static std::map<std::uint64_t, Ram> rams;
  auto [it, fresh] = rams.try_emplace(size);
  Ram& r = it->second;
  if (fresh) {
    r.pristine.resize(size);
    for (std::size_t i = 0; i < r.pristine.size(); ++i) {
      r.pristine[i] = static_cast<std::byte>(((i * 131 + 7) >> 3 ^ 0x5A) & 0xFF);
    }
    r.bytes = r.pristine;
    r.reference = r.pristine;
  }
  for (const Range& d : r.dirty) {
    if (d.hi > d.lo) std::memcpy(r.bytes.data() + d.lo, r.pristine.data() + d.lo, d.hi - d.lo);
  }
  r.dirty.clear();
  if (r.reference_dirty) {
    std::memcpy(r.reference.data() + r.area_lo(), r.pristine.data() + r.area_lo(),
                r.area_hi() - r.area_lo());
    r.reference_dirty = false;
  }
  return r;
}

// RAM at 4 GiB besides the low span (BootOptions::high_ram), by a selector byte of the input.
inline std::uint64_t high_ram_of(std::uint8_t selector) {
  constexpr std::uint64_t kGiB = 1ull << 30;
  constexpr std::array<std::uint64_t, 8> kSizes = {
      0,                              // none
      loader::kPageSize,              // a page
      kGiB,                           // mapped in full
      kGiB + 0x1234,                  // a top that is not 1 GiB aligned
      17 * kGiB,                      // up to exactly the 21 GiB the boot page tables reach
      17 * kGiB + loader::kPageSize,  // a page beyond them
      100 * kGiB,                     // far beyond
      UINT64_MAX,                     // absurd: the descriptions must clip, not wrap
  };
  return kSizes[selector & 7u];
}

// The e820 map as layout.h describes it for `low` bytes at 0 (at least 1 MiB) and `high` at 4 GiB,
// written out again: usable to the EBDA, reserved to 1 MiB, usable to the end of the low span,
// then usable at 4 GiB (clipped so that its end does not wrap).
inline std::vector<loader::E820Entry> reference_e820(std::uint64_t low, std::uint64_t high) {
  constexpr std::uint64_t kMiB = 0x10'0000, k4GiB = 1ull << 32;
  std::vector<loader::E820Entry> map = {
      {0, 0x9fc00, 1}, {0x9fc00, kMiB - 0x9fc00, 2}, {kMiB, low - kMiB, 1}};
  if (high != 0) map.push_back({k4GiB, std::min(high, UINT64_MAX - k4GiB), 1});
  return map;
}

// boot_params.e820_table of a successful Linux set-up: e820_layout(low, high), which is the
// reference map.
inline void check_e820(const std::vector<std::byte>& ram, std::uint64_t high) {
  const auto map = loader::e820_layout(ram.size(), high);
  HVK_FUZZ_CHECK(map == reference_e820(ram.size(), high));
  boot_params bp;
  std::memcpy(&bp, ram.data() + loader::kBootParamsAddr, sizeof bp);
  HVK_FUZZ_CHECK(bp.e820_entries == map.size());
  for (std::size_t i = 0; i < map.size(); ++i) {
    const boot_e820_entry e = bp.e820_table[i];
    HVK_FUZZ_CHECK(e.addr == map[i].addr && e.size == map[i].size && e.type == map[i].type);
  }
}

// The identity map of a successful Linux set-up, from layout.h's description: 2 MiB pages at
// GPA == GVA over [0, min(max(4 GiB, top rounded up to 1 GiB), 21 GiB)), top = 4 GiB + high with
// RAM at 4 GiB, else the low span's end; the page directories past it left as they were.
inline void check_identity_map(const std::vector<std::byte>& ram,
                               const std::vector<std::byte>& reference, std::uint64_t high) {
  constexpr std::uint64_t kGiB = 1ull << 30;
  constexpr std::uint64_t kMaxDirectories = 21;
  constexpr std::uint64_t kRw = 0x3, kLarge = 0x80;
  std::uint64_t top = ram.size();
  if (high != 0) top = high > UINT64_MAX - 4 * kGiB ? UINT64_MAX : 4 * kGiB + high;
  const std::uint64_t directories =
      std::clamp<std::uint64_t>(top / kGiB + (top % kGiB != 0 ? 1 : 0), 4, kMaxDirectories);
  // PML4, PDPT and every directory as they must read, built once.
  static const std::vector<std::uint64_t> tables = [] {
    std::vector<std::uint64_t> t((2 + kMaxDirectories) * 512, 0);
    t[0] = loader::kPdptAddr | kRw;
    for (std::uint64_t d = 0; d < kMaxDirectories; ++d) {
      t[512 + d] = (loader::kPdAddr + d * loader::kPageSize) | kRw;
      for (std::uint64_t j = 0; j < 512; ++j) {
        t[(2 + d) * 512 + j] = (d * kGiB + j * (2ull << 20)) | kRw | kLarge;
      }
    }
    return t;
  }();
  static_assert(loader::kPdptAddr == loader::kPml4Addr + loader::kPageSize &&
                loader::kPdAddr == loader::kPdptAddr + loader::kPageSize);
  const std::byte* at = ram.data() + loader::kPml4Addr;
  const auto* want = reinterpret_cast<const std::byte*>(tables.data());
  HVK_FUZZ_CHECK(std::memcmp(at, want, loader::kPageSize) == 0);  // PML4
  std::array<std::uint64_t, 512> pdpt{};
  std::memcpy(pdpt.data(), ram.data() + loader::kPdptAddr, sizeof pdpt);
  for (std::uint64_t i = 0; i < 512; ++i) {
    HVK_FUZZ_CHECK(pdpt[i] == (i < directories ? tables[512 + i] : 0));
  }
  const std::uint64_t used = directories * loader::kPageSize;
  const std::byte* directories_want = want + 2 * loader::kPageSize;
  HVK_FUZZ_CHECK(std::memcmp(ram.data() + loader::kPdAddr, directories_want, used) == 0);
  const std::uint64_t rest = loader::kPdAddr + used;
  const std::uint64_t rest_size = loader::kPageTablesEnd - rest;
  HVK_FUZZ_CHECK(std::memcmp(ram.data() + rest, reference.data() + rest, rest_size) == 0);
}

inline bool untouched_outside(const std::vector<std::byte>& ram,
                              const std::vector<std::byte>& pristine, std::vector<Range> allowed) {
  allowed.push_back({ram.size(), ram.size()});
  std::sort(allowed.begin(), allowed.end(),
            [](const Range& a, const Range& b) { return a.lo < b.lo; });
  std::uint64_t at = 0;
  for (const Range& r : allowed) {
    if (r.lo > at) {
      const std::uint64_t end = std::min<std::uint64_t>(r.lo, ram.size());
      if (std::memcmp(ram.data() + at, pristine.data() + at, end - at) != 0) return false;
    }
    at = std::max(at, std::min<std::uint64_t>(r.hi, ram.size()));
  }
  return true;
}

inline bool all_zero(const std::byte* p, std::size_t n) {
  static const std::array<std::byte, 65536> zeros{};
  for (std::size_t at = 0; at < n; at += zeros.size()) {
    if (std::memcmp(p + at, zeros.data(), std::min(zeros.size(), n - at)) != 0) return false;
  }
  return true;
}

// The areas every successful boot set-up writes: GDT, boot_params, page tables, command line.
inline std::vector<Range> boot_areas() {
  return {{loader::kGdtAddr, loader::kGdtAddr + loader::kPageSize},
          {loader::kBootParamsAddr, loader::kBootParamsAddr + loader::kBootParamsSize},
          {loader::kPml4Addr, loader::kPageTablesEnd},
          {loader::kCmdlineAddr, loader::kCmdlineAddr + loader::kCmdlineMax}};
}

// A failed load: one non-empty line, and (where the contract promises it) RAM as before.
inline void check_failure(const std::string& why) {
  HVK_FUZZ_CHECK(!why.empty());
  HVK_FUZZ_CHECK(why.find('\n') == std::string::npos);
}

// A loaded ELF64 image against its program headers: same segments in file order, file bytes
// copied, the rest of each p_memsz zeroed, all inside [1 MiB, RAM end), the entry inside one.
// Appends each segment's range to `written`.
inline void check_elf_segments(const loader::LoadedImage& image, std::span<const std::byte> elf,
                               const std::vector<std::byte>& ram, std::vector<Range>& written) {
  HVK_FUZZ_CHECK(!image.segments.empty());
  HVK_FUZZ_CHECK(image.low >= loader::kImageMinAddr && image.low < image.high &&
                 image.high <= ram.size());
  HVK_FUZZ_CHECK(image.entry >= image.low && image.entry < image.high);
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof(eh));
  std::size_t seg = 0;
  bool entry_inside = false;
  for (std::size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, elf.data() + eh.e_phoff + i * eh.e_phentsize, sizeof(ph));
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    HVK_FUZZ_CHECK(seg < image.segments.size());
    const loader::LoadedSegment& s = image.segments[seg++];
    HVK_FUZZ_CHECK(s.paddr == ph.p_paddr && s.filesz == ph.p_filesz && s.memsz == ph.p_memsz);
    HVK_FUZZ_CHECK(s.paddr >= loader::kImageMinAddr && s.memsz <= ram.size() - s.paddr);
    HVK_FUZZ_CHECK(s.paddr >= image.low && s.paddr + s.memsz <= image.high);
    HVK_FUZZ_CHECK(std::memcmp(ram.data() + s.paddr, elf.data() + ph.p_offset, s.filesz) == 0);
    HVK_FUZZ_CHECK(all_zero(ram.data() + s.paddr + s.filesz, s.memsz - s.filesz));
    entry_inside = entry_inside || (image.entry >= s.paddr && image.entry - s.paddr < s.memsz);
    written.push_back({s.paddr, s.paddr + s.memsz});
  }
  HVK_FUZZ_CHECK(seg == image.segments.size());
  HVK_FUZZ_CHECK(entry_inside);
}

// The boot vCPU and the command line of any successful set-up.
inline void check_entry_and_cmdline(const loader::BootSetup& setup, std::string_view cmdline,
                                    const std::vector<std::byte>& ram) {
  HVK_FUZZ_CHECK(setup.state.rip == setup.image.entry);
  HVK_FUZZ_CHECK(setup.state.rsi == loader::kBootParamsAddr);
  HVK_FUZZ_CHECK(cmdline.empty() ||
                 std::memcmp(ram.data() + loader::kCmdlineAddr, cmdline.data(), cmdline.size()) == 0);
  HVK_FUZZ_CHECK(ram[loader::kCmdlineAddr + cmdline.size()] == std::byte{0});
}

}  // namespace hvk::fuzz
