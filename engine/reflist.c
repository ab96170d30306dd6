/*
 * Compact reference lists.  The encoding, the chain shape every operation
 * keeps, and the iteration contract are explained in reflist.h; this file
 * only adds how each operation keeps them.
 */
#include "reflist.h"

static bool head_is_chain(uint32_t head)
{
	return (head & REFLIST_HEAD_CHAIN) != 0;
}

static uint32_t head_extent(uint32_t head)
{
	return head & ~REFLIST_HEAD_CHAIN;
}

/* Refs packed into the low slots of an extent: the first empty slot. */
static uint32_t used_slots(const struct reflist_extent *x)
{
	uint32_t n = 0;
	while (n < REFLIST_EXTENT_REFS && x->ref[n] != 0)
		n++;
	return n;
}

/* ---- the pool --------------------------------------------------------- */

void reflist_pool_init(struct reflist_pool *pool,
		       struct reflist_extent *storage, uint32_t count)
{
	if (count > REFLIST_MAX_EXTENTS)
		count = REFLIST_MAX_EXTENTS;
	pool->ext = storage;
	pool->count = count;
	pool->in_use = 0;
	pool->high_water = 0;
	pool->free_head = count != 0 ? 0 : REFLIST_END;
	for (uint32_t i = 0; i < count; i++) {
		storage[i].next = REFLIST_FREE | (i + 1 < count ? i + 1 : REFLIST_END);
		for (uint32_t k = 0; k < REFLIST_EXTENT_REFS; k++)
			storage[i].ref[k] = 0;
	}
}

/* An empty extent ending a chain, or REFLIST_END if the pool is exhausted.
 * Free extents are kept zeroed, so it is empty already. */
static uint32_t extent_alloc(struct reflist_pool *pool)
{
	uint32_t e = pool->free_head;
	if (e == REFLIST_END)
		return REFLIST_END;
	struct reflist_extent *x = &pool->ext[e];
	pool->free_head = x->next & ~REFLIST_FREE;
	x->next = REFLIST_END;
	if (++pool->in_use > pool->high_water)
		pool->high_water = pool->in_use;
	return e;
}

/* Zeroing the refs keeps alloc simple and makes any read of a freed extent
 * (a bug: the iterator is designed never to do it) see an empty one. */
static void extent_free(struct reflist_pool *pool, uint32_t e)
{
	for (uint32_t i = 0; i < REFLIST_EXTENT_REFS; i++)
		pool->ext[e].ref[i] = 0;
	pool->ext[e].next = REFLIST_FREE | pool->free_head;
	pool->free_head = e;
	pool->in_use--;
}

/*
 * Drop the last ref of the chain's first extent `f` (holding n refs), the
 * one every hole is filled from.  An emptied first extent is freed and its
 * successor (full, by the chain shape) becomes the first; a chain left with
 * a single ref goes back inline.  Reads f's link before freeing f.
 */
static void drop_last(struct reflist_pool *pool, uint32_t *head, uint32_t f,
		      uint32_t n)
{
	struct reflist_extent *x = &pool->ext[f];
	x->ref[n - 1] = 0;
	if (n == 1) {
		/* A chain holds 2+ refs, so a 1-ref first extent has a successor. */
		*head = REFLIST_HEAD_CHAIN | x->next;
		extent_free(pool, f);
	} else if (n == 2 && x->next == REFLIST_END) {
		*head = x->ref[0];
		extent_free(pool, f);
	}
}

/* ---- list operations -------------------------------------------------- */

bool reflist_add(struct reflist_pool *pool, uint32_t *head, umbra_ref r)
{
	uint32_t h = *head;
	if (!umbra_ref_valid(r))
		return false;
	if (h == 0) {
		*head = r; /* the small case: inline, no extent */
		return true;
	}
	if (!head_is_chain(h)) {
		/* Inline -> chain: both refs move into one new extent. */
		uint32_t e = extent_alloc(pool);
		if (e == REFLIST_END)
			return false;
		pool->ext[e].ref[0] = h;
		pool->ext[e].ref[1] = r;
		*head = REFLIST_HEAD_CHAIN | e;
		return true;
	}
	uint32_t f = head_extent(h);
	uint32_t n = used_slots(&pool->ext[f]);
	if (n < REFLIST_EXTENT_REFS) {
		pool->ext[f].ref[n] = r;
		return true;
	}
	/* The first extent is full: a new one goes in front and becomes the
	 * only partial extent of the chain. */
	uint32_t e = extent_alloc(pool);
	if (e == REFLIST_END)
		return false;
	pool->ext[e].ref[0] = r;
	pool->ext[e].next = f;
	*head = REFLIST_HEAD_CHAIN | e;
	return true;
}

bool reflist_remove(struct reflist_pool *pool, uint32_t *head, umbra_ref r)
{
	uint32_t h = *head;
	/* r == 0 would match an unused slot of the first extent. */
	if (r == 0 || h == 0)
		return false;
	if (!head_is_chain(h)) {
		if (h != r)
			return false;
		*head = 0;
		return true;
	}
	uint32_t f = head_extent(h);
	uint32_t n = used_slots(&pool->ext[f]);
	for (uint32_t e = f; e != REFLIST_END; e = pool->ext[e].next) {
		struct reflist_extent *x = &pool->ext[e];
		for (uint32_t i = 0; i < REFLIST_EXTENT_REFS; i++) {
			if (x->ref[i] == r) {
				/* Fill the hole from the first extent's last
				 * slot (a no-op when r is that slot). */
				x->ref[i] = pool->ext[f].ref[n - 1];
				drop_last(pool, head, f, n);
				return true;
			}
		}
	}
	return false;
}

