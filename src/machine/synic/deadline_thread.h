// One thread that calls back at deadlines: the synthetic timers' expiries and the retries of
// auto-EOI injection (synic_delivery.h). Each key holds at most one deadline; setting it again
// replaces it. The callback runs on this thread with no lock held, so it may set deadlines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hvk::machine {

class DeadlineThread {
 public:
  using Clock = std::chrono::steady_clock;
  using Due = std::function<void(std::size_t key)>;

  DeadlineThread(std::size_t keys, Due due);
  ~DeadlineThread();
  DeadlineThread(const DeadlineThread&) = delete;
  DeadlineThread& operator=(const DeadlineThread&) = delete;

  // Calls due(key) at `when` (at once if it has passed). A key out of range is ignored.
  void set(std::size_t key, Clock::time_point when);
  // Sets the key's deadline only if it has none or a later one.
  void set_earlier(std::size_t key, Clock::time_point when);
  void clear(std::size_t key);
  // Ends the thread once a callback in progress returns; no callback runs afterwards. The owner
  // calls it before it lets go of what the callbacks use (the destructor calls it too).
  void stop();
  std::size_t keys() const { return deadlines_.size(); }

 private:
  void loop();

  const Due due_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Clock::time_point> deadlines_;  // time_point::max(): none
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace hvk::machine
