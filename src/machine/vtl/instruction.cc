#include "machine/vtl/instruction.h"

#include <Zydis/Zydis.h>

namespace hvk::machine {

std::optional<std::uint8_t> instruction_length(std::span<const std::uint8_t> bytes, CodeMode mode) {
  ZydisDecoder decoder;
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
  if (!ZYAN_SUCCESS(s)) return std::nullopt;
  ZydisDecodedInstruction insn;
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&decoder, nullptr, bytes.data(), bytes.size(),
                                                  &insn))) {
    return std::nullopt;
  }
  return insn.length;
}

}  // namespace hvk::machine
