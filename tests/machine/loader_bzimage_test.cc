// Linux bzImages (Documentation/arch/x86/boot.rst): parse_bzimage's checks on the setup header,
// load_bzimage putting the protected-mode kernel at its preferred address, unpack_bzimage on xz,
// lzma, gzip and zstd payloads compressed here with the real libraries (and on hostile ones), and
// prepare_boot in both modes: the image's setup header in boot_params (kBoot), the vmlinux ELF
// inside loaded with an initrd above it (kUnpack), refusals that write nothing. Images are built
// in memory with the header fields at their boot.rst offsets.
#include <gtest/gtest.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loader_test_support.h"
#include "machine/loader/boot.h"
#include "machine/loader/bzimage.h"
#include "machine/loader/layout.h"

namespace hvk::machine {
namespace {

using test::ElfBuilder;
using test::GuardedRam;

constexpr std::size_t kRamSize = 16 << 20;
constexpr std::uint64_t kMiB = 0x100000;

// Offsets in the image and in boot_params (the zero page carries the header at the same offsets).
constexpr std::size_t kSetupSectsAt = 0x1f1;
constexpr std::size_t kBootFlagAt = 0x1fe;
constexpr std::size_t kJumpAt = 0x200;  // 0xEB, then the offset byte at 0x201
constexpr std::size_t kHeaderAt = 0x202;
constexpr std::size_t kVersionAt = 0x206;
constexpr std::size_t kTypeOfLoaderAt = 0x210;
constexpr std::size_t kLoadflagsAt = 0x211;
constexpr std::size_t kRamdiskImageAt = 0x218;
constexpr std::size_t kRamdiskSizeAt = 0x21c;
constexpr std::size_t kCmdLinePtrAt = 0x228;
constexpr std::size_t kKernelAlignmentAt = 0x230;
constexpr std::size_t kXloadflagsAt = 0x236;
constexpr std::size_t kPayloadOffsetAt = 0x248;
constexpr std::size_t kPayloadLengthAt = 0x24c;
constexpr std::size_t kPrefAddressAt = 0x258;
constexpr std::size_t kInitSizeAt = 0x260;
constexpr std::size_t kExtRamdiskImageAt = 0x0c0;
constexpr std::size_t kExtRamdiskSizeAt = 0x0c4;
constexpr std::uint8_t kJumpToEnd0x26c = 0x6a;  // 0x202 + 0x6a: the end of struct setup_header
constexpr std::size_t kSetupHeaderSize = 0x26c - 0x1f1;
constexpr std::uint8_t kLoadedHigh = 0x01;

template <typename T>
void put(std::vector<std::byte>& b, std::size_t offset, T value) {
  std::memcpy(b.data() + offset, &value, sizeof value);
}

template <typename T>
T get(std::span<const std::byte> b, std::size_t offset) {
  T v;
  std::memcpy(&v, b.data() + offset, sizeof v);
  return v;
}

// An iterator to `gpa` in RAM.
auto at_gpa(GuardedRam& ram, std::uint64_t gpa) {
  return ram.span().begin() + static_cast<std::ptrdiff_t>(gpa);
}

template <typename T>
T zero_page(const GuardedRam& ram, std::size_t offset) {
  return ram.load<T>(kBootParamsAddr + offset);
}

// A bzImage: the boot sector and `setup_sects` setup sectors holding the setup header, then the
// protected-mode kernel: startup_32's 0x200 bytes, startup_64 (hlt), the payload, a tail.
class BzImageBuilder {
 public:
  static constexpr std::size_t kPayloadInKernel = 0x210;
  static constexpr std::size_t kTailSize = 0x30;

  BzImageBuilder& payload(std::vector<std::byte> p) {
    payload_ = std::move(p);
    return *this;
  }
  BzImageBuilder& setup_sects(std::uint8_t n) {
    setup_sects_ = n;
    return *this;
  }
  BzImageBuilder& version(std::uint16_t v) {
    version_ = v;
    return *this;
  }
  BzImageBuilder& xloadflags(std::uint16_t f) {
    xloadflags_ = f;
    return *this;
  }
  BzImageBuilder& jump(std::uint8_t j) {  // the header ends at 0x202 + j
    jump_ = j;
    return *this;
  }
  BzImageBuilder& pref_address(std::uint64_t a) {
    pref_address_ = a;
    return *this;
  }
  BzImageBuilder& init_size(std::uint32_t s) {
    init_size_ = s;
    return *this;
  }
  BzImageBuilder& loadflags(std::uint8_t f) {
    loadflags_ = f;
    return *this;
  }

  // Where the protected-mode kernel starts in the file.
  std::size_t kernel_offset() const {
    return (setup_sects_ == 0 ? 4u : std::size_t{setup_sects_}) * 512 + 512;
  }

  std::vector<std::byte> build() const {
    std::vector<std::byte> image(kernel_offset());
    put<std::uint8_t>(image, kSetupSectsAt, setup_sects_);
    put<std::uint16_t>(image, kBootFlagAt, 0xAA55);
    put<std::uint8_t>(image, kJumpAt, 0xEB);
    put<std::uint8_t>(image, kJumpAt + 1, jump_);
    std::memcpy(image.data() + kHeaderAt, "HdrS", 4);
    put<std::uint16_t>(image, kVersionAt, version_);
    put<std::uint8_t>(image, kLoadflagsAt, loadflags_);
    put<std::uint32_t>(image, kKernelAlignmentAt, 0x200000);
    put<std::uint8_t>(image, 0x234, 1);  // relocatable_kernel
    put<std::uint16_t>(image, kXloadflagsAt, xloadflags_);
    put<std::uint32_t>(image, kPayloadOffsetAt, kPayloadInKernel);
    put<std::uint32_t>(image, kPayloadLengthAt, static_cast<std::uint32_t>(payload_.size()));
    put<std::uint64_t>(image, kPrefAddressAt, pref_address_);
    put<std::uint32_t>(image, kInitSizeAt, init_size_);
    const auto startup_32 = test::pattern(0x200, 5);
    image.insert(image.end(), startup_32.begin(), startup_32.end());
    image.resize(image.size() + (kPayloadInKernel - 0x200), std::byte{0xf4});  // startup_64: hlt
    image.insert(image.end(), payload_.begin(), payload_.end());
    const auto tail = test::pattern(kTailSize, 6);
    image.insert(image.end(), tail.begin(), tail.end());
    return image;
  }

