#include "machine/loader/elf_loader.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "machine/loader/guest_ram.h"
#include "machine/loader/layout.h"

namespace hvk::machine {
namespace {

Error elf_error(const std::string& what) {
  return fail("ELF: " + what);
}

std::string segment_name(std::size_t index, const Elf64_Phdr& ph) {
  return fmt::format("segment {} (p_paddr {:#x}, p_memsz {:#x})", index, ph.p_paddr, ph.p_memsz);
}

Result<Elf64_Ehdr> check_header(std::span<const std::byte> image) {
  Elf64_Ehdr eh;
  if (image.size() < sizeof(eh)) {
    return elf_error(fmt::format("file is {} bytes, too short for an ELF64 header ({} bytes)",
                                 image.size(), sizeof(eh)));
  }
  std::memcpy(&eh, image.data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return elf_error("bad magic, not an ELF file");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
    return elf_error(fmt::format("class {} is not ELFCLASS64", eh.e_ident[EI_CLASS]));
  }
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return elf_error(fmt::format("data encoding {} is not little-endian", eh.e_ident[EI_DATA]));
  }
  if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT) {
    return elf_error("version is not EV_CURRENT");
  }
  if (eh.e_type != ET_EXEC) {
    return elf_error(
        fmt::format("type {} is not ET_EXEC (relocatable, shared and PIE images are "
                    "not supported)",
                    eh.e_type));
  }
  if (eh.e_machine != EM_X86_64) {
    return elf_error(fmt::format("machine {} is not EM_X86_64", eh.e_machine));
  }
  if (eh.e_phnum == 0) return elf_error("no program headers");
  if (eh.e_phnum == PN_XNUM) return elf_error("extended program header numbering not supported");
  if (eh.e_phentsize < sizeof(Elf64_Phdr)) {
    return elf_error(fmt::format("e_phentsize {} is smaller than an ELF64 program header ({})",
                                 eh.e_phentsize, sizeof(Elf64_Phdr)));
  }
  // Both factors are 16-bit, so the product cannot overflow 64 bits; range_fits handles the sum.
  const std::uint64_t table = std::uint64_t{eh.e_phnum} * eh.e_phentsize;
  if (!range_fits(eh.e_phoff, table, image.size())) {
    return elf_error(
        fmt::format("program header table (e_phoff {:#x}, {} x {} bytes) extends "
                    "beyond the end of the {}-byte file",
                    eh.e_phoff, eh.e_phnum, eh.e_phentsize, image.size()));
  }
  return eh;
}

Status check_segment(std::size_t index, const Elf64_Phdr& ph, std::uint64_t file_size,
                     std::uint64_t ram_size) {
  if (ph.p_filesz > ph.p_memsz) {
    return elf_error(
        fmt::format("{}: p_filesz {:#x} exceeds p_memsz", segment_name(index, ph), ph.p_filesz));
  }
  if (!range_fits(ph.p_offset, ph.p_filesz, file_size)) {
    return elf_error(
        fmt::format("{}: file bytes at p_offset {:#x} (p_filesz {:#x}) extend beyond "
                    "the end of the {}-byte file",
                    segment_name(index, ph), ph.p_offset, ph.p_filesz, file_size));
  }
  if (ph.p_memsz > UINT64_MAX - ph.p_paddr) {
    return elf_error(fmt::format("{}: p_paddr + p_memsz overflows", segment_name(index, ph)));
  }
  const std::uint64_t end = ph.p_paddr + ph.p_memsz;
  if (auto area = overlapped_fixed_area(ph.p_paddr, ph.p_memsz)) {
    return elf_error(
        fmt::format("{}: [{:#x}, {:#x}) overlaps the loader's {} [{:#x}, {:#x}); "
                    "images must load at or above {:#x}",
                    segment_name(index, ph), ph.p_paddr, end, area->name, area->base, area->end(),
                    kImageMinAddr));
  }
  if (!range_fits(ph.p_paddr, ph.p_memsz, ram_size)) {
    return elf_error(fmt::format("{}: [{:#x}, {:#x}) lies beyond the end of RAM ({:#x})",
                                 segment_name(index, ph), ph.p_paddr, end, ram_size));
  }
  return {};
}

}  // namespace

Result<LoadedImage> load_elf64(std::span<const std::byte> image, std::span<std::byte> ram) {
  auto header = check_header(image);
  if (!header) return Error{header.error()};
  const Elf64_Ehdr& eh = *header;

  // Pass 1: validate every loadable segment; nothing is written to RAM yet.
  struct Pending {
    std::size_t index;
    Elf64_Phdr ph;
  };
  std::vector<Pending> loads;
  for (std::size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + i * eh.e_phentsize, sizeof(ph));
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (auto ok = check_segment(i, ph, image.size(), ram.size()); !ok) return Error{ok.error()};
    loads.push_back({i, ph});
  }
  if (loads.empty()) return elf_error("no PT_LOAD segment with a non-zero p_memsz");

  std::vector<Pending> sorted = loads;
  std::sort(sorted.begin(), sorted.end(),
            [](const Pending& a, const Pending& b) { return a.ph.p_paddr < b.ph.p_paddr; });
  for (std::size_t k = 1; k < sorted.size(); ++k) {
    const Pending& prev = sorted[k - 1];
    const Pending& cur = sorted[k];
    if (prev.ph.p_paddr + prev.ph.p_memsz > cur.ph.p_paddr) {  // no overflow: checked above
      return elf_error(fmt::format("{} overlaps {} in physical memory",
                                   segment_name(prev.index, prev.ph),
                                   segment_name(cur.index, cur.ph)));
    }
  }

  const bool entry_loaded = std::any_of(loads.begin(), loads.end(), [&](const Pending& p) {
    return eh.e_entry >= p.ph.p_paddr && eh.e_entry - p.ph.p_paddr < p.ph.p_memsz;
  });
  if (!entry_loaded) {
    return elf_error(
        fmt::format("entry point {:#x} is not inside any loaded segment (the entry "
                    "must be a physical address)",
                    eh.e_entry));
  }

  // Pass 2: copy and zero-fill. Every range was validated; GuestRam re-checks each write anyway.
  GuestRam guest(ram);
  LoadedImage out;
  out.entry = eh.e_entry;
  out.low = sorted.front().ph.p_paddr;
  out.high = sorted.back().ph.p_paddr + sorted.back().ph.p_memsz;
  for (const Pending& p : loads) {
    const Elf64_Phdr& ph = p.ph;
    const bool copied = guest.write(ph.p_paddr, image.subspan(ph.p_offset, ph.p_filesz));
    const bool zeroed =
        guest.fill(ph.p_paddr + ph.p_filesz, ph.p_memsz - ph.p_filesz, std::byte{0});
    if (!copied || !zeroed) {
      return elf_error(
          fmt::format("{}: internal error, write outside RAM", segment_name(p.index, ph)));
    }
    out.segments.push_back({ph.p_paddr, ph.p_filesz, ph.p_memsz, ph.p_flags});
  }
  return out;
}

}  // namespace hvk::machine
