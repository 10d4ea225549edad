// Status slots, the environment, workers and failure reporting.
#include <cstdarg>

#include "hostile.h"

namespace hostile {

namespace {

Env g_env;
Worker g_workers[kMaxVps];
std::uint64_t g_failures = 0;

const char* const kSlotNames[kSlotOther] = {
    "SUCCESS",
    "INVALID_HYPERCALL_CODE",
    "INVALID_HYPERCALL_INPUT",
    "INVALID_ALIGNMENT",
    "INVALID_PARAMETER",
    "ACCESS_DENIED",
    "INVALID_PARTITION_STATE",
    "INVALID_PARTITION_ID",
    "INVALID_VP_INDEX",
    "INVALID_VP_STATE",
    "INVALID_REGISTER_VALUE",
    "INVALID_VTL_STATE",
    "VTL_ALREADY_ENABLED",
    "UNKNOWN_REGISTER_NAME",
};

}  // namespace

const char* slot_name(unsigned slot) {
  return slot < kSlotOther ? kSlotNames[slot] : "other";
}

void format_set(StatusSet s, char* buf, std::size_t size) {
  std::size_t n = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < kSlotOther && n < size; ++i) {
    if (((s >> i) & 1u) == 0) continue;
    n += snprintf(buf + n, size - n, "%s%s", n ? "|" : "", kSlotNames[i]);
  }
  if (n == 0) snprintf(buf, size, "(nothing)");
}

Env& env() {
  return g_env;
}

Worker& worker(std::uint32_t index) {
  return g_workers[index < kMaxVps ? index : 0];
}

Worker& me() {
  const std::uint32_t vp = this_cpu()->vp_index;
  return worker(g_env.child ? 0 : vp);
}

void fail(const char* fmt, ...) {
  const std::uint64_t n = __atomic_add_fetch(&g_failures, 1, __ATOMIC_SEQ_CST);
  if (n > g_env.max_printed) {
    if (n == g_env.max_printed + 1) {
      printf("hostile: more failures follow; only the first %u are printed\n", g_env.max_printed);
    }
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  LineLock lock;
  printf("hostile: FAIL (VP %u): ", this_cpu()->vp_index);
  vprintf(fmt, ap);
  putc('\n');
  va_end(ap);
}

std::uint64_t failures() {
  return __atomic_load_n(&g_failures, __ATOMIC_SEQ_CST);
}

bool option(const char* who, const char* key, std::uint64_t def, std::uint64_t lo, std::uint64_t hi,
            std::uint64_t* out) {
  *out = def;
  const char* v = cmdline_value(key);
  if (v == nullptr) return true;
  if (!parse_u64(v, out) || *out < lo || *out > hi) {
    printf("%s: bad %s= (want %lu-%lu)\n", who, key, lo, hi);
    return false;
  }
  return true;
}

}  // namespace hostile
