// One call to prepare guest RAM and the boot vCPU for hvk's guest contract: an ELF64 image or a
// Linux bzImage booted through the Linux x86 64-bit boot protocol, or a Multiboot image entered in
// 32-bit protected mode (see layout.h for where everything goes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "machine/loader/boot_params.h"
#include "machine/loader/cpu_state.h"
#include "machine/loader/elf_loader.h"
#include "machine/loader/layout.h"
#include "machine/loader/result.h"

namespace hvk::machine {

// How a bzImage is booted: its protected-mode kernel entered at startup_64 so its own
// decompressor runs (what a boot loader does), or the vmlinux ELF inside it unpacked by hvk and
// entered directly (faster, and avoids the decompressor on hosts whose emulator trips over it).
enum class BzImageMode { kBoot, kUnpack };

struct BootOptions {
  std::string_view cmdline;      // kernel command line, < kCmdlineMax bytes
  std::uint64_t setup_data = 0;  // head of a chain built with SetupDataChain, 0 for none
  std::uint64_t acpi_rsdp = 0;   // GPA of the ACPI tables' RSDP, 0 for none
  // Linux: copied to the top of RAM (below 2 GiB) when not empty. Multiboot: the one module,
  // page aligned above the image, present when it or initrd_name is not empty.
  std::span<const std::byte> initrd{};
  std::string_view initrd_name{};  // Multiboot: the module's string (the file name)
  // Multiboot: the image's name, put before the command line as QEMU and GRUB do (a kernel that
  // splits its command line into argv finds it as argv[0]); empty: the command line alone.
  std::string_view image_name{};
  BzImageMode bzimage = BzImageMode::kBoot;
  // Bytes of RAM at kHighRamBase besides `ram` (layout.h, "RAM above 4 GiB"): described in the
  // e820 table or the Multiboot memory map and (Linux) identity-mapped, never written. With it,
  // `ram` is at most kLowRamMax bytes.
  std::uint64_t high_ram = 0;
};

enum class BootFormat { kElf64, kBzImage, kMultiboot };

struct BootSetup {
  BootFormat format = BootFormat::kElf64;
  LoadedImage image;
  BootState state;           // the boot vCPU's registers at entry
  std::uint64_t initrd = 0;  // where the initrd (Multiboot: the module) went (0: none)
};

// Picks the format by content, in this order:
//   1. "HdrS" at 0x202: a Linux bzImage (64-bit boot protocol);
//   2. a Multiboot header (magic and valid checksum, first 8 KiB): Multiboot, whatever the file
//      is otherwise (ELF32, ELF64 or a.out kludge) -- the header is the image's own request to be
//      entered the Multiboot way, and an ELF64 that carries one normally has 32-bit entry code;
//   3. an ELF64 file: the 64-bit boot protocol;
//   4. anything else is refused with one line naming the formats hvk boots (an ELF32 file without
//      a Multiboot header, or with a broken one, says so).
// `ram` is the guest RAM at GPA 0 (with options.high_ram, the part below the 32-bit MMIO hole):
// images, the initrd and modules go there only.
// Linux formats: validates the RAM size, the options and the image, then loads the image and
// initrd and writes the GDT, identity page tables, command line and boot_params; on error the
// message is one line, and RAM is as it was unless the initrd did not fit above the loaded image
// (RAM then holds the image). Multiboot: see prepare_multiboot_boot.
Result<BootSetup> prepare_boot(std::span<const std::byte> image, std::span<std::byte> ram,
                               const BootOptions& options);

// The same for an ELF64 image only (no initrd).
Result<BootSetup> prepare_elf64_boot(std::span<const std::byte> elf, std::span<std::byte> ram,
                                     const BootOptions& options);

// The same for a Multiboot image (load_multiboot in multiboot.h): the command line and the initrd
// as its module; setup_data, acpi_rsdp and bzimage do not apply. On error the message is one line
// and RAM is as it was.
Result<BootSetup> prepare_multiboot_boot(std::span<const std::byte> image, std::span<std::byte> ram,
                                         const BootOptions& options);

}  // namespace hvk::machine