 private:
  std::vector<std::byte> payload_ = test::pattern(64, 4);
  std::uint8_t setup_sects_ = 1;
  std::uint16_t version_ = 0x020f;
  std::uint16_t xloadflags_ = 1;  // XLF_KERNEL_64
  std::uint8_t jump_ = kJumpToEnd0x26c;
  std::uint64_t pref_address_ = 2 * kMiB;
  std::uint32_t init_size_ = 0x100000;
  std::uint8_t loadflags_ = kLoadedHigh;
};

// --- Payloads, compressed as the kernel build does, followed by the size as le32 -----------------

const std::uint8_t* in_ptr(std::span<const std::byte> b) {
  return reinterpret_cast<const std::uint8_t*>(b.data());
}
std::uint8_t* out_ptr(std::vector<std::byte>& b) {
  return reinterpret_cast<std::uint8_t*>(b.data());
}

std::vector<std::byte> with_trailer(std::vector<std::byte> c, std::uint32_t size) {
  c.resize(c.size() + 4);
  put<std::uint32_t>(c, c.size() - 4, size);
  return c;
}

std::vector<std::byte> xz(std::span<const std::byte> in) {
  std::vector<std::byte> out(lzma_stream_buffer_bound(in.size()));
  std::size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(0, LZMA_CHECK_CRC32, nullptr, in_ptr(in), in.size(),
                                    out_ptr(out), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

std::vector<std::byte> lzma_alone(std::span<const std::byte> in) {
  lzma_options_lzma options;
  EXPECT_FALSE(lzma_lzma_preset(&options, 0));
  lzma_stream s = LZMA_STREAM_INIT;
  EXPECT_EQ(lzma_alone_encoder(&s, &options), LZMA_OK);
  std::vector<std::byte> out(in.size() * 2 + 4096);
  s.next_in = in_ptr(in);
  s.avail_in = in.size();
  s.next_out = out_ptr(out);
  s.avail_out = out.size();
  EXPECT_EQ(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
  out.resize(out.size() - s.avail_out);
  lzma_end(&s);
  return out;
}

std::vector<std::byte> gzip(std::span<const std::byte> in) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::vector<std::byte> out(deflateBound(&s, in.size()));
  s.next_in = const_cast<Bytef*>(in_ptr(in));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = out_ptr(out);
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

// With a checksum, as the zstd CLI writes by default (the kernel build runs `zstd -22 --ultra`).
std::vector<std::byte> zstd(std::span<const std::byte> in) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  EXPECT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
  std::vector<std::byte> out(ZSTD_compressBound(in.size()));
  const std::size_t n = ZSTD_compress2(cctx, out.data(), out.size(), in.data(), in.size());
  ZSTD_freeCCtx(cctx);
  EXPECT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

using Compressor = std::vector<std::byte> (*)(std::span<const std::byte>);
struct Method {
  const char* name;
  Compressor compress;
};
constexpr Method kMethods[] = {{"xz", xz}, {"lzma", lzma_alone}, {"gzip", gzip}, {"zstd", zstd}};

// A vmlinux-like ELF: text at 2 MiB (linked in the high half), data plus bss at 4 MiB.
constexpr std::uint64_t kElfEntry = 0x200040;
std::vector<std::byte> tiny_vmlinux() {
  return ElfBuilder()
      .entry(kElfEntry)
      .segment(0x200000, test::pattern(0x1800, 1), 0x2000, PT_LOAD, PF_R | PF_X, 0xffffffff81000000)
      .segment(0x400000, test::pattern(0x100, 2), 0x3000, PT_LOAD, PF_R | PF_W, 0xffffffff81200000)
      .build();
}

std::vector<std::byte> payload_of(const Method& m, std::span<const std::byte> elf) {
  return with_trailer(m.compress(elf), static_cast<std::uint32_t>(elf.size()));
}

// The parsed image (its spans point into `image`, which must outlive it).
BzImage parsed(const std::vector<std::byte>& image) {
  auto bz = parse_bzimage(image);
  EXPECT_TRUE(bz.ok()) << bz.error();
  return bz.ok() ? *bz : BzImage{};
}
BzImage parsed(std::vector<std::byte>&&) = delete;

template <typename T>
void expect_refused(const Result<T>& r, std::string_view needle) {
  ASSERT_FALSE(r.ok()) << "accepted; expected an error containing: " << needle;
  EXPECT_NE(r.error().find(needle), std::string::npos) << r.error();
  EXPECT_EQ(r.error().find('\n'), std::string::npos) << r.error();
}

// --- parse_bzimage -------------------------------------------------------------------------------

TEST(LoaderBzImage, ParseRefusesAnImageWithoutHdrS) {
  auto image = BzImageBuilder().build();
  image[kHeaderAt + 3] = std::byte{'Z'};
  EXPECT_FALSE(looks_like_bzimage(image));
  expect_refused(parse_bzimage(image), "no \"HdrS\"");
  // Too short to hold the header at all.
  const auto whole = BzImageBuilder().build();
  const std::vector<std::byte> stub(whole.begin(), whole.begin() + 0x263);
  expect_refused(parse_bzimage(stub), "no \"HdrS\"");
}

TEST(LoaderBzImage, ParseRefusesBootProtocolOlderThan2_12) {
  expect_refused(parse_bzimage(BzImageBuilder().version(0x020b).build()),
                 "boot protocol 2.11 is older than 2.12");
  expect_refused(parse_bzimage(BzImageBuilder().version(0x0100).build()), "older than 2.12");
  EXPECT_TRUE(parse_bzimage(BzImageBuilder().version(0x020c).build()).ok());
}

TEST(LoaderBzImage, ParseRefusesAKernelWithoutXlfKernel64) {
  expect_refused(parse_bzimage(BzImageBuilder().xloadflags(0).build()), "no 64-bit entry");
  expect_refused(parse_bzimage(BzImageBuilder().xloadflags(0x1e).build()), "no 64-bit entry");
  EXPECT_TRUE(parse_bzimage(BzImageBuilder().xloadflags(0x1f).build()).ok());
}

TEST(LoaderBzImage, ParseRefusesAnImageWithNoProtectedModeKernel) {
  const BzImageBuilder b;
  const auto whole = b.build();
  const auto at = static_cast<std::ptrdiff_t>(b.kernel_offset());
  expect_refused(parse_bzimage(std::vector<std::byte>(whole.begin(), whole.begin() + at)),
                 "truncated");
  expect_refused(parse_bzimage(std::vector<std::byte>(whole.begin(), whole.begin() + at - 1)),
                 "truncated");
  // setup_sects 0 (meaning 4) and an image that ends inside those four sectors.
  const auto four = BzImageBuilder().setup_sects(0).build();
  expect_refused(parse_bzimage(std::vector<std::byte>(four.begin(), four.begin() + 0x800)),
                 "truncated");
}

TEST(LoaderBzImage, ParseRefusesASetupHeaderEndingBefore0x264) {
  // The header's length is 0x202 + the jump's offset byte; through init_size it reaches 0x264.
  expect_refused(parse_bzimage(BzImageBuilder().jump(0x61).build()),
                 "setup header is too short");
  expect_refused(parse_bzimage(BzImageBuilder().jump(0).build()), "too short");
  auto bz = parse_bzimage(BzImageBuilder().jump(0x62).build());
  ASSERT_TRUE(bz.ok()) << bz.error();
  EXPECT_EQ(bz->setup_header.size(), 0x264u - kSetupSectsAt);
}

TEST(LoaderBzImage, ParseHeaderEndCannotPassTheSetupSectors) {
  // The longest jump (0xff) ends the header at 0x301, inside the one setup sector every image has
  // at least. Such a header parses; it is too long for boot_params.hdr (see below).
  static_assert(0x202 + 0xff <= 2 * 512);
  auto bz = parse_bzimage(BzImageBuilder().setup_sects(1).jump(0xff).build());
  ASSERT_TRUE(bz.ok()) << bz.error();
  EXPECT_EQ(bz->setup_header.size(), 0x301u - kSetupSectsAt);
}

TEST(LoaderBzImage, ParseRefusesAPayloadOutsideTheKernel) {
  const BzImageBuilder b;
  const auto good = b.build();
  const auto kernel_size = static_cast<std::uint32_t>(good.size() - b.kernel_offset());
  auto with = [&](std::uint32_t offset, std::uint32_t length) {
    auto image = good;
    put<std::uint32_t>(image, kPayloadOffsetAt, offset);
    put<std::uint32_t>(image, kPayloadLengthAt, length);
    return image;
  };
  expect_refused(parse_bzimage(with(kernel_size + 1, 0)), "payload lies outside the file");
  expect_refused(parse_bzimage(with(0x210, kernel_size - 0x210 + 1)), "outside the file");
  expect_refused(parse_bzimage(with(0xffffffff, 0xffffffff)), "outside the file");
  expect_refused(parse_bzimage(with(0x10, 0xfffffff8)), "outside the file");  // would wrap in u32
  // Up to the last byte of the file is fine, and so is an empty payload at its very end.
  EXPECT_TRUE(parse_bzimage(with(0x210, kernel_size - 0x210)).ok());
  EXPECT_TRUE(parse_bzimage(with(kernel_size, 0)).ok());
}

TEST(LoaderBzImage, ParseTreatsZeroSetupSectsAsFour) {
  const BzImageBuilder b = BzImageBuilder().setup_sects(0);
  const auto image = b.build();
  ASSERT_EQ(b.kernel_offset(), 5u * 512);
  const BzImage bz = parsed(image);
  EXPECT_EQ(bz.kernel.data(), image.data() + std::size_t{5} * 512);
  EXPECT_EQ(bz.kernel.size(), image.size() - std::size_t{5} * 512);
  EXPECT_EQ(bz.kernel[0x200], std::byte{0xf4});  // startup_64 where the builder put it
}

TEST(LoaderBzImage, ParseReturnsViewsAtTheBootProtocolOffsets) {
  const auto payload = test::pattern(100, 9);
  const BzImageBuilder b =
      BzImageBuilder().setup_sects(3).payload(payload).pref_address(0x1000000).init_size(0x345000);
  const auto image = b.build();
  const BzImage bz = parsed(image);
  ASSERT_EQ(b.kernel_offset(), 4u * 512);
  EXPECT_EQ(bz.setup_header.data(), image.data() + 0x1f1);
  EXPECT_EQ(bz.setup_header.size(), kSetupHeaderSize);
  EXPECT_EQ(bz.kernel.data(), image.data() + std::size_t{4} * 512);
  EXPECT_EQ(bz.kernel.data() + bz.kernel.size(), image.data() + image.size());
  EXPECT_EQ(bz.payload.data(), bz.kernel.data() + BzImageBuilder::kPayloadInKernel);
  ASSERT_EQ(bz.payload.size(), payload.size());
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), bz.payload.begin()));
  EXPECT_EQ(bz.version, 0x020f);
  EXPECT_EQ(bz.xloadflags, 1);
  EXPECT_EQ(bz.pref_address, 0x1000000u);
  EXPECT_EQ(bz.init_size, 0x345000u);
  EXPECT_EQ(bz.kernel_alignment, 0x200000u);
}

// --- load_bzimage --------------------------------------------------------------------------------

TEST(LoaderBzImage, LoadPutsTheKernelAtPrefAddressAndEntersAtStartup64) {
  const auto image = BzImageBuilder().pref_address(4 * kMiB).init_size(0x80000).build();
  const BzImage bz = parsed(image);
  GuardedRam ram(kRamSize);
  auto loaded = load_bzimage(bz, ram.span());
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded->entry, 4 * kMiB + 0x200);
  EXPECT_EQ(loaded->low, 4 * kMiB);
  EXPECT_EQ(loaded->high, 4 * kMiB + 0x80000);  // init_size is larger than the kernel
  ASSERT_EQ(loaded->segments.size(), 1u);
  EXPECT_EQ(loaded->segments[0].paddr, 4 * kMiB);
  EXPECT_EQ(loaded->segments[0].filesz, bz.kernel.size());
  EXPECT_EQ(loaded->segments[0].memsz, 0x80000u);
  const auto mem = ram.span();
  EXPECT_TRUE(std::equal(bz.kernel.begin(), bz.kernel.end(), at_gpa(ram, 4 * kMiB)));
  EXPECT_EQ(mem[4 * kMiB + 0x200], std::byte{0xf4});
  // Only the kernel's bytes are written; the rest of init_size is the decompressor's business.
  EXPECT_EQ(mem[4 * kMiB - 1], std::byte{0xcc});
  EXPECT_EQ(mem[4 * kMiB + bz.kernel.size()], std::byte{0xcc});
  EXPECT_EQ(mem[kBootParamsAddr], std::byte{0xcc});
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBzImage, LoadExtentIsTheKernelWhenInitSizeIsSmaller) {
  const auto image = BzImageBuilder().pref_address(2 * kMiB).init_size(0x10).build();
  const BzImage bz = parsed(image);
  GuardedRam ram(kRamSize);
  auto loaded = load_bzimage(bz, ram.span());
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded->low, 2 * kMiB);
  EXPECT_EQ(loaded->high, 2 * kMiB + bz.kernel.size());
}

