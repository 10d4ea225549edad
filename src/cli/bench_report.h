// `hvk bench`'s results: what one run measured, printed as tables and written as JSON, and the
// issue 6 targets judged against them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/bench_round_trips.h"
#include "cli/bench_smp.h"
#include "cli/bench_startup.h"
#include "cli/bench_synic.h"

namespace hvk::cli::bench_detail {

struct Report {
  std::string mode;     // "full" or "quick"
  std::string machine;  // CPU model, host cores, kernel
  double tsc_hz = 0;
  std::uint64_t iterations = 0;
  std::vector<RoundTrip> round_trips;
  std::vector<Speed> speed;
  std::vector<Latency> latency;
  std::optional<StartBreakdown> start_breakdown;  // hvk's StartVirtualProcessor starts
  std::vector<Bringup> bringup;
  std::vector<Startup> startup;
  std::vector<SynicRow> synic;
  std::string qemu_skipped;  // why there are no QEMU rows, if there are none
  std::string qemu_version;
};

// "<cpu model>, <n> host CPUs, Linux <release>".
std::string describe_machine();

// Each prints one section of the table (nothing when it has no rows).
void print_header(const Report& r);
void print_round_trips(const Report& r);
void print_speed(const Report& r);
void print_latency(const Report& r);
void print_bringup(const Report& r);
void print_startup(const Report& r);
void print_memory(const Report& r);
void print_synic(const Report& r);
void print_targets(const Report& r);

std::string to_json(const Report& r);

}  // namespace hvk::cli::bench_detail
