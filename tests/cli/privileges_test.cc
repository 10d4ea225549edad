// --privileges (src/cli/privileges.h): names applied in order to a base mask, or a number; every
// malformed list is refused with one line.
#include "cli/privileges.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using hvk::cli::parse_privileges;
using hvk::tlfs::Privilege;
using hvk::tlfs::privilege_bit;
using hvk::tlfs::PrivilegeMask;

constexpr PrivilegeMask kBase{privilege_bit(Privilege::kVpIndex) |
                              privilege_bit(Privilege::kHypercallMsrs)};

std::uint64_t parse_ok(const std::string& text) {
  std::string why;
  const auto m = parse_privileges(text, why, kBase);
  EXPECT_TRUE(m.has_value()) << text << ": " << why;
  return m ? m->raw : ~0ull;
}

std::string parse_error(const std::string& text) {
  std::string why;
  const auto m = parse_privileges(text, why, kBase);
  EXPECT_FALSE(m.has_value()) << text;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  return why;
}

TEST(Privileges, NamesApplyInOrderToTheBase) {
  const std::uint64_t start = privilege_bit(Privilege::kStartVirtualProcessor);
  const std::uint64_t vp_index = privilege_bit(Privilege::kVpIndex);
  EXPECT_EQ(parse_ok(""), kBase.raw);
  EXPECT_EQ(parse_ok("StartVirtualProcessor"), kBase.raw | start);
  EXPECT_EQ(parse_ok("+StartVirtualProcessor"), kBase.raw | start);
  EXPECT_EQ(parse_ok("-VpIndex"), kBase.raw & ~vp_index);
  EXPECT_EQ(parse_ok("none"), 0u);
  EXPECT_EQ(parse_ok("none,VpIndex"), vp_index);
  EXPECT_EQ(parse_ok("none,VpIndex,default"), kBase.raw);
  EXPECT_EQ(parse_ok("-VpIndex,+VpIndex"), kBase.raw);
}

TEST(Privileges, Numbers) {
  EXPECT_EQ(parse_ok("0x10"), 0x10u);
  EXPECT_EQ(parse_ok("16"), 16u);
  EXPECT_EQ(parse_ok("020"), 16u);
  EXPECT_EQ(parse_error("0x10,VpIndex"), "--privileges: '0x10,VpIndex' is not a number");
}

TEST(Privileges, EmptyItemsAreRefusedWherever) {
  for (const char* text : {",", ",VpIndex", "VpIndex,", "VpIndex,,HypercallMsrs", ",,", "none,",
                           "VpIndex,-HypercallMsrs,"}) {
    EXPECT_EQ(parse_error(text), std::string("--privileges: empty item in '") + text +
                                     "' (a leading, trailing or doubled comma)");
  }
}

TEST(Privileges, ASignNeedsAName) {
  EXPECT_EQ(parse_error("-"), "--privileges: '-' without a privilege name in '-'");
  EXPECT_EQ(parse_error("VpIndex,+"), "--privileges: '+' without a privilege name in 'VpIndex,+'");
}

TEST(Privileges, UnknownNames) {
  EXPECT_EQ(parse_error("Bogus"), "--privileges: unknown privilege 'Bogus'");
  EXPECT_EQ(parse_error("VpIndex,-bogus"), "--privileges: unknown privilege 'bogus'");
  EXPECT_EQ(parse_error("vpindex"), "--privileges: unknown privilege 'vpindex'");  // exact case
  EXPECT_EQ(parse_error(" VpIndex"), "--privileges: unknown privilege ' VpIndex'");
}

}  // namespace
