/*
 * #PF emulation (see pf_emulate.h): the instruction runs in the emulator,
 * whose writes reach guest RAM through umbra_emulated_write (monitored
 * page tables) and whose accesses to guest-physical memory with nothing
 * behind it read as zero and drop writes (with a warning), as QEMU's
 * unassigned memory does (vcpu_emulate.c).
 * No access handlers are registered yet, so a HANDLER result always means
 * "emulate plainly" (mmu.h).
 */
#include "pf_emulate.h"

#include "console.h"
#include "vcpu.h"
#include "vcpu_emulate.h"

static const char *action_name(uint8_t action)
{
	switch (action) {
	case UMBRA_PF_EMULATE_WRITE:
		return "write to a monitored page table";
	case UMBRA_PF_MMIO:
		return "access to non-RAM guest-physical memory";
	default:
		return "access claimed by an access handler";
	}
}

void pf_emulate(struct vcpu *v, const struct umbra_fault *f,
		const struct umbra_pf_result *r)
{
	char why[96];

	if (r->action == UMBRA_PF_HANDLER && r->handler)
		vcpu_fatal(v, UMBRA_EXIT_UNHANDLED,
			   "#PF at %#llx claimed by an access handler: not wired yet",
			   (unsigned long long)f->va);
	ksnprintf(why, sizeof(why), "#PF at %#llx (gpa %#llx), %s",
		  (unsigned long long)f->va, (unsigned long long)r->gpa,
		  action_name(r->action));
	vcpu_emulate(v, why);
}