TEST(LoaderBzImage, LoadMovesAPrefAddressBelowOneMiBToOneMiB) {
  for (std::uint64_t pref : {std::uint64_t{0}, std::uint64_t{0x10000}, std::uint64_t{0xff000}}) {
    SCOPED_TRACE(pref);
    const auto image = BzImageBuilder().pref_address(pref).build();
    const BzImage bz = parsed(image);
    GuardedRam ram(kRamSize);
    auto loaded = load_bzimage(bz, ram.span());
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    EXPECT_EQ(loaded->low, kMiB);
    EXPECT_EQ(loaded->entry, kMiB + 0x200);
    EXPECT_TRUE(std::equal(bz.kernel.begin(), bz.kernel.end(), at_gpa(ram, kMiB)));
    EXPECT_EQ(ram.span()[pref], std::byte{0xcc});
  }
}

TEST(LoaderBzImage, LoadRefusesAnUnalignedPrefAddressWithRamUntouched) {
  for (std::uint64_t pref : {2 * kMiB + 0x800, 2 * kMiB + 1, 2 * kMiB + 0x200}) {
    SCOPED_TRACE(pref);
    const auto image = BzImageBuilder().pref_address(pref).build();
    const BzImage bz = parsed(image);
    GuardedRam ram(kRamSize);
    const auto before = ram.snapshot();
    expect_refused(load_bzimage(bz, ram.span()), "bzImage: the kernel needs");
    EXPECT_TRUE(ram.snapshot() == before);
    EXPECT_TRUE(ram.guards_intact());
  }
}

