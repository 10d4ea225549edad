// Guest RAM as one VTL's KVM VM maps it under that VTL's protections (issue 14 point 3;
// docs/architecture.md "VTL memory protections"). A page the VTL may read, write and execute is
// mapped read-write; one it may read and execute but not write is mapped read-only (KVM turns a
// write into an MMIO exit); any other page is left out of the VM's map, so that every access to
// it exits to hvk, which completes the ones allowed and turns the others into intercepts. Runs
// of pages of one kind share a memslot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "kvm/result.h"
#include "kvm/vm.h"

namespace hvk::machine {

class ProtectedRam {
 public:
  enum class Kind : std::uint8_t { kReadWrite, kReadOnly, kUnmapped };
  static constexpr std::uint64_t kPageShift = 12;

  // `vm` maps [0, size) of RAM at `host` in slot 0 today; `max_slots` is what KVM allows it.
  ProtectedRam(kvm::Vm& vm, std::byte* host, std::uint64_t size, std::uint32_t max_slots,
               bool read_only_slots)
      : vm_(vm), host_(host), size_(size), max_slots_(max_slots), read_only_(read_only_slots) {
    runs_.push_back({0, size >> kPageShift, Kind::kReadWrite, 0});
  }

  // Maps RAM anew: every page `base`, but those in `pages` (page number, kind; any order, page
  // numbers inside RAM). Returns false, and changes nothing, when that needs more memslots than
  // KVM allows. Concurrent callers are serialized; each call's `pages` must be a full picture.
  kvm::Result<bool> apply(Kind base, std::vector<std::pair<std::uint64_t, Kind>> pages);

  std::size_t slots_in_use() const;

 private:
  struct Run {
    std::uint64_t first;  // page number
    std::uint64_t count;
    Kind kind;
    std::uint32_t slot;  // for mapped runs
    bool same_mapping(const Run& o) const {
      return first == o.first && count == o.count && kind == o.kind;
    }
  };
  std::vector<Run> layout(Kind base, std::vector<std::pair<std::uint64_t, Kind>>& pages) const;
  Kind effective(Kind k) const { return k == Kind::kReadOnly && !read_only_ ? Kind::kUnmapped : k; }

  kvm::Vm& vm_;
  std::byte* host_;
  std::uint64_t size_;
  std::uint32_t max_slots_;
  bool read_only_;
  mutable std::mutex mu_;
  std::vector<Run> runs_;  // mapped runs only, by first page
};

}  // namespace hvk::machine
