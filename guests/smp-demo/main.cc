// smp-demo: brings every VP of the partition online and has each print one line.
//
// Default: for each other VP, HvCallGetVpIndexFromApicId (APIC ID -> VP index) then
// HvCallStartVirtualProcessor with a 64-bit context copied from the boot VP (own stack per VP).
// With "init-sipi" on the command line: INIT-SIPI-SIPI through a real-mode trampoline at 0x8000.
//
// Output (AP lines in any order):
//   smp-demo: VP <index> APIC <apic id> VTL <vtl> online      (once per VP, boot VP first)
//   smp-demo: all <N> VPs online via HvCallStartVirtualProcessor | INIT-SIPI
// Exit status: 0 all online; 1 setup or hypercall failure (the status is printed in hex);
// 2 timeout (prints how many came up); 3 a VP started with a stack other than the one meant for it.
#include <cstdint>

#include "guest/guest.h"

namespace {

using namespace guest;

// Timeout: no new AP for at least kMinSpins `pause` spins AND kMinTscCycles TSC cycles (a pause
// costs tens of ns on hardware but microseconds on some nested hosts, so neither alone gives a
// sane bound: together they mean roughly 2-8 s), or kMaxSpins spins whatever the TSC says.
// "spins=N" on the command line replaces all three with a plain bound of N spins.
constexpr std::uint64_t kMinSpins = 1'000'000;
constexpr std::uint64_t kMinTscCycles = 8'000'000'000;
constexpr std::uint64_t kMaxSpins = 200'000'000;

std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (std::uint64_t{hi} << 32) | lo;
}

volatile std::uint32_t g_online = 0;  // APs that printed their line
volatile std::uint32_t g_wrong_stack = 0;
bool g_via_start_vp = true;

void print_online() {
  const int vtl = hv_active_vtl();  // -1 when GetVpRegisters(VsmVpStatus) fails: report VTL 0
  printf("smp-demo: VP %u APIC %u VTL %d online\n", this_cpu()->vp_index, apic_id(),
         vtl < 0 ? 0 : vtl);
}

void ap_main() {
  Percpu* p = this_cpu();
  // HvCallStartVirtualProcessor gave VP i the stack in block i: check the context took effect.
  if (g_via_start_vp && p->slot != p->vp_index) {
    printf("smp-demo: VP %u started on the stack meant for VP %u\n", p->vp_index, p->slot);
    __atomic_fetch_add(&g_wrong_stack, 1, __ATOMIC_SEQ_CST);
  } else {
    print_online();
  }
  __atomic_fetch_add(&g_online, 1, __ATOMIC_SEQ_CST);
}

int fail_call(const char* call, const char* what, std::uint32_t id, std::uint64_t result) {
  printf("smp-demo: %s(%s %u) failed: status 0x%04x (%s), result 0x%lx\n", call, what, id,
         hv_status(result), hv_status_name(hv_status(result)), result);
  return 1;
}

int start_with_hypercalls(std::uint32_t n) {
  const std::uint32_t self_apic = apic_id();
  for (std::uint32_t apic = 0; apic < n; ++apic) {
    if (apic == self_apic) continue;
    std::uint32_t index = 0;
    std::uint64_t r = hv_get_vp_index_from_apic_id(apic, &index);
    if (hv_status(r) != 0 || hv_reps(r) != 1) {
      return fail_call("HvCallGetVpIndexFromApicId", "APIC", apic, r);
    }
    if (index == 0 || index >= n) {
      printf("smp-demo: HvCallGetVpIndexFromApicId(APIC %u) gave VP index %u, outside 1..%u\n",
             apic, index, n - 1);
      return 1;
    }
    const auto ctx =
        vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(index));
    r = hv_start_virtual_processor(index, 0, ctx);
    if (hv_status(r) != 0) return fail_call("HvCallStartVirtualProcessor", "VP", index, r);
  }
  return 0;
}

}  // namespace

extern "C" int guest_main(const void*) {
  g_via_start_vp = !cmdline_has("init-sipi");
  const char* method = g_via_start_vp ? "HvCallStartVirtualProcessor" : "INIT-SIPI";

  if (const char* err = hv_init()) {
    printf("smp-demo: no Hyper-V interface: %s\n", err);
    return 1;
  }
  const std::uint32_t n = vp_count();
  if (n == 0) {
    puts("smp-demo: CPUID 0x40000005 EAX (VP count) is 0");
    return 1;
  }
  print_online();
  if (n > 1) {
    if (const char* err = vp_blocks_init(n)) {
      printf("smp-demo: %s\n", err);
      return 1;
    }
    set_ap_main(ap_main);
    if (g_via_start_vp) {
      if (const int rc = start_with_hypercalls(n)) return rc;
    } else if (const char* err = init_sipi_start_all()) {
      printf("smp-demo: %s\n", err);
      return 1;
    }

    // Wait for n - 1 APs. The bound (kMinSpins, kMinTscCycles) restarts whenever another AP
    // comes online, so a slow but steady bring-up does not time out.
    std::uint64_t min_spins = kMinSpins, min_cycles = kMinTscCycles, max_spins = kMaxSpins;
    if (const char* v = cmdline_value("spins")) {
      if (!parse_u64(v, &min_spins)) {
        puts("smp-demo: bad spins=N");
        return 1;
      }
      min_cycles = 0;
      max_spins = min_spins;
    }
    std::uint32_t seen = 0;
    std::uint32_t last = 0;
    std::uint64_t spins = 0;
    std::uint64_t since = rdtsc();
    while ((seen = g_online) < n - 1) {
      if (seen != last) {
        last = seen;
        spins = 0;
        since = rdtsc();
      } else if (++spins >= max_spins || (spins >= min_spins && rdtsc() - since >= min_cycles)) {
        printf("smp-demo: timeout: %u of %u VPs online via %s\n", seen + 1, n, method);
        if (!g_via_start_vp) {
          printf("smp-demo: %u APs reached 64-bit mode in the trampoline\n",
                 trampoline_params()->arrived);
        }
        return 2;
      }
      pause();
    }
    if (g_wrong_stack != 0) {
      printf("smp-demo: %u VPs started with a wrong context\n", g_wrong_stack);
      return 3;
    }
  }
  printf("smp-demo: all %u VPs online via %s\n", n, method);
  return 0;
}