TEST(LoaderBzImage, LoadRefusesAnInitSizeThatDoesNotFitRamWithRamUntouched) {
  struct Case {
    std::uint64_t pref;
    std::uint32_t init_size;
  } cases[] = {
      {kMiB, static_cast<std::uint32_t>(kRamSize - kMiB + 1)},  // one byte past the end
      {kRamSize - 0x1000, 0x2000},                              // starts in RAM, ends beyond
      {kRamSize, 0},                                            // the kernel itself is beyond
      {0xfffffffffffff000, 0x2000},                             // wraps around
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pref);
    const auto image = BzImageBuilder().pref_address(c.pref).init_size(c.init_size).build();
    const BzImage bz = parsed(image);
    GuardedRam ram(kRamSize);
    const auto before = ram.snapshot();
    expect_refused(load_bzimage(bz, ram.span()), "(init_size); RAM is 0x1000000 bytes");
    EXPECT_TRUE(ram.snapshot() == before);
    EXPECT_TRUE(ram.guards_intact());
  }
  // Ending exactly at the end of RAM is fine.
  const auto image = BzImageBuilder()
                         .pref_address(kMiB)
                         .init_size(static_cast<std::uint32_t>(kRamSize - kMiB))
                         .build();
  const BzImage bz = parsed(image);
  GuardedRam ram(kRamSize);
  auto loaded = load_bzimage(bz, ram.span());
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded->high, kRamSize);
}

// --- unpack_bzimage ------------------------------------------------------------------------------

