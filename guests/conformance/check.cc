// TAP checks, the counting pass, hypercall inputs and start contexts.
#include "check.h"

#include <cstdarg>

#include "modes.h"

namespace conf {

namespace {

Counts g_counts{};
unsigned g_planned = 0;
bool g_counting = false;
const char* g_skip = nullptr;
Env g_env;

char g_desc[512];

const char* vformat(const char* fmt, va_list ap) {
  vsnprintf(g_desc, sizeof g_desc, fmt, ap);
  return g_desc;
}

void record(bool ok) {
  ++g_counts.run;
  if (ok)
    ++g_counts.passed;
  else
    ++g_counts.failed;
}

}  // namespace

const Counts& counts() {
  return g_counts;
}

void begin_counting() {
  g_counts = {};
  g_counting = true;
}

void begin_real_pass() {
  const unsigned n = g_counts.run;
  g_planned = n;
  g_counts = {};
  g_counting = false;
  tap_plan(n);
}

bool counting() {
  return g_counting;
}
bool plan_met() {
  return g_counts.run == g_planned;
}
bool skipping() {
  return g_counting || g_skip != nullptr;
}
const char* skip_reason() {
  return g_skip;
}

SkipScope::SkipScope(const char* reason) : saved_(g_skip), active_(reason != nullptr) {
  if (active_) g_skip = reason;
}
SkipScope::~SkipScope() {
  if (active_) g_skip = saved_;
}

const char* short_status(std::uint16_t s) {
  const char* n = hv_status_name(s);
  return strncmp(n, "HV_STATUS_", 10) == 0 ? n + 10 : n;
}

bool check_impl(bool cond, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char* d = vformat(fmt, ap);
  va_end(ap);
  record(cond);
  return tap_ok(cond, "%s", d);
}

bool skip_test(const char* fmt, ...) {
  if (g_counting) {
    ++g_counts.run;
    return true;
  }
  va_list ap;
  va_start(ap, fmt);
  const char* d = vformat(fmt, ap);
  va_end(ap);
  ++g_counts.run;
  ++g_counts.skipped;
  tap_skip_desc(d, "%s", g_skip ? g_skip : "skipped");
  return true;
}

bool expect_impl(std::uint64_t result, Status want, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(fmt, ap);
  va_end(ap);
  const auto w = static_cast<std::uint16_t>(want);
  const std::uint16_t got = hv_status(result);
  // Everything but the status and reps-completed fields must be 0 (A19).
  const bool clean = (result & ~(0xFFFFull | (0xFFFull << 32))) == 0;
  const bool ok = got == w && clean;
  LineLock lock;
  record(ok);
  tap_ok(ok, "%s -> %s", g_desc, short_status(w));
  if (got != w) {
    tap_diag("expected %s (0x%04x), got %s (0x%04x); result 0x%016lx", hv_status_name(w), w,
             hv_status_name(got), got, result);
  } else if (!clean) {
    tap_diag("status %s as expected, but reserved result bits are set: result 0x%016lx",
             hv_status_name(got), result);
  }
  return ok;
}

bool expect_reps_impl(std::uint64_t result, Status want, std::uint16_t reps, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(fmt, ap);
  va_end(ap);
  const auto w = static_cast<std::uint16_t>(want);
  const std::uint16_t got = hv_status(result);
  const std::uint16_t got_reps = hv_reps(result);
  const bool clean = (result & ~(0xFFFFull | (0xFFFull << 32))) == 0;
  const bool ok = got == w && got_reps == reps && clean;
  LineLock lock;
  record(ok);
  tap_ok(ok, "%s -> %s, reps completed %u", g_desc, short_status(w), reps);
  if (!ok) {
    tap_diag(
        "expected %s (0x%04x) with reps completed %u, got %s (0x%04x) with %u; result "
        "0x%016lx",
        hv_status_name(w), w, reps, hv_status_name(got), got, got_reps, result);
  }
  return ok;
}

void diag(const char* fmt, ...) {
  if (g_counting) return;
  va_list ap;
  va_start(ap, fmt);
  const char* d = vformat(fmt, ap);
  va_end(ap);
  tap_diag("%s", d);
}

// --- hypercalls
// -------------------------------------------------------------------------------------

std::uint64_t start_vp(std::uint64_t partition, std::uint32_t vp, std::uint8_t vtl,
                       const tlfs::InitialVpContext& ctx, std::uint64_t extra) {
  auto* in = reinterpret_cast<tlfs::StartVirtualProcessorInput*>(in_page());
  memset(in, 0, sizeof *in);
  in->partition_id = partition;
  in->vp_index = vp;
  in->target_vtl = vtl;
  in->vp_context = ctx;
  return hv_call(ctl(tlfs::CallCode::kStartVirtualProcessor) | extra, in, nullptr);
}

std::uint64_t enable_vp_vtl(std::uint64_t partition, std::uint32_t vp, std::uint8_t vtl,
                            const tlfs::InitialVpContext& ctx) {
  auto* in = reinterpret_cast<tlfs::EnableVpVtlInput*>(in_page());
  memset(in, 0, sizeof *in);
  in->partition_id = partition;
  in->vp_index = vp;
  in->target_vtl = vtl;
  in->vp_context = ctx;
  return hv_call(ctl(tlfs::CallCode::kEnableVpVtl), in, nullptr);
}

std::uint64_t enable_partition_vtl(std::uint64_t partition, std::uint8_t vtl, std::uint8_t flags) {
  auto* in = reinterpret_cast<tlfs::EnablePartitionVtlInput*>(in_page());
  memset(in, 0, sizeof *in);
  in->partition_id = partition;
  in->target_vtl = vtl;
  in->flags = flags;
  return hv_call(ctl(tlfs::CallCode::kEnablePartitionVtl), in, nullptr);
}

std::uint64_t partition_op(tlfs::CallCode code, std::uint64_t partition) {
  auto* in = reinterpret_cast<tlfs::PartitionIdInput*>(in_page());
  in->partition_id = partition;
  return hv_call(ctl(code), in, nullptr);
}

std::uint64_t get_partition_id(std::uint64_t* id) {
  auto* out = reinterpret_cast<tlfs::GetPartitionIdOutput*>(out_page());
  out->partition_id = 0xDEAD'BEEF'DEAD'BEEFull;
  const std::uint64_t r = hv_call(ctl(tlfs::CallCode::kGetPartitionId), nullptr, out);
  *id = out->partition_id;
  return r;
}

std::uint64_t get_next_child(std::uint64_t parent, std::uint64_t previous, std::uint64_t* next) {
  auto* in = reinterpret_cast<tlfs::GetNextChildPartitionInput*>(in_page());
  auto* out = reinterpret_cast<tlfs::GetNextChildPartitionOutput*>(out_page());
  in->parent_id = parent;
  in->previous_child_id = previous;
  out->next_child_id = 0xDEAD'BEEF'DEAD'BEEFull;
  const std::uint64_t r = hv_call(ctl(tlfs::CallCode::kGetNextChildPartition), in, out);
  *next = out->next_child_id;
  return r;
}

std::uint64_t vp_index_from_apic(std::uint64_t partition, std::uint8_t input_vtl,
                                 const std::uint32_t* apic_ids, std::uint16_t count,
                                 std::uint16_t start) {
  auto* h = reinterpret_cast<tlfs::GetVpIndexFromApicIdHeader*>(in_page());
  memset(h, 0, sizeof *h);
  h->partition_id = partition;
  h->target_vtl.raw = input_vtl;
  memcpy(in_page() + sizeof *h, apic_ids, std::size_t{count} * 4);
  memset(out_page(), 0xEE, 4096);
  return hv_call(ctl(tlfs::CallCode::kGetVpIndexFromApicId, count, start), in_page(), out_page());
}

std::uint64_t get_vp_register(std::uint64_t partition, std::uint32_t vp, std::uint8_t input_vtl,
                              tlfs::RegisterName name, tlfs::RegisterValue* value) {
  auto* h = reinterpret_cast<tlfs::VpRegistersHeader*>(in_page());
  memset(h, 0, sizeof *h);
  h->partition_id = partition;
  h->vp_index = vp;
  h->target_vtl.raw = input_vtl;
  const auto n = static_cast<std::uint32_t>(name);
  memcpy(in_page() + sizeof *h, &n, 4);
  auto* out = reinterpret_cast<tlfs::RegisterValue*>(out_page());
  out->low = out->high = 0xEEEE'EEEE'EEEE'EEEEull;
  const std::uint64_t r = hv_call(ctl(tlfs::CallCode::kGetVpRegisters, 1), in_page(), out_page());
  *value = *out;
  return r;
}

// --- contexts
// -----------------------------------------------------------------------------------------

tlfs::InitialVpContext ctx64(std::uint64_t rip, std::uint64_t rsp) {
  tlfs::InitialVpContext c = vp_context_64(rip, rsp);
  c.ldtr = {0, 0, 0, 0x82};
  return c;
}

tlfs::InitialVpContext ctx32(std::uint64_t rip, std::uint64_t rsp, std::uint16_t code_sel,
                             std::uint16_t data_sel, std::uint64_t gdt_base,
                             std::uint16_t gdt_limit) {
  tlfs::InitialVpContext c{};
  c.rip = rip;
  c.rsp = rsp;
  c.rflags = 0x2;
  c.cs = {0, 0xFFFFFFFF, code_sel, 0xC09B};
  const tlfs::SegmentRegister data{0, 0xFFFFFFFF, data_sel, 0xC093};
  c.ds = c.es = c.fs = c.gs = c.ss = data;
  c.tr = {0, 0x67, 0, 0x8B};
  c.ldtr = {0, 0, 0, 0};
  c.gdtr.base = gdt_base;
  c.gdtr.limit = gdt_limit;
  c.cr0 = 0x11;  // PE | ET
  c.msr_cr_pat = 0x0007'0406'0007'0406ull;
  return c;
}

// --- the partition
// --------------------------------------------------------------------------------------

Env& env() {
  return g_env;
}

bool setup_partition() {
  if (skipping()) return true;
  if (const char* err = hv_init()) {
    printf("Bail out! no Hyper-V interface: %s\n", err);
    return false;
  }
  g_env.vps = vp_count();
  if (g_env.vps == 0) {
    puts("Bail out! CPUID 0x40000005 EAX (the VP count) is 0");
    return false;
  }
  if (const char* err = vp_blocks_init(g_env.vps)) {
    printf("Bail out! %s\n", err);
    return false;
  }
  install_ap_dispatcher();
  return true;
}

}  // namespace conf
