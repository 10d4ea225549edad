#pragma once

// Internal to src/kvm: storage for the KVM structs that end in a flexible array
// (kvm_cpuid2, kvm_msrs): a header followed by `count` entries, zero-filled.

#include <cstddef>
#include <memory>

namespace hvk::kvm::detail {

template <class Header, class Entry>
class FlexBuffer {
 public:
  explicit FlexBuffer(std::size_t count)
      : storage_(std::make_unique<std::byte[]>(sizeof(Header) + count * sizeof(Entry))) {}

  // operator new[] storage is suitably aligned for both types and implicitly creates them.
  Header* header() noexcept { return reinterpret_cast<Header*>(storage_.get()); }
  Entry* entries() noexcept { return reinterpret_cast<Entry*>(storage_.get() + sizeof(Header)); }

 private:
  std::unique_ptr<std::byte[]> storage_;
};

}  // namespace hvk::kvm::detail
