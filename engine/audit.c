/*
 * The audit: proves that the shadow allows nothing the guest's tables do not
 * (shadow is a subset of guest), and that the engine's bookkeeping agrees
 * with the tables it describes.  Tests and fuzzers run it after every event.
 *
 * For every live shadow page, for every present entry:
 *   - a non-leaf entry names a live child whose (gfn, role) is what the
 *     guest entry it shadows calls for, and the child lists it as a parent;
 *   - a leaf maps the slot translation of the frame the guest entry names,
 *     with rights never wider than the role's inherited rights narrowed by
 *     the guest entry, writable only if the guest entry is dirty and the
 *     frame is RAM holding no shadowed table, and is in the frame's rmap.
 * Then the other direction: every rmap and parent reference names a present
 * entry that points back, and every frame's monitoring count equals the
 * number of shadow pages of it.
 */
#include "shadow.h"

void audit_report(struct audit *a, enum umbra_audit_kind kind, uint32_t id,
		  unsigned index, uint64_t spte, uint64_t expected,
		  const char *what)
{
	if (a->count < a->max) {
		struct umbra_audit_violation *v = &a->out[a->count];
		const struct sp *s = &a->mmu->sp[id]; /* sp[NO_SP] is empty */

		v->kind = (uint8_t)kind;
		v->level = (uint8_t)role_level(s->role);
		v->index = (uint16_t)index;
		v->sp = id;
		v->gfn = s->gfn;
		v->spte = spte;
		v->expected = expected;
		v->what = what;
	}
	a->count++;
}

/* The guest entry that shadow entry `index` of a non-direct sp shadows,
 * and how many shadow entries that guest entry spans. */
static uint64_t guest_entry_for(struct umbra_mmu *mmu, uint32_t id,
				unsigned index)
{
	const uint32_t role = mmu->sp[id].role;
	const unsigned size = (role & ROLE_GPTE4) ? 4 : 8;
	unsigned gi = index;
	uint64_t val;

	if (role & ROLE_GPTE4)
		gi = role_level(role) == 1
			     ? role_quadrant(role) * SP_ENTRIES + index
			     : role_quadrant(role) * (SP_ENTRIES / 2) + index / 2;
	mmu->gmem.read(mmu, mmu->sp[id].gfn * SP_PAGE_SIZE +
				    (uint64_t)gi * size,
		       size, &val);
	return val;
}

/* Whether guest entry gpte of a table at guest level `level` maps a large
 * page, under the role's mode. */
static bool gpte_is_large(uint32_t role, unsigned level, uint64_t gpte,
			  const struct umbra_cpu_caps *caps)
{
	if (!(gpte & X86_PTE_PS))
		return false;
	if (role & ROLE_GPTE4)
		return level == 2 && (role & ROLE_PSE);
	return level == 2 || (level == 3 && caps->gbpages);
}

static uint64_t gpte_frame(uint32_t role, uint64_t gpte)
{
	return (gpte & ((role & ROLE_GPTE4) ? X86_PTE32_ADDR_4K
					    : X86_PTE_ADDR_4K)) /
	       SP_PAGE_SIZE;
}

/* The first frame of a guest large page: 4 MiB pages carry PSE-36 bits. */
static uint64_t large_frame(uint32_t role, unsigned level, uint64_t gpte)
{
	if (role & ROLE_GPTE4)
		return ((gpte & X86_PTE32_ADDR_4M) |
			((gpte & X86_PTE32_PSE36_MASK)
			 << (32 - X86_PTE32_PSE36_SHIFT))) /
		       SP_PAGE_SIZE;
	return (gpte & X86_PTE_ADDR_4K &
		~((1ull << (X86_PAGE_SHIFT_4K + (level - 1) * SP_INDEX_BITS)) - 1)) /
	       SP_PAGE_SIZE;
}

/* What the child of (id, index) must be: its gfn and role.  False when the
 * guest entry justifies no child at all. */
