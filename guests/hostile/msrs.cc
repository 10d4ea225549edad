// Synthetic MSRs with junk: reads and writes anywhere in 0x40000000-0x400000FF, checked against
// rows M-1..M-12 and Y29 (which ones #GP, what reads back); HYPERCALL moved between pages other
// VPs are calling through at that moment, then locked by VP 0, after which no write may move it.
#include "msrs.h"

namespace hostile {

namespace {

using tlfs::Privilege;

constexpr std::uint32_t kBase = 0x40000000;
constexpr std::uint32_t kMsrGuestIdle = 0x400000F0;
// An ICR value that sends nothing anyone receives: a fixed IPI, vector 0x30, to physical APIC ID
// 0xFE, which no VP of the hostile guest has. It still goes all the way through hvk.
constexpr std::uint64_t kIcrToNobody = (std::uint64_t{0xFE} << 56) | 0x30;
std::uint64_t g_locked = 0;  // HYPERCALL as read back after VP 0 locked it; 0 before

bool has(Privilege p) {
  return env().privs.has(p);
}

// Whether a read (write) of `index` raises #GP for this partition (M-5..M-12).
bool read_gp(std::uint32_t index) {
  switch (index) {
    case kMsrGuestOsId:
    case kMsrHypercall:
      return !has(Privilege::kHypercallMsrs);
    case kMsrVpIndex:
      return !has(Privilege::kVpIndex);
    case kMsrTimeRefCount:
      return !has(Privilege::kPartitionReferenceCounter);
    case kMsrTscFrequency:
    case kMsrApicFrequency:
      return !has(Privilege::kFrequencyRegs);
    case kMsrReferenceTsc:
      return !has(Privilege::kPartitionReferenceTsc);
    case kMsrVpAssistPage:
      return false;
    case kMsrIcr:
    case kMsrTpr:
      return !has(Privilege::kIntrCtrlRegs);
    default:
      return true;  // EOI is write-only
  }
}

bool write_gp(std::uint32_t index, std::uint64_t value) {
  switch (index) {
    case kMsrGuestOsId:
    case kMsrHypercall:
      return !has(Privilege::kHypercallMsrs);
    case kMsrReferenceTsc:
      return !has(Privilege::kPartitionReferenceTsc);
    case kMsrVpAssistPage:
      return (value & 0xFFE) != 0;  // M-11: bits 11:1 reserved
    case kMsrEoi:
      return !has(Privilege::kIntrCtrlRegs) || (value >> 32) != 0;
    case kMsrTpr:
      return !has(Privilege::kIntrCtrlRegs) || (value >> 8) != 0;
    case kMsrIcr:
      return !has(Privilege::kIntrCtrlRegs);
    default:
      return true;  // read-only (VP_INDEX, the clocks) or not implemented
  }
}

std::uint64_t outside_ram(Rng& r) {
  return (env().ram_end + kPage * r.below(1 << 20)) & ~0xFFFull;
}

// A canary page: hvk must never write there (used only once HYPERCALL is locked).
std::uint64_t canary_page(Rng& r) {
  return env().zone + 2 * kPage * r.below(env().named);
}

std::uint64_t value_for(Worker& w, std::uint32_t index) {
  Rng& r = w.rng;
  const std::uint64_t junk_low = r.next() & 0xFFC;  // reserved bits 11:2
  switch (index) {
    case kMsrGuestOsId:
      return r.percent(80) ? kGuestOsId : (r.percent(50) ? 0 : r.next());
    case kMsrHypercall: {
      if (__atomic_load_n(&g_locked, __ATOMIC_ACQUIRE) != 0) {
        // Locked: any write is ignored (M-4), even one naming a canary page.
        return canary_page(r) | junk_low | r.below(4);
      }
      const std::uint64_t enable = r.percent(70) ? 1 : 0;
      if (r.percent(75)) return env().hc_pages[r.below(kZonePages + 1)] | junk_low | enable;
      if (r.percent(60)) return outside_ram(r) | junk_low | enable;  // M-8: no code written
      return (r.next() & ~0xFFFull) | junk_low;                      // disabled: nothing written
    }
    case kMsrReferenceTsc:
      return (r.percent(60) ? tsc_page() : outside_ram(r)) | (r.next() & 0xFFF);
    case kMsrEoi:  // an EOI with nothing in service changes nothing; junk above bit 31 is #GP
      return r.percent(50) ? r.below(1u << 31) : r.next() | (std::uint64_t{1} << 32);
    case kMsrTpr:  // only 0, the priority the workers run at; junk above bit 7 is #GP
      return r.percent(50) ? 0 : r.next() | 0x100;
    case kMsrIcr:  // never a random IPI (an INIT or NMI would end the worker)
      return kIcrToNobody;
    case kMsrVpAssistPage:
      if (r.percent(60)) return assist_page(w.index) | r.below(2);
      if (r.percent(50)) return outside_ram(r) | 1;
      return (r.next() & ~0xFFEull) | (2 << r.below(11));  // a reserved bit: #GP
    default:
      return r.next();
  }
}

void check_read(Worker& w, std::uint32_t index, std::uint64_t v) {
  const Env& e = env();
  switch (index) {
    case kMsrHypercall: {
      const std::uint64_t locked = __atomic_load_n(&g_locked, __ATOMIC_ACQUIRE);
      if ((v & 0xFFC) != 0) fail("M-3: HYPERCALL reads 0x%lx: reserved bits 11:2 set", v);
      if (locked != 0 && v != locked) {
        fail("M-4: HYPERCALL reads 0x%lx after VP 0 locked it at 0x%lx", v, locked);
      }
      return;
    }
    case kMsrVpIndex:
      if (v != w.index) fail("M-5: VP_INDEX reads %lu on VP %u", v, w.index);
      return;
    case kMsrTimeRefCount:
      if (v < w.last_ref) fail("M-9: TIME_REF_COUNT went back from %lu to %lu", w.last_ref, v);
      w.last_ref = v;
      return;
    case kMsrTscFrequency:
      if (v != e.tsc_hz) fail("M-10: TSC_FREQUENCY reads %lu, first %lu", v, e.tsc_hz);
      return;
    case kMsrApicFrequency:
      if (v != e.apic_hz) fail("M-10: APIC_FREQUENCY reads %lu, first %lu", v, e.apic_hz);
      return;
    case kMsrVpAssistPage:
      if (w.assist_known && v != w.assist) {
        fail("M-11: VP_ASSIST_PAGE reads 0x%lx, VP %u wrote 0x%lx", v, w.index, w.assist);
      }
      return;
    case kMsrReferenceTsc:
      if ((v & 0xFFE) != 0) fail("M-12: REFERENCE_TSC reads 0x%lx: reserved bits 11:1 set", v);
      return;
    default:
      return;
  }
}

struct PageProbe {
  std::uint64_t page, result;
};

void probe_fn(void* arg) {
  auto* p = static_cast<PageProbe*>(arg);
  p->result = hostile_page_call(0x0000, 0, 0, p->page);  // an unknown code: A4
}

}  // namespace

void msr_op(Worker& w) {
  Rng& r = w.rng;
  static constexpr std::uint32_t kKnown[] = {0x00, 0x01, 0x01, 0x01, 0x02, 0x03, 0x10, 0x20, 0x21,
                                             0x22, 0x23, 0x70, 0x71, 0x72, 0x73, 0x73, 0x80, 0xB0,
                                             0xF0, 0xFF};
  const std::uint32_t index =
      kBase +
      static_cast<std::uint32_t>(r.percent(70) ? kKnown[r.below(sizeof kKnown / 4)] : r.below(256));
  // GUEST_IDLE (0x400000F0) halts the VP until an interrupt arrives: a guest that runs with
  // interrupts off and sends no IPIs would never come back, so it is only ever written (#GP).
  if (r.percent(50) && index != kMsrGuestIdle) {
    std::uint64_t v = 0;
    ++w.st.msr_reads;
    const int vec = rdmsr_safe(index, &v);
    if (vec >= 0) ++w.st.msr_gp;
    if ((vec == 13) != read_gp(index) || (vec >= 0 && vec != 13)) {
      fail("M-5..M-12: rdmsr 0x%x: %s, expected %s", index,
           vec < 0 ? "no fault" : (vec == 13 ? "#GP" : "another exception"),
           read_gp(index) ? "#GP" : "no fault");
    }
    if (vec < 0) check_read(w, index, v);
    return;
  }
  const std::uint64_t value = value_for(w, index);
  ++w.st.msr_writes;
  if (index == kMsrHypercall) {
    ++w.st.hc_writes;
    if (__atomic_load_n(&g_locked, __ATOMIC_ACQUIRE) != 0) ++w.st.hc_locked_writes;
  }
  const int vec = wrmsr_safe(index, value);
  if (vec >= 0) ++w.st.msr_gp;
  if ((vec == 13) != write_gp(index, value) || (vec >= 0 && vec != 13)) {
    fail("M-1..M-12: wrmsr 0x%x = 0x%lx: %s, expected %s", index, value,
         vec < 0 ? "no fault" : (vec == 13 ? "#GP" : "another exception"),
         write_gp(index, value) ? "#GP" : "no fault");
  }
  if (vec < 0 && index == kMsrVpAssistPage) {
    w.assist = value;
    w.assist_known = true;
  }
  if (vec < 0 && index == kMsrHypercall) {
    std::uint64_t v = 0;
    if (rdmsr_safe(kMsrHypercall, &v) < 0) check_read(w, kMsrHypercall, v);
  }
}

bool page_works(std::uint64_t page, const char* what) {
  PageProbe p{page, 0};
  ExceptionHook info{};
  const int v = catch_exception(probe_fn, &p, &info);
  if (v >= 0) {
    fail("%s: a call through the hypercall page at 0x%lx raised exception %d at 0x%lx", what, page,
         v, info.rip);
    return false;
  }
  if (p.result != static_cast<std::uint64_t>(Status::kInvalidHypercallCode)) {
    fail(
        "%s: code 0 through the hypercall page at 0x%lx gave 0x%lx, want "
        "INVALID_HYPERCALL_CODE",
        what, page, p.result);
    return false;
  }
  return true;
}

bool hc_pages_init() {
  Env& e = env();
  wrmsr(kMsrGuestOsId, kGuestOsId);
  e.hc_pages[kZonePages] = reinterpret_cast<std::uint64_t>(guest_hypercall_page);
  for (std::uint32_t k = 0; k <= kZonePages; ++k) {
    const std::uint64_t page = k < kZonePages ? hc_zone_page(k) : e.hc_pages[kZonePages];
    e.hc_pages[k] = page;
    wrmsr(kMsrHypercall, page | 1);
    if (rdmsr(kMsrHypercall) != (page | 1)) {
      fail("M-3: HYPERCALL reads 0x%lx after writing 0x%lx", rdmsr(kMsrHypercall), page | 1);
      return false;
    }
    if (!page_works(page, "M-3 (hypercall page installed)")) return false;
  }
  return true;
}

void hc_lock(Worker& w) {
  const std::uint64_t page = env().hc_pages[w.rng.below(kZonePages + 1)];
  wrmsr(kMsrGuestOsId, kGuestOsId);
  wrmsr(kMsrHypercall, page | 3);
  const std::uint64_t v = rdmsr(kMsrHypercall);
  if ((v & ~1ull) != (page | 2)) {
    fail("M-4: HYPERCALL reads 0x%lx after VP 0 wrote 0x%lx (enable, lock)", v, page | 3);
  }
  __atomic_store_n(&g_locked, v | 2, __ATOMIC_RELEASE);
  printf("hostile: VP %u locked the hypercall page at 0x%lx (HYPERCALL 0x%lx)\n", w.index, page, v);
}

std::uint64_t hc_locked() {
  return __atomic_load_n(&g_locked, __ATOMIC_ACQUIRE);
}

void hc_final_check(Worker& w) {
  const std::uint64_t locked = hc_locked();
  const std::uint64_t v = rdmsr(kMsrHypercall);
  check_read(w, kMsrHypercall, v);
  if (locked != 0) page_works(locked & ~0xFFFull, "the locked hypercall page at the end");
}

}  // namespace hostile
