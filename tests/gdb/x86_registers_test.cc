// The register table, the 'g'/'p' codec and the target description.
#include "gdb/x86_registers.h"

#include <gtest/gtest.h>

#include <string>

namespace hvk::gdb {
namespace {

// Every field set to something distinct, so a misplaced register shows.
X86Registers sample() {
  X86Registers r;
  for (std::size_t i = 0; i < 16; ++i) r.gpr[i] = 0x0101010101010101 * (i + 1);
  r.rip = 0xffffffff81000000;
  r.rflags = 0x246;
  r.cs = 0x10, r.ss = 0x18, r.ds = 0x18, r.es = 0x18, r.fs = 0x2b, r.gs = 0x33;
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t b = 0; b < 10; ++b) r.st[i][b] = static_cast<std::uint8_t>(0x80 + i * 10 + b);
  }
  r.fctrl = 0x37f, r.fstat = 1, r.ftag = 0xffff, r.fiseg = 2, r.fioff = 3, r.foseg = 4;
  r.fooff = 5, r.fop = 6;
  for (std::size_t i = 0; i < 16; ++i) {
    for (std::size_t b = 0; b < 16; ++b) r.xmm[i][b] = static_cast<std::uint8_t>(i * 16 + b);
  }
  r.mxcsr = 0x1f80;
  r.fs_base = 0x7000, r.gs_base = 0x8000;
  r.cr0 = 0x80050033, r.cr2 = 0xdead000, r.cr3 = 0x1000, r.cr4 = 0x3706f0, r.cr8 = 0xf;
  r.efer = 0xd01;
  r.cs_base = 1, r.ss_base = 2, r.ds_base = 3, r.es_base = 4, r.kernel_gs_base = 0xffff888000000000;
  r.gdtr_base = 0xfffffe0000001000, r.gdtr_limit = 0x7f;
  r.idtr_base = 0xfffffe0000000000, r.idtr_limit = 0xfff;
  r.tr = 0x40, r.tr_base = 0xfffffe0000003000, r.ldtr = 0x50, r.ldtr_base = 0x1234;
  return r;
}

std::uint64_t le(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = std::min<std::size_t>(bytes.size(), 8); i-- > 0;) v = v << 8 | bytes[i];
  return v;
}

TEST(X86Registers, TableOrderAndSizes) {
  const auto regs = registers();
  ASSERT_EQ(regs.size(), 78u);
  EXPECT_EQ(regs[0].name, "rax");
  EXPECT_EQ(regs[7].name, "rsp");
  EXPECT_EQ(regs[8].name, "r8");
  EXPECT_EQ(regs[16].name, "rip");
  EXPECT_EQ(regs[17].name, "eflags");
  EXPECT_EQ(regs[17].bytes, 4u);
  EXPECT_EQ(regs[24].name, "st0");
  EXPECT_EQ(regs[24].bytes, 10u);
  EXPECT_EQ(regs[39].name, "fop");
  EXPECT_EQ(regs[40].name, "xmm0");
  EXPECT_EQ(regs[40].bytes, 16u);
  EXPECT_EQ(regs[56].name, "mxcsr");
  EXPECT_EQ(regs[57].name, "fs_base");
  EXPECT_EQ(regs[59].name, "cr0");
  EXPECT_EQ(regs[71].name, "gdtr_limit");
  EXPECT_EQ(regs[71].bytes, 4u);
  EXPECT_EQ(regs[77].name, "ldtr_base");
  std::size_t total = 0;
  for (const RegisterInfo& r : regs) total += r.bytes;
  EXPECT_EQ(total, register_file_bytes());
  // 16x8 + 8 + 4 + 6x4 + 8x10 + 8x4 + 16x16 + 4 + 2x8 + 15x8 + 4x4.
  EXPECT_EQ(register_file_bytes(), 688u);
}

TEST(X86Registers, EncodeLayout) {
  const X86Registers r = sample();
  const auto g = encode_registers(r);
  ASSERT_EQ(g.size(), register_file_bytes());
  EXPECT_EQ(g[0], 0x01);    // rax's low byte
  EXPECT_EQ(g[128], 0x00);  // rip, little-endian
  EXPECT_EQ(g[135], 0xff);
  EXPECT_EQ(g[136], 0x46);  // eflags
  EXPECT_EQ(g[140], 0x10);  // cs, zero-extended to 4 bytes
  EXPECT_EQ(g[141], 0x00);
  EXPECT_EQ(g[164], 0x80);  // st0
  EXPECT_EQ(g[276], 0x00);  // xmm0
  EXPECT_EQ(g[532], 0x80);  // mxcsr 0x1f80
  EXPECT_EQ(g[687], 0x00);  // ldtr_base's top byte
  EXPECT_EQ(g[680], 0x34);
}

TEST(X86Registers, RoundTrip) {
  const X86Registers r = sample();
  const auto g = encode_registers(r);
  X86Registers back;
  ASSERT_TRUE(decode_registers(g, back));
  EXPECT_EQ(encode_registers(back), g);
  EXPECT_EQ(back.rip, r.rip);
  EXPECT_EQ(back.xmm, r.xmm);
  EXPECT_EQ(back.st, r.st);
  EXPECT_EQ(back.kernel_gs_base, r.kernel_gs_base);
  EXPECT_EQ(back.ldtr, r.ldtr);
}

