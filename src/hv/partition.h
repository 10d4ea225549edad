// Partitions and their virtual processors: the state every hypercall handler reads and changes.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "hv/backend.h"
#include "hv/guest_memory.h"
#include "hv/reference_clock.h"
#include "hv/synic/connections.h"
#include "hv/synic/vtl_synic.h"
#include "hv/vtl_protection.h"
#include "hvk/tlfs/privileges.h"
#include "hvk/tlfs/types.h"
#include "hvk/tlfs/vp_context.h"

namespace hvk::hv {

// A VP's power state. kStopped: never started (an AP after reset); kRunning: executing in some
// VTL; kWaitForSipi: returned there by INIT, may be started again.
enum class VpRunState : std::uint8_t { kStopped, kRunning, kWaitForSipi };

// What a real CPU of this partition accepts; used to refuse contexts at StartVirtualProcessor.
struct CpuLimits {
  std::uint8_t phys_addr_bits = 48;  // CPUID 0x80000008 EAX[7:0]
  bool la57 = false;                 // 5-level paging available (57-bit canonical addresses)
};

struct PartitionConfig {
  std::uint32_t vp_count = 1;
  tlfs::PrivilegeMask privileges{};
  tlfs::Vtl max_vtl = tlfs::kMaxVtl;    // highest VTL the partition may enable
  tlfs::Vtl boot_vtl = 0;               // VTL VP 0 boots in; VTLs 1..boot_vtl are enabled for it
  std::vector<std::uint32_t> apic_ids;  // APIC ID of each VP; empty: APIC ID = VP index
  CpuLimits cpu{};
  // The SynIC, synthetic timers, PostMessage and SignalEvent (issue 13): adds their privileges
  // (synic_privileges()). Off by default: the engine implements them, but a guest can rely on
  // them only once the machine delivers their interrupts (docs/conformance.md Y1).
  bool synic = false;
  // How VTL protection masks grant execution (vtl_protection.h page_access): false as the TLFS
  // says (KernelExecutable), true as the Amazon KVM/QEMU VSM stack does (either execute bit).
  bool vtl_execute_either_bit = false;
};

// The privileges a root partition gets by default: everything hvk implements end to end.
tlfs::PrivilegeMask default_privileges();
// SynicRegs, SyntheticTimerRegs, PostMessages, SignalEvents: what PartitionConfig::synic adds.
tlfs::PrivilegeMask synic_privileges();

class Vp {
 public:
  Vp(tlfs::VpIndex index, std::uint32_t apic_id);
  Vp(const Vp&) = delete;
  Vp& operator=(const Vp&) = delete;

  tlfs::VpIndex index() const { return index_; }
  std::uint32_t apic_id() const { return apic_id_; }

  VpRunState run_state() const { return run_state_.load(std::memory_order_acquire); }
  // kStopped/kWaitForSipi -> kRunning; false if the VP was running already.
  bool try_mark_running();
  // INIT: a running VP goes back to wait-for-SIPI with no VTL started; false if it was not
  // running.
  bool reset_to_wait_for_sipi();

  // Each VTL of a VP is started once (TLFS: StartVirtualProcessor starts a VP in a VTL; the
  // VP's other VTLs may be started later, e.g. VTL 0 by its own kernel after VTL 1 came up).
  bool vtl_started(tlfs::Vtl v) const {
    return v <= tlfs::kMaxVtl &&
           ((static_cast<unsigned>(started_vtls_.load(std::memory_order_acquire)) >> v) & 1u) != 0;
  }
  // The one atomic step that decides a start race: true for the caller that started `v`.
  bool try_start_vtl(tlfs::Vtl v);
  // A VP found running in `v` without a StartVirtualProcessor (the boot VP, an AP woken by
  // INIT-SIPI).
  void mark_running_in(tlfs::Vtl v) {
    try_start_vtl(v);
    try_mark_running();
  }

  // HV_X64_MSR_VP_ASSIST_PAGE as the guest wrote it.
  // HV_X64_MSR_VP_ASSIST_PAGE, one per VTL (TLFS vsm "Private State").
  std::uint64_t vp_assist_page(tlfs::Vtl vtl) const {
    return vp_assist_page_[vtl].load(std::memory_order_acquire);
  }
  void set_vp_assist_page(tlfs::Vtl vtl, std::uint64_t v) {
    vp_assist_page_[vtl].store(v, std::memory_order_release);
  }

