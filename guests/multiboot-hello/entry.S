/* multiboot-hello's Multiboot header, 32-bit entry and switch to long mode.
 *
 * The loader enters _start in flat 32-bit protected mode without paging, EAX = 0x2BADB002 and
 * EBX = the information structure (docs/guest-abi.md, "Multiboot"). _start keeps what it was
 * given (EAX, EBX, EFLAGS, ESP and the segment selectors) for mb_main (main.cc) to check, runs
 * mb_main on its own stack, and ends the VM with its status through the exit port; a status of 0
 * first switches to long mode the way a 64-bit kernel started by a Multiboot loader does (PAE
 * page tables, EFER.LME, CR0.PG, a far jump to a 64-bit code segment) and reports from there. */

#define MB_HEADER_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */
#define COM1 0x3F8
#define EXIT_PORT 0xF4
#define MSR_EFER 0xC0000080
#define EFER_LME 0x100
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define PTE_P_W 0x3
#define PDE_LARGE 0x83 /* present, writable, 2 MiB page */

        .section .multiboot, "a", @progbits
        .balign 4
        .globl  multiboot_header
multiboot_header:
        .long   MB_HEADER_MAGIC
        .long   MB_FLAGS
        .long   -(MB_HEADER_MAGIC + MB_FLAGS)

        .code32
        .section .text.entry, "ax", @progbits
        .globl  _start
        .type   _start, @function
_start:
        /* Before anything changes them: ESP, EFLAGS, the registers and the selectors. ESP is
         * only saved: the specification leaves it undefined, so the image's own stack comes
         * before the first push. */
        movl    %esp, entry_esp
        movl    $stack_top, %esp
        pushfl
        popl    entry_eflags
        movl    %eax, entry_eax
        movl    %ebx, entry_ebx
        movw    %cs, entry_cs
        movw    %ds, entry_ds
        movw    %ss, entry_ss
        cli
        cld
        call    mb_main
        testl   %eax, %eax
        jz      enter_long_mode
        outb    %al, $EXIT_PORT
1:      cli
        hlt
        jmp     1b
        .size   _start, . - _start

/* Identity-maps the first 1 GiB with 2 MiB pages (the tables are in .bss, which the loader
 * zeroed), then turns on PAE, long mode and paging and jumps to 64-bit code. */
        .type   enter_long_mode, @function
enter_long_mode:
        movl    $pdpt, %eax
        orl     $PTE_P_W, %eax
        movl    %eax, pml4
        movl    $pd, %eax
        orl     $PTE_P_W, %eax
        movl    %eax, pdpt
        xorl    %ecx, %ecx
2:      movl    %ecx, %eax
        shll    $21, %eax
        orl     $PDE_LARGE, %eax
        movl    %eax, pd(,%ecx,8)
        incl    %ecx
        cmpl    $512, %ecx
        jb      2b
        lgdt    gdt64_pointer
        movl    %cr4, %eax
        orl     $CR4_PAE, %eax
        movl    %eax, %cr4
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $EFER_LME, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $CR0_PG, %eax
        movl    %eax, %cr0
        ljmp    $0x08, $long_mode
        .size   enter_long_mode, . - enter_long_mode

        .code64
long_mode:
        movl    $0x10, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        /* EFER.LMA says the switch really happened. */
        movl    $MSR_EFER, %ecx
        rdmsr
        leaq    msg_long(%rip), %rsi
        xorl    %ebx, %ebx                      /* exit status 0 */
        testl   $0x400, %eax                    /* LMA */
        jnz     3f
        leaq    msg_no_lma(%rip), %rsi
        movl    $1, %ebx
3:      movw    $COM1, %dx
4:      movb    (%rsi), %al
        testb   %al, %al
        jz      5f
        outb    %al, %dx
        incq    %rsi
        jmp     4b
5:      movl    %ebx, %eax
        outb    %al, $EXIT_PORT
6:      cli
        hlt
        jmp     6b

        .section .rodata, "a", @progbits
msg_long:
        .asciz  "multiboot-hello: long mode reached (EFER.LMA set, paging on)\n"
msg_no_lma:
        .asciz  "multiboot-hello: FAIL: EFER.LMA clear after the switch to long mode\n"
        .balign 8
gdt64:
        .quad   0
        .quad   0x00af9a000000ffff              /* 0x08: 64-bit code */
        .quad   0x00cf92000000ffff              /* 0x10: flat data */
gdt64_end:
gdt64_pointer:
        .word   gdt64_end - gdt64 - 1
        .long   gdt64

        .section .bss, "aw", @nobits
        .balign 4096
pml4:   .skip   4096
pdpt:   .skip   4096
pd:     .skip   4096
        .balign 16
stack:  .skip   16384
stack_top:
        .globl  entry_eax, entry_ebx, entry_esp, entry_eflags, entry_cs, entry_ds, entry_ss
        .balign 4
entry_eax:      .skip 4
entry_ebx:      .skip 4
entry_esp:      .skip 4
entry_eflags:   .skip 4
entry_cs:       .skip 2
entry_ds:       .skip 2
entry_ss:       .skip 2

        .section .note.GNU-stack, "", @progbits
