#include "cli/bench.h"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cli/run.h"
#include "kvm/kick.h"
#include "kvm/kvm.h"
#include "machine/machine.h"
#include "machine/vmm.h"

namespace hvk::cli {

namespace {

using Clock = std::chrono::steady_clock;

int error(const std::string& message) {
  std::fprintf(stderr, "hvk bench: %s\n", message.c_str());
  return 1;
}

// build/src/cli/hvk -> build/guests/bench.elf
std::string default_guest() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "bench.elf";
  return (exe.parent_path() / ".." / ".." / "guests" / "bench.elf").lexically_normal().string();
}

struct Row {
  const char* key;
  const char* what;
};

// Between marks k and k+1 (k = 1..5).
constexpr std::array<Row, 5> kRows = {{
    {"floor", "port-I/O exit and back, same call sequence, no work (the floor)"},
    {"hypercall_rejected", "hypercall, unknown call code (rejected)"},
    {"get_vp_index_from_apic_id", "HvCallGetVpIndexFromApicId, 1 rep"},
    {"vtl_round_trip", "VtlCall + VtlReturn round trip"},
    {"get_vp_index_from_apic_id_prepared", "HvCallGetVpIndexFromApicId, input written once"},
}};

}  // namespace

int bench(const BenchOptions& o) {
  const std::string guest = o.guest.empty() ? default_guest() : o.guest;
  std::string why;
  const auto image = read_file(guest, why);
  if (!image) return error(fmt::format("{} (--guest PATH)", why));
  auto kvm = open_kvm(why);
  if (!kvm) return error(why);
  if (auto r = kvm::install_kick_handler(); !r) return error(r.error().message());

  std::mutex mu;
  std::array<Clock::time_point, kRows.size() + 2> marks{};
  machine::Vmm vmm(std::move(*kvm), false);
  hv::PartitionConfig pc;
  pc.vp_count = 1;
  pc.privileges = hv::default_privileges();
  hv::Partition& root = vmm.hv().create_root(pc);
  machine::MachineConfig mc;
  mc.cmdline = fmt::format("n={}", o.iterations);
  mc.on_mark = [&](std::uint32_t, std::uint8_t m) {
    const auto now = Clock::now();
    std::lock_guard lock(mu);
    if (m < marks.size()) marks[m] = now;
  };
  auto m = machine::Machine::create(vmm, root, *image, mc);
  if (!m) return error(fmt::format("{}: {}", guest, m.error()));
  vmm.add(std::move(*m));
  vmm.start();
  const int status = vmm.wait(300);
  if (status != 0) return error(fmt::format("the bench guest ended with status {}", status));

  nlohmann::json out;
  out["iterations"] = o.iterations;
  out["unit"] = "ns per operation";
  double floor = 0;
  fmt::print("{:<70} {:>10} {:>8}\n", "operation", "ns/op", "x floor");
  for (std::size_t k = 0; k < kRows.size(); ++k) {
    const auto span = marks[k + 2] - marks[k + 1];
    const double ns =
        std::chrono::duration<double, std::nano>(span).count() / static_cast<double>(o.iterations);
    if (k == 0) floor = ns;
    const double ratio = floor > 0 ? ns / floor : 0;
    fmt::print("{:<70} {:>10.0f} {:>8.2f}\n", kRows[k].what, ns, ratio);
    out["results"][kRows[k].key] = {{"ns", ns}, {"ratio_to_floor", ratio}};
  }
  if (!o.json.empty()) {
    std::ofstream js(o.json + ".tmp");
    js << out.dump(2) << "\n";
    js.close();
    if (!js || std::rename((o.json + ".tmp").c_str(), o.json.c_str()) != 0) {
      std::remove((o.json + ".tmp").c_str());
      return error(fmt::format("cannot write {}", o.json));
    }
  }
  return 0;
}

}  // namespace hvk::cli
