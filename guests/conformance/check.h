// The conformance guest's test layer: TAP checks that compare hypercall statuses by name, skips,
// a counting pass, TSC-bounded waits, and the hypercall inputs the suites build.
//
// Every suite runs twice: first a counting pass in which every check is counted but nothing runs
// (skipping() is true, so no hypercall, MSR access or AP start happens), then the real pass after
// "1..N" was printed with the count. A suite must therefore emit the same number of checks
// whatever happens: code never returns early on a result; a missing precondition turns the
// checks that need it into skips (SkipScope), and every side effect outside a CHECK/EXPECT is
// guarded by `if (!skipping())`.
#pragma once

#include <cstdint>

#include "guest/guest.h"

namespace conf {

using namespace guest;
using tlfs::Status;

// --- TAP checks
// -----------------------------------------------------------------------------------

struct Counts {
  unsigned run, passed, failed, skipped;
};
const Counts& counts();

void begin_counting();
void begin_real_pass();  // prints the plan
bool counting();
bool plan_met();  // the real pass ran exactly as many checks as the counting pass

// Whether checks are being skipped (the counting pass, or a SkipScope with a reason is active).
bool skipping();
const char* skip_reason();

// Makes the checks in its lifetime skips with `reason` (nullptr: no change). Nests; the
// innermost reason is the one printed.
class SkipScope {
 public:
  explicit SkipScope(const char* reason);
  ~SkipScope();
  SkipScope(const SkipScope&) = delete;
  SkipScope& operator=(const SkipScope&) = delete;

