/* The hostile guest's assembly: hypercalls without the hypercall page, calls through any page,
 * the child-partition entry, a parking loop and a deliberate triple fault. */

#include "guest/layout.h"

        .code64
        .text

/* uint64_t hostile_raw_call(control, input, output): RCX, RDX, R8 as the TLFS wants, then the
 * hypercall exit `out 0xf5` itself (docs/guest-abi.md: hvk decodes it wherever it is; outside the
 * page a rep call is finished by hvk and #UD is injected). hvk tells its page's entries from the
 * page offset of RIP (0x08/0x0A, 0x28/0x2A, 0x48/0x4A): this `out` sits at 64k + 9 and RIP after
 * it at 64k + 11, never one of those, so hvk never takes it for the page wherever the page is. */
        .balign 64
        .globl  hostile_raw_call
        .type   hostile_raw_call, @function
hostile_raw_call:
        movq    %rdi, %rcx
        movq    %rdx, %r8
        movq    %rsi, %rdx
.Lraw_out:
        outb    %al, $0xF5
        ret
        .if     .Lraw_out - hostile_raw_call != 9
        .error  "hostile_raw_call: the out must be at offset 9"
        .endif
        .size   hostile_raw_call, . - hostile_raw_call

/* uint64_t hostile_page_call(control, input, output, page): `call page`. */
        .balign 16
        .globl  hostile_page_call
        .type   hostile_page_call, @function
hostile_page_call:
        movq    %rcx, %rax
        movq    %rdi, %rcx
        movq    %rdx, %r8
        movq    %rsi, %rdx
        call    *%rax
        ret
        .size   hostile_page_call, . - hostile_page_call

/* A child partition's VP 0 starts here (64-bit mode, the parent's CR3/GDT/PAT layout, RSP = the
 * top of this image's boot VP block, FS.base and GS.base carrying the parameters). The loader put
 * boot_params at 0x7000 in the child's RAM too (docs/guest-abi.md), which gives the e820 map. */
        .balign 16
        .globl  hostile_child_entry
        .type   hostile_child_entry, @function
hostile_child_entry:
        cli
        cld
        andq    $-16, %rsp
        xorl    %ebp, %ebp
        movq    $0x7000, guest_boot_params_ptr(%rip)
        call    guest_rt_init
        call    hostile_child_main              /* does not return */
1:      cli
        hlt
        jmp     1b
        .size   hostile_child_entry, . - hostile_child_entry

/* Other VPs of a child that only need to exist: halt forever (no stack, no IDT). */
        .balign 16
        .globl  hostile_park
        .type   hostile_park, @function
hostile_park:
        cli
        hlt
        jmp     hostile_park
        .size   hostile_park, . - hostile_park

/* An exception with an empty IDT: #UD cannot be delivered (#GP), nor that (#DF), nor that: the
 * CPU shuts down, which KVM reports as a triple fault. */
        .balign 16
        .globl  hostile_triple_fault
        .type   hostile_triple_fault, @function
hostile_triple_fault:
        cli
        lidt    hostile_empty_idtr(%rip)
        ud2
        jmp     hostile_triple_fault
        .size   hostile_triple_fault, . - hostile_triple_fault

        .section .rodata
        .balign 16
hostile_empty_idtr:
        .word   0
        .quad   0

        .section .note.GNU-stack, "", @progbits
