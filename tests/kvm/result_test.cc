// Error, Result, Fd and Mapping: no /dev/kvm needed.

#include "kvm/result.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kvm/fd.h"
#include "kvm/mapping.h"

namespace hvk::kvm {
namespace {

TEST(Error, MessageNamesOperationAndErrno) {
  EXPECT_EQ((Error{"KVM_CREATE_VM", EACCES}.message()),
            "KVM_CREATE_VM: Permission denied (errno 13)");
  EXPECT_EQ((Error{"KVM API version 11", 0}.message()), "KVM API version 11");
}

TEST(Error, FromErrnoCapturesErrno) {
  errno = ENOENT;
  EXPECT_EQ(Error::from_errno("open /x").err, ENOENT);
}

Result<int> half(int v) {
  if (v % 2 != 0) return Error{"odd", EINVAL};
  return v / 2;
}

TEST(Result, HoldsValueOrError) {
  auto good = half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 4);
  EXPECT_TRUE(good.status().ok());
  auto bad = half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().err, EINVAL);
  EXPECT_EQ(bad.status().error().op, "odd");
}

TEST(Result, VoidAndMoveOnlyValues) {
  Result<void> fine;
  EXPECT_TRUE(fine);
  Result<void> broken = Error{"x", EIO};
  EXPECT_EQ(broken.error().err, EIO);
  Result<Fd> fd = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd owned = std::move(*fd);
  EXPECT_TRUE(owned.valid());
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  EXPECT_DEATH((void)half(3).value(), "value of a failed Result: odd");
}

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST(Fd, ClosesOnceAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    Fd a(raw);
    Fd b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(b.get(), raw);
    Fd c;
    c = std::move(b);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(Fd, ReleaseGivesUpOwnership) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  { EXPECT_EQ(Fd(raw).release(), raw); }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(Mapping, AnonymousIsZeroedAndMoves) {
  auto m = Mapping::anonymous(1 << 16);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->size(), 1u << 16);
  EXPECT_EQ(m->bytes()[100], std::byte{0});
  m->bytes()[100] = std::byte{7};
  Mapping moved = std::move(*m);
  EXPECT_FALSE(*m);
  EXPECT_EQ(moved.span()[100], std::byte{7});
}

TEST(Mapping, FailureNamesTheMapping) {
  auto m = Mapping::map(4096, 0, MAP_SHARED, -1, 0, "mmap thing");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message().rfind("mmap thing: ", 0), 0u) << m.error().message();
}

}  // namespace
}  // namespace hvk::kvm
