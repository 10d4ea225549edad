// bench-smp: the guest half of `hvk bench`'s VP start, bring-up and start-up rows. One image runs
// under hvk (ELF entry, 64-bit boot protocol) and under QEMU (PVH entry, entry.S). Every time is a
// TSC difference read in the guest; hvk bench turns cycles into time with KVM's TSC frequency.
//
// Command line:
//   mode=bringup method=svp|sipi   start every other VP (StartVirtualProcessor: one call per VP
//                                  index; INIT-SIPI: one broadcast through the trampoline) and
//                                  wait until all are online (each ran bench_ap_entry64)
//   mode=latency                   start VPs one at a time, alternating StartVirtualProcessor and a
//                                  targeted INIT-SIPI, each from its issuing instruction to the
//                                  target's first instruction at the 64-bit entry
//   mode=startup                   print at once, then end (hvk bench times the process)
//   mode=speed                     time a loop of register adds: the host's guest instruction rate
//   cpus=N                         the VP count (without Hyper-V: QEMU); default CPUID 0x40000005
//   hold=CYCLES                    after reporting, spin this many TSC cycles before ending (so
//                                  hvk bench can read the process's memory while the VPs exist)
// Output: one "bench-smp: ..." line per result, numbers in TSC cycles; exit 0, or 1 with a reason.
#include <cstdint>

#include "bench_smp.h"
#include "guest/guest.h"

extern "C" {
extern volatile std::uint32_t bench_online;
extern std::uint64_t bench_entry_tsc;
void bench_ap_entry64();
}

namespace {

using namespace guest;

constexpr std::uint64_t kTimeoutCycles = 30'000'000'000;  // ~10 s: a start that never arrives

std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return (std::uint64_t{hi} << 32) | lo;
}

volatile std::uint64_t& ap_tsc(std::uint32_t slot) {
  return *reinterpret_cast<volatile std::uint64_t*>(vp_block(slot) + BENCH_AP_TSC_OFFSET);
}

std::uint64_t g_tsc_hz = 0;

int fail(const char* what) {
  printf("bench-smp: %s\n", what);
  return 1;
}

int fail_status(const char* call, std::uint32_t vp, std::uint64_t r) {
  printf("bench-smp: %s(VP %u) failed: %s\n", call, vp, hv_status_name(hv_status(r)));
  return 1;
}

// Spins until `done()` or the timeout; false on timeout.
template <typename F>
bool wait_for(F done) {
  const std::uint64_t start = rdtsc();
  while (!done()) {
    if (rdtsc() - start > kTimeoutCycles) return false;
    pause();
  }
  return true;
}

// StartVirtualProcessor's input for VP `vp`, with the constant part written once.
struct StartCall {
  StartCall() : in(static_cast<tlfs::StartVirtualProcessorInput*>(hv_input_page())) {
    memset(in, 0, sizeof *in);
    in->partition_id = tlfs::kPartitionIdSelf;
    in->vp_context = vp_context_64(reinterpret_cast<std::uint64_t>(&bench_ap_entry64), 0);
  }
  void prepare(std::uint32_t vp) {
    in->vp_index = vp;
    in->vp_context.rsp = vp_stack_top(vp);
  }
  std::uint64_t issue() {
    return hv_call(hv_control(tlfs::CallCode::kStartVirtualProcessor), in, nullptr);
  }
  tlfs::StartVirtualProcessorInput* in;
};

int bringup(std::uint32_t n, bool svp) {
  const char* method = svp ? "svp" : "sipi";
  const std::uint64_t t0 = rdtsc();
  if (svp) {
    StartCall call;
    for (std::uint32_t vp = 1; vp < n; ++vp) {
      call.prepare(vp);
      if (const std::uint64_t r = call.issue(); hv_status(r) != 0) {
        return fail_status("HvCallStartVirtualProcessor", vp, r);
      }
    }
  } else if (n > 1) {
    if (const char* err = init_sipi_prepare(bench_ap_entry64, 1, n)) return fail(err);
    if (const char* err = init_sipi_send(kIcrAllButSelf)) return fail(err);
  }
  const std::uint64_t issued = rdtsc();
  if (!wait_for([n] { return bench_online >= n - 1; })) {
    printf("bench-smp: timeout: %u of %u VPs online via %s\n", bench_online + 1, n, method);
    return 1;
  }
  const std::uint64_t t1 = rdtsc();
  std::uint64_t first = t1;
  for (std::uint32_t s = 1; s < n; ++s) first = ap_tsc(s) < first ? ap_tsc(s) : first;
  printf(
      "bench-smp: bringup method=%s n=%u cycles=%lu issue_cycles=%lu first_cycles=%lu "
      "tsc_hz=%lu\n",
      method, n, t1 - t0, issued - t0, n > 1 ? first - t0 : 0, g_tsc_hz);
  return 0;
}

