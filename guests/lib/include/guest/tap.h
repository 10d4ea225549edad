// A TAP (Test Anything Protocol) printer for conformance guests.
#pragma once

#include <cstdint>

namespace guest {

void tap_plan(unsigned n);                                                   // "1..n"
[[gnu::format(printf, 2, 3)]] bool tap_ok(bool cond, const char* fmt, ...);  // "ok N - ..."
[[gnu::format(printf, 1, 2)]] void tap_skip(const char* fmt, ...);           // "ok N # SKIP ..."
// "ok N - <desc> # SKIP <reason>": a named test that was skipped.
[[gnu::format(printf, 2, 3)]] void tap_skip_desc(const char* desc, const char* reason_fmt, ...);
[[gnu::format(printf, 1, 2)]] void tap_diag(const char* fmt, ...);  // "# ..."
unsigned tap_failed();
// Prints "# <passed>/<run> passed, <failed> failed" (and a note when the plan was not met);
// returns 0 when everything planned ran and passed, else 1.
int tap_summary();
[[noreturn]] void tap_exit();  // exit(tap_summary())

}  // namespace guest