umbra_ref reflist_pop(struct reflist_pool *pool, uint32_t *head)
{
	uint32_t h = *head;
	if (!head_is_chain(h)) {
		*head = 0;
		return h; /* the inline ref, or 0 for an empty list */
	}
	uint32_t f = head_extent(h);
	uint32_t n = used_slots(&pool->ext[f]);
	umbra_ref r = pool->ext[f].ref[n - 1];
	drop_last(pool, head, f, n);
	return r;
}

void reflist_clear(struct reflist_pool *pool, uint32_t *head)
{
	if (head_is_chain(*head)) {
		uint32_t e = head_extent(*head);
		while (e != REFLIST_END) {
			uint32_t next = pool->ext[e].next;
			extent_free(pool, e);
			e = next;
		}
	}
	*head = 0;
}

uint32_t reflist_count(const struct reflist_pool *pool, uint32_t head)
{
	if (!head_is_chain(head))
		return head != 0;
	/* The first extent is the only partial one. */
	uint32_t f = head_extent(head);
	uint32_t n = used_slots(&pool->ext[f]);
	for (uint32_t e = pool->ext[f].next; e != REFLIST_END;
	     e = pool->ext[e].next)
		n += REFLIST_EXTENT_REFS;
	return n;
}

bool reflist_contains(const struct reflist_pool *pool, uint32_t head,
		      umbra_ref r)
{
	if (r == 0)
		return false;
	if (!head_is_chain(head))
		return head == r;
	for (uint32_t e = head_extent(head); e != REFLIST_END;
	     e = pool->ext[e].next)
		for (uint32_t i = 0; i < REFLIST_EXTENT_REFS; i++)
			if (pool->ext[e].ref[i] == r)
				return true;
	return false;
}

/* ---- iteration -------------------------------------------------------- */

/*
 * Read the ref at the iterator's position and step the position on: down
 * the slots of an extent, then to slot 6 of the next extent (the first
 * extent starts at its last used slot; later extents are full).  Everything
 * the following step needs is read here, before the caller sees the ref.
 */
static umbra_ref iter_load(struct reflist_iter *it)
{
	if (it->ext == REFLIST_END)
		return 0;
	const struct reflist_extent *x = &it->pool->ext[it->ext];
	umbra_ref r = x->ref[it->slot];
	if (it->slot > 0) {
		it->slot--;
	} else {
		it->ext = x->next;
		it->slot = REFLIST_EXTENT_REFS - 1;
	}
	return r;
}

umbra_ref reflist_iter_first(struct reflist_iter *it,
			     const struct reflist_pool *pool, uint32_t head)
{
	it->pool = pool;
	it->ext = REFLIST_END;
	it->slot = 0;
	if (!head_is_chain(head)) {
		it->upcoming = head; /* inline ref, or 0 */
	} else {
		it->ext = head_extent(head);
		it->slot = used_slots(&pool->ext[it->ext]) - 1;
		it->upcoming = iter_load(it);
	}
	return reflist_iter_next(it);
}

umbra_ref reflist_iter_next(struct reflist_iter *it)
{
	umbra_ref r = it->upcoming;
	if (r != 0)
		it->upcoming = iter_load(it);
	return r;
}

/* ---- consistency checks ----------------------------------------------- */

bool reflist_check(const struct reflist_pool *pool, uint32_t head)
{
	if (head == 0)
		return true;
	if (!head_is_chain(head))
		return umbra_ref_valid(head);
	uint32_t total = 0, steps = 0;
	for (uint32_t e = head_extent(head); e != REFLIST_END;) {
		/* More extents than are in use means a cycle. */
		if (e >= pool->count || ++steps > pool->in_use)
			return false;
		const struct reflist_extent *x = &pool->ext[e];
		if (x->next & REFLIST_FREE)
			return false;
		uint32_t n = used_slots(x);
		for (uint32_t i = 0; i < REFLIST_EXTENT_REFS; i++)
			if (i < n ? !umbra_ref_valid(x->ref[i]) : x->ref[i] != 0)
				return false;
		/* Packed first extent (1..7 refs), full extents after it. */
		if (n == 0 || (steps > 1 && n != REFLIST_EXTENT_REFS))
			return false;
		total += n;
		e = x->next;
	}
	return total >= 2; /* a single ref belongs inline */
}

uint32_t reflist_extents(const struct reflist_pool *pool, uint32_t head)
{
	uint32_t n = 0;
	if (!head_is_chain(head))
		return 0;
	/* Counts only extents in use; bounded even on a corrupt chain: stops at
	 * an index out of range, a free extent, or after count steps. */
	for (uint32_t e = head_extent(head);
	     e < pool->count && !(pool->ext[e].next & REFLIST_FREE) &&
	     n < pool->count;
	     e = pool->ext[e].next)
		n++;
	return n;
}

bool reflist_pool_check(const struct reflist_pool *pool)
{
	if (pool->in_use > pool->count || pool->high_water < pool->in_use ||
	    pool->high_water > pool->count)
		return false;
	uint32_t want_free = pool->count - pool->in_use;
	uint32_t len = 0;
	for (uint32_t e = pool->free_head; e != REFLIST_END;) {
		if (e >= pool->count || ++len > want_free)
			return false;
		uint32_t next = pool->ext[e].next;
		if (!(next & REFLIST_FREE))
			return false;
		e = next & ~REFLIST_FREE;
	}
	if (len != want_free)
		return false;
	uint32_t marked = 0;
	for (uint32_t e = 0; e < pool->count; e++) {
		const struct reflist_extent *x = &pool->ext[e];
		if (!(x->next & REFLIST_FREE))
			continue;
		marked++;
		for (uint32_t i = 0; i < REFLIST_EXTENT_REFS; i++)
			if (x->ref[i] != 0)
				return false;
	}
	return marked == want_free;
}
