// HV_VP_SET (src/hv/vp_set.h): the formats, the banks of the variable header, the size check.
// Conformance row L7.
#include "hv/vp_set.h"

#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <cstdint>
#include <span>
#include <vector>

#include "engine_fixture.h"  // PrintTo for tlfs::Status

namespace hvk::test {
namespace {

using hv::parse_vp_set;
using hv::VarHeader;
using hv::VpSet;
namespace format = tlfs::vp_set_format;

// The variable header holding `words`, in order.
VarHeader banks(std::span<const std::uint64_t> words) {
  return VarHeader(std::as_bytes(words));
}

// The members of `s` below `limit`.
std::vector<tlfs::VpIndex> members(const VpSet& s, tlfs::VpIndex limit = 64 * VpSet::kBanks) {
  std::vector<tlfs::VpIndex> out;
  for (tlfs::VpIndex i = 0; i < limit; ++i) {
    if (s.contains(i)) out.push_back(i);
  }
  return out;
}

TEST(VpSet, MaskAndBanks) {
  const VpSet m = VpSet::from_mask(0x8000'0000'0000'0005ull);
  EXPECT_FALSE(m.all());
  EXPECT_EQ(members(m), (std::vector<tlfs::VpIndex>{0, 2, 63}));
  VpSet b;
  b.add_bank(1, 0b11);
  b.add_bank(1, 0b100);  // adds to the bank, does not replace it
  b.add_bank(63, 1ull << 63);
  b.add_bank(VpSet::kBanks, ~0ull);  // past the last bank: ignored
  EXPECT_EQ(members(b), (std::vector<tlfs::VpIndex>{64, 65, 66, 4095}));
  EXPECT_FALSE(b.contains(4096));
  EXPECT_FALSE(b.contains(0xFFFF'FFFFu));
  EXPECT_TRUE(VpSet::every_vp().all());
  EXPECT_TRUE(VpSet::every_vp().contains(0xFFFF'FFFFu));
}

TEST(VpSet, AllNamesEveryVpAndItsBanksAreNotLookedAt) {
  const auto none = parse_vp_set({format::kAll, 0}, banks({}));
  EXPECT_EQ(none.status, Status::kSuccess);
  EXPECT_TRUE(none.set.all());
  // A bank mask and a variable header of any size with it: still every VP, no error.
  const std::array<std::uint64_t, 3> words{0, 0, 0};
  const auto junk = parse_vp_set({format::kAll, 0b1}, banks(words));
  EXPECT_EQ(junk.status, Status::kSuccess);
  EXPECT_TRUE(junk.set.all());
  EXPECT_TRUE(junk.set.contains(0));
  EXPECT_TRUE(junk.set.contains(4095));
}

TEST(VpSet, SparseBanksNameTheirVps) {
  // Bank 0 only: bit i is VP i.
  const std::array<std::uint64_t, 1> one{0b1010};
  const auto a = parse_vp_set({format::kSparse4k, 0b1}, banks(one));
  ASSERT_EQ(a.status, Status::kSuccess);
  EXPECT_FALSE(a.set.all());
  EXPECT_EQ(members(a.set), (std::vector<tlfs::VpIndex>{1, 3}));
  // Banks 0 and 1: bank 1 is VPs 64..127.
  const std::array<std::uint64_t, 2> two{0b1, 0x8000'0000'0000'0001ull};
  const auto b = parse_vp_set({format::kSparse4k, 0b11}, banks(two));
  ASSERT_EQ(b.status, Status::kSuccess);
  EXPECT_EQ(members(b.set), (std::vector<tlfs::VpIndex>{0, 64, 127}));
}

TEST(VpSet, BankWordsArePackedInBankOrder) {
  // Banks 1, 3 and 63 valid: the three words are theirs, in that order; banks 0 and 2 are empty.
  const std::array<std::uint64_t, 3> words{0b1, 0b110, 1ull << 63};
  const auto s = parse_vp_set({format::kSparse4k, (1ull << 63) | 0b1010}, banks(words));
  ASSERT_EQ(s.status, Status::kSuccess);
  EXPECT_EQ(members(s.set), (std::vector<tlfs::VpIndex>{64, 193, 194, 4095}));
}

TEST(VpSet, AnEmptySparseSetIsValidAndNamesNoVp) {
  const auto s = parse_vp_set({format::kSparse4k, 0}, banks({}));
  EXPECT_EQ(s.status, Status::kSuccess);
  EXPECT_FALSE(s.set.all());
  EXPECT_TRUE(members(s.set).empty());
  // A valid bank whose word is zero names no VP either.
  const std::array<std::uint64_t, 1> zero{0};
  const auto z = parse_vp_set({format::kSparse4k, 0b100}, banks(zero));
  EXPECT_EQ(z.status, Status::kSuccess);
  EXPECT_TRUE(members(z.set).empty());
}

TEST(VpSet, AVariableHeaderOfAnotherSizeThanThePopcountIsInvalidInput) {
  const std::array<std::uint64_t, 3> words{1, 1, 1};
  const auto span = std::span<const std::uint64_t>(words);
  EXPECT_EQ(parse_vp_set({format::kSparse4k, 0b11}, banks(span.first(1))).status,
            Status::kInvalidHypercallInput);
  EXPECT_EQ(parse_vp_set({format::kSparse4k, 0b11}, banks(span)).status,
            Status::kInvalidHypercallInput);
  EXPECT_EQ(parse_vp_set({format::kSparse4k, 0}, banks(span.first(1))).status,
            Status::kInvalidHypercallInput);
  EXPECT_EQ(parse_vp_set({format::kSparse4k, ~0ull}, banks(span)).status,
            Status::kInvalidHypercallInput);
  EXPECT_EQ(parse_vp_set({format::kSparse4k, 0b11}, banks(span.first(2))).status,
            Status::kSuccess);
  // All 64 banks: 64 words.
  const std::vector<std::uint64_t> all(64, 0);
  EXPECT_EQ(parse_vp_set({format::kSparse4k, ~0ull}, banks(all)).status, Status::kSuccess);
}

TEST(VpSet, AnyOtherFormatIsInvalidParameterBeforeTheSizeIsChecked) {
  const std::array<std::uint64_t, 1> word{1};
  for (const std::uint64_t f : std::initializer_list<std::uint64_t>{2, 3, 0x100, ~0ull}) {
    EXPECT_EQ(parse_vp_set({f, 0b1}, banks(word)).status, Status::kInvalidParameter) << f;
    // The size does not match the mask either: the format decides.
    EXPECT_EQ(parse_vp_set({f, 0b11}, banks(word)).status, Status::kInvalidParameter) << f;
  }
}

}  // namespace
}  // namespace hvk::test
