/* The conformance guest's code outside 64-bit ring 0:
 *
 *  conf_ap32_entry   an AP started by HvCallStartVirtualProcessor in 32-bit protected mode (with
 *                    or without paging) records its state, makes one hypercall with the 32-bit
 *                    convention and sets its flag; optionally drops to real mode and makes the
 *                    hypercall exit there (the blob conf_real_*, run at REAL_BASE);
 *  conf_ap_entry64_alt  a second 64-bit AP entry that counts its use;
 *  conf_call32       the boot VP makes one hypercall from a compatibility-mode code segment;
 *  conf_ring3_run    the boot VP runs code at CPL 3 until an exception brings it back to CPL 0,
 *                    through the stubs of a private IDT (conf_trap_stubs);
 *  conf_user_*       the code run at CPL 3. */

#include "guest/layout.h"
#include "modes_layout.h"

/* ---------------------------------------------------------------------------------------------- */
/* 32-bit AP entry. Entered with interrupts off, flat segments and ESP pointing at an Ap32Args
 * block (modes_layout.h) the boot VP wrote: the record to fill, the flag value, the control word
 * and the input/output GPAs of one hypercall. The flag is written last. */
        .text
        .code32
        .globl  conf_ap32_entry
        .type   conf_ap32_entry, @function
conf_ap32_entry:
        cli
        cld
        movl    A32_RECORD(%esp), %ebp
        movl    %cr0, %eax
        movl    %eax, R32_CR0(%ebp)
        movl    %cr3, %eax
        movl    %eax, R32_CR3(%ebp)
        movl    %cr4, %eax
        movl    %eax, R32_CR4(%ebp)
        movl    $0xC0000080, %ecx               /* EFER */
        rdmsr
        movl    %eax, R32_EFER_LO(%ebp)
        movl    %edx, R32_EFER_HI(%ebp)
        xorl    %eax, %eax
        movw    %cs, %ax
        movl    %eax, R32_CS(%ebp)
        movw    %ss, %ax
        movl    %eax, R32_SS(%ebp)
        movl    %esp, R32_ESP(%ebp)
        /* The hypercall, 32-bit convention: EDX:EAX control, EBX:ECX input, EDI:ESI output. */
        movl    A32_CONTROL_LO(%esp), %eax
        movl    A32_CONTROL_HI(%esp), %edx
        movl    A32_INPUT(%esp), %ecx
        xorl    %ebx, %ebx
        movl    A32_OUTPUT(%esp), %esi
        xorl    %edi, %edi
        call    guest_hypercall_page
        movl    %eax, R32_RESULT_LO(%ebp)
        movl    %edx, R32_RESULT_HI(%ebp)
        movl    A32_OUTPUT(%esp), %esi
        movl    (%esi), %eax
        movl    %eax, R32_OUT(%ebp)
        movl    A32_FLAG(%esp), %eax
        movl    %eax, R32_FLAG(%ebp)            /* last: the boot VP waits for it */
        cmpl    $0, A32_REAL_MODE(%esp)
        jne     .Lto_real_mode
1:      cli
        hlt
        jmp     1b
        /* Down to real mode (paging is off): a 16-bit protected-mode segment first, then CR0.PE
         * off, then a real-mode far jump; all of it in the blob copied to REAL_BASE. */
.Lto_real_mode:
        lgdtl   REAL_BASE + (conf_real_gdtr - conf_real_start)
        ljmpl   $0x08, $REAL_BASE + (conf_real_pm16 - conf_real_start)
        .size   conf_ap32_entry, . - conf_ap32_entry

/* ---------------------------------------------------------------------------------------------- */
/* The real-mode blob: assembled here, run at REAL_BASE (every address is REAL_BASE + offset). In
 * real mode it points IDTR at the IVT in the same page (the boot VP filled it: vector 6 to
 * conf_real_ud, the rest to conf_real_other) and executes the hypercall exit `out 0xf5` with a
 * control word of 0: hvk must answer a call from real mode with #UD (docs/conformance.md A2,
 * A3). */
        .section .rodata.conf_real, "a", @progbits
        .balign 16
        .globl  conf_real_start, conf_real_end, conf_real_ud, conf_real_other
        .code16
