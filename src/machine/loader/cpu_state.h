// The initial vCPU state for the Linux x86 64-bit boot protocol entry (boot.rst, "64-bit Boot
// Protocol") and for a flat 32-bit protected-mode entry (Multiboot), plus the GDT and identity
// page tables that state refers to. KVM-neutral: the KVM layer converts Segment / BootState into
// kvm_sregs / kvm_regs.
//
// 64-bit entry: long mode with paging (CR0 = PE|ET|NE|PG, CR4 = PAE, EFER = LME|LMA), CR3 = the
// identity-mapping PML4, CS = __BOOT_CS (0x10, 64-bit code), DS/ES/SS = __BOOT_DS (0x18, flat
// read/write data; FS and GS too), interrupts disabled (RFLAGS = 0x2), RSI = boot_params GPA,
// RSP = top of the boot stack, RIP = image entry, all other GPRs zero.
//
// 32-bit entry: protected mode without paging (CR0 = PE|ET|NE, CR3 = CR4 = EFER = 0), CS = 0x10
// (flat 32-bit code), DS/ES/FS/GS/SS = 0x18 (flat data), RFLAGS = 0x2, ESP = top of the boot
// stack, EIP = image entry; the caller sets EAX/EBX (Multiboot: magic and info structure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "machine/loader/result.h"

namespace hvk::machine {

// A segment register's hidden part, in the shape of the x86 descriptor fields. `limit` is the
// byte-granular effective limit (0xffffffff for a flat 4 GiB segment with g = 1), as in the VMCS
// and in kvm_segment.
struct Segment {
  std::uint64_t base = 0;
  std::uint32_t limit = 0;
  std::uint16_t selector = 0;
  std::uint8_t type = 0;  // 4-bit descriptor type (code/data: accessed bit included)
  std::uint8_t s = 0;     // 1 = code/data, 0 = system
  std::uint8_t dpl = 0;
  std::uint8_t present = 0;
  std::uint8_t avl = 0;
  std::uint8_t l = 0;   // 64-bit code
  std::uint8_t db = 0;  // default operation size (must be 0 when l = 1)
  std::uint8_t g = 0;   // limit in 4 KiB units in the descriptor
  friend bool operator==(const Segment&, const Segment&) = default;
};

struct DescriptorTable {
  std::uint64_t base = 0;
  std::uint16_t limit = 0;
  friend bool operator==(const DescriptorTable&, const DescriptorTable&) = default;
};

inline constexpr std::uint64_t kCr0Pe = 1ull << 0;
inline constexpr std::uint64_t kCr0Et = 1ull << 4;
inline constexpr std::uint64_t kCr0Ne = 1ull << 5;
inline constexpr std::uint64_t kCr0Pg = 1ull << 31;
inline constexpr std::uint64_t kCr4Pae = 1ull << 5;
inline constexpr std::uint64_t kEferLme = 1ull << 8;
inline constexpr std::uint64_t kEferLma = 1ull << 10;
inline constexpr std::uint64_t kRflagsReserved1 = 1ull << 1;

// Page-table entry bits used by the identity map.
inline constexpr std::uint64_t kPtePresent = 1ull << 0;
inline constexpr std::uint64_t kPteWritable = 1ull << 1;
inline constexpr std::uint64_t kPteLargePage = 1ull << 7;  // PS in a PD entry: 2 MiB page
inline constexpr std::uint64_t kPteAddrMask = 0x000ffffffffff000ull;

struct BootState {
  // General-purpose registers; all others are zero.
  std::uint64_t rip = 0;
  std::uint64_t rsp = 0;
  std::uint64_t rsi = 0;  // 64-bit protocol: boot_params
  std::uint64_t rax = 0;  // Multiboot: the boot loader magic 0x2BADB002
  std::uint64_t rbx = 0;  // Multiboot: the information structure
  std::uint64_t rflags = kRflagsReserved1;
  // Control registers and EFER.
  std::uint64_t cr0 = 0;
  std::uint64_t cr3 = 0;
  std::uint64_t cr4 = 0;
  std::uint64_t efer = 0;
  // Segments and descriptor tables.
  Segment cs, ds, es, fs, gs, ss;
  Segment tr;    // not needed by the protocol, but VMX wants a usable busy TSS in TR
  Segment ldtr;  // unused; the architectural reset value (type 2 LDT, present)
  DescriptorTable gdt;
  DescriptorTable idt;  // limit 0: no IDT, interrupts stay disabled until the guest sets one
};

// The flat segments behind __BOOT_CS and __BOOT_DS.
Segment boot_code_segment();
Segment boot_data_segment();
// The flat 32-bit code segment behind 0x10 for a protected-mode entry (execute/read, D = 1).
Segment protected_code_segment();

// The 8-byte GDT descriptor encoding `seg` (selector ignored; base and limit truncated to the
// 32/20 bits a code/data descriptor holds, with the limit in pages when g = 1).
std::uint64_t encode_descriptor(const Segment& seg);

// The initial state for entering an image at `entry` with everything else at layout.h's fixed
// addresses.
BootState make_boot_state(std::uint64_t entry);

// The initial state for entering an image at `entry` in flat 32-bit protected mode without paging
// (GDT at kGdtAddr as written by write_gdt(ram, protected_code_segment()), ESP = kBootStackTop).
BootState make_protected_mode_state(std::uint64_t entry);

// Writes the 4-entry GDT at kGdtAddr (null, null, `code` at __BOOT_CS, __BOOT_DS).
Status write_gdt(std::span<std::byte> ram, const Segment& code = boot_code_segment());

// Writes PML4 at kPml4Addr, one PDPT and as many 2 MiB-page directories as needed to
// identity-map [0, min(identity_map_size(top), kMaxRamSize)), where top is kHighRamBase + high_ram
// when `high_ram` bytes of RAM lie at kHighRamBase (never written), else ram.size(). RAM above
// kMaxRamSize is left for the guest to map. Fails, writing nothing, when `ram` is too small to
// hold the tables or larger than kMaxRamSize.
Status write_identity_page_tables(std::span<std::byte> ram, std::uint64_t high_ram = 0);

}  // namespace hvk::machine
