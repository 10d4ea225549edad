// vtl-demo: every VP runs code in VTL 1 and in VTL 0 and switches between them.
//
// The boot VP (VTL 0) enables VTL 1 on the partition and on itself (EnableVpVtl, a VTL-1 context
// with its own stack) and calls up into VTL 1 (VtlCall). VTL 1 enables VTL 1 on every AP (once a
// VP has VTL 1, only VTL 1 may enable it on the others), starts every AP in VTL 1 with
// HvCallStartVirtualProcessor (only VTL 1 may: from VTL 0 that is ACCESS_DENIED) and returns to
// VTL 0 (fast VtlReturn). On each AP, VTL 1 reports its VP index and VTL (from VsmVpStatus),
// starts its own VTL 0 with HvCallStartVirtualProcessor, and returns to it with VtlReturn; VTL 0
// reports and calls back up with VtlCall; VTL 1 checks it came back in VTL 1 with its private state
// intact. The boot VP does the same round trip from VTL 0 (VtlCall first). Each VTL keeps a
// VTL-specific value in KERNEL_GS_BASE, a per-VTL MSR, and checks the other VTL did not change it;
// the boot VP's VTL 1 switches its own local APIC to x2APIC mode, and VTL 0's must stay in xAPIC.
// While VP 1 runs VTL 1, the boot VP's VTL 0 sends INIT and SIPI to VP 1: they reach VP 1's VTL 0,
// below an enabled VTL, and must be dropped (VP 1's VTL 0 still starts from its start context).
//
// Output: "vtl-demo: VP <i> in VTL <v>" lines, then "vtl-demo: all <N> VPs ran in VTL 1 and
// VTL 0" and exit 0; otherwise a line saying what went wrong and exit 1 (a call failed), 2
// (timeout) or 3 (a VP ran in the wrong VTL or lost its private state).
#include <cstdint>

#include "guest/guest.h"

extern "C" void vtl_call(std::uint64_t call_offset);
extern "C" void vtl_return(std::uint64_t return_offset, std::uint64_t fast);
extern "C" [[noreturn]] void vtl1_serve();
// vtl.S reads these: the VtlReturn entry's offset, and the boot VP's VTL 1 assist page.
extern "C" std::uint64_t vtl_return_offset;
extern "C" std::uint8_t vtl1_assist[4096];
std::uint64_t vtl_return_offset = 0;
alignas(4096) std::uint8_t vtl1_assist[4096];

namespace {

using namespace guest;

constexpr std::uint32_t kMsrKernelGsBase = 0xC000'0102;
constexpr std::uint64_t kApicBaseExtd = 1u << 10;  // x2APIC mode
constexpr std::uint64_t kApicBaseEn = 1u << 11;
constexpr std::uint32_t kMaxVps = 256;
constexpr std::uint64_t kVtl1StackGap = 0x2000;  // VTL 1's stack starts this far below VTL 0's

std::uint64_t g_call_offset = 0;
std::uint64_t g_return_offset = 0;
std::uint32_t g_vps = 0;
volatile std::uint32_t g_done = 0;
volatile std::uint64_t g_start_failure = 0;  // the first failed start's result, with its VP
volatile std::uint32_t g_bad = 0;
volatile std::uint8_t g_seen[kMaxVps][2];  // [vp][vtl]: the VTL reported by VsmVpStatus + 1
volatile std::uint64_t g_vtl1_apic_base = 0;  // the boot VP's VTL 1 APIC base, after x2APIC
// The boot VP's VTL 1 takes interrupts on this vector, counts them, and records why it was
// entered each time (its VP assist page's entry reason).
constexpr std::uint8_t kVtl1Vector = 0x50;
volatile std::uint32_t g_vtl1_irqs = 0;
volatile std::uint32_t g_vtl1_reason = 0;
// Conformance T8: the boot VP's VTL 0 sends INIT and SIPI to VP 1 while VP 1 runs VTL 1 (VP 1's
// VTL 1 waits for this flag before it returns to its VTL 0, which must then run from the context
// its start gave it, not from the SIPI's real-mode vector).
volatile std::uint32_t g_init_sent = 0;

std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (std::uint64_t{hi} << 32) | lo;
}

std::uint64_t marker(std::uint32_t vp, int vtl) {
  return 0xFFFF'8000'0000'0000ull | (std::uint64_t(vtl) << 32) | vp;
}

