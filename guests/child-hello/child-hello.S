/* child-hello: a child-partition image for hvk (docs/guest-abi.md, "Partitions").
 *
 * An ELF64 image linked at 1 MiB like the other guests, but its entry code is 32-bit: the parent
 * starts the child's VP 0 with HvCallStartVirtualProcessor in flat 32-bit protected mode without
 * paging (CS base 0 limit 4G attributes 0xC09B, data 0xC093, CR0 = PE|ET, EFER 0, RSP chosen by
 * the parent). It uses no boot-protocol state (no RSI, no boot GDT, no stack, no memory it did not
 * bring), checks CR0 says protected mode without paging, prints one line on COM1 and ends itself
 * through port 0xF4 (a child's exit ends only the child).
 *
 * Output: "child-hello: running in 32-bit protected mode" and exit status 0, or
 * "child-hello: unexpected CR0 (want PE=1 PG=0)" and exit status 1. */

#define COM1 0x3F8
#define EXIT_PORT 0xF4

        .code32
        .section .text.entry, "ax", @progbits
        .globl  _start
        .type   _start, @function
_start:
        cli
        cld
        movl    %cr0, %eax
        andl    $0x80000001, %eax               /* PG, PE */
        cmpl    $0x00000001, %eax
        jne     .Lbad_mode
        movl    $msg_ok, %esi
        xorl    %ebx, %ebx                      /* exit status 0 */
        jmp     .Lprint
.Lbad_mode:
        movl    $msg_bad, %esi
        movl    $1, %ebx
.Lprint:
        movw    $COM1, %dx
1:      movb    (%esi), %al
        testb   %al, %al
        jz      2f
        outb    %al, %dx
        incl    %esi
        jmp     1b
2:      movl    %ebx, %eax
        outb    %al, $EXIT_PORT
3:      cli
        hlt
        jmp     3b
        .size   _start, . - _start

        .section .rodata, "a", @progbits
msg_ok:
        .asciz  "child-hello: running in 32-bit protected mode\n"
msg_bad:
        .asciz  "child-hello: unexpected CR0 (want PE=1 PG=0)\n"

        .section .note.GNU-stack, "", @progbits
