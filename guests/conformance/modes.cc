// APs started in 64-bit, 32-bit and 32-bit paged protected mode, the concurrent-start race, CPL 3
// and compatibility-mode callers.
#include "modes.h"

#include "suites.h"

extern "C" {
extern std::uint64_t guest_gdt[6];
}

namespace conf {

namespace {

using Ctx = tlfs::InitialVpContext;

// Role values: written by one VP and read by another, so through __atomic builtins, which take
// integers, not enums.
std::uint32_t g_roles[kMaxTrackedVps];
ApReport g_reports[kMaxTrackedVps];
std::uint32_t g_must_not_run = 0;

// --- 64-bit roles
// -----------------------------------------------------------------------------------

std::uint16_t read_sel_cs() {
  std::uint16_t v;
  asm volatile("mov %%cs, %0" : "=r"(v));
  return v;
}
std::uint16_t read_sel_ss() {
  std::uint16_t v;
  asm volatile("mov %%ss, %0" : "=r"(v));
  return v;
}
std::uint16_t read_sel_ds() {
  std::uint16_t v;
  asm volatile("mov %%ds, %0" : "=r"(v));
  return v;
}
std::uint16_t read_tr() {
  std::uint16_t v;
  asm volatile("str %0" : "=r"(v));
  return v;
}
std::uint16_t read_ldtr() {
  std::uint16_t v;
  asm volatile("sldt %0" : "=r"(v));
  return v;
}

void ap_report() {
  Percpu* p = this_cpu();
  const std::uint32_t vp = p->vp_index;
  ApReport& r = g_reports[vp];
  r.vp_msr = vp;
  r.slot = p->slot;
  r.vtl = hv_active_vtl();
  r.cr0 = read_cr0();
  r.cr3 = read_cr3();
  r.cr4 = read_cr4();
  r.efer = rdmsr(kMsrEfer);
  r.pat = rdmsr(kMsrPat);
  std::uint64_t fl;
  asm volatile("pushfq; popq %0" : "=r"(fl));
  r.rflags = fl;
  r.cs = read_sel_cs();
  r.ss = read_sel_ss();
  r.ds = read_sel_ds();
  r.tr = read_tr();
  r.ldtr = read_ldtr();
  r.cpuid1_apic = cpuid(1).ebx >> 24;
  r.cpuidb_edx = cpuid(0xB).edx;
  __atomic_fetch_add(&r.runs, 1, __ATOMIC_SEQ_CST);
  __atomic_store_n(&r.flag, kReportMagic + vp, __ATOMIC_RELEASE);
}

// --- the race
// -----------------------------------------------------------------------------------------

struct Race {
  volatile std::uint32_t ready, go, done;
  volatile std::uint32_t success, vp_state, other, timeouts;
  volatile std::uint32_t other_status;
  volatile std::uint32_t target_runs;
  std::uint32_t target;
  Ctx ctx;
};
Race g_race;

void ap_race_caller() {
  __atomic_fetch_add(&g_race.ready, 1, __ATOMIC_SEQ_CST);
  // All callers spin (no `pause`: it is slow on some hosts) until the boot VP says go.
  if (!wait_until([] { return __atomic_load_n(&g_race.go, __ATOMIC_ACQUIRE) != 0; })) {
    __atomic_fetch_add(&g_race.timeouts, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&g_race.done, 1, __ATOMIC_SEQ_CST);
    return;
  }
  const std::uint64_t r = start_vp(tlfs::kPartitionIdSelf, g_race.target, 0, g_race.ctx);
  switch (static_cast<Status>(hv_status(r))) {
    case Status::kSuccess:
      __atomic_fetch_add(&g_race.success, 1, __ATOMIC_SEQ_CST);
      break;
    case Status::kInvalidVpState:
      __atomic_fetch_add(&g_race.vp_state, 1, __ATOMIC_SEQ_CST);
      break;
    default:
      __atomic_fetch_add(&g_race.other, 1, __ATOMIC_SEQ_CST);
      g_race.other_status = hv_status(r);
      break;
  }
  __atomic_fetch_add(&g_race.done, 1, __ATOMIC_SEQ_CST);
}

// --- the lower-VTL probe
// --------------------------------------------------------------------------

struct Probe {
  volatile std::uint32_t go, done;
  std::uint32_t target;
  std::uint64_t start_target, start_self;
};
Probe g_probe;

void ap_probe() {
  ap_report();
  if (!wait_until([] { return __atomic_load_n(&g_probe.go, __ATOMIC_ACQUIRE) != 0; })) return;
  const Ctx c =
      ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(g_probe.target));
  g_probe.start_target = start_vp(tlfs::kPartitionIdSelf, g_probe.target, 0, c);
  g_probe.start_self = start_vp(tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, 0, c);
  __atomic_store_n(&g_probe.done, 1, __ATOMIC_RELEASE);
}

void ap_dispatch() {
  const std::uint32_t vp = this_cpu()->vp_index;
  if (vp >= kMaxTrackedVps) return;
  switch (static_cast<Role>(__atomic_load_n(&g_roles[vp], __ATOMIC_SEQ_CST))) {
    case Role::kNone:
      return;
    case Role::kMustNotRun:
      __atomic_fetch_add(&g_must_not_run, 1, __ATOMIC_SEQ_CST);
      return;
    case Role::kReport:
      ap_report();
      return;
    case Role::kRaceCaller:
      ap_race_caller();
      return;
    case Role::kRaceTarget:
      __atomic_fetch_add(&g_race.target_runs, 1, __ATOMIC_SEQ_CST);
      return;
    case Role::kProbe:
      ap_probe();
      return;
  }
}

// --- 32-bit APs
// ---------------------------------------------------------------------------------------

struct Record32 {
  volatile std::uint32_t flag;
  std::uint32_t cr0, cr3, cr4, efer_lo, efer_hi, cs, ss, esp, result_lo, result_hi, out;
};
static_assert(offsetof(Record32, flag) == R32_FLAG);
static_assert(offsetof(Record32, cr0) == R32_CR0);
static_assert(offsetof(Record32, cr3) == R32_CR3);
static_assert(offsetof(Record32, cr4) == R32_CR4);
static_assert(offsetof(Record32, efer_lo) == R32_EFER_LO);
static_assert(offsetof(Record32, efer_hi) == R32_EFER_HI);
static_assert(offsetof(Record32, cs) == R32_CS);
static_assert(offsetof(Record32, ss) == R32_SS);
static_assert(offsetof(Record32, esp) == R32_ESP);
static_assert(offsetof(Record32, result_lo) == R32_RESULT_LO);
static_assert(offsetof(Record32, result_hi) == R32_RESULT_HI);
static_assert(offsetof(Record32, out) == R32_OUT);
static_assert(sizeof(Record32) == R32_SIZE);

struct Ap32Args {
  std::uint32_t record, flag, control_lo, control_hi, input, output, real_mode;
};
static_assert(offsetof(Ap32Args, record) == A32_RECORD);
static_assert(offsetof(Ap32Args, flag) == A32_FLAG);
static_assert(offsetof(Ap32Args, control_lo) == A32_CONTROL_LO);
static_assert(offsetof(Ap32Args, control_hi) == A32_CONTROL_HI);
static_assert(offsetof(Ap32Args, input) == A32_INPUT);
static_assert(offsetof(Ap32Args, output) == A32_OUTPUT);
static_assert(offsetof(Ap32Args, real_mode) == A32_REAL_MODE);
static_assert(sizeof(Ap32Args) == A32_SIZE);

Record32 g_records32[4];
// 32-bit paging: one page directory of 4 MiB pages (CR4.PSE) identity-mapping the low 1 GiB.
alignas(4096) std::uint32_t g_pd32[1024];

constexpr std::uint64_t kCr0Pe = 1ull << 0;
constexpr std::uint64_t kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pse = 1ull << 4;
constexpr std::uint64_t kEferLma = 1ull << 10;

// "skip-paged32" on the command line: for a host whose KVM cannot run 32-bit paging at all.
// Such a start cannot be tried and survived: the AP's first instruction shuts the whole VM down
// (PVM's kvm_pvm does this for PSE, 4 KiB and PAE 32-bit paging alike; a bare KVM program shows it
// without hvk).
constexpr const char* kSkipPaged32Reason =
    "skip-paged32 on the command line: this host's KVM cannot run 32-bit paging (PVM's kvm_pvm "
    "shuts the VM down at the AP's first instruction, KVM_EXIT_SHUTDOWN, also without hvk)";

std::uint8_t* real_page() {
  return reinterpret_cast<std::uint8_t*>(REAL_BASE);
}

// Copies the real-mode blob to REAL_BASE and fills its IVT: vector 6 to conf_real_ud, the rest to
// conf_real_other (segment 0).
void prepare_real_mode_page() {
  const auto size = static_cast<std::size_t>(conf_real_end - conf_real_start);
  memset(real_page(), 0, 4096);
  memcpy(real_page(), conf_real_start, size);
  const auto offset_of = [](const std::uint8_t* label) {
    return static_cast<std::uint32_t>(REAL_BASE + (label - conf_real_start));
  };
  for (unsigned v = 0; v < 256; ++v) {
    const std::uint32_t far = offset_of(v == 6 ? conf_real_ud : conf_real_other);  // segment 0
    memcpy(real_page() + REAL_IVT + 4 * v, &far, 4);
  }
}

// A2/A3, run by VP 2 after its 32-bit checks: in real mode, the hypercall exit must give #UD.
void check_real_mode_call() {
  bool came = false;
  if (!skipping()) {
    came = wait_until([] {
      return *(volatile std::uint8_t*)(REAL_BASE + REAL_VECTOR) != 0 ||
             *(volatile std::uint8_t*)(REAL_BASE + REAL_STATE) == 2;
    });
  }
  const volatile std::uint8_t* page = real_page();
  std::uint32_t cr0 = 0;
  std::uint16_t ip = 0;
  if (!skipping()) {
    memcpy(&cr0, const_cast<const std::uint8_t*>(page) + REAL_CR0, 4);
    memcpy(&ip, const_cast<const std::uint8_t*>(page) + REAL_IP, 2);
  }
  const bool reached = !skipping() && page[REAL_STATE] != 0 && (cr0 & 1) == 0;
  CHECK(reached, "VP 2 dropped to real mode (CR0.PE=0) and ran the hypercall exit `out 0xf5`");
  const bool ud = came && page[REAL_STATE] == 1 && page[REAL_VECTOR] == 6;
  CHECK(ud, "A2/A3/H-4: a hypercall from real mode (control word 0, an unknown code) gets #UD");
  if (!skipping() && !(reached && ud)) {
    diag("real mode: state %u, vector 0x%x, IP 0x%x, CR0 0x%x", page[REAL_STATE], page[REAL_VECTOR],
         ip, cr0);
  }
}

void start_pm32(std::uint32_t vp, bool paging) {
  const bool real_mode = !paging;  // VP 2 goes on to real mode
  const std::uint32_t n = env().vps;
  SkipScope host(paging && cmdline_has("skip-paged32") ? kSkipPaged32Reason : nullptr);
  SkipScope s(n <= vp ? (paging ? "needs --vps 4 or more (VP 3)" : "needs --vps 3 or more (VP 2)")
                      : nullptr);
  Record32& rec = g_records32[vp];
  std::uint32_t args_at = 0;
  Ctx c{};
  if (!skipping()) {
    memset(&rec, 0, sizeof rec);
    std::uint8_t* block = vp_block(vp);
    // Its hypercall: GetVpIndexFromApicId(SELF, APIC ID = vp) on the pages of its own block.
    auto* h = reinterpret_cast<tlfs::GetVpIndexFromApicIdHeader*>(block + GUEST_VP_BLOCK_HV_INPUT);
    memset(h, 0, 24);
    h->partition_id = tlfs::kPartitionIdSelf;
    memcpy(block + GUEST_VP_BLOCK_HV_INPUT + 16, &vp, 4);
    memset(block + GUEST_VP_BLOCK_HV_OUTPUT, 0xEE, 8);
    const std::uint64_t control = ctl(tlfs::CallCode::kGetVpIndexFromApicId, 1);
    args_at = static_cast<std::uint32_t>(stack_top(vp) - 64);
    Ap32Args a{static_cast<std::uint32_t>(reinterpret_cast<std::uint64_t>(&rec)),
               kReportMagic + vp,
               static_cast<std::uint32_t>(control),
               static_cast<std::uint32_t>(control >> 32),
               static_cast<std::uint32_t>(gpa(block + GUEST_VP_BLOCK_HV_INPUT)),
               static_cast<std::uint32_t>(gpa(block + GUEST_VP_BLOCK_HV_OUTPUT)),
               real_mode ? 1u : 0u};
    if (real_mode) prepare_real_mode_page();
    memcpy(reinterpret_cast<void*>(std::uint64_t{args_at}), &a, sizeof a);
    const DescriptorTablePointer gdt = sgdt();
    c = ctx32(reinterpret_cast<std::uint64_t>(&conf_ap32_entry), args_at, GUEST_SEL_CODE32,
              GUEST_SEL_DATA, gdt.base, gdt.limit);
    if (paging) {
      for (std::uint32_t i = 0; i < 1024; ++i) g_pd32[i] = i < 256 ? (i << 22) | 0x83 : 0;
      c.cr3 = reinterpret_cast<std::uint64_t>(g_pd32);
      c.cr4 = kCr4Pse;
      c.cr0 |= kCr0Pg;
    }
  }
  const char* mode = paging ? "with paging (PSE page directory, 4 MiB pages, CR0.PG|PE, EFER 0)"
                            : "without paging (CR0 = PE|ET, EFER 0)";
  EXPECT(start_vp(tlfs::kPartitionIdSelf, vp, 0, c), Status::kSuccess,
         "S17/R14: StartVirtualProcessor of VP %u in flat 32-bit protected mode %s", vp, mode);
  bool ran = false;
  if (!skipping()) ran = wait_until([&] { return rec.flag == kReportMagic + vp; });
  const bool mode_ok =
      ran && (rec.cr0 & kCr0Pe) != 0 && ((rec.cr0 & kCr0Pg) != 0) == paging &&
      (rec.efer_lo & kEferLma) == 0 && rec.cs == GUEST_SEL_CODE32 && rec.ss == GUEST_SEL_DATA &&
      rec.esp == args_at &&
      (!paging || (rec.cr3 == reinterpret_cast<std::uint64_t>(g_pd32) && (rec.cr4 & kCr4Pse) != 0));
  CHECK(mode_ok,
        "VP %u ran its 32-bit code: CR0.PE=1 PG=%d, EFER.LMA=0, CS 0x08, SS 0x18, ESP as given", vp,
        paging ? 1 : 0);
  if (!skipping() && !mode_ok) {
    diag(
        "VP %u: flag 0x%x cr0 0x%x cr3 0x%x cr4 0x%x efer 0x%x:%x cs 0x%x ss 0x%x esp 0x%x (want "
        "0x%x)",
        vp, rec.flag, rec.cr0, rec.cr3, rec.cr4, rec.efer_hi, rec.efer_lo, rec.cs, rec.ss, rec.esp,
        args_at);
  }
  EXPECT_REPS((std::uint64_t{rec.result_hi} << 32) | rec.result_lo, Status::kSuccess, 1,
              "A18: VP %u calls GetVpIndexFromApicId from 32-bit protected mode %s (EDX:EAX, "
              "EBX:ECX, EDI:ESI)",
              vp, paging ? "with paging" : "without paging");
  CHECK(ran && rec.out == vp, "A18: ... its output is its own VP index %u", vp);
  if (!skipping() && !(ran && rec.out == vp)) diag("VP %u: output 0x%x", vp, rec.out);
  if (real_mode) check_real_mode_call();
}

// --- CPL 3
// ----------------------------------------------------------------------------------------------

struct alignas(4096) UserPageTables {
  std::uint64_t pml4[512];
  std::uint64_t pdpt[512];
  std::uint64_t pd[512];
};
UserPageTables g_user_pt;
alignas(16) std::uint64_t g_user_gdt[CONF_GDT_ENTRIES];
alignas(16) std::uint8_t g_user_idt[32 * 16];
alignas(4096) std::uint8_t g_user_stack[4096];
alignas(4096) std::uint8_t g_kernel_stack[4096];

struct Cpl3Result {
  int vector;
  std::uint64_t rip, cs, error, rflags;
};

void load_gdt(const void* base, std::uint16_t limit) {
  const DescriptorTablePointer p{limit, reinterpret_cast<std::uint64_t>(base)};
  asm volatile("lgdt %0" : : "m"(p) : "memory");
}
void load_idt(const void* base, std::uint16_t limit) {
  const DescriptorTablePointer p{limit, reinterpret_cast<std::uint64_t>(base)};
  asm volatile("lidt %0" : : "m"(p) : "memory");
}

// Runs fn at CPL 3 with `rflags` (and RBX = rbx) until its first exception; restores the runtime's
// GDT, IDT, CR3, CR4 and TSS.RSP0 afterwards.
Cpl3Result run_at_cpl3(void (*fn)(), std::uint64_t rflags, std::uint64_t rbx = 0) {
  // Page tables: the low 1 GiB identity-mapped with 2 MiB pages, user-accessible (U/S).
  for (unsigned i = 0; i < 512; ++i) {
    g_user_pt.pml4[i] = 0;
    g_user_pt.pdpt[i] = 0;
    g_user_pt.pd[i] = (std::uint64_t{i} << 21) | 0x87;  // P, RW, US, PS
  }
  g_user_pt.pml4[0] = reinterpret_cast<std::uint64_t>(g_user_pt.pdpt) | 0x7;
  g_user_pt.pdpt[0] = reinterpret_cast<std::uint64_t>(g_user_pt.pd) | 0x7;
  // GDT: the runtime's entries, then user data (0x30) and user 64-bit code (0x38), DPL 3.
  for (unsigned i = 0; i < 6; ++i) g_user_gdt[i] = guest_gdt[i];
  g_user_gdt[6] = 0x00CF'F300'0000'FFFFull;
  g_user_gdt[7] = 0x00AF'FB00'0000'FFFFull;
  // IDT: the 32 exception vectors go to conf_trap_stubs (interrupt gates, DPL 0).
  for (unsigned v = 0; v < 32; ++v) {
    const std::uint64_t h = reinterpret_cast<std::uint64_t>(conf_trap_stubs) + 16 * v;
    const std::uint32_t w[4] = {static_cast<std::uint32_t>((h & 0xFFFF) | (GUEST_SEL_CODE64 << 16)),
                                static_cast<std::uint32_t>((h & 0xFFFF0000) | 0x8E00),
                                static_cast<std::uint32_t>(h >> 32), 0};
    memcpy(g_user_idt + 16 * v, w, sizeof w);
  }

  const std::uint64_t cr3 = read_cr3();
  const std::uint64_t cr4 = read_cr4();
  std::uint64_t rsp0;
  memcpy(&rsp0, guest_tss + 4, 8);
  const std::uint64_t kstack =
      reinterpret_cast<std::uint64_t>(g_kernel_stack) + sizeof g_kernel_stack;
  memcpy(guest_tss + 4, &kstack, 8);
  load_gdt(g_user_gdt, sizeof g_user_gdt - 1);
  load_idt(g_user_idt, sizeof g_user_idt - 1);
  const std::uint64_t no_smep_smap = cr4 & ~((1ull << 20) | (1ull << 21));
  asm volatile("mov %0, %%cr4" : : "r"(no_smep_smap) : "memory");
  asm volatile("mov %0, %%cr3" : : "r"(reinterpret_cast<std::uint64_t>(g_user_pt.pml4)) : "memory");

  Cpl3Result r{};
  r.vector = conf_ring3_run(reinterpret_cast<std::uint64_t>(fn),
                            reinterpret_cast<std::uint64_t>(g_user_stack) + sizeof g_user_stack,
                            rflags, rbx);
  r.rip = conf_trap_rip;
  r.cs = conf_trap_cs;
  r.error = conf_trap_error;
  r.rflags = conf_trap_rflags;

  asm volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
  asm volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");
  asm volatile("lgdt guest_gdtr(%%rip)" ::: "memory");
  asm volatile("lidt guest_idtr(%%rip)" ::: "memory");
  memcpy(guest_tss + 4, &rsp0, 8);
  return r;
}

char g_cpl3_reason[256];
char g_iopl_reason[256];

}  // namespace

