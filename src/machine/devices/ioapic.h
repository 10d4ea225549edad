// hvk's IOAPIC (82093AA-compatible, 24 pins, version 0x11) at 0xFEC00000: the guest programs its
// redirection table through IOREGSEL/IOWIN; an asserted pin becomes an MSI to the in-kernel local
// APICs (KVM's split irqchip). A pin delivers on its rising edge. Level-triggered pins are
// delivered the same way and never show Remote IRR: KVM tells user space of an EOI only for MSI
// routes hvk does not install, and hvk's only interrupt source, COM1, is an ISA edge interrupt
// (docs/guest-abi.md). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

namespace hvk::machine {

class Ioapic {
 public:
  struct Msi {
    std::uint64_t address;
    std::uint32_t data;
  };
  using Deliver = std::function<void(const Msi&)>;

  static constexpr std::uint64_t kBase = 0xFEC0'0000;
  static constexpr std::uint64_t kSize = 0x1000;
  static constexpr std::uint32_t kPins = 24;
  static constexpr std::uint8_t kId = 0;

  explicit Ioapic(Deliver deliver);

  bool contains(std::uint64_t gpa) const { return gpa - kBase < kSize; }
  // 32-bit accesses at IOREGSEL (0x00) and IOWIN (0x10); anything else reads as 0 and is ignored.
  void mmio_read(std::uint64_t gpa, std::span<std::uint8_t> data);
  void mmio_write(std::uint64_t gpa, std::span<const std::uint8_t> data);
  void set_irq(std::uint32_t pin, bool level);

  std::uint64_t redirection(std::uint32_t pin) const;  // for tests

 private:
  std::uint32_t read_register(std::uint32_t index) const;  // under mu_
  void write_register(std::uint32_t index, std::uint32_t value);  // under mu_
  void deliver(std::uint32_t pin);  // under mu_

  Deliver deliver_;
  mutable std::mutex mu_;
  std::uint32_t select_ = 0;
  std::uint32_t id_ = 0;
  std::array<std::uint64_t, kPins> table_{};
  std::array<bool, kPins> lines_{};
};

}  // namespace hvk::machine
