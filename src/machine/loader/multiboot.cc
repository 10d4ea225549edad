#include "machine/loader/multiboot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "machine/loader/guest_ram.h"
#include "machine/loader/layout.h"
#include "machine/loader/multiboot_info.h"

namespace hvk::machine {
namespace {

constexpr std::uint32_t kKnownRequired = kMultibootPageAlign | kMultibootMemoryInfo;
constexpr std::uint32_t kRequiredBits = 0xffff;  // bits 0-15: the image cannot run without them

Error mb_error(const std::string& what) {
  return fail("Multiboot: " + what);
}

std::uint32_t word(std::span<const std::byte> image, std::uint64_t offset) {
  std::uint32_t v;
  std::memcpy(&v, image.data() + offset, sizeof v);
  return v;
}

// The bytes a header may occupy: the file's first 8192 at most.
std::uint64_t search_end(std::span<const std::byte> image) {
  return std::min<std::uint64_t>(image.size(), kMultibootSearchEnd);
}

bool checksum_ok(std::span<const std::byte> image, std::uint64_t offset) {
  // Unsigned arithmetic wraps modulo 2^32, as the specification's sum does.
  return word(image, offset) + word(image, offset + 4) + word(image, offset + 8) == 0;
}

template <typename Accept>
std::optional<std::uint64_t> scan(std::span<const std::byte> image, Accept accept) {
  const std::uint64_t end = search_end(image);
  for (std::uint64_t at = 0; end >= kMultibootHeaderSize && at <= end - kMultibootHeaderSize;
       at += 4) {
    if (word(image, at) == kMultibootHeaderMagic && accept(at)) return at;
  }
  return std::nullopt;
}

constexpr std::uint64_t align_up_page(std::uint64_t v) {
  return (v + kPageSize - 1) & ~(kPageSize - 1);
}

Result<PlannedImage> plan_kludge(std::span<const std::byte> image, const MultibootHeader& h,
                                 std::uint64_t ram_size) {
  if (h.header_addr < h.load_addr) {
    return mb_error(fmt::format("a.out kludge: header_addr {:#x} is below load_addr {:#x}",
                                h.header_addr, h.load_addr));
  }
  const std::uint64_t before_header = h.header_addr - h.load_addr;
  if (before_header > h.offset) {
    return mb_error(fmt::format(
        "a.out kludge: load_addr {:#x} is {:#x} bytes before the header, which is at file "
        "offset {:#x}",
        h.load_addr, before_header, h.offset));
  }
  const std::uint64_t text = h.offset - before_header;  // file offset of load_addr's byte
  std::uint64_t load_size = image.size() - text;        // text <= offset < image.size()
  if (h.load_end_addr != 0) {
    if (h.load_end_addr < h.load_addr) {
      return mb_error(fmt::format("a.out kludge: load_end_addr {:#x} is below load_addr {:#x}",
                                  h.load_end_addr, h.load_addr));
    }
    load_size = std::uint64_t{h.load_end_addr} - h.load_addr;
    if (!range_fits(text, load_size, image.size())) {
      return mb_error(fmt::format(
          "a.out kludge: [load_addr {:#x}, load_end_addr {:#x}) needs file bytes [{:#x}, {:#x}) "
          "of a {}-byte file",
          h.load_addr, h.load_end_addr, text, text + load_size, image.size()));
    }
  }
  // load_addr is 32-bit and load_size at most the file's size: no overflow.
  const std::uint64_t load_end = std::uint64_t{h.load_addr} + load_size;
  std::uint64_t end = load_end;
  if (h.bss_end_addr != 0) {
    if (h.bss_end_addr < load_end) {
      return mb_error(fmt::format("a.out kludge: bss_end_addr {:#x} is below the loaded end {:#x}",
                                  h.bss_end_addr, load_end));
    }
    end = h.bss_end_addr;
  }
  if (end == h.load_addr) return mb_error("a.out kludge: the image loads no bytes");
  const std::uint64_t size = end - h.load_addr;
  if (auto area = overlapped_fixed_area(h.load_addr, size)) {
    return mb_error(fmt::format(
        "a.out kludge: [{:#x}, {:#x}) overlaps the loader's {} [{:#x}, {:#x}); images must load "
        "at or above {:#x}",
        h.load_addr, end, area->name, area->base, area->end(), kImageMinAddr));
  }
  if (!range_fits(h.load_addr, size, ram_size)) {
    return mb_error(fmt::format("a.out kludge: [{:#x}, {:#x}) lies beyond the end of RAM ({:#x})",
                                h.load_addr, end, ram_size));
  }
  if (end > kMultibootAddressLimit) {
    return mb_error(fmt::format("a.out kludge: [{:#x}, {:#x}) ends above 4 GiB", h.load_addr, end));
  }
  if (h.entry_addr < h.load_addr || h.entry_addr >= end) {
    return mb_error(
        fmt::format("a.out kludge: entry_addr {:#x} is outside the image [{:#x}, {:#x})",
                    h.entry_addr, h.load_addr, end));
  }
  PlannedImage plan;
  plan.image.entry = h.entry_addr;
  plan.image.low = h.load_addr;
  plan.image.high = end;
  plan.image.segments.push_back({h.load_addr, load_size, size, 7});  // PF_R | PF_W | PF_X
  plan.file_offsets.push_back(text);
  return plan;
}

bool is_elf(std::span<const std::byte> image) {
  static constexpr unsigned char kMagic[] = {0x7f, 'E', 'L', 'F'};
  return image.size() >= sizeof kMagic && std::memcmp(image.data(), kMagic, sizeof kMagic) == 0;
}

}  // namespace

std::optional<std::uint64_t> find_multiboot_header(std::span<const std::byte> image) {
  return scan(image, [&](std::uint64_t at) { return checksum_ok(image, at); });
}

std::optional<std::uint64_t> find_multiboot_magic(std::span<const std::byte> image) {
  return scan(image, [](std::uint64_t) { return true; });
}

Result<MultibootHeader> parse_multiboot_header(std::span<const std::byte> image,
                                               std::uint64_t offset) {
  const std::uint64_t end = search_end(image);
  if (offset % 4 != 0 || !range_fits(offset, kMultibootHeaderSize, end) ||
      word(image, offset) != kMultibootHeaderMagic) {
    return mb_error(fmt::format("no header at file offset {:#x}", offset));
  }
  MultibootHeader h;
  h.offset = offset;
  h.flags = word(image, offset + 4);
  if (!checksum_ok(image, offset)) {
    return mb_error(fmt::format(
        "the header at file offset {:#x} has a bad checksum (magic + flags + checksum = {:#x}, "
        "must be 0)",
        offset, kMultibootHeaderMagic + h.flags + word(image, offset + 8)));
  }
  if ((h.flags & kMultibootVideoMode) != 0) {
    return mb_error(
        "the image requires a video mode (header flags bit 2); hvk has no display to give it");
  }
  if (const std::uint32_t unknown = h.flags & kRequiredBits & ~kKnownRequired; unknown != 0) {
    return mb_error(fmt::format(
        "the image requires features hvk does not know (header flags {:#x}, bits {:#x})", h.flags,
        unknown));
  }
  if ((h.flags & kMultibootAoutKludge) != 0) {
    if (!range_fits(offset, kMultibootKludgeHeaderSize, end)) {
      return mb_error(fmt::format(
          "the header at file offset {:#x} has load addresses (flags bit 16) that extend past "
          "the first {} bytes of the file",
          offset, end));
    }
    h.header_addr = word(image, offset + 12);
    h.load_addr = word(image, offset + 16);
    h.load_end_addr = word(image, offset + 20);
    h.bss_end_addr = word(image, offset + 24);
    h.entry_addr = word(image, offset + 28);
  }
  return h;
}

Result<PlannedImage> plan_multiboot_image(std::span<const std::byte> image,
                                          const MultibootHeader& header, std::uint64_t ram_size) {
  if ((header.flags & kMultibootAoutKludge) != 0) return plan_kludge(image, header, ram_size);
  if (!is_elf(image)) {
    return mb_error(
        "the image is not an ELF file and its header gives no load addresses (flags bit 16)");
  }
  auto plan = plan_elf(image, ram_size,
                       {.elf32 = true, .limit = kMultibootAddressLimit, .virtual_entry = true});
  if (!plan) return mb_error(plan.error());
  return plan;
}

Result<MultibootSetup> load_multiboot(std::span<const std::byte> image, std::span<std::byte> ram,
                                      const MultibootOptions& options) {
  if (ram.size() < kMinRamSize) {  // before the image, whose addresses a small RAM cannot hold
    return mb_error(fmt::format("RAM of {:#x} bytes is smaller than the minimum {:#x}", ram.size(),
                                kMinRamSize));
  }
  const auto offset = find_multiboot_header(image);
  if (!offset) {
    return mb_error(
        fmt::format("no header (magic {:#x} with a valid checksum) in the first {} bytes",
                    kMultibootHeaderMagic, kMultibootSearchEnd));
  }
  auto header = parse_multiboot_header(image, *offset);
  if (!header) return Error{header.error()};
  auto plan = plan_multiboot_image(image, *header, ram.size());
  if (!plan) return Error{plan.error()};

  MultibootInfoOptions info{.program = options.program,
                            .cmdline = options.cmdline,
                            .module = options.module,
                            .module_size = options.module_bytes.size(),
                            .module_name = options.module_name,
                            .high_ram = options.high_ram};
  if (options.module) {
    // The first page boundary above the image (the image ends at or below 4 GiB: no overflow).
    info.module_start = align_up_page(plan->image.high);
    const std::uint64_t top = std::min<std::uint64_t>(ram.size(), kMultibootAddressLimit);
    if (!range_fits(info.module_start, info.module_size, top)) {
      return mb_error(fmt::format(
          "the module ({} bytes) does not fit between the image's end {:#x} and {:#x}; give "
          "more --mem",
          info.module_size, info.module_start, top));
    }
  }
  if (auto ok = check_multiboot_info(ram.size(), info); !ok) return Error{ok.error()};

  // Everything is checked: from here on only an internal error can fail.
  if (auto st = write_planned_image(*plan, image, ram); !st) return Error{st.error()};
  if (options.module && !GuestRam(ram).write(info.module_start, options.module_bytes)) {
    return mb_error("internal error, module outside RAM");
  }
  if (auto st = write_multiboot_info(ram, info); !st) return Error{st.error()};
  if (auto st = write_gdt(ram, protected_code_segment()); !st) return Error{st.error()};

  MultibootSetup setup;
  setup.info = kMultibootInfoAddr;
  setup.module = options.module ? info.module_start : 0;
  setup.state = make_multiboot_state(plan->image.entry, kMultibootInfoAddr);
  setup.image = std::move(plan->image);
  return setup;
}

BootState make_multiboot_state(std::uint64_t entry, std::uint64_t info) {
  BootState st = make_protected_mode_state(entry);
  st.rax = kMultibootBootMagic;
  st.rbx = info;
  return st;
}

}  // namespace hvk::machine
