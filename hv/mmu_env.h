/*
 * The shadow engine's environment in the hypervisor (struct umbra_env):
 * host memory through the direct map, engine metadata from the page
 * allocator, TLB flush requests turned into the VMCB's TLB control, and
 * the TSC as the statistics clock.
 */
#ifndef HV_MMU_ENV_H
#define HV_MMU_ENV_H

#include <stdint.h>

#include "guestmem.h"
#include "umbra/mmu.h"

struct vcpu;

/* Create the engine for the guest: a pool of pool_pages below 4 GiB and a
 * RAM slot for each guest RAM range.  Panics with the reason on failure. */
struct umbra_mmu *mmu_env_create(const struct guest_memory *gm,
				 uint32_t pool_pages);
/* Flush requests go to this vCPU's VMCB from now on. */
void mmu_env_attach(struct vcpu *v);

#endif
