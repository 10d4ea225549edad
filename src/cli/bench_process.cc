#include "cli/bench_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kvm/error.h"

namespace hvk::cli::bench_detail {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Pipe {
  int fd[2] = {-1, -1};
  bool open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

}  // namespace

ProcessRun run_process(const std::vector<std::string>& argv, double timeout_s,
                       const std::function<void(pid_t, const ProcessLine&)>& on_line) {
  ProcessRun run;
  Pipe out, err;
  if (!out.open() || !err.open()) {
    run.why = "pipe: " + kvm::errno_text(errno);
    return run;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const auto t0 = Clock::now();
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    run.why = fmt::format("{}: {}", argv[0], kvm::errno_text(rc));
    return run;
  }
  run.spawned = true;
  ::close(out.fd[1]);
  ::close(err.fd[1]);
  out.fd[1] = err.fd[1] = -1;

  std::string partial;
  double partial_ms = 0;
  bool out_open = true, err_open = true, killed = false;
  char buf[4096];
  while (out_open || err_open) {
    const double left_ms = timeout_s * 1000 - ms_since(t0);
    if (left_ms <= 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
      run.why = "timed out";
    }
    pollfd p[2] = {{out_open ? out.fd[0] : -1, POLLIN, 0}, {err_open ? err.fd[0] : -1, POLLIN, 0}};
    if (::poll(p, 2, killed ? 1000 : static_cast<int>(left_ms) + 1) < 0 && errno != EINTR) break;
    if (p[0].revents != 0) {
      const ssize_t n = ::read(out.fd[0], buf, sizeof buf);
      const double now = ms_since(t0);
      if (n <= 0) {
        out_open = false;
      } else {
        if (run.first_byte_ms < 0) run.first_byte_ms = now;
        for (ssize_t i = 0; i < n; ++i) {
          if (partial.empty()) partial_ms = now;
          if (buf[i] == '\n') {
            run.out.push_back({partial_ms, partial});
            if (on_line) on_line(pid, run.out.back());
            partial.clear();
          } else {
            partial.push_back(buf[i]);
          }
        }
      }
    }
    if (p[1].revents != 0) {
      const ssize_t n = ::read(err.fd[0], buf, sizeof buf);
      if (n <= 0) {
        err_open = false;
      } else {
        run.err.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  if (!partial.empty()) run.out.push_back({partial_ms, partial});
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  run.exit_ms = ms_since(t0);
  run.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return run;
}

Resident read_resident(pid_t pid, std::uint64_t guest_bytes) {
  Resident r;
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps");
  if (!f) return r;
  std::string line;
  bool guest = false;
  while (std::getline(f, line)) {
    unsigned long long lo = 0, hi = 0;
    char perms[8] = {};
    unsigned long long offset = 0, inode = 0;
    char dev[16] = {};
    // A mapping header: "lo-hi perms offset dev inode [path]".
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %15s %llu", &lo, &hi, perms, &offset, dev,
                    &inode) == 6) {
      const std::uint64_t size = hi - lo;
      const bool anonymous = inode == 0 && line.find('/') == std::string::npos &&
                             line.find('[') == std::string::npos &&
                             line.find("anon_inode") == std::string::npos;
      guest = anonymous && size >= guest_bytes && size <= guest_bytes + (4u << 20);
      continue;
    }
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "Rss: %llu kB", &kib) == 1) {
      r.total_kib += kib;
      if (guest) r.guest_kib += kib;
      r.ok = true;
    }
  }
  return r;
}

bool have_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): nothing sets it
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    dir += '/';
    dir += name;
    if (::access(dir.c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace hvk::cli::bench_detail
