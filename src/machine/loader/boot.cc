#include "machine/loader/boot.h"

#include <fmt/format.h>

#include <utility>

namespace hvk::machine {

Result<BootSetup> prepare_elf64_boot(std::span<const std::byte> elf, std::span<std::byte> ram,
                                     const BootOptions& options) {
  const BootParamsOptions bp{.cmdline = options.cmdline, .setup_data = options.setup_data};
  if (auto ok = check_boot_params(ram.size(), bp); !ok) return Error{ok.error()};
  if (ram.size() > kMaxRamSize) {
    return fail(fmt::format("RAM of {:#x} bytes exceeds the {:#x} bytes the loader can map",
                            ram.size(), kMaxRamSize));
  }

  auto image = load_elf64(elf, ram);
  if (!image) return Error{image.error()};

  // Nothing below can fail for a RAM size that passed the checks above; report it if it does.
  if (auto st = write_gdt(ram); !st) return Error{st.error()};
  if (auto st = write_identity_page_tables(ram); !st) return Error{st.error()};
  if (auto st = build_boot_params(ram, bp); !st) return Error{st.error()};
  BootSetup setup;
  setup.state = make_boot_state(image->entry);
  setup.image = std::move(*image);
  return setup;
}

}  // namespace hvk::machine
