// The APIC access MSRs (docs/conformance.md Y29): HV_X64_MSR_EOI, ICR and TPR on the boot VP's
// own local APIC, in xAPIC mode and, where the CPU has one, in x2APIC mode. The xAPIC checks run
// while an AP has not been started yet: their EOI and TPR writes kick every VP (the LAPIC gate),
// and table R, which follows, shows that the kicks did not make that AP look started. The x2APIC
// checks run last: the boot VP stays in x2APIC mode.
#include "suites.h"

namespace conf {

namespace {

constexpr std::uint32_t kRegTpr = 0x080;
constexpr std::uint32_t kRegIsr = 0x100;
constexpr std::uint8_t kVector = 0x5A;
constexpr std::uint64_t kIcrSelf = std::uint64_t{1} << 18;  // shorthand 01: self
constexpr std::uint64_t kIcrDeliveryStatus = std::uint64_t{1} << 12;
constexpr std::uint64_t kX2apicEnable = std::uint64_t{1} << 10;

volatile unsigned g_hits;

bool in_service(std::uint8_t v) {
  return (apic_read(kRegIsr + (v / 32) * 16) & (1u << (v % 32))) != 0;
}

volatile bool g_in_service_in_handler;

// No EOI here: the caller sends it.
void on_vector(ExceptionFrame*) {
  g_hits = g_hits + 1;
  g_in_service_in_handler = in_service(kVector);
}

// Sends the self IPI `send` does with interrupts disabled, then takes it; returns how many times
// the handler ran (0 if it did not within about 100M TSC cycles).
template <typename Send>
unsigned take_self_ipi(Send send) {
  g_hits = 0;
  g_in_service_in_handler = false;
  cli();
  send();
  asm volatile("sti; nop" ::: "memory");
  const std::uint64_t until = rdtsc() + 100'000'000;
  while (g_hits == 0 && rdtsc() < until) pause();
  cli();
  return g_hits;
}

void checks(const char* mode) {
  std::uint64_t v = ~0ull;
  int fault = -2;
  std::uint32_t apic_tpr = 0;
  if (!skipping()) {
    fault = wrmsr_safe(kMsrTpr, 0x20);
    if (fault < 0) fault = rdmsr_safe(kMsrTpr, &v);
    apic_tpr = apic_read(kRegTpr) & 0xFF;
  }
  CHECK(fault < 0 && v == 0x20 && apic_tpr == 0x20,
        "Y29: %s: a TPR written through HV_X64_MSR_TPR reads back through it (0x%lx) and through "
        "the APIC (0x%x)",
        mode, v, apic_tpr);
  if (!skipping()) fault = wrmsr_safe(kMsrTpr, 0x120);
  CHECK(fault == 13, "Y29: %s: HV_X64_MSR_TPR bits 63:8 are reserved (got %s)", mode,
        fault_name(fault));
  if (!skipping()) wrmsr(kMsrTpr, 0);

  if (!skipping()) fault = rdmsr_safe(kMsrEoi, &v);
  CHECK(fault == 13, "Y29: %s: HV_X64_MSR_EOI is write-only (a read got %s)", mode,
        fault_name(fault));
  if (!skipping()) fault = wrmsr_safe(kMsrEoi, std::uint64_t{1} << 32);
  CHECK(fault == 13, "Y29: %s: HV_X64_MSR_EOI bits 63:32 are reserved (got %s)", mode,
        fault_name(fault));

  // Whether this host's APIC shows a vector in service at all: a self IPI through the APIC's own
  // ICR, its handler looking at ISR, ended by the APIC's own EOI (PVM's KVM shows none).
  bool isr_shown = false;
  if (!skipping()) {
    (void)take_self_ipi([] { apic_send_ipi(static_cast<std::uint32_t>(kIcrSelf | kVector)); });
    isr_shown = g_in_service_in_handler;
    apic_eoi();
  }

  // A fixed self IPI through the ICR MSR: taken once, in service until the EOI MSR ends it.
  const std::uint64_t icr = kIcrSelf | kVector;
  std::uint64_t icr_read = 0;
  bool held = false, cleared = false;
  unsigned hits = 0;
  int eoi_fault = -2;
  if (!skipping()) {
    hits = take_self_ipi([&] {
      fault = wrmsr_safe(kMsrIcr, icr);
      (void)rdmsr_safe(kMsrIcr, &icr_read);
    });
    held = in_service(kVector);
    eoi_fault = wrmsr_safe(kMsrEoi, 0);
    cleared = !in_service(kVector);
  }
  CHECK(fault < 0 && hits == 1, "Y29: %s: a self IPI written to HV_X64_MSR_ICR arrives once (%u)",
        mode, hits);
  CHECK((icr_read & ~kIcrDeliveryStatus) == icr,
        "Y29: %s: HV_X64_MSR_ICR reads back what was written (0x%lx)", mode, icr_read);
  CHECK(eoi_fault < 0, "Y29: %s: writing HV_X64_MSR_EOI with an interrupt in service (%s)", mode,
        fault_name(eoi_fault));
  SkipScope s(skipping() || isr_shown
                  ? nullptr
                  : "this host's APIC shows no vector in service, even in a handler of an IPI "
                    "sent through the APIC itself");
  CHECK(held && cleared,
        "Y29: %s: the vector stays in service until HV_X64_MSR_EOI ends it (in service before: "
        "%d, after: %d)",
        mode, held, !cleared);
}

}  // namespace

void test_apic_msrs_xapic() {
  if (!skipping()) {
    set_interrupt_handler(kVector, on_vector);
    apic_sw_enable();
  }
  const bool xapic = skipping() || !apic_x2apic_mode();
  SkipScope s(xapic ? nullptr : "the boot VP's APIC is already in x2APIC mode");
  checks("xAPIC");
}

void test_apic_msrs_x2apic() {
  const bool has_x2apic = (cpuid(1).ecx & (1u << 21)) != 0;
  SkipScope s(has_x2apic ? nullptr : "the CPU has no x2APIC (CPUID 1 ECX bit 21)");
  if (!skipping()) {
    set_interrupt_handler(kVector, on_vector);
    apic_sw_enable();
    wrmsr(kMsrApicBase, rdmsr(kMsrApicBase) | kX2apicEnable);
  }
  checks("x2APIC");
}

}  // namespace conf
