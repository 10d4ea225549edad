// boot_params and the command line.
#include <cstdint>

#include "guest/guest.h"

extern "C" const std::uint8_t* guest_boot_params_ptr;  // entry64.S

namespace guest {

namespace {

template <typename T>
T bp_read(std::uint32_t offset) {
  T v;
  memcpy(&v, boot_params() + offset, sizeof v);
  return v;
}

bool is_end(char c) {
  return c == '\0' || c == ' ';
}

// The token starting at `tok` equals `word` up to its end or up to '='.
// Returns a pointer just past the matched word, or nullptr.
const char* match(const char* tok, const char* word) {
  while (*word && *tok == *word) ++tok, ++word;
  return *word == '\0' ? tok : nullptr;
}

}  // namespace

const std::uint8_t* boot_params() {
  return guest_boot_params_ptr;
}

const char* cmdline() {
  if (boot_params() == nullptr) return "";
  const std::uint64_t ptr = bp_read<std::uint32_t>(kBpCmdLinePtr) |
                            (std::uint64_t{bp_read<std::uint32_t>(kBpExtCmdLinePtr)} << 32);
  return ptr == 0 ? "" : reinterpret_cast<const char*>(ptr);
}

bool cmdline_has(const char* word) {
  for (const char* p = cmdline(); *p;) {
    while (*p == ' ') ++p;
    if (const char* end = match(p, word); end && (is_end(*end) || *end == '=')) return true;
    while (!is_end(*p)) ++p;
  }
  return false;
}

const char* cmdline_value(const char* key) {
  for (const char* p = cmdline(); *p;) {
    while (*p == ' ') ++p;
    if (const char* end = match(p, key); end && *end == '=') return end + 1;
    while (!is_end(*p)) ++p;
  }
  return nullptr;
}

bool parse_u64(const char* s, std::uint64_t* out) {
  if (s == nullptr || is_end(*s)) return false;
  unsigned base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
    if (is_end(*s)) return false;
  }
  std::uint64_t v = 0;
  for (; !is_end(*s); ++s) {
    unsigned d;
    if (*s >= '0' && *s <= '9')
      d = static_cast<unsigned>(*s - '0');
    else if (base == 16 && *s >= 'a' && *s <= 'f')
      d = static_cast<unsigned>(*s - 'a' + 10);
    else if (base == 16 && *s >= 'A' && *s <= 'F')
      d = static_cast<unsigned>(*s - 'A' + 10);
    else
      return false;
    if (d >= base) return false;
    v = v * base + d;
  }
  *out = v;
  return true;
}

unsigned e820_count() {
  if (boot_params() == nullptr) return 0;
  const unsigned n = bp_read<std::uint8_t>(kBpE820Entries);
  return n > kBpE820Max ? kBpE820Max : n;
}

E820Entry e820_entry(unsigned i) {
  return bp_read<E820Entry>(kBpE820Table + i * static_cast<std::uint32_t>(sizeof(E820Entry)));
}

}  // namespace guest
