// `hvk bench`: how long a VMM process takes to run its guest's first instruction and print its
// first console byte (guests/bench-smp, mode=startup, one VP), and how fast this host runs guest
// instructions at all.
#pragma once

#include <cstddef>
#include <string>

#include "cli/bench_launch.h"

namespace hvk::cli::bench_detail {

struct Startup {
  std::string runner;
  std::size_t runs = 0;
  double first_insn_ms = 0;  // medians, from just before the spawn
  double first_byte_ms = 0;  // the guest's first console line ("!") on the VMM's stdout
  double exit_ms = 0;        // the process ended (the guest exits right after its two lines)
  double guest_ms = 0;       // first instruction to first byte, the guest's own start-up
};
// First instruction = first byte - the guest's own TSC count from its entry to that print.
bool measure_startup(const Launcher& l, std::size_t runs, double tsc_hz, Startup& out,
                     std::string& why);

struct Speed {
  std::string runner;
  double cycles_per_iteration = 0;  // one `add` plus the loop's own three instructions
  double ns_per_iteration = 0;
};
bool measure_speed(const Launcher& l, double tsc_hz, Speed& out, std::string& why);

}  // namespace hvk::cli::bench_detail
