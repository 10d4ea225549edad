#include "cli/bench_report.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

namespace hvk::cli::bench_detail {

namespace {

const char* method_name(const std::string& m) {
  return m == "svp" ? "HvCallStartVirtualProcessor" : "INIT-SIPI-SIPI (trampoline)";
}

void section(const std::string& title) {
  fmt::print("\n== {}\n", title);
}

std::vector<std::uint32_t> counts(const Report& r) {
  std::vector<std::uint32_t> n;
  for (const Bringup& b : r.bringup) {
    if (std::find(n.begin(), n.end(), b.n) == n.end()) n.push_back(b.n);
  }
  std::sort(n.begin(), n.end());
  return n;
}

const RoundTrip* round_trip(const Report& r, const std::string& key) {
  for (const RoundTrip& t : r.round_trips) {
    if (t.key == key) return &t;
  }
  return nullptr;
}

const Startup* startup(const Report& r, const std::string& runner) {
  for (const Startup& s : r.startup) {
    if (s.runner == runner) return &s;
  }
  return nullptr;
}

// hvk's own resident memory (all VPs online) at the smallest and largest N, and per VP between.
struct MemoryFit {
  bool ok = false;
  std::uint32_t n_lo = 0, n_hi = 0;
  double kib_lo = 0, kib_hi = 0, per_vp_kib = 0;
};
MemoryFit memory_fit(const Report& r, const std::string& runner) {
  std::map<std::uint32_t, double> own;  // per N, the larger of the methods' readings
  for (const Bringup& b : r.bringup) {
    if (b.runner == runner && b.memory.ok) {
      own[b.n] = std::max(own[b.n], static_cast<double>(b.memory.own_kib()));
    }
  }
  MemoryFit f;
  if (own.empty()) return f;
  f.ok = true;
  std::tie(f.n_lo, f.kib_lo) = *own.begin();
  std::tie(f.n_hi, f.kib_hi) = *own.rbegin();
  if (f.n_hi > f.n_lo) f.per_vp_kib = (f.kib_hi - f.kib_lo) / (f.n_hi - f.n_lo);
  return f;
}

enum class Verdict { kMet, kMissed, kNotMeasured };
struct Target {
  Target(std::string k, std::string g) : key(std::move(k)), goal(std::move(g)) {}
  std::string key, goal, measured;
  Verdict verdict = Verdict::kNotMeasured;
};

const char* verdict_name(Verdict v) {
  return v == Verdict::kMet ? "met" : v == Verdict::kMissed ? "MISSED" : "not measured";
}

std::vector<Target> targets(const Report& r) {
  std::vector<Target> out;
  {
    Target t("hypercall_ratio", "hypercall round trip <= 1.15 x the floor");
    const RoundTrip* rej = round_trip(r, "hypercall_rejected");
    const RoundTrip* gvi = round_trip(r, "get_vp_index_from_apic_id_prepared");
    if (rej && gvi) {
      t.measured = fmt::format("rejected {:.2f}x, GetVpIndexFromApicId (input in place) {:.2f}x",
                               rej->ratio, gvi->ratio);
      t.verdict = rej->ratio <= 1.15 && gvi->ratio <= 1.15 ? Verdict::kMet : Verdict::kMissed;
    }
    out.push_back(t);
  }
  {
    Target t("bringup_64", "StartVirtualProcessor bring-up at N=64 <= 0.5 x INIT-SIPI, < QEMU");
    const Bringup* svp = find_bringup(r.bringup, "hvk", "svp", 64);
    const Bringup* sipi = find_bringup(r.bringup, "hvk", "sipi", 64);
    const Bringup* qemu = find_bringup(r.bringup, "qemu", "sipi", 64);
    if (svp && sipi) {
      const double ratio = svp->ms / sipi->ms;
      t.measured =
          fmt::format("{:.1f} ms vs INIT-SIPI {:.1f} ms ({:.2f}x)", svp->ms, sipi->ms, ratio);
      if (const Bringup* f = find_bringup(r.bringup, "kvm", "floor", 64)) {
        t.measured += fmt::format(", KVM floor {:.1f} ms", f->ms);
      }
      bool met = ratio <= 0.5;
      if (qemu) {
        t.measured += fmt::format(", QEMU {:.1f} ms", qemu->ms);
        met = met && svp->ms < qemu->ms;
      } else {
        t.measured += ", no QEMU row";
      }
      t.verdict = met ? Verdict::kMet : Verdict::kMissed;
    }
    out.push_back(t);
  }
  {
    Target t("bringup_flat", "bring-up cost per VP flat up to N=256 (T ~ N^b, b <= 1.15)");
    const auto n = counts(r);
    const std::uint32_t hi = n.empty() ? 0 : n.back();
    const double b = growth_exponent(r.bringup, "hvk", "svp", 16, hi);
    if (b > 0) {
      const double b_sipi = growth_exponent(r.bringup, "hvk", "sipi", 16, hi);
      t.measured = fmt::format("b = {:.2f} over N = 16..{} (INIT-SIPI {:.2f})", b, hi, b_sipi);
      t.verdict = b <= 1.15 && hi >= 256 ? Verdict::kMet : Verdict::kMissed;
    }
    out.push_back(t);
  }
  {
    Target t("startup", "process start -> guest first instruction < 10 ms (median)");
    if (const Startup* s = startup(r, "hvk")) {
      t.measured = fmt::format("{:.1f} ms (median of {})", s->first_insn_ms, s->runs);
      t.verdict = s->first_insn_ms < 10 ? Verdict::kMet : Verdict::kMissed;
    }
    out.push_back(t);
  }
  {
    Target t("memory", "hvk's own resident memory < 8 MiB + 64 KiB per VP");
    const MemoryFit f = memory_fit(r, "hvk");
    if (f.ok) {
      bool met = true;
      for (const Bringup& b : r.bringup) {
        if (b.runner == "hvk" && b.memory.ok) {
          met = met && static_cast<double>(b.memory.own_kib()) < 8192.0 + 64.0 * b.n;
        }
      }
      t.measured = fmt::format("{:.0f} KiB at N={}, {:.0f} KiB at N={} ({:.1f} KiB per VP)",
                               f.kib_lo, f.n_lo, f.kib_hi, f.n_hi, f.per_vp_kib);
      t.verdict = met ? Verdict::kMet : Verdict::kMissed;
    }
    out.push_back(t);
  }
  return out;
}

}  // namespace

std::string describe_machine() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      if (const auto colon = line.find(": "); colon != std::string::npos) {
        model = line.substr(colon + 2);
      }
      break;
    }
  }
  utsname u{};
  ::uname(&u);
  return fmt::format("{}, {} host CPUs, Linux {}", model, ::sysconf(_SC_NPROCESSORS_ONLN),
                     u.release);
}

