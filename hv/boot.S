/*
 * Umbra's entry.  A multiboot v1 loader (QEMU's -kernel, GRUB's multiboot
 * command) loads this image at its physical addresses and jumps to _start
 * in flat 32-bit protected mode with paging off, EAX = the boot magic and
 * EBX = the physical address of the multiboot information.
 *
 * Here we only do what C cannot: a stack, a zeroed .bss, boot page tables
 * that identity-map the first 4 GiB with 2 MiB pages, long mode, and a
 * 64-bit GDT.  Then hv_main(magic, info) builds the real address space
 * (hostmap.c) and never returns.
 */
#include "bootinfo.h"
#include "debug_exit.h"
#include "layout.h"

#define BOOT_PTE_PRESENT   0x1
#define BOOT_PTE_WRITABLE  0x2
#define BOOT_PTE_LARGE     0x80		/* PS: a 2 MiB page in a PD */
#define BOOT_TABLE_FLAGS   (BOOT_PTE_PRESENT | BOOT_PTE_WRITABLE)
#define BOOT_LARGE_FLAGS   (BOOT_TABLE_FLAGS | BOOT_PTE_LARGE)
#define BOOT_LARGE_SIZE    0x200000
#define BOOT_ENTRIES       512
#define BOOT_IDENTITY_GIB  4		/* one page directory per GiB */

#define CR0_PE             0x00000001
#define CR0_PG             0x80000000
#define CR4_PAE            0x00000020
#define MSR_EFER           0xC0000080
#define EFER_LME           0x00000100
#define CPUID_EXT_MAX      0x80000000
#define CPUID_EXT_AMD      0x80000001
#define CPUID_EDX_LM       (1 << 29)
#define COM1               0x3f8
#define COM1_LSR           (COM1 + 5)
#define LSR_THR_EMPTY      0x20
#define DEBUG_EXIT_PORT    0xf4

#define SEL_CODE64         0x08
#define SEL_DATA           0x10

	/* The multiboot header: within the first 8 KiB, 4-byte aligned. */
	.section .multiboot, "a"
	.align 4
	.long MB_HEADER_MAGIC
	.long MB_HEADER_FLAGS
	.long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

	.section .boot.text, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	/* Keep magic and info for hv_main (in .data: .bss is zeroed next). */
	mov %eax, boot_magic
	mov %ebx, boot_info
	mov $boot_stack_top, %esp

	/* Zero .bss (the boot tables and the stack live there too). */
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb

	/* Long mode is required: say so on COM1 and stop otherwise. */
	mov $CPUID_EXT_MAX, %eax
	cpuid
	cmp $CPUID_EXT_AMD, %eax
	jb no_long_mode
	mov $CPUID_EXT_AMD, %eax
	cpuid
	test $CPUID_EDX_LM, %edx
	jz no_long_mode

	/* PML4[0] -> PDPT; PDPT[0..3] -> four PDs of 2 MiB pages: 0..4 GiB. */
	mov $boot_pdpt, %eax
	or $BOOT_TABLE_FLAGS, %eax
	mov %eax, boot_pml4
	mov $boot_pd, %eax
	or $BOOT_TABLE_FLAGS, %eax
	mov $boot_pdpt, %ebx
	mov $BOOT_IDENTITY_GIB, %ecx
1:	mov %eax, (%ebx)
	add $4096, %eax
	add $8, %ebx
	loop 1b

	mov $boot_pd, %ebx
	xor %eax, %eax			/* physical address, low 32 bits */
	xor %edx, %edx			/* high 32 bits */
	mov $(BOOT_ENTRIES * BOOT_IDENTITY_GIB), %ecx
2:	mov %eax, %ebp
	or $BOOT_LARGE_FLAGS, %ebp
	mov %ebp, (%ebx)
	mov %edx, 4(%ebx)
	add $BOOT_LARGE_SIZE, %eax
	adc $0, %edx
	add $8, %ebx
	loop 2b

	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	lgdt boot_gdtr
	ljmp $SEL_CODE64, $start64

/* Print "umbra: no long mode" on COM1 and leave through isa-debug-exit. */
no_long_mode:
	mov $no_lm_msg, %ebx
3:	movb (%ebx), %cl
	test %cl, %cl
	jz 5f
4:	mov $COM1_LSR, %dx
	inb %dx, %al
	test $LSR_THR_EMPTY, %al
	jz 4b
	mov $COM1, %dx
	mov %cl, %al
	outb %al, %dx
	inc %ebx
	jmp 3b
5:	mov $UMBRA_EXIT_NO_SVM, %al
	outb %al, $DEBUG_EXIT_PORT
6:	hlt
	jmp 6b

	.code64
start64:
	mov $SEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	mov $boot_stack_top, %rsp
	xor %ebp, %ebp
	/* hv_main(uint32_t magic, uint32_t info): EDI, ESI (zero-extended). */
	mov boot_magic(%rip), %edi
	mov boot_info(%rip), %esi
	call hv_main
7:	cli
	hlt
	jmp 7b

	.section .boot.rodata, "a"
no_lm_msg:
	.asciz "umbra: this CPU has no long mode\r\n"
	.align 8
boot_gdt:
	.quad 0				/* null */
	.quad 0x00AF9A000000FFFF	/* 0x08: 64-bit code, DPL 0 */
	.quad 0x00CF92000000FFFF	/* 0x10: data, DPL 0 */
boot_gdt_end:
boot_gdtr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.section .boot.data, "aw"
	.align 4
boot_magic:	.long 0
boot_info:	.long 0

	.section .bss.boot, "aw", @nobits
	.align 4096
	.globl boot_pml4
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096 * BOOT_IDENTITY_GIB
	/* The boot stack sits one page above a guard page that hostmap.c
	 * leaves unmapped, so an overflow faults instead of corrupting. */
	.globl boot_stack_guard
boot_stack_guard:	.skip 4096
	.globl boot_stack
boot_stack:	.skip HV_STACK_SIZE
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
