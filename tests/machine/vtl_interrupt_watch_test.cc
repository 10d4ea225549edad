// The VTL interrupt watch (src/machine/vtl/vtl_interrupt_watch.h) with a recording poke: it polls
// the VPs below a VTL while any VP runs that VTL, looks once more after the last leaves, fires the
// timers it is given, and stops. Conformance T12.
//
// Timing: the machine this runs on may be loaded, so every wait is "until it happens, within
// seconds", and no test bounds how late or how often a poke comes; only "not before its deadline"
// and "never" (for what must not happen at all) are asserted.
#include "machine/vtl/vtl_interrupt_watch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hvk::machine {
namespace {

using Clock = VtlInterruptWatch::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kPatience = seconds(10);  // how long anything that must happen may take

struct Poke {
  tlfs::VpIndex vp;
  tlfs::Vtl vtl;
  bool timer_due;
  Clock::time_point at;
};

// The pokes, as the watch's thread makes them.
class Pokes {
 public:
  VtlInterruptWatch::Poke callback() {
    return [this](tlfs::VpIndex vp, tlfs::Vtl vtl, bool timer_due) {
      {
        std::lock_guard lock(mu_);
        all_.push_back({vp, vtl, timer_due, Clock::now()});
      }
      cv_.notify_all();
    };
  }
  // Waits until `done(pokes)` holds; false if it does not within kPatience.
  bool wait_for(const std::function<bool(const std::vector<Poke>&)>& done) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return done(all_); });
  }
  // Waits until at least `n` pokes match `match`.
  bool wait_count(std::size_t n, const std::function<bool(const Poke&)>& match) {
    return wait_for([&](const std::vector<Poke>& all) { return count_in(all, match) >= n; });
  }
  std::size_t count(const std::function<bool(const Poke&)>& match) {
    std::lock_guard lock(mu_);
    return count_in(all_, match);
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return all_.size();
  }
  std::vector<Poke> snapshot() {
    std::lock_guard lock(mu_);
    return all_;
  }
  // Waits until no poke comes for `quiet` (checked over and over, within kPatience); false if
  // the pokes never stop.
  bool wait_quiet(Clock::duration quiet) {
    const auto give_up = Clock::now() + kPatience;
    std::size_t seen = size();
    while (Clock::now() < give_up) {
      std::this_thread::sleep_for(quiet);
      const std::size_t now = size();
      if (now == seen) return true;
      seen = now;
    }
    return false;
  }

 private:
  static std::size_t count_in(const std::vector<Poke>& all,
                              const std::function<bool(const Poke&)>& match) {
    std::size_t n = 0;
    for (const Poke& p : all) n += match(p) ? 1 : 0;
    return n;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Poke> all_;
};

auto poll_of(tlfs::VpIndex vp, tlfs::Vtl vtl) {
  return [vp, vtl](const Poke& p) { return p.vp == vp && p.vtl == vtl && !p.timer_due; };
}
auto timer_of(tlfs::VpIndex vp, tlfs::Vtl vtl) {
  return [vp, vtl](const Poke& p) { return p.vp == vp && p.vtl == vtl && p.timer_due; };
}

TEST(VtlInterruptWatch, NothingAboveVtl0MeansNoPoke) {
  Pokes pokes;
  VtlInterruptWatch watch(3, pokes.callback());
  for (tlfs::VpIndex vp = 0; vp < 3; ++vp) watch.switched(vp, 0);  // already there: no change
  // Out of range: a VP the watch does not have, a VTL above kMaxVtl.
  watch.switched(3, 1);
  watch.switched(0, tlfs::kMaxVtl + 1);
  watch.arm_timer(3, 1, Clock::now());
  watch.arm_timer(0, tlfs::kMaxVtl + 1, Clock::now());
  std::this_thread::sleep_for(milliseconds(100));
  watch.stop();
  EXPECT_EQ(pokes.size(), 0u);
}

TEST(VtlInterruptWatch, WhileAVpRunsVtl1TheVpsBelowItArePolledAgainAndAgain) {
  Pokes pokes;
  VtlInterruptWatch watch(3, pokes.callback());
  watch.switched(1, 1);
  // About once a millisecond; 20 is a few tens of ms unloaded, within seconds loaded.
  ASSERT_TRUE(pokes.wait_count(20, poll_of(0, 1)));
  ASSERT_TRUE(pokes.wait_count(20, poll_of(2, 1)));
  watch.stop();
  // Only VTL 1's APICs of the VPs below it; never VP 1 (it runs VTL 1), never a timer.
  for (const Poke& p : pokes.snapshot()) {
    EXPECT_EQ(p.vtl, 1);
    EXPECT_FALSE(p.timer_due);
    EXPECT_NE(p.vp, 1u);
  }
}

