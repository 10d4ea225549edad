// Virtual trust levels: E3-E9, G2, S9, S11, S18 at VTL 0 (suite main) and at VTL 2 (suite vtl2).
#include "suites.h"

namespace conf {

namespace {

tlfs::InitialVpContext valid_context_for(std::uint32_t vp) {
  return ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(vp));
}

// GetVpRegisters(SELF, HV_VP_INDEX_SELF, current VTL) with two names.
std::uint64_t get_vp_registers2(tlfs::RegisterName first, std::uint32_t second) {
  auto* h = reinterpret_cast<tlfs::VpRegistersHeader*>(in_page());
  memset(h, 0, 24);
  h->partition_id = tlfs::kPartitionIdSelf;
  h->vp_index = tlfs::kVpIndexSelf;
  const std::uint32_t names[2] = {static_cast<std::uint32_t>(first), second};
  memcpy(in_page() + sizeof *h, names, sizeof names);
  return hvc(ctl(tlfs::CallCode::kGetVpRegisters, 2), gpa(in_page()), gpa(out_page()));
}

// EnableVpVtl(SELF, vp, vtl) with padding byte 14 set.
std::uint64_t enable_vp_vtl_raw_pad(std::uint32_t vp, std::uint8_t vtl,
                                    const tlfs::InitialVpContext& ctx) {
  auto* in = reinterpret_cast<tlfs::EnableVpVtlInput*>(in_page());
  memset(in, 0, sizeof *in);
  in->partition_id = tlfs::kPartitionIdSelf;
  in->vp_index = vp;
  in->target_vtl = vtl;
  in->pad[1] = 1;
  in->vp_context = ctx;
  return hvc(ctl(tlfs::CallCode::kEnableVpVtl), gpa(in), 0);
}

// EnablePartitionVtl(SELF, VTL 1, flags 0) with reserved byte 10 set.
std::uint64_t enable_partition_vtl_raw_reserved() {
  auto* in = reinterpret_cast<tlfs::EnablePartitionVtlInput*>(in_page());
  memset(in, 0, sizeof *in);
  in->partition_id = tlfs::kPartitionIdSelf;
  in->target_vtl = 1;
  in->reserved[0] = 1;
  return hvc(ctl(tlfs::CallCode::kEnablePartitionVtl), gpa(in), 0);
}

// SetVpRegisters(SELF, HV_VP_INDEX_SELF, current VTL): one register.
std::uint64_t set_vsm_register(tlfs::RegisterName name, std::uint64_t low) {
  auto* h = reinterpret_cast<tlfs::VpRegistersHeader*>(in_page());
  memset(h, 0, sizeof *h + sizeof(tlfs::SetVpRegistersElement));
  h->partition_id = tlfs::kPartitionIdSelf;
  h->vp_index = tlfs::kVpIndexSelf;
  tlfs::SetVpRegistersElement e{};
  e.name = static_cast<std::uint32_t>(name);
  e.value.low = low;
  memcpy(in_page() + sizeof *h, &e, sizeof e);
  return hvc(ctl(tlfs::CallCode::kSetVpRegisters, 1), gpa(in_page()), 0);
}

// Calls a hypercall-page entry with RCX = rcx (VtlCall/VtlReturn take nothing else).
struct EntryCall {
  std::uint64_t entry;
  std::uint64_t rcx;
};
void call_entry(void* arg) {
  const auto* e = static_cast<const EntryCall*>(arg);
  register std::uint64_t rcx asm("rcx") = e->rcx;
  asm volatile("call *%[entry]"
               : "+r"(rcx)
               : [entry] "r"(e->entry)
               : "rax", "rdx", "r8", "memory", "cc");
}

// -1 when the entry returned, else the vector it raised.
int try_entry(std::uint64_t entry, std::uint64_t rcx) {
  EntryCall e{entry, rcx};
  return catch_exception(call_entry, &e);
}

std::uint64_t vsm_register(tlfs::RegisterName name, tlfs::RegisterValue* v) {
  return get_vp_register(tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, 0, name, v);
}

}  // namespace

