#include "cli/bench_startup.h"

#include <vector>

#include "cli/bench_common.h"

namespace hvk::cli::bench_detail {

bool measure_startup(const Launcher& l, std::size_t runs, double tsc_hz, Startup& out,
                     std::string& why) {
  std::vector<double> insn, byte, exit, guest;
  for (std::size_t i = 0; i < runs; ++i) {
    const GuestRun g = run_guest(l, 1, "mode=startup", "startup");
    if (!g.ok) {
      why = g.why;
      return false;
    }
    double bang_ms = -1;
    for (const ProcessLine& line : g.process.out) {
      if (line.text == "!" || line.text == "!\r") {
        bang_ms = line.ms;
        break;
      }
    }
    if (bang_ms < 0) {
      why = l.name + ": the start-up guest printed no \"!\" line";
      return false;
    }
    const double guest_ms = number(g.reports.front(), "entry_to_print_cycles") / tsc_hz * 1e3;
    byte.push_back(bang_ms);
    guest.push_back(guest_ms);
    insn.push_back(bang_ms - guest_ms);
    exit.push_back(g.process.exit_ms);
  }
  out = {l.name, runs, median(insn), median(byte), median(exit), median(guest)};
  return true;
}

bool measure_speed(const Launcher& l, double tsc_hz, Speed& out, std::string& why) {
  const GuestRun g = run_guest(l, 1, "mode=speed", "speed");
  if (!g.ok) {
    why = g.why;
    return false;
  }
  const double iterations = number(g.reports.front(), "iterations");
  if (iterations <= 0) {
    why = l.name + ": the speed report has no iterations";
    return false;
  }
  const double cycles = number(g.reports.front(), "cycles") / iterations;
  out = {l.name, cycles, cycles / tsc_hz * 1e9};
  return true;
}

}  // namespace hvk::cli::bench_detail
