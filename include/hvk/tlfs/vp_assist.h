// HV_VP_ASSIST_PAGE's VTL control area, HV_VP_VTL_CONTROL (TLFS datatypes hv_vp_assist_page,
// hv_vp_vtl_control): where a VTL above 0 learns why it was entered and leaves the registers a
// non-fast VtlReturn loads into the lower VTL.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvk::tlfs {

enum class VtlEntryReason : std::uint32_t {
  kReserved = 0,
  kVtlCall = 1,
  kInterrupt = 2,
  kIntercept = 3,
};

struct VpVtlControl {
  VtlEntryReason entry_reason;
  std::uint8_t vina_status;  // bit 0: VinaAsserted
  std::uint8_t reserved0;
  std::uint16_t reserved1;
  // x64: VtlReturnX64Rax, VtlReturnX64Rcx. x86: VtlReturnX86Eax, Ecx, Edx (4 bytes each) in the
  // same 16 bytes.
  std::uint64_t return_rax;
  std::uint64_t return_rcx;
};
static_assert(sizeof(VpVtlControl) == 24);
static_assert(offsetof(VpVtlControl, return_rax) == 8);

// Offset of the VTL control area in the VP assist page (after HV_VIRTUAL_APIC_ASSIST and 4
// reserved bytes).
inline constexpr std::uint64_t kVpAssistVtlControlOffset = 8;

}  // namespace hvk::tlfs
