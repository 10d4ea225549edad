// gdb-target: the guest `hvk run --gdb`'s tests debug (tests/gdb/run-gdb-tests). It gives gdb
// named places and asserts from inside what gdb did:
// - gdb_count() writes g_counter three times (a watchpoint's target);
// - gdb_poke_point() is where the test's gdb writes g_poke; the guest then prints it (the test
//   looks for the value it wrote);
// - gdb_own_int3() runs the guest's own int3 while gdb has breakpoints in: the guest's #BP
//   handler must still get it (a debugger must not steal the guest's traps): status 0 only then.
#include <cstdint>

#include "guest/guest.h"

volatile std::uint64_t g_counter = 0;
volatile std::uint64_t g_poke = 0;

extern "C" [[gnu::noinline]] void gdb_count() {
  for (int i = 0; i < 3; ++i) g_counter = g_counter + 1;
}

extern "C" [[gnu::noinline]] void gdb_poke_point() {
  asm volatile("" ::: "memory");
}

namespace {
void own_int3(void*) {
  asm volatile("int3" ::: "memory");
}
}  // namespace

extern "C" [[gnu::noinline]] int gdb_own_int3() {
  return guest::catch_exception(own_int3, nullptr);
}

extern "C" int guest_main(const void*) {
  gdb_count();
  guest::printf("gdb-target: counter %lu\n", static_cast<unsigned long>(g_counter));
  const int vector = gdb_own_int3();
  guest::printf("gdb-target: own int3 raised vector %d\n", vector);
  gdb_poke_point();
  guest::printf("gdb-target: poke %#lx\n", static_cast<unsigned long>(g_poke));
  return vector == 3 ? 0 : 1;
}