  tlfs::Vtl current_vtl() const { return current_vtl_.load(std::memory_order_acquire); }
  void set_current_vtl(tlfs::Vtl v) { current_vtl_.store(v, std::memory_order_release); }

  bool vtl_enabled(tlfs::Vtl v) const {
    return v <= tlfs::kMaxVtl &&
           (static_cast<unsigned>(enabled_vtls_.load(std::memory_order_acquire)) >> v & 1u) != 0;
  }
  std::uint16_t enabled_vtl_set() const { return enabled_vtls_.load(std::memory_order_acquire); }
  tlfs::Vtl highest_enabled_vtl() const;
  // Enables `v` with the context it first runs from; false if it was enabled already.
  bool enable_vtl(tlfs::Vtl v, const tlfs::InitialVpContext& context);

  // The context a VTL of this VP enters with, recorded by EnableVpVtl or StartVirtualProcessor.
  std::optional<tlfs::InitialVpContext> vtl_context(tlfs::Vtl v) const;
  void set_vtl_context(tlfs::Vtl v, const tlfs::InitialVpContext& context);

  // HvRegisterVsmVpSecureConfigVtl<lower> of VTL `owner` (owner > lower; TLFS vsm "Configuring
  // Lower VTLs"). set_secure_config returns the value it replaced.
  std::uint64_t secure_config(tlfs::Vtl owner, tlfs::Vtl lower) const {
    return secure_config_[config_slot(owner, lower)].load(std::memory_order_acquire);
  }
  std::uint64_t set_secure_config(tlfs::Vtl owner, tlfs::Vtl lower, std::uint64_t value) {
    return secure_config_[config_slot(owner, lower)].exchange(value, std::memory_order_acq_rel);
  }
  // Whether a VTL above `vtl` has locked `vtl`'s TLB on this VP (its TlbLocked bit).
  bool tlb_locked(tlfs::Vtl vtl) const;
  // VTL `owner` returns to a lower VTL: it lets go of every TLB lock it holds on this VP. True if
  // it held one.
  bool release_tlb_locks(tlfs::Vtl owner);

  // The SynIC and synthetic timers of VTL `v` (a VTL above kMaxVtl names the highest).
  VtlSynic& synic(tlfs::Vtl v) { return *synic_[v <= tlfs::kMaxVtl ? v : tlfs::kMaxVtl]; }
  const VtlSynic& synic(tlfs::Vtl v) const {
    return *synic_[v <= tlfs::kMaxVtl ? v : tlfs::kMaxVtl];
  }

 private:
  struct VtlSlot {
    tlfs::InitialVpContext context{};
    bool has_context = false;
  };
  const tlfs::VpIndex index_;
  const std::uint32_t apic_id_;
  std::atomic<VpRunState> run_state_{VpRunState::kStopped};
  std::atomic<tlfs::Vtl> current_vtl_{0};
  std::atomic<std::uint16_t> enabled_vtls_{1};  // VTL 0 is always enabled
  std::atomic<std::uint16_t> started_vtls_{0};
  std::array<std::atomic<std::uint64_t>, tlfs::kMaxVtl + 1> vp_assist_page_{};
  mutable std::mutex mu_;  // guards vtl_
  std::array<VtlSlot, tlfs::kMaxVtl + 1> vtl_{};
  std::array<std::unique_ptr<VtlSynic>, tlfs::kMaxVtl + 1> synic_;  // per-VTL, never null
  static constexpr std::size_t config_slot(tlfs::Vtl owner, tlfs::Vtl lower) {
    return std::size_t{owner} * kVtls + lower;
  }
  static constexpr std::size_t kVtls = tlfs::kMaxVtl + 1;
  std::array<std::atomic<std::uint64_t>, kVtls * kVtls> secure_config_{};
};

class Partition {
 public:
  Partition(tlfs::PartitionId id, tlfs::PartitionId parent, const PartitionConfig& config);
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;

