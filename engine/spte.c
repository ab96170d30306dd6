/*
 * Shadow entries and the bookkeeping each one carries.
 *
 * A non-leaf spte points at a child sp and is recorded in the child's
 * parent list; a leaf spte maps a guest frame and is recorded in that
 * frame's reverse map.  Every way of setting or clearing an spte goes
 * through this file, so the lists can never disagree with the tables (the
 * audit checks that they do not).
 *
 * Permissions live only in the leaves: non-leaf sptes allow everything, and
 * a leaf carries the guest's effective rights over every level (the role's
 * inherited access narrowed by the guest leaf).  That is why a guest table
 * reached through entries of different rights needs one sp per right set.
 */
#include "shadow.h"

/* Non-leaf sptes: present, writable, user, accessed; the leaves decide. */
#define SPTE_TABLE_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A)
/* PAE PDPTEs hold only P (and caching bits): the rest is reserved. */
#define SPTE_PDPTE_FLAGS X86_PTE_P
/* Caching bits copied from the guest leaf. */
#define SPTE_CACHE_BITS (X86_PTE_PWT | X86_PTE_PCD)

/* Make room for one more reference by evicting; false if nothing can go.
 * The sps the reference connects (`a`, and `b` unless NO_SP) are pinned
 * meanwhile, so that eviction cannot free them under the caller. */
static bool add_ref(struct umbra_mmu *mmu, uint32_t *head, umbra_ref r,
		    uint32_t a, uint32_t b)
{
	bool ok = true;

	mmu->sp[a].root_count++;
	mmu->sp[b].root_count++; /* sp[NO_SP] is a harmless dummy */
	while (ok && !reflist_add(&mmu->refs, head, r))
		ok = pool_evict_one(mmu);
	mmu->sp[a].root_count--;
	mmu->sp[b].root_count--;
	umbra_gauge_set(&mmu->stats, UMBRA_GAUGE_rmap_extents_in_use,
			mmu->refs.in_use);
	return ok;
}

bool spte_link_child(struct umbra_mmu *mmu, uint32_t id, unsigned index,
		     uint32_t child)
{
	uint64_t *table = sp_table(mmu, id);

	if (table[index] & X86_PTE_P)
		spte_clear(mmu, id, index);
	if (!add_ref(mmu, &mmu->sp[child].parents, make_ref(id, index), id,
		     child))
		return false;
	table[index] = sp_hpa(mmu, child) |
		       (id == mmu->pae_page ? SPTE_PDPTE_FLAGS : SPTE_TABLE_FLAGS);
	mmu->sp[id].present++;
	/* The child's leaves become reachable at new addresses, maybe in
	 * another address space: virtual handlers there must still hold. */
	if (mmu->n_virt_handlers)
		handlers_linked(mmu, id, index, child);
	return true;
}

bool spte_set_leaf(struct umbra_mmu *mmu, uint32_t id, unsigned index,
		   uint64_t spte, uint64_t gfn)
{
	uint64_t *table = sp_table(mmu, id);
	uint64_t old = table[index];
	struct frame *f = frame_of(mmu, gfn);

	if ((old & X86_PTE_P) && (old & SPTE_ADDR) == (spte & SPTE_ADDR)) {
		table[index] = spte; /* same frame: only the rights change */
		return true;
	}
	if (old & X86_PTE_P)
		spte_clear(mmu, id, index);
	if (!f || !add_ref(mmu, &f->rmap, make_ref(id, index), id, NO_SP))
		return false;
	table[index] = spte;
	mmu->sp[id].present++;
	return true;
}

/* The guest frame a leaf spte maps: the inverse of the slot translation. */
uint64_t spte_leaf_gfn(const struct umbra_mmu *mmu, uint64_t spte)
{
	uint64_t hpa = spte & SPTE_ADDR;
	uint32_t i;

	for (i = 0; i < mmu->n_slots; i++) {
		const struct slot *s = &mmu->slots[i];

		/* Only RAM and ROM are ever mapped: an MMIO slot's hpa means
		 * nothing and may even overlap RAM's host range. */
		if (s->frame && hpa >= s->hpa &&
		    hpa - s->hpa < s->frames * SP_PAGE_SIZE)
			return s->gfn + (hpa - s->hpa) / SP_PAGE_SIZE;
	}
	return ~0ull;
}

static bool is_leaf(const struct umbra_mmu *mmu, uint32_t id)
{
	return role_level(mmu->sp[id].role) == 1;
}

