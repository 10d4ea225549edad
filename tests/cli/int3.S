/* Executes int3 with a #BP handler installed: the handler must run with RIP after the int3 (on
 * hosts whose KVM cannot emulate int3, hvk completes it). Prints and exits with 0. */
.code64
.section .text.entry, "ax"
.globl _start
_start:
  lea stack_top(%rip), %rsp
  lea bp_handler(%rip), %rax
  lea idt(%rip), %rdi
  add $(3 * 16), %rdi            /* vector 3 */
  mov %ax, (%rdi)                /* offset 15:0 */
  movw $0x10, 2(%rdi)            /* the boot protocol's 64-bit code selector */
  movw $0x8e00, 4(%rdi)          /* present, DPL 0, 64-bit interrupt gate */
  shr $16, %rax
  mov %ax, 6(%rdi)               /* offset 31:16 */
  shr $16, %rax
  mov %eax, 8(%rdi)              /* offset 63:32 */
  lidt idtr(%rip)
  int3
after:
  lea msg_after(%rip), %rsi
  call puts
  xor %eax, %eax
  out %al, $0xf4
1: hlt
  jmp 1b
bp_handler:
  lea after(%rip), %rax
  cmp %rax, (%rsp)               /* the pushed RIP must be the instruction after int3 */
  jne bad
  lea msg_bp(%rip), %rsi
  call puts
  iretq
bad:
  mov $3, %al
  out %al, $0xf4
puts:
  mov $0x3f8, %dx
2: lodsb
  test %al, %al
  jz 3f
  out %al, %dx
  jmp 2b
3: ret
.section .rodata
msg_bp: .asciz "int3: #BP handler ran with RIP after the int3\n"
msg_after: .asciz "int3: resumed after the handler\n"
.section .data
.align 16
idtr:
  .word 256 * 16 - 1
  .quad idt
.section .bss
.align 16
idt: .skip 256 * 16
.skip 4096
stack_top:
