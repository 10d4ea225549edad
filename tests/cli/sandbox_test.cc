// The sandbox (src/cli/sandbox.h), installed in a child process by each death test: what it
// refuses ends the process with kExitSandbox and a line naming the call (or, for opens, fails);
// what hvk's run loop needs still works, including a KVM VM and vCPU created after it is on (a
// partition created at run time).
#include "cli/sandbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using hvk::cli::install_sandbox;
using hvk::cli::kExitSandbox;
using ::testing::ExitedWithCode;

void sandbox_or_exit() {
  std::string why;
  if (!install_sandbox({}, why)) {
    std::fprintf(stderr, "install_sandbox: %s\n", why.c_str());
    std::_Exit(2);
  }
}

// Each statement runs in a forked child (a death test); it must not return.
TEST(SandboxDeathTest, ExecveEndsTheProcessAndNamesTheCall) {
  auto child1 = [&] {
    sandbox_or_exit();
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    syscall(SYS_execve, "/bin/true", argv, environ);
    std::_Exit(0);
  };
  EXPECT_EXIT(child1(), ExitedWithCode(kExitSandbox),
              "hvk: sandbox: refused system call 59 \\(execve\\)");
}

TEST(SandboxDeathTest, SocketIsRefused) {
  auto child2 = [&] {
    sandbox_or_exit();
    syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    std::_Exit(0);
  };
  EXPECT_EXIT(child2(), ExitedWithCode(kExitSandbox), "refused system call 41 \\(socket\\)");
}

TEST(SandboxDeathTest, NoNewProcess) {
  auto child3 = [&] {
    sandbox_or_exit();
    syscall(SYS_fork);
    std::_Exit(0);
  };
  EXPECT_EXIT(child3(), ExitedWithCode(kExitSandbox), "\\(fork\\)");
  // glibc's fork() is clone without CLONE_THREAD.
  auto child4 = [&] {
    sandbox_or_exit();
    if (fork() == 0) std::_Exit(0);
    std::_Exit(0);
  };
  EXPECT_EXIT(child4(), ExitedWithCode(kExitSandbox), "\\(clone\\)");
}

TEST(SandboxDeathTest, SignalsOnlyToItself) {
  const pid_t parent = getpid();
  auto child5 = [&] {
    sandbox_or_exit();
    syscall(SYS_kill, parent, 0);
    std::_Exit(0);
  };
  EXPECT_EXIT(child5(), ExitedWithCode(kExitSandbox), "\\(kill\\)");
  auto child6 = [&] {
    sandbox_or_exit();
    syscall(SYS_tgkill, parent, parent, 0);
    std::_Exit(0);
  };
  EXPECT_EXIT(child6(), ExitedWithCode(kExitSandbox), "\\(tgkill\\)");
}

TEST(SandboxDeathTest, TerminalInjectionIsRefused) {
  auto child7 = [&] {
    sandbox_or_exit();
    char c = 'x';
    syscall(SYS_ioctl, 0, TIOCSTI, &c);
    std::_Exit(0);
  };
  EXPECT_EXIT(child7(), ExitedWithCode(kExitSandbox), "\\(ioctl\\)");
}

TEST(SandboxDeathTest, NoExecutableMemory) {
  auto child8 = [&] {
    sandbox_or_exit();
    syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    std::_Exit(0);
  };
  EXPECT_EXIT(child8(), ExitedWithCode(kExitSandbox), "\\(mmap\\)");
  auto child9 = [&] {
    void* p = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sandbox_or_exit();
    syscall(SYS_mprotect, p, 4096, PROT_READ | PROT_EXEC);
    std::_Exit(0);
  };
  EXPECT_EXIT(child9(), ExitedWithCode(kExitSandbox), "\\(mprotect\\)");
}

#ifndef HVK_SANITIZER_BUILD  // the sanitizer runtimes read files
TEST(SandboxDeathTest, ReadsOnlyStdin) {
  auto child10 = [&] {
    const int fd = open("/proc/self/status", O_RDONLY);
    sandbox_or_exit();
    char buf[16];
    syscall(SYS_read, fd, buf, sizeof buf);
    std::_Exit(0);
  };
  EXPECT_EXIT(child10(), ExitedWithCode(kExitSandbox), "\\(read\\)");
}
#endif

// No file can be created or opened for writing: the open fails (EACCES) or, in sanitizer builds,
// where read-only opens are allowed for the runtimes, ends the process.
TEST(SandboxDeathTest, NothingIsOpenedForWriting) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("hvk-sandbox-test-" + std::to_string(getpid())))
          .string();
  auto child11 = [&] {
    sandbox_or_exit();
    const long fd = syscall(SYS_openat, AT_FDCWD, path.c_str(), O_WRONLY | O_CREAT, 0600);
    std::_Exit(fd == -1 && errno == EACCES ? 0 : 1);
  };
  auto failed_or_ended = [](int status) {
    return WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == kExitSandbox);
  };
  EXPECT_EXIT(child11(), failed_or_ended, "");
  struct stat st {};
  EXPECT_NE(stat(path.c_str(), &st), 0) << path << " was created";
  unlink(path.c_str());
}

