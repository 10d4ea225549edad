// StartVirtualProcessor storms and the child-partition events: every VP of the root races for
// the same targets at once, and each race is counted with atomics: exactly one caller may win.
#include "storm.h"

#include "calls.h"
#include "msrs.h"

namespace hostile {

namespace {

using S = Status;
using tlfs::CallCode;

std::uint32_t g_root_starts[kMaxVps];  // successful starts of each root VP (VTL 0)

enum class Kind : std::uint8_t { kChildStart, kChildEnd, kPageRace };

struct Event {
  Kind kind;
  std::uint32_t child;  // index into env().child_part
  std::uint64_t at;     // TIME_REF_COUNT at which VP 0 opens it (the earliest, for a child end)
  std::uint32_t arrived[4];
  std::uint32_t wins[2];  // Initialize (start) / Finalize and Delete (end) successes
  std::uint32_t child_vps;
  std::uint32_t child_starts[kMaxChildVps];
};

Event g_events[2 * kMaxChildren + 1];
std::uint64_t g_signalled[kMaxChildren];  // when VP 0 saw a mode-0 child's "done" signal
std::uint32_t g_event_count = 0;
std::uint32_t g_event_open = 0;       // events opened so far
std::uint32_t g_event_next[kMaxVps];  // the next event each VP runs
std::uint64_t g_child_ms = 0;
std::uint64_t g_race_ms = 0;

std::uint16_t status_of(std::uint64_t r) {
  return static_cast<std::uint16_t>(r);
}

tlfs::InitialVpContext ap_context(std::uint32_t vp) {
  return vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(vp));
}

std::uint64_t start(Worker& w, std::uint64_t pid, std::uint32_t vp, std::uint8_t vtl,
                    const tlfs::InitialVpContext& ctx, StatusSet allowed, const char* what) {
  tlfs::StartVirtualProcessorInput in{};
  in.partition_id = pid;
  in.vp_index = vp;
  in.target_vtl = vtl;
  in.vp_context = ctx;
  ++w.st.starts;
  return call_expecting(w, hv_control(CallCode::kStartVirtualProcessor), &in, sizeof in, allowed,
                        what);
}

std::uint64_t partition_op(Worker& w, CallCode code, std::uint64_t pid, StatusSet allowed,
                           const char* what) {
  // Half of them in the fast form (A12: the id in RDX).
  if (w.rng.percent(50)) {
    return call_expecting(w, tlfs::HypercallControl::make(code, false).raw, &pid, 8, allowed, what);
  }
  const std::uint64_t r = hostile_raw_call(tlfs::HypercallControl::make(code, true).raw, pid, 0);
  ++w.st.calls;
  ++w.st.fast;
  ++w.st.by_status[slot_of(status_of(r))];
  if (!in_set(allowed, status_of(r)) || (r >> 16) != 0) {
    char a[200];
    format_set(allowed, a, sizeof a);
    fail("%s (fast form): partition %lu -> result 0x%lx (%s); allowed %s", what, pid, r,
         hv_status_name(status_of(r)), a);
  }
  return r;
}

// All VPs meet here; false (and a failure) when some did not come within 20 s.
bool arrive(std::uint32_t* counter, const char* what) {
  __atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
  const std::uint32_t n = env().workers;
  if (wait_until([&] { return __atomic_load_n(counter, __ATOMIC_SEQ_CST) >= n; }, 20000)) {
    return true;
  }
  fail("%s: only %u of %u VPs arrived within 20 s", what,
       __atomic_load_n(counter, __ATOMIC_SEQ_CST), n);
  return false;
}

// GetVpIndexFromApicId on the child with APIC IDs 0..7: it stops at the first one the child does
// not have (V6), so reps completed is the child's VP count (APIC ID = VP index, M3).
std::uint32_t child_vp_count(Worker& w, std::uint64_t id) {
  struct {
    tlfs::GetVpIndexFromApicIdHeader h;
    std::uint32_t apic[kMaxChildVps];
  } in{};
  in.h.partition_id = id;
  for (std::uint32_t i = 0; i < kMaxChildVps; ++i) in.apic[i] = i;
  const std::uint64_t r =
      call_expecting(w, hv_control(CallCode::kGetVpIndexFromApicId, kMaxChildVps), &in, sizeof in,
                     set_of(S::kSuccess, S::kInvalidParameter), "V2/V6: the child's APIC IDs");
  return status_of(r) == 0 ? kMaxChildVps : hv_reps(r);
}

void run_child_start(Worker& w, Event& ev) {
  Child& ch = env().child_part[ev.child];
  const std::uint64_t id = ch.id;
  if (!arrive(&ev.arrived[0], "child start: before InitializePartition")) return;
  const std::uint64_t r = partition_op(w, CallCode::kInitializePartition, id,
                                       set_of(S::kSuccess, S::kInvalidPartitionState),
                                       "P4: the InitializePartition race");
  if (status_of(r) == 0) __atomic_add_fetch(&ev.wins[0], 1, __ATOMIC_SEQ_CST);
  if (!arrive(&ev.arrived[1], "child start: after InitializePartition")) return;

  const std::uint32_t vps = child_vp_count(w, id);
  std::uint32_t seen = 0;
  if (!__atomic_compare_exchange_n(&ev.child_vps, &seen, vps, false, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST) &&
      seen != vps) {
    fail("V6: the child %lu has %u VPs for one VP and %u for another", id, vps, seen);
  }
  ch.vps = vps;
  const unsigned mode = ev.child;
  for (std::uint32_t k = 0; k < vps; ++k) {
    const std::uint32_t v = (w.index + k) % vps;
    const tlfs::InitialVpContext good = child_context(mode, v, id, g_child_ms);
    tlfs::InitialVpContext bad = good;
    make_context_bad(w.rng, bad);
    start(w, id, v, 0, bad, set_of(S::kInvalidRegisterValue, S::kInvalidVpState),
          "S15/S13: a child VP with a refused context");
    start(w, id, v, 1, good, one(S::kInvalidVtlState),
          "S10/S11: a child VP in VTL 1 (not enabled there)");
    if (mode == 0 && v != 0) continue;  // the child starts its other VPs itself
    const std::uint64_t s = start(w, id, v, 0, good, set_of(S::kSuccess, S::kInvalidVpState),
                                  "S16/S17: the child start race");
    if (status_of(s) == 0) __atomic_add_fetch(&ev.child_starts[v], 1, __ATOMIC_SEQ_CST);
  }
  const tlfs::InitialVpContext any = child_context(mode, 0, id, g_child_ms);
  start(w, id, vps, 0, any, one(S::kInvalidVpIndex), "S8: a child VP index past its last");
  start(w, id, tlfs::kVpIndexSelf, 0, any, one(S::kInvalidVpIndex),
        "S8: HV_VP_INDEX_SELF names no VP of another partition");
  if (!arrive(&ev.arrived[2], "child start: after the starts")) return;

  if (w.index != 0) return;
  if (ev.wins[0] != 1) {
    fail("P4/S16: %u VPs won the InitializePartition race for child %lu (want 1)", ev.wins[0], id);
  }
  for (std::uint32_t v = 0; v < vps; ++v) {
    const std::uint32_t want = mode == 0 && v != 0 ? 0 : 1;
    if (ev.child_starts[v] != want) {
      fail("S16: child %lu VP %u was started %u times by the parent's VPs (want %u)", id, v,
           ev.child_starts[v], want);
    }
  }
  printf("hostile: child partition %lu initialized and its %u VPs started by %u racing VPs (%s)\n",
         id, vps, env().workers,
         mode == 0 ? "VP 0 runs the hostile loop, then triple-faults" : "each VP triple-faults");
}

void run_child_end(Worker& w, Event& ev) {
  const std::uint64_t id = env().child_part[ev.child].id;
  if (!arrive(&ev.arrived[0], "child end: before FinalizePartition")) return;
  std::uint64_t r = partition_op(w, CallCode::kFinalizePartition, id,
                                 set_of(S::kSuccess, S::kInvalidPartitionState),
                                 "P5: the FinalizePartition race");
  if (status_of(r) == 0) __atomic_add_fetch(&ev.wins[0], 1, __ATOMIC_SEQ_CST);
  if (!arrive(&ev.arrived[1], "child end: before DeletePartition")) return;
  r = partition_op(w, CallCode::kDeletePartition, id, set_of(S::kSuccess, S::kInvalidPartitionId),
                   "P6: the DeletePartition race");
  if (status_of(r) == 0) __atomic_add_fetch(&ev.wins[1], 1, __ATOMIC_SEQ_CST);
  if (!arrive(&ev.arrived[2], "child end: after DeletePartition")) return;

  // The id is unknown from now on (P6, S4).
  start(w, id, 0, 0, child_context(ev.child, 0, id, g_child_ms), one(S::kInvalidPartitionId),
        "S4: StartVirtualProcessor into the deleted child");
  partition_op(w, CallCode::kInitializePartition, id, one(S::kInvalidPartitionId),
               "P3: InitializePartition of the deleted child");
  std::uint64_t next = 0;
  for (int i = 0; i < 8; ++i) {
    const tlfs::GetNextChildPartitionInput in{tlfs::kPartitionIdSelf, next};
    r = call_expecting(w, hv_control(CallCode::kGetNextChildPartition), &in, sizeof in,
                       one(S::kSuccess), "P7: GetNextChildPartition after a delete");
    memcpy(&next, w.in + kScratchOut, 8);
    if (status_of(r) != 0 || next == 0) break;
    if (next == id) fail("P6/P7: GetNextChildPartition still lists the deleted child %lu", id);
  }
  if (!arrive(&ev.arrived[3], "child end: done")) return;
  if (w.index != 0) return;
  if (ev.wins[0] != 1 || ev.wins[1] != 1) {
    fail(
        "P5/P6: the races for child %lu had %u FinalizePartition and %u DeletePartition winners "
        "(want 1 each)",
        id, ev.wins[0], ev.wins[1]);
  }
  printf(
      "hostile: child partition %lu finalized and deleted by %u racing VPs; the parent runs on\n",
      id, env().workers);
}

// Half the VPs re-enable the hypercall page at one GPA over and over while the other half call
// through it: a caller must never see anything but the page's code (guest-abi: hvk writes the
// code into the page; writing the same code again must not disturb a caller).
void run_page_race(Worker& w, Event& ev) {
  if (!arrive(&ev.arrived[0], "page race: start")) return;
  const std::uint64_t page = env().hc_pages[0];
  const bool writer = w.index % 2 == 0;
  if (writer) wrmsr(kMsrGuestOsId, kGuestOsId);
  const std::uint64_t end = now_ref() + g_race_ms * kRefPerMs;
  std::uint32_t writes = 0, calls = 0;
  for (std::uint32_t i = 0; (i & 7) != 0 || now_ref() < end; ++i) {
    // With one VP it alternates.
    if (writer && (env().workers > 1 || i % 2 == 0)) {
      wrmsr(kMsrHypercall, page | 1);
      ++w.st.hc_writes;
      ++writes;
    } else {
      page_works(page, "the page race");
      ++calls;
    }
  }
  __atomic_add_fetch(&ev.wins[0], writes, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&ev.wins[1], calls, __ATOMIC_SEQ_CST);
  if (!arrive(&ev.arrived[1], "page race: end")) return;
  if (w.index != 0) return;
  printf(
      "hostile: page race: %u rewrites of the hypercall page at 0x%lx while %u calls went "
      "through it\n",
      ev.wins[0], page, ev.wins[1]);
}

}  // namespace

