// The machine's half of VTL memory protections (conformance rows K; the engine's rules in
// hv/vtl_protection.h): each lower VTL's KVM VM maps RAM as its protections allow
// (vtl/protected_ram.h), and the accesses that then reach hvk are completed when allowed or
// stopped and reported as GPA intercepts to the VTL above.
#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "hv/vtl_control.h"
#include "hv/vtl_protection.h"
#include "hv/vtl_switch.h"
#include "machine/machine.h"
#include "machine/vcpu_state.h"
#include "machine/vtl/instruction.h"

namespace hvk::machine {

namespace {
constexpr std::uint64_t kPageShift = 12;
constexpr std::uint64_t kRflagsRf = 1ull << 16;
constexpr std::uint64_t kCr0Am = 1ull << 18;

// How the VTL's KVM VM maps a page it may use as `a`: with every right, read-write; read and
// execute, read-only (a write fails before it happens); read and write without execute, out of the
// map (its data accesses are completed by hvk, its fetches fail); read-only or nothing,
// inaccessible (every access fails before it happens; an allowed read is completed through a
// short-lived hole, open_hole).
ProtectedRam::Kind kind_of(const hv::PageAccess& a) {
  if (a.full()) return ProtectedRam::Kind::kReadWrite;
  if (a.read && a.execute && !a.write) return ProtectedRam::Kind::kReadOnly;
  if (a.read && a.write) return ProtectedRam::Kind::kUnmapped;
  return ProtectedRam::Kind::kNoAccess;
}

AddressRegisters address_registers(const kvm_regs& r, const kvm_sregs& s) {
  AddressRegisters a;
  a.rip = r.rip;
  a.gpr = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
           r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  a.fs_base = s.fs.base;
  a.gs_base = s.gs.base;
  return a;
}

CodeMode code_mode(const kvm_sregs& s) {
  if ((s.efer & kEferLma) != 0 && s.cs.l != 0) return CodeMode::k64;
  return s.cs.db != 0 ? CodeMode::k32 : CodeMode::k16;
}
}  // namespace

bool Machine::vtl_protections_changed(tlfs::Vtl vtl, std::span<const std::uint64_t>) noexcept {
  if (vtl >= tlfs::kMaxVtl) return true;
  kvm::Vm* vm = vm_ptrs_[vtl].load(std::memory_order_acquire);
  if (vm == nullptr) return true;  // the VTL has no VM yet: it maps RAM as it is created
  ProtectedRam* ram = nullptr;
  {
    std::lock_guard lock(protected_mu_);
    if (!protected_ram_[vtl]) {
      // Leave a few slots for whatever else may one day be mapped.
      const int slots = vm->extension(KVM_CAP_NR_MEMSLOTS);
      const auto max_slots = static_cast<std::uint32_t>(slots > 8 ? slots - 4 : 1);
      protected_ram_[vtl] = std::make_unique<ProtectedRam>(
          *vm, vtl_ram_[vtl].bytes(), vtl_ram_[vtl].size(), max_slots, ram_split_.low);
    }
    ram = protected_ram_[vtl].get();
  }
  // The engine's masks are read and mapped under one lock: two VPs changing protections at once
  // must not map an older picture after a newer one.
  std::lock_guard apply_lock(protected_apply_mu_[vtl]);
  const std::uint32_t fallback = hv::default_protection_mask(partition_, vtl);
  const ProtectedRam::Kind base = kind_of(partition_.page_access(fallback));
  std::vector<std::pair<std::uint64_t, ProtectedRam::Kind>> pages;
  partition_.protections().for_each(vtl, fallback, [&](std::uint64_t page, std::uint32_t mask) {
    const ProtectedRam::Kind k = kind_of(partition_.page_access(mask));
    if (k != base) pages.emplace_back(page, k);
  });
  auto r = ram->apply(base, pages);
  if (!r) {
    end(kExitVcpuFailure, fmt::format("partition {}: mapping VTL {}'s protected RAM failed: {}",
                                      partition_.id(), vtl, r.error().message()));
    return false;
  }
  return *r;
}

bool Machine::on_ram_mmio(Slot& slot, const kvm::exits::Mmio& mmio) {
  const hv::PageAccess a = hv::lower_vtl_access(partition_, slot.active, mmio.addr >> kPageShift);
  if (mmio.is_write ? a.write : a.read) {
    if (!copy_ram_mmio(mmio)) return false;
    if (slot.hole && *slot.hole == mmio.addr >> kPageShift) close_hole(slot, true);
    return true;
  }
  deny_access(slot, mmio.is_write ? tlfs::InterceptAccess::kWrite : tlfs::InterceptAccess::kRead,
              mmio.addr, &mmio);
  return true;
}

bool Machine::copy_ram_mmio(const kvm::exits::Mmio& mmio) {
  // KVM splits accesses at page boundaries: this one lies in one page.
  const std::span<std::byte> host = memory_.host_span(mmio.addr, mmio.data.size());
  if (host.empty()) return false;
  if (mmio.is_write) {
    std::memcpy(host.data(), mmio.data.data(), host.size());
  } else {
    std::memcpy(mmio.data.data(), host.data(), host.size());
  }
  return true;
}

bool Machine::complete_mmio(Slot& slot, bool serve) {
  // KVM finishes an MMIO access only inside KVM_RUN: run with immediate_exit until it returns
  // without running the guest. An instruction with more fragments (an access across a page, a
  // string instruction) exits for each. With `serve` (the instruction is allowed to go on) each
  // fragment its VTL may make is done on hvk's view of RAM, reads and writes alike; otherwise (an
  // access denied, whose registers are put back after) reads get zeros and writes are dropped.
  kvm::Vcpu& v = slot.vcpu();
  constexpr int kMaxFragments = 64;
  v.set_immediate_exit(true);
  for (int i = 0; i < kMaxFragments; ++i) {
    auto r = v.run();
    if (!r) {
      v.set_immediate_exit(false);
      fail(slot, kExitVcpuFailure, "completing an MMIO access failed: " + r.error().message());
      return false;
    }
    auto* more = std::get_if<kvm::exits::Mmio>(&*r);
    if (more == nullptr) {
      v.set_immediate_exit(false);
      return true;
    }
    const hv::PageAccess a =
        hv::lower_vtl_access(partition_, slot.active, more->addr >> kPageShift);
    const bool allowed = serve && (more->is_write ? a.write : a.read);
    if (!(allowed && copy_ram_mmio(*more)) && !more->is_write) {
      std::fill(more->data.begin(), more->data.end(), std::uint8_t{0});
    }
  }
  v.set_immediate_exit(false);
  fail(slot, kExitVcpuFailure, "an MMIO access did not complete");
  return false;
}

bool Machine::retry_fault(Slot& slot, std::uint64_t rip) {
  // Timed per instruction: a VP that moved on starts again. Another VP's protection change takes
  // microseconds; seconds of the same fault are a fault nothing will fix.
  const auto now = std::chrono::steady_clock::now();
  if (slot.fault_rip != rip || slot.unattributed_faults == 0) {
    slot.fault_rip = rip;
    slot.fault_since = now;
  }
  ++slot.unattributed_faults;
  constexpr auto kRetryFor = std::chrono::seconds(5);
  return now - slot.fault_since < kRetryFor;
}

ProtectedRam* Machine::protected_ram(tlfs::Vtl vtl) {
  if (vtl >= tlfs::kMaxVtl) return nullptr;
  std::lock_guard lock(protected_mu_);
  return protected_ram_[vtl].get();
}

void Machine::close_hole(Slot& slot, bool complete_first) {
  if (!slot.hole) return;
  // The read the hole was opened for is complete only once KVM runs the vCPU again.
  if (complete_first && !complete_mmio(slot, true)) return;
  if (slot.hole_stepping) {
    slot.hole_stepping = false;
    (void)apply_guest_debug(slot, slot.hole_vtl);
  }
  if (ProtectedRam* ram = protected_ram(slot.hole_vtl)) {
    if (auto r = ram->close_hole(*slot.hole); !r) {
      end(kExitVcpuFailure, "mapping a protected page again failed: " + r.error().message());
    }
  }
  slot.hole.reset();
}

namespace {
// The bytes of the instruction at `rip` as far as they are RAM (hvk's view: protections do not
// apply to it).
std::size_t instruction_bytes(const kvm::Vcpu& v, const hv::MemoryMap& memory, std::uint64_t rip,
                              std::span<std::uint8_t, 16> out) {
  std::size_t have = 0;
  while (have < out.size()) {
    const auto at = v.translate(rip + have);
    if (!at || !*at) break;
    const std::uint64_t left_in_page = (1ull << kPageShift) - (**at & ((1ull << kPageShift) - 1));
    const std::size_t n = std::min<std::size_t>(out.size() - have, left_in_page);
    const std::span<std::byte> host = memory.host_span(**at, n);
    if (host.empty()) break;
    std::memcpy(out.data() + have, host.data(), n);
    have += n;
  }
  return have;
}

// Where the plain store that ended at `after.rip` and wrote `length` bytes at `gpa` began
// (decoded backwards), if there is one.
std::optional<std::uint64_t> store_start(const kvm::Vcpu& v, const hv::MemoryMap& memory,
                                         const kvm_regs& after, const kvm_sregs& sregs,
                                         std::uint64_t gpa, std::size_t length) {
  AddressRegisters ar = address_registers(after, sregs);
  constexpr std::uint64_t kMaxLength = 15;
  // The shortest decoding that ends at RIP wins: a longer one differs only by prefixes taken
  // from the instruction before, which a store that decodes the same either way ignores.
  for (std::uint64_t len = 1; len <= kMaxLength && len <= after.rip; ++len) {
    const std::uint64_t start = after.rip - len;
    std::uint8_t bytes[16] = {};
    if (instruction_bytes(v, memory, start, bytes) < len) continue;
    ar.rip = start;
    const auto d = decode_instruction({bytes, static_cast<std::size_t>(len)}, code_mode(sregs), ar);
    if (!d || d->length != len || !d->only_stores) continue;
    for (std::size_t i = 0; i < d->access_count; ++i) {
      const MemoryAccess& a = d->accesses[i];
      if (!a.write) continue;
      for (std::uint64_t at : {a.gva, a.gva + a.size - 1}) {
        const auto g = v.translate(at);
        if (!g || !*g) continue;
        // The MMIO write is the operand's, or the part of it in one page (KVM splits a write
        // that crosses a page).
        const std::uint64_t first = **g - (at - a.gva);
        const bool whole = gpa == first && length == a.size;
        const bool part = ((a.gva ^ (a.gva + a.size - 1)) >> kPageShift) != 0 && gpa >= first &&
                          gpa - first < a.size && length < a.size;
        if (whole || part) return start;
      }
    }
  }
  return std::nullopt;
}
}  // namespace

bool Machine::on_memory_fault(Slot& slot, const kvm::exits::MemoryFault&) {
  ProtectedRam* ram = protected_ram(slot.active);
  if (ram == nullptr) return false;
  kvm::Vcpu& v = slot.vcpu();
  const kvm_regs& regs = v.synced_regs();
  const kvm_sregs& sregs = v.synced_sregs();
  const tlfs::Vtl vtl = slot.active;
  using Kind = ProtectedRam::Kind;

  // The fetch: a page of the instruction itself that may not be executed.
  std::uint8_t bytes[16] = {};
  const std::size_t have = instruction_bytes(v, memory_, regs.rip, bytes);
  const auto len = instruction_length({bytes, have}, code_mode(sregs));
  for (std::uint64_t at : {regs.rip, regs.rip + (len ? *len : 1u) - 1}) {
    const auto gpa = v.translate(at);
    if (!gpa || !*gpa) continue;
    if (ram->kind(**gpa >> kPageShift) == Kind::kNoAccess &&
        !hv::lower_vtl_access(partition_, vtl, **gpa >> kPageShift).execute) {
      deny_access(slot, tlfs::InterceptAccess::kExecute, **gpa, nullptr);
      return true;
    }
  }

  // The data accesses, in operand order; a read of a read-write operand comes first.
  const AddressRegisters ar = address_registers(regs, sregs);
  const auto insn = decode_instruction({bytes, have}, code_mode(sregs), ar);
  if (insn) {
    for (std::size_t i = 0; i < insn->access_count; ++i) {
      const MemoryAccess& a = insn->accesses[i];
      for (std::uint64_t at : {a.gva, a.gva + a.size - 1}) {
        const auto gpa = v.translate(at);
        if (!gpa || !*gpa || !memory_.contains(**gpa, 1)) continue;
        const std::uint64_t page = **gpa >> kPageShift;
        const Kind k = ram->kind(page);
        const hv::PageAccess allowed = hv::lower_vtl_access(partition_, vtl, page);
        if (k == Kind::kNoAccess && a.read) {
          if (!allowed.read) {
            deny_access(slot, tlfs::InterceptAccess::kRead, **gpa, nullptr);
            return true;
          }
          if (!a.write || allowed.write) {
            // An allowed read of a page KVM may not map: let KVM emulate it through a hole.
            // Single-stepped, so that the hole lasts one instruction whatever it does.
            slot.unattributed_faults = 0;
            if (auto r = ram->open_hole(page); r && *r) {
              slot.hole = page;
              slot.hole_vtl = vtl;
              slot.hole_stepping = true;
              slot.hole_stepping = apply_guest_debug(slot, vtl);
            }
            return true;
          }
        }
        if ((k == Kind::kNoAccess || k == Kind::kReadOnly) && a.write && !allowed.write) {
          deny_access(slot, tlfs::InterceptAccess::kWrite, **gpa, nullptr);
          return true;
        }
      }
    }
  }
  // Nothing the instruction does is refused now: the protections changed since the fault, so
  // run it again. A fault hvk cannot pin on the instruction (the processor's own accesses, page
  // walks and descriptor reads, to a protected page) ends the VM rather than spin.
  if (!retry_fault(slot, regs.rip)) {
    fail(slot, kExitVcpuFailure,
         fmt::format("VTL {} keeps faulting on protected memory at RIP {:#x} in an access hvk "
                     "cannot attribute to the instruction (conformance K10)",
                     vtl, regs.rip));
    return false;
  }
  return true;
}

bool Machine::on_denied_fetch(Slot& slot) {
  const std::uint64_t rip = slot.vcpu().synced_regs().rip;
  const auto gpa = slot.vcpu().translate(rip);
  if (!gpa || !*gpa || !memory_.contains(**gpa, 1)) return false;
  if (protected_ram(slot.active) == nullptr) return false;
  if (hv::lower_vtl_access(partition_, slot.active, **gpa >> kPageShift).execute) {
    // The page may be executed now: its protection changed since KVM tried (another VP's higher
    // VTL at work). Fetch again, within a bound for a fetch that keeps failing.
    return retry_fault(slot, rip);
  }
  deny_access(slot, tlfs::InterceptAccess::kExecute, **gpa, nullptr);
  return true;
}

void Machine::deny_access(Slot& slot, tlfs::InterceptAccess access, std::uint64_t gpa,
                          const kvm::exits::Mmio* mmio) {
  slot.unattributed_faults = 0;  // the fault is explained: a later one is a new one
  kvm::Vcpu& v = slot.vcpu();
  kvm_regs regs = v.synced_regs();  // as before the instruction, but see below for a write
  const kvm_sregs& sregs = v.synced_sregs();
  if (mmio != nullptr && mmio->is_write) {
    // KVM exits for an MMIO write only after it emulated the whole instruction: RIP is past it.
    // A plain store changed nothing else, so putting RIP back at its start undoes it.
    if (const auto start = store_start(v, memory_, regs, sregs, mmio->addr, mmio->data.size())) regs.rip = *start;
  }
  if (mmio != nullptr) {
    // KVM completes an MMIO access only by running the vCPU again: complete it without running
    // the guest (a read gets zeros), then put the registers back as they were before the
    // instruction, so that it is issued again when the VTL runs next.
    if (!mmio->is_write) std::fill(mmio->data.begin(), mmio->data.end(), std::uint8_t{0});
    kvm_xsave& fpu = kvm::Vcpu::xsave_buffer(slot.intercept_xsave);
    const bool have_fpu = static_cast<bool>(v.xsave(fpu));
    if (!complete_mmio(slot, false)) return;
    v.edit_synced_regs() = regs;
    if (have_fpu) (void)v.set_xsave(fpu);
    slot.fpu.forget();
  }

  hv::DeniedAccess d;
  d.vtl = slot.active;
  tlfs::MemoryInterceptMessage& m = d.message;
  m.header.access_type = access;
  std::uint16_t state = static_cast<std::uint16_t>(sregs.ss.dpl & tlfs::exec_state::kCplMask);
  if ((sregs.cr0 & kCr0Pe) != 0) state |= tlfs::exec_state::kCr0Pe;
  if ((sregs.cr0 & kCr0Am) != 0) state |= tlfs::exec_state::kCr0Am;
  if ((sregs.efer & kEferLma) != 0) state |= tlfs::exec_state::kEferLma;
  const kvm_vcpu_events& ev = v.synced_events();
  if (ev.exception.injected != 0 || ev.interrupt.injected != 0 || ev.nmi.injected != 0) {
    state |= tlfs::exec_state::kInterruptionPending;
  }
  m.header.execution_state = state;
  m.header.cs = from_kvm_segment(sregs.cs);
  m.header.rip = regs.rip;
  // The access faulted and will be restarted: RF is set, as in the RFLAGS image of a fault.
  m.header.rflags = regs.rflags | kRflagsRf;
  m.cache_type = tlfs::kCacheTypeWriteBack;
  m.gpa = gpa;
  if (access != tlfs::InterceptAccess::kExecute) {
    // The instruction's bytes, as far as they are mapped RAM, and its decoded length.
    std::uint8_t bytes[sizeof m.instruction_bytes] = {};
    const std::size_t have = instruction_bytes(v, memory_, regs.rip, bytes);
    if (const auto len = instruction_length({bytes, have}, code_mode(sregs))) {
      m.header.instruction_length = *len;
      m.instruction_byte_count = *len;
      std::memcpy(m.instruction_bytes, bytes, *len);
    }
  }
  m.ds = from_kvm_segment(sregs.ds);
  m.ss = from_kvm_segment(sregs.ss);
  m.rax = regs.rax;
  m.rcx = regs.rcx;
  m.rdx = regs.rdx;
  m.rbx = regs.rbx;
  m.rsp = regs.rsp;
  m.rbp = regs.rbp;
  m.rsi = regs.rsi;
  m.rdi = regs.rdi;
  m.r8 = regs.r8;
  m.r9 = regs.r9;
  m.r10 = regs.r10;
  m.r11 = regs.r11;
  m.r12 = regs.r12;
  m.r13 = regs.r13;
  m.r14 = regs.r14;
  m.r15 = regs.r15;
  hv::Vp& vp = *partition_.vp(slot.id());
  if (hv::raise_gpa_intercept(partition_, vp, d) != hv::InterceptDelivery::kDelivered) return;
  // The VTL above takes the intercept before this one runs again: enter it now, as for any
  // interrupt there (conformance K8, T12), rather than wait to see the vector in its APIC.
  enter_vtl_for_interrupt(slot, static_cast<tlfs::Vtl>(d.vtl + 1));
}

}  // namespace hvk::machine
