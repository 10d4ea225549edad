#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <utility>

#include "kvm/result.h"

namespace hvk::kvm {

// Sole owner of an mmap'd region; unmaps it on destruction. Move-only.
class Mapping {
 public:
  Mapping() = default;
  Mapping(Mapping&& other) noexcept : addr_(other.addr_), size_(other.size_) {
    other.addr_ = nullptr;
    other.size_ = 0;
  }
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  // mmap(nullptr, size, prot, flags, fd, offset); `what` names the mapping in errors.
  static Result<Mapping> map(std::size_t size, int prot, int flags, int fd, off_t offset,
                             const char* what = "mmap");
  // Private, anonymous, read-write, zero-filled memory (e.g. guest RAM).
  static Result<Mapping> anonymous(std::size_t size);

  void* data() const noexcept { return addr_; }
  std::byte* bytes() const noexcept { return static_cast<std::byte*>(addr_); }
  std::size_t size() const noexcept { return size_; }
  std::span<std::byte> span() const noexcept { return {bytes(), size_}; }
  explicit operator bool() const noexcept { return addr_ != nullptr; }
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(addr_);
  }

  void reset() noexcept;

 private:
  friend class SharedMemory;
  Mapping(void* addr, std::size_t size) noexcept : addr_(addr), size_(size) {}

  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

// Memory that can be mapped more than once (shared anonymous memory, filled lazily; a view is
// mremap'd from it, so no file and no RLIMIT_FSIZE is involved): guest RAM, which hvk maps once
// for itself and once more for each VTL whose protections it enforces with mprotect on that
// VTL's view.
class SharedMemory {
 public:
  SharedMemory() = default;
  static Result<SharedMemory> create(std::size_t size);
  // A new read-write view of all of it.
  Result<Mapping> map() const;
  std::size_t size() const { return first_.size(); }

 private:
  explicit SharedMemory(Mapping first) : first_(std::move(first)) {}
  Mapping first_;  // never handed out: mprotect on a view leaves it as it is
};

}  // namespace hvk::kvm
