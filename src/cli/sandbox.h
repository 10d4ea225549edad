// hvk's containment (issue 7 item 4): once the VMs are set up, PR_SET_NO_NEW_PRIVS and a seccomp
// filter that allows only the system calls the run loop makes. Anything else (openat, execve,
// socket, ...) ends the process: a SIGSYS handler prints the call's number and name on stderr and
// exits with kExitSandbox. docs/reliability.md ("Containment") lists what is allowed and why.
#pragma once

#include <string>
#include <vector>

namespace hvk::cli {

// The status of a process the sandbox stopped (128 + SIGSYS, what a shell shows for a SIGSYS
// death).
inline constexpr int kExitSandbox = 159;

struct SandboxOptions {
  // Refusals are only logged by the kernel (SCMP_ACT_LOG, see the audit log or dmesg), for finding
  // what a change to hvk needs; HVK_SANDBOX=log in the environment.
  bool log_only = false;
  // `hvk run --gdb`: the server's thread accepts a connection on the socket it listens on (made
  // before the filter) and talks over it (accept4, recvfrom, sendto, setsockopt for TCP_NODELAY).
  bool gdb_server = false;
};

// Closes every descriptor above stderr. Called before hvk opens its own (after reading the images,
// which may be /dev/fd/N), so that the descriptors the sandboxed process can write are stdout,
// stderr and hvk's own (KVM, eventfds, pipes), never one a parent process left open.
void close_inherited_fds();

// SandboxOptions with log_only taken from the environment (HVK_SANDBOX=log).
SandboxOptions sandbox_options_from_env();

// Installs the SIGSYS handler, PR_SET_NO_NEW_PRIVS and the filter on every thread of the process
// (TSYNC). False, with `why` set to one line, if the kernel refuses any of them. Builds with
// sanitizers (HVK_SANITIZE) allow a few more calls their runtimes make (docs/reliability.md).
bool install_sandbox(const SandboxOptions& options, std::string& why);

// The names of the system calls the filter allows (some only with the arguments the comments in
// sandbox.cc give), for tests and diagnostics.
std::vector<std::string> sandbox_allowed_syscalls();

}  // namespace hvk::cli
