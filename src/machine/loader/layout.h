// hvk's fixed guest-physical layout for booting an ELF64 image or a bzImage through the Linux x86
// 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"), or a Multiboot
// (version 1) image (multiboot.h).
//
// Guest RAM starts at GPA 0; RAM beyond 3 GiB goes at 4 GiB instead ("RAM above 4 GiB" below).
// The loader owns everything below 1 MiB; images must be linked (p_paddr) at or above 1 MiB, and a
// PT_LOAD segment touching the low MiB is refused.
//
// clang-format off
//   GPA range            what                       notes
//   -------------------  -------------------------  ---------------------------------------------
//   0x00000 - 0x00fff    real-mode IVT / BDA        left untouched, never loaded into
//   0x01000 - 0x01fff    GDT                        null, null, __BOOT_CS 0x10, __BOOT_DS 0x18
//                                                   (Multiboot: 0x10 is 32-bit code)
//   0x02000 - 0x06fff    boot stack (20 KiB)        RSP = 0x7000 at entry, grows down
//   0x07000 - 0x07fff    boot_params (zero page)    RSI = 0x7000 at entry (not for Multiboot)
//   0x08000 - 0x08fff    (unused)                   left free for a guest's SIPI trampoline
//   0x09000 - 0x09fff    PML4                       CR3 = 0x9000; entry 0 -> PDPT
//   0x0a000 - 0x0afff    PDPT                       entry i -> page directory i (GiB i)
//   0x0b000 - 0x1ffff    page directories (<= 21)   2 MiB pages (PS), one directory per GiB
//                                                   (no page tables for Multiboot)
//   0x20000 - 0x207ff    kernel command line        NUL-terminated, <= 2048 bytes with the NUL
//                                                   (Multiboot: the info structure's cmdline)
//   0x20800 - 0x20fff    Multiboot information      EBX = 0x20800 at a Multiboot entry: the info
//                                                   structure, mmap, module list, boot loader
//                                                   name, module string (multiboot_info.h)
//   0x21000 - 0x9efff    setup_data area            setup_data chain (SETUP_DTB, ...)
//   0x9f000 - 0x9fbff    (unused)                   e820 usable
//   0x9fc00 - 0xdffff    legacy EBDA/VGA hole       e820 reserved
//   0xe0000 - 0xfffff    ACPI tables (RSDP first)   e820 reserved; written by the machine
//   0x100000 - low end   image, then free RAM       e820 usable; a Multiboot module goes at the
//                                                   first page boundary above the image
//   4 GiB - 4 GiB+high   RAM above 4 GiB            e820 usable; never written by the loader
// clang-format on
//
// The page tables identity-map [0, min(max(4 GiB, RAM top rounded up to 1 GiB), 21 GiB)), where
// the RAM top is 4 GiB + high_ram with RAM above 4 GiB, else the low RAM's end. So the image, the
// zero page, the command line and everything else the loader wrote (plus the first 4 GiB of MMIO
// space) are reachable at entry, as the 64-bit protocol requires. RAM above 21 GiB is left out of
// the boot map (the guest maps it itself, as Linux does); a low span above 21 GiB is refused.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace hvk::machine {

inline constexpr std::uint64_t kPageSize = 0x1000;
inline constexpr std::uint64_t kLargePageSize = 0x200000;  // 2 MiB, a PD entry with PS=1
inline constexpr std::uint64_t kGiB = 0x40000000;          // what one page directory maps

inline constexpr std::uint64_t kGdtAddr = 0x1000;
inline constexpr std::uint64_t kBootStackBase = 0x2000;
inline constexpr std::uint64_t kBootStackTop = 0x7000;    // initial RSP
inline constexpr std::uint64_t kBootParamsAddr = 0x7000;  // initial RSI
inline constexpr std::uint64_t kBootParamsSize = 0x1000;
inline constexpr std::uint64_t kPml4Addr = 0x9000;  // CR3
inline constexpr std::uint64_t kPdptAddr = 0xa000;
inline constexpr std::uint64_t kPdAddr = 0xb000;  // first page directory
inline constexpr std::uint64_t kPageTablesEnd = 0x20000;
inline constexpr std::uint64_t kMaxPageDirectories = (kPageTablesEnd - kPdAddr) / kPageSize;  // 21
inline constexpr std::uint64_t kCmdlineAddr = 0x20000;
inline constexpr std::uint64_t kCmdlineMax = 2048;            // bytes including the terminating NUL
inline constexpr std::uint64_t kMultibootInfoAddr = 0x20800;  // initial EBX (Multiboot)
inline constexpr std::uint64_t kMultibootInfoEnd = 0x21000;
inline constexpr std::uint64_t kSetupDataAddr = 0x21000;
inline constexpr std::uint64_t kSetupDataEnd = 0x9f000;
inline constexpr std::uint64_t kLegacyHoleStart = 0x9fc00;  // e820 reserved from here...
inline constexpr std::uint64_t kLowMemoryEnd = 0x100000;    // ...to 1 MiB; images load above
inline constexpr std::uint64_t kAcpiTablesAddr = 0xe0000;   // in the BIOS area Linux scans
inline constexpr std::uint64_t kAcpiTablesEnd = kLowMemoryEnd;
inline constexpr std::uint64_t kImageMinAddr = kLowMemoryEnd;

