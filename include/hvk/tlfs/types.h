// Scalar types and well-known values of the Hyper-V hypercall ABI (TLFS).
#pragma once

#include <cstdint>

namespace hvk::tlfs {

using PartitionId = std::uint64_t;
using VpIndex = std::uint32_t;
using Vtl = std::uint8_t;

inline constexpr PartitionId kPartitionIdSelf = 0xFFFF'FFFF'FFFF'FFFFull;
inline constexpr PartitionId kPartitionIdInvalid = 0;
inline constexpr VpIndex kVpIndexSelf = 0xFFFF'FFFEu;

// hvk supports VTLs 0..kMaxVtl (the TLFS architecture allows up to 15).
inline constexpr Vtl kMaxVtl = 2;
inline constexpr unsigned kPageSize = 4096;

}  // namespace hvk::tlfs
