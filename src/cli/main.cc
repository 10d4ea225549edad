// hvk: the command line.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/bench.h"
#include "cli/replay.h"
#include "cli/run.h"

namespace {

int run_main(int argc, char** argv) {
  CLI::App app{"hvk: a virtual machine monitor on Linux KVM that speaks the Hyper-V interface"};
  app.require_subcommand(1);

  hvk::cli::RunOptions run_opts;
  CLI::App* run = app.add_subcommand("run", "Boot an ELF64 image (Linux 64-bit boot protocol)");
  run->add_option("image", run_opts.image, "The guest image")->required();
  run->add_option("--vps", run_opts.vps, "Virtual processors")->check(CLI::PositiveNumber);
  run->add_option("--mem", run_opts.mem, "Guest RAM, e.g. 256M (at most 3G)");
  run->add_option("--cmdline", run_opts.cmdline, "Command line handed to the guest");
  run->add_flag("--trace", run_opts.trace, "Print every hypercall, decoded, to stderr");
  run->add_option("--timeout", run_opts.timeout, "End the VM after this many seconds (status 124)")
      ->check(CLI::NonNegativeNumber);

  run->add_option("--vtl", run_opts.vtl, "The VTL VP 0 boots in (a paravisor layout: 2)")
      ->check(CLI::Range(0u, 2u));
  run->add_option("--privileges", run_opts.privileges,
                  "Privilege mask: a number, or names applied to the default (e.g. "
                  "-StartVirtualProcessor,-CpuManagement)");
  run->add_option("--child", run_opts.children,
                  "A child partition image (repeatable); its VPs wait for the parent");
  run->add_option("--child-vps", run_opts.child_vps, "VPs of each child partition");
  run->add_option("--child-mem", run_opts.child_mem, "RAM of each child partition");

  hvk::cli::BenchOptions bench_opts;
  CLI::App* bench = app.add_subcommand(
      "bench", "Measure the hypercall and VTL-switch round trips against the exit floor");
  bench->add_option("--guest", bench_opts.guest, "The bench guest (default: the built one)");
  bench->add_option("--iterations", bench_opts.iterations, "Iterations of each operation")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  bench->add_option("--json", bench_opts.json, "Also write the results to this JSON file");

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
  if (run->parsed()) return hvk::cli::run(run_opts);
  if (replay->parsed()) return hvk::cli::replay(replay_opts);
  if (bench->parsed()) return hvk::cli::bench(bench_opts);
  return hvk::cli::info();
}

}  // namespace

int main(int argc, char** argv) {
  // Host-side failures (say, out of memory while loading) become one line, never an abort.
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hvk: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "hvk: unexpected error\n");
  }
  return 1;
}
