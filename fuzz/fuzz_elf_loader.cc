// fuzz_elf_loader: prepare_elf64_boot (ELF64 image -> guest RAM, GDT, page tables, command line,
// boot_params) on hostile images, command lines, RAM sizes and setup_data.
//
// Input: [ELF image][command line][u16 LE command line length][u8 options]. The trailer is read
// from the end so that an image alone (a seed) stays a valid image; a short input is all image.
// options bits 0-2: the RAM size (choices below); bit 3: a setup_data chain is built first (its
// payload: the command line bytes); bits 4-5: boot_params.hdr.setup_data (0, the chain's head,
// the last bytes of RAM, a pointer past RAM).
//
// Invariants (boot.h's contract):
//   - on failure RAM is untouched (apart from the setup_data the harness wrote) and the error is
//     one non-empty line;
//   - on success: every PT_LOAD segment's file bytes are in RAM at p_paddr and the rest of p_memsz
//     is zero; segments lie in [1 MiB, RAM end); the entry is inside one; the command line is at
//     0x20000, NUL-terminated; the boot vCPU starts at the entry with RSI = boot_params; and
//     nothing outside the segments, the GDT, boot_params, the page tables and the command line
//     was written.
#include <elf.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "machine/loader/boot.h"

namespace {

namespace m = hvk::machine;

constexpr std::uint64_t kMiB = 0x10'0000;
constexpr std::array<std::uint64_t, 8> kRamSizes = {
    4 * kMiB, 8 * kMiB, m::kMinRamSize, m::kMinRamSize - 1, 5 * kMiB + 0x7b, 0, kMiB, 6 * kMiB};

struct Range {
  std::uint64_t lo, hi;
};

// One RAM buffer per size, exactly sized (ASan sees any write past the end), filled with a
// pattern. `reference` is what RAM must hold after a failure: the pattern, plus whatever
// setup_data the harness wrote (SetupDataChain writes only inside the setup_data area).
struct Ram {
  std::vector<std::byte> bytes;
  std::vector<std::byte> pristine;
  std::vector<std::byte> reference;
  bool ready = false;
  std::vector<Range> dirty;      // where bytes may differ from pristine
  bool reference_dirty = false;  // reference's setup_data area differs from pristine

  // The setup_data area, clipped to RAM: [lo, hi).
  std::uint64_t area_lo() const { return std::min<std::uint64_t>(m::kSetupDataAddr, bytes.size()); }
  std::uint64_t area_hi() const { return std::min<std::uint64_t>(m::kSetupDataEnd, bytes.size()); }
};

Ram& ram_for(std::size_t choice) {
  static std::array<Ram, kRamSizes.size()> rams;
  Ram& r = rams[choice];
  if (!r.ready) {
    r.pristine.resize(kRamSizes[choice]);
    for (std::size_t i = 0; i < r.pristine.size(); ++i) {
      r.pristine[i] = static_cast<std::byte>(((i * 131 + 7) >> 3 ^ 0x5A) & 0xFF);
    }
    r.bytes = r.pristine;
    r.reference = r.pristine;
    r.ready = true;
  }
  for (const Range& d : r.dirty) {
    std::memcpy(r.bytes.data() + d.lo, r.pristine.data() + d.lo, d.hi - d.lo);
  }
  r.dirty.clear();
  if (r.reference_dirty) {
    std::memcpy(r.reference.data() + r.area_lo(), r.pristine.data() + r.area_lo(),
                r.area_hi() - r.area_lo());
    r.reference_dirty = false;
  }
  return r;
}

bool untouched_outside(const std::vector<std::byte>& ram, const std::vector<std::byte>& pristine,
                       std::vector<Range> allowed) {
  allowed.push_back({ram.size(), ram.size()});
  std::sort(allowed.begin(), allowed.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  std::uint64_t at = 0;
  for (const Range& r : allowed) {
    if (r.lo > at) {
      const std::uint64_t end = std::min<std::uint64_t>(r.lo, ram.size());
      if (std::memcmp(ram.data() + at, pristine.data() + at, end - at) != 0) return false;
    }
    at = std::max(at, std::min<std::uint64_t>(r.hi, ram.size()));
  }
  return true;
}

bool all_zero(const std::byte* p, std::size_t n) {
  static const std::array<std::byte, 65536> zeros{};
  for (std::size_t at = 0; at < n; at += zeros.size()) {
    if (std::memcmp(p + at, zeros.data(), std::min(zeros.size(), n - at)) != 0) return false;
  }
  return true;
}

// `written` gets every range the loader may have written.
void check_success(const m::BootSetup& setup, std::span<const std::byte> elf, std::string_view cmdline,
                   const std::vector<std::byte>& ram, const std::vector<std::byte>& pristine,
                   std::vector<Range>& written) {
  const m::LoadedImage& image = setup.image;
  HVK_FUZZ_CHECK(!image.segments.empty());
  HVK_FUZZ_CHECK(image.low >= m::kImageMinAddr && image.low < image.high && image.high <= ram.size());
  HVK_FUZZ_CHECK(image.entry >= image.low && image.entry < image.high);
  HVK_FUZZ_CHECK(setup.state.rip == image.entry);
  HVK_FUZZ_CHECK(setup.state.rsi == m::kBootParamsAddr);

  // The segments against the program headers: same order, bytes copied, the rest zeroed.
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof(eh));
  written = {{m::kGdtAddr, m::kGdtAddr + m::kPageSize},
                                {m::kBootParamsAddr, m::kBootParamsAddr + m::kBootParamsSize},
                                {m::kPml4Addr, m::kPageTablesEnd},
                                {m::kCmdlineAddr, m::kCmdlineAddr + m::kCmdlineMax}};
  std::size_t seg = 0;
  bool entry_inside = false;
  for (std::size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, elf.data() + eh.e_phoff + i * eh.e_phentsize, sizeof(ph));
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    HVK_FUZZ_CHECK(seg < image.segments.size());
    const m::LoadedSegment& s = image.segments[seg++];
    HVK_FUZZ_CHECK(s.paddr == ph.p_paddr && s.filesz == ph.p_filesz && s.memsz == ph.p_memsz);
    HVK_FUZZ_CHECK(s.paddr >= m::kImageMinAddr && s.memsz <= ram.size() - s.paddr);
    HVK_FUZZ_CHECK(s.paddr >= image.low && s.paddr + s.memsz <= image.high);
    HVK_FUZZ_CHECK(std::memcmp(ram.data() + s.paddr, elf.data() + ph.p_offset, s.filesz) == 0);
    HVK_FUZZ_CHECK(all_zero(ram.data() + s.paddr + s.filesz, s.memsz - s.filesz));
    entry_inside = entry_inside || (image.entry >= s.paddr && image.entry - s.paddr < s.memsz);
    written.push_back({s.paddr, s.paddr + s.memsz});
  }
  HVK_FUZZ_CHECK(seg == image.segments.size());
  HVK_FUZZ_CHECK(entry_inside);

