// The engine's view of a partition's guest-physical memory: bounds-checked reads and writes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace hvk::hv {

// True when [gpa, gpa + len) lies inside [base, base + size), with no overflow anywhere.
constexpr bool range_within(std::uint64_t gpa, std::uint64_t len, std::uint64_t base,
                            std::uint64_t size) {
  if (gpa < base) return false;
  const std::uint64_t off = gpa - base;
  return off <= size && len <= size - off;
}

class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  // True when every byte of [gpa, gpa + len) is guest RAM (len 0: gpa itself must be RAM).
  virtual bool contains(std::uint64_t gpa, std::uint64_t len) const = 0;
  // Copy guest bytes out or in; false (and nothing copied) unless the whole range is RAM. An empty
  // range names no byte and always succeeds (an input that ends exactly at the end of RAM, say,
  // is followed by an empty read of its absent rep elements).
  virtual bool read(std::uint64_t gpa, std::span<std::byte> out) const = 0;
  virtual bool write(std::uint64_t gpa, std::span<const std::byte> in) = 0;
  // One atomic compare-and-swap of the 8-byte-aligned qword at `gpa` (the SynIC's message slots
  // and event flags, which the guest changes concurrently): if it equals `expected` it becomes
  // `desired`; otherwise `expected` receives its value. nullopt when the qword is not RAM or
  // `gpa` is not 8-byte aligned; else whether the swap happened.
  virtual std::optional<bool> compare_exchange_u64(std::uint64_t gpa, std::uint64_t& expected,
                                                   std::uint64_t desired) = 0;
};

// Guest RAM as a few host-mapped regions (RAM below and above the PCI hole, say). Lookups never
// allocate; a range must lie inside one region (regions are not merged even when adjacent).
class MemoryMap final : public GuestMemory {
 public:
  static constexpr std::size_t kMaxRegions = 8;
  struct Region {
    std::uint64_t gpa = 0;
    std::uint64_t size = 0;
    std::byte* host = nullptr;
  };

  // False when the table is full, the region is empty, wraps, or overlaps another one.
  bool add(std::uint64_t gpa, std::span<std::byte> host);

  bool contains(std::uint64_t gpa, std::uint64_t len) const override;
  bool read(std::uint64_t gpa, std::span<std::byte> out) const override;
  bool write(std::uint64_t gpa, std::span<const std::byte> in) override;
  std::optional<bool> compare_exchange_u64(std::uint64_t gpa, std::uint64_t& expected,
                                           std::uint64_t desired) override;

  // The host bytes behind [gpa, gpa + len), or an empty span when that is not all RAM.
  std::span<std::byte> host_span(std::uint64_t gpa, std::uint64_t len) const;
  std::span<const Region> regions() const { return {regions_.data(), count_}; }

 private:
  const Region* find(std::uint64_t gpa, std::uint64_t len) const;
  std::array<Region, kMaxRegions> regions_{};
  std::size_t count_ = 0;
};

}  // namespace hvk::hv
