/*
 * The shadow page pool.
 *
 * A bounded set of pages, each with a small integer id (its position in the
 * pool, so an spte's address names its sp with one subtraction).  Live sps
 * sit in a hash by guest frame, which is the cache: a shadow page survives
 * CR3 switches and is found again by (gfn, role).  All live sps are also on
 * an age list; when the pool is full the least recently used sp that no
 * root holds is evicted.  Orphans (sps no root reaches any more) stay
 * cached until evicted: they are still exact, because their guest frames
 * stay write-protected.
 */
#include "shadow.h"

/* Hash buckets per pool page: a load factor of one keeps chains short
 * (several roles of one frame share a chain by design). */
#define HASH_BUCKETS_PER_PAGE 1u

static uint32_t hash_bucket(const struct umbra_mmu *mmu, uint64_t gfn)
{
	/* Multiplicative hashing: page-table frames are often allocated
	 * consecutively, and the golden-ratio multiplier spreads them. */
	const uint64_t golden = 0x9E3779B97F4A7C15ull;

	return (uint32_t)((gfn * golden) >> 32) & mmu->hash_mask;
}

uint32_t sp_hash_first(const struct umbra_mmu *mmu, uint64_t gfn)
{
	return mmu->hash[hash_bucket(mmu, gfn)];
}

uint32_t sp_from_hpa(const struct umbra_mmu *mmu, uint64_t hpa)
{
	uint64_t offset = hpa - mmu->cfg.pool_hpa;

	if (hpa < mmu->cfg.pool_hpa ||
	    offset >= (uint64_t)mmu->cfg.pool_pages * SP_PAGE_SIZE)
		return NO_SP;
	return (uint32_t)(offset / SP_PAGE_SIZE) + 1;
}

/* ---- the age list ------------------------------------------------------- */

static void lru_unlink(struct umbra_mmu *mmu, uint32_t id)
{
	struct sp *s = &mmu->sp[id];

	if (s->lru_prev)
		mmu->sp[s->lru_prev].lru_next = s->lru_next;
	else
		mmu->lru_head = s->lru_next;
	if (s->lru_next)
		mmu->sp[s->lru_next].lru_prev = s->lru_prev;
	else
		mmu->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NO_SP;
}

static void lru_push_front(struct umbra_mmu *mmu, uint32_t id)
{
	struct sp *s = &mmu->sp[id];

	s->lru_prev = NO_SP;
	s->lru_next = mmu->lru_head;
	if (mmu->lru_head)
		mmu->sp[mmu->lru_head].lru_prev = id;
	else
		mmu->lru_tail = id;
	mmu->lru_head = id;
}

void sp_touch(struct umbra_mmu *mmu, uint32_t id)
{
	mmu->sp[id].writes = 0; /* used for a translation: not flooded */
	mmu->sp[id].fork_run = 0;
	if (mmu->lru_head != id) {
		lru_unlink(mmu, id);
		lru_push_front(mmu, id);
	}
}

/* ---- the hash ------------------------------------------------------------- */

static void hash_insert(struct umbra_mmu *mmu, uint32_t id)
{
	uint32_t *bucket = &mmu->hash[hash_bucket(mmu, mmu->sp[id].gfn)];

	mmu->sp[id].hash_next = *bucket;
	*bucket = id;
}

static void hash_remove(struct umbra_mmu *mmu, uint32_t id)
{
	uint32_t *link = &mmu->hash[hash_bucket(mmu, mmu->sp[id].gfn)];

	while (*link != id)
		link = &mmu->sp[*link].hash_next;
	*link = mmu->sp[id].hash_next;
	mmu->sp[id].hash_next = NO_SP;
}

/* ---- life cycle ---------------------------------------------------------- */

enum umbra_status pool_init(struct umbra_mmu *mmu)
{
	uint32_t pages = mmu->cfg.pool_pages;
	uint32_t buckets = 1, id;
	size_t sp_bytes = sizeof(struct sp) * ((size_t)pages + 1);

	mmu->pool_ptr = mmu->env.hpa_to_ptr(mmu->env.ctx, mmu->cfg.pool_hpa);
	if (!mmu->pool_ptr) {
		mmu->error = "the shadow pool is not in the host direct map";
		return UMBRA_ERR_INVALID;
	}
	while (buckets < pages * HASH_BUCKETS_PER_PAGE)
		buckets <<= 1;
	mmu->sp = mmu->env.alloc_meta(mmu->env.ctx, sp_bytes);
	mmu->hash = mmu->env.alloc_meta(mmu->env.ctx,
					sizeof(uint32_t) * buckets);
	mmu->ref_storage = mmu->env.alloc_meta(
		mmu->env.ctx,
		sizeof(struct reflist_extent) * mmu->cfg.ref_extents);
	if (!mmu->sp || !mmu->hash || !mmu->ref_storage) {
		mmu->error = "cannot allocate the pool's bookkeeping";
		return UMBRA_ERR_NOMEM;
	}
	mmu->hash_mask = buckets - 1;
	for (id = 0; id < buckets; id++)
		mmu->hash[id] = NO_SP;
	for (id = 0; id <= pages; id++) {
		struct sp empty = { .in_use = false };

		mmu->sp[id] = empty;
	}
	/* Free list in id order, so the first pages used are the lowest. */
	mmu->free_head = NO_SP;
	for (id = pages; id >= 1; id--) {
		mmu->sp[id].hash_next = mmu->free_head;
		mmu->free_head = id;
	}
	mmu->lru_head = mmu->lru_tail = NO_SP;
	mmu->in_use = 0;
	reflist_pool_init(&mmu->refs, mmu->ref_storage, mmu->cfg.ref_extents);
	return UMBRA_OK;
}

