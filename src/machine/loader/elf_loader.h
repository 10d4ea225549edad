// Loading an ELF64 x86-64 executable (ET_EXEC, e.g. a Linux vmlinux or an hvk test guest) into
// guest RAM by its physical load addresses.
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

// Validates `image` completely, then copies each PT_LOAD segment's file bytes to p_paddr in `ram`
// (RAM at GPA 0) and zero-fills the rest of its p_memsz. Requirements: ELF64, little-endian,
// EV_CURRENT, ET_EXEC, EM_X86_64; program headers inside the file; every segment's file bytes
// inside the file, p_filesz <= p_memsz, [p_paddr, p_paddr + p_memsz) without overflow, inside RAM,
// above the loader's low MiB (see layout.h) and disjoint from the other segments; e_entry inside
// a loaded segment. On error nothing in `ram` has been written and the message is one line.
Result<LoadedImage> load_elf64(std::span<const std::byte> image, std::span<std::byte> ram);

}  // namespace hvk::machine
