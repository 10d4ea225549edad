#include "machine/synic/deadline_thread.h"

#include <algorithm>

namespace hvk::machine {

DeadlineThread::DeadlineThread(std::size_t keys, Due due)
    : due_(std::move(due)), deadlines_(keys, Clock::time_point::max()), thread_([this] { loop(); }) {}

DeadlineThread::~DeadlineThread() {
  stop();
}

void DeadlineThread::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void DeadlineThread::set(std::size_t key, Clock::time_point when) {
  if (key >= deadlines_.size()) return;
  {
    std::lock_guard lock(mu_);
    deadlines_[key] = when;
  }
  cv_.notify_all();
}

void DeadlineThread::set_earlier(std::size_t key, Clock::time_point when) {
  if (key >= deadlines_.size()) return;
  {
    std::lock_guard lock(mu_);
    if (deadlines_[key] <= when) return;
    deadlines_[key] = when;
  }
  cv_.notify_all();
}

void DeadlineThread::clear(std::size_t key) {
  if (key >= deadlines_.size()) return;
  std::lock_guard lock(mu_);
  deadlines_[key] = Clock::time_point::max();  // no wake-up needed: a later wait sees it
}

void DeadlineThread::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto next = std::min_element(deadlines_.begin(), deadlines_.end());
    if (next == deadlines_.end() || *next == Clock::time_point::max()) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < *next) {
      cv_.wait_until(lock, *next);
      continue;  // woken early, or a deadline changed: look again
    }
    const auto key = static_cast<std::size_t>(next - deadlines_.begin());
    *next = Clock::time_point::max();
    lock.unlock();
    due_(key);
    lock.lock();
  }
}

}  // namespace hvk::machine
