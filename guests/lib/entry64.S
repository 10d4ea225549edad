/* The runtime's entry points, descriptor tables and exception stubs.
 *
 * _start is entered per docs/guest-abi.md: 64-bit mode, paging on, interrupts off, RSI = the
 * boot_params address. It zeroes .bss, switches to the boot VP's block (stack), loads the guest's
 * own GDT and segments, lets guest_rt_init (rt.cc) load TR and the IDT, calls
 * guest_main(boot_params) and exits with its return value through port 0xf4. */

#include "guest/layout.h"

        .code64

/* ---------------------------------------------------------------------------------------------- */
        .section .text.entry, "ax", @progbits
        .globl  _start
        .type   _start, @function
_start:
        cli
        cld
        movq    %rsi, %r15                      /* boot_params, kept in a callee-saved register */

        /* 8 bytes per iteration: where guest code runs through the host's instruction emulator
         * (notes §9), each iteration of a string instruction costs a microsecond or so. */
        leaq    __bss_start(%rip), %rdi
        leaq    __bss_end(%rip), %rcx
        subq    %rdi, %rcx
        movq    %rcx, %rdx
        shrq    $3, %rcx
        xorl    %eax, %eax
        rep stosq
        movq    %rdx, %rcx
        andq    $7, %rcx
        rep stosb

        movq    %r15, guest_boot_params_ptr(%rip)
        leaq    guest_bsp_block + GUEST_VP_BLOCK_SIZE(%rip), %rsp
        xorl    %ebp, %ebp

        lgdt    guest_gdtr(%rip)
        pushq   $GUEST_SEL_CODE64                /* reload CS with a far return */
        leaq    1f(%rip), %rax
        pushq   %rax
        lretq
1:      movw    $GUEST_SEL_DATA, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        xorl    %eax, %eax
        movw    %ax, %fs
        movw    %ax, %gs

        call    guest_rt_init                   /* TSS descriptor, ltr, IDT, per-VP header */
        movq    %r15, %rdi
        call    guest_main
        movl    %eax, %edi
        call    guest_rt_exit                   /* does not return */
2:      cli
        hlt
        jmp     2b
        .size   _start, . - _start

/* The 64-bit AP entry. HvCallStartVirtualProcessor contexts and the INIT-SIPI trampoline both
 * come here with RSP = the top of the VP's block, CS = 0x10 and flat data segments. */
        .text
        .globl  guest_ap_entry64
        .type   guest_ap_entry64, @function
guest_ap_entry64:
        cli
        cld
        lidt    guest_idtr(%rip)
        andq    $-16, %rsp
        xorl    %ebp, %ebp
        call    guest_rt_ap_entry               /* does not return */
1:      cli
        hlt
        jmp     1b
        .size   guest_ap_entry64, . - guest_ap_entry64

/* int guest_catch(ExceptionHook* hook, void (*fn)(void*), void* arg)
 * Arms the resume point; the exception dispatcher resumes at .Lcatch_resume with RSP restored. */
        .globl  guest_catch
        .type   guest_catch, @function
guest_catch:
        pushq   %rbx
        pushq   %rbp
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp                        /* keeps RSP 16-byte aligned at the call */
        movq    %rdi, (%rsp)                    /* the hook, for the resume path */
        movq    %rsp, GUEST_HOOK_RESUME_RSP(%rdi)
        leaq    .Lcatch_resume(%rip), %rax
        movq    %rax, GUEST_HOOK_RESUME_RIP(%rdi)
        movq    %rsi, %rax
        movq    %rdx, %rdi
        call    *%rax
        movl    $-1, %eax
        jmp     .Lcatch_out
.Lcatch_resume:
        movq    (%rsp), %rdi
        movl    GUEST_HOOK_VECTOR(%rdi), %eax
.Lcatch_out:
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbp
        popq    %rbx
        ret
        .size   guest_catch, . - guest_catch

/* ---------------------------------------------------------------------------------------------- */
/* Interrupt and exception stubs: 256 of them, 16 bytes apart from guest_isr_stubs. Each pushes a
 * zero error code when the CPU pushes none, then the vector, and joins isr_common. */
#define ERRCODE_MASK 0x60227D00 /* 8, 10-14, 17, 21, 29, 30 push an error code */

        .text
        .balign 16
        .globl  guest_isr_stubs
guest_isr_stubs:
        .set    vec, 0
        .rept   256
        .balign 16
        .if     vec < 32
        .if     (ERRCODE_MASK >> vec) & 1
        .else
        pushq   $0
        .endif
        .else
        pushq   $0
        .endif
        pushq   $vec
        jmp     isr_common
        .set    vec, vec + 1
        .endr
        .globl  guest_isr_stubs_end
guest_isr_stubs_end:

        .type   isr_common, @function
isr_common:
        pushq   %rax
        pushq   %rbx
        pushq   %rcx
        pushq   %rdx
        pushq   %rsi
        pushq   %rdi
        pushq   %rbp
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        cld
        movq    %rsp, %rdi                      /* ExceptionFrame* */
        call    guest_rt_dispatch               /* 22 qwords pushed: RSP is 16-byte aligned */
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rbp
        popq    %rdi
        popq    %rsi
        popq    %rdx
        popq    %rcx
        popq    %rbx
        popq    %rax
        addq    $16, %rsp                       /* vector, error code */
        iretq
        .size   isr_common, . - isr_common

/* ---------------------------------------------------------------------------------------------- */
        .data
        .balign 16
        .globl  guest_gdt
guest_gdt:
        .quad   0                               /* 0x00 null */
        .quad   0x00cf9b000000ffff              /* 0x08 32-bit code (INIT-SIPI trampoline) */
        .quad   0x00af9b000000ffff              /* 0x10 64-bit code, attributes 0xa09b */
        .quad   0x00cf93000000ffff              /* 0x18 data, attributes 0xc093 */
        .quad   0, 0                            /* 0x20 64-bit TSS: filled by guest_rt_init */
guest_gdt_end:

        .balign 16
        .globl  guest_gdtr
guest_gdtr:
        .word   guest_gdt_end - guest_gdt - 1
        .quad   guest_gdt

        .balign 16
        .globl  guest_idtr
guest_idtr:
        .word   256 * 16 - 1
        .quad   guest_idt

        .balign 8
        .globl  guest_boot_params_ptr
guest_boot_params_ptr:
        .quad   0

/* ---------------------------------------------------------------------------------------------- */
        .bss
        .balign 4096
        .globl  guest_hypercall_page
guest_hypercall_page:
        .skip   4096

        .balign 4096
        .globl  guest_idt
guest_idt:
        .skip   256 * 16

        .balign 16
        .globl  guest_tss
guest_tss:
        .skip   104

        .balign GUEST_VP_BLOCK_SIZE
        .globl  guest_bsp_block
guest_bsp_block:
        .skip   GUEST_VP_BLOCK_SIZE

        .section .note.GNU-stack, "", @progbits
