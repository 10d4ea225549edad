// What the engine asks of the machine that runs a partition (a KVM VM, or a test double).
#pragma once

#include <span>

#include "hv/vp_set.h"
#include "hvk/tlfs/types.h"
#include "hvk/tlfs/vp_context.h"

namespace hvk::hv {

enum class PartitionState : std::uint8_t { kCreated, kActive, kFinalized, kDeleted };

constexpr const char* partition_state_name(PartitionState s) {
  switch (s) {
    case PartitionState::kCreated:
      return "created";
    case PartitionState::kActive:
      return "active";
    case PartitionState::kFinalized:
      return "finalized";
    case PartitionState::kDeleted:
      return "deleted";
  }
  return "?";
}

// A VP the engine has accepted to start: run `run_vtl` from `context`. The engine has already
// marked the VP running; the machine loads the context on the VP's own thread and wakes it.
struct StartRequest {
  tlfs::VpIndex vp_index;
  tlfs::Vtl target_vtl;            // the VTL the caller named
  tlfs::Vtl run_vtl;               // the VTL that runs first: the VP's highest enabled VTL
  tlfs::InitialVpContext context;  // the context of run_vtl
};

// A synthetic interrupt the engine raises on a VP (TLFS "SynIC"): the vector of a SINT (a message
// reached its slot, an event flag went from clear to set, the host signalled the SINT) or of a
// direct-mode synthetic timer. Edge-triggered, fixed delivery, to that VP's own local APIC.
struct SintInterrupt {
  static constexpr std::uint8_t kDirectTimer = 16;  // source = kDirectTimer + timer index
  tlfs::VpIndex vp_index;
  tlfs::Vtl vtl;        // the VTL whose SynIC raised it
  std::uint8_t vector;  // 16..255
  bool auto_eoi;        // the guest will not write EOI: the machine clears the in-service bit
  std::uint8_t source;  // SINT 0..15, or kDirectTimer + timer index
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Called on the calling VP's thread, without engine locks held; must not block on the target.
  virtual void start_vp(const StartRequest& request) noexcept = 0;
  // The partition moved to `state` (finalized and deleted partitions run no VP).
  virtual void partition_state_changed(PartitionState state) noexcept = 0;
  // The engine is about to refuse a start because VP `vp_index` looks started: bring the engine's
  // view up to date first (an INIT the machine handled without telling the engine puts the VP
  // back in wait-for-SIPI: Vp::reset_to_wait_for_sipi). Called on the caller's thread; returns
  // when done or after a short bound.
  virtual void refresh_vp_state(tlfs::VpIndex vp_index) noexcept { (void)vp_index; }
  // VTL `vtl` is about to be enabled on the partition, or on VP `vp_index`: make ready what
  // running it needs (the machine: that VTL's KVM VM, the VP's vCPU in it). Called on the
  // caller's thread before the engine marks the VTL enabled; false when it cannot be done (the
  // call then fails with HV_STATUS_INSUFFICIENT_MEMORY and nothing is enabled).
  virtual bool prepare_vtl(tlfs::Vtl vtl) noexcept {
    (void)vtl;
    return true;
  }
  virtual bool prepare_vp_vtl(tlfs::VpIndex vp_index, tlfs::Vtl vtl) noexcept {
    (void)vp_index;
    (void)vtl;
    return true;
  }
  // A fixed, edge-triggered interrupt with `vector` to VP `vp_index`'s local APIC in VTL `vtl`
  // (HvCallSendSyntheticClusterIpi). Any thread, no engine locks held; must not block.
  virtual void send_ipi(tlfs::VpIndex vp_index, tlfs::Vtl vtl, std::uint8_t vector) noexcept {
    (void)vp_index;
    (void)vtl;
    (void)vector;
  }
  // Invalidates VTL `vtl`'s TLB on each VP of `targets` that has the VTL (HvCallFlushVirtualAddressSpace/List),
  // for VP `caller`. Called on the caller's thread, without engine locks held; returns when every
  // target's flush has taken effect (it will not run a guest instruction with a stale entry).
  virtual void flush_tlb(tlfs::VpIndex caller, const VpSet& targets,
                         tlfs::Vtl vtl) noexcept {
    (void)caller;
    (void)targets;
    (void)vtl;
  }
  // Some VP's TLB lock was lifted (TLFS vsm TlbLocked): VPs suspended in a flush re-issue it.
  // Any thread, no engine locks held.
  virtual void tlb_locks_released() noexcept {}
  // The protections of VTL `vtl` changed on `pages` (GPA page numbers; empty: its default mask
  // changed, so every page may have): make the VTL's accesses to them follow lower_vtl_access()
  // before returning. Called on the caller's thread without engine locks held; false when the
  // machine cannot map that many distinct ranges (the call then fails with
  // HV_STATUS_INSUFFICIENT_MEMORY and the masks are put back).
  virtual bool vtl_protections_changed(tlfs::Vtl vtl, std::span<const std::uint64_t> pages) noexcept {
    (void)vtl;
    (void)pages;
    return true;
  }
  // Raise `irq` on its VP (any thread; without engine locks held; must not block on the target).
  virtual void assert_sint(const SintInterrupt& irq) noexcept { (void)irq; }
  // The earliest synthetic-timer deadline of (vp_index, vtl) is now `deadline` (partition
  // reference time, 100 ns units; ~0 = none): call poll_synic() for that VP and VTL at or after it.
  virtual void timers_changed(tlfs::VpIndex vp_index, tlfs::Vtl vtl,
                              std::uint64_t deadline) noexcept {
    (void)vp_index;
    (void)vtl;
    (void)deadline;
  }
};

}  // namespace hvk::hv
