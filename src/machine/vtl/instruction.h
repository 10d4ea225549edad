// The x86 instruction at the start of some bytes, as the CPU would decode it in a given mode
// (Zydis, libzydis-dev): its length, and the guest-virtual ranges its memory operands touch. For
// intercept messages, and to tell which access of an instruction KVM refused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace hvk::machine {

enum class CodeMode : std::uint8_t { k16, k32, k64 };

// nullopt when the bytes do not start with a whole valid instruction.
std::optional<std::uint8_t> instruction_length(std::span<const std::uint8_t> bytes, CodeMode mode);

// The registers an address computation may use.
struct AddressRegisters {
  std::uint64_t rip = 0;
  std::array<std::uint64_t, 16> gpr{};  // RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15
  std::uint64_t fs_base = 0;
  std::uint64_t gs_base = 0;
};

struct MemoryAccess {
  std::uint64_t gva;   // first byte (segment base included for FS and GS)
  std::uint32_t size;  // bytes
  bool read;
  bool write;
};

struct DecodedInstruction {
  std::uint8_t length = 0;
  // Changes nothing but memory and RIP: no register, flag or FPU state (a plain store). Such an
  // instruction, once done, can be undone by putting RIP back.
  bool only_stores = false;
  std::array<MemoryAccess, 6> accesses{};  // explicit and implicit memory operands, in order
  std::size_t access_count = 0;
};

// nullopt when the bytes do not start with a whole valid instruction.
std::optional<DecodedInstruction> decode_instruction(std::span<const std::uint8_t> bytes,
                                                     CodeMode mode, const AddressRegisters& regs);

}  // namespace hvk::machine
