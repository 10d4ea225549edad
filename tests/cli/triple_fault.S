/* Ends in a triple fault: an exception with no usable IDT. hvk must report the VP, RIP and
 * instruction bytes and exit with 125. */
.code64
.section .text.entry, "ax"
.globl _start
_start:
  lidt empty_idt(%rip)
  ud2
.section .rodata
empty_idt:
  .word 0
  .quad 0
