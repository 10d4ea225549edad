// HV_REGISTER_NAME values hvk knows (notes §6).
#pragma once

#include <cstdint>

namespace hvk::tlfs {

enum class RegisterName : std::uint32_t {
  kRsp = 0x0002'0004,
  kRip = 0x0002'0010,
  kRflags = 0x0002'0011,
  kCr0 = 0x0004'0000,
  kCr3 = 0x0004'0002,
  kCr4 = 0x0004'0003,
  kEs = 0x0006'0000,
  kCs = 0x0006'0001,
  kSs = 0x0006'0002,
  kDs = 0x0006'0003,
  kFs = 0x0006'0004,
  kGs = 0x0006'0005,
  kLdtr = 0x0006'0006,
  kTr = 0x0006'0007,
  kIdtr = 0x0007'0000,
  kGdtr = 0x0007'0001,
  kEfer = 0x0008'0001,
  kPat = 0x0008'0004,
  kVsmCodePageOffsets = 0x000D'0002,
  kVsmVpStatus = 0x000D'0003,
  kVsmPartitionStatus = 0x000D'0004,
  kVsmVina = 0x000D'0005,
  kVsmCapabilities = 0x000D'0006,
  kVsmPartitionConfig = 0x000D'0007,
  kVsmVpSecureConfigVtl0 = 0x000D'0010,
  kVsmVpSecureConfigVtl1 = 0x000D'0011,
};

constexpr const char* register_name(RegisterName r) {
  switch (r) {
    case RegisterName::kRsp:
      return "Rsp";
    case RegisterName::kRip:
      return "Rip";
    case RegisterName::kRflags:
      return "Rflags";
    case RegisterName::kCr0:
      return "Cr0";
    case RegisterName::kCr3:
      return "Cr3";
    case RegisterName::kCr4:
      return "Cr4";
    case RegisterName::kEs:
      return "Es";
    case RegisterName::kCs:
      return "Cs";
    case RegisterName::kSs:
      return "Ss";
    case RegisterName::kDs:
      return "Ds";
    case RegisterName::kFs:
      return "Fs";
    case RegisterName::kGs:
      return "Gs";
    case RegisterName::kLdtr:
      return "Ldtr";
    case RegisterName::kTr:
      return "Tr";
    case RegisterName::kIdtr:
      return "Idtr";
    case RegisterName::kGdtr:
      return "Gdtr";
    case RegisterName::kEfer:
      return "Efer";
    case RegisterName::kPat:
      return "Pat";
    case RegisterName::kVsmCodePageOffsets:
      return "VsmCodePageOffsets";
    case RegisterName::kVsmVpStatus:
      return "VsmVpStatus";
    case RegisterName::kVsmPartitionStatus:
      return "VsmPartitionStatus";
    case RegisterName::kVsmVina:
      return "VsmVina";
    case RegisterName::kVsmCapabilities:
      return "VsmCapabilities";
    case RegisterName::kVsmPartitionConfig:
      return "VsmPartitionConfig";
    case RegisterName::kVsmVpSecureConfigVtl0:
      return "VsmVpSecureConfigVtl0";
    case RegisterName::kVsmVpSecureConfigVtl1:
      return "VsmVpSecureConfigVtl1";
  }
  return nullptr;
}

// HvRegisterVsmPartitionConfig bits.
namespace vsm_config {
inline constexpr std::uint64_t kEnableVtlProtection = 1u << 0;
inline constexpr unsigned kDefaultVtlProtectionMaskShift = 1;
inline constexpr std::uint64_t kDefaultVtlProtectionMask = 0xFu << kDefaultVtlProtectionMaskShift;
inline constexpr std::uint64_t kDenyLowerVtlStartup = 1u << 6;
inline constexpr std::uint64_t kInterceptVpStartup = 1u << 9;
}  // namespace vsm_config

}  // namespace hvk::tlfs
