/*
 * CPUID: the host's answers, minus what Umbra does not virtualize, plus
 * the hypervisor leaves.
 *
 * Hidden:
 *   SVM (0x80000001 ECX.SVM, leaf 0x8000000A) and SKINIT: no nested
 *     virtualization; the SVM instructions raise #UD in the guest.
 *   VMX: never offered on AMD; cleared in case.
 *   PCID and INVPCID: the shadow engine keeps no per-PCID state yet, and
 *     INVPCID is not intercepted.
 *   CET shadow stacks (leaf 7 ECX.CET_SS): shadow-stack pages (dirty but
 *     read-only) are not shadowed specially.
 * Computed from the guest's own registers, not the host's:
 *   OSXSAVE (leaf 1 ECX bit 27) from the guest's CR4.OSXSAVE, OSPKE (leaf 7
 *   ECX bit 4) from its CR4.PKE.
 * Added: the hypervisor-present bit (leaf 1 ECX bit 31) and leaf
 *   0x40000000 = { max leaf 0x40000000, "UmbraShadow!" }.
 */
#include "exits.h"
#include "vcpu.h"

#include "cpu.h"
#include "string.h"

#define CPUID_1_ECX_OSXSAVE UMBRA_BIT(27)
#define CPUID_7_ECX_CET_SS  UMBRA_BIT(7)
#define CPUID_7_EDX_CET_IBT UMBRA_BIT(20)
#define HV_SIGNATURE "UmbraShadow!" /* 12 bytes: EBX, ECX, EDX */

static void hv_leaf(struct cpuid_regs *r)
{
	const char *sig = HV_SIGNATURE;

	r->eax = CPUID_LEAF_HV_BASE;
	memcpy(&r->ebx, sig, 4);
	memcpy(&r->ecx, sig + 4, 4);
	memcpy(&r->edx, sig + 8, 4);
}

void exit_cpuid(struct vcpu *v)
{
	uint32_t leaf = (uint32_t)v->gpr[X86_RAX];
	uint32_t sub = (uint32_t)v->gpr[X86_RCX];
	struct cpuid_regs r;

	if (leaf >= CPUID_LEAF_HV_BASE && leaf < CPUID_LEAF_EXT_MAX) {
		r = (struct cpuid_regs){ 0 };
		if (leaf == CPUID_LEAF_HV_BASE)
			hv_leaf(&r);
	} else {
		r = cpuid(leaf, sub);
	}
	switch (leaf) {
	case CPUID_LEAF_FEATURES:
		r.ecx &= ~(uint32_t)(CPUID_1_ECX_VMX | CPUID_1_ECX_PCID |
				     CPUID_1_ECX_OSXSAVE);
		if (v->cr.cr4 & CR4_OSXSAVE)
			r.ecx |= CPUID_1_ECX_OSXSAVE;
		r.ecx |= CPUID_1_ECX_HYPERVISOR;
		break;
	case CPUID_LEAF_EXT_FEATURES:
		if (sub == 0) {
			r.ebx &= ~(uint32_t)CPUID_7_EBX_INVPCID;
			r.ecx &= ~(uint32_t)(CPUID_7_ECX_CET_SS |
					     CPUID_7_ECX_OSPKE);
			r.edx &= ~(uint32_t)CPUID_7_EDX_CET_IBT;
			if (v->cr.cr4 & X86_CR4_PKE)
				r.ecx |= CPUID_7_ECX_OSPKE;
		}
		break;
	case CPUID_LEAF_EXT_AMD:
		r.ecx &= ~(uint32_t)(CPUID_81_ECX_SVM | CPUID_81_ECX_SKINIT);
		break;
	case CPUID_LEAF_SVM:
		r = (struct cpuid_regs){ 0 };
		break;
	default:
		break;
	}
	v->gpr[X86_RAX] = r.eax;
	v->gpr[X86_RBX] = r.ebx;
	v->gpr[X86_RCX] = r.ecx;
	v->gpr[X86_RDX] = r.edx;
	vcpu_skip_insn(v);
}
