#include "machine/loader/elf_loader.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
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

// The ELF header fields the loader uses, from either class.
struct Header {
  unsigned char elf_class = 0;
  std::uint16_t type = 0;
  std::uint16_t machine = 0;
  std::uint32_t version = 0;
  std::uint64_t entry = 0;
  std::uint64_t phoff = 0;
  std::uint16_t phentsize = 0;
  std::uint16_t phnum = 0;
};

template <typename Ehdr>
Header widen(const Ehdr& eh) {
  return {eh.e_ident[EI_CLASS], eh.e_type,  eh.e_machine,   eh.e_version,
          eh.e_entry,           eh.e_phoff, eh.e_phentsize, eh.e_phnum};
}

template <typename Ehdr>
Result<Header> read_ehdr(std::span<const std::byte> image, const char* what) {
  Ehdr eh;
  if (image.size() < sizeof(eh)) {
    return elf_error(fmt::format("file is {} bytes, too short for an {} header ({} bytes)",
                                 image.size(), what, sizeof(eh)));
  }
  std::memcpy(&eh, image.data(), sizeof(eh));
  return widen(eh);
}

Result<Header> check_header(std::span<const std::byte> image, const ElfRules& rules) {
  // Without ELF32 the ELF64 header's size is the first requirement, as it always was.
  const std::size_t ident = rules.elf32 ? std::size_t{EI_NIDENT} : sizeof(Elf64_Ehdr);
  if (image.size() < ident) {
    return elf_error(fmt::format("file is {} bytes, too short for an {} header ({} bytes)",
                                 image.size(), rules.elf32 ? "ELF" : "ELF64", ident));
  }
  if (std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
    return elf_error("bad magic, not an ELF file");
  }
  const auto elf_class = static_cast<unsigned char>(image[EI_CLASS]);
  const bool is32 = elf_class == ELFCLASS32 && rules.elf32;
  if (elf_class != ELFCLASS64 && !is32) {
    return elf_error(fmt::format("class {} is not {}", elf_class,
                                 rules.elf32 ? "ELFCLASS32 or ELFCLASS64" : "ELFCLASS64"));
  }
  auto read = is32 ? read_ehdr<Elf32_Ehdr>(image, "ELF32") : read_ehdr<Elf64_Ehdr>(image, "ELF64");
  if (!read) return read;
  const Header& eh = *read;
  const auto data = static_cast<unsigned char>(image[EI_DATA]);
  if (data != ELFDATA2LSB) {
    return elf_error(fmt::format("data encoding {} is not little-endian", data));
  }
  if (static_cast<unsigned char>(image[EI_VERSION]) != EV_CURRENT || eh.version != EV_CURRENT) {
    return elf_error("version is not EV_CURRENT");
  }
  if (eh.type != ET_EXEC) {
    return elf_error(
        fmt::format("type {} is not ET_EXEC (relocatable, shared and PIE images are "
                    "not supported)",
                    eh.type));
  }
  const std::uint16_t machine = is32 ? EM_386 : EM_X86_64;
  if (eh.machine != machine) {
    return elf_error(
        fmt::format("machine {} is not {}", eh.machine, is32 ? "EM_386" : "EM_X86_64"));
  }
  if (eh.phnum == 0) return elf_error("no program headers");
  if (eh.phnum == PN_XNUM) return elf_error("extended program header numbering not supported");
  const std::size_t phdr_size = is32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr);
  if (eh.phentsize < phdr_size) {
    return elf_error(fmt::format("e_phentsize {} is smaller than an {} program header ({})",
                                 eh.phentsize, is32 ? "ELF32" : "ELF64", phdr_size));
  }
  // Both factors are 16-bit, so the product cannot overflow 64 bits; range_fits handles the sum.
  const std::uint64_t table = std::uint64_t{eh.phnum} * eh.phentsize;
  if (!range_fits(eh.phoff, table, image.size())) {
    return elf_error(
        fmt::format("program header table (e_phoff {:#x}, {} x {} bytes) extends "
                    "beyond the end of the {}-byte file",
                    eh.phoff, eh.phnum, eh.phentsize, image.size()));
  }
  return read;
}

