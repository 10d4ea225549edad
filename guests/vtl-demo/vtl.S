/* VtlCall and VtlReturn through the hypercall page (entries at the offsets HvRegisterVsm-
 * CodePageOffsets reports; hvk: 0x20 and 0x40). The general registers are shared between VTLs
 * (TLFS), so the other VTL may leave anything in them: these wrappers keep the callee-saved ones
 * on this VTL's own stack (RSP is private to each VTL). */
        .text
        .globl  vtl_call
        .type   vtl_call, @function
vtl_call:                               /* void vtl_call(uint64_t call_offset) */
        pushq   %rbx
        pushq   %rbp
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        leaq    guest_hypercall_page(%rip), %rax
        addq    %rdi, %rax
        xorl    %ecx, %ecx              /* control input: 0 */
        call    *%rax
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbp
        popq    %rbx
        ret
        .size   vtl_call, . - vtl_call

        .globl  vtl_return
        .type   vtl_return, @function
vtl_return:                             /* void vtl_return(uint64_t return_offset, uint64_t fast) */
        pushq   %rbx
        pushq   %rbp
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        leaq    guest_hypercall_page(%rip), %rax
        addq    %rdi, %rax
        movq    %rsi, %rcx              /* control input: bit 0 = fast return */
        call    *%rax
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbp
        popq    %rbx
        ret
        .size   vtl_return, . - vtl_return

        .section .note.GNU-stack, "", @progbits