void expect_round_trip(const Method& m) {
  const auto elf = tiny_vmlinux();
  const auto payload = payload_of(m, elf);
  ASSERT_LT(payload.size(), elf.size()) << "not compressed at all";
  const auto image = BzImageBuilder().payload(payload).build();
  auto out = unpack_bzimage(parsed(image), 1u << 30);
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_TRUE(*out == elf);
}

TEST(LoaderBzImage, UnpackRoundTripsXz) {
  expect_round_trip(kMethods[0]);
}
TEST(LoaderBzImage, UnpackRoundTripsLzma) {
  expect_round_trip(kMethods[1]);
}
TEST(LoaderBzImage, UnpackRoundTripsGzip) {
  expect_round_trip(kMethods[2]);
}
TEST(LoaderBzImage, UnpackRoundTripsZstd) {
  expect_round_trip(kMethods[3]);
}

TEST(LoaderBzImage, UnpackRefusesATrailerOfZero) {
  const auto elf = tiny_vmlinux();
  for (const Method& m : kMethods) {
    SCOPED_TRACE(m.name);
    const auto image = BzImageBuilder().payload(with_trailer(m.compress(elf), 0)).build();
    expect_refused(unpack_bzimage(parsed(image), 1u << 30),
                   "payload claims 0 bytes uncompressed (at most 1073741824)");
  }
  // A payload too short to hold the trailer says nothing either.
  for (std::size_t n : {std::size_t{0}, std::size_t{3}}) {
    SCOPED_TRACE(n);
    const auto image = BzImageBuilder().payload(test::pattern(n, 0x11)).build();
    expect_refused(unpack_bzimage(parsed(image), 1u << 30), "payload claims 0 bytes");
  }
}

TEST(LoaderBzImage, UnpackRefusesATrailerAboveTheCap) {
  const auto elf = tiny_vmlinux();
  for (const Method& m : kMethods) {
    SCOPED_TRACE(m.name);
    const auto image = BzImageBuilder().payload(payload_of(m, elf)).build();
    const BzImage bz = parsed(image);
    expect_refused(unpack_bzimage(bz, elf.size() - 1),
                   "payload claims " + std::to_string(elf.size()) +
                       " bytes uncompressed (at most " + std::to_string(elf.size() - 1) + ")");
    EXPECT_TRUE(unpack_bzimage(bz, elf.size()).ok());
  }
  // The largest trailer against the default cap, with nothing allocated for it.
  const auto image = BzImageBuilder().payload(with_trailer(xz(elf), 0xffffffff)).build();
  expect_refused(unpack_bzimage(parsed(image), 1u << 30), "claims 4294967295 bytes");
}

TEST(LoaderBzImage, UnpackRefusesATrailerThatDisagreesWithTheRealSize) {
  const auto elf = tiny_vmlinux();
  const auto real = static_cast<std::uint32_t>(elf.size());
  for (const Method& m : kMethods) {
    SCOPED_TRACE(m.name);
    const auto compressed = m.compress(elf);
    // More than the stream holds: it unpacks short.
    const auto longer = BzImageBuilder().payload(with_trailer(compressed, real + 1)).build();
    expect_refused(unpack_bzimage(parsed(longer), 1u << 30), "unpacked to " + std::to_string(real) +
                                                                 " bytes, its trailer says " +
                                                                 std::to_string(real + 1));
    // Less than the stream holds: the output buffer runs out before the stream ends.
    const auto shorter = BzImageBuilder().payload(with_trailer(compressed, real - 1)).build();
    expect_refused(unpack_bzimage(parsed(shorter), 1u << 30),
                   "payload unpacks to more bytes than its trailer says");
  }
}

TEST(LoaderBzImage, UnpackRefusesACorruptPayload) {
  const auto elf = tiny_vmlinux();
  for (const Method& m : kMethods) {
    SCOPED_TRACE(m.name);
    auto compressed = m.compress(elf);
    // Past every format's header, well before its end.
    const std::size_t at = compressed.size() / 2;
    for (std::size_t i = at; i < at + 8; ++i) compressed[i] ^= std::byte{0x55};
    const auto image =
        BzImageBuilder()
            .payload(with_trailer(compressed, static_cast<std::uint32_t>(elf.size())))
            .build();
    expect_refused(unpack_bzimage(parsed(image), 1u << 30), "payload is corrupt");
  }
}

TEST(LoaderBzImage, UnpackRefusesAnUnknownMethodNamingBootMode) {
  const std::vector<std::byte> magics[] = {
      test::bytes_of({0x02, 0x21, 0x4c, 0x18}),          // LZ4 (legacy frame, as the kernel uses)
      test::bytes_of({'B', 'Z', 'h', '9'}),              // bzip2
      test::bytes_of({0x89, 'L', 'Z', 'O', 0x00}),       // lzop
      test::bytes_of({0x5d, 0x00}),                      // lzma-alone, cut short
      test::bytes_of({0xfd, '7', 'z', 'X', 'Z', 0x01}),  // not quite xz
  };
  for (const auto& magic : magics) {
    SCOPED_TRACE(testing::PrintToString(magic));
    auto payload = magic;
    const auto body = test::pattern(200, 0x21);
    payload.insert(payload.end(), body.begin(), body.end());
    const auto image = BzImageBuilder().payload(with_trailer(payload, 4096)).build();
    expect_refused(unpack_bzimage(parsed(image), 1u << 30),
                   "payload compressed with a method hvk cannot unpack (xz, lzma, gzip and zstd "
                   "work); boot it with --bzimage=boot");
  }
}

