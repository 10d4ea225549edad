// CPU primitives for freestanding hvk guests: port I/O, CPUID, MSRs, control registers, the per-VP
// block, and exception hooks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "guest/layout.h"

namespace guest {

// --- port I/O, CPUID, MSRs, control registers ----------------------------------------------------

inline void outb(std::uint16_t port, std::uint8_t v) {
  asm volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
inline std::uint8_t inb(std::uint16_t port) {
  std::uint8_t v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
  return v;
}

struct Cpuid {
  std::uint32_t eax, ebx, ecx, edx;
};
inline Cpuid cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0) {
  Cpuid r;
  asm volatile("cpuid"
               : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
               : "a"(leaf), "c"(subleaf));
  return r;
}

inline std::uint64_t rdmsr(std::uint32_t msr) {
  std::uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
  return (std::uint64_t{hi} << 32) | lo;
}
inline void wrmsr(std::uint32_t msr, std::uint64_t v) {
  asm volatile("wrmsr"
               :
               : "c"(msr), "a"(static_cast<std::uint32_t>(v)),
                 "d"(static_cast<std::uint32_t>(v >> 32))
               : "memory");
}

inline constexpr std::uint32_t kMsrApicBase = 0x1B;
inline constexpr std::uint32_t kMsrPat = 0x277;
inline constexpr std::uint32_t kMsrEfer = 0xC0000080;
inline constexpr std::uint32_t kMsrFsBase = 0xC0000100;
inline constexpr std::uint32_t kMsrGsBase = 0xC0000101;

inline std::uint64_t read_cr0() {
  std::uint64_t v;
  asm volatile("mov %%cr0, %0" : "=r"(v));
  return v;
}
inline std::uint64_t read_cr2() {
  std::uint64_t v;
  asm volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}
inline std::uint64_t read_cr3() {
  std::uint64_t v;
  asm volatile("mov %%cr3, %0" : "=r"(v));
  return v;
}
inline std::uint64_t read_cr4() {
  std::uint64_t v;
  asm volatile("mov %%cr4, %0" : "=r"(v));
  return v;
}
inline void write_cr4(std::uint64_t v) {
  asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}
inline std::uint64_t read_rsp() {
  std::uint64_t v;
  asm volatile("mov %%rsp, %0" : "=r"(v));
  return v;
}

// SGDT/SIDT image (64-bit mode: 2-byte limit, 8-byte base).
struct [[gnu::packed]] DescriptorTablePointer {
  std::uint16_t limit;
  std::uint64_t base;
};
inline DescriptorTablePointer sgdt() {
  DescriptorTablePointer p;
  asm volatile("sgdt %0" : "=m"(p));
  return p;
}
inline DescriptorTablePointer sidt() {
  DescriptorTablePointer p;
  asm volatile("sidt %0" : "=m"(p));
  return p;
}

inline void pause() {
  asm volatile("pause" ::: "memory");
}
inline void barrier() {
  asm volatile("" ::: "memory");
}
inline void cli() {
  asm volatile("cli" ::: "memory");
}

// cli; hlt forever.
[[noreturn]] void halt_forever();

// Ends the VM: `out 0xf4, al` with the status (docs/guest-abi.md). Never returns.
[[noreturn]] void exit(int status);

// --- the per-VP block ----------------------------------------------------------------------------

struct ExceptionHook;

inline constexpr std::uint64_t kPercpuMagic = 0x5550'4350'4b56'4800ull;  // "\0HVKPCPU"
inline constexpr std::uint32_t kVpIndexUnknown = 0xFFFF'FFFFu;

// At offset 0 of every VP's block (GUEST_VP_BLOCK_SIZE bytes, naturally aligned; the VP's stack is
// in the same block, so the block of the running VP is RSP rounded down).
struct Percpu {
  std::uint64_t magic;
  std::uint32_t vp_index;  // from the VP_INDEX MSR once hv_init() ran (boot VP) or at AP entry
  std::uint32_t slot;      // which block: 0 for the boot VP's static block, 1.. for AP blocks
  ExceptionHook* hook;     // armed exception hook, see below
  std::uint64_t user;      // free for the guest
};

inline std::uint8_t* this_block() {
  return reinterpret_cast<std::uint8_t*>(read_rsp() & ~std::uint64_t{GUEST_VP_BLOCK_SIZE - 1});
}
inline Percpu* this_cpu() {
  return reinterpret_cast<Percpu*>(this_block() + GUEST_VP_BLOCK_PERCPU);
}

// --- exceptions ----------------------------------------------------------------------------------

// Saved by the exception stubs (guests/lib/entry64.S), lowest address first.
struct ExceptionFrame {
  std::uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  std::uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  std::uint64_t vector, error_code;
  std::uint64_t rip, cs, rflags, rsp, ss;
};

// An expected-exception handler for the current VP. While armed (this_cpu()->hook), the next
// exception or interrupt on this VP is recorded here and the VP resumes at resume_rip (and, when
// resume_rsp is not 0, with RSP = resume_rsp); the hook disarms itself.
struct ExceptionHook {
  std::uint64_t resume_rip;
  std::uint64_t resume_rsp;  // 0: keep the faulting RSP
  std::uint32_t fired;
  std::uint32_t vector;
  std::uint64_t error_code;
  std::uint64_t rip;  // where the exception happened
  std::uint64_t cr2;  // for #PF
};
static_assert(offsetof(ExceptionHook, resume_rip) == GUEST_HOOK_RESUME_RIP);
static_assert(offsetof(ExceptionHook, resume_rsp) == GUEST_HOOK_RESUME_RSP);
static_assert(offsetof(ExceptionHook, fired) == GUEST_HOOK_FIRED);
static_assert(offsetof(ExceptionHook, vector) == GUEST_HOOK_VECTOR);

inline void arm_exception_hook(ExceptionHook* h) {
  this_cpu()->hook = h;
  barrier();
}
inline void disarm_exception_hook() {
  barrier();
  this_cpu()->hook = nullptr;
}

// Calls fn(arg) with a hook armed: returns -1 when fn returned normally, else the vector of the
// first exception it raised (fn is abandoned; its stack is discarded). `info`, when not null,
// receives the details.
int catch_exception(void (*fn)(void*), void* arg, ExceptionHook* info = nullptr);

// RDMSR/WRMSR that report a fault instead of dying: -1 on success, else the vector (13 for #GP).
inline int rdmsr_safe(std::uint32_t msr, std::uint64_t* value) {
  ExceptionHook hook{};
  std::uint32_t lo = 0, hi = 0;
  std::uint64_t tmp;
  arm_exception_hook(&hook);
  asm volatile(
      "leaq 1f(%%rip), %[tmp]\n\t"
      "movq %[tmp], %[resume]\n\t"
      "rdmsr\n"
      "1:"
      : [tmp] "=&r"(tmp), [resume] "=m"(hook.resume_rip), "+a"(lo), "+d"(hi)
      : "c"(msr)
      : "memory");
  disarm_exception_hook();
  *value = (std::uint64_t{hi} << 32) | lo;
  return hook.fired ? static_cast<int>(hook.vector) : -1;
}
inline int wrmsr_safe(std::uint32_t msr, std::uint64_t value) {
  ExceptionHook hook{};
  std::uint64_t tmp;
  arm_exception_hook(&hook);
  asm volatile(
      "leaq 1f(%%rip), %[tmp]\n\t"
      "movq %[tmp], %[resume]\n\t"
      "wrmsr\n"
      "1:"
      : [tmp] "=&r"(tmp), [resume] "=m"(hook.resume_rip)
      : "c"(msr), "a"(static_cast<std::uint32_t>(value)),
        "d"(static_cast<std::uint32_t>(value >> 32))
      : "memory");
  disarm_exception_hook();
  return hook.fired ? static_cast<int>(hook.vector) : -1;
}

// Handler for vectors 32-255 (interrupts). The handler sends its own EOI. Without one, an
// interrupt is reported like an unexpected exception (exit status 0x6F).
using InterruptHandler = void (*)(ExceptionFrame*);
void set_interrupt_handler(std::uint8_t vector, InterruptHandler h);

}  // namespace guest
