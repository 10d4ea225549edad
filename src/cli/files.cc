#include "cli/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kvm/error.h"

namespace hvk::cli {

namespace {

// Closes a descriptor at the end of a scope unless release()d.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  // Closes now; the close's own result (0 or errno).
  int close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::string too_large(const std::string& path, std::uint64_t max_bytes) {
  return fmt::format("cannot load {}: it is larger than {} MiB, the most guest RAM hvk gives", path,
                     max_bytes >> 20);
}

// 0 or the errno of the failed write.
int write_all(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return 0;
}

}  // namespace

std::optional<std::vector<std::byte>> read_file(const std::string& path, std::string& why,
                                                std::uint64_t max_bytes) {
  FdCloser fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    why = fmt::format("cannot open {}: {}", path, kvm::errno_text(errno));
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    why = fmt::format("cannot read {}: {}", path, kvm::errno_text(errno));
    return std::nullopt;
  }
  std::vector<std::byte> out;
  if (S_ISREG(st.st_mode)) {
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
      why = too_large(path, max_bytes);
      return std::nullopt;
    }
    out.reserve(static_cast<std::size_t>(st.st_size));
  }
  // Not only regular files: a pipe (`<(...)`) or a device works too, up to max_bytes.
  constexpr std::size_t kChunk = 1 << 16;
  for (;;) {
    const std::size_t have = out.size();
    out.resize(have + kChunk);
    const ssize_t n = ::read(fd.get(), out.data() + have, kChunk);
    if (n < 0 && errno == EINTR) {
      out.resize(have);
      continue;
    }
    if (n < 0) {
      why = fmt::format("cannot read {}: {}", path, kvm::errno_text(errno));
      return std::nullopt;
    }
    out.resize(have + static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      why = too_large(path, max_bytes);
      return std::nullopt;
    }
    if (n == 0) break;
  }
  out.shrink_to_fit();
  return out;
}

bool write_file(const std::string& path, std::span<const std::byte> bytes, std::string& why) {
  auto failed = [&](int err) {
    why = fmt::format("cannot write {}: {}", path, kvm::errno_text(err));
    return false;
  };
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    // A device, a FIFO, a terminal, a directory (which open refuses): written in place, never
    // replaced (renaming over /dev/full as root would put a regular file there).
    FdCloser fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC));
    if (fd.get() < 0) return failed(errno);
    if (int err = write_all(fd.get(), bytes); err != 0) return failed(err);
    if (int err = fd.close(); err != 0) return failed(err);
    return true;
  }
  // The file a symbolic link names is replaced, not the link.
  std::string target = path;
  if (exists) {
    if (char* real = ::realpath(path.c_str(), nullptr)) {
      target = real;
      std::free(real);
    }
  }
  const std::size_t slash = target.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : target.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  std::string temp;
  int fd_raw = -1;
  for (int attempt = 0; attempt < 100 && fd_raw < 0; ++attempt) {
    temp = fmt::format("{}.{}.hvk-{}-{}.tmp", dir, base, ::getpid(), attempt);
    fd_raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_raw < 0 && errno != EEXIST) return failed(errno);
  }
  if (fd_raw < 0) return failed(EEXIST);
  FdCloser fd(fd_raw);
  int err = write_all(fd.get(), bytes);
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  if (int close_err = fd.close(); err == 0) err = close_err;
  if (err == 0 && std::rename(temp.c_str(), target.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    return failed(err);
  }
  return true;
}

}  // namespace hvk::cli
