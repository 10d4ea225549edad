// KickTarget: the thread a kick reaches is the one that published itself (no /dev/kvm needed).
#include "kvm/kick.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

namespace hvk::kvm {
namespace {

TEST(KickTarget, UnpublishedSendsNothing) {
  KickTarget target;
  EXPECT_FALSE(target.is_self());
  EXPECT_FALSE(target.kick());
}

TEST(KickTarget, IsSelfOnlyOnThePublishingThread) {
  KickTarget target;
  std::thread t([&] {
    target.publish_self();
    EXPECT_TRUE(target.is_self());
  });
  t.join();
  EXPECT_FALSE(target.is_self());
}

// As in Machine::start_threads: the target runs, publishes itself and blocks before the
// std::thread that started it is assigned anywhere; the kick still reaches it.
TEST(KickTarget, ReachesABlockedThreadBeforeItsStdThreadIsAssigned) {
  ASSERT_TRUE(install_kick_handler());
  KickTarget target;
  std::atomic<bool> blocking{false};
  std::atomic<int> woke{0};
  std::thread started([&] {
    target.publish_self();
    blocking = true;
    sigset_t open;
    sigemptyset(&open);
    const timespec limit{10, 0};
    // Stands for KVM_RUN asleep in the kernel: only a signal ends it early.
    woke = ppoll(nullptr, 0, &limit, &open) < 0 && errno == EINTR ? 1 : 2;
  });
  while (!blocking) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(target.kick());
  std::thread slot_thread = std::move(started);  // assigned only now
  slot_thread.join();
  EXPECT_EQ(woke, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace hvk::kvm