static bool expected_child(struct umbra_mmu *mmu, uint32_t id, unsigned index,
			   uint64_t *gfn, uint32_t *role)
{
	const uint32_t prole = mmu->sp[id].role;
	const unsigned level = role_level(prole);
	const unsigned span = SP_INDEX_BITS * (level - 1); /* child's frames */
	uint64_t gpte;
	uint8_t perm;

	*role = (level - 1) | (prole & ROLE_MODE_BITS);
	if (prole & ROLE_DIRECT) {
		*gfn = mmu->sp[id].gfn + ((uint64_t)index << span);
		*role |= ROLE_DIRECT | (prole & (ROLE_ACCESS_MASK | ROLE_ATTR_MASK));
		return true;
	}
	gpte = guest_entry_for(mmu, id, index);
	if (!(gpte & X86_PTE_P))
		return false;
	perm = role_access(prole) & gpte_perm(prole, gpte);
	if (gpte_is_large(prole, level, gpte, &mmu->cfg.caps)) {
		/* Which part of the large page this shadow entry covers. */
		unsigned part = (prole & ROLE_GPTE4) ? index % 2 : 0;

		if (!(gpte & X86_PTE_D))
			perm &= (uint8_t)~UMBRA_PERM_W;
		*gfn = large_frame(prole, level, gpte) +
		       ((uint64_t)part << span);
		*role |= ROLE_DIRECT | ((uint32_t)perm << ROLE_ACCESS_SHIFT) |
			 role_attr_of(gpte);
		return true;
	}
	*gfn = gpte_frame(prole, gpte);
	*role |= (uint32_t)perm << ROLE_ACCESS_SHIFT;
	if (prole & ROLE_GPTE4)
		*role |= ROLE_GPTE4 | ((uint32_t)(index % 2) << ROLE_QUADRANT_SHIFT);
	return true;
}

static void audit_link(struct audit *a, uint32_t id, unsigned index,
		       uint64_t spte)
{
	struct umbra_mmu *mmu = a->mmu;
	uint32_t child = sp_from_hpa(mmu, spte & SPTE_ADDR);
	uint64_t gfn;
	uint32_t role;

	if (!child || !mmu->sp[child].in_use) {
		audit_report(a, UMBRA_AUDIT_LINK, id, index, spte, 0,
		       "non-leaf entry points at no live shadow page");
		return;
	}
	if (!reflist_contains(&mmu->refs, mmu->sp[child].parents,
			      make_ref(id, index)))
		audit_report(a, UMBRA_AUDIT_PARENT, id, index, spte, child,
		       "child does not list this entry as a parent");
	if (id == mmu->pae_page)
		return; /* the PDPTEs are checked against the roots */
	/* A direct sp whose parent chose W from a dirty guest entry may be
	 * narrower than the expectation; never wider. */
	if (!expected_child(mmu, id, index, &gfn, &role)) {
		audit_report(a, UMBRA_AUDIT_GUEST_ENTRY, id, index, spte, 0,
		       "non-leaf entry where the guest entry is not present");
		return;
	}
	if (mmu->sp[child].gfn != gfn ||
	    (mmu->sp[child].role & ~ROLE_ACCESS_MASK) != (role & ~ROLE_ACCESS_MASK) ||
	    (role_access(mmu->sp[child].role) & ~role_access(role)))
		audit_report(a, UMBRA_AUDIT_LINK, id, index, spte,
		       gfn * SP_PAGE_SIZE | role,
		       "child's frame or role is not what the guest entry says");
}

/* The frame, rights and protection-key bits a leaf spte may have; false
 * if none. */
static bool expected_leaf(struct umbra_mmu *mmu, uint32_t id, unsigned index,
			  uint64_t *gfn, uint8_t *perm, bool *dirty,
			  uint64_t *pk)
{
	const uint32_t role = mmu->sp[id].role;
	const unsigned gmode = role_gmode(role);
	const bool keys = gmode == UMBRA_MODE_LONG4 || gmode == UMBRA_MODE_LONG5;
	uint64_t gpte;

	if (role & ROLE_DIRECT) {
		*gfn = mmu->sp[id].gfn + index;
		*perm = role_access(role);
		*dirty = true;
		*pk = keys ? role_attr_gpte(role) & X86_PTE_PK_MASK : 0;
		return true;
	}
	gpte = guest_entry_for(mmu, id, index);
	if ((gpte & (X86_PTE_P | X86_PTE_A)) != (X86_PTE_P | X86_PTE_A))
		return false;
	*gfn = gpte_frame(role, gpte);
	*perm = role_access(role) & gpte_perm(role, gpte);
	*dirty = (gpte & X86_PTE_D) != 0;
	*pk = keys ? gpte & X86_PTE_PK_MASK : 0;
	return true;
}