  tlfs::PartitionId id() const { return id_; }
  tlfs::PartitionId parent() const { return parent_; }  // kPartitionIdInvalid for a root
  tlfs::PrivilegeMask privileges() const { return privileges_; }
  const CpuLimits& cpu_limits() const { return cpu_; }
  tlfs::Vtl max_vtl() const { return max_vtl_; }

  PartitionState state() const { return state_.load(std::memory_order_acquire); }
  // Moves from `from` to `to` atomically and tells the backend; false if the state was not `from`.
  bool transition(PartitionState from, PartitionState to);

  std::uint32_t vp_count() const { return static_cast<std::uint32_t>(vps_.size()); }
  Vp* vp(tlfs::VpIndex index);
  const Vp* vp(tlfs::VpIndex index) const;
  // The VP whose APIC ID is `apic_id`, or nullptr.
  const Vp* vp_by_apic_id(std::uint32_t apic_id) const;

  bool vtl_enabled(tlfs::Vtl v) const {
    return v <= tlfs::kMaxVtl &&
           (static_cast<unsigned>(enabled_vtls_.load(std::memory_order_acquire)) >> v & 1u) != 0;
  }
  std::uint16_t enabled_vtl_set() const { return enabled_vtls_.load(std::memory_order_acquire); }
  bool enable_vtl(tlfs::Vtl v);  // false if already enabled

  // HvRegisterVsmPartitionConfig as written by VTL `v`.
  std::uint64_t vsm_config(tlfs::Vtl v) const {
    return vsm_config_[v].load(std::memory_order_acquire);
  }
  // TLFS vsm: EnableVtlProtection (bit 0) is write-once, and DefaultVtlProtectionMask (bits 4:1)
  // cannot be changed once set; so once bit 0 is set a write keeps bits 4:0 as they are and
  // changes only the rest. Returns whether this write set EnableVtlProtection.
  bool write_vsm_config(tlfs::Vtl v, std::uint64_t value);

  // The masks HvCallModifyVtlProtectionMask put on lower VTLs' pages (vtl_protection.h).
  VtlProtections& protections() { return protections_; }
  const VtlProtections& protections() const { return protections_; }
  // What a protection mask allows on this partition.
  PageAccess page_access(std::uint32_t mask) const {
    return hv::page_access(mask, execute_either_bit_);
  }

  // VTLs some VP of the partition has enabled (EnableVpVtl's restriction: once one VP has a VTL,
  // only that VTL or higher may enable it on others). mark_vp_vtl returns whether it was new.
  bool vp_vtl_marked(tlfs::Vtl v) const {
    return (static_cast<unsigned>(vp_vtls_.load(std::memory_order_acquire)) >> v & 1u) != 0;
  }
  bool mark_vp_vtl(tlfs::Vtl v) {
    const auto bit = static_cast<std::uint16_t>(1u << v);
    return !(vp_vtls_.fetch_or(bit, std::memory_order_acq_rel) & bit);
  }

  // Partition-wide synthetic MSRs (synthetic_msrs.h).
  // GUEST_OS_ID, HYPERCALL and REFERENCE_TSC exist once per VTL (TLFS vsm "Private State").
  std::uint64_t guest_os_id(tlfs::Vtl vtl) const {
    return guest_os_id_[vtl].load(std::memory_order_acquire);
  }
  void set_guest_os_id(tlfs::Vtl vtl, std::uint64_t v) {
    guest_os_id_[vtl].store(v, std::memory_order_release);
  }
  std::uint64_t hypercall_msr(tlfs::Vtl vtl) const {
    return hypercall_msr_[vtl].load(std::memory_order_acquire);
  }
  // Compare-and-swap, so that a lock set by one VP cannot be lost to another's write.
  bool replace_hypercall_msr(tlfs::Vtl vtl, std::uint64_t& expected, std::uint64_t desired) {
    return hypercall_msr_[vtl].compare_exchange_strong(expected, desired,
                                                       std::memory_order_acq_rel);
  }

  // HV_X64_MSR_CRASH_P0..P4: what the guest reports with its next CRASH_CTL notification.
  static constexpr std::size_t kCrashParams = 5;
  std::uint64_t crash_param(std::size_t i) const {
    return i < kCrashParams ? crash_params_[i].load(std::memory_order_acquire) : 0;
  }
  void set_crash_param(std::size_t i, std::uint64_t v) {
    if (i < kCrashParams) crash_params_[i].store(v, std::memory_order_release);
  }

