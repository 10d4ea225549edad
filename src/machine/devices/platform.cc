#include "machine/devices/platform.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>

#include "machine/firmware/acpi.h"

namespace hvk::machine {

Platform::Platform(Serial16550::Output output, Ioapic::Deliver deliver, Shape shape)
    : ioapic_(std::move(deliver)),
      serial_(std::move(output),
              [this](bool level) { ioapic_.set_irq(Serial16550::kCom1Irq, level); }),
      fw_cfg_(shape.ram_bytes, shape.cpus) {}

Platform::~Platform() { stop_input(); }

bool Platform::io(std::uint16_t port, bool is_out, std::uint8_t size, std::span<std::uint8_t> data,
                  Event& event) {
  event = Event::kNone;
  if (port >= Serial16550::kCom1Base && port < Serial16550::kCom1Base + Serial16550::kPorts) {
    // A string instruction (rep insb/outsb) moves `data.size() / size` items through the port.
    const std::size_t step = size ? size : 1;
    for (std::size_t i = 0; i < data.size(); i += step) {
      const auto offset = static_cast<std::uint16_t>(port - Serial16550::kCom1Base);
      if (is_out) {
        serial_.write(offset, data[i]);
      } else {
        data[i] = serial_.read(offset);
        for (std::size_t j = 1; j < step && i + j < data.size(); ++j) data[i + j] = 0;
      }
    }
    return true;
  }
  if (port == kI8042Data || port == kI8042Command) {
    // No keyboard: status 0 (both buffers empty), so a reset sequence never waits.
    if (!is_out) std::fill(data.begin(), data.end(), std::uint8_t{0});
    if (is_out && port == kI8042Command && !data.empty() && data[0] == kI8042PulseReset) {
      event = Event::kReset;
    }
    return true;
  }
  if (fw_cfg_.handles(port)) {
    fw_cfg_.io(port, is_out, size, data);
    return true;
  }
  if (port == kSleepControlPort || port == kSleepStatusPort) {
    if (!is_out) std::fill(data.begin(), data.end(), std::uint8_t{0});
    if (is_out && port == kSleepControlPort && !data.empty() && is_acpi_power_off(data[0])) {
      event = Event::kPowerOff;
    }
    return true;
  }
  return false;
}

bool Platform::mmio(std::uint64_t gpa, bool is_write, std::span<std::uint8_t> data) {
  if (!ioapic_.contains(gpa)) return false;
  if (is_write) {
    ioapic_.mmio_write(gpa, data);
  } else {
    ioapic_.mmio_read(gpa, data);
  }
  return true;
}

void Platform::start_input(int fd, InputFilter filter) {
  if (input_.joinable()) return;
  filter_ = std::move(filter);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return;
  input_ = std::thread([this, fd] { input_loop(fd); });
}

void Platform::stop_input() {
  if (!input_.joinable()) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  input_.join();
  ::close(wake_fd_);
  wake_fd_ = -1;
}

void Platform::input_loop(int fd) {
  std::array<std::uint8_t, Serial16550::kFifoSize> buf{};
  std::size_t have = 0, sent = 0;
  for (;;) {
    if (sent < have) {
      sent += serial_.receive(std::span(buf).subspan(sent, have - sent));
    }
    // While the FIFO is full, look again shortly; otherwise wait for input.
    const bool waiting = sent < have;
    std::array<pollfd, 2> fds{{{wake_fd_, POLLIN, 0}, {fd, static_cast<short>(waiting ? 0 : POLLIN), 0}}};
    if (::poll(fds.data(), fds.size(), waiting ? 10 : -1) < 0) continue;
    if (fds[0].revents) return;
    if (waiting || !(fds[1].revents & (POLLIN | POLLHUP))) continue;
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) return;  // end of input (or an error): COM1 simply gets no more
    have = static_cast<std::size_t>(n);
    if (filter_) have = filter_(std::span(buf).first(have));
    sent = 0;
  }
}

}  // namespace hvk::machine
