#include "machine/loader/boot.h"

#include <elf.h>
#include <fmt/format.h>

#include <cstring>
#include <utility>
#include <vector>

#include "machine/loader/bzimage.h"
#include "machine/loader/guest_ram.h"
#include "machine/loader/multiboot.h"

namespace hvk::machine {

namespace {

constexpr std::uint64_t kInitrdMaxEnd = 0x8000'0000;  // initrd_addr_max of every 2.03+ kernel
constexpr std::uint64_t kMaxUnpackedKernel = 1ull << 30;

// Puts the initrd as high as possible below min(RAM end, 2 GiB), page aligned, above the image.
Result<std::uint64_t> place_initrd(std::span<const std::byte> initrd, std::span<std::byte> ram,
                                   const LoadedImage& image) {
  const std::uint64_t top = std::min<std::uint64_t>(ram.size(), kInitrdMaxEnd);
  const std::uint64_t size = initrd.size();
  const std::uint64_t floor = (image.high + kPageSize - 1) & ~(kPageSize - 1);
  if (size > top || ((top - size) & ~(kPageSize - 1)) < floor) {
    return fail(fmt::format(
        "initrd: {} bytes do not fit between the kernel's end {:#x} and {:#x}; give more --mem",
        size, image.high, top));
  }
  const std::uint64_t at = (top - size) & ~(kPageSize - 1);
  if (!GuestRam(ram).write(at, initrd)) return fail("initrd: internal error, write outside RAM");
  return at;
}

Result<BootSetup> finish(LoadedImage image, std::span<std::byte> ram, const BootOptions& options,
                         std::span<const std::byte> setup_header) {
  BootSetup setup;
  BootParamsOptions bp{.cmdline = options.cmdline,
                       .setup_data = options.setup_data,
                       .acpi_rsdp = options.acpi_rsdp,
                       .high_ram = options.high_ram,
                       .setup_header = setup_header};
  if (!options.initrd.empty()) {
    auto at = place_initrd(options.initrd, ram, image);
    if (!at) return Error{at.error()};
    setup.initrd = bp.initrd = *at;
    bp.initrd_size = options.initrd.size();
  }
  // Nothing below can fail for a RAM size that passed the checks; report it if it does.
  if (auto st = write_gdt(ram); !st) return Error{st.error()};
  if (auto st = write_identity_page_tables(ram, options.high_ram); !st) return Error{st.error()};
  if (auto st = build_boot_params(ram, bp); !st) return Error{st.error()};
  setup.state = make_boot_state(image.entry);
  setup.image = std::move(image);
  return setup;
}

// Everything build_boot_params and write_identity_page_tables will check, before anything is
// written. The size limit is on the low span only: RAM above 4 GiB the tables cannot reach is
// left for the guest to map.
Status check_ram(std::span<std::byte> ram, const BootOptions& options,
                 std::span<const std::byte> setup_header = {}) {
  BootParamsOptions bp;
  bp.cmdline = options.cmdline;
  bp.setup_data = options.setup_data;
  bp.high_ram = options.high_ram;
  bp.setup_header = setup_header;
  if (auto ok = check_boot_params(ram.size(), bp); !ok) return ok;
  if (ram.size() > kMaxRamSize) {
    return fail(fmt::format("RAM of {:#x} bytes exceeds the {:#x} bytes the loader can map",
                            ram.size(), kMaxRamSize));
  }
  return {};
}

constexpr const char* kFormats = "(hvk boots ELF64, bzImage and Multiboot images)";

// Neither a bzImage nor a Multiboot image: an ELF64 file (or an ELF file of an unknown class, whose
// error the ELF loader gives), else one line naming the formats.
Result<BootSetup> prepare_other(std::span<const std::byte> image, std::span<std::byte> ram,
                                const BootOptions& options) {
  const bool elf = image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
  const bool elf32 = elf && image.size() > EI_CLASS && image[EI_CLASS] == std::byte{ELFCLASS32};
  if (elf && !elf32) return prepare_elf64_boot(image, ram, options);
  if (const auto magic = find_multiboot_magic(image)) {
    // A header the user meant, broken: say what is wrong with it.
    if (auto header = parse_multiboot_header(image, *magic); !header) {
      return Error{header.error()};
    }
  }
  if (elf32) {
    return fail(fmt::format("image: an ELF32 file without a Multiboot header {}", kFormats));
  }
  if (image.empty()) return fail(fmt::format("image: the file is empty {}", kFormats));
  return fail("image: not an ELF64, bzImage or Multiboot image");
}

}  // namespace

Result<BootSetup> prepare_elf64_boot(std::span<const std::byte> elf, std::span<std::byte> ram,
                                     const BootOptions& options) {
  if (auto ok = check_ram(ram, options); !ok) return Error{ok.error()};
  auto image = load_elf64(elf, ram);
  if (!image) return Error{image.error()};
  return finish(std::move(*image), ram, options, {});
}

Result<BootSetup> prepare_multiboot_boot(std::span<const std::byte> image, std::span<std::byte> ram,
                                         const BootOptions& options) {
  auto mb = load_multiboot(image, ram,
                           {.program = options.image_name,
                            .cmdline = options.cmdline,
                            .module = !options.initrd.empty() || !options.initrd_name.empty(),
                            .module_bytes = options.initrd,
                            .module_name = options.initrd_name,
                            .high_ram = options.high_ram});
  if (!mb) return Error{mb.error()};
  BootSetup setup;
  setup.format = BootFormat::kMultiboot;
  setup.image = std::move(mb->image);
  setup.state = mb->state;
  setup.initrd = mb->module;
  return setup;
}

Result<BootSetup> prepare_boot(std::span<const std::byte> image, std::span<std::byte> ram,
                               const BootOptions& options) {
  // The order is boot.h's: bzImage, Multiboot, ELF64, else one line naming the formats.
  if (!looks_like_bzimage(image)) {
    if (find_multiboot_header(image)) return prepare_multiboot_boot(image, ram, options);
    return prepare_other(image, ram, options);
  }
  auto bz = parse_bzimage(image);
  if (!bz) return Error{bz.error()};
  const bool unpack = options.bzimage == BzImageMode::kUnpack;
  if (auto ok = check_ram(ram, options, unpack ? std::span<const std::byte>{} : bz->setup_header);
      !ok) {
    return Error{ok.error()};
  }
  if (unpack) {
    auto elf = unpack_bzimage(*bz, std::min<std::uint64_t>(kMaxUnpackedKernel, ram.size()));
    if (!elf) return Error{elf.error()};
    auto loaded = load_elf64(*elf, ram);
    if (!loaded) return Error{"bzImage: the unpacked vmlinux: " + loaded.error()};
    auto setup = finish(std::move(*loaded), ram, options, {});
    if (setup) setup->format = BootFormat::kBzImage;
    return setup;
  }
  auto loaded = load_bzimage(*bz, ram);
  if (!loaded) return Error{loaded.error()};
  auto setup = finish(std::move(*loaded), ram, options, bz->setup_header);
  if (setup) setup->format = BootFormat::kBzImage;
  return setup;
}

}  // namespace hvk::machine
