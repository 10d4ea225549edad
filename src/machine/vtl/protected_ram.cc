#include "machine/vtl/protected_ram.h"

#include <sys/mman.h>

#include <algorithm>

#include "machine/loader/layout.h"

namespace hvk::machine {

namespace {
int prot_of(ProtectedRam::Kind k) {
  switch (k) {
    case ProtectedRam::Kind::kReadOnly:
      return PROT_READ;
    case ProtectedRam::Kind::kNoAccess:
      return PROT_NONE;
    case ProtectedRam::Kind::kReadWrite:
    case ProtectedRam::Kind::kUnmapped:  // nothing maps it: hvk's own view serves it
      break;
  }
  return PROT_READ | PROT_WRITE;
}
}  // namespace

ProtectedRam::ProtectedRam(kvm::Vm& vm, std::byte* view, std::uint64_t size,
                           std::uint32_t max_slots, std::uint64_t low)
    : vm_(vm),
      view_(view),
      size_(size),
      low_pages_(std::min(low, size) >> kPageShift),
      hole_pages_((kHighRamBase >> kPageShift) - (std::min(low, size) >> kPageShift)),
      max_slots_(max_slots) {
  const std::uint64_t total = size >> kPageShift;
  runs_.push_back({0, low_pages_, 0});
  if (total > low_pages_) runs_.push_back({low_pages_, total - low_pages_, 1});
}

std::optional<std::uint64_t> ProtectedRam::view_page(std::uint64_t gpa_page) const {
  const std::uint64_t total = size_ >> kPageShift;
  if (gpa_page < low_pages_) return gpa_page;
  if (gpa_page < low_pages_ + hole_pages_) return std::nullopt;  // the 32-bit hole
  const std::uint64_t v = gpa_page - hole_pages_;
  if (v >= total) return std::nullopt;
  return v;
}

std::uint64_t ProtectedRam::gpa_page(std::uint64_t view_page) const {
  return view_page < low_pages_ ? view_page : view_page + hole_pages_;
}

ProtectedRam::Kind ProtectedRam::kind_locked(std::uint64_t page) const {
  const auto it = pages_.find(page);
  return it == pages_.end() ? base_ : it->second;
}

ProtectedRam::Kind ProtectedRam::kind(std::uint64_t gpa) const {
  const auto page = view_page(gpa);
  if (!page) return Kind::kUnmapped;  // not RAM: nothing maps it
  std::lock_guard lock(mu_);
  if (holes_.count(*page) != 0) return Kind::kUnmapped;
  return kind_locked(*page);
}

std::vector<ProtectedRam::Run> ProtectedRam::layout() const {
  std::vector<Run> runs;
  const std::uint64_t total = size_ >> kPageShift;
  auto add_one = [&](std::uint64_t first, std::uint64_t count) {
    if (count == 0) return;
    if (!runs.empty() && runs.back().first + runs.back().count == first) {
      runs.back().count += count;
    } else {
      runs.push_back({first, count, 0});
    }
  };
  // A run never spans the hole: its two sides are apart in guest-physical space.
  auto add = [&](std::uint64_t first, std::uint64_t count) {
    if (first < low_pages_ && first + count > low_pages_) {
      add_one(first, low_pages_ - first);
      runs.push_back({low_pages_, first + count - low_pages_, 0});
      return;
    }
    if (first == low_pages_ && count != 0) {
      runs.push_back({first, count, 0});
      return;
    }
    add_one(first, count);
  };
  // The pages out of the map, in order.
  std::set<std::uint64_t> out(holes_.begin(), holes_.end());
  if (base_ == Kind::kUnmapped) {
    for (std::uint64_t p = 0; p < total; ++p) {
      if (kind_locked(p) == Kind::kUnmapped) out.insert(p);
    }
  } else {
    for (const auto& [page, k] : pages_) {
      if (k == Kind::kUnmapped) out.insert(page);
    }
  }
  std::uint64_t next = 0;
  for (std::uint64_t page : out) {
    if (page >= total) break;
    add(next, page - next);
    next = page + 1;
  }
  add(next, total - next);
  return runs;
}

kvm::Result<void> ProtectedRam::protect(std::uint64_t first, std::uint64_t count, Kind kind) {
  if (count == 0) return {};
  if (::mprotect(view_ + (first << kPageShift), count << kPageShift, prot_of(kind)) != 0) {
    return kvm::Error::from_errno("mprotect guest RAM view");
  }
  return {};
}

kvm::Result<bool> ProtectedRam::apply_locked() {
  std::vector<Run> next = layout();
  if (next.size() > max_slots_) return false;

  // The view's protections first: a page about to be mapped is protected before KVM can map it.
  const std::uint64_t total = size_ >> kPageShift;
  if (base_ != protected_base_) {
    if (auto r = protect(0, total, base_); !r) return r.error();
    protected_base_ = base_;
    protected_.clear();
  }
  // Pages whose protection differs from what the view has: put each right, merging neighbours.
  std::map<std::uint64_t, Kind> want;
  for (const auto& [page, k] : pages_) {
    if (page < total && prot_of(k) != prot_of(base_)) want.emplace(page, k);
  }
  std::vector<std::pair<std::uint64_t, Kind>> changes;
  for (const auto& [page, k] : protected_) {
    if (want.count(page) == 0) changes.emplace_back(page, base_);
  }
  for (const auto& [page, k] : want) {
    const auto it = protected_.find(page);
    if (it == protected_.end() || prot_of(it->second) != prot_of(k)) changes.emplace_back(page, k);
  }
  std::sort(changes.begin(), changes.end());
  for (std::size_t i = 0; i < changes.size();) {
    std::size_t j = i + 1;
    while (j < changes.size() && changes[j].first == changes[j - 1].first + 1 &&
           prot_of(changes[j].second) == prot_of(changes[i].second)) {
      ++j;
    }
    if (auto r = protect(changes[i].first, j - i, changes[i].second); !r) return r.error();
    i = j;
  }
  protected_ = std::move(want);

  // Then the memslots: runs mapped as before keep their slot; the others go first (so that
  // nothing overlaps), and the new ones take free slot numbers.
  std::vector<bool> used(max_slots_, false);
  std::vector<bool> kept(next.size(), false);
  std::vector<bool> keep(runs_.size(), false);
  for (std::size_t n = 0; n < next.size(); ++n) {
    const auto it = std::lower_bound(runs_.begin(), runs_.end(), next[n].first,
                                     [](const Run& o, std::uint64_t f) { return o.first < f; });
    if (it != runs_.end() && it->same_range(next[n])) {
      next[n].slot = it->slot;
      used[next[n].slot] = true;
      kept[n] = true;
      keep[static_cast<std::size_t>(it - runs_.begin())] = true;
    }
  }
  for (std::size_t i = 0; i < runs_.size(); ++i) {
    if (keep[i]) continue;
    if (auto r = vm_.set_user_memory_region(runs_[i].slot, gpa_page(runs_[i].first) << kPageShift,
                                            0, nullptr);
        !r) {
      return r.error();
    }
  }
  std::uint32_t free_slot = 0;
  for (std::size_t n = 0; n < next.size(); ++n) {
    if (kept[n]) continue;
    Run& r = next[n];
    while (used[free_slot]) ++free_slot;
    r.slot = free_slot;
    used[free_slot] = true;
    if (auto res =
            vm_.set_user_memory_region(r.slot, gpa_page(r.first) << kPageShift,
                                       r.count << kPageShift, view_ + (r.first << kPageShift));
        !res) {
      return res.error();
    }
  }
  runs_ = std::move(next);
  return true;
}

kvm::Result<bool> ProtectedRam::apply(Kind base,
                                      const std::vector<std::pair<std::uint64_t, Kind>>& pages) {
  std::lock_guard lock(mu_);
  const Kind old_base = base_;
  std::map<std::uint64_t, Kind> old_pages = std::move(pages_);
  base_ = base;
  pages_.clear();
  for (const auto& [gpa, k] : pages) {
    if (k == base) continue;
    if (const auto page = view_page(gpa)) pages_[*page] = k;
  }
  if (layout().size() > max_slots_) {
    base_ = old_base;
    pages_ = std::move(old_pages);
    return false;
  }
  return apply_locked();
}

kvm::Result<bool> ProtectedRam::open_hole(std::uint64_t gpa) {
  const auto page = view_page(gpa);
  if (!page) return false;
  std::lock_guard lock(mu_);
  if (!holes_.insert(*page).second) return true;
  auto r = apply_locked();
  if (!r || !*r) holes_.erase(*page);
  return r;
}

kvm::Result<bool> ProtectedRam::close_hole(std::uint64_t gpa) {
  const auto page = view_page(gpa);
  if (!page) return true;
  std::lock_guard lock(mu_);
  if (holes_.erase(*page) == 0) return true;
  return apply_locked();
}

std::size_t ProtectedRam::slots_in_use() const {
  std::lock_guard lock(mu_);
  return runs_.size();
}

}  // namespace hvk::machine
