#include "hv/partition.h"

#include <algorithm>
#include <stdexcept>

#include "hvk/tlfs/flush.h"

namespace hvk::hv {

using tlfs::Privilege;

tlfs::PrivilegeMask default_privileges() {
  std::uint64_t m = 0;
  for (Privilege p :
       {Privilege::kVpRuntime, Privilege::kPartitionReferenceCounter, Privilege::kHypercallMsrs,
        Privilege::kVpIndex, Privilege::kIntrCtrlRegs, Privilege::kResetReg,
        Privilege::kPartitionReferenceTsc,
        Privilege::kGuestIdleReg, Privilege::kFrequencyRegs, Privilege::kAccessPartitionId,
        Privilege::kCpuManagement, Privilege::kAccessVsm, Privilege::kAccessVpRegisters,
        Privilege::kStartVirtualProcessor}) {
    m |= tlfs::privilege_bit(p);
  }
  return {m};
}

tlfs::PrivilegeMask synic_privileges() {
  std::uint64_t m = 0;
  for (Privilege p : {Privilege::kSynicRegs, Privilege::kSyntheticTimerRegs,
                      Privilege::kPostMessages, Privilege::kSignalEvents}) {
    m |= tlfs::privilege_bit(p);
  }
  return {m};
}

Vp::Vp(tlfs::VpIndex index, std::uint32_t apic_id) : index_(index), apic_id_(apic_id) {
  for (tlfs::Vtl v = 0; v <= tlfs::kMaxVtl; ++v) synic_[v] = std::make_unique<VtlSynic>(index, v);
}

bool Vp::try_mark_running() {
  VpRunState s = run_state_.load(std::memory_order_acquire);
  while (s != VpRunState::kRunning) {
    if (run_state_.compare_exchange_weak(s, VpRunState::kRunning, std::memory_order_acq_rel)) {
      return true;
    }
  }
  return false;
}

bool Vp::reset_to_wait_for_sipi() {
  VpRunState expected = VpRunState::kRunning;
  if (!run_state_.compare_exchange_strong(expected, VpRunState::kWaitForSipi,
                                          std::memory_order_acq_rel)) {
    return false;
  }
  started_vtls_.store(0, std::memory_order_release);
  return true;
}

bool Vp::try_start_vtl(tlfs::Vtl v) {
  const auto bit = static_cast<std::uint16_t>(1u << v);
  return (started_vtls_.fetch_or(bit, std::memory_order_acq_rel) & bit) == 0;
}

tlfs::Vtl Vp::highest_enabled_vtl() const {
  const std::uint16_t set = enabled_vtl_set();
  tlfs::Vtl v = tlfs::kMaxVtl;
  while (v > 0 && !((set >> v) & 1u)) --v;
  return v;
}

bool Vp::tlb_locked(tlfs::Vtl vtl) const {
  for (auto owner = static_cast<tlfs::Vtl>(vtl + 1); owner <= tlfs::kMaxVtl; ++owner) {
    if ((secure_config(owner, vtl) & tlfs::secure_vtl_config::kTlbLocked) != 0) return true;
  }
  return false;
}

bool Vp::release_tlb_locks(tlfs::Vtl owner) {
  bool released = false;
  for (tlfs::Vtl lower = 0; lower < owner && owner <= tlfs::kMaxVtl; ++lower) {
    const std::uint64_t before = secure_config_[config_slot(owner, lower)].fetch_and(
        ~tlfs::secure_vtl_config::kTlbLocked, std::memory_order_acq_rel);
    released = released || (before & tlfs::secure_vtl_config::kTlbLocked) != 0;
  }
  return released;
}

bool Vp::enable_vtl(tlfs::Vtl v, const tlfs::InitialVpContext& context) {
  std::lock_guard lock(mu_);
  const auto bit = static_cast<std::uint16_t>(1u << v);
  if (enabled_vtls_.load(std::memory_order_relaxed) & bit) return false;
  vtl_[v] = VtlSlot{context, true};
  enabled_vtls_.fetch_or(bit, std::memory_order_release);
  return true;
}

std::optional<tlfs::InitialVpContext> Vp::vtl_context(tlfs::Vtl v) const {
  std::lock_guard lock(mu_);
  if (!vtl_[v].has_context) return std::nullopt;
  return vtl_[v].context;
}

void Vp::set_vtl_context(tlfs::Vtl v, const tlfs::InitialVpContext& context) {
  std::lock_guard lock(mu_);
  vtl_[v] = VtlSlot{context, true};
}

Partition::Partition(tlfs::PartitionId id, tlfs::PartitionId parent, const PartitionConfig& config)
    : id_(id),
      parent_(parent),
      privileges_{config.privileges.raw | (config.synic ? synic_privileges().raw : 0)},
      max_vtl_(std::min(config.max_vtl, tlfs::kMaxVtl)),
      cpu_(config.cpu),
      execute_either_bit_(config.vtl_execute_either_bit) {
  if (config.vp_count == 0) throw std::invalid_argument("a partition needs at least one VP");
  if (!config.apic_ids.empty() && config.apic_ids.size() != config.vp_count) {
    throw std::invalid_argument("one APIC ID per VP is needed");
  }
  if (config.boot_vtl > max_vtl_)
    throw std::invalid_argument("boot VTL above the partition's maximum");
  vps_.reserve(config.vp_count);
  by_apic_id_.reserve(config.vp_count);
  for (std::uint32_t i = 0; i < config.vp_count; ++i) {
    const std::uint32_t apic = config.apic_ids.empty() ? i : config.apic_ids[i];
    vps_.push_back(std::make_unique<Vp>(i, apic));
    by_apic_id_.emplace_back(apic, i);
  }
  std::sort(by_apic_id_.begin(), by_apic_id_.end());
  if (std::adjacent_find(by_apic_id_.begin(), by_apic_id_.end(), [](const auto& a, const auto& b) {
        return a.first == b.first;
      }) != by_apic_id_.end()) {
    throw std::invalid_argument("two VPs share an APIC ID");
  }
  // A paravisor layout boots VP 0 in a VTL above 0: every VTL up to it is enabled on the
  // partition, and the boot VTL on VP 0 (its context is the loader's, not recorded here).
  for (tlfs::Vtl v = 1; v <= config.boot_vtl; ++v) {
    enabled_vtls_.fetch_or(static_cast<std::uint16_t>(1u << v));
  }
  if (config.boot_vtl > 0) {
    vps_[0]->enable_vtl(config.boot_vtl, tlfs::InitialVpContext{});
    mark_vp_vtl(config.boot_vtl);
  }
  vps_[0]->set_current_vtl(config.boot_vtl);
}

std::uint64_t Partition::reference_time() const {
  if (const ReferenceClock* c = clock_.load(std::memory_order_acquire); c != nullptr) {
    return c->now();
  }
  const auto since = std::chrono::steady_clock::now() - created_;
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since).count() / 100);
}

