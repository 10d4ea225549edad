// QEMU's firmware configuration device (fw_cfg), in its traditional port-I/O form, as far as
// guests written for QEMU's `-kernel` read it (kvm-unit-tests' lib/x86 among them): a 16-bit
// selector port (0x510) and an 8-bit data port (0x511). Writing the selector picks an item and
// rewinds it; each data read returns the item's next byte, and 0 past its end or for an item hvk
// does not have (as QEMU does). The items are the signature "QEMU", the ID (bit 0: the traditional
// interface, no DMA), the RAM size, the number of CPUs and the maximum number of CPUs. Data writes
// are ignored (QEMU ignores them since 2.4). docs/guest-abi.md, "fw_cfg".
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <vector>

namespace hvk::machine {

class FwCfg {
 public:
  static constexpr std::uint16_t kSelectorPort = 0x510;
  static constexpr std::uint16_t kDataPort = 0x511;

  // Item numbers (QEMU's include/standard-headers/linux/qemu_fw_cfg.h gives the same values).
  static constexpr std::uint16_t kSignature = 0x00;
  static constexpr std::uint16_t kId = 0x01;
  static constexpr std::uint16_t kRamSize = 0x03;
  static constexpr std::uint16_t kNbCpus = 0x05;
  static constexpr std::uint16_t kMaxCpus = 0x0f;
  static constexpr std::uint32_t kIdTraditional = 1u << 0;

  // `ram_bytes` is the guest's RAM; `cpus` its VPs (hvk has no hot-plug: also the maximum).
  FwCfg(std::uint64_t ram_bytes, std::uint16_t cpus);

  bool handles(std::uint16_t port) const { return port == kSelectorPort || port == kDataPort; }
  // One port access of `size` bytes (1, 2 or 4; a string instruction repeats it over `data`).
  // A read fills `data`. A selector write takes the low 16 bits of what was written (QEMU's
  // selector is 16 bits wide); a data read of more than one byte returns that many successive
  // bytes of the item, least significant first.
  void io(std::uint16_t port, bool is_out, std::uint8_t size, std::span<std::uint8_t> data);

  // The bytes of an item (empty when hvk does not have it); for tests and the docs.
  std::span<const std::uint8_t> item(std::uint16_t key) const;

 private:
  std::map<std::uint16_t, std::vector<std::uint8_t>> items_;
  std::mutex mu_;  // VPs on several threads share the selector, as on real hardware
  std::uint16_t selected_ = 0;
  std::size_t offset_ = 0;
};

}  // namespace hvk::machine
