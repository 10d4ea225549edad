// The ACPI tables hvk hands a guest: RSDP, XSDT, FADT (hardware-reduced ACPI), DSDT (compiled
// from dsdt.asl) and MADT (one local APIC entry per VP, x2APIC entries for APIC IDs from 255 on,
// the IOAPIC). A kernel finds its processors, its interrupt controller and how to reset and power
// off the machine there (docs/guest-abi.md, "Platform").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "machine/loader/result.h"

namespace hvk::machine {

struct AcpiPlatform {
  std::span<const std::uint32_t> apic_ids;  // one per VP, in VP order (ACPI processor UID = index)
  std::uint64_t ioapic_address = 0;
  std::uint8_t ioapic_id = 0;
  std::uint16_t reset_port = 0;  // FADT RESET_REG: an 8-bit I/O port...
  std::uint8_t reset_value = 0;  // ...and the value written to it
  std::uint16_t sleep_control_port = 0;  // FADT SLEEP_CONTROL_REG (8-bit I/O port)
  std::uint16_t sleep_status_port = 0;   // FADT SLEEP_STATUS_REG (8-bit I/O port)
};

struct AcpiTables {
  std::vector<std::byte> bytes;  // to be copied to guest-physical `base`
  std::uint64_t rsdp = 0;        // GPA of the RSDP (== base)
};

// Lays the tables out from `base` (16-byte aligned) in at most `max_size` bytes; fails with one
// line when they do not fit or the platform is empty.
Result<AcpiTables> build_acpi_tables(std::uint64_t base, std::uint64_t max_size,
                                     const AcpiPlatform& platform);

// The value a guest writes to the sleep control register to enter S5 (SLP_TYP from the DSDT's
// _S5 in bits 4:2, SLP_EN in bit 5).
bool is_acpi_power_off(std::uint8_t sleep_control_value);

}  // namespace hvk::machine
