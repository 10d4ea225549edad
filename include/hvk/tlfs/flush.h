// HvCallFlushVirtualAddressSpace (0x0002) and HvCallFlushVirtualAddressList (0x0003): the input
// (the List form's header), HV_FLUSH_FLAGS, and HV_REGISTER_VSM_VP_SECURE_VTL_CONFIG, whose
// TlbLocked bit makes a lower VTL's flushes wait (TLFS vsm "Configuring Lower VTLs").
#pragma once

#include <cstddef>
#include <cstdint>

#include "hvk/tlfs/vp_set.h"

namespace hvk::tlfs {

namespace flush_flags {
inline constexpr std::uint64_t kAllProcessors = 1u << 0;
inline constexpr std::uint64_t kAllVirtualAddressSpaces = 1u << 1;
inline constexpr std::uint64_t kNonGlobalMappingsOnly = 1u << 2;
}  // namespace flush_flags

// 24 bytes: AddressSpace (CR3), Flags (HV_FLUSH_FLAGS, a UINT64), ProcessorMask (bit i: VP i).
struct FlushVirtualAddressInput {
  std::uint64_t address_space;
  std::uint64_t flags;
  std::uint64_t processor_mask;
};
static_assert(sizeof(FlushVirtualAddressInput) == 24);
static_assert(offsetof(FlushVirtualAddressInput, flags) == 8);
static_assert(offsetof(FlushVirtualAddressInput, processor_mask) == 16);

// The Ex forms (0x0013, 0x0014): an HV_VP_SET for the mask, its bank contents the variable
// header (the List form's GVA ranges follow them). 32 fixed bytes.
struct FlushVirtualAddressExInput {
  std::uint64_t address_space;
  std::uint64_t flags;
  VpSetHeader processors;
};
static_assert(sizeof(FlushVirtualAddressExInput) == 32);
static_assert(offsetof(FlushVirtualAddressExInput, processors) == 16);

// One element of the List form: a GVA whose low 12 bits count the pages after the first.
struct GvaRange {
  std::uint64_t raw;
  std::uint64_t first_page() const { return raw & ~std::uint64_t{0xFFF}; }
  std::uint32_t extra_pages() const { return static_cast<std::uint32_t>(raw & 0xFFF); }
};
static_assert(sizeof(GvaRange) == 8);

// HvRegisterVsmVpSecureConfigVtlN: one per (VP, VTL above N) for each lower VTL N.
namespace secure_vtl_config {
inline constexpr std::uint64_t kMbecEnabled = 1u << 0;
inline constexpr std::uint64_t kTlbLocked = 1u << 1;
inline constexpr std::uint64_t kDefined = kMbecEnabled | kTlbLocked;
}  // namespace secure_vtl_config

}  // namespace hvk::tlfs