void test_vtl_switch_refusals() {
  tlfs::RegisterValue v{};
  EXPECT_REPS(vsm_register(tlfs::RegisterName::kVsmCodePageOffsets, &v), Status::kSuccess, 1,
              "G5: GetVpRegisters(VsmCodePageOffsets)");
  const std::uint64_t call_off = v.low & 0xFFF;
  const std::uint64_t return_off = (v.low >> 12) & 0xFFF;
  CHECK(call_off == 0x20 && return_off == 0x40,
        "G5: VtlCallOffset 0x20 (bits 11:0), VtlReturnOffset 0x40 (bits 23:12)");
  if (!skipping() && !(call_off == 0x20 && return_off == 0x40))
    diag("VsmCodePageOffsets 0x%lx", v.low);
  const auto page = reinterpret_cast<std::uint64_t>(guest_hypercall_page);
  // Before any VTL above 0 is enabled on this VP.
  int vec = -2;
  if (!skipping()) vec = try_entry(page + call_off, 0);
  CHECK(vec == 6, "T1/T2: VtlCall from VTL 0 with no higher VTL enabled on the VP raises #UD");
  if (!skipping()) vec = try_entry(page + call_off, 1);
  CHECK(vec == 6, "T1: VtlCall with RCX = 1 from VTL 0 raises #UD (no status)");
  if (!skipping()) vec = try_entry(page + return_off, 0);
  CHECK(vec == 6, "T3: VtlReturn from VTL 0 raises #UD");
  if (!skipping()) vec = try_entry(page + return_off, 1);
  CHECK(vec == 6, "T3: fast VtlReturn (RCX bit 0) from VTL 0 raises #UD");
  EXPECT_REPS(set_vsm_register(tlfs::RegisterName::kVsmPartitionConfig, 0),
              Status::kInvalidParameter, 0,
              "G4: SetVpRegisters(VsmPartitionConfig) from VTL 0 (VTL 0 has no VSM configuration)");
}

