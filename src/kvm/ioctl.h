#pragma once

// Internal to src/kvm: the one place ioctl(2) results become Results.

#include <sys/ioctl.h>

#include <cerrno>

#include "kvm/result.h"

namespace hvk::kvm::detail {

// ioctl(2), retried on EINTR; a failure becomes an Error named after the request.
template <class Arg>
Result<int> ioctl(int fd, unsigned long request, const char* name, Arg arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Error::from_errno(name);
  return r;
}

}  // namespace hvk::kvm::detail

// Names the error after the request macro itself, e.g. "KVM_SET_REGS".
#define HVK_KVM_IOCTL(fd, request, arg) ::hvk::kvm::detail::ioctl((fd), (request), #request, (arg))
