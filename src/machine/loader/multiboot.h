// Multiboot (version 1, spec 0.6.96) images: finding and checking the header, loading the image
// where the header or its ELF program headers say, and the 32-bit protected-mode entry with the
// information structure (multiboot_info.h). kvm-unit-tests' x86 *.flat files are such images.
//
// The header: u32 magic 0x1BADB002, flags, checksum (magic + flags + checksum == 0 mod 2^32),
// 32-bit aligned and entirely inside the file's first 8192 bytes. With flags bit 16 (the "a.out
// kludge") five more u32 follow: header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr.
//
// Flags hvk honours: bit 0 (modules page aligned: always), bit 1 (memory information: always
// given), bit 16 (the load addresses above, which win over the file's ELF headers). Bit 2 (a video
// mode) is refused: hvk has no display to describe. Any other bit in 0-15 (a requirement hvk does
// not know) is refused; other bits in 16-31 are ignored, as the specification allows.
//
// At entry (make_multiboot_state): EAX = 0x2BADB002, EBX = the information structure, flat 32-bit
// protected mode without paging (cpu_state.h), EFLAGS = 0x2, ESP = the top of the boot stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "machine/loader/cpu_state.h"
#include "machine/loader/elf_loader.h"
#include "machine/loader/result.h"

namespace hvk::machine {

inline constexpr std::uint32_t kMultibootHeaderMagic = 0x1BADB002;
inline constexpr std::uint32_t kMultibootBootMagic = 0x2BADB002;  // EAX at entry
inline constexpr std::uint64_t kMultibootSearchEnd = 8192;        // the header lies below this
inline constexpr std::uint64_t kMultibootHeaderSize = 12;         // magic, flags, checksum
inline constexpr std::uint64_t kMultibootKludgeHeaderSize = 32;   // ... and the a.out kludge
inline constexpr std::uint64_t kMultibootAddressLimit = 1ull << 32;

inline constexpr std::uint32_t kMultibootPageAlign = 1u << 0;
inline constexpr std::uint32_t kMultibootMemoryInfo = 1u << 1;
inline constexpr std::uint32_t kMultibootVideoMode = 1u << 2;
inline constexpr std::uint32_t kMultibootAoutKludge = 1u << 16;

struct MultibootHeader {
  std::uint64_t offset = 0;  // file offset of the magic
  std::uint32_t flags = 0;
  // The a.out kludge's fields (flags bit 16), else zero.
  std::uint32_t header_addr = 0;
  std::uint32_t load_addr = 0;
  std::uint32_t load_end_addr = 0;  // 0: load to the end of the file
  std::uint32_t bss_end_addr = 0;   // 0: no bss
  std::uint32_t entry_addr = 0;
};

// The offset of the first 32-bit aligned magic below 8192 whose 12-byte header lies inside the
// file and below 8192 and whose checksum is right; nothing when there is none.
std::optional<std::uint64_t> find_multiboot_header(std::span<const std::byte> image);
// The offset of the first 32-bit aligned magic whose 12 bytes lie there, checksum or not (for
// telling a user that the header they meant is broken).
std::optional<std::uint64_t> find_multiboot_magic(std::span<const std::byte> image);

// Reads and checks the header at `offset` (as find_multiboot_header found it): the checksum, the
// flags (see above) and, with bit 16, that the kludge fields lie inside the file and below 8192.
// One-line errors starting with "Multiboot: ".
Result<MultibootHeader> parse_multiboot_header(std::span<const std::byte> image,
                                               std::uint64_t offset);

// The image as `header` says to load it, checked against a RAM of `ram_size` bytes without
// writing anything. With the a.out kludge: file bytes from offset - (header_addr - load_addr),
// load_end_addr - load_addr of them (or to the end of the file) at load_addr, zero up to
// bss_end_addr, entry_addr inside. Otherwise an ELF32 (EM_386) or ELF64 (EM_X86_64) executable by
// its program headers (plan_elf; an e_entry that is a virtual address inside a segment is moved to
// its physical address). Either way: above the loader's low MiB, inside RAM, below 4 GiB.
Result<PlannedImage> plan_multiboot_image(std::span<const std::byte> image,
                                          const MultibootHeader& header, std::uint64_t ram_size);

struct MultibootOptions {
  std::string_view program{};  // the image's name: the command line's first word (may be empty)
  std::string_view cmdline{};  // the rest of the information structure's cmdline
  bool module = false;         // load one module (the --initrd file)
  std::span<const std::byte> module_bytes{};
  std::string_view module_name{};  // its string
  // Bytes of RAM at kHighRamBase besides `ram`: in the memory map, never written (layout.h).
  std::uint64_t high_ram = 0;
};

struct MultibootSetup {
  LoadedImage image;
  std::uint64_t info = 0;    // GPA of the information structure
  std::uint64_t module = 0;  // GPA of the module (page aligned, above the image), 0: none
  BootState state;
};

// Finds and checks the header, plans the image and the module, checks RAM and the options, then
// writes the image (bss zeroed), the module, the command line, the information area and the GDT
// (32-bit code at 0x10, data at 0x18). On error the message is one line and nothing in `ram` has
// been written.
Result<MultibootSetup> load_multiboot(std::span<const std::byte> image, std::span<std::byte> ram,
                                      const MultibootOptions& options);

// The entry state: make_protected_mode_state(entry) with EAX = 0x2BADB002 and EBX = `info`.
BootState make_multiboot_state(std::uint64_t entry, std::uint64_t info);

}  // namespace hvk::machine
