// Bounds-checked access to the loader's view of guest RAM: a byte span for GPAs [0, size).
//
// Every write the loader does goes through here; a range that is not entirely inside RAM (with
// overflow-safe arithmetic) is refused and nothing is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace hvk::machine {

// True when [offset, offset + len) lies inside [0, size), without overflowing anywhere.
constexpr bool range_fits(std::uint64_t offset, std::uint64_t len, std::uint64_t size) {
  return offset <= size && len <= size - offset;
}

class GuestRam {
 public:
  explicit GuestRam(std::span<std::byte> ram) : ram_(ram) {}

  std::uint64_t size() const { return ram_.size(); }
  bool contains(std::uint64_t gpa, std::uint64_t len) const {
    return range_fits(gpa, len, ram_.size());
  }

  bool write(std::uint64_t gpa, std::span<const std::byte> bytes) {
    if (!contains(gpa, bytes.size())) return false;
    if (!bytes.empty()) std::memcpy(ram_.data() + gpa, bytes.data(), bytes.size());
    return true;
  }

  bool fill(std::uint64_t gpa, std::uint64_t len, std::byte value) {
    if (!contains(gpa, len)) return false;
    if (len != 0) std::memset(ram_.data() + gpa, std::to_integer<int>(value), len);
    return true;
  }

  template <typename T>
  bool store(std::uint64_t gpa, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, std::as_bytes(std::span<const T, 1>(&value, 1)));
  }

  template <typename T>
  std::optional<T> load(std::uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    if (!contains(gpa, sizeof(T))) return std::nullopt;
    T value;
    std::memcpy(&value, ram_.data() + gpa, sizeof(T));
    return value;
  }

 private:
  std::span<std::byte> ram_;
};

}  // namespace hvk::machine
