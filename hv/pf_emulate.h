/*
 * Emulating the instruction behind a #PF the engine cannot fix in the
 * shadow: a write to a monitored guest page table (EMULATE_WRITE), an
 * access to memory that is not RAM (MMIO), or an access an access handler
 * claims (HANDLER).  The instruction is decoded at RIP and emulated with
 * hv/emulate.h; its memory accesses go to umbra_emulated_write (RAM), the
 * device or the handler; then RIP moves past it.
 */
#ifndef HV_PF_EMULATE_H
#define HV_PF_EMULATE_H

#include "umbra/mmu.h"

struct vcpu;
void pf_emulate(struct vcpu *v, const struct umbra_fault *f,
		const struct umbra_pf_result *r);

#endif
