// QEMU's hyperv-testdev, the device kvm-unit-tests' Hyper-V tests drive (docs/guest-abi.md,
// "hyperv-testdev"): one 32-bit write to port 0x3000 carries a command
//   (connection id << 24) | (command << 16) | (VP index << 8) | SINT
// that creates or removes a SINT route, raises a SINT through a route, or creates or removes a
// message or event connection aimed at a VP's SINT. It stands for the host side of a partition
// (what a VMBus host would do) and exists only with `hvk run --hyperv-testdev`.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <utility>

#include "hv/partition.h"

namespace hvk::machine {

class HypervTestdev {
 public:
  static constexpr std::uint16_t kPort = 0x3000;
  enum Command : std::uint8_t {
    kSintRouteCreate = 1,
    kSintRouteDestroy = 2,
    kSintRouteSetSint = 3,
    kMessageConnectionCreate = 4,
    kMessageConnectionDestroy = 5,
    kEventConnectionCreate = 6,
    kEventConnectionDestroy = 7,
  };

  explicit HypervTestdev(hv::Partition& partition) : partition_(partition) {}

  // Handles an access to kPort (true). Only 32-bit writes do anything; reads see zero. A command
  // that cannot be carried out (unknown command, no such route, a connection id in use) is
  // ignored, as QEMU's device ignores unknown commands; it never stops the VM.
  bool io(std::uint16_t port, bool is_out, std::span<std::uint8_t> data);
  void command(std::uint32_t value);

  std::size_t routes() const {
    std::lock_guard lock(mu_);
    return routes_.size();
  }

 private:
  hv::Partition& partition_;
  mutable std::mutex mu_;
  std::set<std::pair<tlfs::VpIndex, std::uint8_t>> routes_;  // (VP, SINT)
};

}  // namespace hvk::machine
