// HV_PARTITION_PRIVILEGE_MASK bits (notes §7). CPUID 0x40000003 EAX = bits 31:0, EBX = 63:32.
#pragma once

#include <cstdint>

namespace hvk::tlfs {

enum class Privilege : unsigned {
  kVpRuntime = 0,
  kPartitionReferenceCounter = 1,
  kSynicRegs = 2,
  kSyntheticTimerRegs = 3,
  kIntrCtrlRegs = 4,
  kHypercallMsrs = 5,
  kVpIndex = 6,
  kResetReg = 7,
  kStatsReg = 8,
  kPartitionReferenceTsc = 9,
  kGuestIdleReg = 10,
  kFrequencyRegs = 11,
  kDebugRegs = 12,
  kReenlightenmentControls = 13,
  kCreatePartitions = 32,
  kAccessPartitionId = 33,
  kAccessMemoryPool = 34,
  kPostMessages = 36,
  kSignalEvents = 37,
  kCreatePort = 38,
  kConnectPort = 39,
  kAccessStats = 40,
  kDebugging = 43,
  kCpuManagement = 44,
  kAccessVsm = 48,
  kAccessVpRegisters = 49,
  kFastHypercallOutput = 51,
  kEnableExtendedHypercalls = 52,
  kStartVirtualProcessor = 53,
  kIsolation = 54,
};

constexpr std::uint64_t privilege_bit(Privilege p) {
  return std::uint64_t{1} << static_cast<unsigned>(p);
}

struct PrivilegeMask {
  std::uint64_t raw = 0;
  constexpr bool has(Privilege p) const { return raw & privilege_bit(p); }
  constexpr std::uint32_t cpuid_eax() const { return static_cast<std::uint32_t>(raw); }
  constexpr std::uint32_t cpuid_ebx() const { return static_cast<std::uint32_t>(raw >> 32); }
};

static_assert(privilege_bit(Privilege::kStartVirtualProcessor) >> 32 == (1u << 21));
static_assert(privilege_bit(Privilege::kCpuManagement) >> 32 == (1u << 12));
static_assert(privilege_bit(Privilege::kAccessVsm) >> 32 == (1u << 16));

}  // namespace hvk::tlfs
