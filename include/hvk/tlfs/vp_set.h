// HV_VP_SET (TLFS "HV_VP_SET"): the processor set of the Ex hypercalls. Its fixed part is the
// format and the valid-bank mask; the bank contents (one 64-bit word per bit set in the mask,
// bank b's bit i naming VP 64*b + i) are the call's variable header.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvk::tlfs {

namespace vp_set_format {
inline constexpr std::uint64_t kSparse4k = 0;  // HV_GENERIC_SET_SPARSE_4K: the banks name VPs
inline constexpr std::uint64_t kAll = 1;       // HV_GENERIC_SET_ALL: every VP
}  // namespace vp_set_format

struct VpSetHeader {
  std::uint64_t format;
  std::uint64_t valid_bank_mask;
};
static_assert(sizeof(VpSetHeader) == 16);
static_assert(offsetof(VpSetHeader, valid_bank_mask) == 8);

}  // namespace hvk::tlfs
