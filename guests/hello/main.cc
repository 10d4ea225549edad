// hello: the smallest bundled guest. Prints a greeting and the command line on COM1, then exits
// with status 0, or N when the command line holds "exit=N" (decimal or 0x hex, 0-255).
// It touches nothing but COM1 and the exit port: no CPUID, MSRs, APIC or hypercalls.
#include <cstdint>

#include "guest/guest.h"

extern "C" int guest_main(const void*) {
  guest::puts("hello from hvk guest");
  guest::printf("hello: cmdline \"%s\"\n", guest::cmdline());
  int status = 0;
  if (const char* v = guest::cmdline_value("exit")) {
    std::uint64_t n;
    if (!guest::parse_u64(v, &n) || n > 255) {
      guest::puts("hello: bad exit=N (want 0-255)");
      return 1;
    }
    status = static_cast<int>(n);
  }
  guest::printf("hello: exiting with status %d\n", status);
  return status;
}
