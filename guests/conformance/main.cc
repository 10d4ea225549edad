// conformance: docs/conformance.md checked from inside a VM, as TAP.
//
// The command line chooses the suite (suite=NAME, default main); each is meant for one set of hvk
// options:
//   main       --vps 8 (or 1, 2, ...) --child child-hello.elf [--cmdline "vps=N"]
//   noprivs    --privileges=-StartVirtualProcessor,-CpuManagement
//   nocpumgmt  --privileges=-CpuManagement --child child-hello.elf --vps 2
//   vtl2       --vtl 2 --vps 4
//   child      --child child-hello.elf (the parent/child rows alone)
// A row whose precondition is missing (no child, too few VPs, no working CPL 3) is reported as
// "ok N - <row> # SKIP <why>". "skip-paged32" on the command line skips the AP start in 32-bit
// protected mode with paging, for hosts whose KVM cannot run 32-bit paging (PVM): there the AP's
// first instruction shuts the whole VM down, so the guest cannot try it and report. The last line
// is
//   conformance: <suite>: <passed> passed, <failed> failed, <skipped> skipped
// and the exit status is 0 when nothing failed (skips allowed) and the plan was met, else 1.
#include "suites.h"

namespace conf {

namespace {

bool token_is(const char* value, const char* word) {
  const std::size_t n = strlen(word);
  return strncmp(value, word, n) == 0 && (value[n] == '\0' || value[n] == ' ');
}

// hvk.child=ID,ENTRY (ID decimal, ENTRY 0x-prefixed hex).
bool parse_child(std::uint64_t* id, std::uint64_t* entry) {
  const char* v = cmdline_value("hvk.child");
  if (v == nullptr || *v < '0' || *v > '9') return false;
  std::uint64_t x = 0;
  for (; *v >= '0' && *v <= '9'; ++v) x = x * 10 + static_cast<std::uint64_t>(*v - '0');
  if (*v != ',') return false;
  *id = x;
  return parse_u64(v + 1, entry);
}

void require_setup() {
  if (!setup_partition()) exit(1);
}

}  // namespace

void suite_main() {
  // Synthetic MSRs before the guest identifies itself: must run before hv_init.
  test_msrs_before_hv_init();
  require_setup();
  test_msrs_after_hv_init();
  test_cpuid_main();
  test_partition_id();
  test_control_word();
  test_gpa_rules();
  test_vp_index();
  test_compat32();
  test_cpl3();
  test_start_vp_refusals();
  test_apic_msrs_xapic();
  // Table R targets the last AP before anything starts it; with one VP, the child's VP 0 once
  // the child is initialized (inside test_child_lifecycle).
  if (env().vps >= 2) {
    test_register_rules(tlfs::kPartitionIdSelf, env().vps - 1, "an AP that is not running (VP N-1)",
                        true);
  }
  test_mode_starts();
  test_start_running_vp_again();
  test_race();
  test_init_then_start();
  test_child_lifecycle(true);
  test_vtl_switch_refusals();
  test_vtl_main();
  test_apic_msrs_x2apic();
}

void suite_noprivs() {
  require_setup();
  const std::uint32_t n = env().vps;
  check_privilege_bits(false, false);
  const std::uint32_t target = n >= 2 ? 1 : 0;
  tlfs::InitialVpContext c{};
  if (!skipping()) {
    if (n >= 2) set_role(target, Role::kMustNotRun);
    c = ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(target));
  }
  EXPECT(start_vp(tlfs::kPartitionIdSelf, target, 0, c), Status::kAccessDenied,
         "S3: StartVirtualProcessor of VP %u without the StartVirtualProcessor privilege", target);
  EXPECT(start_vp(0x1234, target, 0, c), Status::kAccessDenied,
         "S3: ... checked before the partition id (PartitionId 0x1234)");
  EXPECT(partition_op(tlfs::CallCode::kInitializePartition, 2), Status::kAccessDenied,
         "P2: InitializePartition(2) without CpuManagement");
  EXPECT(partition_op(tlfs::CallCode::kInitializePartition, tlfs::kPartitionIdSelf),
         Status::kAccessDenied, "P2: InitializePartition(SELF): the privilege is checked first");
  EXPECT(hvc(ctl(tlfs::CallCode::kInitializePartition) | kFast, 0x1234ull, 0ull),
         Status::kAccessDenied, "P2: fast InitializePartition(0x1234)");
  EXPECT(partition_op(tlfs::CallCode::kFinalizePartition, 2), Status::kAccessDenied,
         "P2: FinalizePartition(2) without CpuManagement");
  EXPECT(partition_op(tlfs::CallCode::kDeletePartition, 2), Status::kAccessDenied,
         "P2: DeletePartition(2) without CpuManagement");
  std::uint64_t next = 0;
  EXPECT(get_next_child(tlfs::kPartitionIdSelf, 0, &next), Status::kAccessDenied,
         "P7: GetNextChildPartition without CpuManagement");
  const std::uint32_t zero = 0;
  EXPECT_REPS(vp_index_from_apic(tlfs::kPartitionIdSelf, 0, &zero, 1), Status::kSuccess, 1,
              "V2: GetVpIndexFromApicId(SELF) needs neither privilege");
  // E1: the VSM calls need AccessVsm / AccessVpRegisters; checked when the run removed them too.
  Cpuid priv{};
  if (!skipping()) priv = cpuid(kCpuidHvFeatures);
  {
    SkipScope s(((priv.ebx >> 16) & 1) != 0 ? "AccessVsm is granted (to check, add -AccessVsm to "
                                              "--privileges)"
                                            : nullptr);
    EXPECT(enable_partition_vtl(tlfs::kPartitionIdSelf, 1), Status::kAccessDenied,
           "E1: EnablePartitionVtl without AccessVsm");
  }
  {
    SkipScope s(((priv.ebx >> 17) & 1) != 0 ? "AccessVpRegisters is granted (to check, add "
                                              "-AccessVpRegisters to --privileges)"
                                            : nullptr);
    tlfs::RegisterValue v{};
    EXPECT_REPS(get_vp_register(tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, 0,
                                tlfs::RegisterName::kVsmVpStatus, &v),
                Status::kAccessDenied, 0, "E1: GetVpRegisters without AccessVpRegisters");
  }
  {
    SkipScope s(n < 2 ? "needs --vps 2 or more (VP 1)" : nullptr);
    bool quiet = false;
    if (!skipping()) {
      delay(kWaitCycles / 20);
      quiet = must_not_run_count() == 0;
    }
    CHECK(quiet, "S3: the refused start did not run VP 1");
  }
}

