// host-jitter THREADS SECONDS: how long this host takes a busy thread off its CPU. THREADS
// threads each read the steady clock in a tight loop for SECONDS seconds; the longest gap between
// two consecutive reads of any thread is printed in microseconds (one number, then a newline).
//
// scripts/kvm-unit-tests --quiet-host runs it before an entry that times each of its VPs against
// the others (hyperv_clock): such an entry needs a host that leaves a busy vCPU thread alone for
// seconds, and this probe asks the host that question without hvk or KVM in the way.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <string_view>
#include <thread>
#include <vector>

namespace {

bool parse(std::string_view s, unsigned& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = 0;
  unsigned seconds = 0;
  if (argc != 3 || !parse(argv[1], threads) || !parse(argv[2], seconds) || threads == 0 ||
      threads > 1024 || seconds == 0 || seconds > 60) {
    std::fprintf(stderr, "usage: host-jitter THREADS(1-1024) SECONDS(1-60)\n");
    return 2;
  }
  using clock = std::chrono::steady_clock;
  const clock::time_point end = clock::now() + std::chrono::seconds(seconds);
  std::vector<clock::duration> longest(threads, clock::duration::zero());
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    pool.emplace_back([&longest, end, i] {
      clock::duration gap_max = clock::duration::zero();
      clock::time_point prev = clock::now();
      while (prev < end) {
        const clock::time_point now = clock::now();
        gap_max = std::max(gap_max, now - prev);
        prev = now;
      }
      longest[i] = gap_max;
    });
  }
  for (std::thread& t : pool) t.join();
  const auto worst = *std::max_element(longest.begin(), longest.end());
  std::printf("%lld\n", static_cast<long long>(
                            std::chrono::duration_cast<std::chrono::microseconds>(worst).count()));
  return 0;
}
