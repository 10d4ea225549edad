#include "machine/devices/hyperv_testdev.h"

#include <algorithm>
#include <cstring>

#include "hv/synic/synic_host.h"

namespace hvk::machine {

bool HypervTestdev::io(std::uint16_t port, bool is_out, std::span<std::uint8_t> data) {
  if (port != kPort) return false;
  if (!is_out) {
    std::fill(data.begin(), data.end(), std::uint8_t{0});
    return true;
  }
  if (data.size() == 4) {
    std::uint32_t value = 0;
    std::memcpy(&value, data.data(), sizeof value);
    command(value);
  }
  return true;
}

void HypervTestdev::command(std::uint32_t value) {
  const auto sint = static_cast<std::uint8_t>(value & 0xFF);
  const auto vp = static_cast<tlfs::VpIndex>((value >> 8) & 0xFF);
  const auto cmd = static_cast<std::uint8_t>((value >> 16) & 0xFF);
  const std::uint32_t connection = value >> 24;
  // QEMU's device works in VTL 0; so does this one.
  constexpr tlfs::Vtl kVtl = 0;
  switch (cmd) {
    case kSintRouteCreate: {
      if (partition_.vp(vp) == nullptr || sint >= tlfs::kSintCount) return;
      std::lock_guard lock(mu_);
      routes_.insert({vp, sint});
      return;
    }
    case kSintRouteDestroy: {
      std::lock_guard lock(mu_);
      routes_.erase({vp, sint});
      return;
    }
    case kSintRouteSetSint: {
      {
        std::lock_guard lock(mu_);
        if (routes_.count({vp, sint}) == 0) return;
      }
      (void)hv::signal_sint(partition_, vp, kVtl, sint);
      return;
    }
    case kMessageConnectionCreate:
      (void)partition_.connections().connect(
          connection, hv::Port{.kind = hv::PortKind::kMessage,
                               .partition = &partition_,
                               .vp = vp,
                               .vtl = kVtl,
                               .sint = sint,
                               .port_id = connection});
      return;
    case kEventConnectionCreate:
      // The flag a guest's HvCallSignalEvent sets is the connection id's own number (QEMU).
      (void)partition_.connections().connect(
          connection, hv::Port{.kind = hv::PortKind::kEvent,
                               .partition = &partition_,
                               .vp = vp,
                               .vtl = kVtl,
                               .sint = sint,
                               .flag_base = static_cast<std::uint16_t>(connection),
                               .flag_count = 1});
      return;
    case kMessageConnectionDestroy:
      (void)partition_.connections().disconnect(connection, hv::PortKind::kMessage);
      return;
    case kEventConnectionDestroy:
      (void)partition_.connections().disconnect(connection, hv::PortKind::kEvent);
      return;
    default:
      return;
  }
}

}  // namespace hvk::machine
