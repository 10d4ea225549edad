// HvCallModifyVtlProtectionMask (0x000C) and the default protection mask a VTL's
// HvRegisterVsmPartitionConfig sets. Rules in docs/conformance.md, rows K.
#include <array>

#include "hv/calls.h"
#include "hv/target.h"
#include "hv/vtl_protection.h"
#include "hvk/tlfs/privileges.h"
#include "hvk/tlfs/registers.h"

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
  const VtlTarget named = resolve_input_vtl(ctx, t.self, h.target_vtl);
  if (named.status != Status::kSuccess) return {named.status, 0};
  // The VTL whose pages change: one the caller names below itself, or (naming none, or itself,
  // as Microsoft's own callers do) the VTL just below it. There is none below VTL 0.
  const tlfs::Vtl caller = t.self ? ctx.vtl : tlfs::kMaxVtl;
  if (caller == 0) return {Status::kAccessDenied, 0};
  const tlfs::Vtl target = named.vtl < caller ? named.vtl : static_cast<tlfs::Vtl>(caller - 1);
  // Protections must be switched on first (EnableVtlProtection in the caller's VsmPartitionConfig).
  if ((p.vsm_config(caller) & tlfs::vsm_config::kEnableVtlProtection) == 0) {
    return {Status::kAccessDenied, 0};
  }
  if (!p.vtl_enabled(target)) return {Status::kInvalidVtlState, 0};
  if (!valid_protection_mask(h.map_flags)) return {Status::kInvalidParameter, 0};
  const VtlTarget v{Status::kSuccess, target};

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
