// TlbShootdown (machine/tlb/tlb_shootdown.h): posting flushes to VP threads and waiting for them.
#include "machine/tlb/tlb_shootdown.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace hvk::machine {
namespace {

TEST(TlbShootdown, ATargetServesWhatWasPostedAndTheWaiterSeesIt) {
  TlbShootdown s(2);
  const std::atomic<bool> stop{false};
  EXPECT_FALSE(s.pending(1));
  const std::uint64_t t = s.post(1, 0b010);
  s.post(1, 0b001);  // merged with the first
  EXPECT_TRUE(s.pending(1));
  std::uint32_t flushed = 0;
  int calls = 0;
  s.serve(1, [&](std::uint32_t m) {
    flushed |= m;
    ++calls;
  });
  EXPECT_EQ(flushed, 0b011u);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(s.pending(1));
  s.serve(1, [&](std::uint32_t) { ++calls; });  // nothing posted: not called
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(s.wait_served(1, t, 0, [] {}, stop));
}

TEST(TlbShootdown, TwoVpsFlushingEachOtherAtOnceBothFinish) {
  TlbShootdown s(2);
  const std::atomic<bool> stop{false};
  std::atomic<int> served[2] = {0, 0};
  std::atomic<int> finished{0};
  auto vp = [&](tlfs::VpIndex self, tlfs::VpIndex other) {
    auto serve_self = [&] { s.serve(self, [&](std::uint32_t) { served[self].fetch_add(1); }); };
    for (int i = 0; i < 200; ++i) {
      const std::uint64_t t = s.post(other, 1);
      // Neither thread serves outside the wait: each must serve the other from inside it.
      EXPECT_TRUE(s.wait_served(other, t, self, serve_self, stop));
    }
    // Like a VP thread, go on serving until the other is done too.
    finished.fetch_add(1);
    while (finished.load() < 2) serve_self();
  };
  std::thread a(vp, 0, 1);
  std::thread b(vp, 1, 0);
  a.join();
  b.join();
  EXPECT_GT(served[0].load(), 0);
  EXPECT_GT(served[1].load(), 0);
}

TEST(TlbShootdown, AWaitEndsWhenTheMachineStops) {
  TlbShootdown s(2);
  std::atomic<bool> stop{false};
  const std::uint64_t t = s.post(1, 1);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop = true;
  });
  EXPECT_FALSE(s.wait_served(1, t, 0, [] {}, stop));  // VP 1 never serves
  stopper.join();
}

}  // namespace
}  // namespace hvk::machine
