/*
 * Writes to guest frames that hold shadowed page tables.
 *
 * Every such frame is mapped read-only in the shadow, so each guest write to
 * it exits and comes here as an emulated write.  The engine stores the bytes
 * in guest memory and then brings every shadow page of that frame up to
 * date, entry by entry: a leaf whose new guest entry is present and accessed
 * gets the new translation at once (so the guest's next access does not
 * fault again); anything else is cleared and rebuilt on demand.
 *
 * Some frames stop being page tables, or are rewritten wholesale (fork,
 * exec, exit): shadowing them then costs an exit per write for nothing.
 * Three heuristics notice and unshadow them (zap their shadow pages, so the
 * frame is writable again): flooding, fork, and reuse.
 */
#include "shadow.h"

/*
 * Flooding: this many emulated writes to a shadow page with no fault using
 * it for a translation in between mean the guest is rewriting the table, not
 * using it (KVM settled on the same small number).  Re-shadowing later costs
 * one fault per table; leaving it costs one exit per write.
 */
#define FLOOD_WRITES 3
/*
 * Fork: a parent about to share its pages copy-on-write clears R/W in many
 * present entries in a row.  After this many such writes to one table the
 * rest of its 512 entries will follow: unshadow it and let the guest finish
 * without exits.
 */
#define FORK_RUN 8

static unsigned entry_size(uint32_t role)
{
	return (role & ROLE_GPTE4) ? 4 : 8;
}

/* The shadow entries of sp that guest entry `gi` of its frame maps:
 * [*first, *first + count).  0 when this sp does not cover it. */
static unsigned shadow_span(uint32_t role, unsigned gi, unsigned *first)
{
	const unsigned quadrant = role_quadrant(role);
	const unsigned level = role_level(role);

	if (!(role & ROLE_GPTE4)) {
		*first = gi;
		return 1;
	}
	if (level == 1) {
		/* A 1024-entry guest table, halves of 512. */
		if (gi / SP_ENTRIES != quadrant)
			return 0;
		*first = gi % SP_ENTRIES;
		return 1;
	}
	/* A 1024-entry guest directory of 4 MiB entries, quarters of 256;
	 * each guest entry is two 2 MiB shadow entries. */
	if (gi / (SP_ENTRIES / 2) != quadrant)
		return 0;
	*first = (gi % (SP_ENTRIES / 2)) * 2;
	return 2;
}

static uint64_t read_gpte(struct umbra_mmu *mmu, uint64_t gfn, unsigned gi,
			  unsigned size)
{
	uint64_t val;

	mmu->gmem.read(mmu, gfn * SP_PAGE_SIZE + (uint64_t)gi * size, size,
		       &val);
	return val;
}

/* The leaf spte for a new guest entry written into a shadowed page table,
 * or 0 to leave the entry for the fault path.  Only the current mode's
 * shadow pages are prefetched: others are cleared, which is always exact. */
static uint64_t prefetch_leaf(struct umbra_mmu *mmu, uint32_t role,
			      uint64_t gpte, uint64_t *gfn)
{
	const struct umbra_walker *w = &mmu->walker;
	const bool gpte4 = (role & ROLE_GPTE4) != 0;
	uint8_t perm;

	if ((role & ROLE_MODE_BITS) != mmu->role_mode)
		return 0;
	if ((gpte & (X86_PTE_P | X86_PTE_A)) != (X86_PTE_P | X86_PTE_A) ||
	    (gpte & w->rsvd[1][0]))
		return 0;
	perm = role_access(role) & gpte_perm(role, gpte);
	*gfn = (gpte & (gpte4 ? X86_PTE32_ADDR_4K : X86_PTE_ADDR_4K)) /
	       SP_PAGE_SIZE;
	return spte_make_leaf(mmu, *gfn, perm, (gpte & X86_PTE_D) != 0, gpte,
			      false);
}

/* Bring the shadow entries for guest entry gi of sp up to date. */
static void update_entry(struct umbra_mmu *mmu, uint32_t id, unsigned gi,
			 bool *flush)
{
	const uint32_t role = mmu->sp[id].role;
	const unsigned size = entry_size(role);
	uint64_t gpte = read_gpte(mmu, mmu->sp[id].gfn, gi, size);
	unsigned first, n, k;

	n = shadow_span(role, gi, &first);
	if (!n) {
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_pt_write_ignored);
		return;
	}
	for (k = first; k < first + n; k++) {
		const uint64_t old = sp_table(mmu, id)[k];
		uint64_t gfn = 0, spte = 0;

		if (role_level(role) == 1)
			spte = handlers_narrow_leaf(mmu, id, k,
						    prefetch_leaf(mmu, role,
								  gpte, &gfn));
		if (spte && spte_set_leaf(mmu, id, k, spte, gfn)) {
			umbra_stat_inc(&mmu->stats, UMBRA_CTR_pt_write_updated);
			/* The TLB never caches a not-present entry, and an
			 * unchanged one is still right. */
			if ((old & X86_PTE_P) && old != spte)
				*flush = true;
			continue;
		}
		if (spte_clear(mmu, id, k)) {
			umbra_stat_inc(&mmu->stats, UMBRA_CTR_pt_write_zapped);
			*flush = true;
		} else {
			umbra_stat_inc(&mmu->stats, UMBRA_CTR_pt_write_ignored);
		}
	}
}

