// hvk: the command line.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/replay.h"

int main(int argc, char** argv) {
  CLI::App app{"hvk: a virtual machine monitor on Linux KVM that speaks the Hyper-V interface"};
  app.require_subcommand(1);

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
  if (replay->parsed()) return hvk::cli::replay(replay_opts);
  return 2;
}
