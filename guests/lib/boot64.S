/*
 * Entry of the 64-bit flavour.  QEMU's multiboot loader jumps here in flat
 * 32-bit protected mode, paging off.  We identity-map the first GiB with
 * 2 MiB pages, enable long mode and call lib_start in 64-bit code.  Guests
 * replace these boot tables with their own.
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
	mov %eax, %esi
	mov %ebx, %ebp
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $boot_stack_top, %esp

	/* PML4[0] -> PDPT[0] -> PD of 512 2 MiB pages (P, RW, US, PS): user
	 * pages, so that run_user() works before a guest builds its own
	 * tables (keep SMEP/SMAP off while using them). */
	mov $boot_pdpt, %eax
	or $7, %eax
	mov %eax, boot_pml4
	mov $boot_pd, %eax
	or $7, %eax
	mov %eax, boot_pdpt
	mov $boot_pd, %edi
	mov $0x87, %eax
	mov $512, %ecx
1:	mov %eax, (%edi)
	movl $0, 4(%edi)
	add $0x200000, %eax
	add $8, %edi
	loop 1b

	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax		/* PG, PE */
	mov %eax, %cr0
	lgdt lib_gdtr
	ljmp $0x08, $start64

	.code64
start64:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	lea boot_stack_top(%rip), %rsp
	mov %esi, %edi			/* magic */
	mov %ebp, %esi			/* info */
	call lib_start
2:	cli
	hlt
	jmp 2b

/*
 * void paging_reenter(uint64_t cr3, uint64_t cr4)
 * Drop to compatibility mode, turn paging off (which clears EFER.LMA), load
 * CR4 and CR3, turn paging back on (LMA again, since EFER.LME stays set) and
 * return in 64-bit mode.
 */
	.globl paging_reenter
paging_reenter:
	mov $0x10, %ax
	mov %ax, %ss			/* a valid SS for 32-bit stack use */
	pushq $0x38
	lea 1f(%rip), %rax
	push %rax
	lretq
	.code32
1:	mov %cr0, %eax
	and $0x7fffffff, %eax
	mov %eax, %cr0
	mov %esi, %cr4
	mov %edi, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $0x08, $2f
	.code64
2:	ret

	.bss
	.align 4096
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096
	.align 16
boot_stack:
	.skip 16384
	.globl boot_stack_top
boot_stack_top:
	.section .note.GNU-stack, "", @progbits
