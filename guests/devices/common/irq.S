/*
 * Interrupt stubs for vectors 0x20..0x2F (the PIC's IRQs 0..15 after the
 * remap): each saves the caller-saved registers, calls
 * dev_irq_dispatch(vector) and returns with IRET.  Both flavours.
 */
	.text
#ifdef __x86_64__
	.code64
.macro IRQSTUB vec
	.align 16
irq_stub_\vec:
	push %rdi
	mov $\vec, %edi
	jmp irq_common
.endm
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	IRQSTUB \v
.endr
irq_common:
	/* RSP = 16n-8 after the CPU's 5 pushes; 1 + 8 pushes: 16n before the call. */
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %r8
	push %r9
	push %r10
	push %r11
	cld
	call dev_irq_dispatch
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	pop %rdi
	iretq
	.section .rodata
	.align 8
	.globl dev_irq_stubs
dev_irq_stubs:
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	.quad irq_stub_\v
.endr
#else
	.code32
.macro IRQSTUB vec
	.align 16
irq_stub_\vec:
	pushal
	pushl $\vec
	jmp irq_common
.endm
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	IRQSTUB \v
.endr
irq_common:
	cld
	call dev_irq_dispatch
	add $4, %esp
	popal
	iret
	.section .rodata
	.align 4
	.globl dev_irq_stubs
dev_irq_stubs:
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	.long irq_stub_\v
.endr
#endif
	.section .note.GNU-stack,"",@progbits
