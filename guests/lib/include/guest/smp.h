// Bringing up application processors: per-VP blocks, HV_INITIAL_VP_CONTEXT from the current CPU,
// HvCallStartVirtualProcessor, and an INIT-SIPI-SIPI path through a real-mode trampoline.
#pragma once

#include <cstdint>

#include "guest/hv.h"
#include "guest/layout.h"

namespace guest {

// Allocates blocks 1..count-1 for APs from the RAM after the image (checked against the e820 map)
// and clears their per-VP headers. Block i is meant for the VP with index i. Returns nullptr on
// success, else why it failed.
const char* vp_blocks_init(std::uint32_t count);
std::uint32_t vp_blocks_count();
// Block 0 is the boot VP's static block; 1.. come from vp_blocks_init().
std::uint8_t* vp_block(std::uint32_t slot);
inline std::uint64_t vp_stack_top(std::uint32_t slot) {
  return reinterpret_cast<std::uint64_t>(vp_block(slot)) + GUEST_VP_BLOCK_SIZE;
}

// The 64-bit AP entry (entry64.S): loads the IDT, then calls the function set_ap_main() named,
// on the stack the VP came with, then halts (cli; hlt) if it returns.
extern "C" void guest_ap_entry64();
void set_ap_main(void (*fn)());

// An HV_INITIAL_VP_CONTEXT for a 64-bit start that copies this CPU's CR0, CR3, CR4, EFER, PAT,
// GDTR and IDTR: CS {0, 0xffffffff, 0x10, 0xa09b}, DS/ES/FS/GS/SS {0, 0xffffffff, 0x18, 0xc093},
// TR {tss, 0x67, 0x20, 0x8b}, LDTR not present, RFLAGS 0x2.
tlfs::InitialVpContext vp_context_64(std::uint64_t rip, std::uint64_t rsp);

// The runtime's TSS (104 bytes).
extern "C" std::uint8_t guest_tss[104];

// --- INIT-SIPI
// ------------------------------------------------------------------------------------

// The trampoline's parameter block, at GUEST_TRAMP_BASE + GUEST_TRAMP_PARAMS.
struct TrampolineParams {
  std::uint16_t pad[3];
  std::uint16_t gdt_limit;
  std::uint64_t gdt_base;
  std::uint64_t cr3;
  std::uint64_t cr4;
  std::uint64_t efer;
  std::uint64_t cr0;
  std::uint64_t pat;
  std::uint64_t entry64;
  std::uint64_t block_base;  // address of block 0; slot k's stack top = base + (k + 1) * size
  std::uint64_t block_size;
  std::uint32_t next_slot;   // taken with lock xadd; starts at 1
  std::uint32_t slot_limit;  // an AP that draws a slot >= this parks (cli; hlt)
  std::uint32_t tss_lock;
  std::uint32_t arrived;  // APs that reached 64-bit mode in the trampoline
};

// Copies the trampoline to GUEST_TRAMP_BASE, fills its parameter block for APs using blocks
// 1..vp_blocks_count()-1, software-enables the APIC and sends INIT then SIPI (vector 0x08) twice
// to all but self. Requires vp_blocks_init() with blocks allocated contiguously. Returns nullptr
// on success, else why it failed.
const char* init_sipi_start_all();
TrampolineParams* trampoline_params();

// The two halves of init_sipi_start_all, for callers that time or target the start:
// init_sipi_prepare copies the trampoline and fills its parameter block so that arriving APs draw
// slots first_slot.. (those at or past slot_limit park) and jump to entry64 with RSP at the top
// of their slot's block, and software-enables the APIC; init_sipi_send sends INIT then SIPI twice,
// with icr_shorthand kIcrAllButSelf (dest ignored) or 0 (physical destination dest_apic_id; an
// xAPIC reaches APIC IDs 0..254 this way, an x2APIC any). Both return nullptr or why they failed.
const char* init_sipi_prepare(void (*entry64)(), std::uint32_t first_slot, std::uint32_t slot_limit);
const char* init_sipi_send(std::uint32_t icr_shorthand, std::uint32_t dest_apic_id = 0);

}  // namespace guest
