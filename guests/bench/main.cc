// bench: the guest half of `hvk bench`'s round trips. Each round runs every measured operation
// n/rounds times, in turn, and writes the mark port (`out 0xf8, al`) after each; hvk timestamps the
// marks and takes, per operation, the median over the rounds (rounds interleave the operations, so
// a slow moment of a shared host spreads over all of them instead of landing on one).
//   mark 0     a round begins
//   mark 1     floor: the hypercall sequence (same registers, same `call`, a page entry identical
//   to
//              the hypercall entry) whose `out` goes to a port hvk ignores (0xf9): one exit to
//              user space and back, no work
//   mark 2     a rejected hypercall (unknown call code: HV_STATUS_INVALID_HYPERCALL_CODE)
//   mark 3     HvCallGetVpIndexFromApicId, rep count 1, input written before each call
//   mark 4     a VTL round trip: VtlCall into VTL 1, which returns at once with a fast VtlReturn
//   mark 5     HvCallGetVpIndexFromApicId with its input written once, before the loop (the
//              difference to mark 3 is the guest's own stores around each call)
//   mark 6     an interrupt into VTL 1: HvCallSendSyntheticClusterIpi (fast) from VTL 0 to its
//              own VP's VTL 1, which the VP enters at once (entry reason interrupt), takes it in
//              a handler that EOIs, and returns to VTL 0 (vtl1.S)
//   mark 7     (with a second VP, written by it) an interrupt KVM delivers into the boot VP's
//              VTL 1 while the boot VP runs VTL 0: VP 1, in VTL 1, sends a fixed IPI through its
//              own VTL 1 APIC and waits until the boot VP's VTL 1 handler took it. hvk learns of
//              such an interrupt only through its VTL interrupt watch (a 1 ms poll).
// Then exits with 0. "n=N" sets the iterations per operation (default 20000), "rounds=R" how many
// rounds they are split into (default 10, at most n).
#include <cstdint>

#include "guest/guest.h"

extern "C" void vtl_call(std::uint64_t call_offset);
// VTL 1's loop (vtl1.S), the VtlReturn entry's offset and VTL 1's VP assist page it reads.
extern "C" [[noreturn]] void bench_vtl1_loop();
extern "C" std::uint64_t bench_vtl1_return_offset;
// A request VTL 0 leaves for VTL 1's next VtlCall entry (vtl1.S calls bench_vtl1_request when
// it is not 0): 1 = enable VTL 1 on VP 1 and start VP 1 there.
extern "C" volatile std::uint32_t g_vtl1_request;
extern "C" void bench_vtl1_request();
volatile std::uint32_t g_vtl1_request = 0;
volatile std::uint16_t g_vtl1_start_status = 0;
extern "C" std::uint8_t bench_vtl1_assist[4096];
std::uint64_t bench_vtl1_return_offset = 0;
alignas(4096) std::uint8_t bench_vtl1_assist[4096];

namespace {

using namespace guest;

constexpr std::uint16_t kMarkPort = 0xF8;
constexpr std::uint8_t kNullPort = 0xF9;
constexpr std::uint64_t kFastBit = 1ull << 16;

alignas(4096) std::uint8_t g_null_page[4096];
constexpr std::uint8_t kVtl1Vector = 0x50;
volatile std::uint64_t g_vtl1_irqs = 0;
// The watch row (mark 7): VP 1's VTL 1 sends; the boot VP's VTL 0 spins until it is done.
std::uint64_t g_watch_ops = 0;
volatile std::uint32_t g_watch_go = 0;
volatile std::uint32_t g_watch_done = 0;
volatile std::uint64_t g_watch_fail = 0;

void mark(std::uint8_t n) {
  asm volatile("outb %0, %1" : : "a"(n), "Nd"(kMarkPort) : "memory");
}

// hv_call's exact sequence, with the page to call in a register: the floor and the hypercalls run
// the same guest instructions, so their difference is hvk's work (notes §9: on hosts that emulate
// guest code, each instruction costs about as much as the exit itself).
[[gnu::always_inline]] inline std::uint64_t call_page(const void* page, std::uint64_t control,
                                                      std::uint64_t input, std::uint64_t output) {
  std::uint64_t result;
  register std::uint64_t r8 asm("r8") = output;
  asm volatile("call *%[page]"
               : "=a"(result), "+c"(control), "+d"(input), "+r"(r8)
               : [page] "r"(page)
               : "cc", "memory");
  return result;
}

// VP 1, started in VTL 1 by the boot VP's VTL 1: when told, sends g_watch_ops fixed IPIs through
// its own VTL 1 APIC to the boot VP's VTL 1, each after the last was taken, marking 7 at the end.
void vp1_vtl1_main() {
  apic_sw_enable();
  while (g_watch_go == 0) pause();
  for (std::uint64_t i = 0; i < g_watch_ops; ++i) {
    const std::uint64_t before = g_vtl1_irqs;
    if (!apic_send_ipi(kVtl1Vector, 0)) {
      g_watch_fail = 1;
      break;
    }
    std::uint64_t spins = 0;
    while (g_vtl1_irqs == before) {
      pause();
      if (++spins > 4'000'000'000ull) {
        g_watch_fail = 2;
        break;
      }
    }
    if (g_watch_fail != 0) break;
  }
  mark(7);
  g_watch_done = 1;
  for (;;) asm volatile("cli; hlt");
}

// VTL 1 of the boot VP, at its first entry (the first VtlCall): its interrupt handler and VP
// assist page, then the loop that serves every later entry.
void vtl1_main() {
  if (this_cpu()->vp_index != 0) vp1_vtl1_main();
  apic_sw_enable();
  set_interrupt_handler(kVtl1Vector, [](ExceptionFrame*) {
    g_vtl1_irqs = g_vtl1_irqs + 1;
    apic_eoi();
  });
  wrmsr(kMsrVpAssistPage, reinterpret_cast<std::uint64_t>(bench_vtl1_assist) | 1);
  bench_vtl1_loop();
}

int fail(const char* what, std::uint64_t r) {
  printf("bench: %s failed: %s\n", what, hv_status_name(hv_status(r)));
  return 1;
}

}  // namespace

