// The files hvk reads and writes (src/cli/files.h): one-line errors, and an output file that is
// either written whole or left as it was.
#include "cli/files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using hvk::cli::read_file;
using hvk::cli::write_file;

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/hvk-files-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename().string());
    return out;
  }
  static std::string contents(const std::string& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  static void put(const std::string& p, const std::string& text) { std::ofstream(p) << text; }
  static bool write(const std::string& p, const std::string& text, std::string& why) {
    return write_file(p, std::as_bytes(std::span(text)), why);
  }

  fs::path dir_;
};

TEST_F(Files, WritesANewFileWithNothingElseLeft) {
  std::string why;
  ASSERT_TRUE(write(path("out.json"), "{}\n", why)) << why;
  EXPECT_EQ(contents(path("out.json")), "{}\n");
  EXPECT_EQ(names(), std::set<std::string>{"out.json"});
}

TEST_F(Files, ReplacesAnOldFileWhole) {
  put(path("out.json"), "old old old old old\n");
  std::string why;
  ASSERT_TRUE(write(path("out.json"), "new\n", why)) << why;
  EXPECT_EQ(contents(path("out.json")), "new\n");
  EXPECT_EQ(names(), std::set<std::string>{"out.json"});
}

TEST_F(Files, ThroughASymlinkTheTargetIsReplacedAndTheLinkKept) {
  put(path("target"), "old\n");
  fs::create_symlink(path("target"), path("link"));
  std::string why;
  ASSERT_TRUE(write(path("link"), "new\n", why)) << why;
  EXPECT_TRUE(fs::is_symlink(path("link")));
  EXPECT_EQ(contents(path("target")), "new\n");
  EXPECT_EQ(names(), (std::set<std::string>{"link", "target"}));
}

TEST_F(Files, AFullDiskLeavesTheOldFileAndNoTemporary) {
  put(path("out.json"), "old\n");
  // The file-size limit makes every write to a regular file fail (EFBIG) as a full disk would.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit zero = saved;
  zero.rlim_cur = 0;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &zero), 0);
  std::string why;
  const bool ok = write(path("out.json"), "new\n", why);
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(ok);
  EXPECT_EQ(why, "cannot write " + path("out.json") + ": File too large");
  EXPECT_EQ(contents(path("out.json")), "old\n");
  EXPECT_EQ(names(), std::set<std::string>{"out.json"});
}

TEST_F(Files, DevicesAreWrittenInPlace) {
  std::string why;
  EXPECT_FALSE(write("/dev/full", "x", why));
  EXPECT_EQ(why, "cannot write /dev/full: No space left on device");
  struct stat st {};
  ASSERT_EQ(stat("/dev/full", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_TRUE(write("/dev/null", "x", why)) << why;
}

TEST_F(Files, WriteErrorsAreOneLine) {
  std::string why;
  EXPECT_FALSE(write(path("missing/out.json"), "x", why));
  EXPECT_EQ(why, "cannot write " + path("missing/out.json") + ": No such file or directory");
  fs::create_directory(path("d"));
  EXPECT_FALSE(write(path("d"), "x", why));
  EXPECT_EQ(why, "cannot write " + path("d") + ": Is a directory");
}

TEST_F(Files, ReadErrorsAreOneLine) {
  std::string why;
  EXPECT_FALSE(read_file(path("missing.elf"), why));
  EXPECT_EQ(why, "cannot open " + path("missing.elf") + ": No such file or directory");
  EXPECT_FALSE(read_file(dir_.string(), why));
  EXPECT_EQ(why, "cannot read " + dir_.string() + ": Is a directory");
  // A (sparse) file over the limit is refused before it is read.
  { std::ofstream(path("big")).put('x'); }
  fs::resize_file(path("big"), 5ull << 30);
  EXPECT_FALSE(read_file(path("big"), why));
  EXPECT_EQ(why, "cannot load " + path("big") +
                     ": it is larger than 3072 MiB, the most guest RAM hvk gives");
  // So is a stream that goes on too long.
  EXPECT_FALSE(read_file("/dev/zero", why, 1 << 20));
  EXPECT_EQ(why, "cannot load /dev/zero: it is larger than 1 MiB, the most guest RAM hvk gives");
}

TEST_F(Files, ReadsRegularFilesAndPipes) {
  put(path("image"), "abc");
  std::string why;
  const auto bytes = read_file(path("image"), why);
  ASSERT_TRUE(bytes) << why;
  EXPECT_EQ(bytes->size(), 3u);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "hello", 5), 5);
  close(fds[1]);
  const auto piped = read_file("/dev/fd/" + std::to_string(fds[0]), why);
  close(fds[0]);
  ASSERT_TRUE(piped) << why;
  EXPECT_EQ(piped->size(), 5u);
}

}  // namespace