std::uint64_t start_vp_expecting(Worker& w, std::uint32_t vp, const tlfs::InitialVpContext& ctx,
                                 StatusSet allowed, const char* what) {
  return start(w, tlfs::kPartitionIdSelf, vp, 0, ctx, allowed, what);
}

void root_storm(Worker& w) {
  const std::uint32_t n = env().vps;
  for (std::uint32_t k = 1; k <= n; ++k) {
    const std::uint32_t t = (w.index + k) % n;  // k == n: the caller itself
    const tlfs::InitialVpContext good = ap_context(t);
    if (t == w.index || t == 0) {
      start(w, tlfs::kPartitionIdSelf, t, 0, good, one(S::kInvalidVpState),
            "S13: StartVirtualProcessor of a VP that runs");
      continue;
    }
    tlfs::InitialVpContext bad = good;
    make_context_bad(w.rng, bad);
    start(w, tlfs::kPartitionIdSelf, t, 0, bad,
          set_of(S::kInvalidRegisterValue, S::kInvalidVpState),
          "S15/S13: the storm with a refused context");
    start(w, tlfs::kPartitionIdSelf, t, 1, good, one(S::kAccessDenied),
          "S9: the storm in VTL 1, above the caller's");
    const std::uint64_t r = start(w, tlfs::kPartitionIdSelf, t, 0, good,
                                  set_of(S::kSuccess, S::kInvalidVpState), "S16/S17: the storm");
    if (status_of(r) == 0) __atomic_add_fetch(&g_root_starts[t], 1, __ATOMIC_SEQ_CST);
  }
}

