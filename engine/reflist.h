/*
 * Compact reference lists: the storage behind the shadow MMU's reverse map
 * (guest frame -> the shadow entries that map it) and parent tracking
 * (shadow page -> the shadow entries that point at it).
 *
 * Why this shape.  There is one list per guest frame and one per shadow
 * page: a 4 GiB guest has 1M frames, so every byte of a list head costs a
 * megabyte.  Almost every list holds zero or one element, and a few hold
 * thousands (a frame mapped by every process).  So:
 *
 *   - a list head is ONE uint32_t word that the caller owns (arrays of
 *     heads, one per frame, one per shadow page: 4 MiB for 4 GiB of guest);
 *   - the common small case costs nothing more: a single ref lives inline
 *     in the head word itself;
 *   - two or more refs live in a chain of 32-byte extents (7 refs each)
 *     taken from a bounded pool whose storage the caller provides.  A chain
 *     of n refs uses exactly ceil(n/7) extents: about 4.6 bytes per ref.
 *
 * Head word encoding:
 *
 *   0                       empty list
 *   bit 31 clear, nonzero   exactly one ref, stored inline
 *   bit 31 set              2+ refs; bits 30:0 index the chain's first extent
 *
 * This works because a ref never has bit 31 set (see umbra_ref below) and
 * is never 0.
 *
 * Chain shape (the invariant every operation keeps, reflist_check proves):
 * the first extent holds 1..7 refs packed into slots 0..k-1 (unused slots
 * are 0); every later extent is full; the chain holds at least 2 refs.
 * Adding fills the first extent or pushes a new one in front; removing
 * fills the hole with the first extent's last ref and frees the first
 * extent when it empties; a chain left with one ref goes back inline.
 * Every operation therefore costs O(1) plus, for remove/contains/count, a
 * walk over this list's own extents.  Nothing ever scans the pool except
 * the explicit check functions.
 *
 * A list is a set, but add does not look for duplicates (that would make it
 * O(n)): the engine never adds the same ref twice to one list.  (Were it to,
 * remove would take away one occurrence, maybe one an iterator has not
 * reached yet.)
 *
 * Freestanding C11: no allocation, no global state; the pool struct and the
 * head words hold everything.  Not thread-safe: the caller serializes.
 */
#ifndef UMBRA_ENGINE_REFLIST_H
#define UMBRA_ENGINE_REFLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- references to shadow entries ------------------------------------ */

/*
 * One shadow entry: (shadow page id << UMBRA_REF_INDEX_BITS) | entry index.
 * A shadow page holds 512 entries; ids start at 1, so 0 is never a ref.
 * Ids are below 2^22, so a ref fits in 31 bits and bit 31 stays free for the
 * head word's tag.  umbra_ref_make refuses anything else by returning 0.
 */
typedef uint32_t umbra_ref;

#define UMBRA_REF_INDEX_BITS 9
#define UMBRA_REF_INDEX_COUNT (1u << UMBRA_REF_INDEX_BITS)  /* 512 */
#define UMBRA_REF_ID_BITS 22
#define UMBRA_REF_ID_LIMIT (1u << UMBRA_REF_ID_BITS)        /* ids < this */

_Static_assert(UMBRA_REF_INDEX_BITS + UMBRA_REF_ID_BITS == 31,
	       "a ref must leave bit 31 free for the head tag");

/* A well-formed ref: shadow page id in 1..2^22-1 (so nonzero, bit 31 clear). */
static inline bool umbra_ref_valid(umbra_ref r)
{
	uint32_t id = r >> UMBRA_REF_INDEX_BITS;
	return id != 0 && id < UMBRA_REF_ID_LIMIT;
}

/* The ref of entry `index` of shadow page `page_id`; 0 if either is out of
 * range (page_id must be 1..2^22-1, index 0..511). */
static inline umbra_ref umbra_ref_make(uint32_t page_id, uint32_t index)
{
	if (page_id == 0 || page_id >= UMBRA_REF_ID_LIMIT ||
	    index >= UMBRA_REF_INDEX_COUNT)
		return 0;
	return (page_id << UMBRA_REF_INDEX_BITS) | index;
}

static inline uint32_t umbra_ref_page(umbra_ref r)
{
	return r >> UMBRA_REF_INDEX_BITS;
}

static inline uint32_t umbra_ref_index(umbra_ref r)
{
	return r & (UMBRA_REF_INDEX_COUNT - 1);
}

/* ---- the extent pool ------------------------------------------------- */

#define REFLIST_EXTENT_REFS 7

/*
 * One extent: 7 refs and a link, 32 bytes (two per cache line).  `next` is
 * the next extent of the chain (REFLIST_END at its end) while in use; on the
 * free list it is REFLIST_FREE | the next free extent, so a free extent is
 * recognisable and a chain running into one is caught by reflist_check.
 */
struct reflist_extent {
	uint32_t next;
	umbra_ref ref[REFLIST_EXTENT_REFS];
};

