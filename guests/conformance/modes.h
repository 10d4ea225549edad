// APs started by the suites, and code run outside 64-bit ring 0 (modes.S).
#pragma once

#include <cstdint>

#include "check.h"
#include "modes_layout.h"

namespace conf {

// What a 64-bit AP does when guest_ap_entry64 hands it over (one role per VP index).
enum class Role : std::uint32_t {
  kNone,        // returns at once (the runtime halts it)
  kMustNotRun,  // a start that should have been refused: counts in must_not_run_count()
  kReport,      // fills its ApReport (registers, VP index, active VTL) and halts
  kRaceCaller,  // the concurrent-start race (modes.cc)
  kRaceTarget,
  kProbe,  // kReport, then on a go-flag two StartVirtualProcessor calls (arm_probe)
};

inline constexpr std::uint32_t kMaxTrackedVps = 64;
inline constexpr std::uint32_t kReportMagic = 0xC0DE'0000u;  // + VP index

// Written by a VP in the role kReport; `flag` last.
struct ApReport {
  volatile std::uint32_t flag;
  std::uint32_t vp_msr;  // VP_INDEX MSR as read at entry
  std::uint32_t slot;    // the block its stack is in
  std::int32_t vtl;      // VsmVpStatus.ActiveVtl, -1 if the call failed
  std::uint64_t cr0, cr3, cr4, efer, pat, rflags;
  std::uint16_t cs, ss, ds, tr, ldtr;
  std::uint32_t cpuid1_apic;  // CPUID.1:EBX[31:24]
  std::uint32_t cpuidb_edx;   // CPUID 0xB EDX
  volatile std::uint32_t runs;
};

void install_ap_dispatcher();
void set_role(std::uint32_t vp, Role role);
ApReport& report(std::uint32_t vp);
std::uint32_t must_not_run_count();
// The stack top of VP `vp`'s block (per-VP blocks, guest/smp.h).
std::uint64_t stack_top(std::uint32_t vp);

// Starts VP `vp` of this partition in 64-bit mode (Linux's context) in the role kReport at
// TargetVtl `vtl`: one EXPECT(SUCCESS) and one CHECK that it ran (flag, VP index, own stack, and
// ActiveVtl == expect_vtl).
void start_reporting_ap(std::uint32_t vp, std::uint8_t vtl, int expect_vtl, const char* what,
                        Role role = Role::kReport);

// The kProbe role: once fired, the prober calls StartVirtualProcessor(SELF, target, VTL 0) and
// StartVirtualProcessor(SELF, HV_VP_INDEX_SELF, VTL 0) from its own VTL and records the results.
struct ProbeResult {
  bool done;
  std::uint64_t start_target;
  std::uint64_t start_self;
};
void arm_probe(std::uint32_t target);
ProbeResult fire_probe();

// --- main-suite groups
// ------------------------------------------------------------------------------
void test_mode_starts();      // VP 1 64-bit, VP 2 32-bit flat, VP 3 32-bit with paging
void test_race();             // VPs 4..N-2 race to start VP N-1
void test_init_then_start();  // INIT sends VP 1 back to wait-for-SIPI; StartVirtualProcessor again
void test_cpl3();             // the hypercall page and a raw exit at CPL 3
void test_compat32();         // hypercalls from a compatibility-mode code segment

extern "C" {
void conf_ap32_entry();
void conf_ap_entry64_alt();  // increments conf_alt_entries, then guest_ap_entry64
extern volatile std::uint32_t conf_alt_entries;
std::uint64_t conf_call32(std::uint64_t control, std::uint64_t input, std::uint64_t output);
int conf_ring3_run(std::uint64_t rip, std::uint64_t rsp, std::uint64_t rflags, std::uint64_t rbx);
void conf_user_hlt();
void conf_user_hypercall();
void conf_user_raw_out();
void conf_user_call_rbx();  // RCX = 0, call *RBX
void conf_user_out80();
extern std::uint8_t conf_trap_stubs[];
extern const std::uint8_t conf_real_start[];
extern const std::uint8_t conf_real_end[];
extern const std::uint8_t conf_real_ud[];
extern const std::uint8_t conf_real_other[];
extern std::uint64_t conf_trap_error;
extern std::uint64_t conf_trap_rip;
extern std::uint64_t conf_trap_cs;
extern std::uint64_t conf_trap_rflags;
}

}  // namespace conf
