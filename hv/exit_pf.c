/*
 * #PF exits: every page fault the guest takes against the shadow tables
 * goes to the engine, which decides (umbra_page_fault):
 *
 *   FIXED           the shadow now has the entry: run the instruction again
 *                   (re-delivering the event it interrupted, if any).
 *   REFLECT         the guest's own tables forbid the access: inject the
 *                   exception it would get natively (#PF with the
 *                   architectural error code and CR2, or #GP/#SS for a
 *                   non-canonical address).
 *   EMULATE_WRITE   a write to a page holding a shadowed guest table (or a
 *   MMIO, HANDLER   non-RAM access): decode and emulate the instruction
 *                   (pf_emulate.c).
 *   ERROR           the engine cannot go on: the run ends with a report.
 *
 * The exit reports the fault address (EXITINFO2) and the error code
 * against the shadow (EXITINFO1); the guest's CR2 is untouched.
 */
#include "exits.h"
#include "vcpu.h"

#include "console.h"
#include "cpu.h"
#include "pf_emulate.h"

/*
 * WRPKRU does not exit, so the guest's PKRU may have changed since the
 * engine last saw it; a protection-key decision needs the live value.
 * (PKRU only governs user pages, and the host maps none, so the guest's
 * value can stay loaded while Umbra runs.)
 */
static void sync_pkru(struct vcpu *v)
{
	uint32_t pkru;

	if (!v->host_pke || !(v->cr.cr4 & X86_CR4_PKE))
		return;
	pkru = rdpkru();
	if (pkru != v->cr.pkru) {
		struct umbra_paging_regs next = v->cr;

		next.pkru = pkru;
		vcpu_set_paging(v, &next, UMBRA_WROTE_PKRU);
	}
}

void exit_page_fault(struct vcpu *v)
{
	const struct umbra_fault f = {
		.va = v->last.info2,
		.error_code = (uint32_t)v->last.info1,
		.cpl = v->vmcb->cpl,
		.ac = (v->vmcb->rflags & X86_RFLAGS_AC) != 0,
		.implicit = (v->last.int_info & EVENT_VALID) != 0,
	};
	struct umbra_pf_result r;

	sync_pkru(v);
	umbra_page_fault(v->mmu, &f, &r);
	switch (r.action) {
	case UMBRA_PF_FIXED:
		return;
	case UMBRA_PF_REFLECT:
		log_debug("#PF at %#llx error %#x rip %#llx: reflected as vector %u error %#x",
			  (unsigned long long)f.va, f.error_code,
			  (unsigned long long)v->vmcb->rip, r.vector,
			  r.error_code);
		if (r.vector == X86_VEC_PF) {
			v->vmcb->cr2 = r.fault_addr;
			vcpu_inject_exception(v, X86_VEC_PF, true, r.error_code);
		} else {
			vcpu_inject_exception(v, r.vector, true, 0);
		}
		return;
	case UMBRA_PF_EMULATE_WRITE:
	case UMBRA_PF_MMIO:
	case UMBRA_PF_HANDLER:
		pf_emulate(v, &f, &r);
		return;
	default:
		vcpu_fatal(v, UMBRA_EXIT_GUEST_ERROR,
			   "the engine could not resolve a #PF at %#llx (error %#x): %s",
			   (unsigned long long)f.va, f.error_code,
			   r.message ? r.message : umbra_mmu_last_error(v->mmu));
	}
}
