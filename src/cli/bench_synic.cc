#include "cli/bench_synic.h"

#include <fmt/format.h>

#include <array>
#include <map>

#include "cli/bench_common.h"

namespace hvk::cli::bench_detail {

namespace {

struct RowInfo {
  const char* key;
  const char* what;
};
constexpr std::array<RowInfo, 6> kRows{{
    {"post_self_auto_eoi", "HvCallPostMessage -> own SINT's handler (AutoEOI)"},
    {"post_self_eoi", "HvCallPostMessage -> own SINT's handler (APIC EOI)"},
    {"signal_other", "HvCallSignalEvent -> idle VP 1's SINT handler (AutoEOI)"},
    {"signal_other_eoi", "HvCallSignalEvent -> idle VP 1's SINT handler (APIC EOI)"},
    {"stimer_oneshot", "one-shot timer, message mode (AutoEOI SINT): expiry -> handler"},
    {"stimer_direct", "one-shot timer, direct mode: expiry -> handler"},
}};

}  // namespace

const char* synic_row_what(const std::string& key) {
  for (const RowInfo& r : kRows) {
    if (key == r.key) return r.what;
  }
  return "";
}

Launcher synic_launcher(const std::string& hvk, const std::string& guest) {
  Launcher l = hvk_launcher(hvk, guest, {"--synic", "--hyperv-testdev"});
  l.report = "bench-synic";
  return l;
}

bool measure_synic(const Launcher& l, std::size_t samples, std::size_t timer_samples, double tsc_hz,
                   std::vector<SynicRow>& out, std::string& why) {
  const GuestRun g =
      run_guest(l, 2, fmt::format("n={} timer_n={}", samples, timer_samples), /*kind=*/"");
  if (!g.ok) {
    why = g.why;
    return false;
  }
  std::map<std::string, const std::map<std::string, std::string>*> by_row;
  for (const auto& f : g.reports) by_row[f.at("kind")] = &f;
  for (const RowInfo& info : kRows) {
    const auto it = by_row.find(info.key);
    if (it == by_row.end()) {
      why = fmt::format("bench-synic reported no {} row", info.key);
      return false;
    }
    const auto& f = *it->second;
    SynicRow row;
    row.key = info.key;
    if (f.count("skipped") != 0) {
      row.skipped = true;
      out.push_back(row);
      continue;
    }
    // The guest's cycles are at the TSC rate it read from HV_X64_MSR_TSC_FREQUENCY (KVM's).
    const double hz = number(f, "tsc_hz") > 0 ? number(f, "tsc_hz") : tsc_hz;
    row.samples = static_cast<std::size_t>(number(f, "n"));
    row.median_us = number(f, "median") / hz * 1e6;
    row.p99_us = number(f, "p99") / hz * 1e6;
    row.max_us = number(f, "max") / hz * 1e6;
    if (const auto c = f.find("clock"); c != f.end()) row.clock = c->second;
    out.push_back(row);
  }
  return true;
}

}  // namespace hvk::cli::bench_detail
