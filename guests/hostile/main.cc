// hostile: a guest that attacks hvk from every VP at once for a bounded time (issue 7).
//
//   hvk run hostile.elf --vps 8 --mem 128M --child hostile.elf --child hostile.elf --child-vps 2
//       --child-mem 32M --cmdline "seconds=60 [seed=N] [child-ms=N] [max-print=N]"
//
// 1. VP 0 starts the APs with HvCallStartVirtualProcessor, and every AP joins the storm as soon as
//    it runs: each target is raced for by every running VP (refused contexts first); exactly one
//    start per AP may succeed.
// 2. Every VP fills its slice of the canary (all RAM outside the named pages).
// 3. For `seconds`, every VP issues random hypercalls (any code, fast and memory forms, rep
//    fields, reserved bits, GPAs at and past the end of RAM, straddling pages, wrapping, unaligned)
//    through the raw `out 0xf5` or a hypercall page, and reads and writes synthetic MSRs with junk
//    (HYPERCALL moved between pages others are calling through, then locked by VP 0 half-way).
//    Each status is checked against docs/conformance.md (calls.h: model.cc). With children
//    (`--child hostile.elf`, up to two), all VPs race to initialize each child and start its VPs,
//    the first child runs this loop itself and then triple-faults, the second triple-faults at
//    once; later all VPs race to finalize and delete it. hvk must end each child alone.
// 4. Every VP checks the locked hypercall page and its canary slice; VP 0 prints the counts and
//      hostile: PASS ...  (exit 0)   or   hostile: FAIL: N failures (exit 1)
// A failure is printed as it happens with the call's inputs (the first max-print of them).
//
// With `synic=1` the guest runs the SynIC storm instead (synic_storm.h; needs --synic and
// --hyperv-testdev, no children):
//   hvk run hostile.elf --vps 8 --mem 128M --synic --hyperv-testdev --cmdline "synic=1 seconds=60"
// every VP posts to every SINT of every VP, signals every event connection and runs its four
// timers at the fastest period, and the receivers check each (sender, SINT) sequence: ends with
//      hostile-synic: PASS ...  (exit 0)   or   hostile-synic: FAIL: N failures (exit 1)
#include "calls.h"
#include "canary.h"
#include "msrs.h"
#include "storm.h"
#include "synic_storm.h"
#include "vtl_storm.h"

namespace hostile {

namespace {

std::uint32_t g_online = 0;    // APs through their part of the storm
std::uint32_t g_phase = 0;     // 1: fill the canary, 2: the random phase, 3: final checks
std::uint32_t g_filled = 0;    // VPs done filling their canary slice
std::uint32_t g_finished = 0;  // VPs done with the final checks
std::uint64_t g_canary_bad = 0;
std::uint64_t g_end = 0;

std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (std::uint64_t{hi} << 32) | lo;
}

std::uint32_t phase() {
  return __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE);
}

// hvk.child=ID,ENTRY for each child (docs/guest-abi.md). Children must run this same image.
void parse_children() {
  Env& e = env();
  for (const char* p = cmdline(); *p;) {
    while (*p == ' ') ++p;
    if (strncmp(p, "hvk.child=", 10) == 0) {
      const char* v = p + 10;
      std::uint64_t id = 0;
      for (; *v >= '0' && *v <= '9'; ++v) id = id * 10 + static_cast<std::uint64_t>(*v - '0');
      std::uint64_t entry = 0;
      const bool ok = *v == ',' && parse_u64(v + 1, &entry);
      if (!ok || entry != 0x100000) {
        printf("hostile: ignoring child %lu: its entry 0x%lx is not this image's\n", id, entry);
      } else if (e.children == kMaxChildren) {
        printf("hostile: ignoring child %lu: the guest drives at most %u\n", id, kMaxChildren);
      } else {
        e.child_part[e.children++] = {id, 0};
      }
    }
    while (*p && *p != ' ') ++p;
  }
}

void final_checks(Worker& w) {
  hc_final_check(w);
  __atomic_add_fetch(&g_canary_bad, canary_check(w.index, env().workers), __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&g_finished, 1, __ATOMIC_SEQ_CST);
}

