/*
 * The guest's paging registers and the shadow roots they select.
 *
 * Shadow tables are always kept in step with the guest's tables (every
 * guest table frame is write-protected and each write is applied), so a
 * CR3 switch needs no resynchronisation: it is a hash lookup for the new
 * root.  What a CR3 write, INVLPG or CR4.PGE toggle must still do is flush
 * the hardware TLB of the shadow translations, which the embedder does
 * when asked.
 */
#include "shadow.h"

/* PAE: each of the four root sps covers 1 GiB: 2^18 frames. */
#define PAE_ROOT_FRAMES_SHIFT 18
#define ACCESS_ALL ((uint32_t)(UMBRA_PERM_W | UMBRA_PERM_U | UMBRA_PERM_X) \
		    << ROLE_ACCESS_SHIFT)

/* The CR0 and CR4 bits whose change reloads the PAE PDPTEs (SDM 4.4.1). */
#define PDPTE_RELOAD_CR0 (X86_CR0_PG | X86_CR0_CD | X86_CR0_NW)
#define PDPTE_RELOAD_CR4 (X86_CR4_PAE | X86_CR4_PGE | X86_CR4_PSE | \
			  X86_CR4_SMEP)

static enum shadow_mode shadow_mode_for(enum umbra_mode m)
{
	if (m == UMBRA_MODE_LONG5)
		return SHADOW_LONG5;
	if (m == UMBRA_MODE_LONG4)
		return SHADOW_LONG4;
	return SHADOW_PAE;
}

/*
 * The guest mode bits that change shadow contents.  SMEP, SMAP and PKE
 * matter only while CR0.WP = 0 (when supervisor writes to read-only pages are
 * shadowed specially); with WP = 1 the hardware enforces them on the shadow
 * as it is, so toggling them reuses the same pages.
 */
static uint32_t role_mode_bits(const struct umbra_paging_regs *r,
			       enum umbra_mode m)
{
	uint32_t bits = (uint32_t)m << ROLE_GMODE_SHIFT;

	if (r->cr0 & X86_CR0_WP)
		bits |= ROLE_CR0_WP;
	else
		bits |= ((r->cr4 & X86_CR4_SMEP) ? ROLE_SMEP : 0) |
			((r->cr4 & X86_CR4_SMAP) ? ROLE_SMAP : 0) |
			((r->cr4 & X86_CR4_PKE) && (m == UMBRA_MODE_LONG4 ||
						    m == UMBRA_MODE_LONG5)
				 ? ROLE_PKE : 0);
	if ((r->efer & X86_EFER_NXE) && m != UMBRA_MODE_32)
		bits |= ROLE_NXE;
	if ((r->cr4 & X86_CR4_PSE) && m == UMBRA_MODE_32)
		bits |= ROLE_PSE;
	return bits;
}

unsigned paging_top_level(const struct umbra_mmu *mmu)
{
	switch (mmu->shadow_mode) {
	case SHADOW_LONG5:
		return 5;
	case SHADOW_LONG4:
		return 4;
	default:
		return 2; /* below the vCPU's PDPT page */
	}
}

uint32_t paging_root_for(const struct umbra_mmu *mmu, uint64_t va)
{
	if (mmu->shadow_mode != SHADOW_PAE)
		return mmu->root;
	return mmu->pae_root[(va >> X86_PAGE_SHIFT_1G) & (PAE_ROOT_ENTRIES - 1)];
}

/* The gfn and role of PAE root i, or false when there is none (a guest
 * PDPTE that is not present). */
static bool pae_root_key(const struct umbra_mmu *mmu, unsigned i,
			 uint64_t *gfn, uint32_t *role)
{
	const uint32_t base = 2 | ACCESS_ALL | mmu->role_mode;

	switch (mmu->walker.mode) {
	case UMBRA_MODE_NONE:
		*gfn = (uint64_t)i << PAE_ROOT_FRAMES_SHIFT;
		*role = base | ROLE_DIRECT;
		return true;
	case UMBRA_MODE_32:
		/* The guest directory's four quarters, 1 GiB each. */
		*gfn = (mmu->regs.cr3 & X86_CR3_ADDR_32) / SP_PAGE_SIZE;
		*role = base | ROLE_GPTE4 | (i << ROLE_QUADRANT_SHIFT);
		return true;
	default:
		if (!(mmu->walker.pdpte[i] & X86_PTE_P))
			return false;
		*gfn = (mmu->walker.pdpte[i] & X86_PTE_ADDR_4K) / SP_PAGE_SIZE;
		*role = base;
		return true;
	}
}

void paging_drop_roots(struct umbra_mmu *mmu)
{
	unsigned i;

	if (mmu->root) {
		mmu->sp[mmu->root].root_count--;
		mmu->root = NO_SP;
	}
	for (i = 0; i < PAE_ROOT_ENTRIES; i++) {
		if (!mmu->pae_root[i])
			continue;
		spte_clear(mmu, mmu->pae_page, i);
		mmu->sp[mmu->pae_root[i]].root_count--;
		mmu->pae_root[i] = NO_SP;
	}
	umbra_gauge_set(&mmu->stats, UMBRA_GAUGE_shadow_roots, 0);
}

