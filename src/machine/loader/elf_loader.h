// Loading an ELF executable (ET_EXEC: a Linux vmlinux, an hvk test guest, a Multiboot kernel) into
// guest RAM by its physical load addresses. ELF64 x86-64 always; ELF32 i386 for the formats that
// enter in 32-bit mode (Multiboot).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "machine/loader/result.h"

namespace hvk::machine {

struct LoadedSegment {
  std::uint64_t paddr = 0;   // where it was copied to (GPA)
  std::uint64_t filesz = 0;  // bytes copied from the file
  std::uint64_t memsz = 0;   // bytes occupied in RAM; [paddr + filesz, paddr + memsz) is zeroed
  std::uint32_t flags = 0;   // PF_R / PF_W / PF_X
};

struct LoadedImage {
  std::uint64_t entry = 0;              // e_entry: a physical address inside a loaded segment
  std::uint64_t low = 0;                // lowest GPA occupied by a loaded segment
  std::uint64_t high = 0;               // one past the highest GPA occupied (extent is [low, high))
  std::vector<LoadedSegment> segments;  // PT_LOAD segments with p_memsz > 0, in file order
};

// An image checked against a RAM size but not yet copied: what loading it produces, and where in
// the file each segment's bytes start (file_offsets[i] belongs to image.segments[i]).
struct PlannedImage {
  LoadedImage image;
  std::vector<std::uint64_t> file_offsets;
};

// What a caller accepts beyond an ELF64 x86-64 image entered at a physical e_entry.
struct ElfRules {
  bool elf32 = false;  // also ELFCLASS32 / EM_386
  // Every segment must end at or below this address (4 GiB for an image entered in 32-bit mode).
  std::uint64_t limit = UINT64_MAX;
  // An e_entry that is inside no segment's physical range but inside one's virtual range
  // [p_vaddr, p_vaddr + p_memsz) is taken as that virtual address and moved to the physical one.
  bool virtual_entry = false;
};

// Validates `image` completely against a RAM of `ram_size` bytes at GPA 0 without writing
// anything. Requirements: ELF64 (or, with rules.elf32, ELF32), little-endian, EV_CURRENT, ET_EXEC,
// EM_X86_64 (EM_386 for ELF32); program headers inside the file; every PT_LOAD segment with
// p_memsz > 0 has its file bytes inside the file, p_filesz <= p_memsz, [p_paddr, p_paddr +
// p_memsz) without overflow, inside RAM, above the loader's low MiB (see layout.h), at or below
// rules.limit and disjoint from the other segments; e_entry inside a loaded segment. Errors are one
// line starting with "ELF: ".
Result<PlannedImage> plan_elf(std::span<const std::byte> image, std::uint64_t ram_size,
                              const ElfRules& rules = {});

// Copies each planned segment's file bytes from `image` to RAM and zero-fills the rest of its
// memsz. `image` and `ram` must be what the plan was made from (each write is bounds-checked
// anyway; a failure is an internal error).
Status write_planned_image(const PlannedImage& plan, std::span<const std::byte> image,
                           std::span<std::byte> ram);

// plan_elf (ELF64 only) and write_planned_image: on error nothing in `ram` has been written and
// the message is one line.
Result<LoadedImage> load_elf64(std::span<const std::byte> image, std::span<std::byte> ram);

}  // namespace hvk::machine
