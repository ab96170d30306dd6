/*
 * The accesses themselves (64-bit).  op = kind | OP_STACK | OP_AC
 * (probe.h): kind 0 read (movb from va), 1 write (movb $0xC3 to va),
 * 2 fetch (call va: every byte of the data region is 0xC3, `ret`);
 * OP_STACK addresses through RBP, which makes it an SS access.
 */
#define OP_KIND_MASK 3
#define OP_STACK 4
#define OP_AC 8
#define EFLAGS_AC 0x40000

	.text
	.code64
/* uint32_t probe_kernel_access(uintptr_t va, uintptr_t op): at CPL 0;
 * returns the byte read by a read access. */
	.globl probe_kernel_access
probe_kernel_access:
	push %rbp
	mov %rdi, %rbp
	test $OP_AC, %esi
	jz 1f
	pushf
	orl $EFLAGS_AC, (%rsp)
	popf
1:	call do_access_k
	movzbl %al, %eax		/* the byte read, for a read */
	pushf
	andl $~EFLAGS_AC, (%rsp)
	popf
	pop %rbp
	ret

/*
 * The dispatch: rdi = rbp = va, esi = op.  Emitted twice, on a supervisor page for
 * CPL 0 (SMEP forbids running user pages at CPL 0) and on the user page
 * for CPL 3.
 */
.macro DISPATCH name
\name:
	test $OP_STACK, %esi
	jnz 2f
	mov %esi, %eax
	and $OP_KIND_MASK, %eax
	cmp $1, %eax
	je 1f
	ja 3f
	movb (%rdi), %al		/* read */
	ret
1:	movb $0xC3, (%rdi)		/* write */
	ret
3:	call *%rdi			/* fetch */
	ret
2:	test $1, %esi
	jnz 4f
	movb 0(%rbp), %al		/* stack read */
	ret
4:	movb $0xC3, 0(%rbp)		/* stack write */
	ret
.endm

	DISPATCH do_access_k

	.section .user.text, "ax"
	DISPATCH do_access_u

/* CPL 3 entry: rdi = va, rsi = op; EFLAGS.AC comes from the iret. */
	.globl probe_user_entry
probe_user_entry:
	mov %rdi, %rbp
	call do_access_u
	movb %al, probe_user_read_value(%rip)
	int $0x80
	ud2
	.section .user.data, "aw"
	.globl probe_user_read_value
probe_user_read_value:
	.byte 0
	.section .note.GNU-stack, "", @progbits
