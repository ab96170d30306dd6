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
 * enabled it waits for one: HLT runs natively for one VMRUN (the intercept
 * is lifted until the next exit), so that the passed-through interrupt
 * wakes it through its own IDT.
 */
void exit_hlt(struct vcpu *v)
{
	if (!(v->vmcb->rflags & RFLAGS_IF))
		vcpu_fatal(v, UMBRA_EXIT_GUEST_HALT,
			   "the guest halted with interrupts disabled (it can never resume)");
	v->hlt_passthrough = true;
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
