#include "kvm/vcpu.h"

#include <cstring>
#include <sys/ioctl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <string>

#include "kvm/flex_buffer.h"
#include "kvm/ioctl.h"

namespace hvk::kvm {
namespace {

using MsrBuffer = detail::FlexBuffer<kvm_msrs, kvm_msr_entry>;

std::string msr_refused(const char* op, std::uint32_t index) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s: MSR %#" PRIx32 " refused", op, index);
  return buf;
}

}  // namespace

Result<void> Vcpu::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
  static_assert(offsetof(kvm_cpuid2, entries) == sizeof(kvm_cpuid2));
  detail::FlexBuffer<kvm_cpuid2, kvm_cpuid_entry2> buf(entries.size());
  buf.header()->nent = static_cast<std::uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), buf.entries());
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_CPUID2, buf.header()).status();
}

template <class T>
void Vcpu::refresh_synced(std::uint64_t cls, T& synced, const T& value) {
  kvm_run& run = run_struct();
  if ((run.kvm_valid_regs & cls) == 0) return;
  synced = value;
  run.kvm_dirty_regs &= ~cls;
}

Result<kvm_regs> Vcpu::regs() const {
  kvm_regs regs{};
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_REGS, &regs); !r) return r.error();
  return regs;
}

Result<void> Vcpu::set_regs(const kvm_regs& regs) {
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_SET_REGS, &regs); !r) return r.error();
  refresh_synced(KVM_SYNC_X86_REGS, run_struct().s.regs.regs, regs);
  return {};
}

Result<std::uint32_t> Vcpu::tsc_khz() const {
  auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_TSC_KHZ, 0UL);
  if (!r) return r.error();
  return static_cast<std::uint32_t>(*r);
}

Result<std::optional<std::uint64_t>> Vcpu::translate(std::uint64_t va) const {
  kvm_translation t{};
  t.linear_address = va;
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_TRANSLATE, &t); !r) return r.error();
  if (t.valid == 0) return std::optional<std::uint64_t>{};
  return std::optional<std::uint64_t>{t.physical_address};
}

Result<kvm_sregs> Vcpu::sregs() const {
  kvm_sregs sregs{};
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_SREGS, &sregs); !r) return r.error();
  return sregs;
}

Result<void> Vcpu::set_sregs(const kvm_sregs& sregs) {
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_SET_SREGS, &sregs); !r) return r.error();
  refresh_synced(KVM_SYNC_X86_SREGS, run_struct().s.regs.sregs, sregs);
  return {};
}

Result<void> Vcpu::flush_guest_tlb() {
  // KVM_SET_SREGS requests a guest TLB flush (KVM_REQ_TLB_FLUSH_GUEST, done before the next guest
  // instruction) when CR0, CR3, CR4 or EFER changes. Toggling CR4.PGE and putting it back changes
  // nothing else; PGE is valid in every mode. A pending edit of the synced sregs is the state to
  // keep: it stays marked and KVM_RUN applies it as before.
  constexpr std::uint64_t kCr4Pge = 1u << 7;
  kvm_run& run = run_struct();
  kvm_sregs now{};
  if ((run.kvm_dirty_regs & KVM_SYNC_X86_SREGS) != 0) {
    now = run.s.regs.sregs;
  } else if (auto r = sregs(); r) {
    now = *r;
  } else {
    return r.error();
  }
  // No interrupt is queued again: an all-zero bitmap leaves KVM's pending one as it is.
  std::fill(std::begin(now.interrupt_bitmap), std::end(now.interrupt_bitmap), 0);
  kvm_sregs toggled = now;
  toggled.cr4 ^= kCr4Pge;
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_SET_SREGS, &toggled); !r) return r.error();
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_SET_SREGS, &now); !r) return r.error();
  return {};
}

Result<kvm_vcpu_events> Vcpu::events() const {
  kvm_vcpu_events events{};
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_VCPU_EVENTS, &events); !r) return r.error();
  return events;
}

Result<void> Vcpu::set_events(const kvm_vcpu_events& events) {
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_SET_VCPU_EVENTS, &events); !r) return r.error();
  refresh_synced(KVM_SYNC_X86_EVENTS, run_struct().s.regs.events, events);
  return {};
}