// An lzma-alone header: props 0x5D, the dictionary size (le32), the uncompressed size (le64,
// all ones: unknown), then a little data.
std::vector<std::byte> lzma_header_naming(std::uint32_t dict_size) {
  std::vector<std::byte> p(13 + 64, std::byte{0});
  p[0] = std::byte{0x5d};
  put<std::uint32_t>(p, 1, dict_size);
  put<std::uint64_t>(p, 5, ~std::uint64_t{0});
  return with_trailer(std::move(p), 4096);
}

TEST(LoaderBzImage, UnpackRefusesAnLzmaDictionaryAbove128MiBWithoutAllocatingIt) {
  // Dictionary sizes whose low two bytes are zero (so the payload is recognised as lzma): 256
  // MiB and almost 4 GiB. The memlimit message means liblzma refused before allocating the
  // dictionary; without the limit it allocates it and calls the data corrupt instead.
  for (std::uint32_t dict : {0x1000'0000u, 0xff00'0000u, 0xffff'0000u}) {
    SCOPED_TRACE(dict);
    const auto image = BzImageBuilder().payload(lzma_header_naming(dict)).build();
    expect_refused(unpack_bzimage(parsed(image), 1u << 30),
                   "bzImage: xz/lzma payload needs more than 128 MiB to decompress");
  }
  // 64 MiB (`lzma -9`, what the kernel build uses) is within the limit: the zeros after the
  // header then decode to something that is not this payload.
  const auto image = BzImageBuilder().payload(lzma_header_naming(0x0400'0000u)).build();
  auto r = unpack_bzimage(parsed(image), 1u << 30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().find("needs more than"), std::string::npos) << r.error();
}

TEST(LoaderBzImage, UnpackRefusesAnLzmaHeaderNamingA4GiBDictionary) {
  // Dictionary size 0xFFFFFFFF: the payload starts 5D FF FF FF FF, which does not match the
  // lzma magic (5D 00 00), so it is refused as an unknown method before liblzma sees it.
  const auto image = BzImageBuilder().payload(lzma_header_naming(0xffff'ffffu)).build();
  auto r = unpack_bzimage(parsed(image), 1u << 30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().find('\n'), std::string::npos) << r.error();
  const bool by_memlimit = r.error().find("needs more than 128 MiB") != std::string::npos;
  const bool by_magic = r.error().find("--bzimage=boot") != std::string::npos;
  EXPECT_TRUE(by_memlimit || by_magic) << r.error();
}

// --- prepare_boot, kBoot -------------------------------------------------------------------------

TEST(LoaderBzImage, BootModeCopiesTheImageSetupHeaderIntoBootParams) {
  const auto image = BzImageBuilder()
                         .version(0x020c)
                         .loadflags(0x20)  // QUIET_FLAG, kept; LOADED_HIGH is added
                         .pref_address(4 * kMiB)
                         .init_size(0x300000)
                         .payload(payload_of(kMethods[0], tiny_vmlinux()))
                         .build();
  GuardedRam ram(kRamSize);
  auto setup =
      prepare_boot(image, ram.span(), {.cmdline = "console=ttyS0", .bzimage = BzImageMode::kBoot});
  ASSERT_TRUE(setup.ok()) << setup.error();
  EXPECT_EQ(setup->state.rip, 4 * kMiB + 0x200);
  EXPECT_EQ(setup->state.rsi, kBootParamsAddr);
  EXPECT_EQ(setup->image.high, 7 * kMiB);
  const BzImage bz = parsed(image);
  EXPECT_TRUE(std::equal(bz.kernel.begin(), bz.kernel.end(), at_gpa(ram, 4 * kMiB)));

  // The image's fields, kept.
  EXPECT_EQ(zero_page<std::uint16_t>(ram, kVersionAt), 0x020c);  // not hvk's 2.15
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kKernelAlignmentAt), 0x200000u);
  EXPECT_EQ(zero_page<std::uint16_t>(ram, kXloadflagsAt), 1);
  EXPECT_EQ(zero_page<std::uint64_t>(ram, kPrefAddressAt), 4 * kMiB);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kInitSizeAt), 0x300000u);
  EXPECT_EQ(zero_page<std::uint8_t>(ram, kSetupSectsAt), 1);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kPayloadLengthAt), bz.payload.size());
  // hvk's fields, set.
  EXPECT_EQ(zero_page<std::uint16_t>(ram, kBootFlagAt), 0xAA55);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kHeaderAt), 0x53726448u);
  EXPECT_EQ(zero_page<std::uint8_t>(ram, kTypeOfLoaderAt), 0xff);
  EXPECT_EQ(zero_page<std::uint8_t>(ram, kLoadflagsAt), 0x20 | kLoadedHigh);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kCmdLinePtrAt), kCmdlineAddr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ram.span().data() + kCmdlineAddr)),
            "console=ttyS0");
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kRamdiskImageAt), 0u);
  // Past struct setup_header nothing of the image shows (0x26c on is zero page, not header).
  EXPECT_EQ(zero_page<std::uint32_t>(ram, 0x26c), 0u);
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBzImage, BootModeRefusesASetupHeaderLongerThanBootParamsHdrBeforeWriting) {
  for (std::uint8_t jump : {std::uint8_t{0x6b}, std::uint8_t{0xff}}) {
    SCOPED_TRACE(int{jump});
    const auto image = BzImageBuilder().jump(jump).build();
    ASSERT_TRUE(parse_bzimage(image).ok());  // a well-formed image in itself
    GuardedRam ram(kRamSize);
    const auto before = ram.snapshot();
    expect_refused(prepare_boot(image, ram.span(), {.cmdline = "", .bzimage = BzImageMode::kBoot}),
                   "boot_params: the image's setup header is larger than boot_params.hdr");
    EXPECT_TRUE(ram.snapshot() == before) << "RAM was written before the refusal";
    EXPECT_TRUE(ram.guards_intact());
  }
  // Ending exactly at the end of struct setup_header, as every current kernel does, is fine.
  GuardedRam ram(kRamSize);
  EXPECT_TRUE(prepare_boot(BzImageBuilder().jump(kJumpToEnd0x26c).build(), ram.span(),
                           {.cmdline = "", .bzimage = BzImageMode::kBoot})
                  .ok());
}