  // HV_X64_MSR_REFERENCE_TSC as the guest wrote it.
  std::uint64_t reference_tsc_msr(tlfs::Vtl vtl) const {
    return reference_tsc_[vtl].load(std::memory_order_acquire);
  }
  void set_reference_tsc_msr(tlfs::Vtl vtl, std::uint64_t v) {
    reference_tsc_[vtl].store(v, std::memory_order_release);
  }

  // What the machine's clocks run at (the frequency MSRs; 0 until the machine sets them).
  std::uint64_t tsc_hz() const { return tsc_hz_.load(std::memory_order_acquire); }
  std::uint64_t apic_hz() const { return apic_hz_.load(std::memory_order_acquire); }
  void set_frequencies(std::uint64_t tsc_hz, std::uint64_t apic_hz) {
    tsc_hz_.store(tsc_hz, std::memory_order_release);
    apic_hz_.store(apic_hz, std::memory_order_release);
  }
  // The partition reference counter: 100 ns units since the partition was created, or what the
  // clock set here says (the machine's, read off the guest's TSC; tests' own; null goes back to
  // the steady clock).
  std::uint64_t reference_time() const;
  void set_reference_clock(const ReferenceClock* clock) {
    clock_.store(clock, std::memory_order_release);
  }
  // Whether the reference time is the TSC page's formula over the guest's TSC (a valid page).
  bool reference_time_reads_guest_tsc() const {
    const ReferenceClock* c = clock_.load(std::memory_order_acquire);
    return c != nullptr && c->reads_guest_tsc();
  }

  // The connections this partition's VPs post messages and signal events through.
  ConnectionTable& connections() { return connections_; }
  const ConnectionTable& connections() const { return connections_; }

  // HvRegisterVsmCodePageOffsets: where the machine put the VtlCall and VtlReturn entries.
  std::uint64_t vsm_code_page_offsets() const {
    return code_page_offsets_.load(std::memory_order_acquire);
  }
  void set_vsm_code_page_offsets(std::uint64_t v) {
    code_page_offsets_.store(v, std::memory_order_release);
  }

  void attach(Backend* backend, GuestMemory* memory) {
    backend_ = backend;
    memory_ = memory;
  }
  Backend* backend() const { return backend_; }
  GuestMemory* memory() const { return memory_; }

 private:
  const tlfs::PartitionId id_;
  const tlfs::PartitionId parent_;
  const tlfs::PrivilegeMask privileges_;
  const tlfs::Vtl max_vtl_;
  const CpuLimits cpu_;
  const bool execute_either_bit_;
  std::atomic<PartitionState> state_{PartitionState::kCreated};
  std::atomic<std::uint16_t> enabled_vtls_{1};
  std::array<std::atomic<std::uint64_t>, tlfs::kMaxVtl + 1> vsm_config_{};
  std::atomic<std::uint16_t> vp_vtls_{1};
  std::array<std::atomic<std::uint64_t>, tlfs::kMaxVtl + 1> guest_os_id_{};
  std::array<std::atomic<std::uint64_t>, kCrashParams> crash_params_{};
  std::array<std::atomic<std::uint64_t>, tlfs::kMaxVtl + 1> hypercall_msr_{};
  std::atomic<std::uint64_t> code_page_offsets_{0};
  std::atomic<std::uint64_t> tsc_hz_{0};
  std::array<std::atomic<std::uint64_t>, tlfs::kMaxVtl + 1> reference_tsc_{};
  std::atomic<std::uint64_t> apic_hz_{0};
  const std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  std::atomic<const ReferenceClock*> clock_{nullptr};
  ConnectionTable connections_;
  VtlProtections protections_;
  std::vector<std::unique_ptr<Vp>> vps_;
  std::vector<std::pair<std::uint32_t, tlfs::VpIndex>> by_apic_id_;  // sorted by APIC ID
  Backend* backend_ = nullptr;
  GuestMemory* memory_ = nullptr;
};

}  // namespace hvk::hv
