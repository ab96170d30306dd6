/*
 * Entry of the 32-bit flavour.  QEMU's multiboot loader jumps here in flat
 * 32-bit protected mode, paging off, EAX = multiboot magic, EBX = info.
 */
#include "multiboot.h"

	.section .multiboot, "a"
	.align 4
	.long MB_HEADER_MAGIC
	.long MB_HEADER_FLAGS
	.long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	mov %eax, %esi			/* keep magic and info across bss clear */
	mov %ebx, %ebp
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $boot_stack_top, %esp
	lgdt lib_gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	push %ebp
	push %esi
	call lib_start
2:	cli
	hlt
	jmp 2b

	.bss
	.align 16
boot_stack:
	.skip 16384
	.globl boot_stack_top
boot_stack_top:
	.section .note.GNU-stack, "", @progbits