void suite_nocpumgmt() {
  require_setup();
  const Env& e = env();
  check_privilege_bits(true, false);
  {
    SkipScope s(e.have_child ? nullptr
                             : "no child partition (no hvk.child=ID,ENTRY; run with --child "
                               "child-hello.elf)");
    const tlfs::InitialVpContext flat = child_flat_context(e.child_entry);
    EXPECT(start_vp(e.child_id, 0, 0, flat), Status::kAccessDenied,
           "S6: StartVirtualProcessor naming the child (%lu) without CpuManagement", e.child_id);
    EXPECT(partition_op(tlfs::CallCode::kInitializePartition, e.child_id), Status::kAccessDenied,
           "P2: InitializePartition of the child without CpuManagement");
    std::uint64_t next = 0;
    EXPECT(get_next_child(tlfs::kPartitionIdSelf, 0, &next), Status::kAccessDenied,
           "P7: GetNextChildPartition without CpuManagement");
    const std::uint32_t zero = 0;
    EXPECT_REPS(vp_index_from_apic(e.child_id, 0, &zero, 1), Status::kAccessDenied, 0,
                "V2: GetVpIndexFromApicId on the child without CpuManagement");
  }
  EXPECT(start_vp(0x1234, 0, 0, child_flat_context(0x100000)), Status::kInvalidPartitionId,
         "S4: an unknown PartitionId is INVALID_PARTITION_ID, CpuManagement or not");
  SkipScope s(e.vps < 2 ? "needs --vps 2 or more (VP 1)" : nullptr);
  start_reporting_ap(1, 0, 0, "(a self start needs no CpuManagement)");
}

// The parent/child checks alone (for the console-prefix test): the child lifecycle rows.
void suite_child() {
  require_setup();
  test_partition_id();
  test_child_lifecycle(false);
}

void suite_vtl2() {
  require_setup();
  test_vtl2();
}

}  // namespace conf

extern "C" int guest_main(const void*) {
  using namespace conf;
  const char* name = "main";
  void (*suite)() = suite_main;
  if (const char* v = cmdline_value("suite")) {
    if (token_is(v, "main")) {
      name = "main", suite = suite_main;
    } else if (token_is(v, "noprivs")) {
      name = "noprivs", suite = suite_noprivs;
    } else if (token_is(v, "nocpumgmt")) {
      name = "nocpumgmt", suite = suite_nocpumgmt;
    } else if (token_is(v, "vtl2")) {
      name = "vtl2", suite = suite_vtl2;
    } else if (token_is(v, "child")) {
      name = "child", suite = suite_child;
    } else {
      printf("Bail out! unknown suite= (want main, noprivs, nocpumgmt, vtl2 or child): %s\n",
             cmdline());
      return 1;
    }
  }
  Env& e = env();
  e.have_child = parse_child(&e.child_id, &e.child_entry);

  begin_counting();
  suite();
  begin_real_pass();
  printf("# conformance: suite %s, command line \"%s\"\n", name, cmdline());
  suite();

  const Counts& c = counts();
  // A plan that was not met (a bug in this guest) counts as one more failure.
  const unsigned failed = c.failed + (plan_met() ? 0u : 1u);
  printf("conformance: %s: %u passed, %u failed, %u skipped\n", name, c.passed, failed, c.skipped);
  const int tap = tap_summary();
  return failed == 0 && tap == 0 ? 0 : 1;
}