void install_ap_dispatcher() {
  set_ap_main(ap_dispatch);
}

void set_role(std::uint32_t vp, Role role) {
  if (vp < kMaxTrackedVps) {
    __atomic_store_n(&g_roles[vp], static_cast<std::uint32_t>(role), __ATOMIC_SEQ_CST);
  }
}

ApReport& report(std::uint32_t vp) {
  return g_reports[vp < kMaxTrackedVps ? vp : 0];
}

std::uint32_t must_not_run_count() {
  return __atomic_load_n(&g_must_not_run, __ATOMIC_SEQ_CST);
}

std::uint64_t stack_top(std::uint32_t vp) {
  return vp_stack_top(vp);
}

void arm_probe(std::uint32_t target) {
  memset(&g_probe, 0, sizeof g_probe);
  g_probe.target = target;
}

ProbeResult fire_probe() {
  __atomic_store_n(&g_probe.go, 1, __ATOMIC_RELEASE);
  const bool done =
      wait_until([] { return __atomic_load_n(&g_probe.done, __ATOMIC_ACQUIRE) != 0; });
  return {done, g_probe.start_target, g_probe.start_self};
}

void start_reporting_ap(std::uint32_t vp, std::uint8_t vtl, int expect_vtl, const char* what,
                        Role role) {
  ApReport& r = report(vp);
  Ctx c{};
  if (!skipping()) {
    memset(&r, 0, sizeof r);
    set_role(vp, role);
    c = ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(vp));
  }
  EXPECT(start_vp(tlfs::kPartitionIdSelf, vp, vtl, c), Status::kSuccess,
         "S17: StartVirtualProcessor of VP %u in 64-bit mode %s", vp, what);
  bool ran = false;
  if (!skipping()) ran = wait_until([&] { return r.flag == kReportMagic + vp; });
  CHECK(ran && r.vp_msr == vp && r.slot == vp && r.vtl == expect_vtl,
        "VP %u runs: VP_INDEX MSR %u, on the stack its context gave, ActiveVtl %d", vp, vp,
        expect_vtl);
  if (!skipping() && !(ran && r.vp_msr == vp && r.slot == vp && r.vtl == expect_vtl)) {
    diag("VP %u: ran %d, VP_INDEX %u, block %u, ActiveVtl %d", vp, ran ? 1 : 0, r.vp_msr, r.slot,
         r.vtl);
  }
}

