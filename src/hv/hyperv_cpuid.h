// The Hyper-V CPUID leaves 0x40000000-0x40000006 a partition presents (TLFS "Feature and
// interface discovery"; notes §8). The machine puts them in place of KVM's own leaves.
#pragma once

#include <array>
#include <cstdint>

#include "hv/partition.h"

namespace hvk::hv {

struct CpuidLeaf {
  std::uint32_t function;
  std::uint32_t eax, ebx, ecx, edx;
};

inline constexpr std::uint32_t kHvCpuidFirst = 0x4000'0000;
inline constexpr std::uint32_t kHvCpuidLast = 0x4000'0006;
inline constexpr std::uint32_t kHvCpuidInterfaceHv1 = 0x3123'7648;  // "Hv#1"
// 0x40000003 EDX: the XMM fast hypercall conventions (the dispatcher always offers both).
inline constexpr std::uint32_t kCpuidXmmFastInput = 1u << 4;
inline constexpr std::uint32_t kCpuidXmmFastOutput = 1u << 15;

std::array<CpuidLeaf, 7> hyperv_cpuid_leaves(const Partition& partition);

}  // namespace hvk::hv
