// A set of VP indexes a hypercall names: every VP of the partition, or the bits of 64-VP banks
// (bank b, bit i: VP 64*b + i), the shape of a processor mask and of HV_VP_SET.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "hvk/tlfs/types.h"

namespace hvk::hv {

class VpSet {
 public:
  static constexpr std::size_t kBanks = 64;  // HV_VP_SET's most: 4096 VPs

  static VpSet every_vp() {
    VpSet s;
    s.all_ = true;
    return s;
  }
  // A 64-bit processor mask: bit i is VP i.
  static VpSet from_mask(std::uint64_t mask) {
    VpSet s;
    s.banks_[0] = mask;
    return s;
  }

  bool all() const { return all_; }
  bool contains(tlfs::VpIndex vp) const {
    if (all_) return true;
    const std::size_t bank = vp / 64;
    return bank < kBanks && (banks_[bank] >> (vp % 64) & 1u) != 0;
  }

 private:
  bool all_ = false;
  std::array<std::uint64_t, kBanks> banks_{};
};

}  // namespace hvk::hv
