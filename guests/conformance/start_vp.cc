// HvCallStartVirtualProcessor refusals: S2-S13 and table R (S15).
#include "suites.h"

namespace conf {

namespace {

using Ctx = tlfs::InitialVpContext;

constexpr std::uint64_t kNonCanonical = 0x0000'8000'0000'0000ull;
constexpr std::uint64_t kEferLme = 1ull << 8;
constexpr std::uint64_t kEferLma = 1ull << 10;
constexpr std::uint64_t kCr4Pae = 1ull << 5;

struct BadContext {
  const char* row;
  const char* what;
  void (*mutate)(Ctx&);
};

// Each differs from a valid 64-bit context (Linux's layout) in one rule only.
const BadContext kBadContexts[] = {
    {"R1", "RFLAGS bit 1 clear", [](Ctx& c) { c.rflags = 0; }},
    {"R1", "RFLAGS reserved bit 3 set", [](Ctx& c) { c.rflags |= 1u << 3; }},
    {"R1", "RFLAGS reserved bit 22 set", [](Ctx& c) { c.rflags |= 1u << 22; }},
    {"R2", "RFLAGS.VM set", [](Ctx& c) { c.rflags |= 1u << 17; }},
    {"R3", "CR0 bit 32 set", [](Ctx& c) { c.cr0 |= 1ull << 32; }},
    {"R4", "CR0.PG without CR0.PE", [](Ctx& c) { c.cr0 &= ~1ull; }},
    {"R4", "CR0.NW without CR0.CD", [](Ctx& c) { c.cr0 = (c.cr0 | (1ull << 29)) & ~(1ull << 30); }},
    {"R5", "CR4 bit 15 set", [](Ctx& c) { c.cr4 |= 1ull << 15; }},
    {"R5", "CR4 bit 25 set", [](Ctx& c) { c.cr4 |= 1ull << 25; }},
    {"R6", "EFER bit 12 set", [](Ctx& c) { c.efer |= 1ull << 12; }},
    {"R7", "EFER.LMA without EFER.LME", [](Ctx& c) { c.efer = (c.efer & ~kEferLme) | kEferLma; }},
    {"R7", "EFER.LME and CR0.PG without EFER.LMA", [](Ctx& c) { c.efer &= ~kEferLma; }},
    {"R8", "long mode without CR4.PAE", [](Ctx& c) { c.cr4 &= ~kCr4Pae; }},
    {"R9", "long mode with CS.L and CS.D both set (CS 0xe09b)",
     [](Ctx& c) { c.cs.attributes |= tlfs::seg_attr::kDefaultBig; }},
    {"R10", "CR3 bit 52 set (beyond the physical address width)",
     [](Ctx& c) { c.cr3 |= 1ull << 52; }},
    {"R11", "PAT entry 0 of memory type 2",
     [](Ctx& c) { c.msr_cr_pat = (c.msr_cr_pat & ~0xFFull) | 2; }},
    {"R11", "PAT entry 7 of memory type 8",
     [](Ctx& c) { c.msr_cr_pat = (c.msr_cr_pat & ~(0xFFull << 56)) | (8ull << 56); }},
    {"R12", "64-bit code with a non-canonical RIP (0x0000800000000000)",
     [](Ctx& c) { c.rip = kNonCanonical; }},
    {"R12", "32-bit protected mode with RIP above 4 GiB",
     [](Ctx& c) { c = ctx32(0x1'0000'0000ull, 0x8000, GUEST_SEL_CODE32, GUEST_SEL_DATA); }},
    {"R13", "long mode with a non-canonical GDTR base",
     [](Ctx& c) { c.gdtr.base = kNonCanonical; }},
    {"R13", "long mode with a non-canonical IDTR base",
     [](Ctx& c) { c.idtr.base = kNonCanonical; }},
    {"R13", "long mode with a non-canonical FS base", [](Ctx& c) { c.fs.base = kNonCanonical; }},
    {"R13", "long mode with an SS base above 4 GiB", [](Ctx& c) { c.ss.base = 1ull << 32; }},
    {"R13", "32-bit protected mode with a GDTR base above 4 GiB",
     [](Ctx& c) {
       c = ctx32(0x100000, 0x8000, GUEST_SEL_CODE32, GUEST_SEL_DATA, 1ull << 32, 0x2F);
     }},
};

Ctx valid_context_for(std::uint32_t vp) {
  return ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(vp));
}

}  // namespace

