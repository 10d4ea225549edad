#include "hv/guest_memory.h"

#include <atomic>
#include <cstring>

namespace hvk::hv {

bool MemoryMap::add(std::uint64_t gpa, std::span<std::byte> host) {
  const std::uint64_t size = host.size();
  if (count_ == kMaxRegions || size == 0 || gpa + size < gpa) return false;
  for (std::size_t i = 0; i < count_; ++i) {
    const Region& r = regions_[i];
    if (gpa < r.gpa + r.size && r.gpa < gpa + size) return false;
  }
  regions_[count_++] = Region{gpa, size, host.data()};
  return true;
}

const MemoryMap::Region* MemoryMap::find(std::uint64_t gpa, std::uint64_t len) const {
  for (std::size_t i = 0; i < count_; ++i) {
    const Region& r = regions_[i];
    // A zero-length range still names a byte: gpa itself must be inside the region.
    if (range_within(gpa, len == 0 ? 1 : len, r.gpa, r.size)) return &r;
  }
  return nullptr;
}

bool MemoryMap::contains(std::uint64_t gpa, std::uint64_t len) const {
  return find(gpa, len) != nullptr;
}

std::span<std::byte> MemoryMap::host_span(std::uint64_t gpa, std::uint64_t len) const {
  const Region* r = find(gpa, len);
  if (r == nullptr) return {};
  return {r->host + (gpa - r->gpa), static_cast<std::size_t>(len)};
}

bool MemoryMap::read(std::uint64_t gpa, std::span<std::byte> out) const {
  if (out.empty()) return true;
  const Region* r = find(gpa, out.size());
  if (r == nullptr) return false;
  std::memcpy(out.data(), r->host + (gpa - r->gpa), out.size());
  return true;
}

bool MemoryMap::write(std::uint64_t gpa, std::span<const std::byte> in) {
  if (in.empty()) return true;
  const Region* r = find(gpa, in.size());
  if (r == nullptr) return false;
  std::memcpy(r->host + (gpa - r->gpa), in.data(), in.size());
  return true;
}

std::optional<bool> MemoryMap::compare_exchange_u64(std::uint64_t gpa, std::uint64_t& expected,
                                                    std::uint64_t desired) {
  if (gpa % 8 != 0) return std::nullopt;
  const Region* r = find(gpa, 8);
  if (r == nullptr) return std::nullopt;
  std::byte* host = r->host + (gpa - r->gpa);
  if (reinterpret_cast<std::uintptr_t>(host) % std::atomic_ref<std::uint64_t>::required_alignment !=
      0) {
    return std::nullopt;  // a host mapping hvk never makes (regions are page-aligned mmaps)
  }
  std::atomic_ref<std::uint64_t> word(*reinterpret_cast<std::uint64_t*>(host));
  return word.compare_exchange_strong(expected, desired, std::memory_order_acq_rel);
}

}  // namespace hvk::hv
