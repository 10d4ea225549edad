// `hvk bench`'s child processes (`hvk run` and QEMU): spawned with their output timestamped from
// just before the spawn, and their resident memory read from /proc while they run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hvk::cli::bench_detail {

struct ProcessLine {
  double ms;  // when its first byte arrived, from the spawn
  std::string text;
};

struct ProcessRun {
  bool spawned = false;
  std::string why;            // spawning failed, or the process timed out
  int status = -1;            // exit status; 128 + signal for a signal
  double first_byte_ms = -1;  // first byte on stdout
  double exit_ms = -1;
  std::vector<ProcessLine> out;  // stdout lines
  std::string err;               // stderr, whole
};

// Runs argv (PATH searched; stdin /dev/null, stdout and stderr to pipes) and waits for it, killing
// it after timeout_s. on_line(pid, line) sees each stdout line as it arrives, while the process
// still runs.
ProcessRun run_process(const std::vector<std::string>& argv, double timeout_s,
                       const std::function<void(pid_t, const ProcessLine&)>& on_line = {});

// Resident memory of a running process from /proc/PID/smaps, in KiB: all of it, and the part in
// anonymous mappings of guest_bytes to guest_bytes + 4 MiB (a VMM's guest RAM: hvk maps exactly
// its size, QEMU a little more), i.e. the guest pages touched so far.
struct Resident {
  bool ok = false;
  std::uint64_t total_kib = 0;
  std::uint64_t guest_kib = 0;
  std::uint64_t own_kib() const { return total_kib - guest_kib; }
};
Resident read_resident(pid_t pid, std::uint64_t guest_bytes);

// Whether `name` is an executable file, or found in PATH.
bool have_program(const std::string& name);

}  // namespace hvk::cli::bench_detail
