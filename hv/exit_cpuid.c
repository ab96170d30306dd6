/*
 * CPUID: the host's answers, minus what Umbra does not virtualize, plus
 * the hypervisor leaves.  hv/README.md ("CPUID") lists the same, with the
 * reasons; keep the two in step.
 *
 * Hidden:
 *   SVM (0x80000001 ECX.SVM, leaf 0x8000000A zeroed) and SKINIT: no nested
 *     virtualization; the SVM instructions raise #UD in the guest.
 *   VMX: never offered on AMD; cleared in case.
 *   CET shadow stacks and IBT (leaf 7 ECX.CET_SS, EDX.CET_IBT), and the
 *     supervisor XSAVE components (leaf 0xD subleaf 1 ECX/EDX, the IA32_XSS
 *     bits): shadow-stack pages are not shadowed specially.
 *   x2APIC (leaf 1 ECX bit 21): the LAPIC is passed through as its xAPIC
 *     MMIO page; the APIC base MSR is not virtualized, so x2APIC mode would
 *     leave the guest on MSRs Umbra does not check.
 *   MONITOR/MWAIT (leaf 1 ECX bit 3, leaf 5 zeroed) and MONITORX/MWAITX
 *     (0x80000001 ECX bit 29): not intercepted; an MWAIT would idle the
 *     physical CPU on a line Umbra never writes, and the address MONITOR
 *     arms is translated by the shadow, not the guest's tables.
 *   Performance monitoring beyond the legacy counters: PDCM (leaf 1 ECX
 *     bit 15), leaf 0xA, IBS (0x80000001 ECX bit 10, leaf 0x8000001B),
 *     the core/NB/LLC counter extensions (0x80000001 ECX bits 23, 24, 28),
 *     PerfMonV2 (leaf 0x80000022): their MSRs and PMIs are not
 *     virtualized; the counters would count the hypervisor too.
 *   SME/SEV (leaf 0x8000001F zeroed): the C-bit in guest page tables
 *     would be copied into the shadow as an address bit.
 * Computed from the guest's own registers, not the host's:
 *   OSXSAVE (leaf 1 ECX bit 27) from the guest's CR4.OSXSAVE, OSPKE (leaf 7
 *   ECX bit 4) from its CR4.PKE.
 * Kept: PKU (the engine checks protection keys), LA57 (5-level shadow),
 *   1 GiB pages, NX, SMEP, SMAP, UMIP, XSAVE and its user components (the
 *   host never touches vector state; XSETBV runs natively).
 * Offered whatever the CPU has: PCID (leaf 1 ECX bit 17) and INVPCID (leaf
 *   7 EBX bit 10).  The shadow runs without PCIDs: CR4.PCIDE and the PCID
 *   in CR3 are the guest's alone (every CR3 and CR4 access exits), and
 *   INVPCID is emulated as a flush of at least what it asks (exit_cr.c).
 * Added: the hypervisor-present bit (leaf 1 ECX bit 31) and leaf
 *   0x40000000 = { max leaf 0x40000000, "UmbraShadow!" }; leaves
 *   0x40000001-0x7FFFFFFF read as zero.
 */
#include "exits.h"
#include "vcpu.h"

#include "cpu.h"
#include "string.h"

#define CPUID_1_ECX_OSXSAVE UMBRA_BIT(27)
#define CPUID_1_ECX_PDCM    UMBRA_BIT(15)
#define CPUID_81_ECX_IBS    UMBRA_BIT(10)
#define CPUID_81_ECX_PERFCTR_CORE UMBRA_BIT(23)
#define CPUID_81_ECX_PERFCTR_NB   UMBRA_BIT(24)
#define CPUID_81_ECX_PERFCTR_LLC  UMBRA_BIT(28)
#define CPUID_81_ECX_MONITORX     UMBRA_BIT(29)
#define CPUID_LEAF_MWAIT    0x00000005u
#define CPUID_LEAF_PERFMON  0x0000000Au
#define CPUID_LEAF_IBS      0x8000001Bu
#define CPUID_LEAF_SEV      0x8000001Fu
#define CPUID_LEAF_PERFMON2 0x80000022u
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
		r.ecx &= ~(uint32_t)(CPUID_1_ECX_VMX | CPUID_1_ECX_OSXSAVE |
				     CPUID_1_ECX_X2APIC | CPUID_1_ECX_MONITOR |
				     CPUID_1_ECX_PDCM);
		if (v->cr.cr4 & CR4_OSXSAVE)
			r.ecx |= CPUID_1_ECX_OSXSAVE;
		r.ecx |= CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_PCID;
		break;
	case CPUID_LEAF_EXT_FEATURES:
		if (sub == 0) {
			r.ebx |= CPUID_7_EBX_INVPCID;
			r.ecx &= ~(uint32_t)(CPUID_7_ECX_CET_SS |
					     CPUID_7_ECX_OSPKE);
			r.edx &= ~(uint32_t)CPUID_7_EDX_CET_IBT;
			if (v->cr.cr4 & X86_CR4_PKE)
				r.ecx |= CPUID_7_ECX_OSPKE;
		}
		break;
	case CPUID_LEAF_XSAVE:
		if (sub == 1) {
			r.ecx = 0; /* no supervisor components (IA32_XSS) */
			r.edx = 0;
		}
		break;
	case CPUID_LEAF_EXT_AMD:
		r.ecx &= ~(uint32_t)(CPUID_81_ECX_SVM | CPUID_81_ECX_SKINIT |
				     CPUID_81_ECX_IBS | CPUID_81_ECX_PERFCTR_CORE |
				     CPUID_81_ECX_PERFCTR_NB |
				     CPUID_81_ECX_PERFCTR_LLC |
				     CPUID_81_ECX_MONITORX);
		break;
	case CPUID_LEAF_MWAIT:
	case CPUID_LEAF_PERFMON:
	case CPUID_LEAF_SVM:
	case CPUID_LEAF_IBS:
	case CPUID_LEAF_SEV:
	case CPUID_LEAF_PERFMON2:
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
