#include "cli/bench_launch.h"

#include <fmt/format.h>

#include "cli/bench_common.h"

namespace hvk::cli::bench_detail {

namespace {
constexpr double kTimeoutSeconds = 180;  // a 256-VP bring-up takes well under a second here
}

Launcher hvk_launcher(const std::string& hvk, const std::string& guest,
                      const std::vector<std::string>& extra) {
  Launcher l;
  l.name = "hvk";
  const std::uint64_t mem = l.mem_bytes;
  l.argv = [=](std::uint32_t vps, const std::string& cmdline) {
    std::vector<std::string> argv{hvk,
                                  "run",
                                  guest,
                                  "--vps",
                                  std::to_string(vps),
                                  "--mem",
                                  fmt::format("{}K", mem >> 10),
                                  "--cmdline",
                                  cmdline,
                                  "--timeout",
                                  fmt::format("{}", kTimeoutSeconds - 30)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  return l;
}

Launcher qemu_launcher(const std::string& qemu, const std::string& machine,
                       const std::string& guest) {
  Launcher l;
  l.name = "qemu";
  l.ok_status = 1;  // isa-debug-exit: (0 << 1) | 1
  const std::uint64_t mem = l.mem_bytes;
  l.argv = [=](std::uint32_t vps, const std::string& cmdline) {
    return std::vector<std::string>{
        // The default CPU model: `-cpu host` dies here setting IA32_ARCH_CAPABILITIES.
        qemu,
        "-accel",
        "kvm",
        "-M",
        machine,
        "-smp",
        std::to_string(vps),
        "-m",
        fmt::format("{}K", mem >> 10),
        "-nodefaults",
        "-nographic",
        "-no-reboot",
        "-serial",
        "stdio",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=4",
        "-kernel",
        guest,
        "-append",
        cmdline};
  };
  return l;
}

GuestRun run_guest(const Launcher& launcher, std::uint32_t vps, const std::string& cmdline,
                   const std::string& kind, bool read_memory) {
  GuestRun g;
  const std::string full = fmt::format("cpus={} {}", vps, cmdline);
  bool read = false;
  g.process = run_process(
      launcher.argv(vps, full), kTimeoutSeconds, [&](pid_t pid, const ProcessLine& line) {
        if (!read_memory || read || !guest_fields(line.text, launcher.report, kind)) {
          return;
        }
        g.memory = read_resident(pid, launcher.mem_bytes);
        read = true;
      });
  for (const ProcessLine& line : g.process.out) {
    if (auto f = guest_fields(line.text, launcher.report, kind)) g.reports.push_back(std::move(*f));
  }
  g.ok = g.process.spawned && g.process.status == launcher.ok_status && !g.reports.empty();
  if (!g.ok) {
    std::string last = g.process.err;
    for (const ProcessLine& line : g.process.out) last += line.text + "\n";
    if (last.size() > 600) last = "..." + last.substr(last.size() - 600);
    g.why = fmt::format(
        "{} with {} VPs ({}): {}{}", launcher.name, vps, full,
        g.process.spawned ? fmt::format("exit status {}", g.process.status) : g.process.why,
        last.empty() ? "" : "\n" + last);
  }
  return g;
}

}  // namespace hvk::cli::bench_detail
