// The x86 MSI address format as KVM_SIGNAL_MSI takes it: 0xFEE00000, the 8-bit destination in
// bits 19:12, logical destination mode in bit 2. The one place the machine's interrupt sources
// (the IOAPIC, SynIC delivery, the APIC access MSRs) spell it.
#pragma once

#include <cstdint>

namespace hvk::machine {

constexpr std::uint64_t msi_address(std::uint8_t dest, bool logical) {
  constexpr std::uint64_t kBase = 0xFEE0'0000;
  constexpr std::uint64_t kDestModeLogical = std::uint64_t{1} << 2;
  return kBase | (std::uint64_t{dest} << 12) | (logical ? kDestModeLogical : 0);
}

}  // namespace hvk::machine
