// HV_INPUT_VTL: TargetVtl 3:0 · UseTargetVtl 4 · reserved 7:5 (notes §5).
#pragma once

#include <cstdint>

#include "hvk/tlfs/types.h"

namespace hvk::tlfs {

struct InputVtl {
  std::uint8_t raw = 0;

  static constexpr std::uint8_t kReservedMask = 0xE0;
  constexpr Vtl target_vtl() const { return raw & 0x0F; }
  constexpr bool use_target_vtl() const { return raw & 0x10; }
  constexpr bool reserved_set() const { return raw & kReservedMask; }

  static constexpr InputVtl current() { return {0}; }
  static constexpr InputVtl target(Vtl v) { return {static_cast<std::uint8_t>(0x10 | (v & 0x0F))}; }
};
static_assert(sizeof(InputVtl) == 1);

}  // namespace hvk::tlfs
