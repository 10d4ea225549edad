// Start storms and the child-partition events (storm.cc), the worker loop (worker.cc) and the
// child-partition side (child.cc).
#pragma once

#include "hostile.h"

namespace hostile {

// --- storm.cc ----------------------------------------------------------------------------------

// The root's bring-up: the calling VP tries to start every VP of its partition (refused contexts
// first, then the real one); every AP does the same as soon as it runs, so each target is raced
// for by every VP already up.
void root_storm(Worker& w);
// After every AP checked in: exactly one successful start per AP, none for VP 0 (S16).
void root_storm_check();
// StartVirtualProcessor(SELF, vp, VTL 0, ctx), checked against `allowed`.
std::uint64_t start_vp_expecting(Worker& w, std::uint32_t vp, const tlfs::InitialVpContext& ctx,
                                 StatusSet allowed, const char* what);

// Events all VPs run at once: the page race (half of them re-enable the hypercall page where the
// other half call through it), and with `children`: kChildStart (InitializePartition race, then
// every VP starts the child's VPs), kChildEnd (FinalizePartition race, DeletePartition race).
// The first child runs this image's hostile loop and then triple-faults; the second triple-faults
// at once.
void events_plan(std::uint64_t start_ref, std::uint64_t duration_ms, std::uint64_t child_ms,
                 std::uint64_t race_ms, bool children);
// VP 0: opens the next event once its time has come (a first child's end also waits for the
// child's signal that its loop is done).
void events_open_due(Worker& w, std::uint64_t now);
// Runs every opened event the calling VP has not run yet.
void events_poll(Worker& w);
// VP 0, at the end: every planned event was opened and run by all VPs.
bool events_done();
void events_report();

// --- worker.cc ---------------------------------------------------------------------------------

void worker_init(Worker& w, std::uint32_t index);
// Random calls and MSR accesses until TIME_REF_COUNT reaches `end`; the coordinator (VP 0) also
// locks the hypercall page at `lock_at` and opens the events.
void worker_loop(Worker& w, std::uint64_t end, std::uint64_t lock_at, bool coordinator);
// The facts every partition reads once: frequencies, VsmCodePageOffsets, the maximum VTL.
void env_common_init();
// Sums the workers' counters and prints them.
void report_stats(const char* who);

// --- child.cc ----------------------------------------------------------------------------------

// The context that starts VP `vp` of a child partition in `mode` (0: the hostile loop on VP 0,
// the other VPs parked; 1: an immediate triple fault on every VP).
tlfs::InitialVpContext child_context(unsigned mode, std::uint32_t vp, std::uint64_t child_id,
                                     std::uint64_t child_ms);

}  // namespace hostile
