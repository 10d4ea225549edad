// The report lines of hvk bench's guests (src/cli/bench_common.h): "<guest>: <kind> k=v ...",
// picked by guest and kind, or of every kind with the kind named.
#include <gtest/gtest.h>

#include "cli/bench_common.h"

namespace hvk::cli::bench_detail {
namespace {

TEST(BenchFields, PicksTheGuestAndTheKind) {
  const std::string line = "bench-smp: latency method=svp vp=3 cycles=1200";
  const auto f = guest_fields(line, "bench-smp", "latency");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->at("method"), "svp");
  EXPECT_EQ(number(*f, "cycles"), 1200);
  EXPECT_EQ(f->count("kind"), 0u);
  EXPECT_FALSE(guest_fields(line, "bench-synic", "latency").has_value());
  EXPECT_FALSE(guest_fields(line, "bench-smp", "bringup").has_value());
  EXPECT_FALSE(guest_fields(line, "bench-smp", "late").has_value());  // a whole word only
}

TEST(BenchFields, AnyKindIsNamed) {
  const auto f =
      guest_fields("bench-synic: stimer_oneshot n=100 median=5 p99=9 max=12 tsc_hz=2000 clock=page",
                   "bench-synic", "");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->at("kind"), "stimer_oneshot");
  EXPECT_EQ(f->at("clock"), "page");
  EXPECT_EQ(number(*f, "p99"), 9);
  // Words without '=' (a skip's reason) are not fields; a kind alone is no report.
  const auto skip =
      guest_fields("bench-synic: stimer_direct skipped=1 (no direct mode)", "bench-synic", "");
  ASSERT_TRUE(skip.has_value());
  EXPECT_EQ(skip->size(), 2u);
  EXPECT_FALSE(guest_fields("bench-synic: done", "bench-synic", "").has_value());
}

}  // namespace
}  // namespace hvk::cli::bench_detail