// One start of VP `slot` (APIC ID = VP index = slot) by each method in turn.
int latency(std::uint32_t n, bool have_hv) {
  if (n < 2) return fail("latency needs at least 2 VPs");
  StartCall call;
  for (std::uint32_t slot = 1; slot < n; ++slot) {
    const bool svp = have_hv && (slot % 2 == 1);
    std::uint64_t t0 = 0, returned = 0;
    if (svp) {
      call.prepare(slot);
      t0 = rdtsc();
      const std::uint64_t r = call.issue();
      returned = rdtsc();
      if (hv_status(r) != 0) return fail_status("HvCallStartVirtualProcessor", slot, r);
    } else {
      if (const char* err = init_sipi_prepare(bench_ap_entry64, slot, slot + 1)) return fail(err);
      t0 = rdtsc();
      if (const char* err = init_sipi_send(0, slot)) return fail(err);
      returned = rdtsc();
    }
    if (!wait_for([slot] { return ap_tsc(slot) != 0; })) {
      printf("bench-smp: timeout: VP %u never reached its entry\n", slot);
      return 1;
    }
    const std::uint64_t at = ap_tsc(slot);
    if (at < t0) {
      printf("bench-smp: VP %u's TSC is behind the caller's: the TSCs are not in sync\n", slot);
      return 1;
    }
    printf("bench-smp: latency method=%s vp=%u cycles=%lu call_cycles=%lu tsc_hz=%lu issue_tsc=%lu "
           "first_tsc=%lu\n",
           svp ? "svp" : "sipi", slot, at - t0, returned - t0, g_tsc_hz, t0, at);
  }
  return 0;
}

// A dependent chain of register adds (loop overhead included): cycles per iteration show whether
// the host runs guest code natively (about 1) or through an instruction emulator (thousands).
int speed() {
  constexpr std::uint64_t kIterations = 20000;
  std::uint64_t x = 0;
  const std::uint64_t t0 = rdtsc();
  for (std::uint64_t i = 0; i < kIterations; ++i) asm volatile("add %1, %0" : "+r"(x) : "r"(i));
  const std::uint64_t t1 = rdtsc();
  printf("bench-smp: speed iterations=%lu cycles=%lu\n", kIterations, t1 - t0);
  return 0;
}

}  // namespace

extern "C" int guest_main(const void*) {
  if (cmdline_value("mode") && strncmp(cmdline_value("mode"), "startup", 7) == 0) {
    const std::uint64_t t = rdtsc();
    puts("!");  // the first console byte: as few bytes as possible before it
    printf("bench-smp: startup entry_to_print_cycles=%lu\n", t - bench_entry_tsc);
    return 0;
  }
  if (cmdline_value("mode") && strncmp(cmdline_value("mode"), "speed", 5) == 0) return speed();
  const bool have_hv = hv_init() == nullptr;
  std::uint64_t n = have_hv ? vp_count() : 1;
  if (const char* v = cmdline_value("cpus"); v && (!parse_u64(v, &n) || n == 0 || n > 4096)) {
    return fail("bad cpus=N");
  }
  std::uint64_t hold = 0;
  if (const char* v = cmdline_value("hold"); v && !parse_u64(v, &hold)) return fail("bad hold=N");
  if (have_hv) {
    std::uint64_t hz = 0;
    if (rdmsr_safe(kMsrTscFrequency, &hz) < 0) g_tsc_hz = hz;
  }
  const auto count = static_cast<std::uint32_t>(n);
  if (count > 1) {
    if (const char* err = vp_blocks_init(count)) return fail(err);
    for (std::uint32_t s = 1; s < count; ++s) ap_tsc(s) = 0;
  }

  const char* mode = cmdline_value("mode");
  int rc = 0;
  if (mode && strncmp(mode, "latency", 7) == 0) {
    rc = latency(count, have_hv);
  } else {
    const char* method = cmdline_value("method");
    const bool svp = !(method && strncmp(method, "sipi", 4) == 0);
    if (svp && !have_hv) return fail("method=svp needs the Hyper-V interface");
    rc = bringup(count, svp);
  }
  if (rc == 0 && hold > 0) {
    const std::uint64_t start = rdtsc();
    while (rdtsc() - start < hold) pause();
  }
  return rc;
}
