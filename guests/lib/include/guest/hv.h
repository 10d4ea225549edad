// The Hyper-V interface as docs/guest-abi.md describes it: CPUID leaves, synthetic MSRs, the
// hypercall page and the 64-bit hypercall convention.
#pragma once

#include <cstdint>

#include "guest/cpu.h"
#include "hvk/tlfs/call_codes.h"
#include "hvk/tlfs/control.h"
#include "hvk/tlfs/inputs.h"
#include "hvk/tlfs/registers.h"
#include "hvk/tlfs/status.h"
#include "hvk/tlfs/types.h"
#include "hvk/tlfs/vp_context.h"
#include "hvk/tlfs/vtl.h"

namespace guest {

namespace tlfs = hvk::tlfs;

inline constexpr std::uint32_t kCpuidHvVendor = 0x40000000;
inline constexpr std::uint32_t kCpuidHvInterface = 0x40000001;
inline constexpr std::uint32_t kCpuidHvFeatures = 0x40000003;
inline constexpr std::uint32_t kCpuidHvLimits = 0x40000005;

inline constexpr std::uint32_t kMsrGuestOsId = 0x40000000;
inline constexpr std::uint32_t kMsrHypercall = 0x40000001;
inline constexpr std::uint32_t kMsrVpIndex = 0x40000002;
inline constexpr std::uint32_t kMsrTimeRefCount = 0x40000020;  // 100 ns ticks
inline constexpr std::uint32_t kMsrReferenceTsc = 0x40000021;
inline constexpr std::uint32_t kMsrTscFrequency = 0x40000022;
inline constexpr std::uint32_t kMsrApicFrequency = 0x40000023;
inline constexpr std::uint32_t kMsrEoi = 0x40000070;  // the APIC access MSRs: EOI (write-only),
inline constexpr std::uint32_t kMsrIcr = 0x40000071;  // ICR (high << 32 | low)
inline constexpr std::uint32_t kMsrTpr = 0x40000072;  // and TPR (bits 7:0)
inline constexpr std::uint32_t kMsrVpAssistPage = 0x40000073;

// Open-source guest (bit 63), OS type 0x7F (hvk's own test guests), version 1.
inline constexpr std::uint64_t kGuestOsId = 0x807F'0000'0000'0001ull;

// The hypercall page (4 KiB aligned, in .bss), defined in entry64.S.
extern "C" std::uint8_t guest_hypercall_page[4096];

// Checks CPUID.1:ECX.hypervisor, the "Microsoft Hv" signature, the leaf range and "Hv#1", writes
// GUEST_OS_ID, enables the hypercall page and records the calling VP's index. Returns nullptr on
// success, else why it failed.
const char* hv_init();
bool hv_ready();

// One hypercall through the page: RCX control, RDX input GPA (or fast input), R8 output GPA (or
// fast input); the result value is returned. Flags are clobbered.
inline std::uint64_t hv_call(std::uint64_t control, std::uint64_t input, std::uint64_t output) {
  std::uint64_t result;
  register std::uint64_t r8 asm("r8") = output;
  asm volatile("call guest_hypercall_page"
               : "=a"(result), "+c"(control), "+d"(input), "+r"(r8)
               :
               : "cc", "memory");
  return result;
}
inline std::uint64_t hv_call(std::uint64_t control, const void* input, void* output) {
  return hv_call(control, reinterpret_cast<std::uint64_t>(input),
                 reinterpret_cast<std::uint64_t>(output));
}

// XMM fast hypercalls (CPUID 0x40000003 EDX bit 4 input, bit 15 output): the input block is RDX,
// R8, then XMM0-XMM5; output starts at the first 16-byte chunk the input leaves free.
struct XmmBlock {
  alignas(16) std::uint8_t bytes[96];  // XMM0-XMM5, low byte of XMM0 first
};
extern "C" void hv_load_xmm(const XmmBlock* in);
extern "C" void hv_store_xmm(XmmBlock* out);
// Sets CR4.OSFXSR and OSXMMEXCPT on the calling VP, so that it may use the XMM registers.
inline void enable_sse() {
  constexpr std::uint64_t kOsfxsr = 1u << 9, kOsxmmexcpt = 1u << 10;
  const std::uint64_t cr4 = read_cr4();
  if ((cr4 & kOsfxsr) == 0) write_cr4(cr4 | kOsfxsr | kOsxmmexcpt);
}
// A fast call with XMM0-5 loaded from `xmm` and stored back into it afterwards.
inline std::uint64_t hv_call_xmm(std::uint64_t control, std::uint64_t rdx, std::uint64_t r8,
                                 XmmBlock& xmm) {
  hv_load_xmm(&xmm);
  const std::uint64_t r = hv_call(control, rdx, r8);
  hv_store_xmm(&xmm);
  return r;
}

inline std::uint16_t hv_status(std::uint64_t result) {
  return static_cast<std::uint16_t>(result);
}
inline std::uint16_t hv_reps(std::uint64_t result) {
  return static_cast<std::uint16_t>((result >> 32) & 0xFFF);
}
inline constexpr std::uint64_t hv_control(tlfs::CallCode code, std::uint16_t rep_count = 0) {
  return tlfs::HypercallControl::make(code, false, rep_count).raw;
}
// "HV_STATUS_..." or "unknown status".
const char* hv_status_name(std::uint16_t status);

// This VP's hypercall input and output pages (in its block; identity-mapped, so GVA == GPA).
void* hv_input_page();
void* hv_output_page();

// MSR 0x40000002.
std::uint32_t vp_index();
// CPUID 0x40000005 EAX: the partition's VP count.
std::uint32_t vp_count();

// --- calls --------------------------------------------------------------------------------------

// HvCallGetVpIndexFromApicId, rep count 1, on this VP's pages. Returns the result value.
std::uint64_t hv_get_vp_index_from_apic_id(std::uint32_t apic_id, std::uint32_t* vp_index);
// HvCallStartVirtualProcessor (PartitionId SELF).
std::uint64_t hv_start_virtual_processor(std::uint32_t vp_index, std::uint8_t target_vtl,
                                         const tlfs::InitialVpContext& ctx);
// HvCallGetVpRegisters for one register of (SELF, vp_index, input_vtl); `value` gets the 16 bytes.
std::uint64_t hv_get_vp_register(std::uint32_t vp_index, tlfs::InputVtl input_vtl,
                                 tlfs::RegisterName name, tlfs::RegisterValue* value);
// The calling VP's active VTL from VsmVpStatus (bits 3:0), or -1 when the call fails.
int hv_active_vtl();

}  // namespace guest