void test_mode_starts() {
  const std::uint32_t n = env().vps;
  {
    SkipScope s(n < 2 ? "needs --vps 2 or more (VP 1)" : nullptr);
    ApReport& r = report(1);
    Ctx c{};
    if (!skipping()) {
      memset(&r, 0, sizeof r);
      set_role(1, Role::kReport);
      c = ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(1));
    }
    EXPECT(start_vp(tlfs::kPartitionIdSelf, 1, 0, c), Status::kSuccess,
           "S17/S19: StartVirtualProcessor of VP 1 in 64-bit mode with Linux's context (CS "
           "0x10/0xa09b, SS..GS 0x18/0xc093, LDTR 0/0x82, TR 0x20/0x8b busy TSS)");
    bool ran = false;
    if (!skipping()) ran = wait_until([&] { return r.flag == kReportMagic + 1; });
    CHECK(ran && r.vp_msr == 1 && r.slot == 1 && r.runs == 1,
          "M-5: VP 1 ran its 64-bit code once, on its own stack, VP_INDEX MSR reads 1");
    const bool regs_ok = ran && r.cr0 == c.cr0 && r.cr3 == c.cr3 && r.cr4 == c.cr4 &&
                         r.efer == c.efer && r.pat == c.msr_cr_pat && r.cs == GUEST_SEL_CODE64 &&
                         r.ss == GUEST_SEL_DATA && r.ds == GUEST_SEL_DATA &&
                         r.tr == GUEST_SEL_TSS && r.ldtr == 0 && (r.rflags & 0x2) != 0;
    CHECK(regs_ok,
          "S17: VP 1 runs with the boot VP's CR0, CR3, CR4, EFER, PAT and the context's CS, SS, "
          "DS, TR and LDTR selectors");
    CHECK(ran && r.cpuid1_apic == 1 && r.cpuidb_edx == 1,
          "C-2: VP 1's CPUID.1:EBX[31:24] and CPUID 0xB EDX are its APIC ID 1");
    if (!skipping() && !regs_ok) {
      diag(
          "VP 1: cr0 0x%lx/0x%lx cr3 0x%lx/0x%lx cr4 0x%lx/0x%lx efer 0x%lx/0x%lx pat 0x%lx/0x%lx "
          "cs 0x%x ss 0x%x ds 0x%x tr 0x%x ldtr 0x%x rflags 0x%lx",
          r.cr0, c.cr0, r.cr3, c.cr3, r.cr4, c.cr4, r.efer, c.efer, r.pat, c.msr_cr_pat, r.cs, r.ss,
          r.ds, r.tr, r.ldtr, r.rflags);
    }
  }
  start_pm32(2, false);
  start_pm32(3, true);
}

