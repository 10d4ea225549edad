// The x86-64 register file hvk shows gdb, and the target description (XML) that tells gdb its
// layout: gdb's own core, SSE and segment-base features (which gdb's amd64 support requires by
// those names) and hvk's system feature (control registers, EFER, every segment's base, the
// descriptor tables). Register numbers are positions in kRegisters; 'g' packets are every
// register in that order, each little-endian at its size.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hvk::gdb {

struct X86Registers {
  // rax rbx rcx rdx rsi rdi rbp rsp r8 ... r15: gdb's order, not the instruction encoding's.
  std::array<std::uint64_t, 16> gpr{};
  std::uint64_t rip = 0;
  std::uint64_t rflags = 0;  // shown as the 32-bit eflags gdb expects
  std::uint16_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;  // selectors (32-bit in gdb)
  // x87: st0-7 as 10-byte extended reals (st0 = the register at the top of the stack), and the
  // control words, each 32-bit in gdb.
  std::array<std::array<std::uint8_t, 10>, 8> st{};
  std::uint32_t fctrl = 0, fstat = 0, ftag = 0, fiseg = 0, fioff = 0, foseg = 0, fooff = 0, fop = 0;
  std::array<std::array<std::uint8_t, 16>, 16> xmm{};
  std::uint32_t mxcsr = 0;
  std::uint64_t fs_base = 0, gs_base = 0;
  // hvk's system feature.
  std::uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0, efer = 0;
  std::uint64_t cs_base = 0, ss_base = 0, ds_base = 0, es_base = 0;
  std::uint64_t kernel_gs_base = 0;  // IA32_KERNEL_GS_BASE
  std::uint64_t gdtr_base = 0, idtr_base = 0;
  std::uint16_t gdtr_limit = 0, idtr_limit = 0;  // 32-bit in gdb
  std::uint16_t tr = 0, ldtr = 0;                // selectors, 32-bit in gdb
  std::uint64_t tr_base = 0, ldtr_base = 0;
};

// The target description's features, in the order they come.
enum class Feature { kCore, kSse, kSegments, kSystem };

struct RegisterInfo {
  std::string_view name;        // as in the target description
  std::size_t bytes;            // its size in 'g'/'p' packets
  Feature feature;              // the feature that lists it
  std::string_view type;        // its type there (int64, data_ptr, vec128, a flags type, ...)
  std::string_view group = {};  // a register group, where gdb wants one named
};

// Every register in register-number order: the 24 core integer registers, st0-7, the 8 x87
// control registers, xmm0-15, mxcsr, fs_base, gs_base, then hvk's system registers.
std::span<const RegisterInfo> registers();

// The total size of a 'g' packet's data in bytes.
std::size_t register_file_bytes();

// 'g' data: every register, in order, little-endian.
std::vector<std::uint8_t> encode_registers(const X86Registers& regs);
// 'G' data back into `regs`: false (and `regs` unchanged) unless `bytes` is exactly
// register_file_bytes() long.
bool decode_registers(std::span<const std::uint8_t> bytes, X86Registers& regs);
// One register ('p'): nullopt for a number past the last.
std::optional<std::vector<std::uint8_t>> encode_register(const X86Registers& regs,
                                                         std::uint64_t number);
// One register ('P'): false (and `regs` unchanged) for a number past the last or bytes not
// exactly the register's size. Values wider than the field (a selector, eflags) keep their low
// bits.
bool decode_register(std::uint64_t number, std::span<const std::uint8_t> bytes, X86Registers& regs);

// The target description: "target.xml" (architecture i386:x86-64, and every feature inline).
// nullopt for another annex.
std::optional<std::string_view> target_description(std::string_view annex);

}  // namespace hvk::gdb