TEST(X86Registers, DecodeWrongSizeLeavesRegistersAlone) {
  X86Registers r = sample();
  const auto before = encode_registers(r);
  std::vector<std::uint8_t> g(register_file_bytes() - 1, 0xaa);
  EXPECT_FALSE(decode_registers(g, r));
  g.resize(register_file_bytes() + 1, 0xaa);
  EXPECT_FALSE(decode_registers(g, r));
  EXPECT_FALSE(decode_registers({}, r));
  EXPECT_EQ(encode_registers(r), before);
}

TEST(X86Registers, OneRegisterFirstMiddleLast) {
  X86Registers r = sample();
  EXPECT_EQ(le(*encode_register(r, 0)), r.gpr[0]);
  EXPECT_EQ(encode_register(r, 0)->size(), 8u);
  EXPECT_EQ(*encode_register(r, 40), std::vector<std::uint8_t>(r.xmm[0].begin(), r.xmm[0].end()));
  EXPECT_EQ(le(*encode_register(r, 77)), r.ldtr_base);

  const std::vector<std::uint8_t> eight = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(decode_register(0, eight, r));
  EXPECT_EQ(r.gpr[0], 0x0807060504030201u);
  std::vector<std::uint8_t> sixteen(16, 0x5a);
  ASSERT_TRUE(decode_register(47, sixteen, r));
  EXPECT_EQ(r.xmm[7][15], 0x5a);
  ASSERT_TRUE(decode_register(77, eight, r));
  EXPECT_EQ(r.ldtr_base, 0x0807060504030201u);
  EXPECT_EQ(*encode_register(r, 77), eight);
}

TEST(X86Registers, NarrowFieldsKeepTheirLowBits) {
  X86Registers r = sample();
  const std::vector<std::uint8_t> four = {0x23, 0x01, 0xff, 0xff};
  ASSERT_TRUE(decode_register(18, four, r));  // cs: a 16-bit selector
  EXPECT_EQ(r.cs, 0x0123);
  EXPECT_EQ(*encode_register(r, 18), (std::vector<std::uint8_t>{0x23, 0x01, 0, 0}));
  r.rflags = 0xffffffff00000002;
  ASSERT_TRUE(decode_register(17, four, r));  // eflags into the 64-bit rflags
  EXPECT_EQ(r.rflags, 0xffff0123u);
  ASSERT_TRUE(decode_register(71, four, r));  // gdtr_limit
  EXPECT_EQ(r.gdtr_limit, 0x0123);
}

TEST(X86Registers, OutOfRangeAndWrongSizes) {
  X86Registers r = sample();
  const auto before = encode_registers(r);
  EXPECT_EQ(encode_register(r, 78), std::nullopt);
  EXPECT_EQ(encode_register(r, UINT64_MAX), std::nullopt);
  const std::vector<std::uint8_t> eight(8, 0xee);
  EXPECT_FALSE(decode_register(78, eight, r));
  EXPECT_FALSE(decode_register(UINT64_MAX, eight, r));
  EXPECT_FALSE(decode_register(17, eight, r));  // eflags is 4 bytes
  EXPECT_FALSE(decode_register(24, eight, r));  // st0 is 10
  EXPECT_FALSE(decode_register(0, std::vector<std::uint8_t>(4, 0xee), r));
  EXPECT_FALSE(decode_register(0, {}, r));
  EXPECT_EQ(encode_registers(r), before);
}

TEST(X86Registers, TargetDescription) {
  EXPECT_EQ(target_description("other.xml"), std::nullopt);
  EXPECT_EQ(target_description(""), std::nullopt);
  const auto xml = target_description("target.xml");
  ASSERT_TRUE(xml);
  const std::string text(*xml);
  EXPECT_NE(text.find("<architecture>i386:x86-64</architecture>"), std::string::npos);
  for (const char* f : {"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
                        "org.gnu.gdb.i386.segments", "org.hvk.x86.system"}) {
    EXPECT_NE(text.find(std::string("<feature name=\"") + f + "\">"), std::string::npos) << f;
  }
  const auto regs = registers();
  for (std::size_t i = 0; i < regs.size(); ++i) {
    const std::string reg = "<reg name=\"" + std::string(regs[i].name) + "\" bitsize=\"" +
                            std::to_string(regs[i].bytes * 8) + "\"";
    const std::size_t at = text.find(reg);
    ASSERT_NE(at, std::string::npos) << regs[i].name;
    const std::size_t end = text.find("/>", at);
    const std::string line = text.substr(at, end - at);
    EXPECT_NE(line.find(" regnum=\"" + std::to_string(i) + "\""), std::string::npos) << line;
  }
  EXPECT_EQ(text.find(" regnum=\"78\""), std::string::npos);
}

}  // namespace
}  // namespace hvk::gdb