// Smallest RAM the loader accepts: the whole low MiB plus one 2 MiB page for an image.
inline constexpr std::uint64_t kMinRamSize = kLowMemoryEnd + kLargePageSize;
// Largest RAM the page-table area can identity-map with 2 MiB pages.
inline constexpr std::uint64_t kMaxRamSize = kMaxPageDirectories * kGiB;

// GDT selectors of the boot protocol (Linux's __BOOT_CS / __BOOT_DS); a Multiboot entry uses the
// same two, with a 32-bit code segment behind 0x10.
inline constexpr std::uint16_t kBootCsSelector = 0x10;
inline constexpr std::uint16_t kBootDsSelector = 0x18;
inline constexpr std::uint64_t kGdtEntries = 4;  // null, null, code, data

// A named piece of the low-memory layout, for documentation, tests and error messages.
struct FixedArea {
  std::string_view name;
  std::uint64_t base;
  std::uint64_t size;
  constexpr std::uint64_t end() const { return base + size; }
};

inline constexpr std::array<FixedArea, 10> kFixedAreas = {{
    {"real-mode IVT/BDA", 0x0, 0x1000},
    {"GDT", kGdtAddr, kPageSize},
    {"boot stack", kBootStackBase, kBootStackTop - kBootStackBase},
    {"boot_params", kBootParamsAddr, kBootParamsSize},
    {"PML4", kPml4Addr, kPageSize},
    {"PDPT", kPdptAddr, kPageSize},
    {"page directories", kPdAddr, kPageTablesEnd - kPdAddr},
    {"command line", kCmdlineAddr, kCmdlineMax},
    {"Multiboot information", kMultibootInfoAddr, kMultibootInfoEnd - kMultibootInfoAddr},
    {"setup_data area", kSetupDataAddr, kSetupDataEnd - kSetupDataAddr},
}};

// The first fixed area that [gpa, gpa + len) overlaps, else the "legacy EBDA/VGA/BIOS hole"
// [0x9fc00, 1 MiB), else "reserved low memory" [0, 1 MiB) for the unused gaps. Nothing for a range
// entirely at or above kLowMemoryEnd; len 0 overlaps nothing. Overflow-safe.
std::optional<FixedArea> overlapped_fixed_area(std::uint64_t gpa, std::uint64_t len);

// --- RAM above 4 GiB -----------------------------------------------------------------------------
//
// Guest RAM of more than 3 GiB is split around the 32-bit MMIO hole [3 GiB, 4 GiB) (the IOAPIC,
// the local APICs, VMX's real-mode pages): the first 3 GiB at GPA 0, the rest at 4 GiB. The loader
// writes only below the hole (the low span it is given); the RAM above is described (e820, the
// Multiboot memory map, the identity map) and otherwise left to the guest.
inline constexpr std::uint64_t kLowRamMax = 3 * kGiB;
inline constexpr std::uint64_t kHighRamBase = 4 * kGiB;

struct RamSplit {
  std::uint64_t low = 0;   // bytes at GPA 0
  std::uint64_t high = 0;  // bytes at kHighRamBase
  // `bytes` of RAM split as hvk lays it out.
  static constexpr RamSplit of(std::uint64_t bytes) {
    const std::uint64_t low = bytes < kLowRamMax ? bytes : kLowRamMax;
    return {low, bytes - low};
  }
  constexpr std::uint64_t total() const { return low + high; }
  // One past the highest RAM address.
  constexpr std::uint64_t top() const { return high != 0 ? kHighRamBase + high : low; }
};

// --- e820 ---------------------------------------------------------------------------------------

inline constexpr std::uint32_t kE820Ram = 1;
inline constexpr std::uint32_t kE820Reserved = 2;

struct E820Entry {
  std::uint64_t addr;
  std::uint64_t size;
  std::uint32_t type;
  friend bool operator==(const E820Entry&, const E820Entry&) = default;
};

// The e820 map hvk reports for `ram_size` bytes of RAM at GPA 0 and `high_ram` bytes at
// kHighRamBase (boot_params.e820_table, and the Multiboot memory map and mem_lower/mem_upper):
// usable [0, 0x9fc00), reserved [0x9fc00, 1 MiB), usable [1 MiB, ram_size), and usable
// [4 GiB, 4 GiB + high_ram) when high_ram is not 0. Entries are clipped to ram_size (the high one
// so that addr + size does not wrap); empty ones dropped. With high_ram, ram_size should be at most
// kLowRamMax, as RamSplit makes it (the boot_params and Multiboot checks refuse more).
std::vector<E820Entry> e820_layout(std::uint64_t ram_size, std::uint64_t high_ram = 0);

// How many bytes the identity map covers for RAM ending at `ram_top`: max(4 GiB, ram_top rounded
// up to 1 GiB).
std::uint64_t identity_map_size(std::uint64_t ram_top);

}  // namespace hvk::machine