void bad(const char* what, std::uint32_t vp, std::uint64_t value) {
  printf("vtl-demo: VP %u: %s (0x%lx)\n", vp, what, value);
  __atomic_fetch_add(&g_bad, 1, __ATOMIC_SEQ_CST);
}

// Reports the VTL this code runs in and checks it is `want`.
void report(std::uint32_t vp, int want) {
  const int vtl = hv_active_vtl();
  printf("vtl-demo: VP %u in VTL %d\n", vp, vtl);
  if (vtl != want) bad("ran in the wrong VTL", vp, static_cast<std::uint64_t>(vtl));
  if (vp < kMaxVps && vtl >= 0 && vtl <= 1) g_seen[vp][vtl] = static_cast<std::uint8_t>(vtl + 1);
}

void check_marker(std::uint32_t vp, int vtl) {
  const std::uint64_t v = rdmsr(kMsrKernelGsBase);
  if (v != marker(vp, vtl)) bad("per-VTL KERNEL_GS_BASE changed across a VTL switch", vp, v);
}

tlfs::InitialVpContext vtl1_context(std::uint32_t vp) {
  return vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64),
                       vp_stack_top(vp) - kVtl1StackGap);
}

std::uint64_t enable_vp_vtl1(std::uint32_t vp);

// Every VP's entry, in either VTL (guest_ap_entry64 calls it).
void ap_main() {
  const std::uint32_t vp = this_cpu()->vp_index;
  const int vtl = hv_active_vtl();
  if (vtl == 1 && vp == 0) {
    // The boot VP's VTL 1: start every AP in VTL 1, then go back with a fast VtlReturn.
    report(vp, 1);
    wrmsr(kMsrKernelGsBase, marker(vp, 1));  // VTL 0's own value must survive this
    // VTL 1 has a local APIC of its own: switching it to x2APIC mode leaves VTL 0's as it is.
    const std::uint64_t base = rdmsr(kMsrApicBase);
    if ((cpuid(1).ecx >> 21 & 1) != 0 && (base & kApicBaseEn) != 0) {
      wrmsr(kMsrApicBase, base | kApicBaseExtd);
    }
    g_vtl1_apic_base = rdmsr(kMsrApicBase);
    // VTL 0's RIP, read from VTL 1: VTL 0 waits at the `ret` of the VtlCall entry it left by.
    tlfs::RegisterValue rip0{};
    const std::uint64_t rr = hv_get_vp_register(tlfs::kVpIndexSelf, tlfs::InputVtl::target(0),
                                                tlfs::RegisterName::kRip, &rip0);
    const auto page = reinterpret_cast<std::uint64_t>(guest_hypercall_page);
    if (hv_status(rr) != 0 || rip0.low < page + g_call_offset || rip0.low >= page + 4096) {
      bad("GetVpRegisters(VTL 0 RIP) from VTL 1 is not in the VtlCall entry", vp, rip0.low);
    } else {
      puts("vtl-demo: VTL 1 read VTL 0's RIP in the VtlCall entry with GetVpRegisters");
    }
    for (std::uint32_t ap = 1; ap < g_vps; ++ap) {
      std::uint64_t r = enable_vp_vtl1(ap);
      if (hv_status(r) == 0) r = hv_start_virtual_processor(ap, 1, vtl1_context(ap));
      if (hv_status(r) != 0) {
        g_start_failure = (std::uint64_t{ap} << 32) | hv_status(r);
        break;
      }
    }
    // Interrupts for VTL 1: its own APIC, software enabled, and an assist page to learn why it
    // is entered.
    apic_sw_enable();
    set_interrupt_handler(kVtl1Vector, [](ExceptionFrame*) {
      // Why VTL 1 was entered (VTL 0 of the boot VP makes no second VtlCall: an interrupt).
      g_vtl1_reason = *reinterpret_cast<volatile std::uint32_t*>(vtl1_assist + 8);
      __atomic_fetch_add(&g_vtl1_irqs, 1, __ATOMIC_SEQ_CST);
      apic_eoi();
    });
    wrmsr(kMsrVpAssistPage, reinterpret_cast<std::uint64_t>(vtl1_assist) | 1);
    vtl_return_offset = g_return_offset;
    vtl1_serve();
  }
  if (vtl == 1) {
    // An AP, started in VTL 1: start this VP's VTL 0, which runs when VTL 1 returns to it.
    report(vp, 1);
    wrmsr(kMsrKernelGsBase, marker(vp, 1));
    const auto ctx0 =
        vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(vp));
    const std::uint64_t r = hv_start_virtual_processor(vp, 0, ctx0);
    if (hv_status(r) != 0) {
      bad("HvCallStartVirtualProcessor of its own VTL 0 failed", vp, r);
      return;
    }
    if (vp == 1) {
      const std::uint64_t t0 = rdtsc();
      while (g_init_sent == 0 && rdtsc() - t0 < 20'000'000'000ull) pause();
      if (g_init_sent == 0) bad("the boot VP never sent its INIT and SIPI", vp, 0);
    }
    vtl_return(g_return_offset, 0);
    // Back from VTL 0's VtlCall.
    if (hv_active_vtl() != 1) bad("VtlCall did not come back to VTL 1", vp, 0);
    check_marker(vp, 1);
    __atomic_fetch_add(&g_done, 1, __ATOMIC_SEQ_CST);
    return;  // the AP halts in VTL 1
  }
  // An AP's VTL 0, entered by VTL 1's VtlReturn.
  report(vp, 0);
  wrmsr(kMsrKernelGsBase, marker(vp, 0));
  vtl_call(g_call_offset);
  bad("VTL 1 returned to an AP's VTL 0 a second time", vp, 0);
}

