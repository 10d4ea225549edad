/* bench-smp's entry points: the ELF entry (hvk's 64-bit boot protocol), the PVH entry (QEMU:
 * 32-bit protected mode, paging off, EBX = hvm_start_info), and the AP entry both start methods
 * jump to. Each entry reads the TSC as its first instruction. */

#include "guest/layout.h"
#include "bench_smp.h"

/* ---------------------------------------------------------------------------------------------- */
        .text
        .code64
/* ELF entry: 64-bit mode, RSI = boot_params (kept); then the runtime's _start. */
        .globl  bench_start
        .type   bench_start, @function
bench_start:
        rdtsc
        movl    %eax, bench_entry_tsc(%rip)
        movl    %edx, bench_entry_tsc + 4(%rip)
        jmp     _start
        .size   bench_start, . - bench_start

/* AP entry, reached from an HvCallStartVirtualProcessor context or from the INIT-SIPI trampoline
 * with RSP = the top of the VP's block: stores the TSC in the block, counts itself online and
 * halts (a halted VP leaves the host CPUs to the VPs still starting). */
        .globl  bench_ap_entry64
        .type   bench_ap_entry64, @function
bench_ap_entry64:
        rdtsc
        shlq    $32, %rdx
        orq     %rdx, %rax
        leaq    -1(%rsp), %rcx
        andq    $-GUEST_VP_BLOCK_SIZE, %rcx
        movq    %rax, BENCH_AP_TSC_OFFSET(%rcx)
        lock incl bench_online(%rip)
1:      cli
        hlt
        jmp     1b
        .size   bench_ap_entry64, . - bench_ap_entry64

/* PVH entry (XEN_ELFNOTE_PHYS32_ENTRY): enter long mode through the runtime's GDT with static
 * page tables (paging-off code may run through the host's instruction emulator, so as little of
 * it as possible), turn hvm_start_info into boot_params in 64-bit code, then the runtime's _start. */
        .code32
        .globl  pvh_start32
        .type   pvh_start32, @function
pvh_start32:
        cli
        cld
        rdtsc
        movl    %eax, bench_entry_tsc
        movl    %edx, bench_entry_tsc + 4
        movl    %ebx, %esi                      /* hvm_start_info */

        lgdtl   guest_gdtr
        movl    %cr4, %eax
        orl     $0x20, %eax                     /* PAE */
        movl    %eax, %cr4
        movl    $pvh_page_tables, %eax
        movl    %eax, %cr3
        movl    $0xC0000080, %ecx               /* EFER.LME */
        rdmsr
        orl     $0x100, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000001, %eax               /* PG | PE */
        movl    %eax, %cr0
        ljmp    $GUEST_SEL_CODE64, $pvh_start64

        .code64
pvh_start64:
        movw    $GUEST_SEL_DATA, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        leaq    pvh_stack_top(%rip), %rsp
        movl    %esi, %edi                      /* zero-extended */
        leaq    pvh_zero_page(%rip), %rsi
        call    pvh_boot_params
        leaq    pvh_zero_page(%rip), %rsi
        jmp     _start
        .size   pvh_start32, . - pvh_start32

/* ---------------------------------------------------------------------------------------------- */
        .data
        .balign 8
        .globl  bench_entry_tsc
bench_entry_tsc:                                /* not .bss: _start clears that after we wrote it */
        .quad   0
        .globl  bench_online
bench_online:
        .long   0

/* The PVH entry's identity map of the first 4 GiB: PML4, PDPT, four directories of 2 MiB pages. */
        .balign 4096
pvh_page_tables:
        .quad   pvh_page_tables + 0x1000 + 3
        .fill   511, 8, 0
        .quad   pvh_page_tables + 0x2000 + 3, pvh_page_tables + 0x3000 + 3
        .quad   pvh_page_tables + 0x4000 + 3, pvh_page_tables + 0x5000 + 3
        .fill   508, 8, 0
        .set    pd, 0
        .rept   2048
        .quad   (pd << 21) | 0x83                /* present, writable, 2 MiB */
        .set    pd, pd + 1
        .endr

/* Outside .bss (see bench-smp.ld): written before _start and read after it. */
        .section .pvh_bss, "aw", @nobits
        .balign 4096
        .globl  pvh_zero_page
pvh_zero_page:
        .skip   4096
        .skip   4096
pvh_stack_top:

        .section .note.Xen, "a", @note
        .balign 4
        .long   4                               /* namesz */
        .long   8                               /* descsz */
        .long   18                              /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .balign 4
        .quad   pvh_start32

        .section .note.GNU-stack, "", @progbits