void test_start_vp_refusals() {
  const std::uint32_t n = env().vps;
  const std::uint32_t target = n - 1;  // an AP that is not running when n >= 2; VP 0 otherwise
  Ctx ok{};
  if (!skipping()) {
    ok = valid_context_for(target);
    if (n >= 2) set_role(target, Role::kMustNotRun);
  }
  EXPECT(start_vp(0x1234, target, 0, ok), Status::kInvalidPartitionId,
         "S4: StartVirtualProcessor with PartitionId 0x1234 (no such partition)");
  EXPECT(start_vp(0, target, 0, ok), Status::kInvalidPartitionId,
         "S4/P9: StartVirtualProcessor with PartitionId 0 (never an id)");
  EXPECT(start_vp(tlfs::kPartitionIdSelf, n, 0, ok), Status::kInvalidVpIndex,
         "S8: StartVirtualProcessor with VpIndex %u = the VP count", n);
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 0xFFFF'FFFFu, 0, ok), Status::kInvalidVpIndex,
         "S8: StartVirtualProcessor with VpIndex 0xffffffff");
  EXPECT(
      start_vp(tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, 0, ok), Status::kInvalidVpState,
      "S13: StartVirtualProcessor with VpIndex HV_VP_INDEX_SELF (0xfffffffe): the running caller");
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 0, 0, ok), Status::kInvalidVpState,
         "S13/M1: StartVirtualProcessor of the caller's own VP index 0 (running since boot)");
  EXPECT(start_vp(env().own_id, 0, 0, ok), Status::kInvalidVpState,
         "S5: the caller's own PartitionId (%lu) acts as SELF (own VP: INVALID_VP_STATE)",
         env().own_id);
  EXPECT(start_vp(tlfs::kPartitionIdSelf, target, 1, ok), Status::kAccessDenied,
         "S9: StartVirtualProcessor of VP %u with TargetVtl 1 from VTL 0", target);
  EXPECT(start_vp(tlfs::kPartitionIdSelf, target, 2, ok), Status::kAccessDenied,
         "S9: StartVirtualProcessor of VP %u with TargetVtl 2 from VTL 0", target);
}

void test_register_rules(std::uint64_t partition, std::uint32_t vp, const char* what,
                         bool own_partition) {
  for (const BadContext& b : kBadContexts) {
    Ctx c{};
    if (!skipping()) {
      c = valid_context_for(own_partition ? vp : 0);
      b.mutate(c);
    }
    EXPECT(start_vp(partition, vp, 0, c), Status::kInvalidRegisterValue,
           "%s/S15: StartVirtualProcessor of %s with %s", b.row, what, b.what);
  }
  // S15: the refused starts left the VP stopped. Observable for an AP of this partition (its role
  // counts any run); a child's VP 0 is shown stopped by its successful start later.
  {
    SkipScope s(own_partition || skip_reason() != nullptr
                    ? nullptr
                    : "not observable inside a child; its later successful start shows it");
    bool quiet = false;
    if (!skipping()) {
      delay(kWaitCycles / 20);
      quiet = must_not_run_count() == 0;
    }
    CHECK(quiet, "S15: none of the refused starts ran %s", what);
  }
}

void test_start_running_vp_again() {
  const std::uint32_t n = env().vps;
  SkipScope s(n < 2 ? "needs --vps 2 or more (VP 1 running)" : nullptr);
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 1, 0, skipping() ? Ctx{} : valid_context_for(1)),
         Status::kInvalidVpState, "S13: StartVirtualProcessor of VP 1 again while it runs");
}

}  // namespace conf
