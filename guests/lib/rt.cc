// Runtime start-up, exits, exceptions and the AP entry.
#include <cstddef>
#include <cstdint>

#include "guest/guest.h"

namespace guest {

extern "C" {
extern std::uint64_t guest_gdt[6];
extern std::uint8_t guest_idt[256 * 16];
extern std::uint8_t guest_isr_stubs[];
extern std::uint8_t guest_isr_stubs_end[];
extern std::uint8_t guest_bsp_block[GUEST_VP_BLOCK_SIZE];
using InitFn = void (*)();
extern InitFn __init_array_start[];
extern InitFn __init_array_end[];
int guest_catch(ExceptionHook* hook, void (*fn)(void*), void* arg);
}

namespace {

InterruptHandler g_interrupt_handlers[256];
void (*volatile g_ap_main)() = nullptr;

const char* const kExceptionNames[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    "22",  "23",  "24",  "25",  "26",  "27",  "#HV", "#VC", "#SX", "31",
};

void init_percpu(Percpu* p, std::uint32_t slot) {
  p->magic = kPercpuMagic;
  p->vp_index = kVpIndexUnknown;
  p->slot = slot;
  p->hook = nullptr;
  p->user = 0;
}

void set_gate(unsigned vector, std::uint64_t handler) {
  std::uint8_t* g = guest_idt + vector * 16;
  const std::uint32_t lo =
      static_cast<std::uint32_t>((handler & 0xFFFF) | (GUEST_SEL_CODE64 << 16));
  const std::uint32_t mid =
      static_cast<std::uint32_t>((handler & 0xFFFF0000) | 0x8E00);  // P, int gate
  const std::uint32_t hi = static_cast<std::uint32_t>(handler >> 32);
  auto* w = reinterpret_cast<std::uint32_t*>(g);
  w[0] = lo;
  w[1] = mid;
  w[2] = hi;
  w[3] = 0;
}

}  // namespace

void halt_forever() {
  for (;;) asm volatile("cli; hlt" ::: "memory");
}

void exit(int status) {
  outb(0xF4, static_cast<std::uint8_t>(status));
  halt_forever();
}

void set_interrupt_handler(std::uint8_t vector, InterruptHandler h) {
  g_interrupt_handlers[vector] = h;
}

void set_ap_main(void (*fn)()) {
  g_ap_main = fn;
}

int catch_exception(void (*fn)(void*), void* arg, ExceptionHook* info) {
  ExceptionHook hook{};
  arm_exception_hook(&hook);
  const int v = guest_catch(&hook, fn, arg);
  disarm_exception_hook();
  if (info) *info = hook;
  return v;
}

extern "C" void guest_rt_init() {
  // 64-bit TSS descriptor at 0x20: available (type 9), present, limit 0x67.
  const auto tss = reinterpret_cast<std::uint64_t>(guest_tss);
  guest_gdt[GUEST_SEL_TSS / 8] =
      0x67 | ((tss & 0xFFFFFF) << 16) | (std::uint64_t{0x89} << 40) | ((tss >> 24 & 0xFF) << 56);
  guest_gdt[GUEST_SEL_TSS / 8 + 1] = tss >> 32;
  // I/O map base beyond the limit: no I/O permission bitmap.
  *reinterpret_cast<std::uint16_t*>(guest_tss + 102) = 104;
  asm volatile("ltr %w0" : : "r"(GUEST_SEL_TSS) : "memory");

  const auto stubs = reinterpret_cast<std::uint64_t>(guest_isr_stubs);
  for (unsigned v = 0; v < 256; ++v) set_gate(v, stubs + 16 * v);
  asm volatile("lidt guest_idtr(%%rip)" ::: "memory");

  init_percpu(reinterpret_cast<Percpu*>(guest_bsp_block), 0);

  for (InitFn* f = __init_array_start; f != __init_array_end; ++f) (*f)();
}

extern "C" [[noreturn]] void guest_rt_exit(int status) {
  exit(status);
}

extern "C" [[noreturn]] void guest_rt_ap_entry() {
  Percpu* p = this_cpu();
  init_percpu(p, p->slot);  // vp_blocks_init() wrote the slot
  if (hv_ready()) p->vp_index = static_cast<std::uint32_t>(rdmsr(kMsrVpIndex));
  if (g_ap_main) g_ap_main();
  halt_forever();
}

extern "C" void guest_rt_dispatch(ExceptionFrame* f) {
  Percpu* p = this_cpu();
  if (p->magic == kPercpuMagic && p->hook != nullptr) {
    ExceptionHook* h = p->hook;
    p->hook = nullptr;
    h->fired = 1;
    h->vector = static_cast<std::uint32_t>(f->vector);
    h->error_code = f->error_code;
    h->rip = f->rip;
    h->cr2 = f->vector == 14 ? read_cr2() : 0;
    f->rip = h->resume_rip;
    if (h->resume_rsp != 0) f->rsp = h->resume_rsp;
    return;
  }
  if (f->vector >= 32 && g_interrupt_handlers[f->vector] != nullptr) {
    g_interrupt_handlers[f->vector](f);
    return;
  }
  const bool locked = console_try_lock_bounded();
  const std::uint32_t vp = p->magic == kPercpuMagic ? p->vp_index : kVpIndexUnknown;
  if (f->vector < 32) {
    printf("exception %u at 0x%lx (%s, error 0x%lx, cr2 0x%lx, rsp 0x%lx, VP %d)\n",
           static_cast<unsigned>(f->vector), f->rip, kExceptionNames[f->vector], f->error_code,
           f->vector == 14 ? read_cr2() : 0, f->rsp, static_cast<int>(vp));
  } else {
    printf("unexpected interrupt %u at 0x%lx (VP %d)\n", static_cast<unsigned>(f->vector), f->rip,
           static_cast<int>(vp));
  }
  if (locked) console_unlock();
  exit(f->vector < 32 ? static_cast<int>(0x70 + f->vector) : 0x6F);
}

}  // namespace guest

// --- the few libc functions the compiler may call -----------------------------------------------

extern "C" {

// memset and memcpy move 8 bytes per string-instruction iteration, then the odd bytes: where guest
// code runs through the host's instruction emulator (notes §9), each iteration costs about a
// microsecond, so a byte at a time made the runtime's start-up take tens of milliseconds.
void* memset(void* dst, int c, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  std::size_t q = n / 8, b = n % 8;
  const std::uint64_t v = 0x0101010101010101ull * static_cast<unsigned char>(c);
  asm volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(v) : "memory");
  asm volatile("rep stosb" : "+D"(d), "+c"(b) : "a"(v) : "memory");
  return dst;
}

void* memcpy(void* dst, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  auto* s = static_cast<const unsigned char*>(src);
  std::size_t q = n / 8, b = n % 8;
  asm volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(q) : : "memory");
  asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(b) : : "memory");
  return dst;
}

void* memmove(void* dst, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  auto* s = static_cast<const unsigned char*>(src);
  if (d <= s || d >= s + n) return memcpy(dst, src, n);
  for (std::size_t i = n; i-- > 0;) d[i] = s[i];
  return dst;
}

int memcmp(const void* a, const void* b, std::size_t n) {
  auto* x = static_cast<const unsigned char*>(a);
  auto* y = static_cast<const unsigned char*>(b);
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

std::size_t strlen(const char* s) {
  std::size_t n = 0;
  while (s[n]) ++n;
  return n;
}

int strcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}

int strncmp(const char* a, const char* b, std::size_t n) {
  for (; n > 0; --n, ++a, ++b) {
    if (*a != *b || *a == 0) return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
  }
  return 0;
}

}  // extern "C"
