/* The DSDT compiled from dsdt.asl by iasl, as bytes hvk copies into guest memory. */
	.section .rodata
	.balign 8
	.globl hvk_dsdt_aml
	.globl hvk_dsdt_aml_end
hvk_dsdt_aml:
	.incbin HVK_DSDT_AML_PATH
hvk_dsdt_aml_end:
	.section .note.GNU-stack, "", @progbits