conf_real_start:
conf_real_gdt:
        .quad   0                               /* 0x00 null */
        .quad   0x00009A000000FFFF              /* 0x08 16-bit code, base 0, limit 64 KiB */
        .quad   0x000092000000FFFF              /* 0x10 16-bit data */
conf_real_gdtr:
        .word   3 * 8 - 1
        .long   REAL_BASE + (conf_real_gdt - conf_real_start)
        .balign 8
conf_real_idtr:
        .word   256 * 4 - 1
        .long   REAL_BASE + REAL_IVT
conf_real_pm16:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    %cr0, %eax
        andl    $~1, %eax
        movl    %eax, %cr0
        ljmpw   $0, $REAL_BASE + (conf_real_rm - conf_real_start)
conf_real_rm:
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    $REAL_BASE + REAL_STACK, %sp
        lidtw   REAL_BASE + (conf_real_idtr - conf_real_start)
        movl    %cr0, %eax
        movl    %eax, REAL_BASE + REAL_CR0
        xorl    %eax, %eax                      /* control 0: also an unknown call code (A3) */
        xorl    %edx, %edx
        xorl    %ebx, %ebx
        xorl    %ecx, %ecx
        xorl    %esi, %esi
        xorl    %edi, %edi
        movb    $1, REAL_BASE + REAL_STATE
        outb    %al, $0xF5
        movb    $2, REAL_BASE + REAL_STATE      /* reached only if the exit returned normally */
1:      cli
        hlt
        jmp     1b
conf_real_ud:
        movw    %sp, %bp
        movw    (%bp), %ax
        movw    %ax, REAL_BASE + REAL_IP
        movb    $6, REAL_BASE + REAL_VECTOR
1:      cli
        hlt
        jmp     1b
conf_real_other:
        movw    %sp, %bp
        movw    (%bp), %ax
        movw    %ax, REAL_BASE + REAL_IP
        movb    $0xEE, REAL_BASE + REAL_VECTOR
1:      cli
        hlt
        jmp     1b
conf_real_end:
        .code32
        .text

/* ---------------------------------------------------------------------------------------------- */
/* A second 64-bit AP entry: counts its use, then joins the runtime's. Lets a test tell which of
 * two start contexts a VP ran (S18). */
        .code64
        .globl  conf_ap_entry64_alt
        .type   conf_ap_entry64_alt, @function
conf_ap_entry64_alt:
        lock incl conf_alt_entries(%rip)
        jmp     guest_ap_entry64
        .size   conf_ap_entry64_alt, . - conf_ap_entry64_alt

/* ---------------------------------------------------------------------------------------------- */
/* uint64_t conf_call32(uint64_t control, uint64_t input_gpa, uint64_t output_gpa)
 * Far-returns into the 32-bit code segment GUEST_SEL_CODE32 (compatibility mode: paging and the
 * stack stay; everything used is below 4 GiB), calls the hypercall page with EDX:EAX = control,
 * EBX:ECX = input, EDI:ESI = output, far-returns to 64-bit code and returns EDX:EAX. */
        .code64
        .globl  conf_call32
        .type   conf_call32, @function
conf_call32:
        pushq   %rbx
        pushq   %rbp
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, conf_call32_rsp(%rip)
        movq    %rdi, %r9                       /* control */
        movq    %rdx, %r10                      /* output */
        movq    %rsi, %rcx                      /* input: EBX:ECX */
        movq    %rsi, %rbx
        shrq    $32, %rbx
        movq    %r10, %rsi                      /* output: EDI:ESI */
        movq    %r10, %rdi
        shrq    $32, %rdi
        movq    %r9, %rax                       /* control: EDX:EAX */
        movq    %r9, %rdx
        shrq    $32, %rdx
        pushq   $GUEST_SEL_CODE32
        leaq    1f(%rip), %r11
        pushq   %r11
        lretq
        .code32
1:      call    guest_hypercall_page
        pushl   $GUEST_SEL_CODE64
        pushl   $2f
        lretl
        .code64
2:      movq    conf_call32_rsp(%rip), %rsp
        shlq    $32, %rdx
        movl    %eax, %eax
        orq     %rdx, %rax
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbp
        popq    %rbx
        ret
        .size   conf_call32, . - conf_call32