void root_storm_check() {
  std::uint32_t won = 0;
  for (std::uint32_t v = 0; v < env().vps; ++v) {
    const std::uint32_t want = v == 0 ? 0 : 1;
    if (g_root_starts[v] != want) {
      fail("S16: VP %u was started %u times by the storm (want %u)", v, g_root_starts[v], want);
    }
    won += g_root_starts[v];
  }
  printf(
      "hostile: start storm: %u APs, each raced for by every VP already running: %u successful "
      "starts\n",
      env().vps - 1, won);
}

void events_plan(std::uint64_t start_ref, std::uint64_t duration_ms, std::uint64_t child_ms,
                 std::uint64_t race_ms, bool children) {
  const Env& e = env();
  const std::uint32_t n = children ? e.children : 0;
  g_child_ms = child_ms;
  const auto at = [&](std::uint64_t ms) { return start_ref + ms * kRefPerMs; };
  if (n >= 1) {
    const std::uint64_t t = duration_ms / 10;
    g_events[g_event_count++] = {Kind::kChildStart, 0, at(t), {}, {}, 0, {}};
    g_events[g_event_count++] = {Kind::kChildEnd, 0, at(t + child_ms), {}, {}, 0, {}};
  }
  // Before VP 0 locks the page half-way.
  g_race_ms = race_ms;
  g_events[g_event_count++] = {Kind::kPageRace, 0, at(duration_ms / 4), {}, {}, 0, {}};
  if (n >= 2) {
    const std::uint64_t t = duration_ms * 4 / 10;
    g_events[g_event_count++] = {Kind::kChildStart, 1, at(t), {}, {}, 0, {}};
    g_events[g_event_count++] = {Kind::kChildEnd, 1, at(t + 3000), {}, {}, 0, {}};
  }
}

