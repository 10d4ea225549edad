#include "cli/sandbox.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/audit.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string_view>

#include "cli/terminal.h"
#include "kvm/error.h"

namespace hvk::cli {

namespace {

// One allowed system call, optionally only with arguments that match (each rule's comparisons
// are ANDed; several rules for one call are ORed).
struct Rule {
  int nr;
  std::vector<scmp_arg_cmp> args;
};

// An argument comparison (libseccomp's SCMP_A0.. macros are C compound literals). For
// SCMP_CMP_MASKED_EQ, `a` is the mask and `b` the value.
scmp_arg_cmp arg(unsigned index, scmp_compare op, std::uint64_t a, std::uint64_t b = 0) {
  scmp_arg_cmp c{};
  c.arg = index;
  c.op = op;
  c.datum_a = a;
  c.datum_b = b;
  return c;
}

constexpr std::uint64_t kKvmIoctlType = 0xAE;  // KVMIO: every /dev/kvm, VM and vCPU ioctl

std::vector<Rule> rules(bool gdb_server = false) {
  std::vector<Rule> r;
  auto allow = [&](int nr, std::initializer_list<scmp_arg_cmp> args = {}) {
    r.push_back({nr, std::vector<scmp_arg_cmp>(args)});
  };
  // The vCPUs: KVM_RUN and the other vCPU ioctls on every exit path, and the VM ioctls a
  // partition created at run time needs (KVM_CREATE_VM on /dev/kvm, memory slots, vCPUs): any
  // ioctl whose type byte is KVMIO, on any descriptor. Of the terminal ioctls, only reading and
  // setting the modes (isatty() before the first console line; a console that puts stdin in raw
  // mode and restores it). TIOCSTI (typing into the terminal) and everything else are refused.
  allow(SCMP_SYS(ioctl), {arg(1, SCMP_CMP_MASKED_EQ, 0xFF00, kKvmIoctlType << 8)});
  for (std::uint64_t req : {std::uint64_t{TCGETS}, std::uint64_t{TCSETS}, std::uint64_t{TCSETSW},
                            std::uint64_t{TCSETSF}}) {
    allow(SCMP_SYS(ioctl), {arg(1, SCMP_CMP_EQ, req)});
  }
  // The console: guest output and messages (stdout, stderr), and writes to hvk's own descriptors
  // (an eventfd that wakes a thread, `hvk bench`'s result pipe); the descriptors a parent left
  // open are closed before set-up (close_inherited_fds). Serial input: reads of stdin only, and
  // polls (of stdin and an eventfd, created at run time if need be).
  allow(SCMP_SYS(write));
  allow(SCMP_SYS(writev));
  allow(SCMP_SYS(read), {arg(0, SCMP_CMP_EQ, 0)});
  allow(SCMP_SYS(poll));
  allow(SCMP_SYS(ppoll));
  allow(SCMP_SYS(eventfd2));
  // stdio's first use of a stream: fstat() of the descriptor (newfstatat with AT_EMPTY_PATH).
  allow(SCMP_SYS(fstat));
  allow(SCMP_SYS(newfstatat), {arg(3, SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)});
  // Memory: guest RAM and vCPU run areas (a partition created at run time), thread stacks, the
  // heap. Never executable: hvk loads no code after start.
  allow(SCMP_SYS(mmap), {arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
  allow(SCMP_SYS(mprotect), {arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
  allow(SCMP_SYS(munmap));
  allow(SCMP_SYS(mremap));
  allow(SCMP_SYS(madvise));
  allow(SCMP_SYS(brk));
  // Threads: one per VP (also for a partition created at run time). clone only for threads
  // (CLONE_THREAD): no new processes. clone3 passes its flags in memory the filter cannot read:
  // it fails with ENOSYS and glibc falls back to clone.
  allow(SCMP_SYS(clone), {arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)});
  allow(SCMP_SYS(set_robust_list));
  allow(SCMP_SYS(rseq));
  allow(SCMP_SYS(sched_getaffinity));  // malloc's arena count, on a thread's first allocation
  allow(SCMP_SYS(sched_yield));
  allow(SCMP_SYS(futex));
  allow(SCMP_SYS(exit));
  allow(SCMP_SYS(exit_group));
  allow(SCMP_SYS(getpid));
  allow(SCMP_SYS(gettid));
  // Signals: the kick (SIGUSR1 to a VP thread of this process) and its return, abort().
  allow(SCMP_SYS(tgkill), {arg(0, SCMP_CMP_EQ, static_cast<std::uint64_t>(::getpid()))});
  allow(SCMP_SYS(rt_sigaction));
  allow(SCMP_SYS(rt_sigprocmask));
  allow(SCMP_SYS(rt_sigreturn));
  allow(SCMP_SYS(restart_syscall));
  // Time: --timeout, the bounded waits, sleeps (the vDSO answers most clock reads without a call).
  allow(SCMP_SYS(clock_gettime));
  allow(SCMP_SYS(clock_getres));
  allow(SCMP_SYS(gettimeofday));
  allow(SCMP_SYS(clock_nanosleep));
  allow(SCMP_SYS(nanosleep));
  // Descriptors of a partition or vCPU that goes away.
  allow(SCMP_SYS(close));
  if (gdb_server) {
    // The gdb server (gdb/server.h): a connection on its listening socket, and the bytes of it
    // and of the socket pairs that wake its poll.
    allow(SCMP_SYS(accept4));
    allow(SCMP_SYS(recvfrom));
    allow(SCMP_SYS(sendto));
    allow(SCMP_SYS(setsockopt), {arg(1, SCMP_CMP_EQ, IPPROTO_TCP)});
  }
#ifdef HVK_SANITIZER_BUILD
  // The sanitizer runtimes (found by running every test under ASan + UBSan with the filter on;
  // docs/reliability.md). UBSan's vptr check probes memory through a pipe. ASan gives each new
  // thread an alternate signal stack. Reports read /proc/self/maps and the binary (read-only
  // opens, stat, readlink, fcntl, lseek) to symbolize. LeakSanitizer, at exit, clones a helper
  // task that shares the address space (CLONE_VM), which lists /proc/PID/task and stops every
  // thread with ptrace. None of this exists in a normal build.
  allow(SCMP_SYS(pipe2));
  allow(SCMP_SYS(sigaltstack));
  allow(SCMP_SYS(read));
  allow(SCMP_SYS(open), {arg(1, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT, O_RDONLY)});
  allow(SCMP_SYS(openat), {arg(2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT, O_RDONLY)});
  allow(SCMP_SYS(newfstatat));
  allow(SCMP_SYS(readlink));
  allow(SCMP_SYS(fcntl));
  allow(SCMP_SYS(lseek));
  allow(SCMP_SYS(getdents));
  allow(SCMP_SYS(prctl));
  allow(SCMP_SYS(clone), {arg(0, SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM)});
  allow(SCMP_SYS(getppid));
  allow(SCMP_SYS(ptrace));
  allow(SCMP_SYS(wait4));
#endif
  return r;
}

// Calls that fail with an error instead of ending the process, because the C library makes them
// by itself and copes with the error.
struct Refusal {
  int nr;
  std::uint32_t err;
};
const Refusal kRefusedWithAnError[] = {
    // pthread_create tries clone3 first and falls back to clone on ENOSYS.
    {SCMP_SYS(clone3), ENOSYS},
#ifndef HVK_SANITIZER_BUILD
    // malloc opens /sys/devices/system/cpu/online (then /proc/stat) to size its arenas on a new
    // thread's first allocation, and falls back to sched_getaffinity when it cannot. hvk itself
    // opens nothing once running; every open fails.
    {SCMP_SYS(openat), EACCES},
#endif
};

// Names for the SIGSYS message, resolved before the filter is in place (the handler must not
// allocate).
constexpr int kNames = 512;
std::array<std::array<char, 32>, kNames> g_names{};

void resolve_names() {
  for (int nr = 0; nr < kNames; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name != nullptr) {
      std::strncpy(g_names[static_cast<std::size_t>(nr)].data(), name, g_names[0].size() - 1);
      std::free(name);
    }
  }
}

// Async-signal-safe appends.
struct Line {
  std::array<char, 256> buf{};
  std::size_t n = 0;
  void put(std::string_view s) {
    for (char c : s) {
      if (n < buf.size()) buf[n++] = c;
    }
  }
  void put_number(long v) {
    char digits[24];
    int k = 0;
    unsigned long u =
        v < 0 ? static_cast<unsigned long>(-(v + 1)) + 1 : static_cast<unsigned long>(v);
    do {
      digits[k++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (v < 0) put("-");
    while (k > 0) {
      const char c = digits[--k];
      put(std::string_view(&c, 1));
    }
  }
};

void on_sigsys(int, siginfo_t* info, void*) {
  Line line;
  line.put("hvk: sandbox: refused system call ");
  const int nr = info->si_syscall;
  line.put_number(nr);
  if (info->si_arch != AUDIT_ARCH_X86_64) {
    line.put(" of another ABI (32-bit or x32)");
  } else if (nr >= 0 && nr < kNames && g_names[static_cast<std::size_t>(nr)][0] != '\0') {
    line.put(" (");
    line.put(g_names[static_cast<std::size_t>(nr)].data());
    line.put(")");
  }
  line.put(
      "; stopping (a bug in hvk, or a guest that took control of it; --no-sandbox runs "
      "without the filter)\n");
  restore_terminal_now();  // a raw console terminal gets its modes back first (cli/terminal.h)
  ssize_t ignored = ::write(STDERR_FILENO, line.buf.data(), line.n);
  (void)ignored;
  ::_exit(kExitSandbox);
}

}  // namespace

void close_inherited_fds() {
  // Best effort: a kernel without close_range (before 5.9) keeps them.
  (void)::close_range(3, ~0u, 0);
}

SandboxOptions sandbox_options_from_env() {
  SandboxOptions options;
  const char* mode = std::getenv("HVK_SANDBOX");  // NOLINT(concurrency-mt-unsafe): nothing sets it
  options.log_only = mode != nullptr && std::string_view(mode) == "log";
  return options;
}

bool install_sandbox(const SandboxOptions& options, std::string& why) {
  constexpr const char* kOff = " (--no-sandbox runs without the filter)";
  resolve_names();
  struct sigaction action {};
  action.sa_sigaction = on_sigsys;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSYS, &action, nullptr) != 0) {
    why = fmt::format("sandbox: sigaction SIGSYS: {}{}", kvm::errno_text(errno), kOff);
    return false;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    why = fmt::format("sandbox: PR_SET_NO_NEW_PRIVS: {}{}", kvm::errno_text(errno), kOff);
    return false;
  }
  const std::uint32_t refuse = options.log_only ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
  scmp_filter_ctx ctx = seccomp_init(refuse);
  if (ctx == nullptr) {
    why = fmt::format("sandbox: seccomp_init failed{}", kOff);
    return false;
  }
  auto fail = [&](const char* what, int rc) {
    why = fmt::format("sandbox: {}: {}{}", what, kvm::errno_text(-rc), kOff);
    seccomp_release(ctx);
    return false;
  };
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, refuse); rc != 0) {
    return fail("bad-architecture action", rc);
  }
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return fail("thread synchronisation", rc);
  }
  for (const Rule& rule : rules(options.gdb_server)) {
    if (int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, rule.nr,
                                        static_cast<unsigned>(rule.args.size()), rule.args.data());
        rc != 0) {
      return fail("adding a rule", rc);
    }
  }
  for (const Refusal& refusal : kRefusedWithAnError) {
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(refusal.err), refusal.nr, 0); rc != 0) {
      return fail("adding a rule", rc);
    }
  }
  if (int rc = seccomp_load(ctx); rc != 0) return fail("loading the filter", rc);
  seccomp_release(ctx);
  return true;
}

std::vector<std::string> sandbox_allowed_syscalls() {
  std::vector<std::string> names;
  for (const Rule& rule : rules()) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, rule.nr);
    std::string s = name != nullptr ? name : std::to_string(rule.nr);
    std::free(name);
    if (names.empty() || names.back() != s) names.push_back(std::move(s));
  }
  return names;
}

}  // namespace hvk::cli
