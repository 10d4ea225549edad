#include "machine/apic/apic_msrs.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "machine/apic/apic_page.h"
#include "machine/msi.h"
#include "machine/synic/auto_eoi.h"

namespace hvk::machine {

namespace {

constexpr std::uint64_t kApicBaseEnable = 1u << 11;
constexpr std::uint64_t kApicBaseX2apic = 1u << 10;

// x2APIC MSRs: 0x800 + register offset / 16.
constexpr std::uint32_t kX2apicTpr = 0x808;
constexpr std::uint32_t kX2apicEoi = 0x80B;
constexpr std::uint32_t kX2apicIcr = 0x830;

// xAPIC register page offsets.
constexpr unsigned kRegId = 0x20;
constexpr unsigned kRegTpr = 0x80;
constexpr unsigned kRegIsr = 0x100;
constexpr unsigned kRegIcrLow = 0x300;
constexpr unsigned kRegIcrHigh = 0x310;

// ICR low fields.
constexpr std::uint32_t kIcrDeliveryStatus = 1u << 12;
constexpr std::uint32_t kIcrLevelAssert = 1u << 14;
constexpr std::uint32_t kIcrLevelTrigger = 1u << 15;
constexpr std::uint32_t kIcrDestLogical = 1u << 11;
constexpr std::uint32_t kDeliveryInit = 5;
constexpr std::uint8_t kBroadcastId = 0xFF;

std::uint32_t reg(const kvm_lapic_state& s, unsigned offset) {
  return apic_register(s.regs, offset);
}
void set_reg(kvm_lapic_state& s, unsigned offset, std::uint32_t v) {
  std::memcpy(s.regs + offset, &v, sizeof v);
}

ApicMsi msi(std::uint8_t dest, bool logical, std::uint32_t low) {
  const std::uint64_t address = msi_address(dest, logical);
  // MSI data: vector 7:0, delivery mode 10:8, level 14, trigger mode 15, as in the ICR.
  const std::uint32_t data = low & (0xFFu | 0x700u | kIcrLevelAssert | kIcrLevelTrigger);
  return {address, data};
}

// Reads and writes the page behind the gate: nothing else writes it meanwhile.
bool rewrite_lapic(const ApicMsrContext& c, const std::function<void(kvm_lapic_state&)>& edit,
                   std::span<ApicMsi> then_send = {}) {
  bool ok = false;
  c.gate.closed(c.slot, c.kick, [&] {
    auto page = c.vcpu.lapic();
    if (!page) return;
    edit(*page);
    if (!c.vcpu.set_lapic(*page)) return;
    for (const ApicMsi& m : then_send) c.send(m);
    ok = true;
  });
  return ok;
}

std::optional<std::uint64_t> x2apic_access(const ApicMsrContext& c, hv::ApicAccess what,
                                           std::uint64_t value) {
  using hv::ApicAccess;
  switch (what) {
    case ApicAccess::kEoi:  // the x2APIC EOI takes 0 only; the TLFS value is ignored
      if (!c.vcpu.set_msr(kX2apicEoi, 0)) return std::nullopt;
      return 0;
    case ApicAccess::kWriteIcr:
    case ApicAccess::kWriteTpr:
      if (!c.vcpu.set_msr(what == ApicAccess::kWriteIcr ? kX2apicIcr : kX2apicTpr, value)) {
        return std::nullopt;  // what KVM refuses (reserved ICR bits) is the guest's #GP
      }
      return 0;
    case ApicAccess::kReadIcr:
    case ApicAccess::kReadTpr: {
      auto v = c.vcpu.msr(what == ApicAccess::kReadIcr ? kX2apicIcr : kX2apicTpr);
      if (!v) return std::nullopt;
      return *v;
    }
    case ApicAccess::kNone:
      break;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> xapic_access(const ApicMsrContext& c, hv::ApicAccess what,
                                          std::uint64_t value) {
  using hv::ApicAccess;
  switch (what) {
    case ApicAccess::kReadIcr:
    case ApicAccess::kReadTpr: {
      auto page = c.vcpu.lapic();
      if (!page) return std::nullopt;
      if (what == ApicAccess::kReadTpr) return reg(*page, kRegTpr) & 0xFFu;
      return std::uint64_t{reg(*page, kRegIcrHigh)} << 32 | reg(*page, kRegIcrLow);
    }
    case ApicAccess::kWriteTpr:
      if (!rewrite_lapic(c, [&](kvm_lapic_state& p) {
            set_reg(p, kRegTpr, static_cast<std::uint32_t>(value & 0xFF));
          })) {
        return std::nullopt;
      }
      return 0;
    case ApicAccess::kEoi:
      // The highest vector in service leaves ISR; KVM recomputes the processor priority from
      // the page. hvk's IOAPIC keeps no Remote IRR (devices/ioapic.h), so a level-triggered
      // vector needs no EOI message.
      if (!rewrite_lapic(c, [](kvm_lapic_state& p) {
            const std::uint8_t v = highest_in_apic_register(p.regs, kRegIsr);
            if (v == 0) return;
            const unsigned word = kRegIsr + (v / 32) * 16;
            set_reg(p, word, reg(p, word) & ~(1u << (v % 32)));
          })) {
        return std::nullopt;
      }
      return 0;
    case ApicAccess::kWriteIcr: {
      // The ICR keeps the value (delivery status idle: the MSIs are sent before the gate opens),
      // and the interrupt goes out as MSIs.
      auto page = c.vcpu.lapic();
      if (!page) return std::nullopt;
      const std::uint32_t self = reg(*page, kRegId) >> 24;
      std::vector<ApicMsi> msis(std::max<std::size_t>(c.apic_ids.size(), 1));
      msis.resize(xapic_icr_to_msis(value, self, c.apic_ids, msis));
      if (!rewrite_lapic(
              c,
              [&](kvm_lapic_state& p) {
                set_reg(p, kRegIcrLow,
                        static_cast<std::uint32_t>(value) & ~kIcrDeliveryStatus);
                set_reg(p, kRegIcrHigh, static_cast<std::uint32_t>(value >> 32) & 0xFF00'0000u);
              },
              msis)) {
        return std::nullopt;
      }
      return 0;
    }
    case ApicAccess::kNone:
      break;
  }
  return std::nullopt;
}

}  // namespace

std::size_t xapic_icr_to_msis(std::uint64_t icr, std::uint32_t self,
                              std::span<const std::uint32_t> apic_ids, std::span<ApicMsi> out) {
  const auto low = static_cast<std::uint32_t>(icr);
  const auto dest = static_cast<std::uint8_t>(icr >> 56);
  const std::uint32_t mode = (low >> 8) & 7;
  if (mode == kDeliveryInit && !(low & kIcrLevelAssert)) return 0;  // INIT level de-assert
  std::size_t n = 0;
  auto put = [&](std::uint8_t d, bool logical) {
    if (n < out.size()) out[n++] = msi(d, logical, low);
  };
  switch ((low >> 18) & 3) {
    case 0:  // no shorthand
      put(dest, (low & kIcrDestLogical) != 0);
      break;
    case 1:  // self
      if (self < kBroadcastId) put(static_cast<std::uint8_t>(self), false);
      break;
    case 2:  // all including self
      put(kBroadcastId, false);
      break;
    default:  // all excluding self; an xAPIC cannot address IDs of 255 and above
      for (std::uint32_t id : apic_ids) {
        if (id != self && id < kBroadcastId) put(static_cast<std::uint8_t>(id), false);
      }
      break;
  }
  return n;
}

std::optional<std::uint64_t> apic_msr_access(const ApicMsrContext& c, hv::ApicAccess what,
                                             std::uint64_t value) {
  const std::uint64_t base = c.vcpu.synced_sregs().apic_base;
  if (!(base & kApicBaseEnable)) return std::nullopt;
  return (base & kApicBaseX2apic) ? x2apic_access(c, what, value) : xapic_access(c, what, value);
}

}  // namespace hvk::machine