TEST(LoaderBzImage, BootModePlacesTheInitrdAboveInitSize) {
  const auto image = BzImageBuilder().pref_address(2 * kMiB).init_size(0x500000).build();
  const auto initrd = test::pattern(5000, 0x31);
  GuardedRam ram(kRamSize);
  auto setup = prepare_boot(image, ram.span(),
                            {.cmdline = "", .initrd = initrd, .bzimage = BzImageMode::kBoot});
  ASSERT_TRUE(setup.ok()) << setup.error();
  EXPECT_EQ(setup->image.high, 7 * kMiB);
  EXPECT_EQ(setup->initrd, (kRamSize - initrd.size()) & ~(kPageSize - 1));
  EXPECT_GE(setup->initrd, setup->image.high);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kRamdiskImageAt), setup->initrd);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kRamdiskSizeAt), initrd.size());
}

// --- prepare_boot, kUnpack -----------------------------------------------------------------------

TEST(LoaderBzImage, UnpackModeLoadsTheElfInside) {
  for (const Method& m : kMethods) {
    SCOPED_TRACE(m.name);
    const auto elf = tiny_vmlinux();
    // pref_address and init_size would put the kernel elsewhere; the ELF's addresses rule.
    const auto image = BzImageBuilder()
                           .pref_address(8 * kMiB)
                           .init_size(0x10000)
                           .payload(payload_of(m, elf))
                           .build();
    GuardedRam ram(kRamSize);
    auto setup =
        prepare_boot(image, ram.span(), {.cmdline = "quiet", .bzimage = BzImageMode::kUnpack});
    ASSERT_TRUE(setup.ok()) << setup.error();
    EXPECT_EQ(setup->image.entry, kElfEntry);
    EXPECT_EQ(setup->state.rip, kElfEntry);
    EXPECT_EQ(setup->image.low, 0x200000u);
    EXPECT_EQ(setup->image.high, 0x403000u);
    ASSERT_EQ(setup->image.segments.size(), 2u);
    const auto text = test::pattern(0x1800, 1);
    const auto data = test::pattern(0x100, 2);
    const auto mem = ram.span();
    EXPECT_TRUE(std::equal(text.begin(), text.end(), at_gpa(ram, 0x200000)));
    EXPECT_EQ(mem[0x201800], std::byte{0});  // bss
    EXPECT_TRUE(std::equal(data.begin(), data.end(), at_gpa(ram, 0x400000)));
    EXPECT_EQ(mem[0x402fff], std::byte{0});
    EXPECT_EQ(mem[8 * kMiB], std::byte{0xcc});  // nothing at pref_address
    // boot_params is hvk's own: no image header is copied into it.
    EXPECT_EQ(zero_page<std::uint16_t>(ram, kVersionAt), 0x020f);
    EXPECT_EQ(zero_page<std::uint32_t>(ram, kInitSizeAt), 0u);
    EXPECT_EQ(zero_page<std::uint32_t>(ram, kCmdLinePtrAt), kCmdlineAddr);
    EXPECT_TRUE(ram.guards_intact());
  }
}

TEST(LoaderBzImage, UnpackModeIgnoresTheSetupHeaderLength) {
  // The header is not copied into boot_params in this mode, so its length does not matter.
  const auto image =
      BzImageBuilder().jump(0xff).payload(payload_of(kMethods[2], tiny_vmlinux())).build();
  GuardedRam ram(kRamSize);
  auto setup = prepare_boot(image, ram.span(), {.cmdline = "", .bzimage = BzImageMode::kUnpack});
  ASSERT_TRUE(setup.ok()) << setup.error();
  EXPECT_EQ(setup->image.entry, kElfEntry);
}

TEST(LoaderBzImage, UnpackModePlacesTheInitrdPageAlignedAboveTheImage) {
  const auto image = BzImageBuilder().payload(payload_of(kMethods[3], tiny_vmlinux())).build();
  const auto initrd = test::pattern(0x12345, 0x41);
  GuardedRam ram(kRamSize);
  auto setup = prepare_boot(image, ram.span(),
                            {.cmdline = "", .initrd = initrd, .bzimage = BzImageMode::kUnpack});
  ASSERT_TRUE(setup.ok()) << setup.error();
  const std::uint64_t at = setup->initrd;
  EXPECT_EQ(at % kPageSize, 0u);
  EXPECT_GE(at, setup->image.high);
  EXPECT_LE(at + initrd.size(), kRamSize);
  EXPECT_EQ(at, (kRamSize - initrd.size()) & ~(kPageSize - 1));  // as high as it goes
  EXPECT_TRUE(std::equal(initrd.begin(), initrd.end(), at_gpa(ram, at)));
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kRamdiskImageAt), at);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kRamdiskSizeAt), initrd.size());
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kExtRamdiskImageAt), 0u);
  EXPECT_EQ(zero_page<std::uint32_t>(ram, kExtRamdiskSizeAt), 0u);
  EXPECT_TRUE(ram.guards_intact());
}

