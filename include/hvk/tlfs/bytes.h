// Reading and writing ABI structs from and to raw guest bytes without aliasing or alignment UB.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <type_traits>

namespace hvk::tlfs {

// Copies sizeof(T) bytes at `offset` of `bytes` into a T. The caller guarantees the size.
template <typename T>
T load(std::span<const std::byte> bytes, std::size_t offset = 0) {
  static_assert(std::is_trivially_copyable_v<T>);
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

template <typename T>
void store(std::span<std::byte> bytes, const T& value, std::size_t offset = 0) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <typename T>
std::span<const std::byte, sizeof(T)> as_bytes(const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  return std::span<const std::byte, sizeof(T)>(reinterpret_cast<const std::byte*>(&value),
                                               sizeof(T));
}

}  // namespace hvk::tlfs
