/* The hostile guest's VTL 1 on every VP (vtl_storm.cc), once set up: it is entered either by
 * VTL 0's VtlCall (entry reason 1: a request, served by vtl1_request) or for an interrupt (entry
 * reason 2: a GPA intercept on SINT 0, taken by its handler). VTL 1's stack is its own, but every
 * general register is VTL 0's: until an interrupt entry has handed VTL 0's RAX and RCX to the VTL
 * control area of the VP assist page (+0x10, +0x18) and returned non-fast, nothing here uses a
 * register but RAX and RCX (kept on the stack while they are looked at). A VtlCall's caller keeps
 * its callee-saved registers, so a request may use the others.
 *
 *   void vtl1_loop(std::uint8_t* assist, std::uint64_t return_offset)   never returns */
        .text
        .globl  vtl1_loop
        .type   vtl1_loop, @function
vtl1_loop:
        pushq   %rdi                    /* 16(%rsp): the assist page */
        pushq   %rsi                    /* 8(%rsp): the VtlReturn entry's offset */
        subq    $8, %rsp                /* keeps RSP 16-byte aligned at the request's call */
        movl    $1, %ecx                /* the first return: fast */
        jmp     2f
1:      pushq   %rax
        pushq   %rcx
        movq    32(%rsp), %rax          /* the assist page */
        cmpl    $2, 8(%rax)             /* entry reason: interrupt? */
        jne     3f
        popq    %rcx
        movq    %rcx, 0x18(%rax)        /* VTL 0's RCX */
        popq    %rcx
        movq    %rcx, 0x10(%rax)        /* VTL 0's RAX */
        sti                             /* the pending interrupt is taken at the hlt at the */
        hlt                             /* latest (sti's shadow: none is lost in between) */
        cli
        xorl    %ecx, %ecx              /* non-fast: RAX and RCX from the control area */
        jmp     2f
3:      popq    %rcx
        popq    %rax
        call    vtl1_request            /* a C++ function: callee-saved registers are kept */
        movl    $1, %ecx                /* fast */
2:      leaq    guest_hypercall_page(%rip), %rax
        addq    8(%rsp), %rax
        call    *%rax
        jmp     1b
        .size   vtl1_loop, . - vtl1_loop
        .section .note.GNU-stack, "", @progbits
