/*
 * MSR exits: the MSRs the permission map intercepts (intercepts.c), and
 * every MSR outside the map's three ranges, which always exits.
 *
 *   EFER        the guest's own value (SVME never visible).  A write is
 *               checked as the CPU checks it (#GP for reserved or
 *               unsupported bits, or for changing LME while paging is on);
 *               LMA is read-only and follows CR0.PG; the new value goes to
 *               the shadow engine.
 *   VM_CR       reads say SVM is disabled and locked (as firmware does);
 *               writes #GP.
 *   VM_HSAVE_PA reads 0; writes #GP.
 *   all others  (outside the map) #GP, as for an MSR the CPU lacks.
 */
#include "exits.h"
#include "vcpu.h"

#include "console.h"
#include "cpu.h"


/* The EFER bits a guest may set, given what CPUID tells it. */
static uint64_t efer_writable(void)
{
	uint32_t edx = cpuid(CPUID_LEAF_EXT_AMD, 0).edx;
	uint64_t ok = EFER_SCE | EFER_FFXSR;

	if (edx & CPUID_81_EDX_LM)
		ok |= X86_EFER_LME;
	if (edx & CPUID_81_EDX_NX)
		ok |= X86_EFER_NXE;
	return ok;
}

static void write_efer(struct vcpu *v, uint64_t value)
{
	struct umbra_paging_regs next = v->cr;
	const bool paging = v->cr.cr0 & X86_CR0_PG;

	if (value & ~(efer_writable() | X86_EFER_LMA)) {
		log_debug("WRMSR EFER %#llx: reserved bits, #GP",
			  (unsigned long long)value);
		vcpu_inject_gp0(v);
		return;
	}
	if (paging && ((value ^ v->cr.efer) & X86_EFER_LME)) {
		vcpu_inject_gp0(v);
		return;
	}
	next.efer = (value & ~X86_EFER_LMA) | (v->cr.efer & X86_EFER_LMA);
	if (vcpu_set_paging(v, &next, UMBRA_WROTE_EFER))
		vcpu_skip_insn(v);
}

void exit_msr(struct vcpu *v)
{
	const uint32_t msr = (uint32_t)v->gpr[X86_RCX];
	const bool write = v->last.info1 == MSR_EXIT_WRITE;
	const uint64_t value = (v->gpr[X86_RDX] << 32) | (uint32_t)v->gpr[X86_RAX];
	uint64_t result;

	if (write && msr == MSR_EFER) {
		write_efer(v, value);
		return;
	}
	switch (msr) {
	case MSR_EFER:
		result = v->cr.efer;
		break;
	case MSR_VM_CR:
		result = VM_CR_LOCK | VM_CR_SVMDIS;
		break;
	case MSR_VM_HSAVE_PA:
		result = 0;
		break;
	default:
		log_debug("%s of MSR %#x: #GP", write ? "WRMSR" : "RDMSR", msr);
		vcpu_inject_gp0(v);
		return;
	}
	if (write) {
		vcpu_inject_gp0(v);
		return;
	}
	v->gpr[X86_RAX] = (uint32_t)result;
	v->gpr[X86_RDX] = result >> 32;
	vcpu_skip_insn(v);
}
