#include "cli/bench_round_trips.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "cli/bench_common.h"
#include "cli/run.h"
#include "cli/sandbox.h"
#include "kvm/error.h"
#include "kvm/kick.h"
#include "machine/machine.h"
#include "machine/vmm.h"

namespace hvk::cli::bench_detail {

namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  const char* key;
  const char* what;
  bool once = false;  // measured once, after the rounds, not in each
};

// The guest writes mark k + 1 after operation k of a round (mark 0 opens the round).
constexpr std::array<Row, 7> kRows = {{
    {"floor", "port-I/O exit and back, same call sequence, no work (the floor)"},
    {"hypercall_rejected", "hypercall, unknown call code (rejected)"},
    {"get_vp_index_from_apic_id", "HvCallGetVpIndexFromApicId, 1 rep"},
    {"vtl_round_trip", "VtlCall + VtlReturn round trip"},
    {"get_vp_index_from_apic_id_prepared", "HvCallGetVpIndexFromApicId, input written once"},
    {"vtl1_interrupt",
     "interrupt into VTL 1 (IPI from VTL 0), handled, VtlReturn"},
    {"vtl1_interrupt_watched",
     "interrupt into VTL 1 from another VP's VTL 1 (the watch), handled", true},
}};
constexpr std::uint64_t kRounds = 10;

// Per row: the median and the minimum over the rounds, ns per operation.
using Results = std::array<double, 2 * kRows.size()>;

// Boots the bench guest and measures each row; the exit status (0: `ns` is filled). With
// `sandbox`, the filter goes on once the VM is set up.
int measure(const BenchOptions& o, const std::string& guest, std::span<const std::byte> image,
            const SandboxOptions* sandbox, Results& ns) {
  std::string why;
  auto kvm = open_kvm(why);
  if (!kvm) return error(why);
  if (auto r = kvm::install_kick_handler(); !r) return error(r.error().message());

  const std::uint64_t rounds = std::min(kRounds, o.iterations);
  const std::uint64_t per_round = o.iterations / rounds;
  std::mutex mu;
  Clock::time_point last{};
  std::array<std::vector<double>, kRows.size()> per_op;  // ns per operation, one per round
  machine::Vmm vmm(std::move(*kvm), false);
  hv::PartitionConfig pc;
  pc.vp_count = 2;  // VP 1 runs only the watched row (the guest starts it for that)
  pc.privileges = hv::default_privileges();
  hv::Partition& root = vmm.hv().create_root(pc);
  machine::MachineConfig mc;
  mc.cmdline = fmt::format("n={} rounds={}", per_round * rounds, rounds);
  mc.on_mark = [&](std::uint32_t, std::uint8_t m) {
    const auto now = Clock::now();
    std::lock_guard lock(mu);
    if (m >= 1 && m <= kRows.size()) {
      per_op[m - 1].push_back(std::chrono::duration<double, std::nano>(now - last).count() /
                              static_cast<double>(per_round));
    }
    last = now;
  };
  auto m = machine::Machine::create(vmm, root, image, mc);
  if (!m) return error(fmt::format("{}: {}", guest, m.error()));
  vmm.add(std::move(*m));
  if (sandbox != nullptr && !install_sandbox(*sandbox, why)) return error(why);
  vmm.start();
  const int status = vmm.wait(300);
  if (status != 0) {
    // hvk has said why already when it ended the run itself (say, stdout is full).
    if (!vmm.explained()) error(fmt::format("the bench guest ended with status {}", status));
    return 1;
  }
  for (std::size_t k = 0; k < kRows.size(); ++k) {
    if (per_op[k].size() != (kRows[k].once ? 1 : rounds)) {
      return error("the bench guest did not mark every round");
    }
    ns[2 * k] = median(per_op[k]);
    ns[2 * k + 1] = *std::min_element(per_op[k].begin(), per_op[k].end());
  }
  return 0;
}

// measure() in a child process under the sandbox; the results come back through a pipe.
int measure_contained(const BenchOptions& o, const std::string& guest,
                      std::span<const std::byte> image, Results& ns) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return error(fmt::format("pipe: {}", kvm::errno_text(errno)));
  }
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = ::fork();
  if (pid < 0) return error(fmt::format("fork: {}", kvm::errno_text(errno)));
  if (pid == 0) {
    ::close(fds[0]);
    const SandboxOptions sandbox = sandbox_options_from_env();
    Results r{};
    int status = measure(o, guest, image, &sandbox, r);
    if (status == 0) {
      const auto* p = reinterpret_cast<const char*>(r.data());
      std::size_t left = sizeof r;
      while (left > 0) {
        const ssize_t n = ::write(fds[1], p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          status = error(fmt::format("sending the results: {}", kvm::errno_text(errno)));
          break;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    }
    std::fflush(nullptr);
    std::_Exit(status);  // a forked child: no atexit handlers or static destructors
  }
  ::close(fds[1]);
  std::size_t got = 0;
  auto* p = reinterpret_cast<char*>(ns.data());
  while (got < sizeof ns) {
    const ssize_t n = ::read(fds[0], p + got, sizeof ns - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return error(fmt::format("waitpid: {}", kvm::errno_text(errno)));
  }
  if (WIFSIGNALED(wstatus)) {
    return error(fmt::format("the measuring process died of signal {}", WTERMSIG(wstatus)));
  }
  if (WEXITSTATUS(wstatus) != 0) return WEXITSTATUS(wstatus);  // it said why
  if (got != sizeof ns) return error("the measuring process sent no results");
  return 0;
}

}  // namespace

int measure_round_trips(const BenchOptions& o, const std::string& guest,
                        std::span<const std::byte> image, std::vector<RoundTrip>& rows) {
  Results ns{};
  const int status =
      o.sandbox ? measure_contained(o, guest, image, ns) : measure(o, guest, image, nullptr, ns);
  if (status != 0) return status;
  rows.clear();
  const double floor = ns[0];
  for (std::size_t k = 0; k < kRows.size(); ++k) {
    rows.push_back(
        {kRows[k].key, kRows[k].what, ns[2 * k], ns[2 * k + 1], floor > 0 ? ns[2 * k] / floor : 0});
  }
  return 0;
}

}  // namespace hvk::cli::bench_detail