void events_open_due(Worker& w, std::uint64_t now) {
  const std::uint32_t open = __atomic_load_n(&g_event_open, __ATOMIC_ACQUIRE);
  if (open >= g_event_count || now < g_events[open].at) return;
  const Event& ev = g_events[open];
  const Child& ch = env().child_part[ev.child];
  if (ev.kind == Kind::kChildEnd && ev.child == 0 && ch.vps > 1) {
    // The first child says it is done by starting its VP 1: then StartVirtualProcessor of that VP
    // is refused because it was started (S13), no longer for the refused context (S15).
    if (g_signalled[0] == 0) {
      tlfs::InitialVpContext bad = child_context(1, 1, ch.id, 0);
      make_context_bad(w.rng, bad);
      const std::uint64_t r =
          start(w, ch.id, 1, 0, bad, set_of(S::kInvalidRegisterValue, S::kInvalidVpState),
                "S13/S15: has the child started its VP 1 yet?");
      if (status_of(r) == static_cast<std::uint16_t>(S::kInvalidVpState)) g_signalled[0] = now;
      if (g_signalled[0] == 0 && now < ev.at + 60'000 * kRefPerMs) return;
      if (g_signalled[0] == 0) {
        fail("child %lu did not finish its hostile loop within 60 s of its time", ch.id);
        g_signalled[0] = now;
      }
    }
    // Its VPs triple-fault right after the signal: give hvk time to end the child first.
    if (now < g_signalled[0] + 2000 * kRefPerMs) return;
  }
  __atomic_store_n(&g_event_open, open + 1, __ATOMIC_RELEASE);
}

void events_poll(Worker& w) {
  while (g_event_next[w.index] < __atomic_load_n(&g_event_open, __ATOMIC_ACQUIRE)) {
    Event& ev = g_events[g_event_next[w.index]++];
    ++w.st.events;
    if (ev.kind == Kind::kChildStart) {
      run_child_start(w, ev);
    } else if (ev.kind == Kind::kChildEnd) {
      run_child_end(w, ev);
    } else {
      run_page_race(w, ev);
    }
  }
}

bool events_done() {
  if (__atomic_load_n(&g_event_open, __ATOMIC_ACQUIRE) != g_event_count) {
    fail("only %u of %u child events were opened before the end", g_event_open, g_event_count);
    return false;
  }
  return true;
}

void events_report() {
  if (env().children == 0) {
    puts("hostile: no child partitions (run with --child hostile.elf [--child hostile.elf])");
  }
}

}  // namespace hostile