  // The command line, NUL-terminated.
  HVK_FUZZ_CHECK(cmdline.empty() ||
                 std::memcmp(ram.data() + m::kCmdlineAddr, cmdline.data(), cmdline.size()) == 0);
  HVK_FUZZ_CHECK(ram[m::kCmdlineAddr + cmdline.size()] == std::byte{0});

  HVK_FUZZ_CHECK(untouched_outside(ram, pristine, written));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint8_t options = 0;
  std::size_t cmdline_len = 0;
  if (size >= 3) {
    options = data[size - 1];
    cmdline_len = (std::size_t{data[size - 2]} << 8 | data[size - 3]) % (size - 3 + 1);
    size -= 3;
  }
  const std::string_view cmdline(reinterpret_cast<const char*>(data) + size - cmdline_len, cmdline_len);
  const std::span<const std::byte> elf(reinterpret_cast<const std::byte*>(data), size - cmdline_len);

  const std::size_t ram_choice = options & 7u;
  Ram& ram = ram_for(ram_choice);

  m::BootOptions bo;
  bo.cmdline = cmdline;
  std::uint64_t chain_head = 0;
  if ((options & 8u) != 0) {
    // setup_data written by the caller first, as hvk does for a DTB; it may not fit.
    m::SetupDataChain chain(ram.bytes);
    if (auto node = chain.add(1, std::as_bytes(std::span(cmdline.data(), cmdline.size())))) {
      chain_head = *node;
      HVK_FUZZ_CHECK(chain.head() == chain_head);
      std::memcpy(ram.reference.data() + ram.area_lo(), ram.bytes.data() + ram.area_lo(),
                  ram.area_hi() - ram.area_lo());
      ram.dirty.push_back({ram.area_lo(), ram.area_hi()});
      ram.reference_dirty = true;
    }
  }
  switch ((options >> 4) & 3u) {
    case 0: break;
    case 1: bo.setup_data = chain_head; break;
    case 2: bo.setup_data = ram.bytes.size() - 8; break;  // a node that does not fit
    default: bo.setup_data = ram.bytes.size() + m::kPageSize; break;
  }
  const std::vector<std::byte>* reference = &ram.reference;

  auto result = m::prepare_elf64_boot(elf, ram.bytes, bo);
  if (!result) {
    const std::string& why = result.error();
    HVK_FUZZ_CHECK(!why.empty());
    HVK_FUZZ_CHECK(why.find('\n') == std::string::npos);
    HVK_FUZZ_CHECK(ram.bytes.empty() ||
                   std::memcmp(ram.bytes.data(), reference->data(), ram.bytes.size()) == 0);
    hvk::fuzz::log_line("rejected: %s\n", why.c_str());
    return 0;
  }
  hvk::fuzz::log_line("loaded: entry %#llx, %zu segments\n",
                      static_cast<unsigned long long>(result->image.entry),
                      result->image.segments.size());
  std::vector<Range> written;
  check_success(*result, elf, cmdline, ram.bytes, *reference, written);
  ram.dirty.insert(ram.dirty.end(), written.begin(), written.end());
  return 0;
}