static uint32_t take_root(struct umbra_mmu *mmu, uint64_t gfn, uint32_t role)
{
	uint32_t id = sp_get(mmu, gfn, role);

	if (id) {
		mmu->sp[id].root_count++;
		umbra_gauge_inc(&mmu->stats, UMBRA_GAUGE_shadow_roots);
	}
	return id;
}

enum umbra_status paging_load_roots(struct umbra_mmu *mmu)
{
	uint64_t gfn;
	uint32_t role;
	unsigned i;

	if (mmu->shadow_mode != SHADOW_PAE) {
		unsigned level = paging_top_level(mmu);

		gfn = (mmu->regs.cr3 & X86_CR3_ADDR_LONG) / SP_PAGE_SIZE;
		mmu->root = take_root(mmu, gfn,
				      level | ACCESS_ALL | mmu->role_mode);
		if (!mmu->root)
			goto full;
		return UMBRA_OK;
	}
	for (i = 0; i < PAE_ROOT_ENTRIES; i++) {
		if (!pae_root_key(mmu, i, &gfn, &role))
			continue;
		mmu->pae_root[i] = take_root(mmu, gfn, role);
		if (!mmu->pae_root[i] ||
		    !spte_link_child(mmu, mmu->pae_page, i, mmu->pae_root[i]))
			goto full;
	}
	return UMBRA_OK;
full:
	mmu->error = "the shadow pool cannot hold the roots";
	return UMBRA_ERR_POOL;
}

/* Does this register write reload the PAE PDPTEs (SDM 4.4.1)? */
static bool reloads_pdptes(const struct umbra_paging_regs *old,
			   const struct umbra_paging_regs *new_regs,
			   enum umbra_mode old_mode, unsigned wrote)
{
	if (wrote & UMBRA_WROTE_CR3)
		return true;
	if (old_mode != UMBRA_MODE_PAE)
		return true; /* entering PAE paging */
	return ((old->cr0 ^ new_regs->cr0) & PDPTE_RELOAD_CR0) ||
	       ((old->cr4 ^ new_regs->cr4) & PDPTE_RELOAD_CR4);
}

static bool same_roots(const struct umbra_mmu *mmu,
		       const struct umbra_walker *w, uint32_t role_mode)
{
	unsigned i;

	if (role_mode != mmu->role_mode || w->mode != mmu->walker.mode)
		return false;
	switch (w->mode) {
	case UMBRA_MODE_NONE:
		return true;
	case UMBRA_MODE_PAE:
		for (i = 0; i < PAE_ROOT_ENTRIES; i++)
			if (w->pdpte[i] != mmu->walker.pdpte[i])
				return false;
		return true;
	case UMBRA_MODE_32:
		return ((w->regs.cr3 ^ mmu->regs.cr3) & X86_CR3_ADDR_32) == 0;
	default:
		return ((w->regs.cr3 ^ mmu->regs.cr3) & X86_CR3_ADDR_LONG) == 0;
	}
}

enum umbra_status umbra_set_paging(struct umbra_mmu *mmu,
				   const struct umbra_paging_regs *regs,
				   unsigned wrote)
{
	const enum umbra_mode mode = umbra_paging_mode(regs);
	const uint32_t role_mode = role_mode_bits(regs, mode);
	struct umbra_walker w;
	enum umbra_load_status load;
	uint64_t t0 = mmu_now(mmu), misses;
	enum umbra_status st = UMBRA_OK;

	if (mode == UMBRA_MODE_INVALID) {
		mmu->error = "paging registers select no mode (LMA without PG/PAE)";
		return UMBRA_ERR_GP;
	}
	load = umbra_walk_init(&w, regs, &mmu->cfg.caps, &mmu->gmem);
	if (mode == UMBRA_MODE_PAE &&
	    !reloads_pdptes(&mmu->regs, regs, mmu->walker.mode, wrote)) {
		/* The PDPTE registers keep their old values. */
		unsigned i;

		for (i = 0; i < PAE_ROOT_ENTRIES; i++) {
			w.pdpte[i] = mmu->walker.pdpte[i];
			w.pdpte_gpa[i] = mmu->walker.pdpte_gpa[i];
		}
		load = UMBRA_LOAD_OK;
	}
	if (load == UMBRA_LOAD_GP) {
		mmu->error = "a PAE PDPTE has reserved bits set";
		return UMBRA_ERR_GP;
	}
	if (load != UMBRA_LOAD_OK) {
		mmu->error = "the PAE PDPT is not in guest memory";
		return UMBRA_ERR_GP;
	}

	if (role_mode != mmu->role_mode)
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_mode_changes);
	if (!same_roots(mmu, &w, role_mode)) {
		misses = mmu->stats.counter[UMBRA_CTR_cache_miss];
		paging_drop_roots(mmu);
		mmu->regs = *regs;
		mmu->walker = w;
		mmu->role_mode = role_mode;
		mmu->shadow_mode = (uint8_t)shadow_mode_for(mode);
		st = paging_load_roots(mmu);
		umbra_stat_inc(&mmu->stats,
			       misses == mmu->stats.counter[UMBRA_CTR_cache_miss]
				       ? UMBRA_CTR_cr3_switch_hit
				       : UMBRA_CTR_cr3_switch_miss);
		mmu_flush_all(mmu);
	} else {
		mmu->regs = *regs;
		mmu->walker = w;
		/* Same shadow, but perhaps another address space (PAE: two
		 * PDPTs with equal entries): its virtual handlers apply now. */
		handlers_space_switched(mmu);
		/* A CR3 write flushes the guest's TLB; so does a CR4 change
		 * of PGE or PCIDE, and a CR0.WP or paging change. */
		if (wrote & (UMBRA_WROTE_CR3 | UMBRA_WROTE_CR4 | UMBRA_WROTE_CR0))
			umbra_flush_guest_tlb(mmu, (wrote & UMBRA_WROTE_CR4) != 0);
	}
	umbra_timer_add(&mmu->stats, UMBRA_TMR_cr3_switch, mmu_now(mmu) - t0);
	return st;
}

