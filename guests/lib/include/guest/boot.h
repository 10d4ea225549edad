// The Linux boot_params ("zero page") hvk passes in RSI, and the command line it points to.
#pragma once

#include <cstdint>

namespace guest {

// Offsets in struct boot_params (Documentation/arch/x86/zero-page.rst).
inline constexpr std::uint32_t kBpExtCmdLinePtr = 0x0C8;  // u32, bits 63:32 of the pointer
inline constexpr std::uint32_t kBpE820Entries = 0x1E8;    // u8
inline constexpr std::uint32_t kBpCmdLinePtr = 0x228;     // u32 (hdr.cmd_line_ptr)
inline constexpr std::uint32_t kBpE820Table = 0x2D0;      // struct boot_e820_entry[128]
inline constexpr std::uint32_t kBpE820Max = 128;

struct [[gnu::packed]] E820Entry {
  std::uint64_t addr;
  std::uint64_t size;
  std::uint32_t type;  // 1 = usable RAM
};
static_assert(sizeof(E820Entry) == 20);

// The boot_params address the VP entered with (RSI at _start).
const std::uint8_t* boot_params();

// The NUL-terminated command line ("" when there is none).
const char* cmdline();
// Whether the command line holds `word` as a whole space-separated token, or as the key of a
// "word=value" token.
bool cmdline_has(const char* word);
// The value of the first "key=value" token (up to the next space or the end; not NUL-terminated
// at the space), or nullptr.
const char* cmdline_value(const char* key);
// Parses a decimal or 0x-prefixed hex number at s, stopping at a space or NUL. False if there is
// no number or junk follows it.
bool parse_u64(const char* s, std::uint64_t* out);

unsigned e820_count();
E820Entry e820_entry(unsigned i);

}  // namespace guest
