// Guest RAM as one VTL's KVM VM maps it under that VTL's protections (issue 14 point 3;
// docs/architecture.md "VTL memory protections"). The VM maps the VTL's own view of RAM
// (Machine::RamViews), so a protection is an mprotect of that view, which hvk's view and the
// other VTLs' leave untouched; KVM then fails an access the host page does not allow with EFAULT
// before the instruction does anything. A KVM memslot has no execute permission, so a page the
// VTL may read and write but not execute is left out of the VM's map instead: its data accesses
// exit to hvk as MMIO and its instruction fetches fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "kvm/result.h"
#include "kvm/vm.h"

namespace hvk::machine {

class ProtectedRam {
 public:
  enum class Kind : std::uint8_t {
    kReadWrite,  // mapped, read-write
    kReadOnly,   // mapped, the view read-only: a write fails (EFAULT)
    kNoAccess,   // mapped, the view inaccessible: every access fails (EFAULT)
    kUnmapped,   // out of the VM's map: data accesses are MMIO, fetches fail
  };
  static constexpr std::uint64_t kPageShift = 12;

  // `vm` maps [0, size) of the view at `view` in slot 0 today; `max_slots` is what KVM allows.
  ProtectedRam(kvm::Vm& vm, std::byte* view, std::uint64_t size, std::uint32_t max_slots)
      : vm_(vm), view_(view), size_(size), max_slots_(max_slots) {
    runs_.push_back({0, size >> kPageShift, 0});
  }

  // Maps RAM anew: every page `base`, but those in `pages` (page number, kind; any order, pages
  // outside RAM ignored). False, with nothing changed, when that needs more memslots than KVM
  // allows. Serialized; each call's `pages` must be the full picture.
  kvm::Result<bool> apply(Kind base, const std::vector<std::pair<std::uint64_t, Kind>>& pages);

  // Takes `page` out of the map for a while whatever its kind (to let KVM emulate an access to it
  // that hvk then completes), and puts it back.
  kvm::Result<bool> open_hole(std::uint64_t page);
  kvm::Result<bool> close_hole(std::uint64_t page);

  // The kind `page` has now.
  Kind kind(std::uint64_t page) const;
  std::size_t slots_in_use() const;

 private:
  struct Run {
    std::uint64_t first;  // page number
    std::uint64_t count;
    std::uint32_t slot;
    bool same_range(const Run& o) const { return first == o.first && count == o.count; }
  };
  kvm::Result<bool> apply_locked();
  std::vector<Run> layout() const;
  kvm::Result<void> protect(std::uint64_t first, std::uint64_t count, Kind kind);
  Kind kind_locked(std::uint64_t page) const;

  kvm::Vm& vm_;
  std::byte* view_;
  std::uint64_t size_;
  std::uint32_t max_slots_;
  mutable std::mutex mu_;
  Kind base_ = Kind::kReadWrite;
  std::map<std::uint64_t, Kind> pages_;  // pages not of the base kind
  std::set<std::uint64_t> holes_;        // open_hole()
  std::vector<Run> runs_;                // the mapped runs, by first page
  Kind protected_base_ = Kind::kReadWrite;     // what the view was mprotected to
  std::map<std::uint64_t, Kind> protected_;    // and its pages that differ
};

}  // namespace hvk::machine
