// hvk: the command line.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli/bench.h"
#include "cli/replay.h"
#include "cli/run.h"
#include "kvm/error.h"

namespace {

int run_main(int argc, char** argv) {
  CLI::App app{"hvk: a virtual machine monitor on Linux KVM that speaks the Hyper-V interface"};
  app.require_subcommand(1);

  hvk::cli::RunOptions run_opts;
  CLI::App* run = app.add_subcommand("run", "Boot an ELF64 image (Linux 64-bit boot protocol)");
  run->add_option("image", run_opts.image, "The guest image")->required();
  // Ranges are checked by `hvk run` itself (the VP limit is the host KVM's).
  run->add_option("--vps", run_opts.vps, "Virtual processors");
  run->add_option("--mem", run_opts.mem, "Guest RAM, e.g. 256M or 6G (past 3G it goes on at 4G)");
  run->add_option("--cmdline", run_opts.cmdline, "Command line handed to the guest");
  run->add_option("--initrd", run_opts.initrd,
                  "Initial ramdisk handed to a Linux kernel (a Multiboot image: its module)");
  run->add_option("--bzimage", run_opts.bzimage,
                  "How a bzImage boots: its own decompressor (boot) or unpacked by hvk (unpack)")
      ->check(CLI::IsMember({"boot", "unpack"}));
  run->add_flag("--trace", run_opts.trace, "Print every hypercall, decoded, to stderr");
  run->add_option("--timeout", run_opts.timeout, "End the VM after this many seconds (status 124)");

  run->add_option("--vtl", run_opts.vtl, "The VTL VP 0 boots in (a paravisor layout: 2)")
      ->check(CLI::Range(0u, 2u));
  run->add_option("--privileges", run_opts.privileges,
                  "Privilege mask: a number, or names applied to the default (e.g. "
                  "-StartVirtualProcessor,-CpuManagement)");
  run->add_option("--child", run_opts.children,
                  "A child partition image (repeatable); its VPs wait for the parent");
  run->add_option("--child-vps", run_opts.child_vps, "VPs of each child partition");
  run->add_flag("--synic", run_opts.synic,
                "Offer the SynIC, synthetic timers, PostMessage and SignalEvent (experimental)");
  run->add_option("--vtl-exec-bits", run_opts.vtl_exec_bits,
                  "How VTL protection masks grant execution without MBEC: tlfs (KernelExecutable, "
                  "bit 2; the default) or either (bit 2 or 3, as the Amazon KVM/QEMU VSM stack "
                  "and kvm-unit-tests' hyperv_vsm read them)")
      ->check(CLI::IsMember({"tlfs", "either"}));
  run->add_flag("--trace-starts", run_opts.trace_starts,
                "for each VP start, print the host TSC at each step of hvk's start path "
                "(hvk bench's VP start breakdown)");
  run->add_flag("--hyperv-testdev", run_opts.hyperv_testdev,
                "QEMU's hyperv-testdev on port 0x3000 (kvm-unit-tests' Hyper-V tests)");
  run->add_option("--child-mem", run_opts.child_mem, "RAM of each child partition");
  run->add_option("--gdb", run_opts.gdb,
                  "Serve gdb's remote protocol on [HOST:]PORT (localhost by default); "
                  "each VP in each VTL is a thread (docs/debugging.md)");
  run->add_flag("--gdb-wait", run_opts.gdb_wait,
                "With --gdb: every VP waits before its first instruction until gdb continues");
  bool run_no_sandbox = false;
  run->add_flag("--no-sandbox", run_no_sandbox,
                "Run without the seccomp filter that otherwise confines hvk once the VM is set up");

  hvk::cli::BenchOptions bench_opts;
  CLI::App* bench = app.add_subcommand(
      "bench",
      "Measure round trips against the exit floor, VP start and SMP bring-up "
      "(StartVirtualProcessor vs INIT-SIPI, and QEMU), start-up time and memory, SynIC latencies");
  bench->add_option("--guest", bench_opts.guest, "The bench guest (default: the built one)");
  bench->add_option("--smp-guest", bench_opts.smp_guest,
                    "The bench-smp guest (default: next to the bench guest)");
  bench->add_option("--synic-guest", bench_opts.synic_guest,
                    "The bench-synic guest (default: next to the bench guest)");
  bench->add_flag("--quick", bench_opts.quick,
                  "A few seconds: bring-up at 1, 2 and 4 VPs once, fewer start-up runs (CI)");
  bench->add_option("--max-vps", bench_opts.max_vps, "The bring-up sweep's largest N")
      ->check(CLI::Range(1u, 1024u));
  bench->add_option("--reps", bench_opts.reps, "Repetitions of each bring-up point (default 5)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100}));
  bench->add_option("--qemu", bench_opts.qemu,
                    "The QEMU binary for the peer rows ('' for none; default qemu-system-x86_64)");
  bench->add_option("--qemu-machine", bench_opts.qemu_machine,
                    "QEMU's machine type (default microvm)");
  bench->add_option("--only", bench_opts.only,
                    "Only these sections, comma-separated: round-trips, speed, latency, startup, "
                    "bringup, synic, qemu");
  bench->add_option("--iterations", bench_opts.iterations, "Iterations of each operation")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  bench->add_option("--json", bench_opts.json, "Also write the results to this JSON file");
  bool bench_no_sandbox = false;
  bench->add_flag("--no-sandbox", bench_no_sandbox,
                  "Run the guest in this process, without the seccomp filter");

  app.add_subcommand("info", "KVM capabilities and the Hyper-V leaves hvk presents");

  hvk::cli::ReplayOptions replay_opts;
  CLI::App* replay = app.add_subcommand(
      "replay", "Run a scripted hypercall sequence through the engine and print each call");
  replay->add_option("--vps", replay_opts.vps, "VPs in the partition")
      ->check(CLI::Range(1u, 1024u));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  run_opts.sandbox = !run_no_sandbox;
  bench_opts.sandbox = !bench_no_sandbox;
  if (run->parsed()) return hvk::cli::run(run_opts);
  if (replay->parsed()) return hvk::cli::replay(replay_opts);
  if (bench->parsed()) return hvk::cli::bench(bench_opts);
  return hvk::cli::info();
}

// What was printed on stdout (a guest's console, a report) reached it: a full disk or a closed
// terminal is one line and status 1, not a silent loss at exit.
int check_stdout(int status) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (flushed && !std::ferror(stdout)) return status;
  if (status != 0) return status;  // the failure that ended the run was already reported
  if (!flushed && errno != 0) {
    std::fprintf(stderr, "hvk: cannot write to stdout: %s\n",
                 hvk::kvm::errno_text(errno).c_str());
  } else {
    std::fprintf(stderr, "hvk: cannot write to stdout\n");
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Host-side failures (say, out of memory while loading) become one line, never an abort.
  try {
    return check_stdout(run_main(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvk: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "hvk: unexpected error\n");
  }
  return 1;
}
