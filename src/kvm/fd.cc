#include "kvm/fd.h"

#include <unistd.h>

namespace hvk::kvm {

void Fd::reset(int fd) noexcept {
  // Linux releases the descriptor even when close() fails, so there is nothing to retry.
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

}  // namespace hvk::kvm