void test_vtl_main() {
  const std::uint32_t n = env().vps;
  // EnableVpVtl targets the boot VP itself (enabling a VTL does not switch to it): the first VP
  // to get VTL 1 must be enabled from VTL 0, and after it only VTL 1 may enable the others (E11).
  const std::uint32_t ap = 0;
  const std::uint32_t other = n >= 2 ? 1 : 0;
  const std::uint32_t target = n - 1;
  tlfs::InitialVpContext ctx{};
  if (!skipping()) ctx = valid_context_for(ap);

  tlfs::RegisterValue v{};
  EXPECT_REPS(vsm_register(tlfs::RegisterName::kVsmVpStatus, &v), Status::kSuccess, 1,
              "G2: GetVpRegisters(SELF, HV_VP_INDEX_SELF, VsmVpStatus)");
  CHECK((v.low & 0xF) == 0 && ((v.low >> 16) & 0xFFFF) == 1,
        "G2: VsmVpStatus: ActiveVtl 0, EnabledVtlSet {0} (0x%lx)", v.low);

  // G1: GetVpRegisters' HV_INPUT_VTL; G3: an unknown register name ends the call.
  EXPECT_REPS(get_vp_register(tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, 0x20,
                              tlfs::RegisterName::kVsmVpStatus, &v),
              Status::kInvalidParameter, 0,
              "G1: GetVpRegisters with HV_INPUT_VTL 0x20 (reserved bit)");
  EXPECT_REPS(get_vp_register(tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, 0x11,
                              tlfs::RegisterName::kVsmVpStatus, &v),
              Status::kAccessDenied, 0, "G1: GetVpRegisters of VTL 1 from VTL 0");
  EXPECT_REPS(get_vp_registers2(tlfs::RegisterName::kVsmVpStatus, 0x00FF'FFFFu),
              Status::kInvalidParameter, 1,
              "G3: GetVpRegisters {VsmVpStatus, 0x00ffffff}: the unknown name ends the call at 1");
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, n, 1, ctx), Status::kInvalidVpIndex,
         "E2: EnableVpVtl of VP %u (the VP count)", n);
  EXPECT(enable_vp_vtl_raw_pad(ap, 1, ctx), Status::kInvalidVtlState,
         "E6: EnableVpVtl with a non-zero RsvdZ byte (13-15) is judged on the rest (E7)");
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, ap, 1, ctx), Status::kInvalidVtlState,
         "E7: EnableVpVtl VTL 1 on VP %u before EnablePartitionVtl", ap);
  EXPECT(enable_partition_vtl(tlfs::kPartitionIdSelf, 1, 1), Status::kInvalidParameter,
         "E3: EnablePartitionVtl VTL 1 with EnableMbec (not offered)");
  EXPECT(enable_partition_vtl(tlfs::kPartitionIdSelf, 3, 0), Status::kInvalidParameter,
         "E3: EnablePartitionVtl VTL 3 (above the maximum)");
  EXPECT(enable_partition_vtl(tlfs::kPartitionIdSelf, 1, 0), Status::kSuccess,
         "EnablePartitionVtl(SELF, VTL 1, flags 0)");
  EXPECT(enable_partition_vtl(tlfs::kPartitionIdSelf, 2, 0), Status::kAccessDenied,
         "E4: EnablePartitionVtl VTL 2 from VTL 0 once VTL 1 is enabled (only VTL 1 may)");
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, ap, 2, ctx), Status::kInvalidVtlState,
         "E7: EnableVpVtl VTL 2 on VP %u (not enabled on the partition)", ap);
  EXPECT(enable_partition_vtl(tlfs::kPartitionIdSelf, 1, 0), Status::kVtlAlreadyEnabled,
         "E5: EnablePartitionVtl(SELF, VTL 1) again");
  EXPECT(enable_partition_vtl_raw_reserved(), Status::kVtlAlreadyEnabled,
         "E3: EnablePartitionVtl VTL 1 with non-zero RsvdZ bytes: not looked at (E5)");
  EXPECT(enable_partition_vtl(tlfs::kPartitionIdSelf, 0, 0), Status::kInvalidParameter,
         "E12: EnablePartitionVtl(SELF, VTL 0): not a VTL one enables");
  v = {};
  EXPECT_REPS(vsm_register(tlfs::RegisterName::kVsmPartitionStatus, &v), Status::kSuccess, 1,
              "G2: GetVpRegisters(VsmPartitionStatus)");
  CHECK((v.low & 0xFFFF) == 0x3, "G2: VsmPartitionStatus: EnabledVtlSet {0, 1} (0x%lx)", v.low);

  tlfs::InitialVpContext bad = ctx;
  bad.rflags = 0;
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, ap, 1, bad), Status::kInvalidRegisterValue,
         "E8: EnableVpVtl VTL 1 on VP %u with RFLAGS 0 (table R)", ap);
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, ap, 1, ctx), Status::kSuccess,
         "E9: EnableVpVtl VTL 1 on VP %u", ap);
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, ap, 1, ctx), Status::kAccessDenied,
         "E11: EnableVpVtl VTL 1 on VP %u again from VTL 0 (below VTL 1, preferred to E5)", ap);
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, ap, 0, ctx), Status::kInvalidParameter,
         "E12: EnableVpVtl VTL 0: not a VTL one enables");
  {
    SkipScope s2(n < 2 ? "needs --vps 2 or more" : nullptr);
    tlfs::InitialVpContext c1{};
    if (!skipping()) c1 = valid_context_for(other);
    EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, other, 1, c1), Status::kAccessDenied,
           "E11: EnableVpVtl VTL 1 on VP %u from VTL 0 once VP 0 has VTL 1", other);
  }
  EXPECT(start_vp(tlfs::kPartitionIdSelf, target, 1, skipping() ? ctx : valid_context_for(target)),
         Status::kAccessDenied,
         "S9: StartVirtualProcessor of VP %u into VTL 1 from VTL 0 (VTL 1 enabled)", target);
  int vtl = -2;
  if (!skipping()) vtl = hv_active_vtl();
  CHECK(vtl == 0, "E9: the boot VP still runs in VTL 0 (ActiveVtl %d)", vtl);

  // T2: with VTL 1 enabled on the boot VP, a VtlCall whose control input is not 0 is still #UD
  // (were it taken, the boot VP would enter VTL 1 at guest_ap_entry64 and the run time out).
  bool vtl1_here = false;
  int vec = -2;
  if (!skipping()) {
    v = {};
    vsm_register(tlfs::RegisterName::kVsmVpStatus, &v);
    vtl1_here = ((v.low >> 17) & 1) != 0;
    vsm_register(tlfs::RegisterName::kVsmCodePageOffsets, &v);
    vec = try_entry(reinterpret_cast<std::uint64_t>(guest_hypercall_page) + (v.low & 0xFFF), 1);
  }
  CHECK(vtl1_here && vec == 6,
        "T2: VtlCall with RCX = 1 raises #UD although VTL 1 is enabled on the VP (control input "
        "must be 0)");
  if (!skipping() && !(vtl1_here && vec == 6)) diag("VTL 1 on VP 0: %d, vector %d", vtl1_here, vec);
}

