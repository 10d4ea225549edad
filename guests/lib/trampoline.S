/* The INIT-SIPI trampoline. Assembled into the image (section .trampoline, not executable there)
 * and copied at run time to GUEST_TRAMP_BASE (0x8000), where a SIPI with vector 0x08 starts an AP
 * in real mode at CS = 0x0800, IP = 0. Every address is computed relative to guest_tramp_start
 * plus GUEST_TRAMP_BASE, so the code is correct only at that base.
 *
 * real mode -> lgdtl (guest GDT, from the parameter block) -> CR0.PE -> ljmpl 0x08 (32-bit code)
 * -> CR4 (with PAE), CR3, PAT, EFER.LME -> CR0.PG -> ljmp 0x10 (64-bit code) -> lock xadd a block
 * slot, RSP = its top -> ltr under a lock (clears the shared TSS's busy bit first) -> jump to the
 * 64-bit AP entry. No port I/O anywhere: on some KVM hosts an exit to user space in the middle of
 * the mode switches can stall the AP. */

#include "guest/layout.h"

#define TRAMP_ADDR(label) (GUEST_TRAMP_BASE + ((label) - guest_tramp_start))

        .section .trampoline, "a", @progbits
        .balign 16
        .globl  guest_tramp_start
guest_tramp_start:
        .code16
        cli
        cld
        movw    %cs, %ax
        movw    %ax, %ds
        lgdtl   GUEST_TRAMP_PARAMS + TP_GDT_LIMIT
        movl    %cr0, %eax
        orl     $1, %eax                        /* PE */
        movl    %eax, %cr0
        ljmpl   $GUEST_SEL_CODE32, $TRAMP_ADDR(tramp32)

        .code32
tramp32:
        movw    $GUEST_SEL_DATA, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    %ax, %fs
        movw    %ax, %gs
        movl    $(GUEST_TRAMP_BASE + GUEST_TRAMP_PARAMS), %ebx

        movl    TP_CR4(%ebx), %eax
        orl     $0x20, %eax                     /* PAE */
        andl    $~0x20000, %eax                 /* no PCIDE outside long mode */
        movl    %eax, %cr4
        movl    TP_CR3(%ebx), %eax
        movl    %eax, %cr3

        movl    $0x277, %ecx                    /* IA32_PAT */
        movl    TP_PAT(%ebx), %eax
        movl    TP_PAT + 4(%ebx), %edx
        wrmsr

        movl    $0xC0000080, %ecx               /* EFER */
        movl    TP_EFER(%ebx), %eax
        andl    $~0x400, %eax                   /* LMA is the CPU's to set */
        orl     $0x100, %eax                    /* LME */
        xorl    %edx, %edx
        wrmsr

        movl    TP_CR0(%ebx), %eax
        orl     $0x80000001, %eax               /* PG | PE */
        movl    %eax, %cr0
        ljmp    $GUEST_SEL_CODE64, $TRAMP_ADDR(tramp64)

        .code64
tramp64:
        movl    $(GUEST_TRAMP_BASE + GUEST_TRAMP_PARAMS), %ebx   /* zero-extends into RBX */
        movl    $1, %eax
        lock xaddl %eax, TP_NEXT_SLOT(%rbx)     /* RAX = this AP's slot */
        cmpl    TP_SLOT_LIMIT(%rbx), %eax
        jae     .Lpark
        leaq    1(%rax), %rcx
        imulq   TP_BLOCK_SIZE(%rbx), %rcx
        addq    TP_BLOCK_BASE(%rbx), %rcx
        movq    %rcx, %rsp                      /* top of block `slot` */

        /* The TSS is shared: ltr wants an available (type 9) descriptor and marks it busy. */
1:      lock btsl $0, TP_TSS_LOCK(%rbx)
        jnc     2f
        pause
        jmp     1b
2:      movq    TP_GDT_BASE(%rbx), %rax
        andb    $0xFD, GUEST_SEL_TSS + 5(%rax)  /* busy (0x8b) -> available (0x89) */
        movw    $GUEST_SEL_TSS, %ax
        ltr     %ax
        movl    $0, TP_TSS_LOCK(%rbx)

        lock incl TP_ARRIVED(%rbx)
        jmpq    *TP_ENTRY64(%rbx)

.Lpark: cli
        hlt
        jmp     .Lpark

        .globl  guest_tramp_end
guest_tramp_end:
        /* The parameter block lives at GUEST_TRAMP_PARAMS in the copied page: guest.ld asserts
         * the code stays below it (gas cannot, the jumps above are still being relaxed). */

        .section .note.GNU-stack, "", @progbits
