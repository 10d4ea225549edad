// The devices of one partition's machine, kept small (docs/guest-abi.md, "Platform"): COM1 as a
// 16550A wired to IRQ 4 of hvk's IOAPIC, the i8042 reset line (port 0x64, value 0xFE), the ACPI
// sleep control and status registers (ports 0x600/0x601; S5 powers off), QEMU's fw_cfg
// (ports 0x510/0x511, for guests written for QEMU) and, for the root partition, the host's stdin
// fed to COM1. The machine's exit loop hands port and MMIO accesses
// here; what ends the VM comes back as an Event.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <thread>

#include "machine/devices/fw_cfg.h"
#include "machine/devices/ioapic.h"
#include "machine/devices/serial.h"

namespace hvk::machine {

class Platform {
 public:
  enum class Event { kNone, kReset, kPowerOff };

  static constexpr std::uint16_t kI8042Data = 0x60;
  static constexpr std::uint16_t kI8042Command = 0x64;
  static constexpr std::uint8_t kI8042PulseReset = 0xFE;
  static constexpr std::uint16_t kSleepControlPort = 0x600;
  static constexpr std::uint16_t kSleepStatusPort = 0x601;

  // What the guest can learn of its machine through fw_cfg.
  struct Shape {
    std::uint64_t ram_bytes = 0;
    std::uint16_t cpus = 1;
  };

  // `output` gets each byte COM1 sends; `deliver` sends an IOAPIC interrupt to the local APICs.
  Platform(Serial16550::Output output, Ioapic::Deliver deliver, Shape shape);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Handles a port access if the port is the platform's (true); `event` tells what it asked for.
  bool io(std::uint16_t port, bool is_out, std::uint8_t size, std::span<std::uint8_t> data,
          Event& event);
  // Handles an MMIO access if the address is the platform's (true).
  bool mmio(std::uint64_t gpa, bool is_write, std::span<std::uint8_t> data);

  // What the host's bytes become before COM1 gets them (the console's escape key, cli/): rewrites
  // the span in place and returns how many of its first bytes to deliver.
  using InputFilter = std::function<std::size_t(std::span<std::uint8_t>)>;
  // Feeds bytes read from `fd` (stdin) to COM1, through `filter` if given, until stop_input() or
  // end of file.
  void start_input(int fd, InputFilter filter = {});
  void stop_input();

  Serial16550& serial() { return serial_; }
  Ioapic& ioapic() { return ioapic_; }
  FwCfg& fw_cfg() { return fw_cfg_; }

 private:
  void input_loop(int fd);
  InputFilter filter_;

  Ioapic ioapic_;
  Serial16550 serial_;
  FwCfg fw_cfg_;
  std::thread input_;
  int wake_fd_ = -1;  // eventfd that ends input_loop
};

}  // namespace hvk::machine
