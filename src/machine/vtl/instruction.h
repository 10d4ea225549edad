// The length of the x86 instruction at the start of some bytes, as the CPU would decode it in a
// given mode (Zydis, libzydis-dev). For the instruction fields of intercept messages.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace hvk::machine {

enum class CodeMode : std::uint8_t { k16, k32, k64 };

// nullopt when the bytes do not start with a whole valid instruction.
std::optional<std::uint8_t> instruction_length(std::span<const std::uint8_t> bytes, CodeMode mode);

}  // namespace hvk::machine
