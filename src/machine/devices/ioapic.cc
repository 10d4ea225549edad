#include "machine/devices/ioapic.h"

#include <cstring>

#include "machine/msi.h"

namespace hvk::machine {

namespace {

constexpr std::uint64_t kRegSelect = 0x00;
constexpr std::uint64_t kRegWindow = 0x10;
constexpr std::uint32_t kRegId = 0x00;
constexpr std::uint32_t kRegVersion = 0x01;
constexpr std::uint32_t kRegArbitration = 0x02;
constexpr std::uint32_t kRegTable = 0x10;  // two 32-bit registers per pin
constexpr std::uint32_t kVersion = ((Ioapic::kPins - 1) << 16) | 0x11;

// Redirection table entry fields.
constexpr std::uint64_t kVectorMask = 0xFF;
constexpr std::uint64_t kDeliveryModeShift = 8;
constexpr std::uint64_t kDeliveryModeMask = 0x7;
constexpr std::uint64_t kDestModeLogical = 1ull << 11;
constexpr std::uint64_t kTriggerLevel = 1ull << 15;
constexpr std::uint64_t kMasked = 1ull << 16;
constexpr std::uint64_t kDestShift = 56;
// Bits the guest may write: all but delivery status (12) and Remote IRR (14).
constexpr std::uint64_t kWritable = ~((1ull << 12) | (1ull << 14));

constexpr std::uint32_t kMsiLevelAssert = 1u << 14;
constexpr std::uint32_t kMsiTriggerLevel = 1u << 15;

}  // namespace

Ioapic::Ioapic(Deliver deliver) : deliver_(std::move(deliver)), id_(std::uint32_t{kId} << 24) {
  table_.fill(kMasked);
}

std::uint64_t Ioapic::redirection(std::uint32_t pin) const {
  std::lock_guard lock(mu_);
  return pin < kPins ? table_[pin] : 0;
}

std::uint32_t Ioapic::read_register(std::uint32_t index) const {
  switch (index) {
    case kRegId:
    case kRegArbitration:
      return id_;
    case kRegVersion:
      return kVersion;
    default:
      break;
  }
  if (index >= kRegTable && index < kRegTable + 2 * kPins) {
    const std::uint64_t entry = table_[(index - kRegTable) / 2];
    return static_cast<std::uint32_t>((index & 1) ? entry >> 32 : entry);
  }
  return 0;
}

void Ioapic::write_register(std::uint32_t index, std::uint32_t value) {
  if (index == kRegId) {
    id_ = value & 0x0F00'0000;
    return;
  }
  if (index < kRegTable || index >= kRegTable + 2 * kPins) return;
  const std::uint32_t pin = (index - kRegTable) / 2;
  std::uint64_t& entry = table_[pin];
  const std::uint64_t old = entry;
  const std::uint64_t half = (index & 1) ? std::uint64_t{value} << 32 : value;
  const std::uint64_t keep = (index & 1) ? 0xFFFF'FFFFull : 0xFFFF'FFFF'0000'0000ull;
  entry = (old & keep) | (half & ~keep & kWritable) | (old & ~kWritable);
  // Unmasking a level-triggered pin whose line is high delivers it (the line is still asserted).
  if ((old & kMasked) && !(entry & kMasked) && (entry & kTriggerLevel) && lines_[pin]) {
    deliver(pin);
  }
}

void Ioapic::deliver(std::uint32_t pin) {
  const std::uint64_t e = table_[pin];
  if (e & kMasked) return;
  Msi msi{};
  msi.address =
      msi_address(static_cast<std::uint8_t>(e >> kDestShift), (e & kDestModeLogical) != 0);
  msi.data = static_cast<std::uint32_t>((e & kVectorMask) |
                                        (((e >> kDeliveryModeShift) & kDeliveryModeMask) << 8));
  if (e & kTriggerLevel) msi.data |= kMsiTriggerLevel | kMsiLevelAssert;
  if (deliver_) deliver_(msi);
}

void Ioapic::set_irq(std::uint32_t pin, bool level) {
  if (pin >= kPins) return;
  std::lock_guard lock(mu_);
  const bool rising = level && !lines_[pin];
  lines_[pin] = level;
  if (rising) deliver(pin);
}

void Ioapic::mmio_read(std::uint64_t gpa, std::span<std::uint8_t> data) {
  std::lock_guard lock(mu_);
  std::uint32_t v = 0;
  const std::uint64_t offset = gpa - kBase;
  if (offset == kRegSelect) v = select_;
  if (offset == kRegWindow) v = read_register(select_);
  std::fill(data.begin(), data.end(), std::uint8_t{0});
  std::memcpy(data.data(), &v, std::min(data.size(), sizeof v));
}

void Ioapic::mmio_write(std::uint64_t gpa, std::span<const std::uint8_t> data) {
  std::lock_guard lock(mu_);
  std::uint32_t v = 0;
  std::memcpy(&v, data.data(), std::min(data.size(), sizeof v));
  const std::uint64_t offset = gpa - kBase;
  if (offset == kRegSelect) select_ = v & 0xFF;
  if (offset == kRegWindow) write_register(select_, v);
}

}  // namespace hvk::machine
