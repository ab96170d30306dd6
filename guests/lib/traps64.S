/*
 * 64-bit flavour: exception and IRQ stubs, the DPL-3 gate, setjmp/longjmp
 * and the entry to CPL 3.  Every stub pushes (error code or 0, vector) and joins
 * trap_common, which saves the general registers and calls
 * trap_dispatch(struct trap_frame *).
 */
	.text
	.code64

.macro STUB vec, has_err
	.align 16
trap_stub_\vec:
	.if \has_err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp trap_common
.endm

.irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31,128
	STUB \v, 0
.endr
/* The PIC's IRQs 0..15 (vectors 0x20..0x2F after pic_init). */
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	STUB \v, 0
.endr
.irp v, 8,10,11,12,13,14,17,21,29,30
	STUB \v, 1
.endr

trap_common:
	push %rax
	push %rcx
	push %rdx
	push %rbx
	push %rbp
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	cld
	call trap_dispatch
trap_return:
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rbp
	pop %rbx
	pop %rdx
	pop %rcx
	pop %rax
	add $16, %rsp
	iretq

	.section .rodata
	.align 8
	.globl trap_stubs
trap_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad trap_stub_\v
.endr
	.globl trap_stub_syscall
trap_stub_syscall:
	.quad trap_stub_128
	.globl irq_stubs
irq_stubs:
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	.quad trap_stub_\v
.endr

	.text
/* int lib_setjmp(struct jmp_ctx *c) */
	.globl lib_setjmp
lib_setjmp:
	mov %rbx, 0(%rdi)
	mov %rbp, 8(%rdi)
	mov %r12, 16(%rdi)
	mov %r13, 24(%rdi)
	mov %r14, 32(%rdi)
	mov %r15, 40(%rdi)
	lea 8(%rsp), %rdx
	mov %rdx, 48(%rdi)
	mov (%rsp), %rdx
	mov %rdx, 56(%rdi)
	pushf
	pop %rdx
	mov %rdx, 64(%rdi)
	xor %eax, %eax
	ret

/* void lib_longjmp(struct jmp_ctx *c, int val): also restores EFLAGS and
 * reloads SS, which an interrupt from CPL 3 leaves null. */
	.globl lib_longjmp
lib_longjmp:
	mov $0x10, %ax
	mov %ax, %ss
	mov 0(%rdi), %rbx
	mov 8(%rdi), %rbp
	mov 16(%rdi), %r12
	mov 24(%rdi), %r13
	mov 32(%rdi), %r14
	mov 40(%rdi), %r15
	mov 48(%rdi), %rsp
	push 64(%rdi)
	popf
	mov %esi, %eax
	test %eax, %eax
	jnz 1f
	inc %eax
1:	jmp *56(%rdi)

/* void lib_uctx_enter(struct trap_frame *tf): the frame becomes the
 * stack, and trap_common's exit path loads it. */
	.globl lib_uctx_enter
lib_uctx_enter:
	mov %rdi, %rsp
	jmp trap_return
	.section .note.GNU-stack, "", @progbits
