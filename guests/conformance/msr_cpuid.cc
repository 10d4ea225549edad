// Synthetic MSRs (M-1 to M-6) and the Hyper-V CPUID leaves (C-1, C-2).
#include "suites.h"

namespace conf {

namespace {

constexpr std::uint32_t kMsrReset = 0x40000003;
constexpr std::uint32_t kMsrLastSynthetic = 0x400000FF;
constexpr std::uint64_t kHypercallEnable = 1;
constexpr std::uint64_t kHypercallLocked = 2;

// A page the HYPERCALL MSR is pointed at after it was locked: hvk must not write code into it.
alignas(4096) std::uint8_t g_other_page[4096];

std::uint64_t page_gpa() {
  return reinterpret_cast<std::uint64_t>(guest_hypercall_page);
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

void test_msrs_before_hv_init() {
  std::uint64_t v = ~0ull;
  int fault = -2;
  if (!skipping()) fault = rdmsr_safe(kMsrGuestOsId, &v);
  CHECK(fault < 0 && v == 0, "M-1: GUEST_OS_ID (0x40000000) reads 0 before the guest writes it");

  // M-2: HYPERCALL enable while GUEST_OS_ID is 0: no #GP, the enable bit is dropped.
  if (!skipping()) fault = wrmsr_safe(kMsrHypercall, page_gpa() | kHypercallEnable);
  CHECK(fault < 0, "M-2: writing HYPERCALL (enable) while GUEST_OS_ID is 0 does not fault (%s)",
        fault_name(fault));
  v = ~0ull;
  if (!skipping()) fault = rdmsr_safe(kMsrHypercall, &v);
  CHECK(fault < 0 && (v & kHypercallEnable) == 0,
        "M-2: ... and HYPERCALL reads back with bit 0 (enable) clear (0x%lx)", v);

  if (!skipping()) fault = wrmsr_safe(kMsrVpIndex, 5);
  CHECK(fault == 13, "M-5: writing VP_INDEX (0x40000002) raises #GP (got %s)", fault_name(fault));
  if (!skipping()) fault = rdmsr_safe(kMsrVpIndex, &v);
  CHECK(fault < 0 && v == 0, "M-5: VP_INDEX reads 0 on the boot VP (0x%lx)", v);
  if (!skipping()) fault = rdmsr_safe(kMsrReset, &v);
  CHECK(fault == 13, "M-6: reading synthetic MSR 0x40000003 raises #GP (got %s)",
        fault_name(fault));
  if (!skipping()) fault = rdmsr_safe(kMsrLastSynthetic, &v);
  CHECK(fault == 13, "M-6: reading synthetic MSR 0x400000ff raises #GP (got %s)",
        fault_name(fault));
  if (!skipping()) fault = wrmsr_safe(kMsrLastSynthetic, 1);
  CHECK(fault == 13, "M-6: writing synthetic MSR 0x400000ff raises #GP (got %s)",
        fault_name(fault));
}

void test_msrs_after_hv_init() {
  std::uint64_t v = 0;
  if (!skipping()) v = rdmsr(kMsrGuestOsId);
  CHECK(v == kGuestOsId, "M-1: GUEST_OS_ID reads back what hv_init wrote (0x%lx)", v);
  if (!skipping()) v = rdmsr(kMsrHypercall);
  CHECK(v == (page_gpa() | kHypercallEnable),
        "M-3: HYPERCALL reads back page | enable once GUEST_OS_ID is set (0x%lx)", v);

  // M-8: a page GPA outside RAM is taken (no #GP); then back to the real page.
  int fault8 = -2;
  std::uint64_t v8 = 0;
  if (!skipping()) {
    fault8 = wrmsr_safe(kMsrHypercall, (1ull << 40) | kHypercallEnable);
    v8 = rdmsr(kMsrHypercall);
    wrmsr(kMsrHypercall, page_gpa() | kHypercallEnable);
  }
  CHECK(fault8 < 0 && v8 == ((1ull << 40) | kHypercallEnable),
        "M-8: HYPERCALL pointed at 1 TiB (outside RAM) takes the value without #GP");
  if (!skipping() && !(fault8 < 0 && v8 == ((1ull << 40) | kHypercallEnable))) {
    diag("fault %d, HYPERCALL 0x%lx", fault8, v8);
  }
  std::uint64_t id0 = 0;
  EXPECT(get_partition_id(&id0), Status::kSuccess,
         "M-3: the page works again once HYPERCALL points back at it");

  // M-4: lock it, then try to change it.
  int fault = -2;
  if (!skipping()) {
    fault = wrmsr_safe(kMsrHypercall, page_gpa() | kHypercallEnable | kHypercallLocked);
    v = rdmsr(kMsrHypercall);
  }
  CHECK(fault < 0 && v == (page_gpa() | kHypercallEnable | kHypercallLocked),
        "M-4: HYPERCALL written with the lock bit reads back page | locked | enable (0x%lx)", v);
  if (!skipping()) {
    fault = wrmsr_safe(kMsrHypercall, 0);
    v = rdmsr(kMsrHypercall);
  }
  CHECK(fault < 0 && v == (page_gpa() | kHypercallEnable | kHypercallLocked),
        "M-4: a later write of 0 is ignored without #GP (0x%lx)", v);
  if (!skipping()) {
    fault =
        wrmsr_safe(kMsrHypercall, reinterpret_cast<std::uint64_t>(g_other_page) | kHypercallEnable);
    v = rdmsr(kMsrHypercall);
  }
  CHECK(fault < 0 && v == (page_gpa() | kHypercallEnable | kHypercallLocked) &&
            all_zero(g_other_page, sizeof g_other_page),
        "M-4: a write moving the page is ignored and no code is written at the new GPA (0x%lx)", v);
  std::uint64_t id = 0;
  EXPECT(get_partition_id(&id), Status::kSuccess, "M-4: the locked hypercall page still works");
}

void test_cpuid_main() {
  Cpuid c{};
  if (!skipping()) c = cpuid(1);
  CHECK((c.ecx >> 31) & 1, "C-2: CPUID.1:ECX bit 31 (hypervisor present) is set");
  if (!skipping()) c = cpuid(kCpuidHvVendor);
  CHECK(c.ebx == 0x7263694D && c.ecx == 0x666F736F && c.edx == 0x76482074 && c.eax >= 0x40000005,
        "C-1: CPUID 0x40000000 says \"Microsoft Hv\", highest leaf 0x%x >= 0x40000005", c.eax);
  if (!skipping()) c = cpuid(kCpuidHvInterface);
  CHECK(c.eax == 0x31237648, "C-1: CPUID 0x40000001 EAX is \"Hv#1\" (0x%08x)", c.eax);
  if (!skipping()) c = cpuid(kCpuidHvFeatures);
  CHECK((c.eax >> 5 & 1) && (c.eax >> 6 & 1),
        "C-1: CPUID 0x40000003 EAX bits 5 (HypercallMsrs) and 6 (VpIndex) are set (0x%08x)", c.eax);
  CHECK((c.ebx >> 21) & 1,
        "C-1: CPUID 0x40000003 EBX bit 21 (StartVirtualProcessor privilege) is set (0x%08x)",
        c.ebx);
  CHECK((c.ebx >> 12) & 1, "C-1: CPUID 0x40000003 EBX bit 12 (CpuManagement) is set (0x%08x)",
        c.ebx);

  // C-2: the boot VP's APIC ID in CPUID.1:EBX[31:24] and leaf 0xB EDX; no KVM signature left.
  Cpuid one{}, b{}, kvm{};
  if (!skipping()) {
    one = cpuid(1);
    b = cpuid(0xB);
    kvm = cpuid(0x40000100);
  }
  CHECK((one.ebx >> 24) == 0 && b.edx == 0,
        "C-2: the boot VP's CPUID.1:EBX[31:24] and CPUID 0xB EDX are its APIC ID 0");
  CHECK(!(kvm.ebx == 0x4B4D564B && kvm.ecx == 0x564B4D56 && kvm.edx == 0x4D),
        "C-2: no KVM signature (\"KVMKVMKVM\") at CPUID 0x40000100");

  // The VP count: compared with vps=N from the command line when given.
  std::uint64_t want = 0;
  const bool given = parse_u64(cmdline_value("vps"), &want);
  if (!skipping()) c = cpuid(kCpuidHvLimits);
  {
    SkipScope s(given ? nullptr : "no vps=N on the command line to compare with");
    CHECK(c.eax == want, "C-1: CPUID 0x40000005 EAX is the VP count given to hvk (vps=%lu)", want);
    if (!skipping() && c.eax != want) diag("CPUID 0x40000005 EAX = %u", c.eax);
  }
}

void check_privilege_bits(bool start_vp, bool cpu_management) {
  Cpuid c{};
  if (!skipping()) c = cpuid(kCpuidHvFeatures);
  CHECK(((c.ebx >> 21) & 1) == (start_vp ? 1u : 0u),
        "C-1: CPUID 0x40000003 EBX bit 21 (StartVirtualProcessor) is %s (EBX 0x%08x)",
        start_vp ? "set" : "clear", c.ebx);
  CHECK(((c.ebx >> 12) & 1) == (cpu_management ? 1u : 0u),
        "C-1: CPUID 0x40000003 EBX bit 12 (CpuManagement) is %s (EBX 0x%08x)",
        cpu_management ? "set" : "clear", c.ebx);
}

}  // namespace conf
