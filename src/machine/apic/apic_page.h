// The register page of KVM_GET_LAPIC / KVM_SET_LAPIC (kvm_lapic_state::regs, 1 KiB, the xAPIC
// MMIO layout): register offsets hvk reads, and the read itself.
#pragma once

#include <cstdint>
#include <cstring>

namespace hvk::machine {

inline constexpr unsigned kApicTpr = 0x80;
inline constexpr unsigned kApicSvr = 0xF0;
inline constexpr unsigned kApicIsr = 0x100;  // 256 bits, eight words 16 bytes apart
inline constexpr unsigned kApicIrr = 0x200;  // the same
inline constexpr unsigned kApicLvtt = 0x320;
inline constexpr unsigned kApicTmcct = 0x390;
inline constexpr unsigned kApicTdcr = 0x3E0;

// The 32-bit register at `offset` of the page `regs`.
inline std::uint32_t apic_register(const char* regs, unsigned offset) {
  std::uint32_t v = 0;
  std::memcpy(&v, regs + offset, sizeof v);
  return v;
}

}  // namespace hvk::machine
