/*
 * Guest memory: slots map ranges of guest-physical frames to host memory
 * with a type.  Only RAM and ROM slots are ever mapped into the shadow, and
 * each of their frames carries the engine's per-frame state (reverse map,
 * monitoring count, physical handler flags).
 */
#include "shadow.h"

const struct slot *slot_find(const struct umbra_mmu *mmu, uint64_t gfn)
{
	uint32_t i;

	for (i = 0; i < mmu->n_slots; i++) {
		const struct slot *s = &mmu->slots[i];

		if (gfn >= s->gfn && gfn - s->gfn < s->frames)
			return s;
	}
	return NULL;
}

struct frame *frame_of(struct umbra_mmu *mmu, uint64_t gfn)
{
	const struct slot *s = slot_find(mmu, gfn);

	if (!s || !s->frame)
		return NULL;
	return &s->frame[gfn - s->gfn];
}

void *gpa_ptr(struct umbra_mmu *mmu, uint64_t gpa, unsigned size)
{
	uint64_t gfn = gpa / SP_PAGE_SIZE;
	const struct slot *s = slot_find(mmu, gfn);
	uint8_t *base;

	if (!s || s->type == UMBRA_SLOT_MMIO ||
	    (gpa % SP_PAGE_SIZE) + size > SP_PAGE_SIZE)
		return NULL;
	base = mmu->env.hpa_to_ptr(mmu->env.ctx,
				   s->hpa + (gfn - s->gfn) * SP_PAGE_SIZE);
	return base ? base + gpa % SP_PAGE_SIZE : NULL;
}

/*
 * The walker's view of guest memory.  A paging entry outside RAM and ROM
 * reads as not present: QEMU reads unassigned memory as zero, so a guest
 * whose tables point there sees #PF with P=0 natively too.
 */
static bool gmem_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	const uint8_t *p = gpa_ptr(ctx, gpa, size);
	uint32_t v32;
	unsigned i;

	*val = 0;
	if (!p)
		return true;
	/* Paging entries are 4 or 8 bytes: constant-size copies compile to
	 * single loads (x86 is little endian and tolerates misalignment). */
	if (size == sizeof(v32)) {
		__builtin_memcpy(&v32, p, sizeof(v32));
		*val = v32;
	} else if (size == sizeof(*val)) {
		__builtin_memcpy(val, p, sizeof(*val));
	} else {
		for (i = 0; i < size; i++)
			*val |= (uint64_t)p[i] << (8 * i);
	}
	return true;
}

static bool gmem_cmpxchg(void *ctx, uint64_t gpa, unsigned size, uint64_t old,
			 uint64_t new_val)
{
	struct umbra_mmu *mmu = ctx;
	uint64_t cur;
	uint8_t *p = gpa_ptr(mmu, gpa, size);
	const struct slot *s = slot_find(mmu, gpa / SP_PAGE_SIZE);
	unsigned i;

	/* The CPU's A/D updates to ROM or unbacked tables go nowhere. */
	if (!p || s->type != UMBRA_SLOT_RAM)
		return true;
	gmem_read(ctx, gpa, size, &cur);
	if (cur != old)
		return false;
	for (i = 0; i < size; i++)
		p[i] = (uint8_t)(new_val >> (8 * i));
	if (new_val != old)
		dirty_log_mark(mmu, gpa / SP_PAGE_SIZE); /* the CPU's A/D write */
	return true;
}

struct umbra_gmem slots_gmem(struct umbra_mmu *mmu)
{
	struct umbra_gmem g = {
		.read = gmem_read, .cmpxchg = gmem_cmpxchg, .ctx = mmu,
	};
	return g;
}

static bool overlaps(const struct slot *s, uint64_t gfn, uint64_t frames)
{
	return gfn < s->gfn + s->frames && s->gfn < gfn + frames;
}

enum umbra_status umbra_slot_add(struct umbra_mmu *mmu, uint64_t gpa,
				 uint64_t size, uint64_t hpa,
				 enum umbra_slot_type type)
{
	struct slot *s;
	uint64_t frames = size / SP_PAGE_SIZE, i;
	uint32_t j;

	if ((gpa | size | hpa) % SP_PAGE_SIZE || size == 0 ||
	    type > UMBRA_SLOT_MMIO) {
		mmu->error = "slot: unaligned, empty or of unknown type";
		return UMBRA_ERR_INVALID;
	}
	if (mmu->n_slots == UMBRA_MAX_SLOTS) {
		mmu->error = "slot: too many slots";
		return UMBRA_ERR_FULL;
	}
	for (j = 0; j < mmu->n_slots; j++) {
		if (overlaps(&mmu->slots[j], gpa / SP_PAGE_SIZE, frames)) {
			mmu->error = "slot: overlaps an existing slot";
			return UMBRA_ERR_INVALID;
		}
	}
	s = &mmu->slots[mmu->n_slots];
	s->gfn = gpa / SP_PAGE_SIZE;
	s->frames = frames;
	s->hpa = hpa;
	s->type = (uint8_t)type;
	s->frame = NULL;
	s->dirty_bits = NULL;
	if (type != UMBRA_SLOT_MMIO) {
		s->frame = mmu->env.alloc_meta(mmu->env.ctx,
					       sizeof(struct frame) * frames);
		if (!s->frame) {
			mmu->error = "slot: cannot allocate per-frame state";
			return UMBRA_ERR_NOMEM;
		}
		for (i = 0; i < frames; i++) {
			struct frame empty = { .rmap = 0 };

			s->frame[i] = empty;
		}
		handlers_slot_added(mmu, s);
	}
	/* Frames that read as zero (unbacked) may now hold tables: shadow
	 * pages built from the zeros are stale.  Slot changes are rare, so
	 * start the shadow afresh. */
	paging_drop_roots(mmu);
	pool_zap_all(mmu);
	mmu->n_slots++;
	return paging_load_roots(mmu);
}

enum umbra_status umbra_slot_remove(struct umbra_mmu *mmu, uint64_t gpa)
{
	uint64_t gfn = gpa / SP_PAGE_SIZE;
	uint32_t j;

	for (j = 0; j < mmu->n_slots; j++)
		if (mmu->slots[j].gfn == gfn)
			break;
	if (j == mmu->n_slots) {
		mmu->error = "slot: no slot starts at that address";
		return UMBRA_ERR_NOT_FOUND;
	}
	/* Forget every mapping of the slot and every shadow of a table in
	 * it while its per-frame state still exists. */
	paging_drop_roots(mmu);
	pool_zap_all(mmu);
	if (mmu->slots[j].frame)
		mmu->env.free_meta(mmu->env.ctx, mmu->slots[j].frame,
				   sizeof(struct frame) * mmu->slots[j].frames);
	dirty_log_free(mmu, &mmu->slots[j]);
	mmu->slots[j] = mmu->slots[--mmu->n_slots];
	return paging_load_roots(mmu);
}
