// fuzz_bzimage: the Linux bzImage path of the loader on hostile images: parse_bzimage (the setup
// header), unpack_bzimage (xz, lzma, gzip and zstd payloads through liblzma, zlib and libzstd)
// and prepare_boot in both modes (the protected-mode kernel loaded for its own decompressor, or
// the vmlinux ELF unpacked by hvk and loaded), with an initrd, a command line and RAM above 4 GiB.
//
// Input: [bzImage][u8 high RAM][u8 options] (an input of at most 0x264 bytes is all image, options
// 0). options bits 0-2: the RAM size (choices below); bit 3: unpack mode; bits 4-5: the initrd
// (none, 4 KiB, the image's first 64 KiB, as large as RAM); bit 6: a command line; bit 7: the
// high-RAM byte is there and picks the RAM at 4 GiB besides the low span (high_ram_of in
// loader_check.h; without it there is none).
//
// Invariants:
//   - parse_bzimage: the header, kernel and payload it returns are views of the image at the
//     offsets the boot protocol gives; the version and the 64-bit entry flag are checked;
//   - unpack_bzimage: a result is exactly as long as the payload's trailer says, never above the
//     cap;
//   - prepare_boot (boot.h's contract): a failure is one line and leaves RAM as it was, unless
//     only the initrd failed to fit, when nothing outside the image was written; a success in
//     boot mode puts the kernel at max(pref_address, 1 MiB), enters it at +0x200 and copies the
//     image's setup header into boot_params (version kept, hvk's fields set); in unpack mode it
//     loads the same ELF the harness unpacks itself, segment by segment (an image that is no
//     bzImage but carries a Multiboot header boots as Multiboot: fuzz_multiboot checks those;
//     BootSetup.format names the path taken); the initrd lies
//     page-aligned above the image and below min(RAM end, 2 GiB) and boot_params points at it;
//     the e820 table is e820_layout(low, high), which is layout.h's map written out again, and
//     the page tables identity-map [0, min(max(4 GiB, top), 21 GiB)) and no more (the RAM at
//     4 GiB is only described: RAM is exactly the low span); nothing outside the image, the
//     initrd, the GDT, boot_params, the page tables and the command line was written.
#include <asm/bootparam.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "loader_check.h"
#include "machine/loader/bzimage.h"
#include "machine/loader/multiboot.h"

