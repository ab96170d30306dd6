/*
 * The accesses themselves (32-bit).  op = kind | OP_STACK | OP_AC
 * (probe.h): kind 0 read (movb from va), 1 write (movb $0xC3 to va),
 * 2 fetch (call va: every byte of the data region is 0xC3, `ret`);
 * OP_STACK addresses through EBP, which makes it an SS access.
 */
#define OP_KIND_MASK 3
#define OP_STACK 4
#define OP_AC 8
#define EFLAGS_AC 0x40000

	.text
	.code32
/* uint32_t probe_kernel_access(uintptr_t va, uintptr_t op): at CPL 0;
 * returns the byte read by a read access. */
	.globl probe_kernel_access
probe_kernel_access:
	push %ebp
	mov 8(%esp), %eax		/* va */
	mov 12(%esp), %edx		/* op */
	mov %eax, %ebp
	test $OP_AC, %edx
	jz 1f
	pushf
	orl $EFLAGS_AC, (%esp)
	popf
1:	call do_access_k
	movzbl %cl, %eax		/* the byte read, for a read */
	pushf
	andl $~EFLAGS_AC, (%esp)
	popf
	pop %ebp
	ret

/*
 * The dispatch: eax = ebp = va, edx = op.  Emitted twice, on a supervisor page for
 * CPL 0 (SMEP forbids running user pages at CPL 0) and on the user page
 * for CPL 3.
 */
.macro DISPATCH name
\name:
	test $OP_STACK, %edx
	jnz 2f
	mov %edx, %ecx
	and $OP_KIND_MASK, %ecx
	cmp $1, %ecx
	je 1f
	ja 3f
	movb (%eax), %cl		/* read */
	ret
1:	movb $0xC3, (%eax)		/* write */
	ret
3:	call *%eax			/* fetch */
	ret
2:	test $1, %edx
	jnz 4f
	movb 0(%ebp), %cl		/* stack read */
	ret
4:	movb $0xC3, 0(%ebp)		/* stack write */
	ret
.endm

	DISPATCH do_access_k

	.section .user.text, "ax"
	DISPATCH do_access_u

/* CPL 3 entry: eax = va, edx = op; EFLAGS.AC comes from the iret. */
	.globl probe_user_entry
probe_user_entry:
	mov %eax, %ebp
	call do_access_u
	movb %cl, probe_user_read_value
	int $0x80
	ud2
	.section .user.data, "aw"
	.globl probe_user_read_value
probe_user_read_value:
	.byte 0
	.section .note.GNU-stack, "", @progbits
