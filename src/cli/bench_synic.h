// `hvk bench`'s SynIC rows (issue 13): guests/bench-synic under `hvk run --vps 2 --synic
// --hyperv-testdev` measures a SINT delivery round trip (HvCallPostMessage to the caller's own
// SINT, HvCallSignalEvent to an idle VP, each with and without AutoEOI) and the expiry latency of a
// one-shot synthetic timer in message and direct mode.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cli/bench_launch.h"

namespace hvk::cli::bench_detail {

struct SynicRow {
  std::string key;  // the guest's row: post_self_auto_eoi, post_self_eoi, signal_other, ...
  std::size_t samples = 0;
  double median_us = 0, p99_us = 0, max_us = 0;
  std::string clock;     // timer rows: where the guest read the reference time ("page", "msr")
  bool skipped = false;  // stimer_direct where hvk offers no direct-mode timers
};

// What a row measures, for the table ("" for an unknown key).
const char* synic_row_what(const std::string& key);

// `hvk run GUEST --synic --hyperv-testdev`, its reports "bench-synic: <row> ...".
Launcher synic_launcher(const std::string& hvk, const std::string& guest);

// One run with 2 VPs: `samples` per delivery row, `timer_samples` per timer row (each over 1 ms).
// Every row must be reported (stimer_direct may say it was skipped).
bool measure_synic(const Launcher& l, std::size_t samples, std::size_t timer_samples, double tsc_hz,
                   std::vector<SynicRow>& out, std::string& why);

}  // namespace hvk::cli::bench_detail
