// XMM fast hypercalls: A11, A26, A27 (the register block RDX, R8, XMM0-XMM5; input first, output
// from the first 16-byte chunk the input leaves free).
#include "suites.h"

namespace conf {

namespace {

using tlfs::CallCode;
using tlfs::Status;

std::uint32_t xmm_u32(const XmmBlock& x, unsigned i) {
  std::uint32_t v;
  memcpy(&v, x.bytes + 4 * i, sizeof v);
  return v;
}
std::uint64_t xmm_u64(const XmmBlock& x, unsigned i) {
  std::uint64_t v;
  memcpy(&v, x.bytes + 8 * i, sizeof v);
  return v;
}
void set_u32(XmmBlock& x, unsigned i, std::uint32_t v) {
  memcpy(x.bytes + 4 * i, &v, sizeof v);
}

// A fast call with no input whose output starts in RDX:R8: (result, RDX, R8).
struct GprResult {
  std::uint64_t result, rdx, r8;
};
GprResult fast_call_gprs(std::uint64_t control, std::uint64_t rdx, std::uint64_t r8) {
  GprResult g{};
  register std::uint64_t r8_reg asm("r8") = r8;
  asm volatile("call guest_hypercall_page"
               : "=a"(g.result), "+c"(control), "+d"(rdx), "+r"(r8_reg)
               :
               : "cc", "memory");
  g.rdx = rdx;
  g.r8 = r8_reg;
  return g;
}

}  // namespace

void test_xmm_fast() {
  const std::uint32_t n = env().vps;
  if (!skipping()) enable_sse();
  Cpuid c{};
  if (!skipping()) c = cpuid(kCpuidHvFeatures);
  CHECK((c.edx >> 4 & 1) && (c.edx >> 15 & 1),
        "A26/A27: CPUID 0x40000003 EDX bits 4 (XMM input) and 15 (XMM output) are set (0x%08x)",
        c.edx);

  EXPECT(hvc(ctl(CallCode::kStartVirtualProcessor) | kFast, tlfs::kPartitionIdSelf, 1ull),
         Status::kInvalidHypercallInput,
         "A11/S1: fast StartVirtualProcessor (240 bytes do not fit RDX, R8 and XMM0-5)");

  // GetVpIndexFromApicId of two APIC IDs: 24 input bytes (IDs in XMM0), output from XMM1.
  XmmBlock x{};
  if (!skipping()) {
    set_u32(x, 0, 0);      // APIC ID of VP 0
    set_u32(x, 1, n - 1);  // of the last VP (M3: APIC ID = VP index)
    set_u32(x, 4, 0xDEAD'BEEF);
    set_u32(x, 5, 0xDEAD'BEEF);
  }
  std::uint64_t r = 0;
  if (!skipping()) {
    r = hv_call_xmm(ctl(CallCode::kGetVpIndexFromApicId, 2) | kFast, tlfs::kPartitionIdSelf, 0,
                    x);
  }
  EXPECT_REPS(r, Status::kSuccess, 2,
              "A26: fast GetVpIndexFromApicId of 2 APIC IDs (input in RDX, R8, XMM0)");
  CHECK(xmm_u32(x, 4) == 0 && xmm_u32(x, 5) == n - 1 && xmm_u32(x, 0) == 0 &&
            xmm_u32(x, 1) == n - 1,
        "A27: ... the VP indexes 0 and %u are in XMM1, and XMM0 is unchanged (%u, %u)", n - 1,
        xmm_u32(x, 4), xmm_u32(x, 5));

  // GetVpRegisters of VsmCodePageOffsets: 20 input bytes, the value in XMM1.
  tlfs::RegisterValue mem{};
  EXPECT_REPS(get_vp_register(tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, 0,
                              tlfs::RegisterName::kVsmCodePageOffsets, &mem),
              Status::kSuccess, 1, "G5: GetVpRegisters(VsmCodePageOffsets) from memory");
  if (!skipping()) {
    x = {};
    set_u32(x, 0, static_cast<std::uint32_t>(tlfs::RegisterName::kVsmCodePageOffsets));
    r = hv_call_xmm(ctl(CallCode::kGetVpRegisters, 1) | kFast, tlfs::kPartitionIdSelf,
                    tlfs::kVpIndexSelf, x);
  }
  EXPECT_REPS(r, Status::kSuccess, 1, "A26/A27: fast GetVpRegisters(VsmCodePageOffsets)");
  CHECK(xmm_u64(x, 2) == mem.low && xmm_u64(x, 3) == mem.high,
        "A27: ... its value is in XMM1, as from memory (0x%lx)", xmm_u64(x, 2));

  // Too big: 5 names need 48 + 80 bytes; 4 SetVpRegisters elements need 16 + 128.
  if (!skipping()) {
    x = {};
    r = hv_call_xmm(ctl(CallCode::kGetVpRegisters, 5) | kFast, tlfs::kPartitionIdSelf,
                    tlfs::kVpIndexSelf, x);
  }
  EXPECT_REPS(r, Status::kInvalidHypercallInput, 0,
              "A11: fast GetVpRegisters of 5 names (input and output exceed 112 bytes)");
  if (!skipping()) {
    x = {};
    r = hv_call_xmm(ctl(CallCode::kSetVpRegisters, 4) | kFast, tlfs::kPartitionIdSelf,
                    tlfs::kVpIndexSelf, x);
  }
  EXPECT_REPS(r, Status::kInvalidHypercallInput, 0,
              "A11: fast SetVpRegisters of 4 elements (144 bytes of input)");

  // No input: the output starts in RDX.
  std::uint64_t id = 0;
  EXPECT(get_partition_id(&id), Status::kSuccess, "GetPartitionId from memory");
  GprResult g{};
  if (!skipping()) g = fast_call_gprs(ctl(CallCode::kGetPartitionId) | kFast, 0, 0x5A5A);
  EXPECT(g.result, Status::kSuccess, "A27: fast GetPartitionId (no input, output in RDX)");
  CHECK(g.rdx == id && g.r8 == 0x5A5A,
        "A27: ... RDX holds the partition id 0x%lx and R8 is unchanged (0x%lx, 0x%lx)", id, g.rdx,
        g.r8);
}

}  // namespace conf