void print_header(const Report& r) {
  fmt::print("hvk bench ({}): {}; guest TSC {:.3f} GHz (KVM)\n", r.mode, r.machine, r.tsc_hz / 1e9);
  std::fflush(stdout);
}

void print_round_trips(const Report& r) {
  if (r.round_trips.empty()) return;
  section(
      fmt::format("Round trips from a guest (bench guest, 1 VP; {} iterations each, median "
                  "of 10 interleaved rounds)",
                  r.iterations));
  fmt::print("{:<70} {:>10} {:>10} {:>8}\n", "operation", "ns/op", "min ns/op", "x floor");
  for (const RoundTrip& t : r.round_trips) {
    fmt::print("{:<70} {:>10.0f} {:>10.0f} {:>8.2f}\n", t.what, t.ns, t.ns_min, t.ratio);
  }
  std::fflush(stdout);
}

void print_speed(const Report& r) {
  if (r.speed.empty()) return;
  section("Guest instruction rate (a loop of register adds: the host's, not the VMM's)");
  fmt::print("{:<8} {:>22} {:>18}\n", "runner", "cycles per iteration", "ns per iteration");
  for (const Speed& s : r.speed) {
    fmt::print("{:<8} {:>22.0f} {:>18.0f}\n", s.runner, s.cycles_per_iteration, s.ns_per_iteration);
  }
  std::fflush(stdout);
}