TEST(VtlInterruptWatch, AfterTheLastVpLeavesVtl1ItLooksOnceMoreThenRests) {
  Pokes pokes;
  VtlInterruptWatch watch(2, pokes.callback());
  watch.switched(1, 1);
  ASSERT_TRUE(pokes.wait_count(5, poll_of(0, 1)));
  EXPECT_EQ(pokes.count(poll_of(1, 1)), 0u);
  watch.switched(1, 0);
  // The final look covers VP 1 too, now below VTL 1 (an IPI sent to it from VTL 1 just before).
  ASSERT_TRUE(pokes.wait_count(1, poll_of(1, 1)));
  // Then the pokes stop: 200 periods without one.
  ASSERT_TRUE(pokes.wait_quiet(milliseconds(200)));
  // Entering VTL 1 again wakes the resting watch.
  const std::size_t before = pokes.count(poll_of(0, 1));
  watch.switched(1, 1);
  EXPECT_TRUE(pokes.wait_count(before + 5, poll_of(0, 1)));
  watch.switched(1, 0);
  EXPECT_TRUE(pokes.wait_quiet(milliseconds(200)));
}

TEST(VtlInterruptWatch, ABriefStayInVtl1IsStillLookedAt) {
  Pokes pokes;
  VtlInterruptWatch watch(3, pokes.callback());
  // In and out before the watch's thread has even started: the mark remains, and every VP (all
  // now in VTL 0) is looked at once.
  watch.switched(2, 1);
  watch.switched(2, 0);
  for (tlfs::VpIndex vp = 0; vp < 3; ++vp) EXPECT_TRUE(pokes.wait_count(1, poll_of(vp, 1))) << vp;
  EXPECT_TRUE(pokes.wait_quiet(milliseconds(200)));
}

TEST(VtlInterruptWatch, EachVtlPollsTheVpsBelowIt) {
  Pokes pokes;
  VtlInterruptWatch watch(3, pokes.callback());
  watch.switched(0, 2);
  watch.switched(1, 1);
  // VTL 2 runs on VP 0: VPs 1 and 2 are below it. VTL 1 runs on VP 1: VP 2 is below it, VP 0
  // is above it.
  ASSERT_TRUE(pokes.wait_count(3, poll_of(1, 2)));
  ASSERT_TRUE(pokes.wait_count(3, poll_of(2, 2)));
  ASSERT_TRUE(pokes.wait_count(3, poll_of(2, 1)));
  watch.stop();
  EXPECT_EQ(pokes.count(poll_of(0, 2)), 0u);
  EXPECT_EQ(pokes.count(poll_of(0, 1)), 0u);
  EXPECT_EQ(pokes.count(poll_of(1, 1)), 0u);
}

TEST(VtlInterruptWatch, ATimerPokesItsVpOnceAtOrAfterItsDeadline) {
  Pokes pokes;
  VtlInterruptWatch watch(3, pokes.callback());
  const auto deadline = Clock::now() + milliseconds(50);
  watch.arm_timer(2, 1, deadline);
  ASSERT_TRUE(pokes.wait_count(1, timer_of(2, 1)));
  const std::vector<Poke> got = pokes.snapshot();
  ASSERT_EQ(got.size(), 1u);  // nothing else: no VP runs a VTL above 0
  EXPECT_GE(got[0].at, deadline);
  // Fired once: it is not armed any more.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(pokes.size(), 1u);
  // A deadline already passed fires at once.
  watch.arm_timer(0, 2, Clock::now() - seconds(1));
  EXPECT_TRUE(pokes.wait_count(1, timer_of(0, 2)));
}

TEST(VtlInterruptWatch, ArmingAgainReplacesTheTimer) {
  Pokes pokes;
  VtlInterruptWatch watch(2, pokes.callback());
  // An earlier deadline replaces a far one (an hour away: it would not fire within the test).
  watch.arm_timer(0, 1, Clock::now() + std::chrono::hours(1));
  watch.arm_timer(0, 1, Clock::now() + milliseconds(20));
  ASSERT_TRUE(pokes.wait_count(1, timer_of(0, 1)));
  // A later deadline replaces a nearer one: the poke comes at the later one. (Unless this thread
  // was held up past the first deadline before it could replace it: then nothing is asserted.)
  const auto first = Clock::now() + milliseconds(100);
  watch.arm_timer(1, 1, first);
  const auto later = Clock::now() + milliseconds(300);
  watch.arm_timer(1, 1, later);
  const bool replaced_in_time = Clock::now() < first;
  ASSERT_TRUE(pokes.wait_count(1, timer_of(1, 1)));
  if (replaced_in_time) {
    const std::vector<Poke> got = pokes.snapshot();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_GE(got[1].at, later);
  }
}

