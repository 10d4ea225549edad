// A child partition's life, driven from its parent: P1-P7, S4, S7, S8, S10, S13, V2.
// The child is the one `--child IMAGE` created; hvk names it on the command line as
// hvk.child=ID,ENTRY. child-hello prints one line when it runs, which the e2e test looks for.
#include "suites.h"

namespace conf {

namespace {

using tlfs::CallCode;

// After the child's VP 0 was started: time for it to print its line (a few port writes) before
// the parent finalizes it, which stops its VPs.
constexpr std::uint64_t kChildRunCycles = 2'000'000'000ull;  // about 0.8 s at 2.6 GHz

}  // namespace

tlfs::InitialVpContext child_flat_context(std::uint64_t entry) {
  // Flat 32-bit protected mode without paging: CS 0x08/0xc09b, data 0x10/0xc093, TR 0x8b,
  // CR0 = PE|ET, EFER 0, no GDT or IDT in memory, a stack below 1 MiB.
  return ctx32(entry, 0x80000, 0x08, 0x10);
}

void test_child_lifecycle(bool register_rules_when_one_vp) {
  const Env& e = env();
  SkipScope no_child(e.have_child ? nullptr
                                  : "no child partition (no hvk.child=ID,ENTRY on the command "
                                    "line; run with --child child-hello.elf)");
  const std::uint64_t id = e.child_id;
  const tlfs::InitialVpContext flat = child_flat_context(e.child_entry);
  std::uint64_t next = 0;

  EXPECT(get_next_child(tlfs::kPartitionIdSelf, 0, &next), Status::kSuccess,
         "P7: GetNextChildPartition(SELF, 0)");
  CHECK(next == id, "P7: ... returns the child's id %lu (hvk.child=)", id);
  if (!skipping() && next != id) diag("GetNextChildPartition gave %lu", next);
  EXPECT(get_next_child(tlfs::kPartitionIdSelf, id, &next), Status::kSuccess,
         "P7: GetNextChildPartition(SELF, %lu)", id);
  CHECK(next == 0, "P7: ... returns 0 after the last child");
  if (!skipping() && next != 0) diag("GetNextChildPartition gave %lu", next);
  next = 0;
  EXPECT(get_next_child(e.own_id, 0, &next), Status::kSuccess,
         "P7: GetNextChildPartition(own id %lu, 0)", e.own_id);
  CHECK(next == id, "P7: ... the own id acts as SELF");
  if (!skipping() && next != id) diag("GetNextChildPartition gave %lu", next);
  EXPECT(get_next_child(0x1234, 0, &next), Status::kInvalidPartitionId,
         "P7: GetNextChildPartition of another ParentId (0x1234)");

  EXPECT(start_vp(id, 0, 0, flat), Status::kInvalidPartitionState,
         "S7/P1: StartVirtualProcessor of the child's VP 0 before InitializePartition");
  const std::uint32_t apic0 = 0;
  EXPECT_REPS(vp_index_from_apic(id, 0, &apic0, 1), Status::kInvalidPartitionState, 0,
              "V2: GetVpIndexFromApicId on the child before InitializePartition");
  EXPECT(partition_op(CallCode::kInitializePartition, tlfs::kPartitionIdSelf),
         Status::kInvalidPartitionId, "P3: InitializePartition(SELF)");
  EXPECT(partition_op(CallCode::kInitializePartition, e.own_id), Status::kInvalidPartitionId,
         "P3: InitializePartition of the caller's own id");
  EXPECT(partition_op(CallCode::kFinalizePartition, id), Status::kInvalidPartitionState,
         "P5: FinalizePartition of the child before it is active");

  // A12: the fast form reads the id from RDX and touches no memory.
  EXPECT(hvc(ctl(CallCode::kInitializePartition) | kFast, id, 0ull), Status::kSuccess,
         "A12/P4: fast InitializePartition of the child with its id in RDX");
  EXPECT(partition_op(CallCode::kInitializePartition, id), Status::kInvalidPartitionState,
         "P4: InitializePartition of the child again (memory form)");
  EXPECT(hvc(ctl(CallCode::kInitializePartition) | kFast, id, 0ull), Status::kInvalidPartitionState,
         "P4: fast InitializePartition of the child again");
  std::uint32_t child_vp = 0xFFFF'FFFF;
  std::uint64_t r = 0;
  if (!skipping()) {
    r = vp_index_from_apic(id, 0, &apic0, 1);
    memcpy(&child_vp, out_page(), 4);
  }
  EXPECT_REPS(r, Status::kSuccess, 1, "V2: GetVpIndexFromApicId on the active child");
  CHECK(child_vp == 0, "V2: ... the child's APIC ID 0 is its VP 0");
  if (!skipping() && child_vp != 0) diag("GetVpIndexFromApicId gave 0x%x", child_vp);

  // Table R against the child's VP 0 when this partition has no AP to aim at.
  if (register_rules_when_one_vp && e.vps < 2) {
    SkipScope s(e.have_child ? nullptr
                             : "table R needs an AP that is not running (--vps 2 or more) or a "
                               "child partition (--child)");
    test_register_rules(id, 0, "the child's VP 0", false);
  }

  tlfs::InitialVpContext bad = flat;
  bad.rflags = 0;
  EXPECT(start_vp(id, 0, 0, bad), Status::kInvalidRegisterValue,
         "S15: StartVirtualProcessor of the child's VP 0 with RFLAGS 0 (bit 1 clear)");
  bad = flat;
  bad.cr0 = 0x8000'0010;  // PG without PE
  EXPECT(start_vp(id, 0, 0, bad), Status::kInvalidRegisterValue,
         "S15: StartVirtualProcessor of the child's VP 0 with CR0.PG without CR0.PE");
  EXPECT(start_vp(id, 1, 0, flat), Status::kInvalidVpIndex,
         "S8: StartVirtualProcessor of the child's VP 1 (it has one VP)");
  EXPECT(start_vp(id, tlfs::kVpIndexSelf, 0, flat), Status::kInvalidVpIndex,
         "S8: HV_VP_INDEX_SELF names no VP of another partition");
  EXPECT(start_vp(id, 0, 1, flat), Status::kInvalidVtlState,
         "S10/S11: TargetVtl 1 in the child (the parent's VTL does not bound it; VTL 1 is not "
         "enabled there)");

  EXPECT(start_vp(id, 0, 0, flat), Status::kSuccess,
         "S17: StartVirtualProcessor of the child's VP 0 in flat 32-bit protected mode at ENTRY "
         "0x%lx",
         e.child_entry);
  if (!skipping()) delay(kChildRunCycles);
  EXPECT(start_vp(id, 0, 0, flat), Status::kInvalidVpState,
         "S13: StartVirtualProcessor of the child's VP 0 again");

  EXPECT(partition_op(CallCode::kFinalizePartition, id), Status::kSuccess,
         "P5: FinalizePartition of the child");
  EXPECT(partition_op(CallCode::kFinalizePartition, id), Status::kInvalidPartitionState,
         "P5: FinalizePartition of the child again");
  EXPECT(start_vp(id, 0, 0, flat), Status::kInvalidPartitionState,
         "S7: StartVirtualProcessor into the finalized child");
  EXPECT(partition_op(CallCode::kInitializePartition, id), Status::kInvalidPartitionState,
         "P4: InitializePartition of the finalized child");
  EXPECT(partition_op(CallCode::kDeletePartition, id), Status::kSuccess,
         "P6: DeletePartition of the child");
  EXPECT(start_vp(id, 0, 0, flat), Status::kInvalidPartitionId,
         "S4: StartVirtualProcessor with the deleted child's id");
  EXPECT(partition_op(CallCode::kInitializePartition, id), Status::kInvalidPartitionId,
         "P3: InitializePartition with the deleted child's id");
  EXPECT(partition_op(CallCode::kDeletePartition, id), Status::kInvalidPartitionId,
         "P3: DeletePartition with the deleted child's id");
  next = ~0ull;
  EXPECT(get_next_child(tlfs::kPartitionIdSelf, 0, &next), Status::kSuccess,
         "P7: GetNextChildPartition(SELF, 0) after the delete");
  CHECK(next == 0, "P7: ... returns 0: no live child is left");
  if (!skipping() && next != 0) diag("GetNextChildPartition gave %lu", next);
}

}  // namespace conf
