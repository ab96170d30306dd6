/*
 * User probes, 32-bit flavour (procs.h; regparm(2): va in %eax, byte in
 * %edx): touch one byte at CPL 3 and say whether it faulted.  They return
 * 0; when the access faults, the kernel puts PROBE_FAULT | error code in
 * %eax and resumes at the *_ret label.
 */
	.section .user.text, "ax"
	.code32

/* unsigned long uprobe_load(uintptr_t va) */
	.globl uprobe_load, uprobe_load_insn, uprobe_load_ret
uprobe_load:
	mov %eax, %ecx
	xor %eax, %eax
uprobe_load_insn:
	movzbl (%ecx), %ecx
uprobe_load_ret:
	ret

/* unsigned long uprobe_store(uintptr_t va, unsigned long byte) */
	.globl uprobe_store, uprobe_store_insn, uprobe_store_ret
uprobe_store:
	mov %eax, %ecx
	xor %eax, %eax
uprobe_store_insn:
	movb %dl, (%ecx)
uprobe_store_ret:
	ret
