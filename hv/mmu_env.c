/*
 * The engine's environment callbacks.
 */
#include "mmu_env.h"

#include "console.h"
#include "cpu.h"
#include "hostmap.h"
#include "panic.h"
#include "pmm.h"
#include "string.h"
#include "svm.h"
#include "vcpu.h"

#define REF_EXTENTS_PER_POOL_PAGE 64 /* mmu.h: covers heavy sharing */

static struct vcpu *flush_target;

static void *env_hpa_to_ptr(void *ctx, uint64_t hpa)
{
	(void)ctx;
	return hpa < pmm_ram_end() ? phys_to_virt(hpa) : NULL;
}

/* Metadata is rare and large (descriptors, hash, extents, frame arrays):
 * whole zeroed pages straight from the page allocator. */
static void *env_alloc_meta(void *ctx, size_t size)
{
	uint64_t pa;

	(void)ctx;
	pa = page_alloc_zeroed(pages_for(size), PMM_NO_LIMIT);
	return pa == PMM_NONE ? NULL : phys_to_virt(pa);
}

static void env_free_meta(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	if (ptr)
		pmm_free(virt_to_phys(ptr), pages_for(size));
}

/*
 * One address: INVLPGA drops it from the guest's ASID now.  Everything:
 * TLB_CONTROL asks VMRUN to flush (value 1, all ASIDs: QEMU offers no
 * flush-by-ASID and honours only this value).
 */
static void env_flush_va(void *ctx, uint64_t va)
{
	(void)ctx;
	if (flush_target)
		svm_invlpga(va, flush_target->vmcb->guest_asid);
}

static void env_flush_all(void *ctx)
{
	(void)ctx;
	if (flush_target)
		flush_target->vmcb->tlb_control = TLB_CONTROL_FLUSH_ALL;
}

static uint64_t env_now(void *ctx)
{
	(void)ctx;
	return rdtsc();
}

static const struct umbra_env env = {
	.hpa_to_ptr = env_hpa_to_ptr,
	.alloc_meta = env_alloc_meta,
	.free_meta = env_free_meta,
	.flush_tlb_va = env_flush_va,
	.flush_tlb_all = env_flush_all,
	.now = env_now,
};

static struct umbra_cpu_caps guest_caps(void)
{
	struct cpuid_regs l1 = cpuid(CPUID_LEAF_FEATURES, 0);
	struct cpuid_regs e1 = cpuid(CPUID_LEAF_EXT_AMD, 0);
	struct cpuid_regs e8 = cpuid(CPUID_LEAF_ADDR_SIZES, 0);

	return (struct umbra_cpu_caps){
		.maxphyaddr = e8.eax & CPUID_88_EAX_PHYS_BITS,
		.gbpages = (e1.edx & CPUID_81_EDX_GBPAGES) != 0,
		.pse36 = (l1.edx & CPUID_1_EDX_PSE36) != 0,
	};
}

struct umbra_mmu *mmu_env_create(const struct guest_memory *gm,
				 uint32_t pool_pages)
{
	struct umbra_config cfg = {
		.pool_pages = pool_pages,
		.ref_extents = pool_pages * REF_EXTENTS_PER_POOL_PAGE,
		.caps = guest_caps(),
	};
	struct umbra_mmu *mmu;
	enum umbra_status st;

	if (cfg.ref_extents < UMBRA_MIN_REF_EXTENTS)
		cfg.ref_extents = UMBRA_MIN_REF_EXTENTS;
	/* PAE shadow roots need a 32-bit CR3: the pool lives below 4 GiB. */
	cfg.pool_hpa = pmm_alloc(pool_pages, PAGE_SIZE, PMM_BELOW_4G);
	if (cfg.pool_hpa == PMM_NONE)
		panic("no %u KiB below 4 GiB for the shadow pool (pool=)",
		      pool_pages * 4);
	memset(phys_to_virt(cfg.pool_hpa), 0, (uint64_t)pool_pages << PAGE_SHIFT);
	st = umbra_mmu_create(&mmu, &env, &cfg);
	if (st != UMBRA_OK)
		panic("the engine refused to start (status %d)%s", st,
		      st == UMBRA_ERR_NOMEM ? ": out of host memory" : "");
	for (unsigned i = 0; i < gm->n_ram; i++) {
		const struct guest_ram *r = &gm->ram[i];

		st = umbra_slot_add(mmu, r->gpa, r->size, r->hpa,
				    (enum umbra_slot_type)r->slot_type);
		if (st != UMBRA_OK)
			panic("the engine refused guest %s [%#llx, +%#llx): %s",
			      r->what, (unsigned long long)r->gpa,
			      (unsigned long long)r->size,
			      umbra_mmu_last_error(mmu));
	}
	return mmu;
}

void mmu_env_attach(struct vcpu *v)
{
	flush_target = v;
}
