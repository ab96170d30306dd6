/*
 * The simple exits: HLT, VMMCALL (Umbra's hypercalls), the SVM
 * instructions, INVD, task switches and shutdown.
 */
#include "exits.h"
#include "vcpu.h"

#include "console.h"
#include "cpu.h"
#include "debug_exit.h"
#include "hypercall.h"

/*
 * HLT.  With interrupts disabled the guest can never wake up again: the
 * run ends (UMBRA_EXIT_GUEST_HALT) instead of hanging.  With interrupts
 * enabled it waits for one: the next VMRUN runs the HLT natively with the
 * HLT intercept lifted and INTR intercepted (vcpu_run), and the interrupt
 * that wakes it exits to exit_intr, which lets it in.
 *
 * Why INTR is intercepted for that one VMRUN: an interrupt that arrived
 * while Umbra handled the HLT exit (the host runs with interrupts off)
 * would otherwise be delivered at the HLT itself, before it runs; the
 * guest's handler would return to the HLT, which would then wait for a
 * further interrupt that may never come (a lost wake-up: natively, STI;
 * HLT with an interrupt pending takes it after the HLT).
 */
void exit_hlt(struct vcpu *v)
{
	if (!(v->vmcb->rflags & RFLAGS_IF))
		vcpu_fatal(v, UMBRA_EXIT_GUEST_HALT,
			   "the guest halted with interrupts disabled (it can never resume)");
	v->hlt_rip = v->vmcb->rip;
	v->hlt_passthrough = true;
}

/*
 * INTR: intercepted only for the VMRUN after a HLT exit.  The interrupt
 * is not acknowledged yet (it stays pending in the guest's PIC); the next
 * VMRUN, without the intercept, delivers it through the guest's IDT.  If
 * the HLT had not run yet (RIP still at it: the interrupt was already
 * pending), skip it first, so the guest returns past the HLT as it would
 * natively.  On QEMU a HLT that ran and woke leaves RIP after it.
 */
void exit_intr(struct vcpu *v)
{
	if (v->vmcb->rip == v->hlt_rip) {
		log_debug("INTR before the HLT at %#llx ran: HLT skipped",
			  (unsigned long long)v->hlt_rip);
		vcpu_skip_insn(v);
	}
}

void exit_vmmcall(struct vcpu *v)
{
	hypercall(v);
}

/* VMRUN, VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA: SVM is hidden from
 * the guest (CPUID), so they raise #UD as on a CPU without it. */
void exit_svm_insn(struct vcpu *v)
{
	log_debug("guest executed %s: #UD", exit_name(v->last.code));
	vcpu_inject_ud(v);
}

/* INVD would throw away dirty cache lines, the host's included: do the
 * writeback variant instead.  A guest cannot tell the difference (INVD
 * leaves memory in an undefined state; WBINVD's state is one of them).
 * (QEMU 7.2 TCG never takes this intercept; real CPUs do.) */
void exit_invd(struct vcpu *v)
{
	__asm__ volatile("wbinvd" ::: "memory");
	vcpu_skip_insn(v);
}

void exit_task_switch(struct vcpu *v)
{
	vcpu_fatal(v, UMBRA_EXIT_UNHANDLED,
		   "hardware task switch to TSS selector %#llx: not supported yet",
		   (unsigned long long)(v->last.info1 & 0xFFFF));
}

void exit_shutdown(struct vcpu *v)
{
	vcpu_fatal(v, UMBRA_EXIT_SHUTDOWN,
		   "the guest shut down (triple fault)");
}