 private:
  const char* saved_;
  bool active_;
};

[[gnu::format(printf, 2, 3)]] bool check_impl(bool cond, const char* fmt, ...);
[[gnu::format(printf, 3, 4)]] bool expect_impl(std::uint64_t result, Status want, const char* fmt,
                                               ...);
[[gnu::format(printf, 4, 5)]] bool expect_reps_impl(std::uint64_t result, Status want,
                                                    std::uint16_t reps, const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] bool skip_test(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void diag(const char* fmt, ...);

// A status name without its HV_STATUS_ prefix.
const char* short_status(std::uint16_t s);

// What rdmsr_safe / wrmsr_safe returned, in words: "no fault", "#GP" or "another fault".
inline const char* fault_name(int vector) {
  return vector < 0 ? "no fault" : vector == 13 ? "#GP" : "another fault";
}

}  // namespace conf

// The macros evaluate their call only when the check really runs.
#define CHECK(cond, ...) \
  (::conf::skipping() ? ::conf::skip_test(__VA_ARGS__) : ::conf::check_impl((cond), __VA_ARGS__))
#define EXPECT(call, want, ...)                        \
  (::conf::skipping() ? ::conf::skip_test(__VA_ARGS__) \
                      : ::conf::expect_impl((call), (want), __VA_ARGS__))
#define EXPECT_REPS(call, want, reps, ...)             \
  (::conf::skipping() ? ::conf::skip_test(__VA_ARGS__) \
                      : ::conf::expect_reps_impl((call), (want), (reps), __VA_ARGS__))

namespace conf {

// --- time
// -----------------------------------------------------------------------------------------

inline std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (std::uint64_t{hi} << 32) | lo;
}

// Waits are bounded by TSC cycles, never by `pause` counts (a pause costs microseconds on some
// nested hosts). About 4 s at 2.6 GHz.
inline constexpr std::uint64_t kWaitCycles = 10'000'000'000ull;

// Spins until pred() holds or `cycles` TSC cycles passed; returns pred()'s last value.
template <typename Pred>
bool wait_until(Pred pred, std::uint64_t cycles = kWaitCycles) {
  const std::uint64_t t0 = rdtsc();
  for (;;) {
    if (pred()) return true;
    if (rdtsc() - t0 >= cycles) return pred();
    barrier();
  }
}
inline void delay(std::uint64_t cycles) {
  const std::uint64_t t0 = rdtsc();
  while (rdtsc() - t0 < cycles) barrier();
}

// --- hypercalls
// -----------------------------------------------------------------------------------

inline constexpr std::uint64_t kFast = 1ull << 16;

// hv_call with integer GPAs (or fast inputs) of any integer type.
inline std::uint64_t hvc(std::uint64_t control, std::uint64_t input, std::uint64_t output) {
  return hv_call(control, input, output);
}

inline constexpr std::uint64_t ctl(tlfs::CallCode code, std::uint16_t rep_count = 0,
                                   std::uint16_t rep_start = 0) {
  return tlfs::HypercallControl::make(code, false, rep_count, rep_start).raw;
}
inline std::uint64_t gpa(const void* p) {
  return reinterpret_cast<std::uint64_t>(p);
}

// This VP's input and output pages (its per-VP block).
inline std::uint8_t* in_page() {
  return static_cast<std::uint8_t*>(hv_input_page());
}
inline std::uint8_t* out_page() {
  return static_cast<std::uint8_t*>(hv_output_page());
}

// HvCallStartVirtualProcessor / HvCallEnableVpVtl (same 240-byte input) on this VP's input page;
// `extra` is ORed into the control word.
std::uint64_t start_vp(std::uint64_t partition, std::uint32_t vp, std::uint8_t vtl,
                       const tlfs::InitialVpContext& ctx, std::uint64_t extra = 0);
std::uint64_t enable_vp_vtl(std::uint64_t partition, std::uint32_t vp, std::uint8_t vtl,
                            const tlfs::InitialVpContext& ctx);
std::uint64_t enable_partition_vtl(std::uint64_t partition, std::uint8_t vtl,
                                   std::uint8_t flags = 0);
// Initialize (0x41) / Finalize (0x42) / Delete (0x43), memory form.
std::uint64_t partition_op(tlfs::CallCode code, std::uint64_t partition);
std::uint64_t get_partition_id(std::uint64_t* id);
std::uint64_t get_next_child(std::uint64_t parent, std::uint64_t previous, std::uint64_t* next);
// HvCallGetVpIndexFromApicId on this VP's pages: `count` APIC IDs, rep start `start`; outputs
// (packed u32) go to out_page(), which is first filled with 0xEE bytes.
std::uint64_t vp_index_from_apic(std::uint64_t partition, std::uint8_t input_vtl,
                                 const std::uint32_t* apic_ids, std::uint16_t count,
                                 std::uint16_t start = 0);
// GetVpRegisters of one register: (partition, vp, HV_INPUT_VTL) -> value.
std::uint64_t get_vp_register(std::uint64_t partition, std::uint32_t vp, std::uint8_t input_vtl,
                              tlfs::RegisterName name, tlfs::RegisterValue* value);

// --- contexts
// ---------------------------------------------------------------------------------------

// Linux's 64-bit AP context (hv_vtl.c): CS {0, 0xffffffff, 0x10, 0xa09b}, SS/DS/ES/FS/GS
// {0, 0xffffffff, 0x18, 0xc093}, LDTR {0, 0, 0, 0x82}, TR {tss, 0x67, 0x20, 0x8b}, RFLAGS 0x2,
// CR0/CR3/CR4/EFER/PAT and GDTR/IDTR copied from this CPU.
tlfs::InitialVpContext ctx64(std::uint64_t rip, std::uint64_t rsp);
// Flat 32-bit protected mode: CS {0, 4G, code_sel, 0xc09b}, data {0, 4G, data_sel, 0xc093},
// TR {0, 0x67, 0, 0x8b}, LDTR unusable, RFLAGS 0x2, CR0 PE|ET, EFER 0, CR4 0, PAT the power-on
// default; GDTR/IDTR as given (0 for none).
tlfs::InitialVpContext ctx32(std::uint64_t rip, std::uint64_t rsp, std::uint16_t code_sel,
                             std::uint16_t data_sel, std::uint64_t gdt_base = 0,
                             std::uint16_t gdt_limit = 0);

// --- the partition
// ----------------------------------------------------------------------------------

struct Env {
  std::uint32_t vps = 1;    // CPUID 0x40000005 EAX
  bool have_child = false;  // hvk.child=ID,ENTRY on the command line
  std::uint64_t child_id = 0;
  std::uint64_t child_entry = 0;
  std::uint64_t own_id = 0;  // HvCallGetPartitionId, once known
};
Env& env();

// hv_init(), VP count, per-VP blocks and the AP dispatcher; false (after a "Bail out!") when the
// Hyper-V interface is unusable. Does nothing in the counting pass.
bool setup_partition();

}  // namespace conf
