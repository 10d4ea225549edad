// The Linux x86 "zero page" (struct boot_params) and kernel command line, written into guest RAM
// at the fixed addresses of layout.h, plus a builder for the setup_data chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "machine/loader/result.h"

namespace hvk::machine {

// Boot protocol version hvk reports in hdr.version (2.15).
inline constexpr std::uint16_t kBootProtocolVersion = 0x020f;
inline constexpr std::uint8_t kTypeOfLoaderUndefined = 0xff;  // "no assigned loader ID"

// Appends `struct setup_data` nodes ({u64 next; u32 type; u32 len; u8 data[len]}) to a singly
// linked list inside the setup_data area of guest RAM (layout.h), each node 8-byte aligned. The
// head goes into boot_params.hdr.setup_data. Use it before build_boot_params, e.g.:
//   SetupDataChain chain(ram);
//   if (auto dtb = chain.add(SETUP_DTB, blob); !dtb) return dtb.error();
//   build_boot_params(ram, {.cmdline = ..., .setup_data = chain.head()});
class SetupDataChain {
 public:
  explicit SetupDataChain(std::span<std::byte> ram);

  // Writes one node after the previous one and links it in; returns the node's GPA. Fails, with
  // nothing written, when the node would not fit in the area (or in RAM).
  Result<std::uint64_t> add(std::uint32_t type, std::span<const std::byte> payload);

  std::uint64_t head() const { return head_; }  // 0 while empty
  std::size_t count() const { return count_; }

 private:
  std::span<std::byte> ram_;
  std::uint64_t head_ = 0;
  std::uint64_t tail_ = 0;  // GPA of the last node, 0 while empty
  std::uint64_t cursor_;    // next free GPA
  std::size_t count_ = 0;
};

struct BootParamsOptions {
  std::string_view cmdline;      // at most kCmdlineMax - 1 bytes, no NUL inside
  std::uint64_t setup_data = 0;  // GPA of the first setup_data node, 0 for none
  std::uint64_t acpi_rsdp = 0;   // GPA of the ACPI RSDP (acpi_rsdp_addr), 0 for none
  std::uint64_t initrd = 0;      // GPA and size of the initial ramdisk, 0 for none
  std::uint64_t initrd_size = 0;
  // Bytes of RAM at kHighRamBase besides the span build_boot_params writes into (layout.h, "RAM
  // above 4 GiB"); described in the e820 table, never written.
  std::uint64_t high_ram = 0;
  // A bzImage's own setup header (from offset 0x1f1), copied into hdr before hvk's fields are
  // filled in, as the boot protocol asks of a boot loader. Empty for an ELF image.
  std::span<const std::byte> setup_header{};
};

// Checks the options against `ram_size` bytes of RAM at GPA 0 without writing anything (what
// build_boot_params checks); with high_ram, ram_size must be at most kLowRamMax.
Status check_boot_params(std::uint64_t ram_size, const BootParamsOptions& options);

// Writes the command line (NUL-terminated) at kCmdlineAddr and a fresh 4 KiB boot_params at
// kBootParamsAddr: e820 map e820_layout(ram.size(), options.high_ram) (layout.h), hdr.boot_flag
// 0xAA55, hdr.header "HdrS", hdr.version 2.15, hdr.type_of_loader 0xff, hdr.loadflags LOADED_HIGH,
// hdr.cmd_line_ptr (ext_cmd_line_ptr = high half = 0), hdr.cmdline_size, hdr.setup_data, the initrd
// (hdr.ramdisk_image/size and their ext_ high halves) and acpi_rsdp_addr; everything else zero
// (including the sentinel at 0x1ef) or, for a bzImage, its own header. On error nothing has been
// written.
Status build_boot_params(std::span<std::byte> ram, const BootParamsOptions& options);

}  // namespace hvk::machine
