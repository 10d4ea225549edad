// fuzz_multiboot: the Multiboot (version 1) loader on hostile images, command lines, modules, RAM
// sizes and RAM above 4 GiB: find_multiboot_header, parse_multiboot_header and load_multiboot (or
// prepare_boot, which must pick Multiboot for the same images).
//
// Input: [image][command line][u8 high RAM][u16 LE command line length][u8 options], read from the
// end like fuzz_elf_loader's, so an image alone (a seed) stays an image; the high-RAM byte is there
// only when bit 15 of the length is set (the rest is the length) and picks the RAM at 4 GiB besides
// the low span (high_ram_of in loader_check.h; without it there is none). options bits 0-2: the
// RAM size (choices below); bits 3-4: the module's bytes (none, 4 KiB, the image's first 64 KiB,
// as large as RAM); bit 5: a module name (with no bytes: a module of 0 bytes); bit 6: through
// prepare_boot; bit 7: an image name (the command line's first word).
//
// Invariants, against a reference written here from the specification (not from multiboot.cc):
//   - find_multiboot_header finds the first 32-bit aligned magic in the first 8192 bytes with its
//     12 bytes inside them and a zero sum; no header, or one asking for a video mode (bit 2) or
//     an unknown requirement (bits 3-15), is refused;
//   - a refusal is one line and leaves RAM exactly as it was;
//   - a success loaded exactly what the header says: with bit 16, file bytes from
//     offset - (header_addr - load_addr), load_end_addr - load_addr of them (or to the end of the
//     file) at load_addr and zeros to bss_end_addr; otherwise each ELF32/ELF64 PT_LOAD segment at
//     p_paddr with its bss zeroed; all of it in [1 MiB, min(RAM, 4 GiB)) and the entry inside;
//   - the information structure: flags 0x24d, mem_lower/mem_upper from the low span only (the
//     memory up to the first hole), the memory map byte for byte e820_layout(low, high), which is
//     layout.h's map written out again (the RAM at 4 GiB in it), the command line (the image
//     name, a space, the rest), the module (page aligned on the first page above the image, its
//     bytes, its string), "hvk"; the entry state: EAX 0x2BADB002, EBX the structure, 32-bit
//     protected mode without paging;
//   - nothing outside the image, the module, the GDT, the command line buffer and the information
//     area was written (RAM is exactly the low span: the RAM at 4 GiB is only described).
#include <elf.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loader_check.h"
#include "machine/loader/bzimage.h"
#include "machine/loader/multiboot.h"
#include "machine/loader/multiboot_info.h"

