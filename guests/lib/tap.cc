// TAP output.
#include <cstdarg>

#include "guest/guest.h"

namespace guest {

namespace {
unsigned g_planned = 0;
unsigned g_run = 0;
unsigned g_failed = 0;
}  // namespace

void tap_plan(unsigned n) {
  g_planned = n;
  printf("1..%u\n", n);
}

bool tap_ok(bool cond, const char* fmt, ...) {
  LineLock lock;
  ++g_run;
  if (!cond) ++g_failed;
  printf("%s %u - ", cond ? "ok" : "not ok", g_run);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putc('\n');
  return cond;
}

void tap_skip(const char* fmt, ...) {
  LineLock lock;
  ++g_run;
  printf("ok %u # SKIP ", g_run);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putc('\n');
}

void tap_skip_desc(const char* desc, const char* reason_fmt, ...) {
  LineLock lock;
  ++g_run;
  printf("ok %u - %s # SKIP ", g_run, desc);
  va_list ap;
  va_start(ap, reason_fmt);
  vprintf(reason_fmt, ap);
  va_end(ap);
  putc('\n');
}

void tap_diag(const char* fmt, ...) {
  LineLock lock;
  write("# ");
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putc('\n');
}

unsigned tap_failed() {
  return g_failed;
}

int tap_summary() {
  LineLock lock;
  printf("# %u/%u passed, %u failed\n", g_run - g_failed, g_run, g_failed);
  if (g_run != g_planned) printf("# planned %u tests but ran %u\n", g_planned, g_run);
  return g_failed == 0 && g_run == g_planned ? 0 : 1;
}

void tap_exit() {
  exit(tap_summary());
}

}  // namespace guest