Result<kvm_fpu> Vcpu::fpu() const {
  kvm_fpu fpu{};
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_FPU, &fpu); !r) return r.error();
  return fpu;
}

Result<void> Vcpu::set_fpu(const kvm_fpu& fpu) {
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_FPU, &fpu).status();
}

Result<void> Vcpu::xsave(kvm_xsave& out) const {
  return HVK_KVM_IOCTL(fd_.get(), KVM_GET_XSAVE, &out).status();
}

Result<void> Vcpu::set_xsave(const kvm_xsave& in) {
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_XSAVE, &in).status();
}

Result<std::int64_t> Vcpu::tsc_offset() const {
  std::int64_t offset = 0;
  kvm_device_attr attr{};
  attr.group = KVM_VCPU_TSC_CTRL;
  attr.attr = KVM_VCPU_TSC_OFFSET;
  attr.addr = reinterpret_cast<std::uint64_t>(&offset);
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_DEVICE_ATTR, &attr); !r) return r.error();
  return offset;
}

Result<void> Vcpu::set_tsc_offset(std::int64_t offset) {
  kvm_device_attr attr{};
  attr.group = KVM_VCPU_TSC_CTRL;
  attr.attr = KVM_VCPU_TSC_OFFSET;
  attr.addr = reinterpret_cast<std::uint64_t>(&offset);
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_DEVICE_ATTR, &attr).status();
}

Result<kvm_mp_state> Vcpu::mp_state() const {
  kvm_mp_state state{};
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_MP_STATE, &state); !r) return r.error();
  return state;
}

Result<kvm_lapic_state> Vcpu::lapic() const {
  kvm_lapic_state state{};
  if (auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_LAPIC, &state); !r) return r.error();
  return state;
}

Result<void> Vcpu::set_lapic(const kvm_lapic_state& state) {
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_LAPIC, &state).status();
}

Result<void> Vcpu::set_mp_state(std::uint32_t state) {
  kvm_mp_state mp{state};
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_MP_STATE, &mp).status();
}

Result<void> Vcpu::set_single_step(bool on) {
  kvm_guest_debug d{};
  if (on) d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
  return set_guest_debug(d);
}

Result<void> Vcpu::set_guest_debug(const kvm_guest_debug& debug) {
  kvm_guest_debug d = debug;
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_GUEST_DEBUG, &d).status();
}

Result<void> Vcpu::get_msrs(std::span<MsrValue> msrs) const {
  static_assert(offsetof(kvm_msrs, entries) == sizeof(kvm_msrs));
  MsrBuffer buf(msrs.size());
  buf.header()->nmsrs = static_cast<std::uint32_t>(msrs.size());
  for (std::size_t i = 0; i < msrs.size(); ++i) buf.entries()[i].index = msrs[i].index;
  auto n = HVK_KVM_IOCTL(fd_.get(), KVM_GET_MSRS, buf.header());
  if (!n) return n.error();
  // KVM stops at the first MSR it refuses and returns how many it read.
  auto done = static_cast<std::size_t>(*n);
  if (done < msrs.size()) return Error{msr_refused("KVM_GET_MSRS", msrs[done].index)};
  for (std::size_t i = 0; i < msrs.size(); ++i) msrs[i].value = buf.entries()[i].data;
  return {};
}

Result<void> Vcpu::set_msrs(std::span<const MsrValue> msrs) {
  MsrBuffer buf(msrs.size());
  buf.header()->nmsrs = static_cast<std::uint32_t>(msrs.size());
  for (std::size_t i = 0; i < msrs.size(); ++i) {
    buf.entries()[i].index = msrs[i].index;
    buf.entries()[i].data = msrs[i].value;
  }
  auto n = HVK_KVM_IOCTL(fd_.get(), KVM_SET_MSRS, buf.header());
  if (!n) return n.error();
  auto done = static_cast<std::size_t>(*n);
  if (done < msrs.size()) return Error{msr_refused("KVM_SET_MSRS", msrs[done].index)};
  return {};
}

