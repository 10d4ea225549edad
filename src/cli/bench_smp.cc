#include "cli/bench_smp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "cli/bench_common.h"

namespace hvk::cli::bench_detail {

namespace {
constexpr double kHoldSeconds = 0.2;  // a bring-up run holds this long for the memory reading
}

bool measure_latency(const Launcher& l, std::uint32_t vps, double tsc_hz, std::vector<Latency>& out,
                     StartBreakdown& breakdown, std::string& why) {
  Launcher traced = l;
  if (l.name == "hvk") {
    traced.argv = [base = l.argv](std::uint32_t n, const std::string& cmdline) {
      auto argv = base(n, cmdline);
      argv.emplace_back("--trace-starts");
      return argv;
    };
  }
  const GuestRun g = run_guest(traced, vps, "mode=latency", "latency");
  if (!g.ok) {
    why = g.why;
    return false;
  }
  // hvk's start traces, by target VP (stderr lines "hvk: start-trace vp=N ...").
  std::map<std::string, std::map<std::string, std::string>> traces;
  std::size_t from = 0;
  while (from < g.process.err.size()) {
    std::size_t end = g.process.err.find('\n', from);
    if (end == std::string::npos) end = g.process.err.size();
    if (auto f = guest_fields(g.process.err.substr(from, end - from), "hvk", "start-trace")) {
      traces[(*f)["vp"]] = *f;
    }
    from = end + 1;
  }
  std::map<std::string, std::vector<double>> us, call_us;
  std::array<std::vector<double>, StartBreakdown::kSteps> steps;
  for (const auto& r : g.reports) {
    const auto it = r.find("method");
    if (it == r.end()) continue;
    us[it->second].push_back(number(r, "cycles") / tsc_hz * 1e6);
    call_us[it->second].push_back(number(r, "call_cycles") / tsc_hz * 1e6);
    const auto vp = r.find("vp");
    if (it->second != "svp" || vp == r.end()) continue;
    const auto t = traces.find(vp->second);
    if (t == traces.end() || t->second["tsc_offset"] == "unknown") continue;
    // The guest's TSCs on the host's line.
    const double offset = number(t->second, "tsc_offset");
    const std::array<double, StartBreakdown::kSteps + 1> points = {
        number(r, "issue_tsc") - offset, number(t->second, "exit"),
        number(t->second, "request"),    number(t->second, "woke"),
        number(t->second, "loaded"),     number(t->second, "run"),
        number(r, "first_tsc") - offset};
    for (std::size_t i = 0; i < StartBreakdown::kSteps; ++i) {
      steps[i].push_back((points[i + 1] - points[i]) / tsc_hz * 1e6);
    }
  }
  breakdown.samples = steps[0].size();
  for (std::size_t i = 0; i < StartBreakdown::kSteps && breakdown.samples != 0; ++i) {
    breakdown.median_us[i] = median(steps[i]);
  }
  for (const std::string method : {"svp", "sipi"}) {
    if (us[method].empty()) continue;
    const auto& v = us[method];
    out.push_back({l.name, method, v.size(), median(v), *std::min_element(v.begin(), v.end()),
                   *std::max_element(v.begin(), v.end()), median(call_us[method])});
  }
  return true;
}

bool measure_bringup(const Launcher& l, const std::vector<std::string>& methods,
                     const std::vector<std::uint32_t>& counts, std::size_t reps, double tsc_hz,
                     std::vector<Bringup>& out, std::string& why) {
  struct Samples {
    std::vector<double> ms, issue, first, process;
    Resident memory;
  };
  std::map<std::pair<std::string, std::uint32_t>, Samples> samples;
  const auto hold = static_cast<std::uint64_t>(kHoldSeconds * tsc_hz);
  for (std::size_t rep = 0; rep < reps; ++rep) {
    for (std::uint32_t n : counts) {
      for (const std::string& method : methods) {
        const bool first = rep == 0;
        const std::string cmdline = fmt::format("mode=bringup method={}{}", method,
                                                first ? fmt::format(" hold={}", hold) : "");
        const GuestRun g = run_guest(l, n, cmdline, "bringup", first);
        if (!g.ok) {
          why = g.why;
          return false;
        }
        Samples& s = samples[{method, n}];
        const auto& r = g.reports.front();
        s.ms.push_back(number(r, "cycles") / tsc_hz * 1e3);
        s.issue.push_back(number(r, "issue_cycles") / tsc_hz * 1e3);
        s.first.push_back(number(r, "first_cycles") / tsc_hz * 1e3);
        // The process time of a holding run includes the hold: only the others count.
        if (!first || reps == 1)
          s.process.push_back(g.process.exit_ms - (first ? kHoldSeconds * 1e3 : 0));
        if (first) s.memory = g.memory;
      }
    }
  }
  for (const std::string& method : methods) {
    for (std::uint32_t n : counts) {
      const Samples& s = samples[{method, n}];
      Bringup b;
      b.runner = l.name;
      b.method = method;
      b.n = n;
      b.reps = s.ms.size();
      b.ms = median(s.ms);
      b.min_ms = s.ms.empty() ? 0 : *std::min_element(s.ms.begin(), s.ms.end());
      b.issue_ms = median(s.issue);
      b.first_ms = median(s.first);
      b.per_vp_us = n > 1 ? b.ms * 1e3 / (n - 1) : 0;
      b.process_ms = median(s.process);
      b.memory = s.memory;
      out.push_back(b);
    }
  }
  return true;
}

const Bringup* find_bringup(const std::vector<Bringup>& points, const std::string& runner,
                            const std::string& method, std::uint32_t n) {
  for (const Bringup& b : points) {
    if (b.runner == runner && b.method == method && b.n == n) return &b;
  }
  return nullptr;
}

double growth_exponent(const std::vector<Bringup>& points, const std::string& runner,
                       const std::string& method, std::uint32_t n_low, std::uint32_t n_high) {
  // Least squares of log T against log (N - 1), the APs started, over n_low <= N <= n_high.
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  std::size_t k = 0;
  for (const Bringup& b : points) {
    if (b.runner != runner || b.method != method || b.n < n_low || b.n > n_high) continue;
    if (b.n < 2 || b.ms <= 0) continue;
    const double x = std::log(static_cast<double>(b.n - 1)), y = std::log(b.ms);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    ++k;
  }
  if (k < 2) return 0;
  const double d = static_cast<double>(k) * sxx - sx * sx;
  return d > 0 ? (static_cast<double>(k) * sxy - sx * sy) / d : 0;
}

}  // namespace hvk::cli::bench_detail
