#include "machine/vcpu_state.h"

#include "kvm/vcpu.h"

namespace hvk::machine {

namespace {

constexpr std::uint64_t kRflagsVm = 1ull << 17;

std::uint8_t bit(std::uint16_t attr, unsigned shift, unsigned width = 1) {
  return static_cast<std::uint8_t>((unsigned{attr} >> shift) & ((1u << width) - 1));
}

kvm_dtable to_kvm_table(const tlfs::TableRegister& t) {
  return kvm_dtable{t.base, t.limit, {}};
}

// Each segment register of HV_INITIAL_VP_CONTEXT beside its place in kvm_sregs.
struct SegmentField {
  tlfs::SegmentRegister tlfs::InitialVpContext::*context;
  kvm_segment kvm_sregs::*sregs;
};
constexpr SegmentField kSegments[] = {
    {&tlfs::InitialVpContext::cs, &kvm_sregs::cs}, {&tlfs::InitialVpContext::ds, &kvm_sregs::ds},
    {&tlfs::InitialVpContext::es, &kvm_sregs::es}, {&tlfs::InitialVpContext::fs, &kvm_sregs::fs},
    {&tlfs::InitialVpContext::gs, &kvm_sregs::gs}, {&tlfs::InitialVpContext::ss, &kvm_sregs::ss},
    {&tlfs::InitialVpContext::tr, &kvm_sregs::tr}, {&tlfs::InitialVpContext::ldtr, &kvm_sregs::ldt},
};

}  // namespace

kvm_segment to_kvm_segment(const tlfs::SegmentRegister& s) {
  kvm_segment k{};
  k.base = s.base;
  k.limit = s.limit;
  k.selector = s.selector;
  k.type = bit(s.attributes, 0, 4);
  k.s = bit(s.attributes, 4);
  k.dpl = bit(s.attributes, 5, 2);
  k.present = bit(s.attributes, 7);
  k.avl = bit(s.attributes, 12);
  k.l = bit(s.attributes, 13);
  k.db = bit(s.attributes, 14);
  k.g = bit(s.attributes, 15);
  k.unusable = k.present ? 0 : 1;
  return k;
}

tlfs::SegmentRegister from_kvm_segment(const kvm_segment& k) {
  const auto attr = static_cast<std::uint16_t>(
      (k.type & 0xF) | (k.s & 1) << 4 | (k.dpl & 3) << 5 | (k.present & 1) << 7 |
      (k.avl & 1) << 12 | (k.l & 1) << 13 | (k.db & 1) << 14 | (k.g & 1) << 15);
  return {k.base, k.limit, k.selector, attr};
}

tlfs::SegmentRegister to_tlfs_segment(const Segment& s) {
  kvm_segment k{};
  k.type = s.type;
  k.s = s.s;
  k.dpl = s.dpl;
  k.present = s.present;
  k.avl = s.avl;
  k.l = s.l;
  k.db = s.db;
  k.g = s.g;
  tlfs::SegmentRegister t = from_kvm_segment(k);
  t.base = s.base;
  t.limit = s.limit;
  t.selector = s.selector;
  return t;
}

tlfs::InitialVpContext context_from_boot_state(const BootState& b) {
  tlfs::InitialVpContext c{};
  c.rip = b.rip;
  c.rsp = b.rsp;
  c.rflags = b.rflags;
  c.cs = to_tlfs_segment(b.cs);
  c.ds = to_tlfs_segment(b.ds);
  c.es = to_tlfs_segment(b.es);
  c.fs = to_tlfs_segment(b.fs);
  c.gs = to_tlfs_segment(b.gs);
  c.ss = to_tlfs_segment(b.ss);
  c.tr = to_tlfs_segment(b.tr);
  c.ldtr = to_tlfs_segment(b.ldtr);
  c.gdtr = {{0, 0, 0}, b.gdt.limit, b.gdt.base};
  c.idtr = {{0, 0, 0}, b.idt.limit, b.idt.base};
  c.efer = b.efer;
  c.cr0 = b.cr0;
  c.cr3 = b.cr3;
  c.cr4 = b.cr4;
  c.msr_cr_pat = 0x0007'0406'0007'0406ull;  // the architectural reset value
  return c;
}

void apply_context(kvm_regs& regs, kvm_sregs& s, const tlfs::InitialVpContext& c) {
  for (const SegmentField& f : kSegments) s.*f.sregs = to_kvm_segment(c.*f.context);
  s.gdt = to_kvm_table(c.gdtr);
  s.idt = to_kvm_table(c.idtr);
  s.cr0 = c.cr0;
  s.cr3 = c.cr3;
  s.cr4 = c.cr4;
  s.efer = c.efer;
  regs.rip = c.rip;
  regs.rsp = c.rsp;
  regs.rflags = c.rflags;
}

tlfs::InitialVpContext context_from_kvm(const kvm_regs& regs, const kvm_sregs& s,
                                        std::uint64_t pat) {
  tlfs::InitialVpContext c{};
  c.rip = regs.rip;
  c.rsp = regs.rsp;
  c.rflags = regs.rflags;
  for (const SegmentField& f : kSegments) c.*f.context = from_kvm_segment(s.*f.sregs);
  c.gdtr = {{0, 0, 0}, s.gdt.limit, s.gdt.base};
  c.idtr = {{0, 0, 0}, s.idt.limit, s.idt.base};
  c.efer = s.efer;
  c.cr0 = s.cr0;
  c.cr3 = s.cr3;
  c.cr4 = s.cr4;
  c.msr_cr_pat = pat;
  return c;
}

EntryRegisters entry_registers(const BootState& b) {
  return {.rax = b.rax, .rbx = b.rbx, .rsi = b.rsi};
}

kvm::Result<void> load_context(kvm::Vcpu& vcpu, const tlfs::InitialVpContext& c,
                               const EntryRegisters& gprs,
                               std::optional<std::uint64_t>* pat_in_vcpu) {
  auto fill = [&](kvm_regs& regs, kvm_sregs& sregs) {
    regs = kvm_regs{};
    regs.rax = gprs.rax;
    regs.rbx = gprs.rbx;
    regs.rsi = gprs.rsi;
    apply_context(regs, sregs, c);
    sregs.cr2 = 0;
    sregs.cr8 = 0;
    for (auto& word : sregs.interrupt_bitmap) word = 0;
  };
  if (vcpu.syncs(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) {
    // The registers reach KVM with the next KVM_RUN: no KVM_GET_SREGS, KVM_SET_SREGS and
    // KVM_SET_REGS, three vCPU ioctls a started VP would otherwise wait for (each costs 10 us or
    // more on a nested host, docs/performance.md). KVM_RUN applies them after the MP state below.
    fill(vcpu.edit_synced_regs(), vcpu.edit_synced_sregs());
  } else {
    auto sregs = vcpu.sregs();
    if (!sregs) return sregs.error();
    kvm_regs regs{};
    fill(regs, *sregs);
    if (auto r = vcpu.set_sregs(*sregs); !r) return r;
    if (auto r = vcpu.set_regs(regs); !r) return r;
  }
  const bool pat_in_place = pat_in_vcpu != nullptr && *pat_in_vcpu == c.msr_cr_pat;
  // From here on the guest runs on the vCPU and may write its PAT: hvk no longer knows it.
  if (pat_in_vcpu != nullptr) pat_in_vcpu->reset();
  if (!pat_in_place) {
    if (auto r = vcpu.set_msr(kMsrPat, c.msr_cr_pat); !r) return r;
  }
  return vcpu.set_mp_state(KVM_MP_STATE_RUNNABLE);
}

hv::VpCallState call_state(const kvm_regs& r, const kvm_sregs& s) {
  hv::VpCallState st;
  if ((s.cr0 & kCr0Pe) == 0) {
    st.mode = hv::ExecMode::kReal;
  } else if ((r.rflags & kRflagsVm) != 0) {
    st.mode = hv::ExecMode::kVirtual8086;
  } else if ((s.efer & kEferLma) != 0 && s.cs.l != 0) {
    st.mode = hv::ExecMode::k64Bit;
  } else {
    st.mode = hv::ExecMode::kProtected;
  }
  st.cpl = s.ss.dpl;  // SS.DPL is the CPL in protected and long mode
  st.regs = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.r8};
  return st;
}

void store_call_regs(kvm_regs& r, const hv::HypercallRegs& h) {
  r.rax = h.rax;
  r.rbx = h.rbx;
  r.rcx = h.rcx;
  r.rdx = h.rdx;
  r.rsi = h.rsi;
  r.rdi = h.rdi;
  r.r8 = h.r8;
}

}  // namespace hvk::machine
