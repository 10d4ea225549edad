/* Offsets shared by modes.S and the C++ side (modes.h). Plain #defines only: the assembler
 * includes this header too. */
#ifndef CONF_MODES_LAYOUT_H
#define CONF_MODES_LAYOUT_H

/* Ap32Args: what a 32-bit AP finds at ESP when it starts. */
#define A32_RECORD 0      /* u32: address of its Record32 */
#define A32_FLAG 4        /* u32: the value to write to Record32.flag when done */
#define A32_CONTROL_LO 8  /* u32: hypercall control word, bits 31:0 (EAX) */
#define A32_CONTROL_HI 12 /* u32: bits 63:32 (EDX) */
#define A32_INPUT 16      /* u32: input GPA (ECX; EBX = 0) */
#define A32_OUTPUT 20     /* u32: output GPA (ESI; EDI = 0) */
#define A32_REAL_MODE 24  /* u32: non-zero: then drop to real mode (the blob at REAL_BASE) */
#define A32_SIZE 28

/* The real-mode blob (modes.S, section .conf_real): copied to REAL_BASE at run time (the page
 * docs/guest-abi.md leaves free below 1 MiB). Its IVT, filled by the boot VP, and the report the
 * real-mode code writes live in the same page. */
#define REAL_BASE 0x8000
#define REAL_IVT 0x400    /* 256 far pointers (offset, segment) */
#define REAL_STACK 0xE00  /* SP at start */
#define REAL_STATE 0xF00  /* u8: 1 before the hypercall exit, 2 if it returned */
#define REAL_VECTOR 0xF01 /* u8: the vector that came (6 for #UD), 0xEE for another */
#define REAL_IP 0xF02     /* u16: IP pushed by the exception */
#define REAL_CR0 0xF04    /* u32: CR0 in real mode */

/* Record32: what a 32-bit AP reports. */
#define R32_FLAG 0
#define R32_CR0 4
#define R32_CR3 8
#define R32_CR4 12
#define R32_EFER_LO 16
#define R32_EFER_HI 20
#define R32_CS 24
#define R32_SS 28
#define R32_ESP 32
#define R32_RESULT_LO 36
#define R32_RESULT_HI 40
#define R32_OUT 44
#define R32_SIZE 48

/* The private GDT used for the CPL 3 test: the runtime's six entries, then user data and user
 * 64-bit code (DPL 3). */
#define CONF_SEL_USER_DATA (0x30 | 3)
#define CONF_SEL_USER_CODE (0x38 | 3)
#define CONF_GDT_ENTRIES 8

#endif
