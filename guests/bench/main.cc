// bench: the guest half of `hvk bench`. Runs N iterations of each measured operation between
// marks (`out 0xf8, al` with the mark number); hvk timestamps the marks and divides.
//   mark 1..2  floor: a call into a page entry identical to the hypercall entry but whose `out`
//              goes to a port hvk ignores (0xf9): one exit to user space and back, no work
//   mark 2..3  a rejected hypercall (unknown call code: HV_STATUS_INVALID_HYPERCALL_CODE)
//   mark 3..4  HvCallGetVpIndexFromApicId, rep count 1
//   mark 4..5  a VTL round trip: VtlCall into VTL 1, which returns at once with a fast VtlReturn
//   mark 5..6  HvCallGetVpIndexFromApicId with its input written once, before the loop (the
//              difference to 3..4 is the guest's own stores around each call)
// Then exits with 0. "n=N" on the command line sets the iterations (default 20000).
#include <cstdint>

#include "guest/guest.h"

extern "C" void vtl_call(std::uint64_t call_offset);
extern "C" void vtl_return(std::uint64_t return_offset, std::uint64_t fast);

namespace {

using namespace guest;

constexpr std::uint16_t kMarkPort = 0xF8;
constexpr std::uint8_t kNullPort = 0xF9;

alignas(4096) std::uint8_t g_null_page[4096];
std::uint64_t g_return_offset = 0;

void mark(std::uint8_t n) {
  asm volatile("outb %0, %1" : : "a"(n), "Nd"(kMarkPort) : "memory");
}

// VTL 1 of the boot VP: every VtlCall lands here; go straight back.
void vtl1_main() {
  for (;;) vtl_return(g_return_offset, 1);
}

int fail(const char* what, std::uint64_t r) {
  printf("bench: %s failed: %s\n", what, hv_status_name(hv_status(r)));
  return 1;
}

}  // namespace

extern "C" int guest_main(const void*) {
  std::uint64_t n = 20000;
  if (const char* v = cmdline_value("n")) {
    if (!parse_u64(v, &n) || n == 0) {
      puts("bench: bad n=N");
      return 1;
    }
  }
  if (const char* err = hv_init()) {
    printf("bench: no Hyper-V interface: %s\n", err);
    return 1;
  }
  // The floor's page: the hypercall page's first entry, with the exit port replaced.
  for (int i = 0; i < 16; ++i) g_null_page[i] = guest_hypercall_page[i];
  if (g_null_page[8] != 0xE6) {
    puts("bench: the hypercall page does not have an `out imm8, al` at offset 8");
    return 1;
  }
  g_null_page[9] = kNullPort;

  tlfs::RegisterValue offsets{};
  std::uint64_t r = hv_get_vp_register(tlfs::kVpIndexSelf, tlfs::InputVtl::current(),
                                       tlfs::RegisterName::kVsmCodePageOffsets, &offsets);
  if (hv_status(r) != 0) return fail("GetVpRegisters(VsmCodePageOffsets)", r);
  const std::uint64_t call_offset = offsets.low & 0xFFF;
  g_return_offset = (offsets.low >> 12) & 0xFFF;
  auto* pin = static_cast<tlfs::EnablePartitionVtlInput*>(hv_input_page());
  *pin = {tlfs::kPartitionIdSelf, 1, 0, {}};
  r = hv_call(hv_control(tlfs::CallCode::kEnablePartitionVtl), pin, nullptr);
  if (hv_status(r) != 0) return fail("HvCallEnablePartitionVtl", r);
  auto* vin = static_cast<tlfs::EnableVpVtlInput*>(hv_input_page());
  *vin = {};
  vin->partition_id = tlfs::kPartitionIdSelf;
  vin->vp_index = tlfs::kVpIndexSelf;
  vin->target_vtl = 1;
  vin->vp_context =
      vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(0) - 0x2000);
  r = hv_call(hv_control(tlfs::CallCode::kEnableVpVtl), vin, nullptr);
  if (hv_status(r) != 0) return fail("HvCallEnableVpVtl", r);
  set_ap_main(vtl1_main);

  printf("bench: %lu iterations each\n", n);
  mark(1);
  for (std::uint64_t i = 0; i < n; ++i) {
    asm volatile("call *%0" : : "r"(g_null_page) : "rax", "cc", "memory");
  }
  mark(2);
  for (std::uint64_t i = 0; i < n; ++i) hv_call(0x7777, std::uint64_t{0}, std::uint64_t{0});
  mark(3);
  std::uint32_t index = 0;
  for (std::uint64_t i = 0; i < n; ++i) hv_get_vp_index_from_apic_id(0, &index);
  mark(4);
  for (std::uint64_t i = 0; i < n; ++i) vtl_call(call_offset);
  mark(5);
  hv_get_vp_index_from_apic_id(0, &index);  // leaves the input in place
  const auto control = hv_control(tlfs::CallCode::kGetVpIndexFromApicId, 1);
  for (std::uint64_t i = 0; i < n; ++i) hv_call(control, hv_input_page(), hv_output_page());
  mark(6);
  return 0;
}
