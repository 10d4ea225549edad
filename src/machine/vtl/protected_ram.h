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
#include <optional>
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

  // The view at `view` holds `size` bytes of RAM: the first `low` at GPA 0, the rest at 4 GiB
  // (loader/layout.h RamSplit). `vm` maps them today in slots 0 and 1 (create_guest_vm);
  // `max_slots` is what KVM allows. Page numbers in the calls below are guest-physical.
  ProtectedRam(kvm::Vm& vm, std::byte* view, std::uint64_t size, std::uint32_t max_slots,
               std::uint64_t low = UINT64_MAX);

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
  // Inside, pages are numbered by their place in the view; RAM above the hole starts at
  // low_pages_. A guest-physical page outside RAM has no view page.
  std::optional<std::uint64_t> view_page(std::uint64_t gpa_page) const;
  std::uint64_t gpa_page(std::uint64_t view_page) const;
  struct Run {
    std::uint64_t first;  // view page number
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
  std::uint64_t low_pages_;   // view pages below the hole
  std::uint64_t hole_pages_;  // what a view page above it adds to make a GPA page
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
