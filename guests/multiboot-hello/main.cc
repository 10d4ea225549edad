// multiboot-hello: a 32-bit Multiboot (version 1) guest. It checks what hvk promises a Multiboot
// image (docs/guest-abi.md, "Multiboot") from inside the VM and reports on COM1:
//   - EAX = 0x2BADB002, protected mode without paging, IF and VM clear, ESP in RAM;
//   - CS, DS and SS name real flat GDT descriptors (32-bit code, read/write data);
//   - the information structure: flags, mem_lower/mem_upper against the memory map (and against
//     `mem-mib=N` on the command line), the memory map, the command line, the modules (with
//     `modules=N` and `module-size=N` on the command line: their count, size, page alignment,
//     first and last line) and the boot loader name;
//   - its .bss is zero.
// It returns the number of failed checks to entry.S, which ends the VM with it, or switches to
// long mode when there were none.
//
// Built with -m32 -ffreestanding and no C++ library headers (a 64-bit host compiler has no 32-bit
// libstdc++ without multilib); no 64-bit division either (that needs libgcc).
#include <stddef.h>
#include <stdint.h>

extern "C" {
extern uint32_t entry_eax, entry_ebx, entry_esp, entry_eflags;
extern uint16_t entry_cs, entry_ds, entry_ss;
extern char __image_start[], __image_end[];
int mb_main();

// What the compiler may call on its own.
void* memset(void* d, int c, size_t n) {
  auto* p = static_cast<unsigned char*>(d);
  while (n--) *p++ = static_cast<unsigned char>(c);
  return d;
}
void* memcpy(void* d, const void* s, size_t n) {
  auto* p = static_cast<unsigned char*>(d);
  const auto* q = static_cast<const unsigned char*>(s);
  while (n--) *p++ = *q++;
  return d;
}
}