void test_init_then_start() {
  const std::uint32_t n = env().vps;
  SkipScope s(n < 2 ? "needs --vps 2 or more (VP 1 running)" : nullptr);
  bool sent = false;
  ApReport& r = report(1);
  Ctx c{};
  if (!skipping()) {
    // INIT (level assert, physical destination APIC ID 1) from the boot VP's local APIC: VP 1
    // leaves its `hlt` for wait-for-SIPI.
    apic_sw_enable();
    sent = apic_send_ipi(0x0000'4500, 1);
    delay(kWaitCycles / 40);
    memset(&r, 0, sizeof r);
    set_role(1, Role::kReport);
    c = ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(1));
  }
  CHECK(sent, "S14: INIT sent to VP 1 (APIC ID 1) through the local APIC");
  EXPECT(start_vp(tlfs::kPartitionIdSelf, 1, 0, c), Status::kSuccess,
         "S14: StartVirtualProcessor of VP 1 after INIT returned it to wait-for-SIPI");
  bool ran = false;
  if (!skipping()) ran = wait_until([&] { return r.flag == kReportMagic + 1; });
  CHECK(ran && r.vp_msr == 1 && r.runs == 1, "S14: ... VP 1 runs again from the new context");
}

void test_race() {
  const std::uint32_t n = env().vps < kMaxTrackedVps ? env().vps : kMaxTrackedVps;
  SkipScope s(n < 8 ? "needs --vps 8 or more (VPs 1-3 run the mode tests; 3 callers and a target)"
                    : nullptr);
  const std::uint32_t first = 4;
  const std::uint32_t target = n - 1;
  const std::uint32_t k = n >= 8 ? target - first : 3;
  std::uint32_t started = 0;
  if (!skipping()) {
    memset(&g_race, 0, sizeof g_race);
    g_race.target = target;
    g_race.ctx = ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(target));
    set_role(target, Role::kRaceTarget);
    for (std::uint32_t vp = first; vp < target; ++vp) {
      set_role(vp, Role::kRaceCaller);
      const std::uint64_t r =
          start_vp(tlfs::kPartitionIdSelf, vp, 0,
                   ctx64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), stack_top(vp)));
      if (hv_status(r) == 0)
        ++started;
      else
        diag("race: starting caller VP %u failed: %s", vp, hv_status_name(hv_status(r)));
    }
  }
  CHECK(started == k, "S16: race: the callers (VPs 4..N-2, at least 3) started");
  if (!skipping()) diag("race: %u callers (VPs %u-%u), target VP %u", k, first, target - 1, target);
  bool all_ready = false, all_done = false;
  if (!skipping()) {
    all_ready = wait_until([&] { return __atomic_load_n(&g_race.ready, __ATOMIC_SEQ_CST) == k; });
    __atomic_store_n(&g_race.go, 1, __ATOMIC_RELEASE);
    all_done = wait_until([&] { return __atomic_load_n(&g_race.done, __ATOMIC_SEQ_CST) == k; });
    wait_until([] { return __atomic_load_n(&g_race.target_runs, __ATOMIC_SEQ_CST) >= 1; });
    delay(kWaitCycles / 20);  // a second successful start would run the target again
    diag(
        "race: ready %u, done %u, SUCCESS %u, INVALID_VP_STATE %u, other %u (last 0x%x), "
        "timeouts %u, target runs %u",
        g_race.ready, g_race.done, g_race.success, g_race.vp_state, g_race.other,
        g_race.other_status, g_race.timeouts, g_race.target_runs);
  }
  CHECK(all_ready && all_done && g_race.success == 1,
        "S16: race: the callers start VP N-1 at once (StartVirtualProcessor): exactly one gets "
        "SUCCESS");
  CHECK(all_done && g_race.vp_state == k - 1 && g_race.other == 0,
        "S16: race: all the other callers get INVALID_VP_STATE");
  CHECK(g_race.target_runs == 1, "S16: race: VP N-1 ran exactly once");
}

