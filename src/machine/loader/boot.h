// One call to prepare guest RAM and the boot vCPU for hvk's guest contract: an ELF64 image or a
// Linux bzImage booted through the Linux x86 64-bit boot protocol (see layout.h for where
// everything goes).
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
  std::span<const std::byte> initrd{};  // copied to the top of RAM (below 4 GiB) when not empty
  BzImageMode bzimage = BzImageMode::kBoot;
};

struct BootSetup {
  LoadedImage image;
  BootState state;           // the boot vCPU's registers at entry
  std::uint64_t initrd = 0;  // where the initrd went (0: none)
};

// Validates the RAM size, the options and the image (ELF64 or bzImage), then loads the image and
// initrd and writes the GDT, identity page tables, command line and boot_params. On error the
// message is one line, and RAM is as it was unless the initrd did not fit above the loaded
// image (RAM then holds the image).
Result<BootSetup> prepare_boot(std::span<const std::byte> image, std::span<std::byte> ram,
                               const BootOptions& options);

// The same for an ELF64 image only (no initrd).
Result<BootSetup> prepare_elf64_boot(std::span<const std::byte> elf, std::span<std::byte> ram,
                                     const BootOptions& options);

}  // namespace hvk::machine
