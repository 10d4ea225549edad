#pragma once

#include <string>

namespace hvk::kvm {

// A failed host operation: what was attempted and the errno it failed with (0 when the failure
// did not come from a system call, and `op` then says everything).
struct Error {
  std::string op;
  int err = 0;

  // "KVM_CREATE_VM: Permission denied (errno 13)", or just `op` when err is 0.
  std::string message() const;

  // An Error for `op` carrying the current errno.
  static Error from_errno(std::string op);
};

// The text for an errno value ("Permission denied"), safe to call from any thread (strerror is
// not).
std::string errno_text(int err);

}  // namespace hvk::kvm