TEST(VtlInterruptWatch, AClearedTimerNeverFires) {
  Pokes pokes;
  VtlInterruptWatch watch(3, pokes.callback());
  const auto deadline = Clock::now() + milliseconds(100);
  watch.arm_timer(0, 1, deadline);
  watch.arm_timer(1, 2, deadline);
  watch.clear_timer(0, 1);
  const bool cleared_in_time = Clock::now() < deadline;
  // Another VP's timer, due later than the cleared one: once it has fired, the cleared one would
  // have been due too.
  watch.arm_timer(2, 1, deadline + milliseconds(100));
  ASSERT_TRUE(pokes.wait_count(1, timer_of(2, 1)));
  if (cleared_in_time) {
    EXPECT_EQ(pokes.count(timer_of(0, 1)), 0u);
  }
  EXPECT_EQ(pokes.count(timer_of(1, 2)), 1u);  // the other timer of the same moment is its own
  watch.clear_timer(2, 2);                     // nothing armed there: no effect
  watch.clear_timer(5, 1);                     // out of range: ignored
}

TEST(VtlInterruptWatch, TimersFireWhilePolling) {
  Pokes pokes;
  VtlInterruptWatch watch(2, pokes.callback());
  watch.switched(0, 1);
  ASSERT_TRUE(pokes.wait_count(3, poll_of(1, 1)));
  const auto deadline = Clock::now() + milliseconds(30);
  watch.arm_timer(1, 1, deadline);
  ASSERT_TRUE(pokes.wait_count(1, timer_of(1, 1)));
  for (const Poke& p : pokes.snapshot()) {
    if (p.timer_due) {
      EXPECT_GE(p.at, deadline);
    }
  }
}

TEST(VtlInterruptWatch, StopEndsThePokesAndIsIdempotent) {
  Pokes pokes;
  VtlInterruptWatch watch(2, pokes.callback());
  watch.switched(1, 1);
  watch.arm_timer(0, 2, Clock::now() + milliseconds(100));
  ASSERT_TRUE(pokes.wait_count(3, poll_of(0, 1)));
  watch.stop();
  // stop() has joined the thread: no poke after it returned, whatever is running or armed.
  const std::size_t at_stop = pokes.size();
  watch.stop();
  watch.switched(0, 2);
  watch.switched(1, 0);
  watch.arm_timer(1, 1, Clock::now());
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(pokes.size(), at_stop);
  EXPECT_EQ(pokes.count(timer_of(0, 2)) + pokes.count(timer_of(1, 1)), 0u);
}

TEST(VtlInterruptWatch, StopWaitsForAPokeInProgress) {
  std::mutex mu;
  std::condition_variable cv;
  bool in_poke = false;
  int started = 0;
  int finished = 0;
  VtlInterruptWatch watch(2, [&](tlfs::VpIndex, tlfs::Vtl, bool) {
    {
      std::lock_guard lock(mu);
      in_poke = true;
      ++started;
    }
    cv.notify_all();
    std::this_thread::sleep_for(milliseconds(100));  // a slow poke
    std::lock_guard lock(mu);
    in_poke = false;
    ++finished;
  });
  watch.switched(1, 1);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kPatience, [&] { return in_poke; }));
  }
  watch.stop();
  std::lock_guard lock(mu);
  EXPECT_FALSE(in_poke);
  EXPECT_EQ(started, finished);
}

TEST(VtlInterruptWatch, StopBeforeItEverStartedAndDestructionAfterStop) {
  Pokes pokes;
  {
    VtlInterruptWatch watch(1, pokes.callback());
    watch.stop();
    watch.stop();
    watch.switched(0, 1);  // does not start the thread any more
    watch.arm_timer(0, 1, Clock::now());
    std::this_thread::sleep_for(milliseconds(50));
  }
  {
    VtlInterruptWatch watch(1, pokes.callback());  // destroyed running: the destructor stops it
    watch.switched(0, 1);
    watch.arm_timer(0, 2, Clock::now());
    ASSERT_TRUE(pokes.wait_count(1, timer_of(0, 2)));
  }
  const std::size_t after = pokes.size();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(pokes.size(), after);
  EXPECT_EQ(pokes.count(timer_of(0, 1)), 0u);
}

TEST(VtlInterruptWatch, ManyVpsSwitchingFromTheirOwnThreads) {
  // VP threads switch up and down at once (the watch's fast path is lock-free); when all are
  // back in VTL 0 the watch must come to rest, and while one stays up the others keep being
  // polled.
  constexpr std::uint32_t kVps = 4;
  Pokes pokes;
  VtlInterruptWatch watch(kVps, pokes.callback());
  std::vector<std::thread> vps;
  for (tlfs::VpIndex vp = 1; vp < kVps; ++vp) {
    vps.emplace_back([&watch, vp] {
      for (int i = 0; i < 2000; ++i) {
        watch.switched(vp, static_cast<tlfs::Vtl>(1 + i % 2));
        watch.switched(vp, 0);
      }
    });
  }
  for (std::thread& t : vps) t.join();
  EXPECT_TRUE(pokes.wait_quiet(milliseconds(200)));
  watch.switched(3, 1);
  const std::size_t before = pokes.count(poll_of(0, 1));
  EXPECT_TRUE(pokes.wait_count(before + 5, poll_of(0, 1)));
  watch.stop();
}

}  // namespace
}  // namespace hvk::machine
