// VTL memory protections: HvCallModifyVtlProtectionMask's input, HV_MAP_GPA_FLAGS, and the GPA
// intercept message a denied access of a lower VTL becomes (HV_X64_MEMORY_INTERCEPT_MESSAGE).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hvk/tlfs/translate.h"  // kCacheTypeWriteBack
#include "hvk/tlfs/vp_context.h"
#include "hvk/tlfs/vtl.h"

namespace hvk::tlfs {

// HV_MAP_GPA_FLAGS as a VTL protection mask (also DefaultVtlProtectionMask, bits 4:1 of
// HvRegisterVsmPartitionConfig).
namespace map_gpa {
inline constexpr std::uint32_t kReadable = 1u << 0;
inline constexpr std::uint32_t kWritable = 1u << 1;
inline constexpr std::uint32_t kKernelExecutable = 1u << 2;
inline constexpr std::uint32_t kUserExecutable = 1u << 3;
inline constexpr std::uint32_t kExecutable = kKernelExecutable | kUserExecutable;
inline constexpr std::uint32_t kAll = kReadable | kWritable | kExecutable;
}  // namespace map_gpa

// HvCallModifyVtlProtectionMask (0x000C, rep): the header; each element is a GPA page number.
struct ModifyVtlProtectionMaskHeader {
  std::uint64_t partition_id;
  std::uint32_t map_flags;
  InputVtl target_vtl;
  std::uint8_t reserved[3];
};
static_assert(sizeof(ModifyVtlProtectionMaskHeader) == 16);
static_assert(offsetof(ModifyVtlProtectionMaskHeader, map_flags) == 8);
static_assert(offsetof(ModifyVtlProtectionMaskHeader, target_vtl) == 12);

struct GpaPageNumber {
  std::uint64_t page;
};
static_assert(sizeof(GpaPageNumber) == 8);

// HV_INTERCEPT_ACCESS_TYPE.
enum class InterceptAccess : std::uint8_t { kRead = 0, kWrite = 1, kExecute = 2 };

// HV_X64_VP_EXECUTION_STATE bits.
namespace exec_state {
inline constexpr std::uint16_t kCplMask = 0x3;
inline constexpr std::uint16_t kCr0Pe = 1u << 2;
inline constexpr std::uint16_t kCr0Am = 1u << 3;
inline constexpr std::uint16_t kEferLma = 1u << 4;
inline constexpr std::uint16_t kDebugActive = 1u << 5;
inline constexpr std::uint16_t kInterruptionPending = 1u << 6;
}  // namespace exec_state

// HV_X64_INTERCEPT_MESSAGE_HEADER.
struct InterceptMessageHeader {
  std::uint32_t vp_index;
  std::uint8_t instruction_length;
  InterceptAccess access_type;
  std::uint16_t execution_state;
  SegmentRegister cs;
  std::uint64_t rip;
  std::uint64_t rflags;
};
static_assert(sizeof(InterceptMessageHeader) == 40);
static_assert(offsetof(InterceptMessageHeader, cs) == 8);
static_assert(offsetof(InterceptMessageHeader, rip) == 24);

// HV_X64_MEMORY_INTERCEPT_MESSAGE (HvMessageTypeGpaIntercept's payload).
inline constexpr std::uint8_t kMemoryAccessGvaValid = 1u << 0;
struct MemoryInterceptMessage {
  InterceptMessageHeader header;
  std::uint32_t cache_type;  // HV_CACHE_TYPE
  std::uint8_t instruction_byte_count;
  std::uint8_t memory_access_info;
  std::uint16_t reserved;
  std::uint64_t gva;
  std::uint64_t gpa;
  std::uint8_t instruction_bytes[16];
  SegmentRegister ds;
  SegmentRegister ss;
  std::uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
  std::uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};
static_assert(sizeof(MemoryInterceptMessage) == 240);
static_assert(offsetof(MemoryInterceptMessage, cache_type) == 40);
static_assert(offsetof(MemoryInterceptMessage, gva) == 48);
static_assert(offsetof(MemoryInterceptMessage, gpa) == 56);
static_assert(offsetof(MemoryInterceptMessage, instruction_bytes) == 64);
static_assert(offsetof(MemoryInterceptMessage, ds) == 80);
static_assert(offsetof(MemoryInterceptMessage, rax) == 112);
static_assert(offsetof(MemoryInterceptMessage, r15) == 232);

}  // namespace hvk::tlfs
