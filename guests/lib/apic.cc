// Local APIC access.
#include <cstdint>

#include "guest/guest.h"

namespace guest {

namespace {
constexpr std::uint32_t kX2apicMsrBase = 0x800;
constexpr std::uint32_t kIcrDeliveryPending = 1u << 12;

// The address goes through a register so that every access is a plain register-indirect `mov`
// (the constant address would otherwise become a moffs `movabs`), the most ordinary form for
// KVM's MMIO instruction emulation.
volatile std::uint32_t* mmio(std::uint32_t reg) {
  std::uint64_t addr = kApicMmio + reg;
  asm("" : "+r"(addr));
  return reinterpret_cast<volatile std::uint32_t*>(addr);
}
}  // namespace

bool apic_x2apic_mode() {
  return (rdmsr(kMsrApicBase) & (1u << 10)) != 0;
}

std::uint32_t apic_read(std::uint32_t reg) {
  if (apic_x2apic_mode()) return static_cast<std::uint32_t>(rdmsr(kX2apicMsrBase + (reg >> 4)));
  return *mmio(reg);
}

void apic_write(std::uint32_t reg, std::uint32_t value) {
  if (apic_x2apic_mode()) {
    wrmsr(kX2apicMsrBase + (reg >> 4), value);
  } else {
    *mmio(reg) = value;
  }
}

std::uint32_t apic_id() {
  if (apic_x2apic_mode())
    return static_cast<std::uint32_t>(rdmsr(kX2apicMsrBase + (kApicRegId >> 4)));
  return *mmio(kApicRegId) >> 24;
}

void apic_sw_enable() {
  apic_write(kApicRegSvr, apic_read(kApicRegSvr) | 0x100 | 0xFF);
}

void apic_eoi() {
  apic_write(kApicRegEoi, 0);
}

bool apic_send_ipi(std::uint32_t icr_low, std::uint32_t dest_apic_id) {
  if (apic_x2apic_mode()) {
    // x2APIC: one 64-bit ICR write, no delivery status.
    wrmsr(kX2apicMsrBase + (kApicRegIcrLow >> 4), (std::uint64_t{dest_apic_id} << 32) | icr_low);
    return true;
  }
  auto wait = [] {
    for (std::uint32_t i = 0; i < 1'000'000; ++i) {
      if ((*mmio(kApicRegIcrLow) & kIcrDeliveryPending) == 0) return true;
      pause();
    }
    return false;
  };
  if (!wait()) return false;
  *mmio(kApicRegIcrHigh) = dest_apic_id << 24;
  *mmio(kApicRegIcrLow) = icr_low;
  return wait();
}

}  // namespace guest
