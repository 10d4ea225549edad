/* vtl-demo's VTL 1 on the boot VP, after its work: serve interrupts for VTL 1 (main.cc). */
        .text
/* void vtl1_serve(void): VTL 1's last act on the boot VP. Returns to VTL 0 (fast), and from then
 * on is entered only for interrupts: it takes the pending one (sti; hlt; cli: the handler keeps
 * every register), hands VTL 0's RAX and RCX back through the VTL control area of its VP assist
 * page (vtl1_assist + 0x10, 0x18) and returns non-fast. Every other general register is VTL 0's
 * and left alone, so nothing here may use one but RAX and RCX: the state lives in memory. */
        .globl  vtl1_serve
        .type   vtl1_serve, @function
vtl1_serve:
        movl    $1, %ecx                /* the first return: fast */
        jmp     2f
1:      movq    %rax, vtl1_assist+0x10(%rip)
        movq    %rcx, vtl1_assist+0x18(%rip)
        sti                             /* the pending interrupt is taken at the hlt at the */
        hlt                             /* latest (sti's shadow: none is lost in between) */
        cli
        xorl    %ecx, %ecx              /* non-fast: RAX and RCX come back from the control area */
2:      leaq    guest_hypercall_page(%rip), %rax
        addq    vtl_return_offset(%rip), %rax
        call    *%rax
        jmp     1b
        .size   vtl1_serve, . - vtl1_serve
        .section .note.GNU-stack, "", @progbits
