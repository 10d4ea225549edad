#include "machine/devices/fw_cfg.h"

#include <algorithm>

namespace hvk::machine {

namespace {

template <typename T>
std::vector<std::uint8_t> little_endian(T value) {
  std::vector<std::uint8_t> bytes(sizeof(T));
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    bytes[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(value) >> (8 * i));
  }
  return bytes;
}

}  // namespace

FwCfg::FwCfg(std::uint64_t ram_bytes, std::uint16_t cpus) {
  items_[kSignature] = {'Q', 'E', 'M', 'U'};
  items_[kId] = little_endian<std::uint32_t>(kIdTraditional);
  items_[kRamSize] = little_endian<std::uint64_t>(ram_bytes);
  items_[kNbCpus] = little_endian<std::uint16_t>(cpus);
  items_[kMaxCpus] = little_endian<std::uint16_t>(cpus);
}

std::span<const std::uint8_t> FwCfg::item(std::uint16_t key) const {
  const auto it = items_.find(key);
  if (it == items_.end()) return {};
  return it->second;
}

void FwCfg::io(std::uint16_t port, bool is_out, std::uint8_t size, std::span<std::uint8_t> data) {
  const std::size_t step = std::clamp<std::size_t>(size, 1, 4);
  std::lock_guard lock(mu_);
  for (std::size_t at = 0; at < data.size(); at += step) {
    const std::span<std::uint8_t> unit = data.subspan(at, std::min(step, data.size() - at));
    if (port == kSelectorPort) {
      if (is_out) {
        selected_ = static_cast<std::uint16_t>(unit[0] | (unit.size() > 1 ? unit[1] << 8 : 0));
        offset_ = 0;
      } else {
        std::fill(unit.begin(), unit.end(), std::uint8_t{0});
      }
      continue;
    }
    if (is_out) continue;  // data writes are ignored
    const std::span<const std::uint8_t> bytes = item(selected_);
    for (std::uint8_t& b : unit) {
      b = offset_ < bytes.size() ? bytes[offset_] : std::uint8_t{0};
      if (offset_ < bytes.size()) ++offset_;
    }
  }
}

}  // namespace hvk::machine
