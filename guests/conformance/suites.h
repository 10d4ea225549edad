// The conformance suites and their groups of checks (docs/conformance.md rows).
#pragma once

#include "check.h"
#include "modes.h"

namespace conf {

// Suites (main.cc): chosen by suite=NAME on the command line.
void suite_main();
void suite_noprivs();
void suite_nocpumgmt();
void suite_vtl2();
void suite_child();

// abi.cc
void test_control_word();
void test_gpa_rules();
void test_vp_index();
void test_partition_id();

// xmm.cc: XMM fast hypercalls (A11, A26, A27)
void test_xmm_fast();

// msr_cpuid.cc
void test_msrs_before_hv_init();
void test_msrs_after_hv_init();
void test_cpuid_main();
void check_privilege_bits(bool start_vp, bool cpu_management);

// start_vp.cc
void test_start_vp_refusals();
// Table R against (partition, vp), a VP that is not running; `what` names it.
void test_register_rules(std::uint64_t partition, std::uint32_t vp, const char* what,
                         bool own_partition);
void test_start_running_vp_again();

// child.cc
tlfs::InitialVpContext child_flat_context(std::uint64_t entry);
// With register_rules_when_one_vp, a partition with one VP runs table R against the child's VP 0
// (exactly one of suite_main's two places runs it, whatever the VP count).
void test_child_lifecycle(bool register_rules_when_one_vp);

// apic_msrs.cc: xAPIC before table R runs against an AP not yet started; x2APIC last (it leaves
// the boot VP in x2APIC mode)
void test_apic_msrs_xapic();
void test_apic_msrs_x2apic();

// vtl.cc
void test_vtl_switch_refusals();
void test_vtl_main();
void test_vtl2();

}  // namespace conf
