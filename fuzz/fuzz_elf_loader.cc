// fuzz_elf_loader: prepare_elf64_boot (ELF64 image -> guest RAM, GDT, page tables, command line,
// boot_params) on hostile images, command lines, RAM sizes, RAM above 4 GiB and setup_data.
//
// Input: [ELF image][command line][u8 high RAM][u16 LE command line length][u8 options]. The
// trailer is read from the end so that an image alone (a seed) stays a valid image; a short input
// is all image. The high-RAM byte is there only when bit 15 of the length is set (the rest of the
// length is the length): it picks the RAM at 4 GiB besides the low span (high_ram_of in
// loader_check.h); without it there is none. options bits 0-2: the RAM size (choices below); bit
// 3: a setup_data chain is built first (its payload: the command line bytes); bits 4-5:
// boot_params.hdr.setup_data (0, the chain's head, the last bytes of RAM, a pointer past RAM).
//
// Invariants (boot.h's contract):
//   - on failure RAM is untouched (apart from the setup_data the harness wrote) and the error is
//     one non-empty line;
//   - on success: every PT_LOAD segment's file bytes are in RAM at p_paddr and the rest of p_memsz
//     is zero; segments lie in [1 MiB, RAM end); the entry is inside one; the command line is at
//     0x20000, NUL-terminated; the boot vCPU starts at the entry with RSI = boot_params; the e820
//     table is e820_layout(low, high), which is layout.h's map written out again (the RAM at
//     4 GiB in it, never written: RAM is exactly the low span); the page tables identity-map
//     [0, min(max(4 GiB, top), 21 GiB)) and no more; and nothing outside the segments, the GDT,
//     boot_params, the page tables and the command line was written.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "loader_check.h"

namespace {

namespace m = hvk::machine;
using hvk::fuzz::Range;

constexpr std::uint64_t kMiB = 0x10'0000;
constexpr std::array<std::uint64_t, 8> kRamSizes = {
    4 * kMiB, 8 * kMiB, m::kMinRamSize, m::kMinRamSize - 1, 5 * kMiB + 0x7b, 0, kMiB, 6 * kMiB};

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
  const std::string_view cmdline(reinterpret_cast<const char*>(data) + size - cmdline_len, cmdline_len);
  const std::span<const std::byte> elf(reinterpret_cast<const std::byte*>(data), size - cmdline_len);

  hvk::fuzz::Ram& ram = hvk::fuzz::ram_of_size(kRamSizes[options & 7u]);

  m::BootOptions bo;
  bo.cmdline = cmdline;
  bo.high_ram = high_ram;
  std::uint64_t chain_head = 0;
  if ((options & 8u) != 0) {
    // setup_data written by the caller first, as hvk does for a DTB; it may not fit.
    m::SetupDataChain chain(ram.bytes);
    if (auto node = chain.add(1, std::as_bytes(std::span(cmdline.data(), cmdline.size())))) {
      chain_head = *node;
      HVK_FUZZ_CHECK(chain.head() == chain_head);
      ram.harness_wrote_setup_data();
    }
  }
  switch ((options >> 4) & 3u) {
    case 0: break;
    case 1: bo.setup_data = chain_head; break;
    case 2: bo.setup_data = ram.bytes.size() - 8; break;  // a node that does not fit
    default: bo.setup_data = ram.bytes.size() + m::kPageSize; break;
  }

  auto result = m::prepare_elf64_boot(elf, ram.bytes, bo);
  if (!result) {
    hvk::fuzz::check_failure(result.error());
    HVK_FUZZ_CHECK(ram.as_before());  // an ELF image is validated before anything is written
    hvk::fuzz::log_line("rejected: %s\n", result.error().c_str());
    return 0;
  }
  hvk::fuzz::log_line("loaded: entry %#llx, %zu segments, %#llx bytes at 4 GiB\n",
                      static_cast<unsigned long long>(result->image.entry),
                      result->image.segments.size(), static_cast<unsigned long long>(high_ram));
  std::vector<Range> written = hvk::fuzz::boot_areas();
  hvk::fuzz::check_elf_segments(result->image, elf, ram.bytes, written);
  hvk::fuzz::check_entry_and_cmdline(*result, cmdline, ram.bytes);
  hvk::fuzz::check_e820(ram.bytes, high_ram);
  hvk::fuzz::check_identity_map(ram.bytes, ram.reference, high_ram);
  HVK_FUZZ_CHECK(hvk::fuzz::untouched_outside(ram.bytes, ram.reference, written));
  ram.dirty.insert(ram.dirty.end(), written.begin(), written.end());
  return 0;
}
