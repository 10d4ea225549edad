/* Constants shared by the guest runtime's assembly (.S) and C++ code. Plain #defines only: this
 * header is included by the assembler too. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* GDT selectors (guests/lib/entry64.S builds the table). */
#define GUEST_SEL_CODE32 0x08 /* 32-bit code, used by the INIT-SIPI trampoline */
#define GUEST_SEL_CODE64 0x10 /* 64-bit code (attributes 0xa09b) */
#define GUEST_SEL_DATA 0x18   /* flat data (attributes 0xc093) */
#define GUEST_SEL_TSS 0x20    /* 64-bit TSS, 16-byte descriptor */
#define GUEST_GDT_BYTES 0x30

/* Every VP owns one naturally aligned block: the per-VP data page, its hypercall input and output
 * pages, then its stack, which grows down from the end of the block. The runtime finds the
 * current VP's block from RSP. */
#define GUEST_VP_BLOCK_SIZE 0x8000
#define GUEST_VP_BLOCK_PERCPU 0x0000
#define GUEST_VP_BLOCK_HV_INPUT 0x1000
#define GUEST_VP_BLOCK_HV_OUTPUT 0x2000
#define GUEST_VP_BLOCK_STACK 0x3000 /* lowest stack byte; stack top = block + BLOCK_SIZE */

/* ExceptionHook field offsets (guest/cpu.h). */
#define GUEST_HOOK_RESUME_RIP 0
#define GUEST_HOOK_RESUME_RSP 8
#define GUEST_HOOK_FIRED 16
#define GUEST_HOOK_VECTOR 20

/* The INIT-SIPI trampoline (guests/lib/trampoline.S): copied to this page, SIPI vector 0x08. */
#define GUEST_TRAMP_BASE 0x8000
#define GUEST_TRAMP_SIPI_VECTOR 0x08
/* Its parameter block (struct TrampolineParams in guest/smp.h), at GUEST_TRAMP_PARAMS in the
 * page. */
#define GUEST_TRAMP_PARAMS 0xF00
#define TP_GDT_LIMIT 6 /* u16; lgdtl reads limit @6 and the 32-bit base @8 */
#define TP_GDT_BASE 8
#define TP_CR3 16
#define TP_CR4 24
#define TP_EFER 32
#define TP_CR0 40
#define TP_PAT 48
#define TP_ENTRY64 56
#define TP_BLOCK_BASE 64
#define TP_BLOCK_SIZE 72
#define TP_NEXT_SLOT 80
#define TP_SLOT_LIMIT 84
#define TP_TSS_LOCK 88
#define TP_ARRIVED 92
#define TP_SIZE 96

#endif