Result<std::uint64_t> Vcpu::msr(std::uint32_t index) const {
  MsrValue v{index, 0};
  if (auto r = get_msrs({&v, 1}); !r) return r.error();
  return v.value;
}

Result<void> Vcpu::set_msr(std::uint32_t index, std::uint64_t value) {
  const MsrValue v{index, value};
  return set_msrs({&v, 1});
}

Result<void> Vcpu::inject_exception(std::uint8_t vector, bool has_error_code,
                                    std::uint32_t error_code) {
  // Without KVM_CAP_EXCEPTION_PAYLOAD, KVM delivers an "injected" exception on the next entry.
  auto queue = [&](kvm_vcpu_events& events) {
    events.exception.injected = 1;
    events.exception.nr = vector;
    events.exception.has_error_code = has_error_code ? 1 : 0;
    events.exception.error_code = error_code;
  };
  if ((run_struct().kvm_valid_regs & KVM_SYNC_X86_EVENTS) != 0) {
    queue(edit_synced_events());  // no ioctl, and keeps any pending edit of the events
    return {};
  }
  auto events = this->events();
  if (!events) return events.error();
  queue(*events);
  return set_events(*events);
}

Result<void> Vcpu::enable_sync_regs(std::uint64_t mask) {
  if ((mask & ~kSyncAll) != 0) return Error{"enable_sync_regs: unknown register class", EINVAL};
  kvm_run& run = run_struct();
  run.kvm_valid_regs = 0;
  run.kvm_dirty_regs = 0;
  if ((mask & KVM_SYNC_X86_REGS) != 0) {
    auto r = regs();
    if (!r) return r.error();
    run.s.regs.regs = *r;
  }
  if ((mask & KVM_SYNC_X86_SREGS) != 0) {
    auto r = sregs();
    if (!r) return r.error();
    run.s.regs.sregs = *r;
  }
  if ((mask & KVM_SYNC_X86_EVENTS) != 0) {
    auto r = events();
    if (!r) return r.error();
    run.s.regs.events = *r;
  }
  run.kvm_valid_regs = mask;
  return {};
}

kvm_regs& Vcpu::edit_synced_regs() {
  run_struct().kvm_dirty_regs |= KVM_SYNC_X86_REGS;
  return run_struct().s.regs.regs;
}

kvm_sregs& Vcpu::edit_synced_sregs() {
  run_struct().kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
  return run_struct().s.regs.sregs;
}

kvm_vcpu_events& Vcpu::edit_synced_events() {
  run_struct().kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
  return run_struct().s.regs.events;
}

void Vcpu::set_immediate_exit(bool on) {
  std::atomic_ref<std::uint8_t>(run_struct().immediate_exit)
      .store(on ? 1 : 0, std::memory_order_release);
}

bool Vcpu::immediate_exit() const {
  return std::atomic_ref<std::uint8_t>(run_struct().immediate_exit)
             .load(std::memory_order_acquire) != 0;
}

Result<Exit> Vcpu::run() {
  // Not detail::ioctl: EINTR here is an answer (a kick), not something to retry.
  if (::ioctl(fd_.get(), KVM_RUN, 0UL) < 0) {
    if (errno == EINTR) return Exit{exits::Intr{}};
    // An AP waiting for SIPI returns EAGAIN when INIT wakes it: nothing ran, run it again.
    if (errno == EAGAIN) return Exit{exits::Again{}};
    if (errno == EFAULT) {
      const kvm_run& r = run_struct();
      constexpr std::uint32_t kExitMemoryFault = 39;  // KVM_EXIT_MEMORY_FAULT (Linux 6.8)
      if (r.exit_reason == kExitMemoryFault) {
        // struct { __u64 flags, gpa, size; } memory_fault, in the exit union (which Debian 12's
        // headers do not declare yet).
        std::uint64_t words[3] = {};
        std::memcpy(words, &r.hw, sizeof words);
        return Exit{exits::MemoryFault{true, words[1], words[2]}};
      }
      return Exit{exits::MemoryFault{false, 0, 0}};
    }
    return Error::from_errno("KVM_RUN");
  }
  return decode_exit(run_struct());
}

}  // namespace hvk::kvm