void ap_main() {
  Percpu* p = this_cpu();
  const std::uint32_t index = p->vp_index;
  if (index >= env().vps || index == 0) {
    printf("hostile: an AP with VP index %u started\n", index);
    halt_forever();
  }
  if (p->slot != index) fail("S17: VP %u started on the stack meant for VP %u", index, p->slot);
  Worker& w = worker(index);
  worker_init(w, index);
  root_storm(w);
  __atomic_add_fetch(&g_online, 1, __ATOMIC_SEQ_CST);
  if (!wait_until([] { return phase() >= 1; }, 120'000)) halt_forever();
  canary_fill(index, env().workers);
  __atomic_add_fetch(&g_filled, 1, __ATOMIC_SEQ_CST);
  if (!wait_until([] { return phase() >= 2; }, 120'000)) halt_forever();
  worker_loop(w, g_end, 0, false);
  // Child events VP 0 opened late still need every VP.
  wait_until(
      [&] {
        events_poll(w);
        return phase() >= 3;
      },
      600'000);
  final_checks(w);
  halt_forever();
}

int run() {
  Env& e = env();
  if (const char* err = hv_init()) {
    printf("hostile: no Hyper-V interface: %s\n", err);
    return 1;
  }
  std::uint64_t seconds, seed, child_ms, max_print, canary_mib, race_ms;
  if (!option("hostile", "seconds", 10, 1, 3600, &seconds) ||
      !option("hostile", "seed", rdtsc(), 0, ~0ull, &seed) ||
      !option("hostile", "child-ms", seconds >= 15 ? 3000 : seconds * 1000 / 5, 100, 600'000,
              &child_ms) ||
      !option("hostile", "max-print", 30, 0, 100'000, &max_print) ||
      !option("hostile", "canary-mib", 16, 1, 3072, &canary_mib) ||
      !option("hostile", "race-ms", seconds >= 20 ? 1000 : seconds * 50, 1, 600'000, &race_ms)) {
    return 1;
  }
  e.canary_want = canary_mib << 20;
  e.seed = seed;
  e.max_printed = static_cast<std::uint32_t>(max_print);
  e.vps = vp_count();
  if (e.vps == 0 || e.vps > kMaxVps) {
    printf("hostile: %u VPs: the guest handles 1-%u\n", e.vps, kMaxVps);
    return 1;
  }
  e.workers = e.vps;
  const Cpuid privs = cpuid(kCpuidHvFeatures);
  e.privs.raw = privs.eax | std::uint64_t{privs.ebx} << 32;
  parse_children();
  if (e.vps > 1) {
    if (const char* err = vp_blocks_init(e.vps)) {
      printf("hostile: %s\n", err);
      return 1;
    }
  }
  const std::uint64_t first_free = e.vps > 1 ? vp_stack_top(e.vps - 1) : first_free_after_image();
  if (const char* err = layout_init(first_free)) {
    printf("hostile: %s\n", err);
    return 1;
  }
  Worker& w = worker(0);
  // Without AccessPartitionId (hvk gives it to a root with children only) the root is alone: 1.
  e.own_id = 1;
  if (e.privs.has(tlfs::Privilege::kAccessPartitionId)) {
    const std::uint64_t r = hostile_raw_call(hv_control(tlfs::CallCode::kGetPartitionId), 0,
                                             reinterpret_cast<std::uint64_t>(w.in + kScratchOut));
    if (r != 0) printf("hostile: GetPartitionId failed: 0x%lx\n", r);
    if (r == 0) memcpy(&e.own_id, w.in + kScratchOut, 8);
  }
  env_common_init();
  if (!hc_pages_init()) return 1;
  worker_init(w, 0);
  printf(
      "hostile: partition %lu, %u VPs, %lu s, seed 0x%lx, RAM %lu MiB, canary %lu MiB from "
      "0x%lx, %u child partitions, privileges 0x%lx, maximum VTL %u\n",
      e.own_id, e.vps, seconds, seed, e.ram_end >> 20, canary_bytes() >> 20, e.zone, e.children,
      e.privs.raw, e.max_vtl);

  set_ap_main(ap_main);
  root_storm(w);
  if (!wait_until([&] { return __atomic_load_n(&g_online, __ATOMIC_SEQ_CST) == e.vps - 1; },
                  60'000)) {
    printf("hostile: FAIL: only %u of %u APs came up\n", g_online, e.vps - 1);
    return 1;
  }
  root_storm_check();
  e.all_started = true;

  __atomic_store_n(&g_phase, 1, __ATOMIC_RELEASE);
  canary_fill(0, e.workers);
  wait_until([&] { return __atomic_load_n(&g_filled, __ATOMIC_SEQ_CST) == e.vps - 1; }, 120'000);

  const std::uint64_t start = now_ref();
  e.start_ref = start;
  g_end = start + seconds * 1000 * kRefPerMs;
  const bool children = e.children == 0 || seconds >= 10;
  if (!children) puts("hostile: child partitions are driven only in runs of 10 s or more");
  events_plan(start, seconds * 1000, child_ms, race_ms, children);
  events_report();
  __atomic_store_n(&g_phase, 2, __ATOMIC_RELEASE);
  worker_loop(w, g_end, start + seconds * 1000 * kRefPerMs / 2, true);
  events_poll(w);
  e.end_ref = now_ref();
  events_done();

  __atomic_store_n(&g_phase, 3, __ATOMIC_RELEASE);
  final_checks(w);
  if (!wait_until([&] { return __atomic_load_n(&g_finished, __ATOMIC_SEQ_CST) == e.vps; },
                  120'000)) {
    fail("only %u of %u VPs finished their final checks", g_finished, e.vps);
  }
  report_stats("hostile");
  if (g_canary_bad == 0) {
    printf("hostile: canary: %lu MiB of RAM no call named untouched\n", canary_bytes() >> 20);
  }
  const std::uint64_t n = failures();
  if (n != 0) {
    printf("hostile: FAIL: %lu failures\n", n);
    return 1;
  }
  printf(
      "hostile: PASS: hvk survived %lu s of hostile calls from %u VPs: every status allowed, "
      "one start per VP, canary intact\n",
      seconds, e.vps);
  return 0;
}

}  // namespace

}  // namespace hostile

extern "C" int guest_main(const void*) {
  // vtl=1: the VTL storm instead (vtl_storm.h).
  if (const char* v = guest::cmdline_value("vtl")) {
    std::uint64_t on = 0;
    if (!guest::parse_u64(v, &on) || on > 1) {
      guest::puts("hostile: bad vtl= (want 0 or 1)");
      return 1;
    }
    if (on != 0) return hostile::vtl_storm::run();
  }
  // synic=1: the SynIC storm instead (synic_storm.h).
  if (const char* v = guest::cmdline_value("synic")) {
    std::uint64_t on = 0;
    if (!guest::parse_u64(v, &on) || on > 1) {
      guest::puts("hostile: bad synic= (want 0 or 1)");
      return 1;
    }
    if (on != 0) return hostile::synic_storm::run();
  }
  return hostile::run();
}
