// The raw console terminal (cli/terminal.h) on a pseudo-terminal: raw while alive, and its modes
// back exactly as they were however the process ends: normally, by a signal, by the sandbox.
// And the escape key (cli/console_escape.h).
#include "cli/terminal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "cli/console_escape.h"
#include "cli/sandbox.h"

namespace hvk::cli {
namespace {

// A pseudo-terminal pair: the test holds the master, RawTerminal gets the slave.
class Pty {
 public:
  Pty() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) return;
    slave_ = ::open(::ptsname(master_), O_RDWR | O_NOCTTY);
  }
  ~Pty() {
    if (slave_ >= 0) ::close(slave_);
    if (master_ >= 0) ::close(master_);
  }
  int slave() const { return slave_; }
  termios modes() const {
    termios t{};
    EXPECT_EQ(::tcgetattr(slave_, &t), 0);
    return t;
  }

 private:
  int master_ = -1;
  int slave_ = -1;
};

bool same(const termios& a, const termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag &&
         a.c_lflag == b.c_lflag && std::memcmp(a.c_cc, b.c_cc, sizeof a.c_cc) == 0;
}

// Runs `body` in a forked child and returns its wait status.
template <class F>
int in_child(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(RawTerminal, RawWhileAliveAndRestoredAfter) {
  Pty pty;
  ASSERT_GE(pty.slave(), 0);
  const termios before = pty.modes();
  {
    RawTerminal raw(pty.slave());
    ASSERT_TRUE(raw.active());
    const termios t = pty.modes();
    EXPECT_EQ(t.c_lflag & (ICANON | ECHO | ISIG), 0u);  // keys go to the guest, Ctrl-C too
    EXPECT_EQ(t.c_iflag & (ICRNL | IXON), 0u);
    EXPECT_NE(t.c_oflag & OPOST, 0u);  // "\n" still starts a line
    EXPECT_NE(t.c_oflag & ONLCR, 0u);
  }
  EXPECT_TRUE(same(pty.modes(), before));
}

TEST(RawTerminal, NotATerminalChangesNothing) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  RawTerminal raw(fds[0]);
  EXPECT_FALSE(raw.active());
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(RawTerminal, RestoredWhenASignalEndsTheProcess) {
  Pty pty;
  ASSERT_GE(pty.slave(), 0);
  const termios before = pty.modes();
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGSEGV}) {
    const int status = in_child([&] {
      RawTerminal raw(pty.slave());
      if (!raw.active()) ::_exit(3);
      ::raise(sig);
      ::_exit(4);  // not reached: the signal ends the process
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << sig << " " << status;
    EXPECT_EQ(WTERMSIG(status), sig);  // it died of the same signal
    EXPECT_TRUE(same(pty.modes(), before)) << sig;
  }
}

TEST(RawTerminal, RestoredWhenTheSandboxStopsHvk) {
  Pty pty;
  ASSERT_GE(pty.slave(), 0);
  const termios before = pty.modes();
  const int status = in_child([&] {
    RawTerminal raw(pty.slave());
    if (!raw.active()) ::_exit(3);
    std::string why;
    if (!install_sandbox({}, why)) ::_exit(2);
    (void)::socket(AF_INET, SOCK_STREAM, 0);  // refused: the SIGSYS handler ends the process
    ::_exit(4);
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kExitSandbox);
  EXPECT_TRUE(same(pty.modes(), before));
}

struct Escaped {
  std::string delivered;
  int quits = 0;
  int helps = 0;
};

Escaped run(ConsoleEscape& e, Escaped& r, std::string input) {
  std::vector<std::uint8_t> bytes(input.begin(), input.end());
  const std::size_t n = e.filter(bytes);
  r.delivered.append(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  return r;
}

TEST(ConsoleEscape, EveryOtherByteGoesToTheGuest) {
  Escaped r;
  ConsoleEscape e([&] { ++r.quits; }, [&] { ++r.helps; });
  run(e, r, std::string("ls\x03\r\x04\x1b[A", 9));
  EXPECT_EQ(r.delivered, std::string("ls\x03\r\x04\x1b[A", 9));  // Ctrl-C included
  EXPECT_EQ(r.quits + r.helps, 0);
}

TEST(ConsoleEscape, EscapesAndTheLiteralEscapeKey) {
  Escaped r;
  ConsoleEscape e([&] { ++r.quits; }, [&] { ++r.helps; });
  run(e, r,
      "a\x01"
      "hb\x01\x01"
      "c\x01zd");
  EXPECT_EQ(r.delivered,
            "ab\x01"
            "cd");  // h prints help, Ctrl-A Ctrl-A is one Ctrl-A, z dropped
  EXPECT_EQ(r.helps, 1);
  EXPECT_EQ(r.quits, 0);
  run(e, r, "e\x01");  // an escape split across two reads
  run(e, r, "xf");
  EXPECT_EQ(r.quits, 1);
  EXPECT_EQ(r.delivered,
            "ab\x01"
            "cde");  // nothing after Ctrl-A x
  run(e, r, "g");
  EXPECT_EQ(r.delivered,
            "ab\x01"
            "cde");
}

}  // namespace
}  // namespace hvk::cli
