// COM1 console for freestanding hvk guests. Every printf/puts call holds the console's line lock
// for its whole output, so text from different VPs never interleaves within one call; hold a
// LineLock to keep several calls together. The lock is recursive per VP.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>

namespace guest {

inline constexpr std::uint16_t kCom1 = 0x3F8;

void putc(char c);          // no lock
void puts(const char* s);   // s and a newline, under the line lock
void write(const char* s);  // s alone, under the line lock

// printf-lite: %d %i %u %x %X %p %s %c %%, length modifiers l ll z h hh, flags '0' '-', a width
// (digits or *). %p prints 0x and 16 hex digits.
[[gnu::format(printf, 1, 2)]] void printf(const char* fmt, ...);
void vprintf(const char* fmt, va_list ap);

// Formats into buf (always NUL-terminated when size > 0); returns the length it would have had.
[[gnu::format(printf, 3, 4)]] std::size_t snprintf(char* buf, std::size_t size, const char* fmt,
                                                   ...);
std::size_t vsnprintf(char* buf, std::size_t size, const char* fmt, va_list ap);

void console_lock();
void console_unlock();
// Takes the lock unless another VP holds it for longer than a bounded spin (for fatal paths);
// returns whether it got it.
bool console_try_lock_bounded();

class LineLock {
 public:
  LineLock() { console_lock(); }
  ~LineLock() { console_unlock(); }
  LineLock(const LineLock&) = delete;
  LineLock& operator=(const LineLock&) = delete;
};

}  // namespace guest
