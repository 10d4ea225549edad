// The code hvk writes into a guest's hypercall page (docs/guest-abi.md). It runs unchanged in
// 64-bit, 32-bit and 16-bit code: a CPL check that raises #UD at CPL > 0, then `out 0xf5, al`,
// which exits to hvk with every register intact, then `ret`.
#pragma once

#include <array>
#include <cstdint>

namespace hvk::machine {

inline constexpr std::uint16_t kHypercallPort = 0xF5;

namespace hypercall_page {
inline constexpr std::uint64_t kOutOffset = 0x08;    // the exiting `out`
inline constexpr std::uint64_t kUdOffset = 0x0B;     // `ud2`: where a refused caller is sent
inline constexpr std::uint64_t kRetryOffset = 0x0D;  // `jmp` back to the `out`: rep continuation

inline constexpr std::array<std::uint8_t, 15> kCode = {
    0x50,              // 00: push rax
    0x8C, 0xC8,        // 01: mov eax, cs
    0xA8, 0x03,        // 03: test al, 3        (CPL from CS.RPL)
    0x58,              // 05: pop rax           (flags kept)
    0x75, 0x03,        // 06: jnz ud            (CPL > 0: #UD, as the TLFS requires)
    0xE6, kHypercallPort,  // 08: out 0xf5, al  (the hypercall: exits to hvk)
    0xC3,              // 0a: ret
    0x0F, 0x0B,        // 0b: ud2
    0xEB, 0xF9,        // 0d: jmp 08            (re-execute after a rep call's early return)
};
static_assert(kCode[kOutOffset] == 0xE6 && kCode[kUdOffset] == 0x0F && kCode[kRetryOffset] == 0xEB);
}  // namespace hypercall_page

}  // namespace hvk::machine
