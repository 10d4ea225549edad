#include "kvm/error.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kvm/result.h"

namespace hvk::kvm {

std::string errno_text(int err) {
  const char* text = strerrordesc_np(err);  // thread-safe, unlike strerror
  return text != nullptr ? text : "Unknown error " + std::to_string(err);
}

std::string Error::message() const {
  if (err == 0) return op;
  return op + ": " + errno_text(err) + " (errno " + std::to_string(err) + ")";
}

Error Error::from_errno(std::string op) {
  return Error{std::move(op), errno};
}

namespace detail {

void unchecked_result(const Error* error) {
  if (error != nullptr) {
    std::fprintf(stderr, "hvk: value of a failed Result: %s\n", error->message().c_str());
  } else {
    std::fprintf(stderr, "hvk: error of a successful Result\n");
  }
  std::abort();
}

}  // namespace detail
}  // namespace hvk::kvm