extern "C" void bench_vtl1_request() {
  if (g_vtl1_request == 1) {
    const tlfs::InitialVpContext context =
        vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(1) - 0x2000);
    auto* in = static_cast<tlfs::EnableVpVtlInput*>(hv_input_page());
    *in = {};
    in->partition_id = tlfs::kPartitionIdSelf;
    in->vp_index = 1;
    in->target_vtl = 1;
    in->vp_context = context;
    std::uint64_t r = hv_call(hv_control(tlfs::CallCode::kEnableVpVtl), in, nullptr);
    // (hv_start_virtual_processor writes the same input page: the context is passed from a copy)
    if (hv_status(r) == 0) r = hv_start_virtual_processor(1, 1, context);
    g_vtl1_start_status = hv_status(r);
  }
  g_vtl1_request = 0;
}

extern "C" int guest_main(const void*) {
  std::uint64_t n = 20000, rounds = 10;
  if (const char* v = cmdline_value("n")) {
    if (!parse_u64(v, &n) || n == 0) {
      puts("bench: bad n=N");
      return 1;
    }
  }
  if (const char* v = cmdline_value("rounds")) {
    if (!parse_u64(v, &rounds) || rounds == 0) {
      puts("bench: bad rounds=R");
      return 1;
    }
  }
  if (rounds > n) rounds = n;
  const std::uint64_t per_round = n / rounds;
  const std::uint64_t watch_ops = per_round;  // the host divides mark 7's time by per_round too
  if (vp_count() > 1) {
    if (const char* err = vp_blocks_init(2)) {
      printf("bench: %s\n", err);
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
  bench_vtl1_return_offset = (offsets.low >> 12) & 0xFFF;
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

  printf("bench: %lu iterations each, in %lu rounds\n", per_round * rounds, rounds);
  const void* hv_page = guest_hypercall_page;
  const void* null_page = g_null_page;
  std::uint32_t index = 0;
  const auto prepared = hv_control(tlfs::CallCode::kGetVpIndexFromApicId, 1);
  void* in = hv_input_page();
  void* out = hv_output_page();
  hv_get_vp_index_from_apic_id(0, &index);  // leaves the input in place for mark 5's calls
  for (std::uint64_t k = 0; k < rounds; ++k) {
    mark(0);
    for (std::uint64_t i = 0; i < per_round; ++i) call_page(null_page, 0x7777, 0, 0);
    mark(1);
    for (std::uint64_t i = 0; i < per_round; ++i) call_page(hv_page, 0x7777, 0, 0);
    mark(2);
    for (std::uint64_t i = 0; i < per_round; ++i) hv_get_vp_index_from_apic_id(0, &index);
    mark(3);
    for (std::uint64_t i = 0; i < per_round; ++i) vtl_call(call_offset);
    mark(4);
    for (std::uint64_t i = 0; i < per_round; ++i) {
      call_page(hv_page, prepared, reinterpret_cast<std::uint64_t>(in),
                reinterpret_cast<std::uint64_t>(out));
    }
    mark(5);
    for (std::uint64_t i = 0; i < per_round; ++i) {
      r = hv_call(hv_control(tlfs::CallCode::kSendSyntheticClusterIpi) | kFastBit,
                  kVtl1Vector | std::uint64_t{tlfs::InputVtl::target(1).raw} << 32, 1);
      if (hv_status(r) != 0) return fail("HvCallSendSyntheticClusterIpi to VTL 1", r);
    }
    mark(6);
  }
  if (g_vtl1_irqs != per_round * rounds) {
    printf("bench: VTL 1 took %lu interrupts, expected %lu\n", g_vtl1_irqs, per_round * rounds);
    return 1;
  }
  if (vp_count() < 2) return 0;
  // The watch row: VP 1 enters VTL 1 (enabled and started from the boot VP's VTL 1 by a request
  // below) and sends; the boot VP spins in VTL 0 meanwhile.
  g_watch_ops = watch_ops;
  g_vtl1_request = 1;
  vtl_call(call_offset);
  if (g_vtl1_start_status != 0) {
    printf("bench: starting VP 1 in VTL 1 failed: %s\n", hv_status_name(g_vtl1_start_status));
    return 1;
  }
  const std::uint64_t irqs = g_vtl1_irqs;
  mark(0);  // the boot VP's last mark: VP 1's mark 7 closes the row
  g_watch_go = 1;
  while (g_watch_done == 0) pause();
  if (g_watch_fail != 0 || g_vtl1_irqs - irqs != watch_ops) {
    printf("bench: the watch row failed (%lu; %lu of %lu interrupts taken)\n", g_watch_fail,
           g_vtl1_irqs - irqs, watch_ops);
    return 1;
  }
  return 0;
}
