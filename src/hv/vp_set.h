// A set of VP indexes a hypercall names: every VP of the partition, or the bits of 64-VP banks
// (bank b, bit i: VP 64*b + i), the shape of a processor mask and of HV_VP_SET.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "hv/var_header.h"
#include "hvk/tlfs/status.h"
#include "hvk/tlfs/types.h"
#include "hvk/tlfs/vp_set.h"

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

  // Adds bank `bank` (VPs 64*bank .. 64*bank+63); a bank past kBanks is ignored.
  void add_bank(std::size_t bank, std::uint64_t bits) {
    if (bank < kBanks) banks_[bank] |= bits;
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

// An HV_VP_SET: its fixed part and the bank contents of the call's variable header. Conformance
// X1-X2.
struct ParsedVpSet {
  tlfs::Status status;
  VpSet set;
};
inline ParsedVpSet parse_vp_set(const tlfs::VpSetHeader& h, VarHeader banks) {
  if (h.format == tlfs::vp_set_format::kAll) return {tlfs::Status::kSuccess, VpSet::every_vp()};
  if (h.format != tlfs::vp_set_format::kSparse4k) return {tlfs::Status::kInvalidParameter, {}};
  // One bank word per valid bank, in bank order: a variable header of another size is a
  // malformed input.
  if (banks.size() != static_cast<std::size_t>(std::popcount(h.valid_bank_mask))) {
    return {tlfs::Status::kInvalidHypercallInput, {}};
  }
  VpSet set;
  std::size_t next = 0;
  for (std::size_t bank = 0; bank < 64; ++bank) {
    if ((h.valid_bank_mask >> bank & 1u) != 0) set.add_bank(bank, banks[next++]);
  }
  return {tlfs::Status::kSuccess, set};
}

}  // namespace hvk::hv
