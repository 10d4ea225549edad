/* bench's VTL 1 on the boot VP (main.cc), after its set-up: VtlCalls (mark 4) go straight back
 * with a fast VtlReturn; an entry for an interrupt (mark 6; entry reason 2 in the VTL control
 * area of VTL 1's VP assist page, bench_vtl1_assist + 8) takes it (sti; hlt; cli: the handler
 * keeps every register), hands VTL 0's RAX and RCX back through the control area (+0x10, +0x18)
 * and returns non-fast. The other general registers are VTL 0's and left alone: nothing here uses
 * one but RAX and RCX, except a VtlCall's request (g_vtl1_request), a C++ call: VTL 0's VtlCall
 * wrapper keeps its callee-saved registers. */
        .text
        .globl  bench_vtl1_loop
        .type   bench_vtl1_loop, @function
bench_vtl1_loop:
        movl    $1, %ecx                /* fast */
        jmp     2f
1:      cmpl    $2, bench_vtl1_assist+8(%rip)
        jne     3f
        movq    %rax, bench_vtl1_assist+0x10(%rip)
        movq    %rcx, bench_vtl1_assist+0x18(%rip)
        sti                             /* the pending interrupt is taken at the hlt at the */
        hlt                             /* latest (sti's shadow: none is lost in between) */
        cli
        xorl    %ecx, %ecx              /* non-fast: RAX and RCX come back from the control area */
        jmp     2f
3:      cmpl    $0, g_vtl1_request(%rip)  /* a VtlCall with a request (main.cc) */
        je      4f
        subq    $8, %rsp                /* 16-byte aligned at the call */
        call    bench_vtl1_request
        addq    $8, %rsp
4:      movl    $1, %ecx
2:      leaq    guest_hypercall_page(%rip), %rax
        addq    bench_vtl1_return_offset(%rip), %rax
        call    *%rax
        jmp     1b
        .size   bench_vtl1_loop, . - bench_vtl1_loop
        .section .note.GNU-stack, "", @progbits
