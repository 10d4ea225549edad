// HvCallModifyVtlProtectionMask (0x000C) and the default protection mask a VTL's
// HvRegisterVsmPartitionConfig sets. Rules in docs/conformance.md, rows P.
#include <array>

#include "hv/calls.h"
#include "hv/target.h"
#include "hv/vtl_protection.h"
#include "hvk/tlfs/privileges.h"

namespace hvk::hv {

using tlfs::Status;

namespace {
constexpr std::uint64_t kPageShift = 12;
constexpr std::uint64_t kPageSize = 1ull << kPageShift;
// A batch of pages handed to the machine at once: a rep call's elements fit an input page.
constexpr std::size_t kBatch = 512;
}  // namespace

RepResult modify_vtl_protection_mask(CallContext& ctx,
                                     const tlfs::ModifyVtlProtectionMaskHeader& h,
                                     RepInput<tlfs::GpaPageNumber> pages, RepOutput<NoOutput>) {
  if (!ctx.partition.privileges().has(tlfs::Privilege::kAccessVsm)) {
    return {Status::kAccessDenied, 0};
  }
  const Target t = resolve_partition(ctx, h.partition_id);
  if (t.status != Status::kSuccess) return {t.status, 0};
  Partition& p = *t.partition;
  const VtlTarget v = resolve_input_vtl(ctx, t.self, h.target_vtl);
  if (v.status != Status::kSuccess) return {v.status, 0};
  // A VTL protects only VTLs below it (the caller's own included in "not below").
  const tlfs::Vtl caller = t.self ? ctx.vtl : tlfs::kMaxVtl;
  if (v.vtl >= caller) return {Status::kAccessDenied, 0};
  if (!p.vtl_enabled(v.vtl)) return {Status::kInvalidVtlState, 0};
  if ((h.map_flags & ~tlfs::map_gpa::kAll) != 0) return {Status::kInvalidParameter, 0};

  GuestMemory* memory = p.memory();
  std::array<std::uint64_t, kBatch> batch{};
  std::array<std::uint32_t, kBatch> old{};
  const std::uint32_t fallback = default_protection_mask(p, v.vtl);
  std::size_t done = 0;
  while (done < pages.size()) {
    std::size_t n = 0;
    Status status = Status::kSuccess;
    for (; n < kBatch && done + n < pages.size(); ++n) {
      const std::uint64_t page = pages[done + n].page;
      // Only RAM takes protections (TLFS: other ranges are INVALID_PARAMETER).
      if (page > (~0ull >> kPageShift) || memory == nullptr ||
          !memory->contains(page << kPageShift, kPageSize)) {
        status = Status::kInvalidParameter;
        break;
      }
      batch[n] = page;
    }
    const std::span<const std::uint64_t> set(batch.data(), n);
    p.protections().set(v.vtl, set, h.map_flags, fallback, old);
    if (n != 0 && p.backend() != nullptr && !p.backend()->vtl_protections_changed(v.vtl, set)) {
      p.protections().restore(v.vtl, set, {old.data(), n}, fallback);
      (void)p.backend()->vtl_protections_changed(v.vtl, set);
      return {Status::kInsufficientMemory, static_cast<std::uint16_t>(done)};
    }
    done += n;
    if (status != Status::kSuccess) return {status, static_cast<std::uint16_t>(done)};
  }
  return {Status::kSuccess, static_cast<std::uint16_t>(done)};
}

void vtl_protection_enabled(Partition& p, tlfs::Vtl vtl) {
  if (vtl == 0 || p.backend() == nullptr) return;
  const auto lower = static_cast<tlfs::Vtl>(vtl - 1);
  if (default_protection_mask(p, lower) != tlfs::map_gpa::kAll) {
    (void)p.backend()->vtl_protections_changed(lower, {});
  }
}

}  // namespace hvk::hv
