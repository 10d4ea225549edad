// VTL memory protections (TLFS vsm "Memory Access Protections"; docs/conformance.md rows K): the
// masks higher VTLs put on a lower VTL's pages, what they allow, and the GPA intercept message a
// denied access becomes. The machine enforces them (a lower VTL's KVM VM maps a protected page
// read-only or not at all) and reports every access it stopped through raise_gpa_intercept.
#pragma once

#include <array>
#include <cstdint>
#include <shared_mutex>
#include <span>
#include <unordered_map>

#include "hvk/tlfs/types.h"
#include "hvk/tlfs/vtl_protection.h"

namespace hvk::hv {

class Partition;
class Vp;

// What a lower VTL may do with one page.
struct PageAccess {
  bool read = true;
  bool write = true;
  bool execute = true;
  constexpr bool full() const { return read && write && execute; }
  friend constexpr bool operator==(const PageAccess&, const PageAccess&) = default;
};

// The one reading of an HV_MAP_GPA_FLAGS mask (conformance K2). hvk offers no MBEC, and without
// it the TLFS has KernelExecutable (bit 2) decide execution in both modes and ignores
// UserExecutable (bit 3). `either_execute_bit` (PartitionConfig::vtl_execute_either_bit) reads
// the mask as the Amazon KVM/QEMU VSM stack does instead: either bit grants execution.
constexpr PageAccess page_access(std::uint32_t mask, bool either_execute_bit) {
  const std::uint32_t exec =
      either_execute_bit ? tlfs::map_gpa::kExecutable : tlfs::map_gpa::kKernelExecutable;
  return {(mask & tlfs::map_gpa::kReadable) != 0, (mask & tlfs::map_gpa::kWritable) != 0,
          (mask & exec) != 0};
}

// The TLFS's protections: no access, read-only, read/write, each with or without execute. Write
// or execute without read is none of them, and no other bit is defined (conformance K3).
constexpr bool valid_protection_mask(std::uint32_t mask) {
  if ((mask & ~tlfs::map_gpa::kAll) != 0) return false;
  const std::uint32_t needs_read = tlfs::map_gpa::kWritable | tlfs::map_gpa::kExecutable;
  return (mask & needs_read) == 0 || (mask & tlfs::map_gpa::kReadable) != 0;
}

// Masks set by HvCallModifyVtlProtectionMask, per target VTL (0 .. kMaxVtl - 1) and page. A page
// without an entry has its VTL's default mask (default_mask()).
class VtlProtections {
 public:
  static constexpr std::size_t kTargets = tlfs::kMaxVtl;  // VTL 2 has nothing above it
  // The explicit mask of `page` in `vtl`, or `fallback`.
  std::uint32_t mask(tlfs::Vtl vtl, std::uint64_t page, std::uint32_t fallback) const;
  // Sets the mask of each page; returns the masks they had (`fallback` where none).
  void set(tlfs::Vtl vtl, std::span<const std::uint64_t> pages, std::uint32_t mask,
           std::uint32_t fallback, std::span<std::uint32_t> old);
  // Puts back what set() returned in `old`.
  void restore(tlfs::Vtl vtl, std::span<const std::uint64_t> pages,
               std::span<const std::uint32_t> old, std::uint32_t fallback);
  // Every page of `vtl` with an explicit mask other than `fallback`, in no order (the machine's
  // map of that VTL).
  template <typename F>
  void for_each(tlfs::Vtl vtl, std::uint32_t fallback, F&& f) const {
    if (vtl >= kTargets) return;
    std::shared_lock lock(mu_);
    for (const auto& [page, m] : pages_[vtl]) {
      if (m != fallback) f(page, m);
    }
  }

 private:
  mutable std::shared_mutex mu_;
  std::array<std::unordered_map<std::uint64_t, std::uint32_t>, kTargets> pages_;
};

// The default protection mask of VTL `vtl`'s pages: DefaultVtlProtectionMask of the VTL just
// above it once that VTL set EnableVtlProtection, else everything allowed (conformance K5).
std::uint32_t default_protection_mask(const Partition& p, tlfs::Vtl vtl);

// What VTL `vtl` may do with guest page `page` now.
PageAccess lower_vtl_access(const Partition& p, tlfs::Vtl vtl, std::uint64_t page);

// An access of VTL `vtl` on VP `vp` that its protections denied, as the machine saw it: the
// message fields the machine reads from the vCPU (header.vp_index, access_type and the
// instruction are filled here too). The instruction did not complete; its registers are as
// before it.
struct DeniedAccess {
  tlfs::Vtl vtl = 0;
  tlfs::MemoryInterceptMessage message{};
};

// Posts the GPA intercept message of `access` to SINT 0 of the VTL above it on `vp` (conformance
// K8). kDelivered: the message is in the SINT's slot and its interrupt was raised, so the VP must
// enter that VTL before the lower one runs again (the machine switches it at once). kQueued: the
// slot was busy or the SINT masked. kFailed: that VTL's SynIC cannot take it (disabled, SIM page
// off, queue full). In the last two cases the access is simply retried.
enum class InterceptDelivery : std::uint8_t { kFailed, kQueued, kDelivered };
InterceptDelivery raise_gpa_intercept(Partition& p, Vp& vp, const DeniedAccess& access);

}  // namespace hvk::hv