_Static_assert(sizeof(struct reflist_extent) == 32, "extent is 32 bytes");

#define REFLIST_HEAD_CHAIN 0x80000000u /* head tag: bits 30:0 index an extent */
#define REFLIST_FREE       0x80000000u /* in `next`: this extent is free */
#define REFLIST_END        0x7fffffffu /* no extent (ends chains, free list) */
#define REFLIST_MAX_EXTENTS REFLIST_END /* pool sizes above this are clamped */

/*
 * The pool: the caller's array of extents plus the free list through it.
 * in_use and high_water are statistics (and in_use is what the audit
 * compares chains against); read them directly.
 */
struct reflist_pool {
	struct reflist_extent *ext;
	uint32_t count;      /* extents in ext[] */
	uint32_t free_head;  /* first free extent, REFLIST_END if none */
	uint32_t in_use;     /* extents currently in chains */
	uint32_t high_water; /* the most extents ever in use at once */
};

/* Take `count` extents of `storage` (contents ignored) as a pool, all free
 * (free extents are kept zeroed).  O(count); clamped to REFLIST_MAX_EXTENTS. */
void reflist_pool_init(struct reflist_pool *pool,
		       struct reflist_extent *storage, uint32_t count);

/* ---- list operations -------------------------------------------------- */

/*
 * Add r.  Returns false, leaving the list unchanged, when an extent is
 * needed (the list held 1 ref, or its first extent is full) and the pool has
 * none free: the engine then evicts shadow pages and retries.  An invalid r
 * (!umbra_ref_valid) is a caller bug and is refused the same way.
 */
bool reflist_add(struct reflist_pool *pool, uint32_t *head, umbra_ref r);

/* Remove one occurrence of r.  Returns false if r is not in the list. */
bool reflist_remove(struct reflist_pool *pool, uint32_t *head, umbra_ref r);

/*
 * Remove and return one ref, 0 if the list is empty.  O(1).  The engine's
 * "zap every mapping of this frame" loop:
 *     while ((r = reflist_pop(pool, &head)) != 0) zap(r);
 */
umbra_ref reflist_pop(struct reflist_pool *pool, uint32_t *head);

/* Empty the list, returning its extents to the pool. */
void reflist_clear(struct reflist_pool *pool, uint32_t *head);

uint32_t reflist_count(const struct reflist_pool *pool, uint32_t head);
bool reflist_contains(const struct reflist_pool *pool, uint32_t head,
		      umbra_ref r);

/* ---- iteration -------------------------------------------------------- */

/*
 * Visits every ref of a list exactly once, in the order reflist_pop would
 * take them:
 *
 *     struct reflist_iter it;
 *     for (r = reflist_iter_first(&it, pool, head); r;
 *          r = reflist_iter_next(&it))
 *
 * Removing during iteration: the caller MAY remove the ref just returned
 * (more generally, any ref already returned) from this list, and may remove
 * refs from other lists of the same pool; the iteration still visits every
 * remaining ref exactly once.  This holds because removal fills a hole with
 * the first ref in iteration order (already visited), and because the
 * iterator reads the next ref and the position after it before it returns,
 * so a freed first extent or a collapse to the inline form is never read.
 * Adding to any list of the pool, or removing a ref not yet returned,
 * invalidates the iterator.
 *
 * `head` is passed by value: the iterator never reads the head word again.
 */
struct reflist_iter {
	const struct reflist_pool *pool;
	umbra_ref upcoming; /* what the next call returns; 0 when done */
	uint32_t ext;       /* where the ref after `upcoming` lives ... */
	uint32_t slot;      /* ... (ext == REFLIST_END: nothing after it) */
};

umbra_ref reflist_iter_first(struct reflist_iter *it,
			     const struct reflist_pool *pool, uint32_t head);
umbra_ref reflist_iter_next(struct reflist_iter *it);

/* ---- consistency checks (for the engine's audit and tests) ------------ */

/*
 * One list: every ref valid (nonzero, bit 31 clear, page id nonzero); a
 * chain's extent indices in range and in use, its first extent packed
 * (1..7 refs in the low slots), later extents full, at least 2 refs, and
 * no cycle (a chain longer than the pool's in_use is one).  O(list).
 */
bool reflist_check(const struct reflist_pool *pool, uint32_t head);

/* Extents in the list's chain (0 for an empty or inline list).  The audit
 * sums this over every head and compares with pool->in_use: a difference
 * is a leaked or shared extent. */
uint32_t reflist_extents(const struct reflist_pool *pool, uint32_t head);

/*
 * The whole pool: the free list is in range, acyclic, made of extents
 * marked free, and exactly count - in_use long; exactly that many extents
 * are marked free, all zeroed; high_water >= in_use.  O(pool size).
 */
bool reflist_pool_check(const struct reflist_pool *pool);

#endif /* UMBRA_ENGINE_REFLIST_H */
