// `hvk bench`: VP start latency and SMP bring-up (guests/bench-smp under hvk and QEMU), and the
// resident memory of those runs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/bench_launch.h"

namespace hvk::cli::bench_detail {

// One VP started at a time, from the issuing instruction (the hypercall; the INIT's ICR write) to
// the target's first instruction at the 64-bit entry, read from the TSC on both VPs.
struct Latency {
  std::string runner, method;  // "svp" (HvCallStartVirtualProcessor), "sipi" (INIT-SIPI-SIPI)
  std::size_t samples = 0;
  double median_us = 0, min_us = 0, max_us = 0;
  double call_us = 0;  // median time the issuing VP spent issuing (the call; the three IPIs)
};
// Where a StartVirtualProcessor start's time goes (hvk run --trace-starts, whose host TSCs the
// guest's TSC follows at KVM's TSC offset): median microseconds of each step, issue to the
// target's first instruction (machine/report/start_trace.h names the points).
struct StartBreakdown {
  static constexpr std::size_t kSteps = 6;
  static constexpr std::array<const char*, kSteps> kNames = {
      "the issuing hypercall's exit reaches hvk",
      "dispatcher and engine decide, the start is handed over",
      "the target's thread is out of KVM_RUN (kick, host scheduler)",
      "the start context is loaded (PAT MSR, MP state ioctls)",
      "to the target's KVM_RUN",
      "KVM_RUN to the target's first instruction (KVM's entry)"};
  std::size_t samples = 0;
  std::array<double, kSteps> median_us{};
};
// Boots `vps` VPs (odd: as many starts by each method, alternating) and measures each start; for
// hvk, also the breakdown of its StartVirtualProcessor starts (`breakdown`, samples 0 if none).
bool measure_latency(const Launcher& l, std::uint32_t vps, double tsc_hz, std::vector<Latency>& out,
                     StartBreakdown& breakdown, std::string& why);

// The boot VP starts every other VP and waits until all are online (each ran the 64-bit entry).
struct Bringup {
  std::string runner, method;
  std::uint32_t n = 0;
  std::size_t reps = 0;
  double ms = 0;          // median over the repetitions
  double min_ms = 0;      // the fastest repetition
  double issue_ms = 0;    // of which the boot VP spent issuing the starts
  double first_ms = 0;    // the first AP's first instruction
  double per_vp_us = 0;   // ms / (n - 1)
  double process_ms = 0;  // the whole child process, spawn to exit
  Resident memory;        // while all n VPs existed (the first repetition)
};
// Every (method, n), `reps` times, interleaved (repetition-major) so that a slow moment of a
// shared host does not land on one point only.
bool measure_bringup(const Launcher& l, const std::vector<std::string>& methods,
                     const std::vector<std::uint32_t>& counts, std::size_t reps, double tsc_hz,
                     std::vector<Bringup>& out, std::string& why);

// How the bring-up time grows with the VPs started: the exponent b of T ~ (N-1)^b fitted (least
// squares, log-log) to the points n_low <= N <= n_high; 1 is a flat cost per VP. 0 without two
// such points.
double growth_exponent(const std::vector<Bringup>& points, const std::string& runner,
                       const std::string& method, std::uint32_t n_low, std::uint32_t n_high);
const Bringup* find_bringup(const std::vector<Bringup>& points, const std::string& runner,
                            const std::string& method, std::uint32_t n);

}  // namespace hvk::cli::bench_detail
