#include "hv/vtl_protection.h"

#include <cstring>
#include <mutex>

#include "hv/partition.h"
#include "hv/synic/synic.h"
#include "hvk/tlfs/registers.h"
#include "hvk/tlfs/synic.h"

namespace hvk::hv {

std::uint32_t VtlProtections::mask(tlfs::Vtl vtl, std::uint64_t page,
                                   std::uint32_t fallback) const {
  if (vtl >= kTargets) return tlfs::map_gpa::kAll;
  std::shared_lock lock(mu_);
  const auto& m = pages_[vtl];
  const auto it = m.find(page);
  return it == m.end() ? fallback : it->second;
}

void VtlProtections::set(tlfs::Vtl vtl, std::span<const std::uint64_t> pages, std::uint32_t mask,
                         std::uint32_t fallback, std::span<std::uint32_t> old) {
  if (vtl >= kTargets) return;
  std::unique_lock lock(mu_);
  auto& m = pages_[vtl];
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const auto it = m.find(pages[i]);
    if (i < old.size()) old[i] = it == m.end() ? fallback : it->second;
    // A page back at its VTL's default needs no entry.
    if (mask == fallback) {
      if (it != m.end()) m.erase(it);
    } else if (it != m.end()) {
      it->second = mask;
    } else {
      m.emplace(pages[i], mask);
    }
  }
}

void VtlProtections::restore(tlfs::Vtl vtl, std::span<const std::uint64_t> pages,
                             std::span<const std::uint32_t> old, std::uint32_t fallback) {
  if (vtl >= kTargets) return;
  std::unique_lock lock(mu_);
  auto& m = pages_[vtl];
  for (std::size_t i = 0; i < pages.size() && i < old.size(); ++i) {
    if (old[i] == fallback) {
      m.erase(pages[i]);
    } else {
      m[pages[i]] = old[i];
    }
  }
}

std::uint32_t default_protection_mask(const Partition& p, tlfs::Vtl vtl) {
  if (vtl >= tlfs::kMaxVtl) return tlfs::map_gpa::kAll;
  const std::uint64_t config = p.vsm_config(static_cast<tlfs::Vtl>(vtl + 1));
  if ((config & tlfs::vsm_config::kEnableVtlProtection) == 0) return tlfs::map_gpa::kAll;
  return static_cast<std::uint32_t>((config & tlfs::vsm_config::kDefaultVtlProtectionMask) >>
                                    tlfs::vsm_config::kDefaultVtlProtectionMaskShift);
}

PageAccess lower_vtl_access(const Partition& p, tlfs::Vtl vtl, std::uint64_t page) {
  const std::uint32_t fallback = default_protection_mask(p, vtl);
  return p.page_access(p.protections().mask(vtl, page, fallback));
}

InterceptDelivery raise_gpa_intercept(Partition& p, Vp& vp, const DeniedAccess& access) {
  if (access.vtl >= tlfs::kMaxVtl) return InterceptDelivery::kFailed;
  const auto higher = static_cast<tlfs::Vtl>(access.vtl + 1);
  if (!vp.vtl_enabled(higher)) return InterceptDelivery::kFailed;
  tlfs::Message m{};
  m.header.message_type = static_cast<std::uint32_t>(tlfs::MessageType::kGpaIntercept);
  m.header.payload_size = sizeof(tlfs::MemoryInterceptMessage);
  tlfs::MemoryInterceptMessage body = access.message;
  body.header.vp_index = vp.index();
  std::memcpy(m.payload, &body, sizeof body);
  Synic& synic = vp.synic(higher).synic;
  constexpr unsigned kInterceptSint = 0;
  if (!synic.reserve_queue(kInterceptSint)) return InterceptDelivery::kFailed;
  IrqBatch irqs;
  const tlfs::Status s = synic.post(kInterceptSint, m, p.memory(), irqs);
  // Only this VP's own thread posts intercepts to its SINT 0 (the VP is stopped in the lower VTL
  // meanwhile), so an empty queue and a raised interrupt mean this message is in the slot.
  const bool raised = irqs.size() != 0 && synic.queued(kInterceptSint) == 0;
  irqs.flush(p.backend());
  if (s != tlfs::Status::kSuccess) return InterceptDelivery::kFailed;
  return raised ? InterceptDelivery::kDelivered : InterceptDelivery::kQueued;
}

}  // namespace hvk::hv