void print_latency(const Report& r) {
  if (r.latency.empty()) return;
  section(
      "VP start latency (issuing instruction -> the target's first instruction at the 64-bit "
      "entry; guest TSC on both VPs; same VM)");
  fmt::print("{:<8} {:<30} {:>8} {:>10} {:>8} {:>8} {:>11}\n", "runner", "method", "samples",
             "median us", "min us", "max us", "issuing us");
  for (const Latency& l : r.latency) {
    fmt::print("{:<8} {:<30} {:>8} {:>10.0f} {:>8.0f} {:>8.0f} {:>11.0f}\n", l.runner,
               method_name(l.method), l.samples, l.median_us, l.min_us, l.max_us, l.call_us);
  }
  if (r.start_breakdown) {
    const StartBreakdown& b = *r.start_breakdown;
    section(fmt::format(
        "Where a StartVirtualProcessor start's time goes (hvk run --trace-starts: host TSC at "
        "each step, the guest's at both ends; median of {} starts)",
        b.samples));
    if (b.samples == 0) {
      fmt::print(
          "(no samples: hvk printed no start traces, or KVM did not give the guest's TSC "
          "offset)\n");
    }
    fmt::print("{:<64} {:>9}\n", "step", "median us");
    double total = 0;
    for (std::size_t i = 0; i < StartBreakdown::kSteps; ++i) {
      fmt::print("{:<64} {:>9.1f}\n", StartBreakdown::kNames[i], b.median_us[i]);
      total += b.median_us[i];
    }
    fmt::print("{:<64} {:>9.1f}\n", "sum of the medians", total);
  }
  std::fflush(stdout);
}

void print_bringup(const Report& r) {
  if (r.bringup.empty()) return;
  std::size_t reps = 0;
  for (const Bringup& b : r.bringup) reps = std::max(reps, b.reps);
  section(
      fmt::format("SMP bring-up: the boot VP starts N-1 VPs until it sees all online (guest "
                  "TSC; median of {})",
                  reps));
  const bool qemu = find_bringup(r.bringup, "qemu", "sipi", counts(r).back()) != nullptr ||
                    std::any_of(r.bringup.begin(), r.bringup.end(),
                                [](const Bringup& b) { return b.runner == "qemu"; });
  fmt::print("{:>5} {:>12} {:>9} {:>16} {:>9} {:>10}", "N", "hvk SVP ms", "us/VP",
             "hvk INIT-SIPI ms", "us/VP", "SVP/SIPI");
  if (qemu) fmt::print(" {:>17} {:>9}", "QEMU INIT-SIPI ms", "us/VP");
  fmt::print(" {:>13} {:>9}\n", "KVM floor ms", "us/VP");
  for (std::uint32_t n : counts(r)) {
    const Bringup* s = find_bringup(r.bringup, "hvk", "svp", n);
    const Bringup* i = find_bringup(r.bringup, "hvk", "sipi", n);
    const Bringup* q = find_bringup(r.bringup, "qemu", "sipi", n);
    const Bringup* f = find_bringup(r.bringup, "kvm", "floor", n);
    auto ms = [](const Bringup* b) { return b ? fmt::format("{:.2f}", b->ms) : std::string("-"); };
    auto us = [](const Bringup* b) {
      return b && b->n > 1 ? fmt::format("{:.0f}", b->per_vp_us) : std::string("-");
    };
    const std::string ratio =
        s && i && i->ms > 0 && n > 1 ? fmt::format("{:.2f}", s->ms / i->ms) : "-";
    fmt::print("{:>5} {:>12} {:>9} {:>16} {:>9} {:>10}", n, ms(s), us(s), ms(i), us(i), ratio);
    if (qemu) fmt::print(" {:>17} {:>9}", ms(q), us(q));
    fmt::print(" {:>13} {:>9}\n", ms(f), us(f));
  }
  fmt::print(
      "KVM floor: a bare VM's vCPUs (no hvk), each loading a 64-bit state on its own thread "
      "and running to its first instruction\n");
  const auto n = counts(r);
  if (n.size() > 1 && n.back() > 16) {
    fmt::print(
        "growth T ~ (N-1)^b fitted over N = 16..{}: hvk SVP b = {:.2f}, INIT-SIPI b = {:.2f}",
        n.back(), growth_exponent(r.bringup, "hvk", "svp", 16, n.back()),
        growth_exponent(r.bringup, "hvk", "sipi", 16, n.back()));
    if (qemu) {
      fmt::print(", QEMU b = {:.2f}", growth_exponent(r.bringup, "qemu", "sipi", 16, n.back()));
    }
    fmt::print(" (1 = a flat cost per VP)\n");
  }
  std::fflush(stdout);
}

