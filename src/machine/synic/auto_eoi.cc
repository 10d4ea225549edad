#include "machine/synic/auto_eoi.h"

#include <bit>
#include <cstring>

namespace hvk::machine {

std::optional<std::uint8_t> VectorSet::highest() const {
  for (int i = 3; i >= 0; --i) {
    const std::uint64_t w = words_[static_cast<std::size_t>(i)].load(std::memory_order_acquire);
    if (w != 0) return static_cast<std::uint8_t>(i * 64 + 63 - std::countl_zero(w));
  }
  return std::nullopt;
}

bool can_inject(std::uint8_t v, const InterruptWindow& w) {
  if (!w.interrupts_enabled || w.shadow || w.event_in_flight) return false;
  // Processor priority (SDM "Processor priority register"): the TPR or the in-service class,
  // whichever is higher. A vector is delivered only when its class is above it.
  const unsigned tpr_class = w.tpr >> 4u;
  const unsigned isr_class = w.highest_in_service >> 4u;
  const unsigned ppr_class = tpr_class > isr_class ? tpr_class : isr_class;
  if ((v >> 4u) <= ppr_class) return false;
  // The APIC would deliver a higher pending vector first.
  return w.highest_requested <= v;
}

std::uint8_t highest_in_apic_register(const char* regs, unsigned offset) {
  for (int word = 7; word >= 0; --word) {
    std::uint32_t bits = 0;
    const std::size_t at = std::size_t{offset} + static_cast<std::size_t>(word) * 16;
    std::memcpy(&bits, regs + at, sizeof bits);
    if (bits != 0) return static_cast<std::uint8_t>(word * 32 + 31 - std::countl_zero(bits));
  }
  return 0;
}

}  // namespace hvk::machine
