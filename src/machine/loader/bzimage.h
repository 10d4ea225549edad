// Linux bzImage (Documentation/arch/x86/boot.rst): the setup header, loading the protected-mode
// kernel for the 64-bit boot protocol (its own decompressor runs in the guest), and unpacking the
// compressed vmlinux ELF inside it in hvk (xz and lzma through liblzma, gzip through zlib, zstd
// through libzstd) for hosts whose instruction emulator trips over the decompressor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "machine/loader/elf_loader.h"
#include "machine/loader/result.h"

namespace hvk::machine {

struct BzImage {
  std::span<const std::byte> setup_header;  // from offset 0x1f1, as the boot protocol copies it
  std::span<const std::byte> kernel;        // the protected-mode kernel (after the setup sectors)
  std::span<const std::byte> payload;       // the compressed vmlinux inside `kernel`
  std::uint16_t version = 0;
  std::uint16_t xloadflags = 0;
  std::uint64_t pref_address = 0;
  std::uint32_t init_size = 0;
  std::uint32_t kernel_alignment = 0;
};

// True when `image` carries the "HdrS" setup header of a bzImage (it may still be unusable).
bool looks_like_bzimage(std::span<const std::byte> image);

// Checks the header: boot protocol 2.12 or later, a 64-bit entry (XLF_KERNEL_64), sections inside
// the file. One-line errors.
Result<BzImage> parse_bzimage(std::span<const std::byte> image);

// Copies the protected-mode kernel to its preferred address (which must lie in RAM with room for
// init_size bytes, above the low MiB); the entry is that address + 0x200 (startup_64).
Result<LoadedImage> load_bzimage(const BzImage& bz, std::span<std::byte> ram);

// The vmlinux ELF inside: the payload decompressed (at most `max_size` bytes).
Result<std::vector<std::byte>> unpack_bzimage(const BzImage& bz, std::uint64_t max_size);

}  // namespace hvk::machine
