#include "machine/vtl/protected_ram.h"

#include <algorithm>

#include "kvm/linux_kvm.h"

namespace hvk::machine {

std::vector<ProtectedRam::Run> ProtectedRam::layout(
    Kind base, std::vector<std::pair<std::uint64_t, Kind>>& pages) const {
  std::sort(pages.begin(), pages.end());
  std::vector<Run> runs;
  const std::uint64_t total = size_ >> kPageShift;
  auto add = [&](std::uint64_t first, std::uint64_t count, Kind kind) {
    kind = effective(kind);
    if (count == 0 || kind == Kind::kUnmapped) return;
    if (!runs.empty() && runs.back().kind == kind && runs.back().first + runs.back().count == first) {
      runs.back().count += count;
    } else {
      runs.push_back({first, count, kind, 0});
    }
  };
  std::uint64_t next = 0;  // the first page not yet placed
  for (const auto& [page, kind] : pages) {
    if (page >= total || page < next) continue;  // outside RAM, or a duplicate
    add(next, page - next, base);
    add(page, 1, kind);
    next = page + 1;
  }
  add(next, total - next, base);
  return runs;
}

kvm::Result<bool> ProtectedRam::apply(Kind base,
                                      std::vector<std::pair<std::uint64_t, Kind>> pages) {
  std::lock_guard lock(mu_);
  std::vector<Run> next = layout(base, pages);
  if (next.size() > max_slots_) return false;
  // Runs mapped identically keep their slot; the others go first (so that nothing overlaps),
  // then the new ones take the free slot numbers.
  std::vector<bool> used(max_slots_, false);
  std::vector<bool> kept(next.size(), false);
  std::vector<bool> keep(runs_.size(), false);
  for (std::size_t n = 0; n < next.size(); ++n) {
    Run& r = next[n];
    const auto it = std::lower_bound(runs_.begin(), runs_.end(), r.first,
                                     [](const Run& o, std::uint64_t f) { return o.first < f; });
    if (it != runs_.end() && it->same_mapping(r)) {
      r.slot = it->slot;
      used[r.slot] = true;
      kept[n] = true;
      keep[static_cast<std::size_t>(it - runs_.begin())] = true;
    }
  }
  for (std::size_t i = 0; i < runs_.size(); ++i) {
    if (keep[i]) continue;
    if (auto res = vm_.set_user_memory_region(runs_[i].slot, runs_[i].first << kPageShift, 0,
                                              nullptr);
        !res) {
      return res.error();
    }
  }
  std::uint32_t free_slot = 0;
  for (std::size_t n = 0; n < next.size(); ++n) {
    if (kept[n]) continue;
    Run& r = next[n];
    while (used[free_slot]) ++free_slot;
    r.slot = free_slot;
    used[free_slot] = true;
    const std::uint32_t flags = r.kind == Kind::kReadOnly ? KVM_MEM_READONLY : 0u;
    if (auto res = vm_.set_user_memory_region(r.slot, r.first << kPageShift,
                                              r.count << kPageShift,
                                              host_ + (r.first << kPageShift), flags);
        !res) {
      return res.error();
    }
  }
  runs_ = std::move(next);
  return true;
}

std::size_t ProtectedRam::slots_in_use() const {
  std::lock_guard lock(mu_);
  return runs_.size();
}

}  // namespace hvk::machine
