/*
 * 32-bit flavour: exception and IRQ stubs, the DPL-3 gate, setjmp/longjmp
 * and the entry to CPL 3.  Every stub pushes (error code or 0, vector) and joins
 * trap_common, which saves the registers, loads the kernel data segments
 * and calls trap_dispatch(struct trap_frame *).
 */
	.text
	.code32

.macro STUB vec, has_err
	.align 16
trap_stub_\vec:
	.if \has_err == 0
	pushl $0
	.endif
	pushl $\vec
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
	pusha
	push %ds
	push %es
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %esp, %eax
	push %eax
	cld
	call trap_dispatch
	add $4, %esp
trap_return:
	pop %es
	pop %ds
	popa
	add $8, %esp
	iret

	.section .rodata
	.align 4
	.globl trap_stubs
trap_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long trap_stub_\v
.endr
	.globl trap_stub_syscall
trap_stub_syscall:
	.long trap_stub_128
	.globl irq_stubs
irq_stubs:
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	.long trap_stub_\v
.endr

	.text
/* int lib_setjmp(struct jmp_ctx *c) */
	.globl lib_setjmp
lib_setjmp:
	mov 4(%esp), %eax
	mov %ebx, 0(%eax)
	mov %esi, 4(%eax)
	mov %edi, 8(%eax)
	mov %ebp, 12(%eax)
	lea 4(%esp), %ecx
	mov %ecx, 16(%eax)
	mov (%esp), %ecx
	mov %ecx, 20(%eax)
	pushf
	pop %ecx
	mov %ecx, 24(%eax)
	xor %eax, %eax
	ret

/* void lib_longjmp(struct jmp_ctx *c, int val): also restores EFLAGS. */
	.globl lib_longjmp
lib_longjmp:
	mov 4(%esp), %edx
	mov 8(%esp), %eax
	test %eax, %eax
	jnz 1f
	inc %eax
1:	mov $0x10, %cx
	mov %cx, %ds
	mov %cx, %es
	mov %cx, %ss
	mov 0(%edx), %ebx
	mov 4(%edx), %esi
	mov 8(%edx), %edi
	mov 12(%edx), %ebp
	mov 16(%edx), %esp
	push 24(%edx)
	popf
	jmp *20(%edx)

/* void lib_uctx_enter(struct trap_frame *tf): the frame becomes the
 * stack, and trap_common's exit path loads it (IRET to CPL 3 pops the
 * user ESP and SS too). */
	.globl lib_uctx_enter
lib_uctx_enter:
	mov 4(%esp), %esp
	jmp trap_return
	.section .note.GNU-stack, "", @progbits
