/*
 * Host exception entry points.  Umbra runs with interrupts disabled, so the
 * only events that reach its IDT are exceptions, and every one of them is a
 * bug in Umbra: each stub builds a struct trap_frame (traps.h) and calls
 * trap_report(), which prints it and ends the run.  (Guest exceptions never
 * come here: the guest has its own IDT, and intercepted ones are #VMEXITs.)
 */
#define TRAP_VECTORS 32

	.text
	.code64

.macro trap_stub vector
	.align 16
trap_stub_\vector:
	.if !(\vector == 8 || (\vector >= 10 && \vector <= 14) || \vector == 17 || \vector == 21 || \vector == 29 || \vector == 30)
	pushq $0			/* no error code: keep the frame uniform */
	.endif
	pushq $\vector
	jmp trap_common
.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	trap_stub \v
	.endr

trap_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	and $-16, %rsp			/* the ABI's stack alignment */
	call trap_report
1:	cli
	hlt
	jmp 1b

	/* The stubs' addresses, for idt.c. */
	.section .rodata
	.align 8
	.globl trap_stub_table
trap_stub_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad trap_stub_\v
	.endr

	.section .note.GNU-stack, "", @progbits