static void audit_leaf(struct audit *a, uint32_t id, unsigned index,
		       uint64_t spte)
{
	struct umbra_mmu *mmu = a->mmu;
	const uint32_t role = mmu->sp[id].role;
	const struct slot *s;
	struct frame *f;
	uint64_t gfn, hpa, pk;
	uint8_t perm;
	bool dirty, wp_trick;

	if (!expected_leaf(mmu, id, index, &gfn, &perm, &dirty, &pk)) {
		audit_report(a, UMBRA_AUDIT_GUEST_ENTRY, id, index, spte, 0,
		       "leaf where the guest entry is not present and accessed");
		return;
	}
	s = slot_find(mmu, gfn);
	if (!s || s->type == UMBRA_SLOT_MMIO) {
		audit_report(a, UMBRA_AUDIT_NOT_RAM, id, index, spte, gfn,
		       "leaf maps a frame that is not guest RAM or ROM");
		return;
	}
	hpa = s->hpa + (gfn - s->gfn) * SP_PAGE_SIZE;
	if ((spte & SPTE_ADDR) != hpa)
		audit_report(a, UMBRA_AUDIT_FRAME, id, index, spte, hpa,
		       "leaf maps another frame than the guest entry");
	/* CR0.WP = 0: a supervisor-only writable leaf for a page the guest
	 * may write only from supervisor mode. */
	wp_trick = !(role & ROLE_CR0_WP) && !(spte & X86_PTE_US);
	if (((spte & X86_PTE_US) && !(perm & UMBRA_PERM_U)) ||
	    (!(spte & X86_PTE_NX) && !(perm & UMBRA_PERM_X)) ||
	    ((spte & X86_PTE_RW) && !(perm & UMBRA_PERM_W) && !wp_trick))
		audit_report(a, UMBRA_AUDIT_PERM, id, index, spte, perm,
		       "leaf allows more than the guest's rights");
	if ((spte & X86_PTE_RW) &&
	    (!dirty || s->type != UMBRA_SLOT_RAM ||
	     frame_is_shadowed(mmu, gfn)))
		audit_report(a, UMBRA_AUDIT_WRITABLE, id, index, spte, gfn,
		       "leaf writable though clean, ROM or a shadowed table");
	/* The CPU checks PKRU against the shadow's key: it must be the
	 * guest's, or a key the guest blocks would let accesses through. */
	if ((spte & X86_PTE_PK_MASK) != pk)
		audit_report(a, UMBRA_AUDIT_PERM, id, index, spte, pk,
		       "leaf carries another protection key than the guest");
	f = frame_of(mmu, gfn);
	if (!f || !reflist_contains(&mmu->refs, f->rmap, make_ref(id, index)))
		audit_report(a, UMBRA_AUDIT_RMAP, id, index, spte, gfn,
		       "leaf missing from its frame's reverse map");
}

static void audit_sp(struct audit *a, uint32_t id)
{
	struct umbra_mmu *mmu = a->mmu;
	const uint64_t *table = sp_table(mmu, id);
	const bool leaf_level = role_level(mmu->sp[id].role) == 1;
	struct reflist_iter it;
	umbra_ref r;
	unsigned i, present = 0;

	for (i = 0; i < SP_ENTRIES; i++) {
		if (!(table[i] & X86_PTE_P))
			continue;
		present++;
		if (leaf_level)
			audit_leaf(a, id, i, table[i]);
		else
			audit_link(a, id, i, table[i]);
	}
	if (present != mmu->sp[id].present)
		audit_report(a, UMBRA_AUDIT_POOL, id, 0, present, mmu->sp[id].present,
		       "present-entry count disagrees with the table");
	if (!reflist_check(&mmu->refs, mmu->sp[id].parents))
		audit_report(a, UMBRA_AUDIT_PARENT, id, 0, 0, 0,
		       "parent list is malformed");
	for (r = reflist_iter_first(&it, &mmu->refs, mmu->sp[id].parents); r;
	     r = reflist_iter_next(&it)) {
		uint32_t pid = umbra_ref_page(r);
		uint64_t pspte;

		if (pid > mmu->cfg.pool_pages || !mmu->sp[pid].in_use) {
			audit_report(a, UMBRA_AUDIT_PARENT, id, 0, r, 0,
			       "parent reference names a dead shadow page");
			continue;
		}
		pspte = sp_table(mmu, pid)[umbra_ref_index(r)];
		if (!(pspte & X86_PTE_P) ||
		    (pspte & SPTE_ADDR) != sp_hpa(mmu, id))
			audit_report(a, UMBRA_AUDIT_PARENT, id, 0, r, pspte,
			       "parent entry does not point at this page");
	}
}

