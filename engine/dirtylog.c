/*
 * The dirty log: per RAM slot, which guest frames were written since the
 * embedder last asked (live migration, display refresh, snapshots).
 *
 * It rides on write protection.  While a slot is logged, a shadow leaf for
 * one of its frames is writable only once the frame's bit is set
 * (spte_make_leaf asks dirty_log_allows_write): the first guest write to a
 * clean frame faults, the fault sets the bit and installs the leaf
 * writable, and later writes run at full speed.  Fetching copies and clears
 * the bitmap and write-protects exactly the frames that were dirty, through
 * the reverse map: the cost is the dirty frames' mappings, never a scan of
 * the pool.
 *
 * Writes the engine performs for the guest are recorded too: emulated
 * writes to monitored page tables (umbra_emulated_write, which embedders
 * also use to complete handler and plain-emulated writes) and the CPU's
 * accessed/dirty bit updates in guest page tables (the walker's cmpxchg).
 * Over-reporting is allowed (a bit may be set for a write that then did
 * not happen, e.g. when installing its leaf failed); missing a write never.
 */
#include "shadow.h"

#define BITS_PER_WORD 64u

static size_t bitmap_words(const struct slot *s)
{
	return (size_t)((s->frames + BITS_PER_WORD - 1) / BITS_PER_WORD);
}

/* The slot that begins at gpa. */
static struct slot *slot_at(struct umbra_mmu *mmu, uint64_t gpa)
{
	uint32_t i;

	if (gpa % SP_PAGE_SIZE)
		return NULL;
	for (i = 0; i < mmu->n_slots; i++)
		if (mmu->slots[i].gfn == gpa / SP_PAGE_SIZE)
			return &mmu->slots[i];
	return NULL;
}

/* The logged slot that begins at gpa. */
static enum umbra_status logged_slot(struct umbra_mmu *mmu, uint64_t gpa,
				     struct slot **out)
{
	*out = slot_at(mmu, gpa);
	if (!*out) {
		mmu->error = "dirty log: no slot starts at that address";
		return UMBRA_ERR_NOT_FOUND;
	}
	if (!(*out)->dirty_bits) {
		mmu->error = "dirty log: the slot is not being logged";
		return UMBRA_ERR_INVALID;
	}
	return UMBRA_OK;
}

void dirty_log_mark(struct umbra_mmu *mmu, uint64_t gfn)
{
	const struct slot *s = slot_find(mmu, gfn);
	uint64_t i;

	if (!s || !s->dirty_bits)
		return;
	i = gfn - s->gfn;
	s->dirty_bits[i / BITS_PER_WORD] |= 1ull << (i % BITS_PER_WORD);
}

void dirty_log_free(struct umbra_mmu *mmu, struct slot *s)
{
	if (!s->dirty_bits)
		return;
	mmu->env.free_meta(mmu->env.ctx, s->dirty_bits,
			   sizeof(uint64_t) * bitmap_words(s));
	s->dirty_bits = NULL;
}

enum umbra_status umbra_dirty_log_start(struct umbra_mmu *mmu,
					uint64_t slot_gpa)
{
	struct slot *s = slot_at(mmu, slot_gpa);
	const size_t words = s ? bitmap_words(s) : 0;
	uint64_t *bits, i;
	bool flush = false;

	if (!s) {
		mmu->error = "dirty log: no slot starts at that address";
		return UMBRA_ERR_NOT_FOUND;
	}
	if (s->type != UMBRA_SLOT_RAM) {
		mmu->error = "dirty log: only RAM slots can be logged";
		return UMBRA_ERR_INVALID;
	}
	if (s->dirty_bits) {
		mmu->error = "dirty log: the slot is already being logged";
		return UMBRA_ERR_INVALID;
	}
	bits = mmu->env.alloc_meta(mmu->env.ctx, sizeof(uint64_t) * words);
	if (!bits) {
		mmu->error = "dirty log: cannot allocate the bitmap";
		return UMBRA_ERR_NOMEM;
	}
	for (i = 0; i < words; i++)
		bits[i] = 0;
	s->dirty_bits = bits;
	/* Every frame is clean: no leaf may write it without a fault. */
	for (i = 0; i < s->frames; i++)
		if (s->frame[i].rmap &&
		    spte_write_protect_frame_noflush(mmu, s->gfn + i))
			flush = true;
	if (flush)
		mmu_flush_all(mmu);
	return UMBRA_OK;
}

enum umbra_status umbra_dirty_log_stop(struct umbra_mmu *mmu,
				       uint64_t slot_gpa)
{
	struct slot *s;
	enum umbra_status st = logged_slot(mmu, slot_gpa, &s);

	if (st != UMBRA_OK)
		return st;
	/* Read-only leaves left behind become writable on their next write
	 * fault, as for any clean leaf. */
	dirty_log_free(mmu, s);
	return UMBRA_OK;
}

enum umbra_status umbra_dirty_log_fetch(struct umbra_mmu *mmu,
					uint64_t slot_gpa, uint64_t *out_bits,
					size_t words)
{
	struct slot *s;
	enum umbra_status st = logged_slot(mmu, slot_gpa, &s);
	size_t need, w;
	bool flush = false;

	if (st != UMBRA_OK)
		return st;
	need = bitmap_words(s);
	if (!out_bits || words < need) {
		mmu->error = "dirty log: the output bitmap is too small for the slot";
		return UMBRA_ERR_INVALID;
	}
	for (w = 0; w < need; w++) {
		uint64_t v = s->dirty_bits[w], gfn = s->gfn + w * BITS_PER_WORD;

		out_bits[w] = v;
		s->dirty_bits[w] = 0;
		/* Clean again: the next write must fault to be seen. */
		for (; v; v >>= 1, gfn++)
			if ((v & 1) && spte_write_protect_frame_noflush(mmu, gfn))
				flush = true;
	}
	for (; w < words; w++)
		out_bits[w] = 0;
	if (flush)
		mmu_flush_all(mmu);
	return UMBRA_OK;
}