namespace {

namespace m = hvk::machine;
using hvk::fuzz::Range;

constexpr std::uint64_t kMiB = 0x10'0000;
constexpr std::uint64_t k4GiB = 1ull << 32;
constexpr std::array<std::uint64_t, 8> kRamSizes = {
    4 * kMiB, 8 * kMiB, m::kMinRamSize, m::kMinRamSize - 1, 5 * kMiB + 0x7b, 0, kMiB, 6 * kMiB};
constexpr std::uint32_t kMagic = 0x1BADB002;

std::uint32_t u32(std::span<const std::byte> b, std::uint64_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
std::uint64_t u64(std::span<const std::byte> b, std::uint64_t at) {
  std::uint64_t v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

// The specification's search, written out again.
std::optional<std::uint64_t> reference_header(std::span<const std::byte> image) {
  const std::uint64_t limit = std::min<std::uint64_t>(image.size(), 8192);
  for (std::uint64_t at = 0; at + 12 <= limit; at += 4) {
    if (u32(image, at) == kMagic &&
        static_cast<std::uint32_t>(kMagic + u32(image, at + 4) + u32(image, at + 8)) == 0) {
      return at;
    }
  }
  return std::nullopt;
}

struct Loaded {
  std::uint64_t low = 0, high = 0;
};

// A successful kludge load against the header's words.
Loaded check_kludge(std::span<const std::byte> image, std::uint64_t at,
                    const std::vector<std::byte>& ram, std::uint64_t entry) {
  const std::uint32_t header_addr = u32(image, at + 12), load_addr = u32(image, at + 16),
                      load_end = u32(image, at + 20), bss_end = u32(image, at + 24),
                      entry_addr = u32(image, at + 28);
  HVK_FUZZ_CHECK(header_addr >= load_addr && header_addr - load_addr <= at);
  const std::uint64_t text = at - (header_addr - load_addr);
  const std::uint64_t size =
      load_end != 0 ? load_end - std::uint64_t{load_addr} : image.size() - text;
  HVK_FUZZ_CHECK(load_end == 0 || load_end >= load_addr);
  HVK_FUZZ_CHECK(text + size <= image.size());
  const std::uint64_t end = bss_end != 0 ? bss_end : load_addr + size;
  HVK_FUZZ_CHECK(end >= load_addr + size && end > load_addr);
  HVK_FUZZ_CHECK(load_addr >= m::kImageMinAddr && end <= ram.size() && end <= k4GiB);
  HVK_FUZZ_CHECK(entry == entry_addr && entry >= load_addr && entry < end);
  HVK_FUZZ_CHECK(std::memcmp(ram.data() + load_addr, image.data() + text, size) == 0);
  HVK_FUZZ_CHECK(hvk::fuzz::all_zero(ram.data() + load_addr + size, end - load_addr - size));
  return {load_addr, end};
}

// A successful ELF load against the file's program headers (either class).
Loaded check_elf(std::span<const std::byte> image, const std::vector<std::byte>& ram,
                 std::uint64_t entry, std::vector<Range>& written) {
  HVK_FUZZ_CHECK(image.size() >= EI_NIDENT && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0);
  const bool is64 = image[EI_CLASS] == std::byte{ELFCLASS64};
  HVK_FUZZ_CHECK(is64 || image[EI_CLASS] == std::byte{ELFCLASS32});
  std::uint64_t phoff, phentsize, phnum;
  if (is64) {
    Elf64_Ehdr eh;
    HVK_FUZZ_CHECK(image.size() >= sizeof eh);
    std::memcpy(&eh, image.data(), sizeof eh);
    HVK_FUZZ_CHECK(eh.e_machine == EM_X86_64 && eh.e_type == ET_EXEC);
    phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
  } else {
    Elf32_Ehdr eh;
    HVK_FUZZ_CHECK(image.size() >= sizeof eh);
    std::memcpy(&eh, image.data(), sizeof eh);
    HVK_FUZZ_CHECK(eh.e_machine == EM_386 && eh.e_type == ET_EXEC);
    phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
  }
  Loaded out{UINT64_MAX, 0};
  bool entry_inside = false;
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const std::uint64_t at = phoff + i * phentsize;
    std::uint64_t type, offset, paddr, filesz, memsz;
    if (is64) {
      Elf64_Phdr ph;
      std::memcpy(&ph, image.data() + at, sizeof ph);
      type = ph.p_type, offset = ph.p_offset, paddr = ph.p_paddr, filesz = ph.p_filesz,
      memsz = ph.p_memsz;
    } else {
      Elf32_Phdr ph;
      std::memcpy(&ph, image.data() + at, sizeof ph);
      type = ph.p_type, offset = ph.p_offset, paddr = ph.p_paddr, filesz = ph.p_filesz,
      memsz = ph.p_memsz;
    }
    if (type != PT_LOAD || memsz == 0) continue;
    HVK_FUZZ_CHECK(filesz <= memsz && offset + filesz <= image.size());
    HVK_FUZZ_CHECK(paddr >= m::kImageMinAddr && memsz <= ram.size() - paddr &&
                   paddr + memsz <= k4GiB);
    HVK_FUZZ_CHECK(std::memcmp(ram.data() + paddr, image.data() + offset, filesz) == 0);
    HVK_FUZZ_CHECK(hvk::fuzz::all_zero(ram.data() + paddr + filesz, memsz - filesz));
    entry_inside = entry_inside || (entry >= paddr && entry - paddr < memsz);
    out.low = std::min(out.low, paddr);
    out.high = std::max(out.high, paddr + memsz);
    written.push_back({paddr, paddr + memsz});
  }
  HVK_FUZZ_CHECK(entry_inside);
  return out;
}

struct Module {
  bool present = false;
  std::span<const std::byte> bytes;
  std::string_view name;
};

void check_info(const std::vector<std::byte>& ram, std::string_view program,
                std::string_view cmdline, const Module& module, const Loaded& image,
                std::uint64_t module_at, std::uint64_t high_ram) {
  const std::span<const std::byte> r(ram);
  const std::uint64_t info = m::kMultibootInfoAddr;
  HVK_FUZZ_CHECK(u32(r, info) == 0x24d);
  const std::uint64_t size = ram.size();
  HVK_FUZZ_CHECK(u32(r, info + 4) == 0x9fc00 / 1024);
  HVK_FUZZ_CHECK(u32(r, info + 8) == (size - kMiB) / 1024);
  for (std::uint64_t off : {12u, 28u, 32u, 36u, 40u, 52u, 56u, 60u, 68u}) {
    HVK_FUZZ_CHECK(u32(r, info + off) == 0);
  }
  // Command line.
  const std::uint32_t cl = u32(r, info + 16);
  HVK_FUZZ_CHECK(cl == m::kCmdlineAddr);
  std::string expected(program);
  if (!program.empty() && !cmdline.empty()) expected += ' ';
  expected += cmdline;
  HVK_FUZZ_CHECK(std::memcmp(ram.data() + cl, expected.data(), expected.size()) == 0);
  HVK_FUZZ_CHECK(ram[cl + expected.size()] == std::byte{0});
  // Memory map: usable [0, 0x9fc00), reserved to 1 MiB, usable to the end of RAM, usable at
  // 4 GiB with high RAM: e820_layout, and the reference.
  const auto map = m::e820_layout(size, high_ram);
  HVK_FUZZ_CHECK(map == hvk::fuzz::reference_e820(size, high_ram));
  HVK_FUZZ_CHECK(u32(r, info + 44) == 24 * map.size());
  const std::uint32_t mmap = u32(r, info + 48);
  for (std::uint64_t i = 0; i < map.size(); ++i) {
    const std::uint64_t e = mmap + 24 * i;
    HVK_FUZZ_CHECK(u32(r, e) == 20 && u64(r, e + 4) == map[i].addr &&
                   u64(r, e + 12) == map[i].size && u32(r, e + 20) == map[i].type);
  }
  // Boot loader name.
  HVK_FUZZ_CHECK(std::memcmp(ram.data() + u32(r, info + 64), "hvk", 4) == 0);
  // Module.
  HVK_FUZZ_CHECK(u32(r, info + 20) == (module.present ? 1u : 0u));
  if (!module.present) {
    HVK_FUZZ_CHECK(module_at == 0);
    return;
  }
  const std::uint32_t mods = u32(r, info + 24);
  const std::uint32_t start = u32(r, mods), end = u32(r, mods + 4);
  HVK_FUZZ_CHECK(start == module_at && start % 4096 == 0);
  HVK_FUZZ_CHECK(start >= image.high && start - image.high < 4096);
  HVK_FUZZ_CHECK(end - start == module.bytes.size() && end <= size);
  HVK_FUZZ_CHECK(module.bytes.empty() ||
                 std::memcmp(ram.data() + start, module.bytes.data(), module.bytes.size()) == 0);
  const std::uint32_t name = u32(r, mods + 8);
  HVK_FUZZ_CHECK(module.name.empty() ||
                 std::memcmp(ram.data() + name, module.name.data(), module.name.size()) == 0);
  HVK_FUZZ_CHECK(ram[name + module.name.size()] == std::byte{0});
}

void check_state(const m::BootState& st, std::uint64_t entry) {
  HVK_FUZZ_CHECK(st.rax == 0x2BADB002 && st.rbx == m::kMultibootInfoAddr && st.rip == entry);
  HVK_FUZZ_CHECK((st.cr0 & m::kCr0Pe) != 0 && (st.cr0 & m::kCr0Pg) == 0 && st.efer == 0);
  HVK_FUZZ_CHECK(st.cs.db == 1 && st.cs.l == 0 && st.rflags == 0x2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint8_t options = 0;
  std::size_t cmdline_len = 0;
  std::uint64_t high_ram = 0;
  if (size >= 3) {
    options = data[size - 1];
    const std::size_t len = std::size_t{data[size - 2]} << 8 | data[size - 3];
    size -= 3;
    if ((len & 0x8000u) != 0 && size >= 1) high_ram = hvk::fuzz::high_ram_of(data[--size]);
    cmdline_len = (len & 0x7fffu) % (size + 1);
  }
  const std::string_view cmdline(reinterpret_cast<const char*>(data) + size - cmdline_len,
                                 cmdline_len);
  const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(data),
                                         size - cmdline_len);
  hvk::fuzz::Ram& ram = hvk::fuzz::ram_of_size(kRamSizes[options & 7u]);

  std::vector<std::byte> module_store;
  Module module;
  switch ((options >> 3) & 3u) {
    case 0:
      break;
    case 1:
      module_store.assign(4096, std::byte{0xA5});
      break;
    case 2:
      module_store.assign(image.begin(),
                          image.begin() + std::min<std::ptrdiff_t>(
                                              static_cast<std::ptrdiff_t>(image.size()), 65536));
      break;
    default:
      module_store.assign(std::max<std::size_t>(ram.bytes.size(), 1), std::byte{0x3C});
  }
  module.bytes = module_store;
  // Absent names are empty views without a pointer, as BootOptions' defaults are.
  if ((options & 0x20u) != 0) module.name = "/boot/hvk-module.bin";
  module.present = !module.bytes.empty() || !module.name.empty();
  std::string_view program;
  if ((options & 0x80u) != 0) program = "x86/smptest.flat";

  // The header search, against the reference.
  const auto found = m::find_multiboot_header(image);
  const auto expected = reference_header(image);
  HVK_FUZZ_CHECK(found == expected);
  std::uint32_t flags = 0;
  if (found) {
    flags = u32(image, *found + 4);
    const auto parsed = m::parse_multiboot_header(image, *found);
    const bool refused_flags = (flags & 0xfffcu) != 0;  // bit 2 or an unknown bit in 3-15
    HVK_FUZZ_CHECK(parsed.ok() || refused_flags || (flags & 0x10000u) != 0);
    if (parsed)
      HVK_FUZZ_CHECK(!refused_flags && parsed->flags == flags && parsed->offset == *found);
  }

  const bool via_prepare = (options & 0x40u) != 0;
  std::optional<m::MultibootSetup> setup;
  std::string error;
  if (via_prepare) {
    m::BootOptions bo;
    bo.cmdline = cmdline;
    bo.initrd = module.bytes;
    bo.initrd_name = module.name;
    bo.image_name = program;
    bo.high_ram = high_ram;
    auto r = m::prepare_boot(image, ram.bytes, bo);
    if (!found || m::looks_like_bzimage(image)) {
      // Another format (fuzz_elf_loader and fuzz_bzimage check those): never Multiboot, and a
      // refusal is one line.
      HVK_FUZZ_CHECK(!r || r->format != m::BootFormat::kMultiboot);
      if (!r) hvk::fuzz::check_failure(r.error());
      ram.dirty.push_back({0, ram.bytes.size()});
      return 0;
    }
    if (r) {
      HVK_FUZZ_CHECK(r->format == m::BootFormat::kMultiboot);
      setup = m::MultibootSetup{r->image, m::kMultibootInfoAddr, r->initrd, r->state};
    } else {
      error = r.error();
      HVK_FUZZ_CHECK(error.rfind("Multiboot: ", 0) == 0);
    }
  } else {
    auto r = m::load_multiboot(image, ram.bytes,
                               {.program = program,
                                .cmdline = cmdline,
                                .module = module.present,
                                .module_bytes = module.bytes,
                                .module_name = module.name,
                                .high_ram = high_ram});
    if (r) {
      setup = std::move(*r);
    } else {
      error = r.error();
    }
  }

  if (!setup) {
    hvk::fuzz::check_failure(error);
    HVK_FUZZ_CHECK(ram.as_before());
    hvk::fuzz::log_line("rejected: %s\n", error.c_str());
    return 0;
  }
  HVK_FUZZ_CHECK(found.has_value() && (flags & 0xfffcu) == 0);
  hvk::fuzz::log_line("loaded: entry %#llx, [%#llx, %#llx), module at %#llx, %#llx at 4 GiB\n",
                      static_cast<unsigned long long>(setup->image.entry),
                      static_cast<unsigned long long>(setup->image.low),
                      static_cast<unsigned long long>(setup->image.high),
                      static_cast<unsigned long long>(setup->module),
                      static_cast<unsigned long long>(high_ram));
  std::vector<Range> written = {{m::kGdtAddr, m::kGdtAddr + m::kPageSize},
                                {m::kCmdlineAddr, m::kCmdlineAddr + m::kCmdlineMax},
                                {m::kMultibootInfoAddr, m::kMultibootInfoEnd}};
  Loaded loaded;
  if ((flags & 0x10000u) != 0) {
    loaded = check_kludge(image, *found, ram.bytes, setup->image.entry);
    written.push_back({loaded.low, loaded.high});
  } else {
    loaded = check_elf(image, ram.bytes, setup->image.entry, written);
  }
  HVK_FUZZ_CHECK(setup->image.low == loaded.low && setup->image.high == loaded.high);
  check_info(ram.bytes, program, cmdline, module, loaded, setup->module, high_ram);
  check_state(setup->state, setup->image.entry);
  if (module.present) written.push_back({setup->module, setup->module + module.bytes.size()});
  HVK_FUZZ_CHECK(hvk::fuzz::untouched_outside(ram.bytes, ram.reference, written));
  ram.dirty.insert(ram.dirty.end(), written.begin(), written.end());
  return 0;
}