void test_cpl3() {
  // First: does CPL 3 work here at all? `hlt` at CPL 3 must raise #GP with CS.RPL 3.
  const char* reason = nullptr;
  if (!skipping()) {
    const Cpl3Result base = run_at_cpl3(conf_user_hlt, 0x2);
    const auto want_rip = reinterpret_cast<std::uint64_t>(&conf_user_hlt);
    if (base.vector != 13 || (base.cs & 3) != 3 || base.rip != want_rip) {
      snprintf(g_cpl3_reason, sizeof g_cpl3_reason,
               "CPL 3 does not work on this host: `hlt` at CPL 3 gave vector %d at RIP 0x%lx, CS "
               "0x%lx (want #GP at 0x%lx, CS RPL 3)",
               base.vector, base.rip, base.cs, want_rip);
      reason = g_cpl3_reason;
    } else {
      diag("CPL 3 works: `hlt` at CPL 3 raised #GP at 0x%lx, CS 0x%lx", base.rip, base.cs);
    }
  }
  SkipScope s(reason);
  const auto page = reinterpret_cast<std::uint64_t>(guest_hypercall_page);
  Cpl3Result r{};
  if (!skipping()) r = run_at_cpl3(conf_user_hypercall, 0x2);
  const bool page_ud = r.vector == 6 && (r.cs & 3) == 3 && r.rip >= page && r.rip < page + 4096;
  CHECK(page_ud, "A1/H-1: a call into the hypercall page at CPL 3 raises #UD inside the page");
  if (!skipping())
    diag("CPL 3 call into the page: vector %d at 0x%lx, CS 0x%lx", r.vector, r.rip, r.cs);

  // T4: the VtlCall entry (HvRegisterVsmCodePageOffsets) has the same CPL check.
  tlfs::RegisterValue offsets{};
  r = {};
  if (!skipping()) {
    hv_get_vp_register(tlfs::kVpIndexSelf, tlfs::InputVtl::current(),
                       tlfs::RegisterName::kVsmCodePageOffsets, &offsets);
    r = run_at_cpl3(conf_user_call_rbx, 0x2, page + (offsets.low & 0xFFF));
  }
  CHECK(r.vector == 6 && (r.cs & 3) == 3 && r.rip >= page && r.rip < page + 4096,
        "T4: a VtlCall (the page's VtlCall entry) at CPL 3 raises #UD inside the page");
  if (!skipping()) diag("CPL 3 VtlCall: vector %d at 0x%lx, CS 0x%lx", r.vector, r.rip, r.cs);

  // A1 through hvk's dispatcher: the exit instruction itself at CPL 3, which needs IOPL 3 to run.
  // First check the host lets port I/O run at CPL 3 with IOPL 3 (`out 0x80`, then `hlt` faults).
  const char* iopl_reason = nullptr;
  if (!skipping()) {
    const Cpl3Result io = run_at_cpl3(conf_user_out80, 0x3002);
    const auto hlt_rip = reinterpret_cast<std::uint64_t>(&conf_user_out80) + 2;
    if (io.vector != 13 || io.rip != hlt_rip) {
      snprintf(g_iopl_reason, sizeof g_iopl_reason,
               "this host does not let CPL 3 run port I/O with IOPL 3: iretq to CPL 3 with RFLAGS "
               "0x3002, then `out 0x80` at 0x%lx raised vector %d at 0x%lx with RFLAGS 0x%lx (IOPL "
               "%lu) in the frame, so an `out 0xf5` at CPL 3 never reaches hvk",
               hlt_rip - 2, io.vector, io.rip, io.rflags, (io.rflags >> 12) & 3);
      iopl_reason = g_iopl_reason;
    }
  }
  SkipScope s_iopl(iopl_reason);
  r = {};
  if (!skipping()) r = run_at_cpl3(conf_user_raw_out, 0x3002);  // IOPL 3: the `out` may run
  CHECK(r.vector == 6 && (r.cs & 3) == 3,
        "A1: the hypercall exit (`out 0xf5`) run directly at CPL 3 with IOPL 3 gets #UD");
  if (!skipping()) diag("CPL 3 `out 0xf5`: vector %d at 0x%lx, CS 0x%lx", r.vector, r.rip, r.cs);
}

