#include "machine/loader/bzimage.h"

#include <fmt/format.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>

#include "machine/loader/guest_ram.h"
#include "machine/loader/layout.h"

namespace hvk::machine {

namespace {

// Offsets in the image (boot.rst, "The real-mode kernel header").
constexpr std::size_t kSetupSects = 0x1f1;
constexpr std::size_t kHeaderMagic = 0x202;
constexpr std::size_t kVersion = 0x206;
constexpr std::size_t kKernelAlignment = 0x230;
constexpr std::size_t kXloadflags = 0x236;
constexpr std::size_t kPayloadOffset = 0x248;
constexpr std::size_t kPayloadLength = 0x24c;
constexpr std::size_t kPrefAddress = 0x258;
constexpr std::size_t kInitSize = 0x260;
constexpr std::size_t kHeaderEnd = 0x264;  // through init_size (protocol 2.10+)
constexpr std::uint16_t kMinVersion = 0x020c;
constexpr std::uint16_t kXlfKernel64 = 1;
constexpr std::uint64_t kStartup64 = 0x200;

template <typename T>
T field(std::span<const std::byte> image, std::size_t offset) {
  T v;
  std::memcpy(&v, image.data() + offset, sizeof v);
  return v;
}

bool starts_with(std::span<const std::byte> b, std::initializer_list<std::uint8_t> magic) {
  if (b.size() < magic.size()) return false;
  std::size_t i = 0;
  for (std::uint8_t m : magic) {
    if (static_cast<std::uint8_t>(b[i++]) != m) return false;
  }
  return true;
}

// The kernel's build appends the uncompressed size (le32) to every payload.
std::uint64_t appended_size(std::span<const std::byte> payload) {
  return payload.size() >= 4 ? field<std::uint32_t>(payload, payload.size() - 4) : 0;
}

constexpr const char* kLongerThanTrailer =
    "bzImage: payload unpacks to more bytes than its trailer says";

// What liblzma may allocate for one payload: the headers name the dictionary size, and a hostile
// one names 4 GiB. Kernels are compressed with at most 64 MiB (`lzma -9`; xz uses 32 MiB).
constexpr std::uint64_t kMaxLzmaMemory = 128ull << 20;

Result<std::vector<std::byte>> unxz(std::span<const std::byte> in, std::vector<std::byte> out,
                                    bool lzma_alone) {
  lzma_stream s = LZMA_STREAM_INIT;
  const lzma_ret init = lzma_alone ? lzma_alone_decoder(&s, kMaxLzmaMemory)
                                   : lzma_stream_decoder(&s, kMaxLzmaMemory, 0);
  if (init != LZMA_OK) return fail("bzImage: liblzma could not start a decoder");
  s.next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  s.avail_in = in.size();
  s.next_out = reinterpret_cast<std::uint8_t*>(out.data());
  s.avail_out = out.size();
  const lzma_ret r = lzma_code(&s, LZMA_FINISH);
  const std::size_t produced = out.size() - s.avail_out;
  lzma_end(&s);
  if (r == LZMA_OK && s.avail_out == 0) return fail(kLongerThanTrailer);
  if (r == LZMA_MEMLIMIT_ERROR) {
    return fail(fmt::format("bzImage: xz/lzma payload needs more than {} MiB to decompress",
                            kMaxLzmaMemory >> 20));
  }
  if (r != LZMA_STREAM_END) {
    return fail(fmt::format("bzImage: xz/lzma payload is corrupt ({})", static_cast<int>(r)));
  }
  out.resize(produced);
  return out;
}

Result<std::vector<std::byte>> gunzip(std::span<const std::byte> in, std::vector<std::byte> out) {
  z_stream s{};
  if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) return fail("bzImage: zlib could not start");
  s.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in.data()));
  s.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), UINT32_MAX));
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size(), UINT32_MAX));
  const int r = inflate(&s, Z_FINISH);
  const std::size_t produced = s.total_out;
  inflateEnd(&s);
  if (r == Z_BUF_ERROR && s.avail_out == 0) return fail(kLongerThanTrailer);
  if (r != Z_STREAM_END) return fail(fmt::format("bzImage: gzip payload is corrupt ({})", r));
  out.resize(produced);
  return out;
}

