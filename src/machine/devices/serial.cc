#include "machine/devices/serial.h"

namespace hvk::machine {

namespace {

// Register offsets (with LCR.DLAB clear unless noted).
constexpr std::uint16_t kData = 0;  // RBR / THR; DLL with DLAB
constexpr std::uint16_t kIer = 1;   // DLM with DLAB
constexpr std::uint16_t kIir = 2;   // FCR when written
constexpr std::uint16_t kLcr = 3;
constexpr std::uint16_t kMcr = 4;
constexpr std::uint16_t kLsr = 5;
constexpr std::uint16_t kMsr = 6;
constexpr std::uint16_t kScr = 7;

constexpr std::uint8_t kLcrDlab = 0x80;
constexpr std::uint8_t kIerRx = 0x01, kIerThr = 0x02, kIerLineStatus = 0x04;
constexpr std::uint8_t kIirNone = 0x01, kIirLineStatus = 0x06, kIirRx = 0x04, kIirThr = 0x02;
constexpr std::uint8_t kIirFifos = 0xC0;
constexpr std::uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr std::uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08;
constexpr std::uint8_t kMcrLoop = 0x10;
constexpr std::uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrThrEmpty = 0x20;
constexpr std::uint8_t kLsrIdle = 0x40;
constexpr std::uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;

}  // namespace

std::uint8_t Serial16550::interrupt_id() const {
  if ((ier_ & kIerLineStatus) && overrun_) return kIirLineStatus;
  if ((ier_ & kIerRx) && !rx_.empty()) return kIirRx;
  if ((ier_ & kIerThr) && thr_interrupt_) return kIirThr;
  return kIirNone;
}

void Serial16550::update_irq() {
  // On a PC the UART's interrupt reaches the interrupt controller only while OUT2 is set.
  const bool level = interrupt_id() != kIirNone && (mcr_ & kMcrOut2);
  if (level == line_) return;
  line_ = level;
  if (irq_) irq_(level);
}

std::uint8_t Serial16550::modem_status() const {
  if (!(mcr_ & kMcrLoop)) return kMsrCts | kMsrDsr | kMsrDcd;  // a cable with the far end ready
  std::uint8_t v = 0;
  if (mcr_ & kMcrRts) v |= kMsrCts;
  if (mcr_ & kMcrDtr) v |= kMsrDsr;
  if (mcr_ & kMcrOut1) v |= kMsrRi;
  if (mcr_ & kMcrOut2) v |= kMsrDcd;
  return v;
}

std::uint8_t Serial16550::read(std::uint16_t offset) {
  std::lock_guard lock(mu_);
  std::uint8_t v = 0;
  switch (offset) {
    case kData:
      if (lcr_ & kLcrDlab) return dll_;
      if (!rx_.empty()) {
        v = rx_.front();
        rx_.pop_front();
      }
      break;
    case kIer:
      return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIir:
      v = interrupt_id();
      if (v == kIirThr) thr_interrupt_ = false;  // reading IIR acknowledges THR empty
      if (fifo_enabled_) v |= kIirFifos;
      break;
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:
      v = kLsrThrEmpty | kLsrIdle;
      if (!rx_.empty()) v |= kLsrDataReady;
      if (overrun_) v |= kLsrOverrun;
      overrun_ = false;
      break;
    case kMsr:
      return modem_status();
    case kScr:
      return scr_;
    default:
      return 0xFF;
  }
  update_irq();
  return v;
}

void Serial16550::write(std::uint16_t offset, std::uint8_t value) {
  std::unique_lock lock(mu_);
  switch (offset) {
    case kData:
      if (lcr_ & kLcrDlab) {
        dll_ = value;
        return;
      }
      if (mcr_ & kMcrLoop) {
        if (rx_.size() < kFifoSize) {
          rx_.push_back(value);
        } else {
          overrun_ = true;
        }
      } else if (out_) {
        out_(static_cast<char>(value));
      }
      thr_interrupt_ = true;  // sent at once: the holding register is empty again
      break;
    case kIer:
      if (lcr_ & kLcrDlab) {
        dlm_ = value;
        return;
      }
      ier_ = value & 0x0F;
      // Enabling the THR-empty interrupt while the register is empty raises it (8250 behaviour
      // Linux's THRE test relies on).
      thr_interrupt_ = (ier_ & kIerThr) != 0;
      break;
    case kIir:  // FCR
      fifo_enabled_ = value & kFcrEnable;
      if (value & kFcrClearRx) rx_.clear();
      break;
    case kLcr:
      lcr_ = value;
      return;
    case kMcr:
      mcr_ = value & 0x1F;
      break;
    case kScr:
      scr_ = value;
      return;
    default:
      return;  // LSR and MSR are read-only
  }
  update_irq();
}

std::size_t Serial16550::receive(std::span<const std::uint8_t> bytes) {
  std::lock_guard lock(mu_);
  if (mcr_ & kMcrLoop) return 0;  // the line is looped back: nothing arrives from outside
  std::size_t n = 0;
  for (; n < bytes.size() && rx_.size() < kFifoSize; ++n) rx_.push_back(bytes[n]);
  update_irq();
  return n;
}

bool Serial16550::can_receive() const {
  std::lock_guard lock(mu_);
  return rx_.size() < kFifoSize && !(mcr_ & kMcrLoop);
}

}  // namespace hvk::machine