void test_compat32() {
  const std::uint32_t n = env().vps;
  const std::uint32_t apic = n - 1;
  const std::uint64_t in = gpa(in_page());
  const std::uint64_t out = gpa(out_page());
  auto prepare = [&](std::uint32_t a0, std::uint32_t a1) {
    auto* h = reinterpret_cast<tlfs::GetVpIndexFromApicIdHeader*>(in_page());
    memset(h, 0, 32);
    h->partition_id = tlfs::kPartitionIdSelf;
    memcpy(in_page() + 16, &a0, 4);
    memcpy(in_page() + 20, &a1, 4);
    memset(out_page(), 0xEE, 16);
  };
  std::uint64_t r = 0;
  std::uint32_t got = 0;
  if (!skipping()) {
    prepare(apic, 0);
    r = conf_call32(ctl(tlfs::CallCode::kGetVpIndexFromApicId, 1), in, out);
    memcpy(&got, out_page(), 4);
  }
  EXPECT_REPS(
      r, Status::kSuccess, 1,
      "A18/H-4: GetVpIndexFromApicId from a compatibility-mode code segment (EDX:EAX control, "
      "EBX:ECX input, EDI:ESI output, result in EDX:EAX)");
  CHECK(got == apic, "A18: ... the output is VP index %u for APIC ID %u", apic, apic);
  if (!skipping() && got != apic) diag("output 0x%x", got);
  if (!skipping()) prepare(0, 0xFFFF);
  EXPECT_REPS(conf_call32(ctl(tlfs::CallCode::kGetVpIndexFromApicId, 2), in, out),
              Status::kInvalidParameter, 1,
              "A18/A19: reps completed (bits 43:32) come back in EDX (APIC IDs {0, 0xffff})");
  if (!skipping()) prepare(0, 0);
  EXPECT_REPS(conf_call32(ctl(tlfs::CallCode::kGetVpIndexFromApicId, 1), (1ull << 32) | in, out),
              Status::kInvalidAlignment, 0,
              "A18: the input GPA's high half is EBX (EBX=1: 4 GiB above the page, outside RAM)");
  EXPECT(conf_call32(0x7FFF, 0, 0), Status::kInvalidHypercallCode,
         "A4/A18: unknown call code 0x7fff from compatibility mode");
}

}  // namespace conf