Result<std::vector<std::byte>> unzstd(std::span<const std::byte> in, std::vector<std::byte> out) {
  // The payload is one frame followed by the 4-byte size.
  const std::size_t frame = ZSTD_findFrameCompressedSize(in.data(), in.size());
  if (ZSTD_isError(frame)) return fail("bzImage: zstd payload is corrupt");
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), frame);
  if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) return fail(kLongerThanTrailer);
  if (ZSTD_isError(n)) {
    return fail(fmt::format("bzImage: zstd payload is corrupt ({})", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

}  // namespace

bool looks_like_bzimage(std::span<const std::byte> image) {
  return image.size() >= kHeaderEnd && field<std::uint32_t>(image, kHeaderMagic) == 0x53726448;
}

Result<BzImage> parse_bzimage(std::span<const std::byte> image) {
  if (!looks_like_bzimage(image)) return fail("bzImage: no \"HdrS\" setup header");
  BzImage bz;
  bz.version = field<std::uint16_t>(image, kVersion);
  if (bz.version < kMinVersion) {
    return fail(fmt::format("bzImage: boot protocol {}.{:02} is older than 2.12 (no 64-bit entry)",
                            bz.version >> 8, bz.version & 0xFF));
  }
  bz.xloadflags = field<std::uint16_t>(image, kXloadflags);
  if (!(bz.xloadflags & kXlfKernel64)) return fail("bzImage: the kernel has no 64-bit entry");
  std::size_t setup_sects = field<std::uint8_t>(image, kSetupSects);
  if (setup_sects == 0) setup_sects = 4;
  const std::size_t kernel_at = (setup_sects + 1) * 512;
  if (kernel_at >= image.size()) return fail("bzImage: truncated (no protected-mode kernel)");
  // The header's own length: 0x202 + the byte at 0x201 (the jump's offset), so at most 0x301,
  // always inside the setup sectors (the kernel starts at 0x400 or later).
  const std::size_t header_end = 0x202 + field<std::uint8_t>(image, 0x201);
  static_assert(0x202 + 0xFF < 2 * 512);
  if (header_end < kHeaderEnd) return fail("bzImage: setup header is too short (before 2.10)");
  bz.setup_header = image.subspan(kSetupSects, header_end - kSetupSects);
  bz.kernel = image.subspan(kernel_at);
  bz.pref_address = field<std::uint64_t>(image, kPrefAddress);
  bz.init_size = field<std::uint32_t>(image, kInitSize);
  bz.kernel_alignment = field<std::uint32_t>(image, kKernelAlignment);
  const std::uint64_t po = field<std::uint32_t>(image, kPayloadOffset);
  const std::uint64_t pl = field<std::uint32_t>(image, kPayloadLength);
  if (po > bz.kernel.size() || pl > bz.kernel.size() - po) {
    return fail("bzImage: payload lies outside the file");
  }
  bz.payload = bz.kernel.subspan(po, pl);
  return bz;
}

Result<LoadedImage> load_bzimage(const BzImage& bz, std::span<std::byte> ram) {
  const std::uint64_t at = std::max(bz.pref_address, kImageMinAddr);
  const std::uint64_t size = std::max<std::uint64_t>(bz.init_size, bz.kernel.size());
  if (at % kPageSize != 0 || !range_fits(at, size, ram.size())) {
    return fail(fmt::format(
        "bzImage: the kernel needs [{:#x}, +{:#x}) in RAM (init_size); RAM is {:#x} bytes", at,
        size, ram.size()));
  }
  GuestRam guest(ram);
  if (!guest.write(at, bz.kernel)) return fail("bzImage: internal error, write outside RAM");
  LoadedImage image;
  image.entry = at + kStartup64;
  image.low = at;
  image.high = at + size;
  image.segments.push_back({at, bz.kernel.size(), size, 7});
  return image;
}

Result<std::vector<std::byte>> unpack_bzimage(const BzImage& bz, std::uint64_t max_size) {
  const std::uint64_t size = appended_size(bz.payload);
  if (size == 0 || size > max_size) {
    return fail(fmt::format("bzImage: payload claims {} bytes uncompressed (at most {})", size,
                            max_size));
  }
  std::vector<std::byte> out(size);
  const auto p = bz.payload;
  Result<std::vector<std::byte>> r = fail("");
  if (starts_with(p, {0xFD, '7', 'z', 'X', 'Z', 0x00})) {
    r = unxz(p, std::move(out), false);
  } else if (starts_with(p, {0x5D, 0x00, 0x00})) {
    r = unxz(p, std::move(out), true);
  } else if (starts_with(p, {0x1F, 0x8B})) {
    r = gunzip(p, std::move(out));
  } else if (starts_with(p, {0x28, 0xB5, 0x2F, 0xFD})) {
    r = unzstd(p, std::move(out));
  } else {
    return fail(
        "bzImage: payload compressed with a method hvk cannot unpack (xz, lzma, gzip and zstd "
        "work); boot it with --bzimage=boot");
  }
  if (r && r->size() != size) {
    return fail(fmt::format("bzImage: payload unpacked to {} bytes, its trailer says {}",
                            r->size(), size));
  }
  return r;
}

}  // namespace hvk::machine
