// Hypercall ABI rows (docs/conformance.md A4-A23), HvCallGetVpIndexFromApicId (V1-V7) and
// HvCallGetPartitionId (P8), checked from inside the VM through the hypercall page.
#include "suites.h"

namespace conf {

namespace {

using tlfs::CallCode;

constexpr std::uint64_t kOneTiB = 1ull << 40;

std::uint64_t get_partition_id_raw(std::uint64_t control, std::uint64_t out) {
  return hvc(control, 0, out);
}

// GetVpIndexFromApicId with one APIC ID (0) at `in`, header SELF; raw control and GPAs.
std::uint64_t vp_index_raw(std::uint64_t control, std::uint64_t in, std::uint64_t out) {
  return hvc(control, in, out);
}

void fill_vp_index_input(std::uint8_t* at, std::uint32_t apic) {
  tlfs::GetVpIndexFromApicIdHeader h{};
  h.partition_id = tlfs::kPartitionIdSelf;
  memcpy(at, &h, sizeof h);
  memcpy(at + sizeof h, &apic, 4);
}

std::uint32_t out_u32(unsigned i) {
  std::uint32_t v;
  memcpy(&v, out_page() + 4 * i, 4);
  return v;
}

}  // namespace

void test_control_word() {
  const std::uint64_t part_id = ctl(CallCode::kGetPartitionId);
  const std::uint64_t out = gpa(out_page());

  EXPECT(hvc(0x7FFFull, 0ull, 0ull), Status::kInvalidHypercallCode, "A4: unknown call code 0x7fff");
  EXPECT(hvc(0x0000ull, 0ull, 0ull), Status::kInvalidHypercallCode, "A4: call code 0x0000");
  EXPECT(hvc(0x7FFF | (1ull << 27) | (1ull << 31) | (1ull << 17), 0ull, 0ull),
         Status::kInvalidHypercallCode,
         "A5: unknown code with reserved, nested and header bits set: the code is checked first");

  constexpr unsigned kReservedBits[] = {27, 30, 44, 47, 60, 63};
  for (const unsigned bit : kReservedBits) {
    EXPECT(get_partition_id_raw(part_id | (1ull << bit), out), Status::kInvalidHypercallInput,
           "A6: GetPartitionId with reserved control bit %u set", bit);
  }
  EXPECT(get_partition_id_raw(part_id | (1ull << 31), out), Status::kInvalidHypercallInput,
         "A7: GetPartitionId with the nested bit (31) set");
  EXPECT(get_partition_id_raw(part_id | (1ull << 17), out), Status::kInvalidHypercallInput,
         "A8: GetPartitionId with variable header size 1");
  EXPECT(get_partition_id_raw(part_id | (0x3FFull << 17), out), Status::kInvalidHypercallInput,
         "A8: GetPartitionId with variable header size 0x3ff");
  EXPECT(get_partition_id_raw(part_id | (1ull << 32), out), Status::kInvalidHypercallInput,
         "A9: simple call (GetPartitionId) with rep count 1");
  EXPECT(get_partition_id_raw(part_id | (1ull << 48), out), Status::kInvalidHypercallInput,
         "A9: simple call (GetPartitionId) with rep start 1");

  if (!skipping()) fill_vp_index_input(in_page(), 0);
  const std::uint64_t in = gpa(in_page());
  EXPECT_REPS(vp_index_raw(ctl(CallCode::kGetVpIndexFromApicId, 0), in, out),
              Status::kInvalidHypercallInput, 0,
              "A10: rep call (GetVpIndexFromApicId) with rep count 0");
  EXPECT_REPS(vp_index_raw(ctl(CallCode::kGetVpIndexFromApicId, 1, 1), in, out),
              Status::kInvalidHypercallInput, 0, "A10: rep call with rep start 1 = rep count 1");
  EXPECT_REPS(vp_index_raw(ctl(CallCode::kGetVpIndexFromApicId, 2, 3), in, out),
              Status::kInvalidHypercallInput, 0, "A10: rep call with rep start 3 > rep count 2");

  test_xmm_fast();  // A11, A26, A27 (xmm.cc)
}

void test_gpa_rules() {
  const std::uint64_t vpi1 = ctl(CallCode::kGetVpIndexFromApicId, 1);
  const std::uint64_t in = gpa(in_page());
  const std::uint64_t out = gpa(out_page());
  if (!skipping()) {
    fill_vp_index_input(in_page(), 0);
    fill_vp_index_input(in_page() + 4096 - 8, 0);  // the header's first 8 bytes fit, the rest not
  }
  EXPECT_REPS(vp_index_raw(vpi1, in + 4, out), Status::kInvalidAlignment, 0,
              "A13: GetVpIndexFromApicId with the input GPA 4 bytes off 8-byte alignment");
  EXPECT_REPS(vp_index_raw(vpi1, in + 4096 - 8, out), Status::kInvalidAlignment, 0,
              "A14: input (20 bytes) starting 8 bytes before a page boundary");
  EXPECT_REPS(vp_index_raw(vpi1, kOneTiB, out), Status::kInvalidAlignment, 0,
              "A15: input GPA at 1 TiB, beyond guest RAM");
  EXPECT_REPS(vp_index_raw(vpi1, 0xFFFF'FFFF'FFFF'F000ull, out), Status::kInvalidAlignment, 0,
              "A15: input GPA 0xfffffffffffff000, the last page of the 64-bit space");
  EXPECT_REPS(vp_index_raw(vpi1, in, out + 4), Status::kInvalidAlignment, 0,
              "A13: GetVpIndexFromApicId with the output GPA 4 bytes off alignment");
  if (!skipping()) {
    const std::uint32_t ids[4] = {0, 0, 0, 0};
    memcpy(in_page() + 16, ids, sizeof ids);
  }
  EXPECT_REPS(vp_index_raw(ctl(CallCode::kGetVpIndexFromApicId, 4), in, out + 4096 - 8),
              Status::kInvalidAlignment, 0,
              "A14: output (4 elements, 16 bytes) starting 8 bytes before a page boundary");
  EXPECT(get_partition_id_raw(ctl(CallCode::kGetPartitionId), kOneTiB), Status::kInvalidAlignment,
         "A15: GetPartitionId with the output GPA at 1 TiB");
  // A22: a continuation (rep start 1) refused by a GPA rule reports its rep start as completed.
  EXPECT_REPS(vp_index_raw(ctl(CallCode::kGetVpIndexFromApicId, 3, 1), in + 4, out),
              Status::kInvalidAlignment, 1,
              "A22: misaligned input with rep start 1 reports 1 rep completed");

  // A16: a call without output ignores its output GPA; StartVirtualProcessor with a VpIndex
  // outside the partition shows the handler ran.
  if (!skipping()) {
    auto* sv = reinterpret_cast<tlfs::StartVirtualProcessorInput*>(in_page());
    memset(sv, 0, sizeof *sv);
    sv->partition_id = tlfs::kPartitionIdSelf;
    sv->vp_index = env().vps;
    sv->vp_context = ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(0));
  }
  EXPECT(hvc(ctl(CallCode::kStartVirtualProcessor), in, kOneTiB + 4), Status::kInvalidVpIndex,
         "A16: StartVirtualProcessor's output GPA (misaligned, beyond RAM) is not looked at");
  EXPECT(hvc(ctl(CallCode::kStartVirtualProcessor), in + 4, 0), Status::kInvalidAlignment,
         "S2: StartVirtualProcessor with a misaligned input GPA");

  // A17: input and output may overlap (Linux's get_vtl() passes one GPA for both).
  const std::uint32_t apic = env().vps - 1;
  std::uint32_t got = 0xFFFF'FFFF;
  std::uint64_t r = 0;
  if (!skipping()) {
    fill_vp_index_input(in_page(), apic);
    r = vp_index_raw(vpi1, in, in);
    memcpy(&got, in_page(), 4);
  }
  EXPECT_REPS(r, Status::kSuccess, 1,
              "A17: GetVpIndexFromApicId with the output GPA equal to the input GPA");
  CHECK(got == apic, "A17: ... the output (VP index %u for APIC ID %u) overwrote the input", apic,
        apic);
  if (!skipping() && got != apic) diag("got VP index 0x%x", got);

  // A23: the 7 padding bytes after HV_INPUT_VTL are ignored.
  if (!skipping()) {
    fill_vp_index_input(in_page(), 0);
    memset(in_page() + 9, 0xA5, 7);
  }
  EXPECT_REPS(vp_index_raw(vpi1, in, out), Status::kSuccess, 1,
              "A23: GetVpIndexFromApicId with non-zero padding after HV_INPUT_VTL");
}

void test_vp_index() {
  const std::uint32_t n = env().vps;
  const std::uint16_t count = static_cast<std::uint16_t>(n < 1000 ? n : 1000);
  std::uint32_t ids[1000];
  bool all_ok = false;
  bool sentinel_ok = false;
  std::uint64_t r = 0;
  if (!skipping()) {
    for (std::uint16_t i = 0; i < count; ++i) ids[i] = count - 1u - i;  // reversed
    r = vp_index_from_apic(tlfs::kPartitionIdSelf, 0, ids, count);
    all_ok = true;
    for (std::uint16_t i = 0; i < count; ++i) all_ok = all_ok && out_u32(i) == ids[i];
    sentinel_ok = out_u32(count) == 0xEEEE'EEEEu;
  }
  EXPECT_REPS(r, Status::kSuccess, count, "V1: GetVpIndexFromApicId for all %u APIC IDs (reversed)",
              static_cast<unsigned>(count));
  CHECK(
      all_ok && sentinel_ok,
      "V1/M3: outputs are packed u32 VP indexes equal to the APIC IDs, nothing written after them");

  // V6: an unknown APIC ID ends the call; reps completed = its index; earlier outputs written.
  std::uint32_t first = 0xFFFF'FFFF;
  if (!skipping()) {
    const std::uint32_t bad[3] = {0, 0xFFFF, 0};
    r = vp_index_from_apic(tlfs::kPartitionIdSelf, 0, bad, 3);
    first = out_u32(0);
  }
  EXPECT_REPS(r, Status::kInvalidParameter, 1,
              "V6: APIC IDs {0, 0xffff (unknown), 0}: INVALID_PARAMETER at element 1");
  CHECK(first == 0, "V6: ... the output before the unknown element was written (VP 0)");

  // The partition has exactly CPUID 0x40000005 EAX VPs: APIC ID n-1 maps, APIC ID n does not.
  if (!skipping()) {
    const std::uint32_t last = n - 1;
    r = vp_index_from_apic(tlfs::kPartitionIdSelf, 0, &last, 1);
  }
  EXPECT_REPS(r, Status::kSuccess, 1, "C-1/M3: APIC ID %u (VP count - 1) maps to a VP", n - 1);
  EXPECT_REPS(vp_index_from_apic(tlfs::kPartitionIdSelf, 0, &n, 1), Status::kInvalidParameter, 0,
              "C-1/M3: APIC ID %u (the VP count) is unknown", n);

  // V7: rep start skips the elements before it (here an unknown one).
  std::uint32_t skipped = 0, second = 0xFFFF'FFFF;
  if (!skipping()) {
    const std::uint32_t two[2] = {0xFFFF, 0};
    r = vp_index_from_apic(tlfs::kPartitionIdSelf, 0, two, 2, 1);
    skipped = out_u32(0);
    second = out_u32(1);
  }
  EXPECT_REPS(r, Status::kSuccess, 2, "V7: APIC IDs {0xffff, 0} with rep start 1");
  CHECK(skipped == 0xEEEE'EEEEu && second == 0,
        "V7: ... element 0 was neither read nor written, element 1 gives VP 0");

  const std::uint32_t zero = 0;
  constexpr std::uint8_t kReservedVtlBits[] = {0x20, 0x40, 0x80};
  for (const std::uint8_t vtl : kReservedVtlBits) {
    EXPECT_REPS(vp_index_from_apic(tlfs::kPartitionIdSelf, vtl, &zero, 1),
                Status::kInvalidParameter, 0, "V3: HV_INPUT_VTL 0x%02x (reserved bit set)", vtl);
  }
  EXPECT_REPS(vp_index_from_apic(tlfs::kPartitionIdSelf, 0x11, &zero, 1), Status::kAccessDenied, 0,
              "V4: UseTargetVtl with VTL 1 from VTL 0");
  EXPECT_REPS(vp_index_from_apic(tlfs::kPartitionIdSelf, 0x10, &zero, 1), Status::kSuccess, 1,
              "V4: UseTargetVtl with VTL 0 (the caller's own)");
  EXPECT_REPS(vp_index_from_apic(0x1234, 0, &zero, 1), Status::kInvalidPartitionId, 0,
              "V2: GetVpIndexFromApicId with PartitionId 0x1234");
}

void test_partition_id() {
  std::uint64_t id = 0;
  EXPECT(get_partition_id(&id), Status::kSuccess, "P8: GetPartitionId");
  if (!skipping()) env().own_id = id;
  CHECK(id != 0 && id != tlfs::kPartitionIdSelf && (!env().have_child || id != env().child_id),
        "P8/P9: the partition's id is %lu (not 0, not SELF, not the child's)", id);
}

}  // namespace conf