/* Does this write only clear R/W in a present entry (a fork's pattern)? */
static bool write_protects(uint64_t old_gpte, uint64_t new_gpte)
{
	return (old_gpte & X86_PTE_P) && (old_gpte & X86_PTE_RW) &&
	       new_gpte == (old_gpte & ~X86_PTE_RW);
}

/* Decide whether sp should stop being shadowed because of this write; the
 * counters say which heuristic fired. */
static bool should_unshadow(struct umbra_mmu *mmu, uint32_t id,
			    unsigned flags, bool fork_pattern)
{
	struct sp *s = &mmu->sp[id];

	if (s->root_count)
		return false; /* a root in use stays, whatever the guest does */
	if (flags & UMBRA_WRITE_REP) {
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_reuse_detected);
		return true;
	}
	s->fork_run = fork_pattern ? s->fork_run + 1 : 0;
	if (s->fork_run >= FORK_RUN) {
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_fork_detected);
		return true;
	}
	if (++s->writes >= FLOOD_WRITES && !fork_pattern) {
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_flood_detected);
		return true;
	}
	return false;
}

/* The entry value before the write, when the write replaces exactly one
 * whole entry (the only writes judged for the fork pattern). */
static bool single_entry_write(unsigned off, unsigned len, unsigned size,
			       const uint8_t *old, uint64_t *old_gpte)
{
	unsigned b;

	if (off % size || len != size)
		return false;
	*old_gpte = 0;
	for (b = 0; b < size; b++)
		*old_gpte |= (uint64_t)old[b] << (8 * b);
	return true;
}

/* Apply a write of len bytes at offset off within guest frame gfn to every
 * shadow page of the frame; old[] holds the bytes before the write. */
static void update_frame(struct umbra_mmu *mmu, uint64_t gfn, unsigned off,
			 unsigned len, const uint8_t *old, unsigned flags,
			 bool *flush)
{
	uint32_t id, next;

	for (id = sp_hash_first(mmu, gfn); id; id = next) {
		const uint32_t role = mmu->sp[id].role;
		const unsigned size = entry_size(role);
		const unsigned first = off / size, last = (off + len - 1) / size;
		uint64_t old_gpte = 0;
		bool fork_pattern;
		unsigned gi;

		next = mmu->sp[id].hash_next;
		if (mmu->sp[id].gfn != gfn || (role & ROLE_DIRECT))
			continue;
		if (off % size || len % size)
			umbra_stat_inc(&mmu->stats, UMBRA_CTR_pt_write_partial);
		fork_pattern = single_entry_write(off, len, size, old,
						  &old_gpte) &&
			       write_protects(old_gpte,
					      read_gpte(mmu, gfn, first, size));
		if (should_unshadow(mmu, id, flags, fork_pattern)) {
			sp_zap(mmu, id); /* frees only id: next stays valid */
			*flush = true;
			continue;
		}
		/* Updating may evict to find extents: keep id, and read its
		 * successor only afterwards. */
		mmu->sp[id].root_count++;
		for (gi = first; gi <= last; gi++)
			update_entry(mmu, id, gi, flush);
		mmu->sp[id].root_count--;
		next = mmu->sp[id].hash_next;
	}
}

enum umbra_status umbra_emulated_write(struct umbra_mmu *mmu, uint64_t gpa,
				       const void *bytes, unsigned len,
				       unsigned flags)
{
	const unsigned max_len = 16; /* CMPXCHG16B is the widest write */
	const uint8_t *src = bytes;
	uint64_t t0 = mmu_now(mmu);
	bool flush = false;

	if (len == 0 || len > max_len) {
		mmu->error = "emulated write: length must be 1..16 bytes";
		return UMBRA_ERR_INVALID;
	}
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_pt_write_emulated);
	while (len) {
		const unsigned off = (unsigned)(gpa % SP_PAGE_SIZE);
		const unsigned chunk = len < SP_PAGE_SIZE - off
					       ? len
					       : (unsigned)(SP_PAGE_SIZE - off);
		const struct slot *s = slot_find(mmu, gpa / SP_PAGE_SIZE);
		uint8_t *dst = gpa_ptr(mmu, gpa, chunk);
		uint8_t old[16];
		unsigned i;

		if (!dst || s->type != UMBRA_SLOT_RAM) {
			mmu->error = "emulated write: not guest RAM";
			return UMBRA_ERR_NOT_RAM;
		}
		for (i = 0; i < chunk; i++) {
			old[i] = dst[i];
			dst[i] = src[i];
		}
		dirty_log_mark(mmu, gpa / SP_PAGE_SIZE);
		update_frame(mmu, gpa / SP_PAGE_SIZE, off, chunk, old, flags,
			     &flush);
		gpa += chunk;
		src += chunk;
		len -= chunk;
	}
	if (flush)
		mmu_flush_all(mmu);
	umbra_timer_add(&mmu->stats, UMBRA_TMR_pt_write, mmu_now(mmu) - t0);
	return UMBRA_OK;
}

bool umbra_frame_monitored(struct umbra_mmu *mmu, uint64_t gpa)
{
	return frame_is_shadowed(mmu, gpa / SP_PAGE_SIZE);
}
