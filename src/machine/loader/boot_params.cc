#include "machine/loader/boot_params.h"

#include <asm/bootparam.h>
#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "machine/loader/guest_ram.h"
#include "machine/loader/layout.h"

namespace hvk::machine {
namespace {

// The uapi header's layout is the ABI; pin the offsets this file relies on.
static_assert(sizeof(boot_params) == kBootParamsSize);
static_assert(offsetof(boot_params, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(boot_params, e820_entries) == 0x1e8);
static_assert(offsetof(boot_params, sentinel) == 0x1ef);
static_assert(offsetof(boot_params, hdr) == 0x1f1);
static_assert(offsetof(boot_params, hdr.boot_flag) == 0x1fe);
static_assert(offsetof(boot_params, hdr.header) == 0x202);
static_assert(offsetof(boot_params, hdr.version) == 0x206);
static_assert(offsetof(boot_params, hdr.type_of_loader) == 0x210);
static_assert(offsetof(boot_params, hdr.loadflags) == 0x211);
static_assert(offsetof(boot_params, hdr.cmd_line_ptr) == 0x228);
static_assert(offsetof(boot_params, hdr.cmdline_size) == 0x238);
static_assert(offsetof(boot_params, hdr.setup_data) == 0x250);
static_assert(offsetof(boot_params, e820_table) == 0x2d0);
static_assert(offsetof(boot_params, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(boot_params, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(boot_params, hdr.ramdisk_image) == 0x218);
static_assert(sizeof(boot_e820_entry) == 20);
static_assert(sizeof(setup_data) == 16);

constexpr std::uint16_t kBootFlag = 0xAA55;
constexpr std::uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
static_assert(kCmdlineAddr + kCmdlineMax <= UINT32_MAX, "cmd_line_ptr high half is assumed 0");

constexpr std::uint64_t align_up8(std::uint64_t v) {
  return (v + 7) & ~std::uint64_t{7};
}

}  // namespace

// --- setup_data ---------------------------------------------------------------------------------

SetupDataChain::SetupDataChain(std::span<std::byte> ram) : ram_(ram), cursor_(kSetupDataAddr) {}

Result<std::uint64_t> SetupDataChain::add(std::uint32_t type, std::span<const std::byte> payload) {
  if (payload.size() > UINT32_MAX) {
    return fail(fmt::format("setup_data: payload of {} bytes does not fit the 32-bit len field",
                            payload.size()));
  }
  // cursor_ <= kSetupDataEnd and the payload is < 4 GiB, so none of this can overflow.
  const std::uint64_t node = cursor_;
  const std::uint64_t node_size = sizeof(setup_data) + std::uint64_t{payload.size()};
  if (!range_fits(node - kSetupDataAddr, node_size, kSetupDataEnd - kSetupDataAddr)) {
    return fail(
        fmt::format("setup_data: node of type {} ({} bytes) does not fit in the setup_data "
                    "area [{:#x}, {:#x}); {} bytes left",
                    type, node_size, kSetupDataAddr, kSetupDataEnd, kSetupDataEnd - node));
  }
  GuestRam guest(ram_);
  if (!guest.contains(node, node_size)) {
    return fail(fmt::format("setup_data: node at {:#x} ({} bytes) lies beyond the end of RAM", node,
                            node_size));
  }
  setup_data header{};
  header.next = 0;
  header.type = type;
  header.len = static_cast<std::uint32_t>(payload.size());
  bool ok = guest.store(node, header) && guest.write(node + sizeof(setup_data), payload);
  if (ok && tail_ != 0) ok = guest.store<std::uint64_t>(tail_ + offsetof(setup_data, next), node);
  if (!ok) return fail("setup_data: internal error, write outside RAM");
  if (tail_ == 0) head_ = node;
  tail_ = node;
  cursor_ = align_up8(node + node_size);
  ++count_;
  return node;
}

// --- boot_params --------------------------------------------------------------------------------

Status check_boot_params(std::uint64_t ram_size, const BootParamsOptions& options) {
  if (ram_size < kMinRamSize) {
    return fail(fmt::format("boot_params: RAM of {:#x} bytes is smaller than the minimum {:#x}",
                            ram_size, kMinRamSize));
  }
  if (options.cmdline.size() >= kCmdlineMax) {
    return fail(fmt::format("boot_params: command line is {} bytes, the maximum is {}",
                            options.cmdline.size(), kCmdlineMax - 1));
  }
  if (options.cmdline.find('\0') != std::string_view::npos) {
    return fail("boot_params: command line contains a NUL byte");
  }
  if (options.setup_data != 0 && !range_fits(options.setup_data, sizeof(setup_data), ram_size)) {
    return fail(
        fmt::format("boot_params: setup_data pointer {:#x} is not in RAM", options.setup_data));
  }
  if (options.initrd_size != 0 && !range_fits(options.initrd, options.initrd_size, ram_size)) {
    return fail(fmt::format("boot_params: initrd [{:#x}, +{:#x}) is not in RAM", options.initrd,
                            options.initrd_size));
  }
  if (options.setup_header.size() > sizeof(setup_header)) {
    return fail("boot_params: the image's setup header is larger than boot_params.hdr");
  }
  // The low span would overlap the MMIO hole, or the RAM at 4 GiB.
  if (options.high_ram != 0 && ram_size > kLowRamMax) {
    return fail(fmt::format(
        "boot_params: RAM of {:#x} bytes at 0 and more at {:#x}: at most {:#x} bytes go below the "
        "32-bit MMIO hole",
        ram_size, kHighRamBase, kLowRamMax));
  }
  if (e820_layout(ram_size, options.high_ram).size() > E820_MAX_ENTRIES_ZEROPAGE) {
    return fail("boot_params: too many e820 entries");
  }
  return {};
}

Status build_boot_params(std::span<std::byte> ram, const BootParamsOptions& options) {
  if (auto ok = check_boot_params(ram.size(), options); !ok) return ok;
  GuestRam guest(ram);

  // Command line: the whole reserved buffer is cleared, then the text and its NUL go in.
  if (!guest.fill(kCmdlineAddr, kCmdlineMax, std::byte{0}) ||
      !guest.write(kCmdlineAddr, std::as_bytes(std::span(options.cmdline)))) {
    return fail("boot_params: command line buffer is outside RAM");
  }

  boot_params bp;
  std::memset(&bp, 0, sizeof(bp));
  const std::vector<E820Entry> map = e820_layout(ram.size(), options.high_ram);
  bp.e820_entries = static_cast<std::uint8_t>(map.size());
  for (std::size_t i = 0; i < map.size(); ++i) {
    bp.e820_table[i].addr = map[i].addr;
    bp.e820_table[i].size = map[i].size;
    bp.e820_table[i].type = map[i].type;
  }
  if (!options.setup_header.empty()) {
    std::memcpy(&bp.hdr, options.setup_header.data(), options.setup_header.size());
  }
  bp.hdr.boot_flag = kBootFlag;
  bp.hdr.header = kHdrSMagic;
  if (options.setup_header.empty()) bp.hdr.version = kBootProtocolVersion;  // else the kernel's
  bp.hdr.type_of_loader = kTypeOfLoaderUndefined;
  bp.hdr.loadflags = static_cast<std::uint8_t>(bp.hdr.loadflags | LOADED_HIGH);
  bp.hdr.cmd_line_ptr = static_cast<std::uint32_t>(kCmdlineAddr);
  bp.ext_cmd_line_ptr = 0;
  bp.hdr.cmdline_size = static_cast<std::uint32_t>(kCmdlineMax - 1);
  bp.hdr.setup_data = options.setup_data;
  bp.hdr.ramdisk_image = static_cast<std::uint32_t>(options.initrd);
  bp.ext_ramdisk_image = static_cast<std::uint32_t>(options.initrd >> 32);
  bp.hdr.ramdisk_size = static_cast<std::uint32_t>(options.initrd_size);
  bp.ext_ramdisk_size = static_cast<std::uint32_t>(options.initrd_size >> 32);
  bp.acpi_rsdp_addr = options.acpi_rsdp;
  if (!guest.store(kBootParamsAddr, bp)) return fail("boot_params: zero page is outside RAM");
  return {};
}

}  // namespace hvk::machine