void pool_fini(struct umbra_mmu *mmu)
{
	if (mmu->sp)
		mmu->env.free_meta(mmu->env.ctx, mmu->sp,
				   sizeof(struct sp) *
					   ((size_t)mmu->cfg.pool_pages + 1));
	if (mmu->hash)
		mmu->env.free_meta(mmu->env.ctx, mmu->hash,
				   sizeof(uint32_t) * (mmu->hash_mask + 1));
	if (mmu->ref_storage)
		mmu->env.free_meta(mmu->env.ctx, mmu->ref_storage,
				   sizeof(struct reflist_extent) *
					   mmu->cfg.ref_extents);
}

static void clear_table(uint64_t *table)
{
	unsigned i;

	for (i = 0; i < SP_ENTRIES; i++)
		table[i] = 0;
}

static void update_gauges(struct umbra_mmu *mmu)
{
	umbra_gauge_set(&mmu->stats, UMBRA_GAUGE_pool_pages_in_use,
			mmu->in_use);
	umbra_gauge_set(&mmu->stats, UMBRA_GAUGE_rmap_extents_in_use,
			mmu->refs.in_use);
}

/* Take a page off the free list, evicting if there is none. */
static uint32_t sp_alloc(struct umbra_mmu *mmu)
{
	uint32_t id;

	if (!mmu->free_head && !pool_evict_one(mmu))
		return NO_SP;
	id = mmu->free_head;
	mmu->free_head = mmu->sp[id].hash_next;
	mmu->sp[id].hash_next = NO_SP;
	mmu->sp[id].in_use = true;
	mmu->in_use++;
	clear_table(sp_table(mmu, id));
	return id;
}

static void sp_free(struct umbra_mmu *mmu, uint32_t id)
{
	struct sp empty = { .hash_next = mmu->free_head };

	mmu->sp[id] = empty;
	mmu->free_head = id;
	mmu->in_use--;
}

/* Start monitoring a guest frame: it now holds a shadowed table, so no
 * shadow entry may let the guest write it without the engine seeing. */
static void monitor_frame(struct umbra_mmu *mmu, uint64_t gfn)
{
	struct frame *f = frame_of(mmu, gfn);

	if (!f)
		return; /* not RAM or ROM: nothing maps it writable anyway */
	if (f->shadowed++ == 0)
		spte_write_protect_frame(mmu, gfn);
}

static void unmonitor_frame(struct umbra_mmu *mmu, uint64_t gfn)
{
	struct frame *f = frame_of(mmu, gfn);

	if (f && f->shadowed && --f->shadowed == 0)
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_unshadowed);
}

uint32_t pool_take_page(struct umbra_mmu *mmu)
{
	uint32_t id = sp_alloc(mmu);

	if (id)
		mmu->sp[id].root_count = 1; /* never on the age list anyway */
	return id;
}

uint32_t sp_get(struct umbra_mmu *mmu, uint64_t gfn, uint32_t role)
{
	uint32_t id;

	for (id = sp_hash_first(mmu, gfn); id; id = mmu->sp[id].hash_next) {
		if (mmu->sp[id].gfn == gfn && mmu->sp[id].role == role) {
			umbra_stat_inc(&mmu->stats, UMBRA_CTR_cache_hit);
			return id;
		}
	}
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_cache_miss);
	id = sp_alloc(mmu);
	if (!id)
		return NO_SP;
	mmu->sp[id].gfn = gfn;
	mmu->sp[id].role = role;
	hash_insert(mmu, id);
	lru_push_front(mmu, id);
	if (!(role & ROLE_DIRECT))
		monitor_frame(mmu, gfn);
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_shadow_pages_created);
	update_gauges(mmu);
	return id;
}

void sp_zap(struct umbra_mmu *mmu, uint32_t id)
{
	struct sp *s = &mmu->sp[id];
	uint64_t *table = sp_table(mmu, id);
	umbra_ref parent;
	unsigned i;

	/* Nothing may point at a freed page: clear every parent spte. */
	while ((parent = reflist_pop(&mmu->refs, &s->parents)) != 0) {
		uint32_t pid = umbra_ref_page(parent);

		sp_table(mmu, pid)[umbra_ref_index(parent)] = 0;
		mmu->sp[pid].present--;
	}
	for (i = 0; i < SP_ENTRIES && s->present; i++)
		if (table[i] & X86_PTE_P)
			spte_clear(mmu, id, i);
	if (!(s->role & ROLE_DIRECT))
		unmonitor_frame(mmu, s->gfn);
	hash_remove(mmu, id);
	lru_unlink(mmu, id);
	sp_free(mmu, id);
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_zaps);
	update_gauges(mmu);
	mmu_flush_all(mmu);
}

bool pool_evict_one(struct umbra_mmu *mmu)
{
	uint32_t id;

	for (id = mmu->lru_tail; id; id = mmu->sp[id].lru_prev) {
		if (mmu->sp[id].root_count == 0) {
			umbra_stat_inc(&mmu->stats, UMBRA_CTR_evictions);
			sp_zap(mmu, id);
			return true;
		}
	}
	return false;
}

void pool_zap_all(struct umbra_mmu *mmu)
{
	uint32_t id;

	for (id = 1; id <= mmu->cfg.pool_pages; id++)
		if (mmu->sp[id].in_use && id != mmu->pae_page)
			sp_zap(mmu, id);
}
