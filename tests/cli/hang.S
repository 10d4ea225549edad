/* Never ends by itself: halts with interrupts off. Only --timeout (status 124) ends the VM. */
.code64
.section .text.entry, "ax"
.globl _start
_start:
  cli
1: hlt
  jmp 1b