namespace {

constexpr uint32_t kBootMagic = 0x2BADB002;
constexpr uint16_t kCom1 = 0x3F8;
constexpr uint32_t kInfoMem = 1u << 0, kInfoCmdline = 1u << 2, kInfoMods = 1u << 3,
                   kInfoMmap = 1u << 6, kInfoLoaderName = 1u << 9;

struct Info {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr, syms[4],
      mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
};
struct Module {
  uint32_t start, end, string, reserved;
};
struct [[gnu::packed]] MmapEntry {
  uint32_t size;  // of the rest of the entry
  uint64_t base, length;
  uint32_t type;
};
static_assert(sizeof(Info) == 68 && sizeof(Module) == 16 && sizeof(MmapEntry) == 24);

uint8_t inb(uint16_t port) {
  uint8_t v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
void outb(uint16_t port, uint8_t v) {
  asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

void putc(char c) {
  while ((inb(kCom1 + 5) & 0x20) == 0) {
  }
  outb(kCom1, static_cast<uint8_t>(c));
}
void say(const char* s) {
  while (*s) putc(*s++);
}
void dec(uint32_t v) {
  char buf[11];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) putc(buf[--n]);
}
void hex(uint64_t v) {
  say("0x");
  int digits = 1;
  while (digits < 16 && (v >> (4 * digits)) != 0) ++digits;
  while (digits-- > 0) putc("0123456789abcdef"[(v >> (4 * digits)) & 0xf]);
}

int failures = 0;
void check(bool ok, const char* what) {
  if (ok) return;
  ++failures;
  say("multiboot-hello: FAIL: ");
  say(what);
  putc('\n');
}

size_t length(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}
bool same(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// The decimal value of `key=` on the command line, or -1.
int64_t cmdline_value(const char* cmdline, const char* key) {
  const size_t k = length(key);
  for (const char* p = cmdline; *p;) {
    while (*p == ' ') ++p;
    if (same(p, key, k) && p[k] == '=') {
      int64_t v = 0;
      for (p += k + 1; *p >= '0' && *p <= '9'; ++p) v = v * 10 + (*p - '0');
      return v;
    }
    while (*p && *p != ' ') ++p;
  }
  return -1;
}

// A flat 4 GiB descriptor of the given kind in the GDT the loader gave.
bool flat_descriptor(uint16_t selector, bool code) {
  struct [[gnu::packed]] {
    uint16_t limit;
    uint32_t base;
  } gdtr;
  asm volatile("sgdt %0" : "=m"(gdtr));
  if ((selector & 4) != 0 || selector < 8 || selector + 7u > gdtr.limit) return false;
  const auto* d = reinterpret_cast<const volatile uint8_t*>(gdtr.base + (selector & ~7u));
  const uint32_t limit = d[0] | d[1] << 8 | (d[6] & 0xfu) << 16;
  const uint32_t base = d[2] | d[3] << 8 | d[4] << 16 | static_cast<uint32_t>(d[7]) << 24;
  const uint8_t access = d[5], flags = d[6] >> 4;
  const bool kind = code ? (access & 0x1a) == 0x1a   // S, code, readable
                         : (access & 0x1a) == 0x12;  // S, data, writable
  return (access & 0x80) != 0 && kind && base == 0 && limit == 0xfffff &&
         (flags & 0xe) == 0xc;  // G = 1, D/B = 1, L = 0
}

void check_entry_state() {
  say("multiboot-hello: EAX ");
  hex(entry_eax);
  say(", EBX ");
  hex(entry_ebx);
  say(", ESP ");
  hex(entry_esp);
  say(", EFLAGS ");
  hex(entry_eflags);
  putc('\n');
  check(entry_eax == kBootMagic, "EAX is not 0x2BADB002");
  uint32_t cr0;
  asm volatile("movl %%cr0, %0" : "=r"(cr0));
  check((cr0 & 1) != 0 && (cr0 & 0x80000000u) == 0, "CR0: want PE set and PG clear");
  check((entry_eflags & (1u << 9)) == 0, "EFLAGS.IF is set at entry");
  check((entry_eflags & (1u << 17)) == 0, "EFLAGS.VM is set at entry");
  check(flat_descriptor(entry_cs, true), "CS is not a flat 32-bit code descriptor in the GDT");
  check(flat_descriptor(entry_ds, false), "DS is not a flat data descriptor in the GDT");
  check(flat_descriptor(entry_ss, false), "SS is not a flat data descriptor in the GDT");
}

void check_memory(const Info& info, const char* cmdline) {
  check((info.flags & kInfoMem) != 0, "flags: no mem_lower/mem_upper");
  check((info.flags & kInfoMmap) != 0, "flags: no memory map");
  say("multiboot-hello: mem_lower ");
  dec(info.mem_lower);
  say(" KiB, mem_upper ");
  dec(info.mem_upper);
  say(" KiB\n");
  check(info.mem_lower > 0 && info.mem_lower <= 640, "mem_lower is not in 1..640 KiB");
  if (const int64_t mib = cmdline_value(cmdline, "mem-mib"); mib > 0) {
    check(info.mem_upper == static_cast<uint32_t>(mib - 1) * 1024,
          "mem_upper is not the RAM size (mem-mib=) less 1 MiB");
  }
  bool low = false, high = false, sorted = true;
  uint64_t next = 0;
  for (uint32_t at = info.mmap_addr; at < info.mmap_addr + info.mmap_length;) {
    const auto* e = reinterpret_cast<const MmapEntry*>(at);
    say("multiboot-hello: mmap [");
    hex(e->base);
    say(", ");
    hex(e->base + e->length);
    say(") type ");
    dec(e->type);
    putc('\n');
    sorted = sorted && e->base >= next && e->size >= 20;
    next = e->base + e->length;
    low = low || (e->type == 1 && e->base == 0 && e->length == uint64_t{info.mem_lower} * 1024);
    high = high ||
           (e->type == 1 && e->base == 0x100000 && e->length == uint64_t{info.mem_upper} * 1024);
    at += e->size + 4;
  }
  check(sorted, "memory map entries overlap or are out of order");
  check(low, "no usable map entry at 0 of mem_lower KiB");
  check(high, "no usable map entry at 1 MiB of mem_upper KiB");
}

void check_modules(const Info& info, const char* cmdline) {
  check((info.flags & kInfoMods) != 0, "flags: no module fields");
  if (const int64_t want = cmdline_value(cmdline, "modules"); want >= 0) {
    check(info.mods_count == static_cast<uint32_t>(want), "mods_count is not modules=");
  }
  const int64_t want_size = cmdline_value(cmdline, "module-size");
  const auto* mods = reinterpret_cast<const Module*>(info.mods_addr);
  for (uint32_t i = 0; i < info.mods_count; ++i) {
    const Module& m = mods[i];
    const char* name = m.string ? reinterpret_cast<const char*>(m.string) : "";
    const uint32_t size = m.end - m.start;
    say("multiboot-hello: module ");
    dec(i);
    say(": [");
    hex(m.start);
    say(", ");
    hex(m.end);
    say(") ");
    dec(size);
    say(" bytes, string \"");
    say(name);
    say("\"\n");
    check(m.end >= m.start, "module ends before it starts");
    check((m.start & 0xfff) == 0, "module is not page aligned (header flags bit 0)");
    check(m.start >= reinterpret_cast<uintptr_t>(__image_end), "module overlaps the image");
    if (want_size >= 0) check(size == want_size, "module size is not module-size=");
    const char* bytes = reinterpret_cast<const char*>(m.start);
    const char first[] = "hvk multiboot module\n";
    const char last[] = "\nend\n";
    check(size >= sizeof first - 1 && same(bytes, first, sizeof first - 1),
          "module does not start with \"hvk multiboot module\"");
    check(size >= sizeof last - 1 && same(bytes + size - (sizeof last - 1), last, sizeof last - 1),
          "module does not end with \"end\"");
  }
}

volatile char zeroed[4096];  // .bss: the loader must have zeroed it (volatile: read from RAM)

}  // namespace

int mb_main() {
  say("multiboot-hello: started by a Multiboot loader\n");
  check_entry_state();
  if (entry_eax != kBootMagic) return failures;  // EBX means nothing then
  const Info& info = *reinterpret_cast<const Info*>(entry_ebx);
  say("multiboot-hello: flags ");
  hex(info.flags);
  putc('\n');

  check((info.flags & kInfoCmdline) != 0 && info.cmdline != 0, "flags: no command line");
  const char* cmdline =
      (info.flags & kInfoCmdline) != 0 ? reinterpret_cast<const char*>(info.cmdline) : "";
  say("multiboot-hello: cmdline \"");
  say(cmdline);
  say("\"\n");
  check_memory(info, cmdline);
  check_modules(info, cmdline);

  check((info.flags & kInfoLoaderName) != 0, "flags: no boot loader name");
  if ((info.flags & kInfoLoaderName) != 0) {
    say("multiboot-hello: boot loader \"");
    say(reinterpret_cast<const char*>(info.boot_loader_name));
    say("\"\n");
  }
  const auto info_at = reinterpret_cast<uintptr_t>(&info);
  check(info_at + sizeof info <= reinterpret_cast<uintptr_t>(__image_start) ||
            info_at >= reinterpret_cast<uintptr_t>(__image_end),
        "the information structure is inside the image");
  bool bss_zero = true;
  for (char c : zeroed) bss_zero = bss_zero && c == 0;
  check(bss_zero, ".bss is not zero");

  if (failures == 0) {
    say("multiboot-hello: all checks passed in 32-bit protected mode\n");
  } else {
    say("multiboot-hello: ");
    dec(static_cast<uint32_t>(failures));
    say(" checks failed\n");
  }
  return failures > 255 ? 255 : failures;
}