int fail(const char* call, std::uint32_t vp, std::uint64_t r) {
  printf("vtl-demo: %s (VP %u) failed: status 0x%04x (%s)\n", call, vp, hv_status(r),
         hv_status_name(hv_status(r)));
  return 1;
}

std::uint64_t enable_partition_vtl1() {
  auto* in = static_cast<tlfs::EnablePartitionVtlInput*>(hv_input_page());
  *in = {tlfs::kPartitionIdSelf, 1, 0, {}};
  return hv_call(hv_control(tlfs::CallCode::kEnablePartitionVtl), in, nullptr);
}

std::uint64_t enable_vp_vtl1(std::uint32_t vp) {
  auto* in = static_cast<tlfs::EnableVpVtlInput*>(hv_input_page());
  *in = {};
  in->partition_id = tlfs::kPartitionIdSelf;
  in->vp_index = vp;
  in->target_vtl = 1;
  in->vp_context = vtl1_context(vp);
  return hv_call(hv_control(tlfs::CallCode::kEnableVpVtl), in, nullptr);
}

}  // namespace

extern "C" int guest_main(const void*) {
  if (const char* err = hv_init()) {
    printf("vtl-demo: no Hyper-V interface: %s\n", err);
    return 1;
  }
  const std::uint32_t n = vp_count();
  if (n == 0 || n > kMaxVps) {
    printf("vtl-demo: %u VPs is outside 1..%u\n", n, kMaxVps);
    return 1;
  }
  tlfs::RegisterValue offsets{};
  std::uint64_t r = hv_get_vp_register(tlfs::kVpIndexSelf, tlfs::InputVtl::current(),
                                       tlfs::RegisterName::kVsmCodePageOffsets, &offsets);
  if (hv_status(r) != 0) return fail("GetVpRegisters(VsmCodePageOffsets)", 0, r);
  g_call_offset = offsets.low & 0xFFF;
  g_return_offset = (offsets.low >> 12) & 0xFFF;
  if (n > 1) {
    if (const char* err = vp_blocks_init(n)) {
      printf("vtl-demo: %s\n", err);
      return 1;
    }
  }
  set_ap_main(ap_main);
  r = enable_partition_vtl1();
  if (hv_status(r) != 0) return fail("HvCallEnablePartitionVtl", 0, r);
  r = enable_vp_vtl1(0);
  if (hv_status(r) != 0) return fail("HvCallEnableVpVtl", 0, r);
  if (n > 1) {
    // Once VP 0 has VTL 1, VTL 0 may not enable it anywhere else.
    r = enable_vp_vtl1(1);
    if (hv_status(r) != static_cast<std::uint16_t>(tlfs::Status::kAccessDenied)) {
      return fail("HvCallEnableVpVtl of VP 1 from VTL 0 (expected ACCESS_DENIED)", 1, r);
    }
  }

  // Misuse is #UD, not a status: VtlCall with a reserved control bit, VtlReturn from VTL 0.
  const int call_ud = catch_exception([](void*) { vtl_return(g_call_offset, 1); },
                                      nullptr);  // the VtlCall entry, RCX = 1
  const int return_ud = catch_exception([](void*) { vtl_return(g_return_offset, 0); }, nullptr);
  if (call_ud != 6 || return_ud != 6) {
    printf("vtl-demo: misuse gave vectors %d and %d, expected #UD (6) for both\n", call_ud,
           return_ud);
    return 3;
  }
  puts("vtl-demo: VtlCall with a reserved bit and VtlReturn from VTL 0 raise #UD");

  // From VTL 0 the APs cannot be started in VTL 1.
  if (n > 1) {
    r = hv_start_virtual_processor(1, 1, vtl1_context(1));
    if (hv_status(r) != static_cast<std::uint16_t>(tlfs::Status::kAccessDenied)) {
      return fail("HvCallStartVirtualProcessor into VTL 1 from VTL 0 (expected ACCESS_DENIED)", 1,
                  r);
    }
  }

  // The boot VP: VTL 0 -> VTL 1 (which starts the APs) -> VTL 0.
  g_vps = n;
  report(0, 0);
  wrmsr(kMsrKernelGsBase, marker(0, 0));
  vtl_call(g_call_offset);
  if (hv_active_vtl() != 0) bad("VtlReturn did not come back to VTL 0", 0, 0);
  check_marker(0, 0);
  if ((g_vtl1_apic_base & kApicBaseExtd) != 0) {
    const std::uint64_t base0 = rdmsr(kMsrApicBase);
    if ((base0 & kApicBaseExtd) != 0) {
      bad("VTL 1 switching its APIC to x2APIC mode changed VTL 0's APIC base", 0, base0);
    } else {
      printf("vtl-demo: VTL 1's local APIC is its own (VTL 1 in x2APIC mode, VTL 0 not: 0x%lx)\n",
             base0);
    }
  }
  if (n > 1 && g_start_failure == 0) {
    // T8: INIT and SIPI from VTL 0 to VP 1, whose VTL 1 runs and waits for them to arrive.
    apic_sw_enable();
    const bool sent = apic_send_ipi(kIcrInit, 1) && apic_send_ipi(kIcrSipi | 0x08, 1);
    if (!sent) bad("the INIT or SIPI to VP 1 was not delivered (ICR busy)", 0, 0);
    g_init_sent = 1;
  }
  if (g_start_failure != 0) {
    printf("vtl-demo: HvCallEnableVpVtl or HvCallStartVirtualProcessor into VTL 1 (VP %u) from "
           "VTL 1 failed: %s\n",
           static_cast<std::uint32_t>(g_start_failure >> 32),
           hv_status_name(static_cast<std::uint16_t>(g_start_failure)));
    return 1;
  }
  // Wait for every AP's round trip, bounded by the TSC (pause is slow on some nested hosts).
  const std::uint64_t start = rdtsc();
  while (g_done + g_bad < n - 1) {
    if (rdtsc() - start > 40'000'000'000ull) {
      printf("vtl-demo: timeout: %u of %u APs finished\n", g_done, n - 1);
      return 2;
    }
    pause();
  }
  for (std::uint32_t vp = 0; vp < n; ++vp) {
    if (g_seen[vp][0] != 1 || g_seen[vp][1] != 2) bad("did not run in both VTLs", vp, 0);
  }
  if (n > 1 && g_seen[1][0] == 1) {
    puts("vtl-demo: INIT and SIPI sent to VP 1's VTL 0 while VP 1 ran VTL 1 were dropped");
  }
  // An interrupt for VTL 1 of this VP, sent from VTL 0 (HvCallSendSyntheticClusterIpi naming
  // VTL 1, fast): the VP enters VTL 1 at once, which takes it and returns.
  r = hv_call(hv_control(tlfs::CallCode::kSendSyntheticClusterIpi) | (1ull << 16),
              kVtl1Vector | std::uint64_t{tlfs::InputVtl::target(1).raw} << 32, 1);
  if (hv_status(r) != 0) return fail("HvCallSendSyntheticClusterIpi to VTL 1", 0, r);
  const std::uint64_t t0 = rdtsc();
  while (g_vtl1_irqs == 0 && rdtsc() - t0 < 10'000'000'000ull) pause();
  if (g_vtl1_irqs != 1 || g_vtl1_reason != 2) {
    bad("an interrupt for VTL 1 did not enter VTL 1 once with entry reason 2", 0,
        std::uint64_t{g_vtl1_irqs} << 32 | g_vtl1_reason);
  } else {
    puts("vtl-demo: an interrupt for VTL 1 sent from VTL 0 entered VTL 1 at once (entry reason 2)");
  }
  if (g_bad != 0) return 3;
  printf("vtl-demo: all %u VPs ran in VTL 1 and VTL 0\n", n);
  return 0;
}
