// What the fuzz targets share: an invariant check that aborts (so libFuzzer reports the input and
// a stack trace), and an opt-in log of what an input did (HVK_FUZZ_VERBOSE=1), for checking seeds.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace hvk::fuzz {

[[noreturn]] inline void check_failed(const char* file, int line, const char* what) {
  std::fprintf(stderr, "\nhvk fuzz invariant violated at %s:%d: %s\n", file, line, what);
  std::abort();
}

inline bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("HVK_FUZZ_VERBOSE");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return on;
}

#if defined(__clang__) || defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
inline void log_line(const char* format, ...) {
  if (!verbose()) return;
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
}

}  // namespace hvk::fuzz

// Aborts with the condition's text when `cond` is false.
#define HVK_FUZZ_CHECK(cond)                                                      \
  do {                                                                            \
    if (!(cond)) ::hvk::fuzz::check_failed(__FILE__, __LINE__, #cond);            \
  } while (false)
