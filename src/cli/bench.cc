#include "cli/bench.h"

#include <fmt/format.h>

#include <cstdio>
#include <vector>

#include "cli/bench_common.h"
#include "cli/bench_floor.h"
#include "cli/bench_process.h"
#include "cli/bench_report.h"
#include "cli/bench_synic.h"
#include "cli/files.h"
#include "cli/sandbox.h"

namespace hvk::cli {

bool BenchOptions::wants(const std::string& section) const {
  if (only.empty()) return true;
  const std::string list = "," + only + ",";
  return list.find("," + section + ",") != std::string::npos;
}

namespace {

using namespace bench_detail;

std::vector<std::uint32_t> vp_counts(std::uint32_t max) {
  std::vector<std::uint32_t> n;
  for (std::uint32_t v = 1; v < max; v *= 2) n.push_back(v);
  n.push_back(max);
  return n;
}

// The VMM's measurements on bench-smp, printed as they complete (the full sweep takes minutes).
bool measure_vmm(const Launcher& l, const BenchOptions& o, double tsc_hz,
                 const std::vector<std::string>& methods, Report& r, std::string& why) {
  if (!o.wants("speed") && !o.wants("latency") && !o.wants("startup") && !o.wants("bringup")) {
    return true;
  }
  std::fprintf(stderr, "hvk bench: measuring %s on bench-smp...\n", l.name.c_str());
  if (o.wants("speed")) {
    Speed speed;
    if (!measure_speed(l, tsc_hz, speed, why)) return false;
    r.speed.push_back(speed);
  }
  if (o.wants("latency") && !(o.quick && l.name == "qemu")) {
    StartBreakdown b;
    if (!measure_latency(l, o.quick ? 5 : 17, tsc_hz, r.latency, b, why)) return false;
    if (l.name == "hvk") r.start_breakdown = b;
  }
  if (o.wants("startup")) {
    Startup s;
    const std::size_t runs = o.quick ? (l.name == "hvk" ? 3 : 1) : (l.name == "hvk" ? 9 : 5);
    if (!measure_startup(l, runs, tsc_hz, s, why)) return false;
    r.startup.push_back(s);
  }
  if (!o.wants("bringup")) return true;
  const auto counts = o.quick ? std::vector<std::uint32_t>{1, 2, 4} : vp_counts(o.max_vps);
  const std::size_t reps = o.reps != 0 ? o.reps : (o.quick ? 1 : 5);
  const auto qemu_counts = o.quick ? std::vector<std::uint32_t>{2} : counts;
  if (!measure_bringup(l, methods, l.name == "qemu" ? qemu_counts : counts, reps, tsc_hz, r.bringup,
                       why)) {
    return false;
  }
  return l.name != "hvk" || measure_floor(counts, reps, r.bringup, why);
}

std::string qemu_version(const std::string& qemu) {
  const ProcessRun v = run_process({qemu, "--version"}, 20);
  return v.out.empty() ? std::string() : v.out.front().text;
}

}  // namespace

int bench(const BenchOptions& o) {
  const std::string guest = round_trip_guest(o);
  const std::string smp = smp_guest(o);
  const std::string synic = synic_guest(o);
  std::string why;
  const auto image = read_file(guest, why);
  if (!image) return error(fmt::format("{} (--guest PATH)", why));
  if (!read_file(smp, why)) return error(fmt::format("{} (--smp-guest PATH)", why));
  if (o.wants("synic") && !read_file(synic, why)) {
    return error(fmt::format("{} (--synic-guest PATH)", why));
  }
  if (o.sandbox) close_inherited_fds();
  const auto tsc_hz = kvm_tsc_hz(why);
  if (!tsc_hz) return error(why);

  Report r;
  r.mode = o.quick ? "quick" : "full";
  r.machine = describe_machine();
  r.tsc_hz = *tsc_hz;
  r.iterations = o.iterations;
  print_header(r);

  if (o.wants("round-trips")) {
    if (const int status = measure_round_trips(o, guest, *image, r.round_trips); status != 0) {
      return status;
    }
    print_round_trips(r);
  }

  if (o.wants("synic")) {
    std::fprintf(stderr, "hvk bench: measuring the SynIC on bench-synic...\n");
    if (!measure_synic(synic_launcher(self_exe(), synic), o.quick ? 300 : 2000, o.quick ? 100 : 500,
                       r.tsc_hz, r.synic, why)) {
      return error(why);
    }
    print_synic(r);
  }

  if (!measure_vmm(hvk_launcher(self_exe(), smp), o, r.tsc_hz, {"svp", "sipi"}, r, why)) {
    return error(why);
  }
  if (!o.wants("qemu")) {
    r.qemu_skipped = "--only";
  } else if (o.qemu.empty()) {
    r.qemu_skipped = "--qemu ''";
  } else if (!have_program(o.qemu)) {
    r.qemu_skipped = fmt::format("{} is not installed (Debian: qemu-system-x86)", o.qemu);
  } else {
    r.qemu_version = qemu_version(o.qemu);
    const Launcher q = qemu_launcher(o.qemu, o.qemu_machine, smp);
    if (!measure_vmm(q, o, r.tsc_hz, {"sipi"}, r, why)) {
      r.qemu_skipped = fmt::format("QEMU failed: {}", why);
    }
  }
  print_speed(r);
  print_latency(r);
  print_startup(r);
  print_bringup(r);
  print_memory(r);
  print_targets(r);

  if (!o.json.empty()) {
    const std::string text = to_json(r);
    if (!write_file(o.json, std::as_bytes(std::span(text)), why)) return error(why);
  }
  return 0;
}

}  // namespace hvk::cli