/* Every rmap reference names a present leaf mapping that frame, and every
 * shadowed frame's count is the number of its non-direct sps. */
static void audit_frames(struct audit *a)
{
	struct umbra_mmu *mmu = a->mmu;
	uint32_t si;

	for (si = 0; si < mmu->n_slots; si++) {
		const struct slot *s = &mmu->slots[si];
		uint64_t i;

		for (i = 0; s->frame && i < s->frames; i++) {
			const struct frame *f = &s->frame[i];
			const uint64_t gfn = s->gfn + i;
			const uint64_t hpa = s->hpa + i * SP_PAGE_SIZE;
			struct reflist_iter it;
			uint32_t id, n = 0;
			umbra_ref r;

			for (r = reflist_iter_first(&it, &mmu->refs, f->rmap); r;
			     r = reflist_iter_next(&it)) {
				uint32_t pid = umbra_ref_page(r);
				uint64_t spte;

				if (pid > mmu->cfg.pool_pages ||
				    !mmu->sp[pid].in_use ||
				    role_level(mmu->sp[pid].role) != 1) {
					audit_report(a, UMBRA_AUDIT_RMAP, pid, 0, r, gfn,
					       "rmap names no live leaf table");
					continue;
				}
				spte = sp_table(mmu, pid)[umbra_ref_index(r)];
				if (!(spte & X86_PTE_P) ||
				    (spte & SPTE_ADDR) != hpa)
					audit_report(a, UMBRA_AUDIT_RMAP, pid,
					       umbra_ref_index(r), spte, hpa,
					       "rmap entry does not map the frame");
			}
			for (id = sp_hash_first(mmu, gfn); id;
			     id = mmu->sp[id].hash_next)
				if (mmu->sp[id].gfn == gfn &&
				    !(mmu->sp[id].role & ROLE_DIRECT))
					n++;
			if (n != f->shadowed)
				audit_report(a, UMBRA_AUDIT_MONITOR, 0, 0, f->shadowed,
				       n, "frame's shadow count is wrong");
		}
	}
}

/* The pool's lists: every live cached sp is on the age list and in its hash
 * bucket once; free + live = the pool. */
static void audit_pool(struct audit *a)
{
	struct umbra_mmu *mmu = a->mmu;
	uint32_t id, n_lru = 0, n_free = 0, n_live = 0;
	const uint32_t pages = mmu->cfg.pool_pages;

	for (id = mmu->lru_head; id && n_lru <= pages; id = mmu->sp[id].lru_next)
		n_lru++;
	for (id = mmu->free_head; id && n_free <= pages;
	     id = mmu->sp[id].hash_next)
		n_free++;
	for (id = 1; id <= pages; id++) {
		uint32_t h;

		if (!mmu->sp[id].in_use)
			continue;
		n_live++;
		if (id == mmu->pae_page)
			continue;
		for (h = sp_hash_first(mmu, mmu->sp[id].gfn); h && h != id;
		     h = mmu->sp[h].hash_next)
			;
		if (h != id)
			audit_report(a, UMBRA_AUDIT_POOL, id, 0, 0, 0,
			       "live shadow page missing from its hash bucket");
	}
	if (n_live != mmu->in_use || n_free + n_live != pages ||
	    n_lru + 1 != n_live)
		audit_report(a, UMBRA_AUDIT_POOL, 0, 0, n_live, n_free,
		       "pool counts: live, free and age list disagree");
	if (!reflist_pool_check(&mmu->refs))
		audit_report(a, UMBRA_AUDIT_POOL, 0, 0, 0, 0,
		       "reference extent pool is inconsistent");
}

uint32_t umbra_audit(struct umbra_mmu *mmu,
		     struct umbra_audit_violation *out, uint32_t max)
{
	struct audit a = { .mmu = mmu, .out = out, .max = max, .count = 0 };
	const uint64_t t0 = mmu_now(mmu);
	uint32_t id;

	audit_pool(&a);
	for (id = 1; id <= mmu->cfg.pool_pages; id++)
		if (mmu->sp[id].in_use)
			audit_sp(&a, id);
	audit_frames(&a);
	handlers_audit(&a);
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_audit_runs);
	umbra_stat_add(&mmu->stats, UMBRA_CTR_audit_violations, a.count);
	umbra_timer_add(&mmu->stats, UMBRA_TMR_audit, mmu_now(mmu) - t0);
	return a.count;
}
