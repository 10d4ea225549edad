// The instruction decoding VTL protections rely on (machine/vtl/instruction.h): lengths, the
// memory operands an instruction touches and how it touches them, and which instructions change
// nothing but memory (a denied store is undone by putting RIP back only for those).
#include "machine/vtl/instruction.h"

#include <gtest/gtest.h>

#include <vector>

namespace hvk::machine {
namespace {

constexpr std::size_t kRax = 0, kRcx = 1, kRsp = 4, kRsi = 6, kRdi = 7;

std::optional<DecodedInstruction> decode(std::vector<std::uint8_t> bytes, AddressRegisters r = {},
                                         CodeMode mode = CodeMode::k64) {
  return decode_instruction(bytes, mode, r);
}

TEST(Instruction, LengthsInEachMode) {
  const std::uint8_t mov64[] = {0x48, 0x8b, 0x00};  // mov (%rax), %rax
  EXPECT_EQ(instruction_length(mov64, CodeMode::k64), 3);
  const std::uint8_t mov32[] = {0x89, 0x00};  // mov %eax, (%rax)
  EXPECT_EQ(instruction_length(mov32, CodeMode::k64), 2);
  // 0x48 is `dec %eax` outside 64-bit mode: a one-byte instruction of its own.
  EXPECT_EQ(instruction_length(mov64, CodeMode::k32), 1);
  const std::uint8_t truncated[] = {0x48, 0x8b};
  EXPECT_FALSE(instruction_length(truncated, CodeMode::k64));
  const std::uint8_t invalid[] = {0x0f, 0x0a, 0xff};  // 0f 0a: no such opcode
  EXPECT_FALSE(instruction_length(invalid, CodeMode::k64));
}

TEST(Instruction, APlainStoreTouchesItsOperandAndNothingElse) {
  AddressRegisters r;
  r.gpr[kRax] = 0x5000;
  const auto d = decode({0x48, 0x89, 0x00}, r);  // mov %rax, (%rax)
  ASSERT_TRUE(d);
  EXPECT_EQ(d->length, 3);
  EXPECT_TRUE(d->only_stores);
  ASSERT_EQ(d->access_count, 1u);
  EXPECT_EQ(d->accesses[0].gva, 0x5000u);
  EXPECT_EQ(d->accesses[0].size, 8u);
  EXPECT_TRUE(d->accesses[0].write);
  EXPECT_FALSE(d->accesses[0].read);
}

TEST(Instruction, ALoadReadsItsOperand) {
  AddressRegisters r;
  r.gpr[kRax] = 0x6000;
  const auto d = decode({0x0f, 0xb6, 0x40, 0x10}, r);  // movzbl 0x10(%rax), %eax
  ASSERT_TRUE(d);
  ASSERT_EQ(d->access_count, 1u);
  EXPECT_EQ(d->accesses[0].gva, 0x6010u);
  EXPECT_EQ(d->accesses[0].size, 1u);
  EXPECT_TRUE(d->accesses[0].read);
  EXPECT_FALSE(d->accesses[0].write);
  EXPECT_FALSE(d->only_stores);  // it writes a register
}

TEST(Instruction, ReadModifyWriteAndFlagsAreNotPlainStores) {
  const auto add = decode({0x48, 0x01, 0x00});  // add %rax, (%rax)
  ASSERT_TRUE(add);
  ASSERT_EQ(add->access_count, 1u);
  EXPECT_TRUE(add->accesses[0].read);
  EXPECT_TRUE(add->accesses[0].write);
  EXPECT_FALSE(add->only_stores);  // it changes the flags
}

TEST(Instruction, StringAndStackInstructionsChangeRegisters) {
  AddressRegisters r;
  r.gpr[kRdi] = 0x7000;
  r.gpr[kRsi] = 0x8000;
  r.gpr[kRcx] = 16;
  const auto stos = decode({0xf3, 0xaa}, r);  // rep stosb
  ASSERT_TRUE(stos);
  EXPECT_FALSE(stos->only_stores);
  bool wrote_rdi = false;
  for (std::size_t i = 0; i < stos->access_count; ++i) {
    if (stos->accesses[i].write && stos->accesses[i].gva == 0x7000) wrote_rdi = true;
  }
  EXPECT_TRUE(wrote_rdi);
  r.gpr[kRax] = 0x9000;
  r.gpr[kRsp] = 0xA000;
  const auto call = decode({0xff, 0xd0}, r);  // call *%rax
  ASSERT_TRUE(call);
  EXPECT_EQ(call->length, 2);
  EXPECT_FALSE(call->only_stores);  // a branch, and RSP
}

TEST(Instruction, SegmentBasesAndRipRelativeAddresses) {
  AddressRegisters r;
  r.gpr[kRax] = 0x100;
  r.fs_base = 0x7fff'0000;
  const auto fs = decode({0x64, 0x48, 0x89, 0x00}, r);  // mov %rax, %fs:(%rax)
  ASSERT_TRUE(fs);
  ASSERT_EQ(fs->access_count, 1u);
  EXPECT_EQ(fs->accesses[0].gva, 0x7fff'0100u);
  EXPECT_TRUE(fs->only_stores);
  r.rip = 0x40'0000;
  const auto rel = decode({0x48, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00}, r);  // mov %rax, 0x10(%rip)
  ASSERT_TRUE(rel);
  ASSERT_EQ(rel->access_count, 1u);
  EXPECT_EQ(rel->accesses[0].gva, 0x40'0000u + 7 + 0x10);
}

}  // namespace
}  // namespace hvk::machine