void test_vtl2() {
  const std::uint32_t n = env().vps;
  tlfs::RegisterValue v{};
  EXPECT_REPS(vsm_register(tlfs::RegisterName::kVsmVpStatus, &v), Status::kSuccess, 1,
              "G2: GetVpRegisters(SELF, HV_VP_INDEX_SELF, VsmVpStatus)");
  CHECK((v.low & 0xF) == 2 && ((v.low >> 16) & 0x4) != 0,
        "M2/G2: VsmVpStatus: ActiveVtl 2, VTL 2 enabled on the boot VP (0x%lx)", v.low);
  v = {};
  EXPECT_REPS(vsm_register(tlfs::RegisterName::kVsmPartitionStatus, &v), Status::kSuccess, 1,
              "G2: GetVpRegisters(VsmPartitionStatus)");
  CHECK((v.low & 0xFFFF) == 0x7 && ((v.low >> 16) & 0xF) == 2,
        "M2/G2: VsmPartitionStatus: EnabledVtlSet {0, 1, 2}, MaximumVtl 2 (0x%lx)", v.low);
  const std::uint32_t zero = 0;
  EXPECT_REPS(vp_index_from_apic(tlfs::kPartitionIdSelf, 0x11, &zero, 1), Status::kSuccess, 1,
              "V4/V5: GetVpIndexFromApicId with UseTargetVtl 1 from VTL 2");

  SkipScope s(n < 4 ? "needs --vps 4 or more (VPs 1-3)" : nullptr);
  EXPECT_REPS(
      get_vp_register(tlfs::kPartitionIdSelf, 2, 0x11, tlfs::RegisterName::kVsmVpStatus, &v),
      Status::kInvalidVtlState, 0,
      "G1: GetVpRegisters of VP 2's VTL 1 (enabled on the partition, not on the VP)");
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 2, 1,
                  skipping() ? tlfs::InitialVpContext{} : valid_context_for(2)),
         Status::kInvalidVtlState,
         "S11: StartVirtualProcessor of VP 2 into VTL 1 (enabled on the partition, not on the VP)");
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, 1, 2,
                       skipping() ? tlfs::InitialVpContext{} : valid_context_for(1)),
         Status::kSuccess, "E10: EnableVpVtl VTL 2 on VP 1");
  start_reporting_ap(1, 2, 2, "into VTL 2 (after EnableVpVtl)");
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 1, 2,
                  skipping() ? tlfs::InitialVpContext{} : valid_context_for(1)),
         Status::kInvalidVpState, "S13: StartVirtualProcessor of VP 1 into VTL 2 again");
  if (!skipping()) arm_probe(1);
  start_reporting_ap(3, 0, 0, "into VTL 0 from VTL 2", Role::kProbe);

  // G4 and S12: VTL 2 sets DenyLowerVtlStartup; VP 3, running in VTL 0, may no longer start VP 1
  // (highest enabled VTL 2), but its own VTL 0 is still only "already started" (S13).
  EXPECT_REPS(set_vsm_register(tlfs::RegisterName::kVsmPartitionConfig, 1ull << 13),
              Status::kInvalidParameter, 0,
              "G4: SetVpRegisters(VsmPartitionConfig) with reserved bit 13 from VTL 2");
  EXPECT_REPS(set_vsm_register(tlfs::RegisterName::kVsmPartitionConfig,
                               tlfs::vsm_config::kDenyLowerVtlStartup),
              Status::kSuccess, 1, "G4: SetVpRegisters(VsmPartitionConfig = DenyLowerVtlStartup)");
  v = {};
  EXPECT_REPS(vsm_register(tlfs::RegisterName::kVsmPartitionConfig, &v), Status::kSuccess, 1,
              "G2: GetVpRegisters(VsmPartitionConfig)");
  CHECK(v.low == tlfs::vsm_config::kDenyLowerVtlStartup,
        "G2: VsmPartitionConfig of VTL 2 reads back as written (bit 6)");
  ProbeResult probe{};
  if (!skipping()) probe = fire_probe();
  EXPECT(probe.done ? probe.start_target : ~0ull, Status::kAccessDenied,
         "S12: VP 3 in VTL 0 starts VP 1 (highest enabled VTL 2, DenyLowerVtlStartup)");
  EXPECT(probe.done ? probe.start_self : ~0ull, Status::kInvalidVpState,
         "S12: ... the bit does not apply to VP 3 itself (highest VTL 0): INVALID_VP_STATE");

  // S13a: VP 1 runs in VTL 2; starting its VTL 0 records the context and restarts nothing.
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 1, 0,
                  skipping() ? tlfs::InitialVpContext{} : valid_context_for(1)),
         Status::kSuccess, "S13a: StartVirtualProcessor of VP 1's VTL 0 while it runs in VTL 2");
  std::uint32_t runs = 0;
  if (!skipping()) {
    delay(kWaitCycles / 20);
    runs = report(1).runs;
  }
  CHECK(runs == 1, "S13a: ... VP 1 was not started again (no start request)");
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 1, 0,
                  skipping() ? tlfs::InitialVpContext{} : valid_context_for(1)),
         Status::kInvalidVpState, "S13: StartVirtualProcessor of VP 1's VTL 0 again");

  // S18: VP 2 gets VTL 2 (context A: the reporting entry); a start into VTL 0 (context B: the
  // counting entry) runs VTL 2 first, from A.
  ApReport& r = report(2);
  tlfs::InitialVpContext b{};
  if (!skipping()) {
    memset(&r, 0, sizeof r);
    set_role(2, Role::kReport);
    b = ctx64(reinterpret_cast<std::uint64_t>(&conf_ap_entry64_alt), stack_top(2));
  }
  EXPECT(enable_vp_vtl(tlfs::kPartitionIdSelf, 2, 2,
                       skipping() ? tlfs::InitialVpContext{} : valid_context_for(2)),
         Status::kSuccess, "E9: EnableVpVtl VTL 2 on VP 2 (context A)");
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 2, 0, b), Status::kSuccess,
         "S18: StartVirtualProcessor of VP 2 into VTL 0 (context B) while VTL 2 is enabled on it");
  bool ran = false;
  if (!skipping()) ran = wait_until([&] { return r.flag == kReportMagic + 2; });
  const bool first = ran && r.vtl == 2 && conf_alt_entries == 0;
  CHECK(first, "S18: VP 2 runs its highest enabled VTL (2) first, from context A");
  if (!skipping() && !first) {
    diag("VP 2: ran %d, ActiveVtl %d, entries through context B's RIP %u", ran ? 1 : 0, r.vtl,
         conf_alt_entries);
  }
}

}  // namespace conf
