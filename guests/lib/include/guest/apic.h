// The local APIC: xAPIC MMIO at 0xFEE00000 (identity-mapped), or the x2APIC MSRs when the APIC
// base MSR says x2APIC mode is on.
#pragma once

#include <cstdint>

namespace guest {

inline constexpr std::uint64_t kApicMmio = 0xFEE00000;
inline constexpr std::uint32_t kApicRegId = 0x020;
inline constexpr std::uint32_t kApicRegEoi = 0x0B0;
inline constexpr std::uint32_t kApicRegSvr = 0x0F0;
inline constexpr std::uint32_t kApicRegIcrLow = 0x300;
inline constexpr std::uint32_t kApicRegIcrHigh = 0x310;

// ICR low values: INIT (level assert) and SIPI (| vector), physical destination (ICR high), or
// with the shorthand "all excluding self" (bits 19:18 = 3).
inline constexpr std::uint32_t kIcrInit = 0x00004500;
inline constexpr std::uint32_t kIcrSipi = 0x00004600;
inline constexpr std::uint32_t kIcrAllButSelf = 0x000C0000;
inline constexpr std::uint32_t kIcrInitAllButSelf = kIcrInit | kIcrAllButSelf;
inline constexpr std::uint32_t kIcrSipiAllButSelf = kIcrSipi | kIcrAllButSelf;

bool apic_x2apic_mode();
std::uint32_t apic_read(std::uint32_t reg);
void apic_write(std::uint32_t reg, std::uint32_t value);
std::uint32_t apic_id();
// Sets the software-enable bit (SVR bit 8) with spurious vector 0xFF.
void apic_sw_enable();
// Waits for the ICR's delivery status to clear (bounded), writes ICR high then low, waits again.
// Returns false if the delivery status never cleared.
bool apic_send_ipi(std::uint32_t icr_low, std::uint32_t dest_apic_id = 0);
void apic_eoi();

}  // namespace guest
