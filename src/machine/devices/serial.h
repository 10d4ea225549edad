// A 16550A UART (COM1): transmit to hvk's console, receive from a byte queue (stdin when it is a
// terminal), the FIFO control, modem loopback and the interrupt identification a Linux 8250
// driver probes for. Its interrupt line goes to the IOAPIC (ISA IRQ 4). Thread-safe: any VP may
// touch it and the input thread feeds it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

namespace hvk::machine {

class Serial16550 {
 public:
  using Output = std::function<void(char)>;
  using IrqLine = std::function<void(bool level)>;  // called on every change of the line

  static constexpr std::uint16_t kCom1Base = 0x3F8;
  static constexpr std::uint16_t kPorts = 8;
  static constexpr std::uint8_t kCom1Irq = 4;
  static constexpr std::size_t kFifoSize = 16;

  Serial16550(Output out, IrqLine irq) : out_(std::move(out)), irq_(std::move(irq)) {}

  std::uint8_t read(std::uint16_t offset);
  void write(std::uint16_t offset, std::uint8_t value);
  // Queues bytes for the guest to read; returns how many fit (the rest is dropped by the caller
  // or offered again later).
  std::size_t receive(std::span<const std::uint8_t> bytes);
  bool can_receive() const;

 private:
  std::uint8_t interrupt_id() const;  // IIR without the FIFO bits, under mu_
  void update_irq();                  // under mu_
  std::uint8_t modem_status() const;  // under mu_

  Output out_;
  IrqLine irq_;
  mutable std::mutex mu_;
  std::deque<std::uint8_t> rx_;
  std::uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0C, dlm_ = 0;
  bool fifo_enabled_ = false;
  bool thr_interrupt_ = false;  // THR-empty interrupt pending (cleared by reading IIR or THR)
  bool overrun_ = false;
  bool line_ = false;
};

}  // namespace hvk::machine
