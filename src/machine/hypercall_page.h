// The code hvk writes into a guest's hypercall page (docs/guest-abi.md): three entries, for
// hypercalls, VtlCall and VtlReturn. Each runs unchanged in 64-bit, 32-bit and 16-bit code: a CPL
// check that raises #UD at CPL > 0, then `out imm8, al`, which exits to hvk with every register
// intact, then `ret`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

namespace hvk::machine {

inline constexpr std::uint16_t kHypercallPort = 0xF5;
inline constexpr std::uint16_t kVtlCallPort = 0xF6;
inline constexpr std::uint16_t kVtlReturnPort = 0xF7;

namespace hypercall_page {
// Entry offsets in the page (HvRegisterVsmCodePageOffsets reports the VTL ones).
inline constexpr std::uint64_t kHypercallEntry = 0x00;
inline constexpr std::uint64_t kVtlCallEntry = 0x20;
inline constexpr std::uint64_t kVtlReturnEntry = 0x40;

// Offsets inside an entry.
inline constexpr std::uint64_t kOutOffset = 0x08;    // the exiting `out`
inline constexpr std::uint64_t kRetOffset = 0x0A;    // `ret`: where the caller resumes
inline constexpr std::uint64_t kUdOffset = 0x0B;     // `ud2`: where a refused caller is sent
inline constexpr std::uint64_t kRetryOffset = 0x0D;  // `jmp` back to the `out`: rep continuation
inline constexpr std::uint64_t kEntrySize = 0x0F;

constexpr std::array<std::uint8_t, kEntrySize> entry_code(std::uint16_t port) {
  return {
      0x50,        // 00: push rax
      0x8C, 0xC8,  // 01: mov eax, cs
      0xA8, 0x03,  // 03: test al, 3   (CPL from CS.RPL)
      0x58,        // 05: pop rax      (flags kept)
      0x75, 0x03,  // 06: jnz ud       (CPL > 0: #UD, as the TLFS requires)
      0xE6, static_cast<std::uint8_t>(port),  // 08: out imm8, al (exits to hvk)
      0xC3,                                   // 0a: ret
      0x0F, 0x0B,                             // 0b: ud2
      0xEB, 0xF9,                             // 0d: jmp 08       (re-execute after an early return)
  };
}

inline constexpr std::size_t kPageBytes = 4096;

// The whole page as hvk fills it: the three entries, int3 (0xCC) everywhere else.
constexpr std::array<std::uint8_t, kPageBytes> page_image() {
  std::array<std::uint8_t, kPageBytes> page{};
  for (auto& b : page) b = 0xCC;
  const std::pair<std::uint64_t, std::uint16_t> entries[] = {{kHypercallEntry, kHypercallPort},
                                                             {kVtlCallEntry, kVtlCallPort},
                                                             {kVtlReturnEntry, kVtlReturnPort}};
  for (auto [offset, port] : entries) {
    const auto code = entry_code(port);
    for (std::size_t i = 0; i < code.size(); ++i) page[offset + i] = code[i];
  }
  return page;
}

// Puts the page image at `page`, writing only the bytes that differ: a page that already holds
// the code is not written at all. Other VPs may be calling through the page while the HYPERCALL
// MSR is written again with the same GPA; filling the page with int3 first and copying the
// entries in after showed them int3 for a moment (#BP in the middle of a hypercall).
inline void install(std::span<std::byte> page) {
  constexpr auto image = page_image();
  for (std::size_t i = 0; i < page.size() && i < image.size(); ++i) {
    const auto b = static_cast<std::byte>(image[i]);
    if (page[i] != b) page[i] = b;
  }
}

// The VsmCodePageOffsets register value: VtlCallOffset 11:0, VtlReturnOffset 23:12.
inline constexpr std::uint64_t kVsmCodePageOffsets = kVtlCallEntry | (kVtlReturnEntry << 12);

// Which entry a VP stopped in, from the page offset of its RIP at the exit (at the `out`, or past
// it on hosts that advance RIP before the exit); -1 outside every entry.
constexpr std::int64_t entry_of(std::uint64_t page_offset) {
  for (std::uint64_t e : {kHypercallEntry, kVtlCallEntry, kVtlReturnEntry}) {
    if (page_offset == e + kOutOffset || page_offset == e + kRetOffset) {
      return static_cast<std::int64_t>(e);
    }
  }
  return -1;
}

// The address of the entry a VP stopped in (see entry_of), from its RIP; nullopt when the `out`
// was not one of the page's.
constexpr std::optional<std::uint64_t> entry_address(std::uint64_t rip) {
  const std::int64_t entry = entry_of(rip & 0xFFF);
  if (entry < 0) return std::nullopt;
  return (rip & ~0xFFFull) + static_cast<std::uint64_t>(entry);
}
}  // namespace hypercall_page

}  // namespace hvk::machine
