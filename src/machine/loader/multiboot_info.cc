#include "machine/loader/multiboot_info.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "machine/loader/guest_ram.h"

namespace hvk::machine {
namespace {

constexpr std::uint64_t k4GiB = 1ull << 32;
constexpr std::uint64_t kAreaSize = kMultibootInfoEnd - kMultibootInfoAddr;
static_assert(mbi::kSize <= mbi::kMmapAt - mbi::kInfoAddr);
static_assert(mbi::kModulesAt + mbi::kModuleEntrySize <= mbi::kLoaderNameAt);
static_assert(4 * mbi::kMmapEntrySize <= mbi::kModulesAt - mbi::kMmapAt,
              "e820_layout's at most four entries fit the memory map's space");
static_assert(mbi::kLoaderNameAt + mbi::kLoaderName.size() < mbi::kModuleStringAt);
static_assert(kMultibootInfoEnd <= k4GiB && kCmdlineAddr + kCmdlineMax <= k4GiB,
              "every pointer in the structure is 32-bit");

using Area = std::array<std::byte, kAreaSize>;

// Stores a little-endian u32 or u64 at GPA `gpa` inside the area (compile-time-known offsets).
template <typename T>
void put(Area& area, std::uint64_t gpa, T value) {
  std::memcpy(area.data() + (gpa - kMultibootInfoAddr), &value, sizeof value);
}

std::uint32_t u32(std::uint64_t v) {
  return static_cast<std::uint32_t>(v);
}

constexpr std::array<std::byte, 1> kSpace = {std::byte{' '}};

// The length of program + " " + cmdline (no space when either is empty).
std::uint64_t command_line_size(const MultibootInfoOptions& o) {
  const bool both = !o.program.empty() && !o.cmdline.empty();
  return std::uint64_t{o.program.size()} + (both ? 1 : 0) + o.cmdline.size();
}

// The size in KiB of the usable entry starting at `base`, 0 if there is none.
std::uint64_t usable_kib_at(const std::vector<E820Entry>& map, std::uint64_t base) {
  for (const E820Entry& e : map) {
    if (e.addr == base && e.type == kE820Ram) return e.size / 1024;
  }
  return 0;
}

}  // namespace

Status check_multiboot_info(std::uint64_t ram_size, const MultibootInfoOptions& options) {
  if (ram_size < kMinRamSize) {
    return fail(fmt::format("Multiboot: RAM of {:#x} bytes is smaller than the minimum {:#x}",
                            ram_size, kMinRamSize));
  }
  // Both are at most what a std::string_view holds: their sum (+1) cannot overflow 64 bits.
  if (const std::uint64_t size = command_line_size(options); size >= kCmdlineMax) {
    return fail(
        fmt::format("Multiboot: command line (the image's name and --cmdline) is {} bytes, "
                    "the maximum is {}",
                    size, kCmdlineMax - 1));
  }
  if (options.cmdline.find('\0') != std::string_view::npos ||
      options.program.find('\0') != std::string_view::npos) {
    return fail("Multiboot: command line contains a NUL byte");
  }
  if (options.module_name.size() >= mbi::kModuleStringMax) {
    return fail(fmt::format("Multiboot: module name is {} bytes, the maximum is {}",
                            options.module_name.size(), mbi::kModuleStringMax - 1));
  }
  if (options.module_name.find('\0') != std::string_view::npos) {
    return fail("Multiboot: module name contains a NUL byte");
  }
  if (options.module && (!range_fits(options.module_start, options.module_size, ram_size) ||
                         !range_fits(options.module_start, options.module_size, k4GiB))) {
    return fail(fmt::format("Multiboot: module [{:#x}, +{:#x}) is not in RAM below 4 GiB",
                            options.module_start, options.module_size));
  }
  // The low span would overlap the MMIO hole, or the RAM at 4 GiB.
  if (options.high_ram != 0 && ram_size > kLowRamMax) {
    return fail(fmt::format(
        "Multiboot: RAM of {:#x} bytes at 0 and more at {:#x}: at most {:#x} bytes go below the "
        "32-bit MMIO hole",
        ram_size, kHighRamBase, kLowRamMax));
  }
  if (e820_layout(ram_size, options.high_ram).size() * mbi::kMmapEntrySize >
      mbi::kModulesAt - mbi::kMmapAt) {
    return fail("Multiboot: too many memory map entries");
  }
  return {};
}

Status write_multiboot_info(std::span<std::byte> ram, const MultibootInfoOptions& options) {
  if (auto ok = check_multiboot_info(ram.size(), options); !ok) return ok;

  Area area{};
  const std::vector<E820Entry> map = e820_layout(ram.size(), options.high_ram);
  put(area, mbi::kInfoAddr + mbi::kFlags, mbi::kFlagsHvk);
  put(area, mbi::kInfoAddr + mbi::kMemLower, u32(usable_kib_at(map, 0)));
  put(area, mbi::kInfoAddr + mbi::kMemUpper,
      u32(std::min<std::uint64_t>(usable_kib_at(map, kLowMemoryEnd), UINT32_MAX)));
  put(area, mbi::kInfoAddr + mbi::kCmdline, u32(kCmdlineAddr));
  put(area, mbi::kInfoAddr + mbi::kModsCount, u32(options.module ? 1 : 0));
  put(area, mbi::kInfoAddr + mbi::kModsAddr, u32(mbi::kModulesAt));
  put(area, mbi::kInfoAddr + mbi::kMmapLength, u32(map.size() * mbi::kMmapEntrySize));
  put(area, mbi::kInfoAddr + mbi::kMmapAddr, u32(mbi::kMmapAt));
  put(area, mbi::kInfoAddr + mbi::kBootLoaderName, u32(mbi::kLoaderNameAt));

  for (std::size_t i = 0; i < map.size(); ++i) {
    const std::uint64_t entry = mbi::kMmapAt + i * mbi::kMmapEntrySize;
    put(area, entry, mbi::kMmapEntryRest);
    put(area, entry + 4, map[i].addr);
    put(area, entry + 12, map[i].size);
    put(area, entry + 20, map[i].type);
  }
  if (options.module) {
    // check_multiboot_info put the module below 4 GiB: its end fits 32 bits.
    put(area, mbi::kModulesAt, u32(options.module_start));
    put(area, mbi::kModulesAt + 4, u32(options.module_start + options.module_size));
    put(area, mbi::kModulesAt + 8, u32(mbi::kModuleStringAt));
  }
  std::memcpy(area.data() + (mbi::kLoaderNameAt - kMultibootInfoAddr), mbi::kLoaderName.data(),
              mbi::kLoaderName.size());
  if (!options.module_name.empty()) {  // an empty view may hold no pointer at all
    std::memcpy(area.data() + (mbi::kModuleStringAt - kMultibootInfoAddr),
                options.module_name.data(), options.module_name.size());
  }

  // RAM is at least kMinRamSize, so both ranges are inside it; GuestRam checks anyway.
  GuestRam guest(ram);
  if (!guest.contains(kCmdlineAddr, kCmdlineMax) ||
      !guest.contains(kMultibootInfoAddr, kAreaSize)) {
    return fail("Multiboot: internal error, the information area is outside RAM");
  }
  (void)guest.fill(kCmdlineAddr, kCmdlineMax, std::byte{0});
  // program [space] cmdline, then the NUL the cleared buffer already holds.
  const std::uint64_t cmdline_at =
      kCmdlineAddr + command_line_size(options) - options.cmdline.size();
  (void)guest.write(kCmdlineAddr, std::as_bytes(std::span(options.program)));
  if (cmdline_at != kCmdlineAddr + options.program.size()) {
    (void)guest.write(kCmdlineAddr + options.program.size(), kSpace);
  }
  (void)guest.write(cmdline_at, std::as_bytes(std::span(options.cmdline)));
  (void)guest.write(kMultibootInfoAddr, area);
  return {};
}

}  // namespace hvk::machine
