// HvCallTranslateVirtualAddress (0x0052): input, output, HV_TRANSLATE_GVA_CONTROL_FLAGS and
// HV_TRANSLATE_GVA_RESULT (TLFS datatypes hv_translate_gva_control_flags, hv_translate_gva_result).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hvk/tlfs/types.h"
#include "hvk/tlfs/vtl.h"

namespace hvk::tlfs {

namespace translate_flags {
inline constexpr std::uint64_t kValidateRead = 0x0001;
inline constexpr std::uint64_t kValidateWrite = 0x0002;
inline constexpr std::uint64_t kValidateExecute = 0x0004;
inline constexpr std::uint64_t kPrivilegeExempt = 0x0008;
inline constexpr std::uint64_t kSetPageTableBits = 0x0010;
inline constexpr std::uint64_t kTlbFlushInhibit = 0x0020;
inline constexpr std::uint64_t kSupervisorAccess = 0x0040;
inline constexpr std::uint64_t kUserAccess = 0x0080;
inline constexpr std::uint64_t kEnforceSmap = 0x0100;
inline constexpr std::uint64_t kOverrideSmap = 0x0200;
inline constexpr std::uint64_t kShadowStack = 0x0400;
inline constexpr unsigned kInputVtlShift = 56;  // bits 63:56: an HV_INPUT_VTL
inline constexpr std::uint64_t kDefined = 0x07FF;
}  // namespace translate_flags

enum class TranslateGvaResultCode : std::uint32_t {
  kSuccess = 0,
  kPageNotPresent = 1,
  kPrivilegeViolation = 2,
  kInvalidPageTableFlags = 3,
  kGpaUnmapped = 4,
  kGpaNoReadAccess = 5,
  kGpaNoWriteAccess = 6,
  kGpaIllegalOverlayAccess = 7,
  kIntercept = 8,
  kGpaUnaccepted = 9,
};

inline constexpr std::uint8_t kCacheTypeWriteBack = 6;

struct TranslateVirtualAddressInput {
  PartitionId partition_id;
  VpIndex vp_index;
  std::uint32_t reserved;
  std::uint64_t control_flags;
  std::uint64_t gva_page;
};
static_assert(sizeof(TranslateVirtualAddressInput) == 32);
static_assert(offsetof(TranslateVirtualAddressInput, control_flags) == 16);
static_assert(offsetof(TranslateVirtualAddressInput, gva_page) == 24);

struct TranslateVirtualAddressOutput {
  TranslateGvaResultCode result_code;
  std::uint32_t attributes;  // CacheType 7:0, OverlayPage 8
  std::uint64_t gpa_page;
};
static_assert(sizeof(TranslateVirtualAddressOutput) == 16);
static_assert(offsetof(TranslateVirtualAddressOutput, gpa_page) == 8);

}  // namespace hvk::tlfs
