// Byte-exact ABI: codecs, names, and decoding a StartVirtualProcessor input as Linux lays it out.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <set>
#include <string>

#include "hv/linux_context.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/control.h"
#include "hvk/tlfs/inputs.h"
#include "hvk/tlfs/privileges.h"
#include "hvk/tlfs/registers.h"

namespace hvk::tlfs {
namespace {

TEST(ControlWord, DecodesEveryField) {
  const HypercallControl c{0x0099ull | (1ull << 16) | (5ull << 17) | (1ull << 31) |
                           (0x123ull << 32) | (0xABCull << 48)};
  EXPECT_EQ(c.code(), 0x0099);
  EXPECT_TRUE(c.fast());
  EXPECT_EQ(c.var_header_qwords(), 5);
  EXPECT_TRUE(c.nested());
  EXPECT_EQ(c.rep_count(), 0x123);
  EXPECT_EQ(c.rep_start(), 0xABC);
  EXPECT_EQ(c.reserved_bits(), 0u);
}

TEST(ControlWord, ReservedBitsAreExactly30to27_47to44_63to60) {
  for (unsigned bit = 0; bit < 64; ++bit) {
    const bool reserved = (bit >= 27 && bit <= 30) || (bit >= 44 && bit <= 47) || bit >= 60;
    EXPECT_EQ(HypercallControl{1ull << bit}.reserved_bits() != 0, reserved) << "bit " << bit;
  }
}

TEST(ControlWord, MakeRoundTripsAndRepStartIsReplaced) {
  const auto c = HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, 7, 3, 2);
  EXPECT_EQ(c.code(), 0x009A);
  EXPECT_FALSE(c.fast());
  EXPECT_EQ(c.rep_count(), 7);
  EXPECT_EQ(c.rep_start(), 3);
  EXPECT_EQ(c.var_header_qwords(), 2);
  const auto d = c.with_rep_start(6);
  EXPECT_EQ(d.rep_start(), 6);
  EXPECT_EQ(d.raw & ~(0xFFFull << 48), c.raw & ~(0xFFFull << 48));
}

TEST(ResultValue, StatusAndRepsCompletedOnly) {
  const auto r = HypercallResult::make(Status::kInvalidParameter, 0xFFF);
  EXPECT_EQ(r.raw, 0x0000'0FFF'0000'0005ull);
  EXPECT_EQ(r.status(), Status::kInvalidParameter);
  EXPECT_EQ(r.reps_completed(), 0xFFF);
}

TEST(Status, EveryCodeHasADistinctTlfsName) {
  std::set<std::string> names;
  std::set<std::uint16_t> codes;
  for (Status s : kAllStatuses) {
    ASSERT_NE(status_name(s), nullptr);
    EXPECT_EQ(std::string(status_name(s)).rfind("HV_STATUS_", 0), 0u);
    names.insert(status_name(s));
    codes.insert(static_cast<std::uint16_t>(s));
  }
  EXPECT_EQ(names.size(), std::size(kAllStatuses));
  EXPECT_EQ(codes.size(), std::size(kAllStatuses));
  EXPECT_EQ(std::size(kAllStatuses), 41u);  // notes §2
  EXPECT_EQ(status_name(static_cast<Status>(0x0001)), nullptr);
  EXPECT_STREQ(status_name(Status::kInvalidVtlState), "HV_STATUS_INVALID_VTL_STATE");
  EXPECT_EQ(static_cast<int>(Status::kInvalidVtlState), 0x51);
  EXPECT_EQ(static_cast<int>(Status::kVtlAlreadyEnabled), 0x86);
}

TEST(CallCodes, TheSeedAndItsNeighbours) {
  EXPECT_EQ(static_cast<int>(CallCode::kStartVirtualProcessor), 0x0099);
  EXPECT_EQ(static_cast<int>(CallCode::kGetVpIndexFromApicId), 0x009A);
  EXPECT_EQ(static_cast<int>(CallCode::kEnableVpVtl), 0x000F);
  EXPECT_EQ(static_cast<int>(CallCode::kEnablePartitionVtl), 0x000D);
  EXPECT_EQ(static_cast<int>(CallCode::kGetNextChildPartition), 0x0047);
  EXPECT_STREQ(call_name(CallCode::kStartVirtualProcessor), "HvCallStartVirtualProcessor");
}

TEST(InputVtl, Fields) {
  EXPECT_EQ(InputVtl{0x12}.target_vtl(), 2);
  EXPECT_TRUE(InputVtl{0x12}.use_target_vtl());
  EXPECT_FALSE(InputVtl{0x02}.use_target_vtl());
  for (unsigned b = 5; b < 8; ++b)
    EXPECT_TRUE(InputVtl{static_cast<std::uint8_t>(1u << b)}.reserved_set());
  EXPECT_FALSE(InputVtl{0x1F}.reserved_set());
  EXPECT_EQ(InputVtl::target(2).raw, 0x12);
}

TEST(Privileges, CpuidSplit) {
  PrivilegeMask m{privilege_bit(Privilege::kStartVirtualProcessor) |
                  privilege_bit(Privilege::kHypercallMsrs)};
  EXPECT_EQ(m.cpuid_eax(), 1u << 5);
  EXPECT_EQ(m.cpuid_ebx(), 1u << 21);
  EXPECT_TRUE(m.has(Privilege::kStartVirtualProcessor));
  EXPECT_FALSE(m.has(Privilege::kCpuManagement));
}

TEST(Registers, NamesOfNotes6) {
  EXPECT_EQ(static_cast<std::uint32_t>(RegisterName::kVsmVpStatus), 0x000D0003u);
  EXPECT_EQ(static_cast<std::uint32_t>(RegisterName::kTr), 0x00060007u);
  EXPECT_EQ(static_cast<std::uint32_t>(RegisterName::kPat), 0x00080004u);
  EXPECT_STREQ(register_name(RegisterName::kGdtr), "Gdtr");
}

// A 240-byte HvCallStartVirtualProcessor input laid out byte by byte as Linux's hv_vtl.c fills
// struct hv_enable_vp_vtl for an AP (PartitionId SELF, VP 3, VTL 2, 64-bit context).
constexpr std::array<std::uint8_t, 240> kLinuxCapture = [] {
  std::array<std::uint8_t, 240> b{};
  auto put = [&b](std::size_t off, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
  };
  put(0, 0xFFFF'FFFF'FFFF'FFFFull, 8);  // PartitionId
  put(8, 3, 4);                         // VpIndex
  put(12, 2, 1);                        // TargetVtl
  const std::size_t c = 16;
  put(c + 0, 0xFFFF'FFFF'8100'0120ull, 8);              // Rip
  put(c + 8, 0xFFFF'C900'0001'3F58ull, 8);              // Rsp
  put(c + 16, 0x2, 8);                                  // Rflags
  put(c + 24 + 8, 0xFFFF'FFFF, 4);                      // Cs.Limit
  put(c + 24 + 12, 0x10, 2);                            // Cs.Selector
  put(c + 24 + 14, 0xA09B, 2);                          // Cs.Attributes
  for (std::size_t seg : {40u, 56u, 72u, 88u, 104u}) {  // Ds Es Fs Gs Ss
    put(c + seg + 8, 0xFFFF'FFFF, 4);
    put(c + seg + 12, 0x18, 2);
    put(c + seg + 14, 0xC093, 2);
  }
  put(c + 120 + 0, 0xFFFF'FE00'0000'3000ull, 8);  // Tr.Base
  put(c + 120 + 8, 0x4087, 4);                    // Tr.Limit
  put(c + 120 + 12, 0x40, 2);                     // Tr.Selector
  put(c + 120 + 14, 0x8B, 2);                     // Tr.Attributes
  put(c + 136 + 12, 0x50, 2);                     // Ldtr.Selector
  put(c + 136 + 14, 0x82, 2);                     // Ldtr.Attributes
  put(c + 152 + 6, 0xFFF, 2);                     // Idtr.Limit
  put(c + 152 + 8, 0xFFFF'FFFF'FF57'9000ull, 8);  // Idtr.Base
  put(c + 168 + 6, 0x7F, 2);                      // Gdtr.Limit
  put(c + 168 + 8, 0xFFFF'FE00'0000'1000ull, 8);  // Gdtr.Base
  put(c + 184, 0xD01, 8);                         // Efer
  put(c + 192, 0x8005'0033, 8);                   // Cr0
  put(c + 200, 0x0000'0001'0A80'A000ull, 8);      // Cr3
  put(c + 208, 0x0037'06F0, 8);                   // Cr4
  put(c + 216, 0x0007'0106'0007'0106ull, 8);      // MsrCrPat
  return b;
}();

TEST(StartVirtualProcessorInput, DecodesTheLinuxLayoutByteForByte) {
  const auto bytes = std::as_bytes(std::span(kLinuxCapture));
  const auto in = load<StartVirtualProcessorInput>(bytes);
  EXPECT_EQ(in.partition_id, kPartitionIdSelf);
  EXPECT_EQ(in.vp_index, 3u);
  EXPECT_EQ(in.target_vtl, 2);
  const InitialVpContext& c = in.vp_context;
  EXPECT_EQ(c.rip, 0xFFFF'FFFF'8100'0120ull);
  EXPECT_EQ(c.rsp, 0xFFFF'C900'0001'3F58ull);
  EXPECT_EQ(c.rflags, 2u);
  EXPECT_EQ(c.cs.selector, 0x10);
  EXPECT_EQ(c.cs.attributes, 0xA09B);
  EXPECT_EQ(c.cs.limit, 0xFFFF'FFFFu);
  EXPECT_TRUE(c.cs.long_mode());
  EXPECT_FALSE(c.cs.default_big());
  EXPECT_TRUE(c.cs.present());
  EXPECT_EQ(c.cs.type(), 0xBu);
  for (const SegmentRegister* s : {&c.ds, &c.es, &c.fs, &c.gs, &c.ss}) {
    EXPECT_EQ(s->selector, 0x18);
    EXPECT_EQ(s->attributes, 0xC093);
  }
  EXPECT_EQ(c.tr.base, 0xFFFF'FE00'0000'3000ull);
  EXPECT_EQ(c.tr.limit, 0x4087u);
  EXPECT_EQ(c.tr.attributes, 0x8B);
  EXPECT_EQ(c.ldtr.selector, 0x50);
  EXPECT_EQ(c.ldtr.attributes, 0x82);
  EXPECT_EQ(c.idtr.limit, 0xFFF);
  EXPECT_EQ(c.idtr.base, 0xFFFF'FFFF'FF57'9000ull);
  EXPECT_EQ(c.gdtr.limit, 0x7F);
  EXPECT_EQ(c.gdtr.base, 0xFFFF'FE00'0000'1000ull);
  EXPECT_EQ(c.efer, 0xD01u);
  EXPECT_EQ(c.cr0, 0x8005'0033u);
  EXPECT_EQ(c.cr3, 0x0000'0001'0A80'A000ull);
  EXPECT_EQ(c.cr4, 0x0037'06F0u);
  EXPECT_EQ(c.msr_cr_pat, 0x0007'0106'0007'0106ull);

  // And back: encoding the decoded struct gives the same 240 bytes.
  std::array<std::byte, 240> again{};
  store(std::span(again), in);
  EXPECT_EQ(std::memcmp(again.data(), kLinuxCapture.data(), 240), 0);
}

TEST(StartVirtualProcessorInput, DecodesFromAnUnalignedBuffer) {
  std::array<std::byte, 241> shifted{};
  std::memcpy(shifted.data() + 1, kLinuxCapture.data(), 240);
  const auto in = load<StartVirtualProcessorInput>(std::span<const std::byte>(shifted), 1);
  EXPECT_EQ(in.vp_context.cs.attributes, 0xA09B);
  EXPECT_EQ(in.vp_context.msr_cr_pat, 0x0007'0106'0007'0106ull);
}

TEST(LinuxContext, MatchesTheCallersSegments) {
  const auto c = hv::linux_ap_context(0x1000, 0x2000);
  EXPECT_EQ(c.cs.attributes, 0xA09B);
  EXPECT_EQ(c.ss.attributes, 0xC093);
  EXPECT_EQ(c.ldtr.attributes, 0x82);
  EXPECT_EQ(c.tr.attributes, 0x8B);
}

}  // namespace
}  // namespace hvk::tlfs
