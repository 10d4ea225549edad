// `hvk bench`: hvk's costs measured on real KVM, side by side in one run: hypercall and VTL round
// trips against the exit floor, VP start latency and SMP bring-up by HvCallStartVirtualProcessor
// and by INIT-SIPI, start-up time and resident memory, the SynIC's delivery and timer latencies,
// and QEMU on the same guest where it is installed. Prints tables and the issue 6 targets;
// docs/performance.md explains the numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hvk::cli {

struct BenchOptions {
  std::string guest;      // the round-trip guest; empty: next to hvk in the build tree
  std::string smp_guest;  // bench-smp.elf; empty: next to the round-trip guest
  std::string synic_guest;  // bench-synic.elf; empty: next to the round-trip guest
  std::uint64_t iterations = 20000;
  std::string json;  // also write the results here
  // The round-trip guest runs in a child process under the seccomp filter (cli/sandbox.h); the
  // parent, which never runs guest code, prints the results and writes the JSON file.
  // --no-sandbox: one process, no filter. (`hvk run` children sandbox themselves.)
  bool sandbox = true;
  // A few seconds for CI: bring-up at N = 1, 2, 4 once, fewer start-up runs, QEMU at N = 2, a
  // few hundred SynIC samples.
  bool quick = false;
  std::uint32_t max_vps = 256;              // the bring-up sweep: N = 1, 2, 4, ... up to this
  std::size_t reps = 0;                     // repetitions of each bring-up point; 0: 5 (quick: 1)
  std::string qemu = "qemu-system-x86_64";  // empty: no QEMU rows
  std::string qemu_machine = "microvm";
  // Measure only these sections (comma-separated: round-trips, speed, latency, startup, bringup,
  // synic, qemu); empty: all. For A/B comparisons of one cost.
  std::string only;
  bool wants(const std::string& section) const;
};

int bench(const BenchOptions& options);

}  // namespace hvk::cli