bool spte_clear(struct umbra_mmu *mmu, uint32_t id, unsigned index)
{
	uint64_t *table = sp_table(mmu, id);
	uint64_t old = table[index];
	umbra_ref r = make_ref(id, index);

	if (!(old & X86_PTE_P))
		return false;
	table[index] = 0;
	mmu->sp[id].present--;
	if (is_leaf(mmu, id)) {
		struct frame *f = frame_of(mmu, spte_leaf_gfn(mmu, old));

		if (f)
			reflist_remove(&mmu->refs, &f->rmap, r);
	} else {
		uint32_t child = sp_from_hpa(mmu, old & SPTE_ADDR);

		if (child)
			reflist_remove(&mmu->refs, &mmu->sp[child].parents, r);
	}
	return true;
}

bool spte_write_protect_frame_noflush(struct umbra_mmu *mmu, uint64_t gfn)
{
	struct frame *f = frame_of(mmu, gfn);
	struct reflist_iter it;
	umbra_ref r;
	bool changed = false;

	if (!f)
		return false;
	for (r = reflist_iter_first(&it, &mmu->refs, f->rmap); r;
	     r = reflist_iter_next(&it)) {
		uint64_t *spte = &sp_table(mmu, umbra_ref_page(r))[umbra_ref_index(r)];

		if (*spte & X86_PTE_RW) {
			*spte &= ~X86_PTE_RW;
			changed = true;
		}
	}
	return changed;
}

void spte_write_protect_frame(struct umbra_mmu *mmu, uint64_t gfn)
{
	if (spte_write_protect_frame_noflush(mmu, gfn))
		mmu_flush_all(mmu);
}

bool spte_unmap_frame_noflush(struct umbra_mmu *mmu, uint64_t gfn)
{
	struct frame *f = frame_of(mmu, gfn);
	umbra_ref r;
	bool changed = false;

	if (!f)
		return false;
	while ((r = reflist_pop(&mmu->refs, &f->rmap)) != 0) {
		uint32_t id = umbra_ref_page(r);

		sp_table(mmu, id)[umbra_ref_index(r)] = 0;
		mmu->sp[id].present--;
		changed = true;
	}
	return changed;
}

void spte_unmap_frame(struct umbra_mmu *mmu, uint64_t gfn)
{
	if (spte_unmap_frame_noflush(mmu, gfn))
		mmu_flush_all(mmu);
}

/*
 * The dirty log lets a leaf be writable only once its frame is recorded as
 * dirty: a write that is about to complete through the leaf records it; a
 * read or fetch of a clean frame gets a read-only leaf.
 */
static bool dirty_log_allows_write(struct umbra_mmu *mmu, const struct slot *s,
				   uint64_t gfn, bool write)
{
	const uint64_t i = gfn - s->gfn;
	const uint64_t bit = 1ull << (i % 64);
	uint64_t *word;

	if (!s->dirty_bits)
		return true;
	word = &s->dirty_bits[i / 64];
	if (*word & bit)
		return true;
	if (!write)
		return false;
	*word |= bit;
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_dirty_log_faults);
	return true;
}

uint64_t spte_make_leaf(struct umbra_mmu *mmu, uint64_t gfn, uint8_t perm,
			bool dirty, uint64_t guest_leaf, bool write)
{
	const struct slot *s = slot_find(mmu, gfn);
	const struct frame *f;
	uint64_t spte;

	if (!s || s->type == UMBRA_SLOT_MMIO)
		return 0;
	f = &s->frame[gfn - s->gfn];
	if (f->flags & FRAME_HANDLER_ALL)
		return 0; /* every access goes to the handler */
	spte = (s->hpa + (gfn - s->gfn) * SP_PAGE_SIZE) | X86_PTE_P |
	       X86_PTE_A | (guest_leaf & SPTE_CACHE_BITS);
	if (perm & UMBRA_PERM_U)
		spte |= X86_PTE_US;
	if (!(perm & UMBRA_PERM_X))
		spte |= X86_PTE_NX;
	if (mmu->shadow_mode != SHADOW_PAE)
		spte |= guest_leaf & X86_PTE_PK_MASK;
	/* Writable only when the guest's D bit is already set (so the CPU
	 * never needs to set it behind our back), the frame is RAM, holds no
	 * shadowed table, no physical handler monitors its writes, and the
	 * dirty log (if on) has it recorded. */
	if ((perm & UMBRA_PERM_W) && dirty && s->type == UMBRA_SLOT_RAM &&
	    !f->shadowed && !(f->flags & FRAME_HANDLER_WRITE) &&
	    dirty_log_allows_write(mmu, s, gfn, write))
		spte |= X86_PTE_RW | X86_PTE_D;
	return spte;
}