enum umbra_status paging_init(struct umbra_mmu *mmu)
{
	const struct umbra_paging_regs off = { .cr0 = 0 };

	mmu->pae_page = pool_take_page(mmu);
	if (!mmu->pae_page) {
		mmu->error = "the shadow pool has no page for the PAE root";
		return UMBRA_ERR_POOL;
	}
	/* Legacy PAE paging loads a 32-bit CR3. */
	if (sp_hpa(mmu, mmu->pae_page) > UINT32_MAX) {
		mmu->error = "the shadow pool must lie below 4 GiB (PAE root)";
		return UMBRA_ERR_INVALID;
	}
	mmu->sp[mmu->pae_page].role = 3;
	mmu->regs = off;
	umbra_walk_init(&mmu->walker, &off, &mmu->cfg.caps, &mmu->gmem);
	mmu->role_mode = role_mode_bits(&off, UMBRA_MODE_NONE);
	mmu->shadow_mode = SHADOW_PAE;
	return paging_load_roots(mmu);
}

void umbra_get_shadow_regs(const struct umbra_mmu *mmu,
			   struct umbra_shadow_regs *out)
{
	const bool long_mode = mmu->shadow_mode != SHADOW_PAE;
	const uint64_t cr4_guest_only = X86_CR4_PSE | X86_CR4_LA57 |
					X86_CR4_PCIDE;

	/* The CPU must walk the shadow: paging and PAE always on, WP always
	 * on (the engine emulates WP = 0 in the shadow's contents), NX always
	 * enabled (so fetch faults report I/D and NX can be shadowed). */
	out->cr0 = mmu->regs.cr0 | X86_CR0_PG | X86_CR0_WP | X86_CR0_PE;
	out->cr4 = (mmu->regs.cr4 & ~cr4_guest_only) | X86_CR4_PAE |
		   (mmu->shadow_mode == SHADOW_LONG5 ? X86_CR4_LA57 : 0);
	/* With the guest's paging off, SMEP, SMAP and keys do nothing; on the
	 * shadow's direct map they would fault every supervisor access. */
	if (mmu->walker.mode == UMBRA_MODE_NONE)
		out->cr4 &= ~(X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_PKE);
	out->efer = (mmu->regs.efer & ~(X86_EFER_LME | X86_EFER_LMA)) |
		    X86_EFER_NXE |
		    (long_mode ? X86_EFER_LME | X86_EFER_LMA : 0);
	out->cr3 = sp_hpa(mmu, long_mode ? mmu->root : mmu->pae_page);
}

void umbra_invlpg(struct umbra_mmu *mmu, uint64_t va)
{
	uint64_t t0 = mmu_now(mmu);

	/* The shadow already holds what the guest's tables say; only the
	 * hardware TLB may still cache the old translation. */
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_invlpg);
	mmu_flush_va(mmu, va);
	umbra_timer_add(&mmu->stats, UMBRA_TMR_invlpg, mmu_now(mmu) - t0);
}

void umbra_flush_guest_tlb(struct umbra_mmu *mmu, bool global)
{
	(void)global; /* the shadow keeps no global translations */
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_tlb_flush_guest);
	mmu_flush_all(mmu);
}

void umbra_translate(const struct umbra_mmu *mmu,
		     const struct umbra_access *acc,
		     struct umbra_walk_result *res)
{
	umbra_walk(&mmu->walker, acc, res);
}