void print_startup(const Report& r) {
  if (r.startup.empty()) return;
  section("Start-up, one VP (from just before the spawn; median of the runs)");
  fmt::print("{:<8} {:>5} {:>21} {:>22} {:>14} {:>16}\n", "runner", "runs", "first instruction ms",
             "first console byte ms", "process end ms", "guest's init ms");
  for (const Startup& s : r.startup) {
    fmt::print("{:<8} {:>5} {:>21.1f} {:>22.1f} {:>14.1f} {:>16.1f}\n", s.runner, s.runs,
               s.first_insn_ms, s.first_byte_ms, s.exit_ms, s.guest_ms);
  }
  std::fflush(stdout);
}

void print_memory(const Report& r) {
  if (r.bringup.empty()) return;
  section(
      "Resident memory with all N VPs online (/proc/PID/smaps; own = all - the guest RAM "
      "mapping)");
  const bool qemu = std::any_of(r.bringup.begin(), r.bringup.end(),
                                [](const Bringup& b) { return b.runner == "qemu"; });
  fmt::print("{:>5} {:>13} {:>19}", "N", "hvk own KiB", "hvk guest RAM KiB");
  if (qemu) fmt::print(" {:>14} {:>20}", "QEMU own KiB", "QEMU guest RAM KiB");
  fmt::print("\n");
  auto mem = [](const Bringup* b, bool own) {
    if (!b || !b->memory.ok) return std::string("-");
    return fmt::format("{}", own ? b->memory.own_kib() : b->memory.guest_kib);
  };
  for (std::uint32_t n : counts(r)) {
    const Bringup* h = find_bringup(r.bringup, "hvk", "svp", n);
    const Bringup* q = find_bringup(r.bringup, "qemu", "sipi", n);
    fmt::print("{:>5} {:>13} {:>19}", n, mem(h, true), mem(h, false));
    if (qemu) fmt::print(" {:>14} {:>20}", mem(q, true), mem(q, false));
    fmt::print("\n");
  }
  for (const char* runner : {"hvk", "qemu"}) {
    const MemoryFit f = memory_fit(r, runner);
    if (f.ok && f.n_hi > f.n_lo) {
      fmt::print("{}: {:.0f} KiB at N={}, {:.1f} KiB per additional VP\n", runner, f.kib_lo, f.n_lo,
                 f.per_vp_kib);
    }
  }
  std::fflush(stdout);
}

void print_synic(const Report& r) {
  if (r.synic.empty()) return;
  std::size_t samples = 0;
  for (const SynicRow& s : r.synic) samples = std::max(samples, s.samples);
  section(fmt::format(
      "SynIC (bench-synic, 2 VPs, hvk run --synic --hyperv-testdev; up to {} samples per row; "
      "clock: tsc = guest TSC, page/msr = reference time)",
      samples));
  fmt::print("{:<66} {:>7} {:>10} {:>8} {:>9} {:>6}\n", "operation", "samples", "median us",
             "p99 us", "worst us", "clock");
  for (const SynicRow& s : r.synic) {
    if (s.skipped) {
      fmt::print("{:<66} skipped: hvk offers no direct-mode timers (CPUID 0x40000003 EDX bit 19)\n",
                 synic_row_what(s.key));
      continue;
    }
    fmt::print("{:<66} {:>7} {:>10.1f} {:>8.1f} {:>9.1f} {:>6}\n", synic_row_what(s.key), s.samples,
               s.median_us, s.p99_us, s.max_us, s.clock.empty() ? "-" : s.clock);
  }
  std::fflush(stdout);
}

void print_targets(const Report& r) {
  section("Issue 6 targets");
  for (const Target& t : targets(r)) {
    fmt::print("{:<13} {:<68} {}\n", verdict_name(t.verdict), t.goal, t.measured);
  }
  if (!r.qemu_skipped.empty()) fmt::print("QEMU rows skipped: {}\n", r.qemu_skipped);
  std::fflush(stdout);
}

