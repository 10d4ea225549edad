#include "machine/vtl/instruction.h"

#include <Zydis/Zydis.h>

namespace hvk::machine {

namespace {
bool init(ZydisDecoder& decoder, CodeMode mode) {
  ZyanStatus s = ZYAN_STATUS_SUCCESS;
  switch (mode) {
    case CodeMode::k64:
      s = ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
      break;
    case CodeMode::k32:
      s = ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
      break;
    case CodeMode::k16:
      s = ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
      break;
  }
  return ZYAN_SUCCESS(s);
}

// Zydis's register numbers for the 16 general registers at each width.
constexpr ZydisRegister kGpr64[16] = {
    ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RBX,
    ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI,
    ZYDIS_REGISTER_R8,  ZYDIS_REGISTER_R9,  ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R11,
    ZYDIS_REGISTER_R12, ZYDIS_REGISTER_R13, ZYDIS_REGISTER_R14, ZYDIS_REGISTER_R15};
constexpr ZydisRegister kGpr32[16] = {
    ZYDIS_REGISTER_EAX,  ZYDIS_REGISTER_ECX,  ZYDIS_REGISTER_EDX,  ZYDIS_REGISTER_EBX,
    ZYDIS_REGISTER_ESP,  ZYDIS_REGISTER_EBP,  ZYDIS_REGISTER_ESI,  ZYDIS_REGISTER_EDI,
    ZYDIS_REGISTER_R8D,  ZYDIS_REGISTER_R9D,  ZYDIS_REGISTER_R10D, ZYDIS_REGISTER_R11D,
    ZYDIS_REGISTER_R12D, ZYDIS_REGISTER_R13D, ZYDIS_REGISTER_R14D, ZYDIS_REGISTER_R15D};
constexpr ZydisRegister kGpr16[8] = {ZYDIS_REGISTER_AX, ZYDIS_REGISTER_CX, ZYDIS_REGISTER_DX,
                                     ZYDIS_REGISTER_BX, ZYDIS_REGISTER_SP, ZYDIS_REGISTER_BP,
                                     ZYDIS_REGISTER_SI, ZYDIS_REGISTER_DI};
}  // namespace

std::optional<std::uint8_t> instruction_length(std::span<const std::uint8_t> bytes, CodeMode mode) {
  ZydisDecoder decoder;
  if (!init(decoder, mode)) return std::nullopt;
  ZydisDecodedInstruction insn;
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&decoder, nullptr, bytes.data(), bytes.size(),
                                                  &insn))) {
    return std::nullopt;
  }
  return insn.length;
}

std::optional<DecodedInstruction> decode_instruction(std::span<const std::uint8_t> bytes,
                                                     CodeMode mode, const AddressRegisters& regs) {
  ZydisDecoder decoder;
  if (!init(decoder, mode)) return std::nullopt;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, bytes.data(), bytes.size(), &insn, ops))) {
    return std::nullopt;
  }
  ZydisRegisterContext ctx{};
  for (std::size_t i = 0; i < 16; ++i) {
    ctx.values[kGpr64[i]] = regs.gpr[i];
    ctx.values[kGpr32[i]] = regs.gpr[i] & 0xFFFF'FFFFu;
    if (i < 8) ctx.values[kGpr16[i]] = regs.gpr[i] & 0xFFFFu;
  }
  ctx.values[ZYDIS_REGISTER_RIP] = regs.rip;
  ctx.values[ZYDIS_REGISTER_EIP] = regs.rip & 0xFFFF'FFFFu;
  DecodedInstruction d;
  d.length = insn.length;
  d.only_stores = insn.meta.branch_type == ZYDIS_BRANCH_TYPE_NONE;
  if (insn.cpu_flags != nullptr &&
      (insn.cpu_flags->modified | insn.cpu_flags->set_0 | insn.cpu_flags->set_1 |
       insn.cpu_flags->undefined) != 0) {
    d.only_stores = false;
  }
  if (insn.fpu_flags != nullptr &&
      (insn.fpu_flags->modified | insn.fpu_flags->set_0 | insn.fpu_flags->set_1 |
       insn.fpu_flags->undefined) != 0) {
    d.only_stores = false;
  }
  bool stores = false;
  for (std::size_t i = 0; i < insn.operand_count; ++i) {
    const ZydisDecodedOperand& op = ops[i];
    const bool writes = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
    if (!writes) continue;
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
      stores = true;
    } else {
      d.only_stores = false;  // a register, RSP of a push, RDI of a stos, ...
    }
  }
  d.only_stores = d.only_stores && stores;
  for (std::size_t i = 0; i < insn.operand_count && d.access_count < d.accesses.size(); ++i) {
    const ZydisDecodedOperand& op = ops[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.type != ZYDIS_MEMOP_TYPE_MEM) continue;
    ZyanU64 address = 0;
    if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddressEx(&insn, &op, regs.rip, &ctx, &address))) continue;
    if (op.mem.segment == ZYDIS_REGISTER_FS) address += regs.fs_base;
    if (op.mem.segment == ZYDIS_REGISTER_GS) address += regs.gs_base;
    MemoryAccess a;
    a.gva = address;
    a.size = op.size == 0 ? 1u : static_cast<std::uint32_t>((op.size + 7u) / 8u);
    a.read = (op.actions & ZYDIS_OPERAND_ACTION_MASK_READ) != 0;
    a.write = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
    d.accesses[d.access_count++] = a;
  }
  return d;
}

}  // namespace hvk::machine