#ifndef HVK_SANITIZER_BUILD
TEST(SandboxDeathTest, OpensFailWithEacces) {
  auto child12 = [&] {
    sandbox_or_exit();
    const long fd = syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
    std::_Exit(fd == -1 && errno == EACCES ? 0 : 1);
  };
  EXPECT_EXIT(child12(), ExitedWithCode(0), "");
}
#endif

// What hvk does once the filter is on, in one child: threads (and their first allocations, which
// make glibc's malloc look for the CPU count), locks and timed waits, the kick signal, memory,
// stdio on stdout and stderr, stdin through a pipe, an eventfd, and a KVM VM with a vCPU created
// and mapped after the filter (skipped where /dev/kvm cannot be opened). Then a normal exit.
TEST(SandboxDeathTest, WhatTheRunLoopNeedsStillWorks) {
  auto child13 = [&] {
    int in[2];
    if (pipe(in) != 0 || dup2(in[0], 0) != 0) std::_Exit(3);
    const int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    struct sigaction kick {};
    kick.sa_handler = [](int) {};
    sigaction(SIGUSR1, &kick, nullptr);
    sandbox_or_exit();
    auto check = [](bool ok, int code) {
      if (!ok) {
        std::fprintf(stderr, "check %d failed (errno %d)\n", code, errno);
        std::_Exit(code);
      }
    };
    // Threads, each allocating, woken through a condition variable with a timeout.
    std::mutex mu;
    std::condition_variable cv;
    bool go = false;
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&] {
        std::vector<char> big(4 << 20, 'x');
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::seconds(10), [&] { return go; });
        done += big[0] == 'x' ? 1 : 0;
      });
    }
    check(pthread_kill(threads[0].native_handle(), SIGUSR1) == 0, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    {
      std::lock_guard lock(mu);
      go = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
    check(done == 8, 11);
    // stdout, stderr (stdio's first use stats the descriptor), stdin.
    check(std::printf("stdout works\n") > 0 && std::fflush(stdout) == 0, 12);
    std::fprintf(stderr, "stderr works\n");
    check(write(in[1], "abc", 3) == 3, 13);
    pollfd p{0, POLLIN, 0};
    check(poll(&p, 1, 1000) == 1, 14);
    char buf[3];
    check(read(0, buf, 3) == 3 && buf[2] == 'c', 15);
    check(isatty(0) == 0, 16);  // TCGETS, answered ENOTTY for a pipe
    const int ev = eventfd(0, EFD_CLOEXEC);
    const std::uint64_t one = 1;
    check(ev >= 0 && write(ev, &one, sizeof one) == sizeof one, 17);
    check(close(ev) == 0, 18);
    if (kvm >= 0) {
      check(ioctl(kvm, KVM_GET_API_VERSION, 0) == KVM_API_VERSION, 20);
      const int vm = ioctl(kvm, KVM_CREATE_VM, 0);
      check(vm >= 0, 21);
      void* ram = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      check(ram != MAP_FAILED, 22);
      kvm_userspace_memory_region region{};
      region.memory_size = 1 << 20;
      region.userspace_addr = reinterpret_cast<std::uint64_t>(ram);
      check(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) == 0, 23);
      const int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
      check(vcpu >= 0, 24);
      const int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
      void* run = mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED,
                       vcpu, 0);
      check(run != MAP_FAILED, 25);
      check(munmap(run, static_cast<std::size_t>(size)) == 0, 26);
      check(close(vcpu) == 0 && close(vm) == 0 && munmap(ram, 1 << 20) == 0, 27);
    }
    std::exit(0);
  };
  EXPECT_EXIT(child13(), ExitedWithCode(0), "stderr works");
}

#ifdef HVK_SANITIZER_BUILD
// The sanitizer runtimes still report under the filter: an ASan error is ASan's report (and its
// status 1), not a sandbox stop.
TEST(SandboxDeathTest, SanitizerReportsStillWork) {
  auto child = [] {
    sandbox_or_exit();
    std::vector<int> v(4);
    volatile int* p = v.data();
    p[4] = 1;  // one past the end
    std::_Exit(0);
  };
  EXPECT_EXIT(child(), ExitedWithCode(1), "heap-buffer-overflow.*sandbox_test.cc:[0-9]+");
}

int* volatile g_leak = nullptr;

// LeakSanitizer, at exit, stops the threads with ptrace from a task it clones, under the filter
// (in ASan builds its report ends the process with status 1).
TEST(SandboxDeathTest, LeakReportsStillWork) {
  auto child = [] {
    sandbox_or_exit();
    g_leak = new int[64];
    g_leak = nullptr;
    std::exit(0);
  };
  EXPECT_EXIT(child(), ExitedWithCode(1), "detected memory leaks.*sandbox_test.cc:[0-9]+");
}
#endif

TEST(Sandbox, AllowedListNamesTheRunLoopsCalls) {
  const auto names = hvk::cli::sandbox_allowed_syscalls();
  for (const char* name : {"ioctl", "write", "read", "mmap", "clone", "futex", "exit_group"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  for (const char* name : {"execve", "socket", "openat", "ptrace", "fork", "kill"}) {
#ifdef HVK_SANITIZER_BUILD
    if (std::string_view(name) == "openat" || std::string_view(name) == "ptrace") continue;
#endif
    EXPECT_EQ(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

}  // namespace
