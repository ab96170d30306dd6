/*
 * User probes, 64-bit flavour (procs.h): touch one byte at CPL 3 and say
 * whether it faulted.  They return 0; when the access faults, the kernel
 * puts PROBE_FAULT | error code in %rax and resumes at the *_ret label.
 */
	.section .user.text, "ax"
	.code64

/* unsigned long uprobe_load(uintptr_t va) */
	.globl uprobe_load, uprobe_load_insn, uprobe_load_ret
uprobe_load:
	xor %eax, %eax
uprobe_load_insn:
	movzbl (%rdi), %ecx
uprobe_load_ret:
	ret

/* unsigned long uprobe_store(uintptr_t va, unsigned long byte) */
	.globl uprobe_store, uprobe_store_insn, uprobe_store_ret
uprobe_store:
	xor %eax, %eax
uprobe_store_insn:
	movb %sil, (%rdi)
uprobe_store_ret:
	ret
