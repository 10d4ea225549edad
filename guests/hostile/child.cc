// The child partitions: `hvk run --child hostile.elf` loads this same image into each child's RAM,
// so every symbol has the same address there. The parent starts a child's VPs in 64-bit mode with
// its own CR3 (the loader's identity map sits at the same GPA in every partition), GDT and PAT:
//   mode 0: the parent starts VP 0 only. It enters hostile_child_entry with FS.base =
//           milliseconds | own id << 32 and GS.base = parent id | seed << 16, runs the hostile
//           loop with the child's privileges, checks its canary and prints one line; then it
//           starts its VP 1 as in mode 1 (which the parent sees: StartVirtualProcessor of that VP
//           is no longer refused for its context but because it runs) and triple-faults itself.
//   mode 1: every VP starts with CR3 at a page of zeros and an empty IDT: the first instruction
//           fetch faults, the fault cannot be delivered, the VP triple-faults.
// Either way hvk ends the child and the run goes on with its parent (Machine::end).
#include "calls.h"
#include "canary.h"
#include "msrs.h"
#include "storm.h"

extern "C" {
extern std::uint8_t guest_bsp_block[GUEST_VP_BLOCK_SIZE];
}

namespace hostile {

namespace {
// Never written, in any partition: as CR3 it maps nothing.
alignas(4096) const std::uint8_t g_zero_page[4096] = {};
}  // namespace

tlfs::InitialVpContext child_context(unsigned mode, std::uint32_t vp, std::uint64_t child_id,
                                     std::uint64_t child_ms) {
  const std::uint64_t stack =
      reinterpret_cast<std::uint64_t>(guest_bsp_block) + GUEST_VP_BLOCK_SIZE;
  if (mode == 0 && vp == 0) {
    tlfs::InitialVpContext c =
        vp_context_64(reinterpret_cast<std::uint64_t>(&hostile_child_entry), stack);
    c.fs.base = (child_ms & 0xFFFF'FFFFull) | (child_id & 0x7FFF) << 32;
    c.gs.base = (env().own_id & 0xFFFF) | (env().seed & 0x7FF'FFFFull) << 16;
    return c;
  }
  tlfs::InitialVpContext c = vp_context_64(reinterpret_cast<std::uint64_t>(&hostile_park), stack);
  if (mode == 1 || vp != 0) {
    c.cr3 = reinterpret_cast<std::uint64_t>(g_zero_page);
    c.idtr.base = 0;
    c.idtr.limit = 0;
  }
  return c;
}

extern "C" [[noreturn]] void hostile_child_main() {
  Env& e = env();
  e.child = true;
  const std::uint64_t fs = rdmsr(kMsrFsBase);
  const std::uint64_t gs = rdmsr(kMsrGsBase);
  const std::uint64_t child_ms = fs & 0xFFFF'FFFFull;
  e.own_id = fs >> 32;
  e.parent_id = gs & 0xFFFF;
  e.seed = mix64(gs >> 16);
  this_cpu()->vp_index = static_cast<std::uint32_t>(rdmsr(kMsrVpIndex));
  e.vps = vp_count();
  e.workers = 1;
  e.all_started = false;
  e.canary_want = 1ull << 20;
  const Cpuid p = cpuid(kCpuidHvFeatures);
  e.privs.raw = p.eax | std::uint64_t{p.ebx} << 32;
  Worker& w = worker(0);
  if (const char* why = layout_init(first_free_after_image())) {
    printf("hostile-child: partition %lu: %s\n", e.own_id, why);
    hostile_triple_fault();
  }
  env_common_init();
  hc_pages_init();
  worker_init(w, 0);
  canary_fill(0, 1);
  printf(
      "hostile-child: partition %lu VP 0 of %u runs in 64-bit mode (privileges 0x%lx): %lu ms "
      "of hostile calls, then a triple fault\n",
      e.own_id, e.vps, e.privs.raw, child_ms);
  const std::uint64_t start = now_ref();
  e.start_ref = start;
  e.end_ref = start + child_ms * kRefPerMs;
  worker_loop(w, e.end_ref, start + child_ms * kRefPerMs / 2, true);
  const std::uint64_t bad = canary_check(0, 1);
  hc_final_check(w);
  const std::uint64_t ms = (now_ref() - start) / kRefPerMs;
  printf(
      "hostile-child: partition %lu VP 0: %lu hypercalls and %lu MSR accesses in %lu ms, "
      "canary %s, %lu failures; triple-faulting now\n",
      e.own_id, w.st.calls, w.st.msr_reads + w.st.msr_writes, ms, bad ? "CORRUPTED" : "intact",
      failures());
  // The signal the parent waits for: VP 1 started (it triple-faults at once, as this VP does).
  if (e.vps > 1) {
    const tlfs::InitialVpContext c = child_context(1, 1, e.own_id, 0);
    start_vp_expecting(w, 1, c, one(Status::kSuccess), "S17: the child starts its VP 1");
  }
  hostile_triple_fault();
}

}  // namespace hostile
