#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hvk/tlfs/bytes.h"

namespace hvk::hv {

// The variable part of a call's input header (TLFS "Variable Sized Hypercall Input Headers"):
// the control word's VariableHeaderSize quadwords after the fixed header, before any rep
// element. Only calls whose descriptor accepts one get it; for the others the dispatcher refuses
// a non-zero size.
class VarHeader {
 public:
  explicit VarHeader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::size_t size() const { return bytes_.size() / sizeof(std::uint64_t); }
  std::uint64_t operator[](std::size_t i) const {
    return tlfs::load<std::uint64_t>(bytes_, i * sizeof(std::uint64_t));
  }

 private:
  std::span<const std::byte> bytes_;
};

}  // namespace hvk::hv
