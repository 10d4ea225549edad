// The Multiboot (version 1, spec 0.6.96) information structure hvk hands a Multiboot image in EBX,
// and everything it points to, written into the loader's Multiboot information area (layout.h):
//
// clang-format off
//   GPA       what                          notes
//   --------  ----------------------------  --------------------------------------------------
//   0x20800   information structure         116 bytes (through the framebuffer fields), EBX
//   0x20880   memory map (mmap_addr)        e820_layout(RAM size, high_ram), 24 bytes an entry
//   0x20900   module list (mods_addr)       {mod_start, mod_end, string, reserved}, 0 or 1 entry
//   0x20920   boot loader name              "hvk"
//   0x20940   module string                 the --initrd file name, NUL-terminated
//   0x20000   command line (cmdline)        the kernel command line area, shared with Linux:
//                                           the image's name, a space, the --cmdline string
// clang-format on
//
// Flags set: 0 (mem_lower/mem_upper), 2 (cmdline), 3 (mods, also when there are none), 6 (mmap),
// 9 (boot_loader_name). Not set: 1 (no BIOS boot device), 4/5 (no symbols), 7 (no drives), 8 (no
// BIOS configuration table), 10 (no APM), 11/12 (no VBE, no framebuffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "machine/loader/layout.h"
#include "machine/loader/result.h"

namespace hvk::machine {

// The information structure's field offsets.
namespace mbi {
inline constexpr std::uint64_t kFlags = 0;
inline constexpr std::uint64_t kMemLower = 4;
inline constexpr std::uint64_t kMemUpper = 8;
inline constexpr std::uint64_t kBootDevice = 12;
inline constexpr std::uint64_t kCmdline = 16;
inline constexpr std::uint64_t kModsCount = 20;
inline constexpr std::uint64_t kModsAddr = 24;
inline constexpr std::uint64_t kSyms = 28;  // four u32
inline constexpr std::uint64_t kMmapLength = 44;
inline constexpr std::uint64_t kMmapAddr = 48;
inline constexpr std::uint64_t kDrivesLength = 52;
inline constexpr std::uint64_t kDrivesAddr = 56;
inline constexpr std::uint64_t kConfigTable = 60;
inline constexpr std::uint64_t kBootLoaderName = 64;
inline constexpr std::uint64_t kApmTable = 68;
inline constexpr std::uint64_t kVbeControlInfo = 72;
inline constexpr std::uint64_t kFramebufferAddr = 88;
inline constexpr std::uint64_t kSize = 116;  // through the framebuffer's color info

// Flags bits.
inline constexpr std::uint32_t kFlagMemory = 1u << 0;
inline constexpr std::uint32_t kFlagCmdline = 1u << 2;
inline constexpr std::uint32_t kFlagMods = 1u << 3;
inline constexpr std::uint32_t kFlagMmap = 1u << 6;
inline constexpr std::uint32_t kFlagBootLoaderName = 1u << 9;
inline constexpr std::uint32_t kFlagsHvk =
    kFlagMemory | kFlagCmdline | kFlagMods | kFlagMmap | kFlagBootLoaderName;

// A memory map entry: u32 size (of the rest: 20), u64 base_addr, u64 length, u32 type; the
// entries follow each other without padding, so base_addr is only 4-byte aligned.
inline constexpr std::uint64_t kMmapEntrySize = 24;
inline constexpr std::uint32_t kMmapEntryRest = 20;
// A module entry: u32 mod_start, mod_end (one past the last byte), string, reserved.
inline constexpr std::uint64_t kModuleEntrySize = 16;

// Where the pieces go inside [kMultibootInfoAddr, kMultibootInfoEnd).
inline constexpr std::uint64_t kInfoAddr = kMultibootInfoAddr;
inline constexpr std::uint64_t kMmapAt = kMultibootInfoAddr + 0x80;
inline constexpr std::uint64_t kModulesAt = kMultibootInfoAddr + 0x100;
inline constexpr std::uint64_t kLoaderNameAt = kMultibootInfoAddr + 0x120;
inline constexpr std::uint64_t kModuleStringAt = kMultibootInfoAddr + 0x140;
inline constexpr std::uint64_t kModuleStringMax = kMultibootInfoEnd - kModuleStringAt;  // with NUL
inline constexpr std::string_view kLoaderName = "hvk";
}  // namespace mbi

struct MultibootInfoOptions {
  // The information structure's cmdline is `program`, a space, `cmdline` (either alone when the
  // other is empty), as QEMU and GRUB put the image's name first, where a kernel that splits its
  // command line into argv finds its argv[0]. Together < kCmdlineMax bytes, no NUL.
  std::string_view program{};
  std::string_view cmdline{};
  bool module = false;  // one module at [module_start, module_start + module_size)
  std::uint64_t module_start = 0;
  std::uint64_t module_size = 0;
  std::string_view module_name{};  // < mbi::kModuleStringMax bytes, no NUL
  // Bytes of RAM at kHighRamBase besides the span written into (layout.h, "RAM above 4 GiB"):
  // in the memory map, never written.
  std::uint64_t high_ram = 0;
};

// What write_multiboot_info checks, without writing: RAM of at least kMinRamSize (and at most
// kLowRamMax with high_ram), the command line (program and cmdline) and module name (length, no
// NUL), the module inside RAM below 4 GiB, the memory map inside its space. One-line errors
// starting with "Multiboot: ".
Status check_multiboot_info(std::uint64_t ram_size, const MultibootInfoOptions& options);

// Writes the command line (the whole kCmdlineMax buffer, NUL-padded) and the Multiboot
// information area (the whole area: unused bytes zero). mem_lower and mem_upper are the sizes in
// KiB of the usable e820_layout entries at 0 and at 1 MiB (mem_upper saturates at 2^32 - 1; as
// the specification says, memory up to the first hole, so never the RAM above 4 GiB), the memory
// map is e820_layout(ram.size(), options.high_ram) itself. On error nothing has been written.
Status write_multiboot_info(std::span<std::byte> ram, const MultibootInfoOptions& options);

}  // namespace hvk::machine