std::string to_json(const Report& r) {
  nlohmann::json j;
  j["mode"] = r.mode;
  j["machine"] = r.machine;
  j["tsc_hz"] = r.tsc_hz;
  j["iterations"] = r.iterations;
  j["unit"] = "ns per operation";
  for (const RoundTrip& t : r.round_trips) {
    j["results"][t.key] = {{"ns", t.ns}, {"ns_min", t.ns_min}, {"ratio_to_floor", t.ratio}};
  }
  for (const Speed& s : r.speed) {
    j["speed"].push_back({{"runner", s.runner},
                          {"cycles_per_iteration", s.cycles_per_iteration},
                          {"ns_per_iteration", s.ns_per_iteration}});
  }
  for (const Latency& l : r.latency) {
    j["vp_start_latency"].push_back({{"runner", l.runner},
                                     {"method", l.method},
                                     {"samples", l.samples},
                                     {"median_us", l.median_us},
                                     {"min_us", l.min_us},
                                     {"max_us", l.max_us},
                                     {"issuing_us", l.call_us}});
  }
  if (r.start_breakdown && r.start_breakdown->samples != 0) {
    nlohmann::json steps = nlohmann::json::object();
    for (std::size_t i = 0; i < StartBreakdown::kSteps; ++i) {
      steps[StartBreakdown::kNames[i]] = r.start_breakdown->median_us[i];
    }
    j["vp_start_breakdown"] = {{"samples", r.start_breakdown->samples}, {"median_us", steps}};
  }
  for (const Bringup& b : r.bringup) {
    nlohmann::json p = {{"runner", b.runner},
                        {"method", b.method},
                        {"n", b.n},
                        {"reps", b.reps},
                        {"ms", b.ms},
                        {"min_ms", b.min_ms},
                        {"issue_ms", b.issue_ms},
                        {"first_ms", b.first_ms},
                        {"per_vp_us", b.per_vp_us},
                        {"process_ms", b.process_ms}};
    if (b.memory.ok) {
      p["resident_kib"] = b.memory.total_kib;
      p["guest_ram_kib"] = b.memory.guest_kib;
      p["own_kib"] = b.memory.own_kib();
    }
    j["bringup"].push_back(p);
  }
  for (const Startup& s : r.startup) {
    j["startup"].push_back({{"runner", s.runner},
                            {"runs", s.runs},
                            {"first_instruction_ms", s.first_insn_ms},
                            {"first_console_byte_ms", s.first_byte_ms},
                            {"exit_ms", s.exit_ms},
                            {"guest_init_ms", s.guest_ms}});
  }
  for (const SynicRow& s : r.synic) {
    nlohmann::json row = {{"row", s.key}, {"what", synic_row_what(s.key)}};
    if (s.skipped) {
      row["skipped"] = "no direct-mode timers (CPUID 0x40000003 EDX bit 19)";
    } else {
      row.update({{"samples", s.samples},
                  {"median_us", s.median_us},
                  {"p99_us", s.p99_us},
                  {"max_us", s.max_us}});
      if (!s.clock.empty()) row["clock"] = s.clock;
    }
    j["synic"].push_back(row);
  }
  for (const char* runner : {"hvk", "qemu"}) {
    const MemoryFit f = memory_fit(r, runner);
    if (f.ok) {
      j["memory"][runner] = {{"own_kib_at_min_n", f.kib_lo},
                             {"min_n", f.n_lo},
                             {"own_kib_at_max_n", f.kib_hi},
                             {"max_n", f.n_hi},
                             {"per_vp_kib", f.per_vp_kib}};
    }
  }
  for (const Target& t : targets(r)) {
    j["targets"].push_back({{"key", t.key},
                            {"goal", t.goal},
                            {"measured", t.measured},
                            {"verdict", verdict_name(t.verdict)}});
  }
  if (!r.qemu_skipped.empty()) j["qemu_skipped"] = r.qemu_skipped;
  if (!r.qemu_version.empty()) j["qemu_version"] = r.qemu_version;
  return j.dump(2) + "\n";
}

}  // namespace hvk::cli::bench_detail
