// The loop every VP runs, the facts read once, and the counters' report.
#include "calls.h"
#include "msrs.h"
#include "storm.h"

namespace hostile {

namespace {

Call g_calls[kMaxVps];  // one per VP: 4 KiB of input bytes is too much for a VP's stack

std::uint64_t per_second(std::uint64_t n, std::uint64_t ref_ticks) {
  return ref_ticks == 0 ? 0 : n * 10'000'000 / ref_ticks;
}

}  // namespace

void env_common_init() {
  Env& e = env();
  using tlfs::Privilege;
  if (e.privs.has(Privilege::kFrequencyRegs)) {
    e.tsc_hz = rdmsr(kMsrTscFrequency);
    e.apic_hz = rdmsr(kMsrApicFrequency);
  }
  if (e.privs.has(Privilege::kAccessVpRegisters)) {
    e.code_page_offsets = get_own_register(me(), tlfs::RegisterName::kVsmCodePageOffsets).low;
    e.max_vtl = static_cast<std::uint32_t>(
        (get_own_register(me(), tlfs::RegisterName::kVsmPartitionStatus).low >> 16) & 0xF);
  }
}

void worker_init(Worker& w, std::uint32_t index) {
  enable_sse();  // XMM fast calls load XMM0-5; before regs_init records CR4
  w.index = index;
  w.rng.s = mix64(env().seed ^ (std::uint64_t{index} << 48));
  w.assist_known = false;
  w.last_ref = 0;
  w.out_checks = 0;
  fill_qwords(w.out, kOutFill, kPage / 8);
  ctx_page_init(w);
  if (env().privs.has(tlfs::Privilege::kAccessVpRegisters)) regs_init(w);
}

void worker_loop(Worker& w, std::uint64_t end, std::uint64_t lock_at, bool coordinator) {
  Call& c = g_calls[w.index];
  w.st.ref_begin = now_ref();
  for (std::uint32_t i = 1;; ++i) {
    if ((i & 15) == 0) {
      const std::uint64_t now = now_ref();
      if (now >= end) break;
      if (coordinator) {
        if (now >= lock_at && hc_locked() == 0) hc_lock(w);
        events_open_due(w, now);
      }
    }
    events_poll(w);
    if (w.rng.percent(10)) {
      msr_op(w);
    } else {
      generate(w, c);
      run_call(w, c);
    }
  }
  w.st.ref_end = now_ref();
}

void report_stats(const char* who) {
  const Env& e = env();
  Stats t{};
  std::uint64_t busiest = 0, idlest = ~0ull;
  for (std::uint32_t i = 0; i < e.workers; ++i) {
    const Stats& s = worker(i).st;
    t.calls += s.calls;
    t.raw += s.raw;
    t.page += s.page;
    t.fast += s.fast;
    t.memory += s.memory;
    t.refused_at_dispatch += s.refused_at_dispatch;
    for (unsigned k = 0; k < kClsCount; ++k) t.by_code[k] += s.by_code[k];
    for (unsigned k = 0; k < kSlotCount; ++k) t.by_status[k] += s.by_status[k];
    t.msr_reads += s.msr_reads;
    t.msr_writes += s.msr_writes;
    t.msr_gp += s.msr_gp;
    t.hc_writes += s.hc_writes;
    t.hc_locked_writes += s.hc_locked_writes;
    t.starts += s.starts;
    t.events += s.events;
    const std::uint64_t rate = per_second(s.calls, s.ref_end - s.ref_begin);
    if (rate > busiest) busiest = rate;
    if (rate < idlest) idlest = rate;
  }
  const std::uint64_t ticks = e.end_ref - e.start_ref;
  LineLock lock;
  printf("%s: %lu hypercalls in %lu ms on %u VPs: %lu/s in all, %lu/s per VP (%lu-%lu)\n", who,
         t.calls, ticks / kRefPerMs, e.workers, per_second(t.calls, ticks),
         per_second(t.calls, ticks) / (e.workers ? e.workers : 1), idlest, busiest);
  printf(
      "%s: forms: %lu memory, %lu fast; %lu by the raw `out 0xf5`, %lu through a hypercall "
      "page; %lu decided by the dispatcher (A4-A15), %lu by a handler\n",
      who, t.memory, t.fast, t.raw, t.page, t.refused_at_dispatch, t.calls - t.refused_at_dispatch);
  printf("%s: by call:", who);
  for (unsigned k = 0; k < kClsCount; ++k) {
    printf(" %s %lu", k < shape_count() ? shape_at(k).name : "unknown-codes", t.by_code[k]);
  }
  putc('\n');
  printf("%s: statuses:", who);
  for (unsigned k = 0; k < kSlotCount; ++k) {
    if (t.by_status[k] != 0) printf(" %s %lu", slot_name(k), t.by_status[k]);
  }
  putc('\n');
  printf(
      "%s: MSRs: %lu reads, %lu writes, %lu #GP; HYPERCALL written %lu times (%lu after the "
      "lock); %lu StartVirtualProcessor calls in storms and events\n",
      who, t.msr_reads, t.msr_writes, t.msr_gp, t.hc_writes, t.hc_locked_writes, t.starts);
}

}  // namespace hostile