TEST(LoaderBzImage, BothModesDescribeRamAbove4GiB) {
  constexpr std::uint64_t kHigh = 5 * kGiB;
  const auto image = BzImageBuilder().payload(payload_of(kMethods[0], tiny_vmlinux())).build();
  const auto map = e820_layout(kRamSize, kHigh);
  ASSERT_EQ(map.size(), 4u);
  for (BzImageMode mode : {BzImageMode::kBoot, BzImageMode::kUnpack}) {
    SCOPED_TRACE(mode == BzImageMode::kBoot ? "boot" : "unpack");
    const auto initrd = test::pattern(0x3000, 0x51);
    GuardedRam ram(kRamSize);
    auto setup = prepare_boot(
        image, ram.span(), {.cmdline = "", .initrd = initrd, .bzimage = mode, .high_ram = kHigh});
    ASSERT_TRUE(setup.ok()) << setup.error();
    EXPECT_EQ(setup->format, BootFormat::kBzImage);
    EXPECT_EQ(zero_page<std::uint8_t>(ram, 0x1e8), 4);  // e820_entries
    for (std::size_t i = 0; i < map.size(); ++i) {
      EXPECT_EQ(zero_page<std::uint64_t>(ram, 0x2d0 + 20 * i), map[i].addr) << i;
      EXPECT_EQ(zero_page<std::uint64_t>(ram, 0x2d0 + 20 * i + 8), map[i].size) << i;
      EXPECT_EQ(zero_page<std::uint32_t>(ram, 0x2d0 + 20 * i + 16), map[i].type) << i;
    }
    EXPECT_EQ(map[3], (E820Entry{kHighRamBase, kHigh, kE820Ram}));
    // The initrd stays in the low span, as high as it goes there.
    EXPECT_EQ(setup->initrd, (kRamSize - initrd.size()) & ~(kPageSize - 1));
    // The identity map reaches 9 GiB: PDPT entries 0-8.
    EXPECT_NE(ram.load<std::uint64_t>(kPdptAddr + std::uint64_t{8} * 8), 0u);
    EXPECT_EQ(ram.load<std::uint64_t>(kPdptAddr + std::uint64_t{9} * 8), 0u);
    EXPECT_TRUE(ram.guards_intact());
  }
}

// --- Errors --------------------------------------------------------------------------------------

TEST(LoaderBzImage, EveryErrorIsOneLineAndLeavesRamUntouched) {
  const auto elf = tiny_vmlinux();
  auto not_elf = elf;
  not_elf[EI_CLASS] = std::byte{ELFCLASS32};
  auto no_hdrs = BzImageBuilder().build();
  no_hdrs[kHeaderAt] = std::byte{'X'};  // then it is none of the formats hvk boots
  const auto whole = BzImageBuilder().build();
  struct Case {
    const char* needle;
    std::vector<std::byte> image;
    BzImageMode mode;
  } cases[] = {
      {"image: not an ELF64, bzImage or Multiboot image", no_hdrs, BzImageMode::kBoot},
      {"older than 2.12", BzImageBuilder().version(0x0200).build(), BzImageMode::kBoot},
      {"no 64-bit entry", BzImageBuilder().xloadflags(0).build(), BzImageMode::kUnpack},
      {"truncated", {whole.begin(), whole.begin() + 0x400}, BzImageMode::kBoot},
      {"too short", BzImageBuilder().jump(0x10).build(), BzImageMode::kUnpack},
      {"larger than boot_params.hdr", BzImageBuilder().jump(0x70).build(), BzImageMode::kBoot},
      {"the kernel needs", BzImageBuilder().pref_address(2 * kMiB + 8).build(), BzImageMode::kBoot},
      {"the kernel needs", BzImageBuilder().init_size(0xffffffff).build(), BzImageMode::kBoot},
      {"claims 0 bytes", BzImageBuilder().payload(with_trailer(xz(elf), 0)).build(),
       BzImageMode::kUnpack},
      // prepare_boot caps the unpacked size at the RAM size.
      {"at most 16777216",
       BzImageBuilder()
           .payload(with_trailer(xz(elf), static_cast<std::uint32_t>(kRamSize + 1)))
           .build(),
       BzImageMode::kUnpack},
      {"payload is corrupt",
       BzImageBuilder()
           .payload(with_trailer(test::bytes_of({0x1f, 0x8b, 8, 0, 1, 2}), 100))
           .build(),
       BzImageMode::kUnpack},
      {"--bzimage=boot",
       BzImageBuilder().payload(with_trailer(test::bytes_of({'B', 'Z', 'h', '9'}), 100)).build(),
       BzImageMode::kUnpack},
      {"needs more than 128 MiB", BzImageBuilder().payload(lzma_header_naming(0x4000'0000)).build(),
       BzImageMode::kUnpack},
      {"bzImage: the unpacked vmlinux: ELF: class 1 is not ELFCLASS64",
       BzImageBuilder().payload(payload_of(kMethods[0], not_elf)).build(), BzImageMode::kUnpack},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needle);
    GuardedRam ram(kRamSize);
    const auto before = ram.snapshot();
    auto r = prepare_boot(c.image, ram.span(), {.cmdline = "console=ttyS0", .bzimage = c.mode});
    expect_refused(r, c.needle);
    EXPECT_TRUE(ram.snapshot() == before) << "RAM was written before the refusal";
    EXPECT_TRUE(ram.guards_intact());
  }
  // The one refusal after the image is in RAM: an initrd that does not fit above it.
  GuardedRam ram(kRamSize);
  const std::vector<std::byte> initrd(kRamSize - 2 * kMiB, std::byte{0x5a});
  auto r = prepare_boot(BzImageBuilder().pref_address(2 * kMiB).build(), ram.span(),
                        {.cmdline = "", .initrd = initrd, .bzimage = BzImageMode::kBoot});
  expect_refused(r, "initrd: ");
  EXPECT_TRUE(ram.guards_intact());
}

}  // namespace
}  // namespace hvk::machine