/* ---------------------------------------------------------------------------------------------- */
/* int conf_ring3_run(uint64_t rip, uint64_t rsp, uint64_t rflags, uint64_t rbx)
 * The caller has loaded a GDT with the user segments, a TSS whose RSP0 is valid, page tables with
 * the U/S bit and the private IDT. iretq to CPL 3 at rip (RBX = rbx); the first exception comes
 * back through
 * conf_trap_common, which records it (conf_trap_*) and returns its vector from here. */
        .globl  conf_ring3_run
        .type   conf_ring3_run, @function
conf_ring3_run:
        pushq   %rbx
        pushq   %rbp
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, conf_ring0_rsp(%rip)
        movq    %rcx, %rbx
        pushq   $CONF_SEL_USER_DATA             /* SS */
        pushq   %rsi                            /* RSP */
        pushq   %rdx                            /* RFLAGS */
        pushq   $CONF_SEL_USER_CODE             /* CS */
        pushq   %rdi                            /* RIP */
        xorl    %eax, %eax
        iretq
        .size   conf_ring3_run, . - conf_ring3_run

#define ERRCODE_MASK 0x60227D00 /* 8, 10-14, 17, 21, 29, 30 push an error code */

        .balign 16
        .globl  conf_trap_stubs
conf_trap_stubs:
        .set    vec, 0
        .rept   32
        .balign 16
        .if     (ERRCODE_MASK >> vec) & 1
        .else
        pushq   $0
        .endif
        pushq   $vec
        jmp     conf_trap_common
        .set    vec, vec + 1
        .endr

        .type   conf_trap_common, @function
conf_trap_common:
        popq    %rax                            /* vector */
        popq    %rcx                            /* error code */
        movq    %rcx, conf_trap_error(%rip)
        movq    (%rsp), %rcx
        movq    %rcx, conf_trap_rip(%rip)
        movq    8(%rsp), %rcx
        movq    %rcx, conf_trap_cs(%rip)
        movq    16(%rsp), %rcx
        movq    %rcx, conf_trap_rflags(%rip)
        movw    $GUEST_SEL_DATA, %cx
        movw    %cx, %ss
        movq    conf_ring0_rsp(%rip), %rsp
        movw    %cx, %ds
        movw    %cx, %es
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbp
        popq    %rbx
        ret
        .size   conf_trap_common, . - conf_trap_common

/* Code run at CPL 3. Each ends in `hlt`, which raises #GP at CPL 3 if it is reached. */
        .globl  conf_user_hlt
conf_user_hlt:
        hlt
        jmp     conf_user_hlt

        /* A hypercall through the page (HvCallGetPartitionId): the page's CPL check must #UD. */
        .globl  conf_user_hypercall
conf_user_hypercall:
        movl    $0x46, %ecx
        xorl    %edx, %edx
        xorl    %r8d, %r8d
        call    guest_hypercall_page
        hlt

        /* `call *%rbx` with RCX = 0 (a VtlCall entry, say): the entry's CPL check must #UD. */
        .globl  conf_user_call_rbx
conf_user_call_rbx:
        xorl    %ecx, %ecx
        call    *%rbx
        hlt

        /* Port I/O at CPL 3 with IOPL 3 (port 0x80: nothing there): the `out` must run and
         * the `hlt` after it fault. Shows whether this host honours IOPL at CPL 3. */
        .globl  conf_user_out80
conf_user_out80:
        outb    %al, $0x80
        hlt

        /* The page's exit instruction executed directly at CPL 3 (IOPL 3 lets the `out` run):
         * hvk's dispatcher must refuse it with #UD (docs/conformance.md A1). */
        .globl  conf_user_raw_out
conf_user_raw_out:
        movl    $0x46, %ecx
        xorl    %edx, %edx
        xorl    %r8d, %r8d
        outb    %al, $0xF5
        hlt

/* ---------------------------------------------------------------------------------------------- */
        .bss
        .balign 8
        .globl  conf_alt_entries
conf_alt_entries:
        .long   0
        .long   0
conf_call32_rsp:
        .quad   0
        .globl  conf_ring0_rsp
conf_ring0_rsp:
        .quad   0
        .globl  conf_trap_error, conf_trap_rip, conf_trap_cs, conf_trap_rflags
conf_trap_error:
        .quad   0
conf_trap_rip:
        .quad   0
conf_trap_cs:
        .quad   0
conf_trap_rflags:
        .quad   0

        .section .note.GNU-stack, "", @progbits
