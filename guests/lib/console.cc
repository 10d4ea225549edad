// COM1 output and printf-lite.
//
// hvk's COM1 always accepts a byte (its LSR always reads THR empty, docs/guest-abi.md), so putc
// writes THR without polling LSR: one port exit per byte instead of two.
#include <cstdarg>
#include <cstddef>
#include <cstdint>

#include "guest/guest.h"

namespace guest {

namespace {

// The line lock: owner = the holder's block address (unique per VP), recursive.
volatile std::uint64_t g_lock_owner = 0;
std::uint32_t g_lock_depth = 0;

std::uint64_t me() {
  return reinterpret_cast<std::uint64_t>(this_block()) | 1;
}

bool try_take(std::uint64_t self) {
  std::uint64_t expected = 0;
  return __atomic_compare_exchange_n(&g_lock_owner, &expected, self, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED);
}

// A sink that either writes to COM1 or fills a buffer.
struct Sink {
  char* buf;  // nullptr: COM1
  std::size_t size;
  std::size_t len;
  void put(char c) {
    if (buf == nullptr) {
      putc(c);
    } else if (len + 1 < size) {
      buf[len] = c;
    }
    ++len;
  }
};

void put_padded(Sink& out, const char* s, std::size_t n, int width, bool left, char pad) {
  std::size_t fill = width > 0 && static_cast<std::size_t>(width) > n ? width - n : 0;
  if (!left) {
    for (; fill > 0; --fill) out.put(pad);
  }
  for (std::size_t i = 0; i < n; ++i) out.put(s[i]);
  for (; fill > 0; --fill) out.put(' ');
}

void put_number(Sink& out, std::uint64_t v, bool negative, unsigned base, bool upper, int width,
                bool left, bool zero, const char* prefix) {
  char digits[24];
  std::size_t n = 0;
  const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits[n++] = set[v % base];
    v /= base;
  } while (v != 0);
  std::size_t plen = 0;
  char pre[3];
  if (negative) pre[plen++] = '-';
  for (const char* p = prefix; p && *p; ++p) pre[plen++] = *p;
  const std::size_t total = n + plen;
  std::size_t fill = width > 0 && static_cast<std::size_t>(width) > total ? width - total : 0;
  if (!left && !zero) {
    for (; fill > 0; --fill) out.put(' ');
  }
  for (std::size_t i = 0; i < plen; ++i) out.put(pre[i]);
  if (!left && zero) {
    for (; fill > 0; --fill) out.put('0');
  }
  while (n > 0) out.put(digits[--n]);
  for (; fill > 0; --fill) out.put(' ');
}

void format(Sink& out, const char* fmt, va_list ap) {
  for (const char* p = fmt; *p; ++p) {
    if (*p != '%') {
      out.put(*p);
      continue;
    }
    ++p;
    bool left = false, zero = false, alt = false;
    for (;; ++p) {
      if (*p == '-')
        left = true;
      else if (*p == '0')
        zero = true;
      else if (*p == '#')
        alt = true;
      else
        break;
    }
    int width = 0;
    if (*p == '*') {
      width = va_arg(ap, int);
      if (width < 0) left = true, width = -width;
      ++p;
    } else {
      while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
    }
    int longs = 0;  // 0 int, 1 long, 2 long long; z counts as long
    while (*p == 'l' || *p == 'z' || *p == 'h') {
      if (*p != 'h') ++longs;
      ++p;
    }
    switch (*p) {
      case 'd':
      case 'i': {
        const long long v = longs == 0   ? va_arg(ap, int)
                            : longs == 1 ? va_arg(ap, long)
                                         : va_arg(ap, long long);
        const std::uint64_t mag =
            v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
        put_number(out, mag, v < 0, 10, false, width, left, zero, nullptr);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        const std::uint64_t v = longs == 0   ? va_arg(ap, unsigned)
                                : longs == 1 ? va_arg(ap, unsigned long)
                                             : va_arg(ap, unsigned long long);
        const unsigned base = *p == 'u' ? 10 : 16;
        put_number(out, v, false, base, *p == 'X', width, left, zero,
                   alt && base == 16 ? (*p == 'X' ? "0X" : "0x") : nullptr);
        break;
      }
      case 'p': {
        const auto v = reinterpret_cast<std::uint64_t>(va_arg(ap, void*));
        put_number(out, v, false, 16, false, 18, false, true, "0x");
        break;
      }
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (s == nullptr) s = "(null)";
        put_padded(out, s, strlen(s), width, left, ' ');
        break;
      }
      case 'c': {
        const char c = static_cast<char>(va_arg(ap, int));
        put_padded(out, &c, 1, width, left, ' ');
        break;
      }
      case '%':
        out.put('%');
        break;
      case '\0':
        return;
      default:  // unknown conversion: print it as it was written
        out.put('%');
        out.put(*p);
        break;
    }
  }
}

}  // namespace

void console_lock() {
  const std::uint64_t self = me();
  if (g_lock_owner == self) {
    ++g_lock_depth;
    return;
  }
  while (!try_take(self)) {
    while (g_lock_owner != 0) pause();
  }
  g_lock_depth = 1;
}

void console_unlock() {
  if (--g_lock_depth == 0) __atomic_store_n(&g_lock_owner, 0, __ATOMIC_RELEASE);
}

bool console_try_lock_bounded() {
  const std::uint64_t self = me();
  if (g_lock_owner == self) {
    ++g_lock_depth;
    return true;
  }
  for (std::uint64_t i = 0; i < 100'000'000; ++i) {
    if (g_lock_owner == 0 && try_take(self)) {
      g_lock_depth = 1;
      return true;
    }
    pause();
  }
  return false;
}

void putc(char c) {
  outb(kCom1, static_cast<std::uint8_t>(c));
}

void write(const char* s) {
  LineLock lock;
  while (*s) putc(*s++);
}

void puts(const char* s) {
  LineLock lock;
  while (*s) putc(*s++);
  putc('\n');
}

void vprintf(const char* fmt, va_list ap) {
  LineLock lock;
  Sink out{nullptr, 0, 0};
  format(out, fmt, ap);
}

void printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}

std::size_t vsnprintf(char* buf, std::size_t size, const char* fmt, va_list ap) {
  static char dummy;
  Sink out{size > 0 ? buf : &dummy, size, 0};
  format(out, fmt, ap);
  if (size > 0) buf[out.len < size ? out.len : size - 1] = '\0';
  return out.len;
}

std::size_t snprintf(char* buf, std::size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const std::size_t n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

}  // namespace guest
