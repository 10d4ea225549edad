// How `hvk bench` boots a measuring guest (guests/bench-smp, one image for both;
// guests/bench-synic) with N VPs: as `hvk run` or under QEMU, in a child process; and one such run,
// its guest's report parsed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/bench_process.h"

namespace hvk::cli::bench_detail {

struct Launcher {
  std::string name;                    // "hvk", "qemu"
  std::uint64_t mem_bytes = 48 << 20;  // guest RAM: room for 256 VP blocks of 32 KiB
  std::function<std::vector<std::string>(std::uint32_t vps, const std::string& cmdline)> argv;
  int ok_status = 0;  // the exit status of a guest that returned 0 (QEMU's isa-debug-exit: 1)
  std::string report = "bench-smp";  // the guest's report lines: "<report>: <kind> k=v ..."
};

// `hvk run GUEST ...` with `extra` appended (e.g. --synic).
Launcher hvk_launcher(const std::string& hvk, const std::string& guest,
                      const std::vector<std::string>& extra = {});
// QEMU with -accel kvm and the given machine type (`microvm`: no firmware scan, no PCI).
Launcher qemu_launcher(const std::string& qemu, const std::string& machine,
                       const std::string& guest);

struct GuestRun {
  bool ok = false;
  std::string why;  // when not ok: the process's status and its last words
  ProcessRun process;
  std::vector<std::map<std::string, std::string>> reports;  // the "<report>: <kind>" lines
  Resident memory;  // read when the first report arrived, if asked for
};

// Boots the guest with `vps` VPs and cmdline "cpus=<vps> <cmdline>", collects its reports of
// `kind` (empty: of every kind, each named in fields["kind"]); with read_memory, reads the
// process's resident memory when the first one arrives (the guest should hold on for a moment
// after it: hold=CYCLES).
GuestRun run_guest(const Launcher& launcher, std::uint32_t vps, const std::string& cmdline,
                   const std::string& kind, bool read_memory = false);

}  // namespace hvk::cli::bench_detail
