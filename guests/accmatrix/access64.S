/*
 * The accesses themselves, 64-bit.  kind: 0 read (a load from va), 1 write
 * (a store of 0xC3 to va), 2 fetch (a call to va: the data region is full
 * of 0xC3, `ret`, so the fetch comes back).  The dispatch is emitted twice:
 * on a supervisor page for CPL 0 (under SMEP, CPL 0 may not run user
 * pages) and on the user page for CPL 3.
 */
#define ACCESS_WRITE 1		/* UMBRA_ACCESS_WRITE; above it: fetch */
#define RET_OPCODE 0xC3		/* DATA_FILL */
#define EFLAGS_AC 0x40000

.macro DISPATCH name
\name:				/* rdi = va, esi = kind */
	cmp $ACCESS_WRITE, %esi
	je 1f
	ja 2f
	movb (%rdi), %al
	ret
1:	movb $RET_OPCODE, (%rdi)
	ret
2:	call *%rdi
	ret
.endm

	.text
/* void am_kernel_access(uintptr_t va, uintptr_t kind, uintptr_t ac): at
 * CPL 0, with EFLAGS.AC = ac during the access.  A fault leaves through
 * try_call, which restores EFLAGS. */
	.globl am_kernel_access
am_kernel_access:
	test %rdx, %rdx
	jz 1f
	pushf
	orl $EFLAGS_AC, (%rsp)
	popf
1:	call am_dispatch_kernel
	pushf
	andl $~EFLAGS_AC, (%rsp)
	popf
	ret

	DISPATCH am_dispatch_kernel

	.section .user.text, "ax"
	DISPATCH am_dispatch_user

/* CPL 3 entry from run_user: rdi = va, rsi = kind; EFLAGS.AC comes from
 * run_user.  Done: int $0x80. */
	.globl am_user_entry
am_user_entry:
	call am_dispatch_user
	int $0x80
	ud2
	.section .note.GNU-stack, "", @progbits
