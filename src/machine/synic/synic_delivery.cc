#include "machine/synic/synic_delivery.h"

#include <algorithm>

#include "hv/synic/synic_host.h"
#include "machine/apic/apic_page.h"
#include "machine/msi.h"

namespace hvk::machine {

namespace {

constexpr std::uint64_t kRflagsIf = 1u << 9;
// The longest timer wait taken as is (about 3.6 years in 100 ns units): keeps the conversion to
// nanoseconds from overflowing for a deadline far in the future.
constexpr std::uint64_t kLongestWait = std::uint64_t{1} << 50;

}  // namespace

SynicDelivery::SynicDelivery(hv::Partition& partition, Hooks hooks)
    : partition_(partition),
      hooks_(std::move(hooks)),
      vp_count_(partition.vp_count()),
      timer_mu_(std::make_unique<std::mutex[]>(std::size_t{vp_count_} * (tlfs::kMaxVtl + 1))),
      backoff_(vp_count_, kRetryFirst) {
  const std::size_t keys = std::size_t{vp_count_} * (tlfs::kMaxVtl + 1);
  auto_eoi_.reserve(keys);
  for (std::size_t i = 0; i < keys; ++i) auto_eoi_.push_back(std::make_unique<VectorSet>());
  deadlines_ = std::make_unique<DeadlineThread>(
      std::size_t{vp_count_} * (tlfs::kMaxVtl + 2), [this](std::size_t key) { due(key); });
}

SynicDelivery::~SynicDelivery() {
  stop();
}

void SynicDelivery::stop() {
  // The thread first, then the pointer its callbacks read (resetting at once would null it under
  // a callback still running).
  if (deadlines_) deadlines_->stop();
  deadlines_.reset();
}

void SynicDelivery::raise(const hv::SintInterrupt& irq, bool on_target_thread) {
  const hv::Vp* vp = partition_.vp(irq.vp_index);
  if (vp == nullptr || irq.vector < 16) return;
  if (!irq.auto_eoi) {
    // 8-bit physical destination: APIC IDs above 255 need KVM's x2APIC API (not enabled).
    hooks_.msi(irq.vtl, msi_address(static_cast<std::uint8_t>(vp->apic_id()), false),
               irq.vector);
    return;
  }
  if (irq.vtl > tlfs::kMaxVtl) return;
  auto_eoi_[timer_key(irq.vp_index, irq.vtl)]->add(irq.vector);
  if (!on_target_thread) hooks_.kick(irq.vp_index);
}

void SynicDelivery::timers_changed(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t /*deadline*/) {
  if (vp >= vp_count_ || vtl > tlfs::kMaxVtl || !deadlines_) return;
  std::lock_guard lock(timer_mu_[timer_key(vp, vtl)]);
  set_timer_locked(vp, vtl, hv::next_synic_deadline(partition_, vp, vtl));
}

void SynicDelivery::set_timer_locked(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline) {
  if (deadline == hv::kNoDeadline) {
    deadlines_->clear(timer_key(vp, vtl));
    return;
  }
  arm_timer(vp, vtl, deadline);
}

void SynicDelivery::arm_timer(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline) {
  const std::uint64_t now = partition_.reference_time();
  const std::uint64_t wait = deadline > now ? std::min(deadline - now, kLongestWait) : 0;
  deadlines_->set(timer_key(vp, vtl),
                  DeadlineThread::Clock::now() + std::chrono::nanoseconds(wait * 100));
}

void SynicDelivery::retry_later(tlfs::VpIndex vp, std::chrono::microseconds wait) {
  if (deadlines_) deadlines_->set_earlier(retry_key(vp), DeadlineThread::Clock::now() + wait);
}

void SynicDelivery::due(std::size_t key) {
  const std::size_t timers = std::size_t{vp_count_} * (tlfs::kMaxVtl + 1);
  if (key >= timers) {
    hooks_.kick(static_cast<tlfs::VpIndex>(key - timers));
    return;
  }
  const auto vp = static_cast<tlfs::VpIndex>(key / (tlfs::kMaxVtl + 1));
  const auto vtl = static_cast<tlfs::Vtl>(key % (tlfs::kMaxVtl + 1));
  std::lock_guard lock(timer_mu_[key]);
  set_timer_locked(vp, vtl, hv::poll_synic(partition_, vp, vtl));
}

void SynicDelivery::before_run(tlfs::VpIndex vp, tlfs::Vtl vtl, kvm::Vcpu& vcpu) {
  VectorSet& waiting = *auto_eoi_[timer_key(vp, vtl)];
  const std::optional<std::uint8_t> v = waiting.highest();
  if (!v) return;
  const kvm_vcpu_events& ev = vcpu.synced_events();
  InterruptWindow w;
  w.interrupts_enabled = (vcpu.synced_regs().rflags & kRflagsIf) != 0;
  w.shadow = ev.interrupt.shadow != 0;
  w.event_in_flight = ev.interrupt.injected != 0 || ev.exception.injected != 0 ||
                      ev.exception.pending != 0 || ev.nmi.injected != 0;
  w.tpr = static_cast<std::uint8_t>((vcpu.synced_sregs().cr8 & 0xF) << 4);
  bool ok = can_inject(*v, w);
  if (ok) {
    // The APIC's own state: what is in service and what it would deliver first.
    const auto apic = vcpu.lapic();
    ok = static_cast<bool>(apic);
    if (ok) {
      w.highest_in_service = highest_in_apic_register(apic->regs, kApicIsr);
      w.highest_requested = highest_in_apic_register(apic->regs, kApicIrr);
      ok = can_inject(*v, w);
    }
  }
  if (!ok) {
    deferred_.fetch_add(1, std::memory_order_relaxed);
    retry_later(vp, backoff_[vp]);
    backoff_[vp] = std::min(backoff_[vp] * 2, kRetryMax);
    return;
  }
  waiting.remove(*v);
  kvm_vcpu_events& edit = vcpu.edit_synced_events();
  edit.interrupt.injected = 1;
  edit.interrupt.nr = *v;
  edit.interrupt.soft = 0;
  // A halted VP (HLT, GUEST_IDLE) is woken by the interrupt, as by one from its APIC.
  if (auto mp = vcpu.mp_state(); mp && mp->mp_state == KVM_MP_STATE_HALTED) {
    (void)vcpu.set_mp_state(KVM_MP_STATE_RUNNABLE);
  }
  injected_.fetch_add(1, std::memory_order_relaxed);
  backoff_[vp] = kRetryFirst;
  // One injected event per entry: the next waits for an exit after this one is delivered.
  if (!waiting.empty()) retry_later(vp, kRetryFirst);
}

}  // namespace hvk::machine