namespace {

namespace m = hvk::machine;
using hvk::fuzz::Range;

constexpr std::uint64_t kMiB = 0x10'0000;
constexpr std::array<std::uint64_t, 8> kRamSizes = {
    4 * kMiB, 8 * kMiB, m::kMinRamSize, 16 * kMiB, 5 * kMiB + 0x7b, 0, kMiB, 6 * kMiB};
constexpr std::uint64_t kMaxUnpacked = 1ull << 30;  // prepare_boot's cap (boot.cc)
constexpr std::size_t kSetupHeaderAt = 0x1f1;

std::uint64_t trailer_size(std::span<const std::byte> payload) {
  std::uint32_t v = 0;
  if (payload.size() >= 4) std::memcpy(&v, payload.data() + payload.size() - 4, 4);
  return v;
}

bool inside(std::span<const std::byte> part, std::span<const std::byte> whole) {
  return part.data() >= whole.data() && part.size() <= whole.size() &&
         static_cast<std::size_t>(part.data() - whole.data()) <= whole.size() - part.size();
}

void check_parsed(const m::BzImage& bz, std::span<const std::byte> image) {
  HVK_FUZZ_CHECK(bz.version >= 0x020c && (bz.xloadflags & 1u) != 0);
  HVK_FUZZ_CHECK(bz.setup_header.data() == image.data() + kSetupHeaderAt);
  HVK_FUZZ_CHECK(bz.setup_header.size() >= 0x264 - kSetupHeaderAt);
  std::size_t sects = static_cast<std::uint8_t>(image[kSetupHeaderAt]);
  if (sects == 0) sects = 4;
  HVK_FUZZ_CHECK(bz.kernel.data() == image.data() + (sects + 1) * 512);
  HVK_FUZZ_CHECK(bz.kernel.data() + bz.kernel.size() == image.data() + image.size());
  HVK_FUZZ_CHECK(!bz.kernel.empty());
  HVK_FUZZ_CHECK(kSetupHeaderAt + bz.setup_header.size() <= (sects + 1) * 512);
  HVK_FUZZ_CHECK(inside(bz.payload, bz.kernel));
}

struct Initrd {
  std::vector<std::byte> bytes;
  std::span<const std::byte> choose(unsigned which, std::span<const std::byte> image,
                                    std::uint64_t ram_size) {
    switch (which) {
      case 0: return {};
      case 1: bytes.assign(4096, std::byte{0xA5}); return bytes;
      case 2: return image.first(std::min<std::size_t>(image.size(), std::size_t{64} * 1024));
      default: bytes.assign(std::max<std::uint64_t>(ram_size, 1), std::byte{0x3C}); return bytes;
    }
  }
};

// Where a successful boot-mode load put things, checked against the image.
void check_boot_mode(const m::BootSetup& setup, const m::BzImage& bz,
                     const std::vector<std::byte>& ram, std::vector<Range>& written) {
  const std::uint64_t at = std::max<std::uint64_t>(bz.pref_address, m::kImageMinAddr);
  const m::LoadedImage& image = setup.image;
  HVK_FUZZ_CHECK(at % m::kPageSize == 0);
  HVK_FUZZ_CHECK(image.low == at && image.entry == at + 0x200);
  HVK_FUZZ_CHECK(image.high - at == std::max<std::uint64_t>(bz.init_size, bz.kernel.size()));
  HVK_FUZZ_CHECK(image.high <= ram.size());
  HVK_FUZZ_CHECK(std::memcmp(ram.data() + at, bz.kernel.data(), bz.kernel.size()) == 0);
  written.push_back({at, at + bz.kernel.size()});

  boot_params bp;
  std::memcpy(&bp, ram.data() + m::kBootParamsAddr, sizeof bp);
  setup_header image_hdr{};
  std::memcpy(&image_hdr, bz.setup_header.data(),
              std::min(sizeof image_hdr, bz.setup_header.size()));
  HVK_FUZZ_CHECK(bp.hdr.version == bz.version && bp.hdr.header == 0x53726448);
  HVK_FUZZ_CHECK(bp.hdr.kernel_alignment == image_hdr.kernel_alignment);
  HVK_FUZZ_CHECK(bp.hdr.init_size == image_hdr.init_size);
  HVK_FUZZ_CHECK(bp.hdr.cmd_line_ptr == m::kCmdlineAddr);
  HVK_FUZZ_CHECK((bp.hdr.loadflags & LOADED_HIGH) != 0);
}

void check_initrd(const m::BootSetup& setup, std::span<const std::byte> initrd,
                  const std::vector<std::byte>& ram, std::vector<Range>& written) {
  boot_params bp;
  std::memcpy(&bp, ram.data() + m::kBootParamsAddr, sizeof bp);
  const std::uint64_t at = bp.hdr.ramdisk_image | std::uint64_t{bp.ext_ramdisk_image} << 32;
  const std::uint64_t size = bp.hdr.ramdisk_size | std::uint64_t{bp.ext_ramdisk_size} << 32;
  HVK_FUZZ_CHECK(at == setup.initrd && size == initrd.size());
  if (initrd.empty()) {
    HVK_FUZZ_CHECK(at == 0);
    return;
  }
  HVK_FUZZ_CHECK(at % m::kPageSize == 0 && at >= setup.image.high);
  const std::uint64_t top = std::min<std::uint64_t>(ram.size(), 0x8000'0000);
  HVK_FUZZ_CHECK(at <= top && size <= top - at);
  HVK_FUZZ_CHECK(std::memcmp(ram.data() + at, initrd.data(), size) == 0);
  written.push_back({at, at + size});
}

// The ranges an ELF's PT_LOAD segments cover (only for a failure after they were loaded).
std::vector<Range> elf_ranges(std::span<const std::byte> elf) {
  std::vector<Range> out;
  Elf64_Ehdr eh;
  if (elf.size() < sizeof eh) return out;
  std::memcpy(&eh, elf.data(), sizeof eh);
  for (std::size_t i = 0; i < eh.e_phnum; ++i) {
    const std::uint64_t off = eh.e_phoff + i * std::uint64_t{eh.e_phentsize};
    if (off > elf.size() || sizeof(Elf64_Phdr) > elf.size() - off) break;
    Elf64_Phdr ph;
    std::memcpy(&ph, elf.data() + off, sizeof ph);
    if (ph.p_type == PT_LOAD) out.push_back({ph.p_paddr, ph.p_paddr + ph.p_memsz});
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint8_t options = 0;
  std::uint64_t high_ram = 0;
  if (size > 0x264) options = data[--size];
  if ((options & 0x80u) != 0 && size > 0x264) high_ram = hvk::fuzz::high_ram_of(data[--size]);
  const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(data), size);
  hvk::fuzz::Ram& ram = hvk::fuzz::ram_of_size(kRamSizes[options & 7u]);
  const bool unpack = (options & 8u) != 0;
  Initrd initrd_store;
  const auto initrd = initrd_store.choose((options >> 4) & 3u, image, ram.bytes.size());
  const std::string_view cmdline = (options & 0x40u) != 0 ? "console=ttyS0 earlyprintk" : "";

  // The parts, called directly.
  const auto bz = m::parse_bzimage(image);
  std::vector<std::byte> elf;
  bool unpacked = false;
  if (!bz) {
    hvk::fuzz::check_failure(bz.error());
    hvk::fuzz::log_line("parse: %s\n", bz.error().c_str());
  } else {
    check_parsed(*bz, image);
    const std::uint64_t cap = std::min<std::uint64_t>(kMaxUnpacked, ram.bytes.size());
    auto out = m::unpack_bzimage(*bz, cap);
    if (!out) {
      hvk::fuzz::check_failure(out.error());
      hvk::fuzz::log_line("unpack: %s\n", out.error().c_str());
    } else {
      HVK_FUZZ_CHECK(!out->empty() && out->size() <= cap);
      HVK_FUZZ_CHECK(out->size() == trailer_size(bz->payload));
      hvk::fuzz::log_line("unpack: %zu bytes\n", out->size());
      elf = std::move(*out);
      unpacked = true;
    }
  }

  // The whole boot set-up.
  m::BootOptions bo;
  bo.cmdline = cmdline;
  bo.initrd = initrd;
  bo.bzimage = unpack ? m::BzImageMode::kUnpack : m::BzImageMode::kBoot;
  bo.high_ram = high_ram;
  auto result = m::prepare_boot(image, ram.bytes, bo);
  if (!result) {
    hvk::fuzz::check_failure(result.error());
    hvk::fuzz::log_line("rejected: %s\n", result.error().c_str());
    // Only an initrd that does not fit fails after the image is in RAM.
    const bool initrd_failed = result.error().rfind("initrd:", 0) == 0;
    HVK_FUZZ_CHECK(initrd_failed || ram.as_before());
    if (initrd_failed) {
      std::vector<Range> image_ranges;
      if (!bz || unpack) {
        image_ranges = elf_ranges(unpack ? std::span<const std::byte>(elf) : image);
      } else {
        const std::uint64_t at = std::max<std::uint64_t>(bz->pref_address, m::kImageMinAddr);
        image_ranges.push_back({at, at + bz->kernel.size()});
      }
      HVK_FUZZ_CHECK(hvk::fuzz::untouched_outside(ram.bytes, ram.reference, image_ranges));
      ram.dirty.push_back({0, ram.bytes.size()});
    }
    return 0;
  }
  hvk::fuzz::log_line("loaded: entry %#llx, %#llx bytes at 4 GiB\n",
                      static_cast<unsigned long long>(result->image.entry),
                      static_cast<unsigned long long>(high_ram));
  if (result->format == m::BootFormat::kMultiboot) {
    // Not a bzImage but a Multiboot image, which prepare_boot prefers to an ELF64 (fuzz_multiboot
    // checks the load): only the format rule here.
    HVK_FUZZ_CHECK(!bz && !m::looks_like_bzimage(image) && m::find_multiboot_header(image));
    ram.dirty.push_back({0, ram.bytes.size()});
    return 0;
  }
  HVK_FUZZ_CHECK(result->format == (bz ? m::BootFormat::kBzImage : m::BootFormat::kElf64));
  std::vector<Range> written = hvk::fuzz::boot_areas();
  if (!bz) {
    hvk::fuzz::check_elf_segments(result->image, image, ram.bytes, written);  // not a bzImage
  } else if (unpack) {
    HVK_FUZZ_CHECK(unpacked);  // the same unpacking succeeded in the harness
    hvk::fuzz::check_elf_segments(result->image, elf, ram.bytes, written);
  } else {
    check_boot_mode(*result, *bz, ram.bytes, written);
  }
  hvk::fuzz::check_entry_and_cmdline(*result, cmdline, ram.bytes);
  check_initrd(*result, initrd, ram.bytes, written);
  hvk::fuzz::check_e820(ram.bytes, high_ram);
  hvk::fuzz::check_identity_map(ram.bytes, ram.reference, high_ram);
  HVK_FUZZ_CHECK(hvk::fuzz::untouched_outside(ram.bytes, ram.reference, written));
  ram.dirty.insert(ram.dirty.end(), written.begin(), written.end());
  return 0;
}