bool Partition::transition(PartitionState from, PartitionState to) {
  if (!state_.compare_exchange_strong(from, to, std::memory_order_acq_rel)) return false;
  if (backend_ != nullptr) backend_->partition_state_changed(to);
  return true;
}

Vp* Partition::vp(tlfs::VpIndex index) {
  return index < vps_.size() ? vps_[index].get() : nullptr;
}

const Vp* Partition::vp(tlfs::VpIndex index) const {
  return index < vps_.size() ? vps_[index].get() : nullptr;
}

const Vp* Partition::vp_by_apic_id(std::uint32_t apic_id) const {
  auto it = std::lower_bound(by_apic_id_.begin(), by_apic_id_.end(),
                             std::pair<std::uint32_t, tlfs::VpIndex>{apic_id, 0});
  if (it == by_apic_id_.end() || it->first != apic_id) return nullptr;
  return vps_[it->second].get();
}

bool Partition::write_vsm_config(tlfs::Vtl v, std::uint64_t value) {
  constexpr std::uint64_t kEnableVtlProtection = 1;
  constexpr std::uint64_t kFixedOnceProtected = 0x1F;  // EnableVtlProtection, the default mask
  std::uint64_t old = vsm_config_[v].load(std::memory_order_acquire);
  std::uint64_t next;
  do {
    next = (old & kEnableVtlProtection) != 0
               ? (old & kFixedOnceProtected) | (value & ~kFixedOnceProtected)
               : value;
  } while (!vsm_config_[v].compare_exchange_weak(old, next, std::memory_order_acq_rel));
  return (old & kEnableVtlProtection) == 0 && (next & kEnableVtlProtection) != 0;
}

bool Partition::enable_vtl(tlfs::Vtl v) {
  const auto bit = static_cast<std::uint16_t>(1u << v);
  return !(enabled_vtls_.fetch_or(bit, std::memory_order_acq_rel) & bit);
}

}  // namespace hvk::hv