// Program header `i` (inside the file: check_header checked the table), widened to ELF64.
Elf64_Phdr read_phdr(std::span<const std::byte> image, const Header& eh, std::size_t i) {
  const std::byte* at = image.data() + eh.phoff + i * eh.phentsize;
  Elf64_Phdr ph;
  if (eh.elf_class == ELFCLASS64) {
    std::memcpy(&ph, at, sizeof(ph));
    return ph;
  }
  Elf32_Phdr p32;
  std::memcpy(&p32, at, sizeof(p32));
  ph.p_type = p32.p_type;
  ph.p_flags = p32.p_flags;
  ph.p_offset = p32.p_offset;
  ph.p_vaddr = p32.p_vaddr;
  ph.p_paddr = p32.p_paddr;
  ph.p_filesz = p32.p_filesz;
  ph.p_memsz = p32.p_memsz;
  ph.p_align = p32.p_align;
  return ph;
}

Status check_segment(std::size_t index, const Elf64_Phdr& ph, std::uint64_t file_size,
                     std::uint64_t ram_size, std::uint64_t limit) {
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
  if (end > limit) {
    return elf_error(
        fmt::format("{}: [{:#x}, {:#x}) ends above {:#x}, the highest address "
                    "this boot format reaches",
                    segment_name(index, ph), ph.p_paddr, end, limit));
  }
  return {};
}

struct Pending {
  std::size_t index;
  Elf64_Phdr ph;
};

bool contains(std::uint64_t base, std::uint64_t size, std::uint64_t at) {
  return at >= base && at - base < size;
}

// The physical entry: e_entry inside a segment's physical range, or (rules.virtual_entry) inside
// one's virtual range, moved by that segment's p_paddr - p_vaddr.
std::optional<std::uint64_t> physical_entry(const std::vector<Pending>& loads, std::uint64_t entry,
                                            const ElfRules& rules) {
  for (const Pending& p : loads) {
    if (contains(p.ph.p_paddr, p.ph.p_memsz, entry)) return entry;
  }
  if (!rules.virtual_entry) return std::nullopt;
  for (const Pending& p : loads) {
    if (contains(p.ph.p_vaddr, p.ph.p_memsz, entry)) return entry - p.ph.p_vaddr + p.ph.p_paddr;
  }
  return std::nullopt;
}

}  // namespace

Result<PlannedImage> plan_elf(std::span<const std::byte> image, std::uint64_t ram_size,
                              const ElfRules& rules) {
  auto header = check_header(image, rules);
  if (!header) return Error{header.error()};
  const Header& eh = *header;

  std::vector<Pending> loads;
  for (std::size_t i = 0; i < eh.phnum; ++i) {
    const Elf64_Phdr ph = read_phdr(image, eh, i);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (auto ok = check_segment(i, ph, image.size(), ram_size, rules.limit); !ok) {
      return Error{ok.error()};
    }
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

  const auto entry = physical_entry(loads, eh.entry, rules);
  if (!entry) {
    return elf_error(
        fmt::format("entry point {:#x} is not inside any loaded segment (the entry "
                    "must be a physical address)",
                    eh.entry));
  }

  PlannedImage plan;
  plan.image.entry = *entry;
  plan.image.low = sorted.front().ph.p_paddr;
  plan.image.high = sorted.back().ph.p_paddr + sorted.back().ph.p_memsz;
  for (const Pending& p : loads) {
    plan.image.segments.push_back({p.ph.p_paddr, p.ph.p_filesz, p.ph.p_memsz, p.ph.p_flags});
    plan.file_offsets.push_back(p.ph.p_offset);
  }
  return plan;
}

Status write_planned_image(const PlannedImage& plan, std::span<const std::byte> image,
                           std::span<std::byte> ram) {
  const auto& segments = plan.image.segments;
  if (segments.size() != plan.file_offsets.size()) {
    return fail("image: internal error, a plan without a file offset per segment");
  }
  GuestRam guest(ram);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const LoadedSegment& s = segments[i];
    const std::uint64_t offset = plan.file_offsets[i];
    // guest.write checked [paddr, paddr + filesz) against RAM, so paddr + filesz cannot wrap.
    const bool ok = s.filesz <= s.memsz && range_fits(offset, s.filesz, image.size()) &&
                    guest.write(s.paddr, image.subspan(offset, s.filesz)) &&
                    guest.fill(s.paddr + s.filesz, s.memsz - s.filesz, std::byte{0});
    if (!ok) {
      return fail(
          fmt::format("image: segment at {:#x} ({:#x} bytes): internal error, write "
                      "outside RAM or the file",
                      s.paddr, s.memsz));
    }
  }
  return {};
}

Result<LoadedImage> load_elf64(std::span<const std::byte> image, std::span<std::byte> ram) {
  auto plan = plan_elf(image, ram.size());
  if (!plan) return Error{plan.error()};
  if (auto st = write_planned_image(*plan, image, ram); !st) return Error{st.error()};
  return std::move(plan->image);
}

}  // namespace hvk::machine
