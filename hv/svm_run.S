/*
 * The world switch.
 *
 * void svm_vmrun(uint64_t guest_vmcb_pa,   RDI
 *                uint64_t gpr[16],         RSI
 *                uint64_t host_vmcb_pa)    RDX
 *
 * VMRUN itself switches RAX, RSP, RIP, RFLAGS, the control registers,
 * EFER, CS/SS/DS/ES, GDTR/IDTR and the debug registers, and saves the
 * host's copies in the host save area (VM_HSAVE_PA).  Everything else is
 * ours to move:
 *   - FS, GS, TR, LDTR, KernelGsBase and the SYSCALL/SYSENTER MSRs go
 *     through VMSAVE/VMLOAD (host copy in the host VMCB page);
 *   - the other general-purpose registers are loaded from / stored to
 *     gpr[] around VMRUN (RAX and RSP live in the guest VMCB).
 * GIF is cleared around the switch so no event arrives half-way.
 */
/* Offsets in gpr[], encoding order. */
#define GPR_RCX (1 * 8)
#define GPR_RDX (2 * 8)
#define GPR_RBX (3 * 8)
#define GPR_RBP (5 * 8)
#define GPR_RSI (6 * 8)
#define GPR_RDI (7 * 8)
#define GPR_R8  (8 * 8)
#define GPR_R9  (9 * 8)
#define GPR_R10 (10 * 8)
#define GPR_R11 (11 * 8)
#define GPR_R12 (12 * 8)
#define GPR_R13 (13 * 8)
#define GPR_R14 (14 * 8)
#define GPR_R15 (15 * 8)

/* Our frame after the three pushes below. */
#define FRAME_GUEST_VMCB 0
#define FRAME_GPR        8
#define FRAME_HOST_VMCB  16

	.text
	.code64
	.globl svm_vmrun
svm_vmrun:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdx
	push %rsi
	push %rdi

	clgi
	mov %rdx, %rax
	vmsave				/* host FS/GS/TR/... */
	mov FRAME_GUEST_VMCB(%rsp), %rax
	vmload				/* guest FS/GS/TR/... */

	mov GPR_RCX(%rsi), %rcx
	mov GPR_RDX(%rsi), %rdx
	mov GPR_RBX(%rsi), %rbx
	mov GPR_RBP(%rsi), %rbp
	mov GPR_RDI(%rsi), %rdi
	mov GPR_R8(%rsi), %r8
	mov GPR_R9(%rsi), %r9
	mov GPR_R10(%rsi), %r10
	mov GPR_R11(%rsi), %r11
	mov GPR_R12(%rsi), %r12
	mov GPR_R13(%rsi), %r13
	mov GPR_R14(%rsi), %r14
	mov GPR_R15(%rsi), %r15
	mov GPR_RSI(%rsi), %rsi

	vmrun				/* RAX = guest VMCB */

	/* #VMEXIT: RSP and RAX are the host's again; the rest are the
	 * guest's.  Park the guest's RSI to free a pointer register. */
	push %rsi
	mov (FRAME_GPR + 8)(%rsp), %rsi
	mov %rcx, GPR_RCX(%rsi)
	mov %rdx, GPR_RDX(%rsi)
	mov %rbx, GPR_RBX(%rsi)
	mov %rbp, GPR_RBP(%rsi)
	mov %rdi, GPR_RDI(%rsi)
	mov %r8, GPR_R8(%rsi)
	mov %r9, GPR_R9(%rsi)
	mov %r10, GPR_R10(%rsi)
	mov %r11, GPR_R11(%rsi)
	mov %r12, GPR_R12(%rsi)
	mov %r13, GPR_R13(%rsi)
	mov %r14, GPR_R14(%rsi)
	mov %r15, GPR_R15(%rsi)
	popq GPR_RSI(%rsi)

	mov FRAME_GUEST_VMCB(%rsp), %rax
	vmsave				/* guest FS/GS/TR/... back to its VMCB */
	mov FRAME_HOST_VMCB(%rsp), %rax
	vmload				/* host FS/GS/TR/... */
	stgi				/* host RFLAGS.IF stays 0 */

	add $24, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret

	.section .note.GNU-stack, "", @progbits
