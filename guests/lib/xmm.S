/* XMM0-XMM5 to and from memory, for XMM fast hypercalls (TLFS "XMM Fast Hypercall Input" and
 * "Output"). The guests are compiled without SSE, so between these and the hypercall nothing else
 * touches the XMM registers. CR4.OSFXSR must be set first (guest::enable_sse()). */
        .text
        .balign 16
        .globl  hv_load_xmm
        .type   hv_load_xmm, @function
hv_load_xmm:                    /* void hv_load_xmm(const XmmBlock* rdi) */
        movdqu  0x00(%rdi), %xmm0
        movdqu  0x10(%rdi), %xmm1
        movdqu  0x20(%rdi), %xmm2
        movdqu  0x30(%rdi), %xmm3
        movdqu  0x40(%rdi), %xmm4
        movdqu  0x50(%rdi), %xmm5
        ret
        .size   hv_load_xmm, . - hv_load_xmm

        .balign 16
        .globl  hv_store_xmm
        .type   hv_store_xmm, @function
hv_store_xmm:                   /* void hv_store_xmm(XmmBlock* rdi) */
        movdqu  %xmm0, 0x00(%rdi)
        movdqu  %xmm1, 0x10(%rdi)
        movdqu  %xmm2, 0x20(%rdi)
        movdqu  %xmm3, 0x30(%rdi)
        movdqu  %xmm4, 0x40(%rdi)
        movdqu  %xmm5, 0x50(%rdi)
        ret
        .size   hv_store_xmm, . - hv_store_xmm

        .section .note.GNU-stack, "", @progbits
