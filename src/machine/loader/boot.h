// One call to prepare guest RAM and the boot vCPU for hvk's guest contract: an ELF64 image booted
// through the Linux x86 64-bit boot protocol (see layout.h for where everything goes).
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

struct BootOptions {
  std::string_view cmdline;      // kernel command line, < kCmdlineMax bytes
  std::uint64_t setup_data = 0;  // head of a chain built with SetupDataChain, 0 for none
};

struct BootSetup {
  LoadedImage image;
  BootState state;  // the boot vCPU's registers at entry
};

// Validates the RAM size, the options and the image, then loads the image and writes the GDT,
// identity page tables, command line and boot_params. On error RAM is untouched (apart from any
// setup_data the caller wrote) and the message is one line.
Result<BootSetup> prepare_elf64_boot(std::span<const std::byte> elf, std::span<std::byte> ram,
                                     const BootOptions& options);

}  // namespace hvk::machine
