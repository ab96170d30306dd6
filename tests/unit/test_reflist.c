/*
 * Compact reference lists (engine/reflist.h): the head encoding and its
 * transitions, chain compactness, pool exhaustion and recovery, pop,
 * iteration (also while removing), the consistency checks against
 * corruption, and a randomized comparison with a plain-array model.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../engine/reflist.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_REFS 1024

/* The i-th distinct valid ref (0-based): page 1 entry 0, page 1 entry 1, ... */
static umbra_ref R(uint32_t i)
{
	return umbra_ref_make(1 + i / UMBRA_REF_INDEX_COUNT,
			      i % UMBRA_REF_INDEX_COUNT);
}

/* The extents a list of n refs must use: inline up to 1, then ceil(n/7). */
static uint32_t extents_for(uint32_t n)
{
	return n < 2 ? 0 : (n + REFLIST_EXTENT_REFS - 1) / REFLIST_EXTENT_REFS;
}

static int cmp_ref(const void *a, const void *b)
{
	umbra_ref x = *(const umbra_ref *)a, y = *(const umbra_ref *)b;
	return (x > y) - (x < y);
}

/* Every ref the iterator visits, in order. */
static uint32_t collect(const struct reflist_pool *pool, uint32_t head,
			umbra_ref *out, uint32_t max)
{
	struct reflist_iter it;
	uint32_t n = 0;
	for (umbra_ref r = reflist_iter_first(&it, pool, head); r;
	     r = reflist_iter_next(&it)) {
		assert_true(n < max);
		out[n++] = r;
	}
	return n;
}

/* Same multiset? (sorts copies) */
static void assert_same_refs(const umbra_ref *a, uint32_t na,
			     const umbra_ref *b, uint32_t nb)
{
	static umbra_ref sa[MAX_REFS], sb[MAX_REFS];
	assert_int_equal(na, nb);
	assert_true(na <= MAX_REFS);
	memcpy(sa, a, na * sizeof *a);
	memcpy(sb, b, nb * sizeof *b);
	qsort(sa, na, sizeof *sa, cmp_ref);
	qsort(sb, nb, sizeof *sb, cmp_ref);
	assert_memory_equal(sa, sb, na * sizeof *sa);
}

/* The list holds exactly want[0..n), in the form its size dictates. */
static void assert_list(const struct reflist_pool *pool, uint32_t head,
			const umbra_ref *want, uint32_t n)
{
	static umbra_ref got[MAX_REFS];
	assert_true(reflist_check(pool, head));
	assert_int_equal(reflist_count(pool, head), n);
	assert_int_equal(reflist_extents(pool, head), extents_for(n));
	if (n == 0)
		assert_int_equal(head, 0);
	else if (n == 1)
		assert_int_equal(head, want[0]); /* inline */
	else
		assert_true(head & REFLIST_HEAD_CHAIN);
	uint32_t ngot = collect(pool, head, got, MAX_REFS);
	assert_same_refs(got, ngot, want, n);
	for (uint32_t i = 0; i < n; i++)
		assert_true(reflist_contains(pool, head, want[i]));
}

static void remove_at(umbra_ref *a, uint32_t *n, uint32_t i)
{
	a[i] = a[--*n];
}

static bool model_contains(const umbra_ref *a, uint32_t n, umbra_ref r)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] == r)
			return true;
	return false;
}

static bool model_remove(umbra_ref *a, uint32_t *n, umbra_ref r)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (a[i] == r) {
			remove_at(a, n, i);
			return true;
		}
	}
	return false;
}

/* ---- refs ------------------------------------------------------------- */

static void test_ref_make_and_split_round_trip_and_reject_out_of_range(void **state)
{
	(void)state;
	static const struct {
		uint32_t id, index;
		umbra_ref want; /* 0: refused */
	} rows[] = {
		{ 1, 0, 1u << 9 },
		{ 1, 511, (1u << 9) | 511 },
		{ 12345, 42, (12345u << 9) | 42 },
		{ UMBRA_REF_ID_LIMIT - 1, 511, 0x7fffffffu }, /* largest: 31 bits */
		{ 0, 0, 0 },                                   /* page ids start at 1 */
		{ 0, 7, 0 },
		{ UMBRA_REF_ID_LIMIT, 0, 0 },                  /* would use bit 31 */
		{ UINT32_MAX, 0, 0 },
		{ 1, 512, 0 },                                 /* 512 entries per page */
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		umbra_ref r = umbra_ref_make(rows[i].id, rows[i].index);
		assert_int_equal(r, rows[i].want);
		assert_int_equal(umbra_ref_valid(r), r != 0);
		if (r != 0) {
			assert_int_equal(r & REFLIST_HEAD_CHAIN, 0);
			assert_int_equal(umbra_ref_page(r), rows[i].id);
			assert_int_equal(umbra_ref_index(r), rows[i].index);
		}
	}
	assert_false(umbra_ref_valid(0));
	assert_false(umbra_ref_valid(5));                 /* page id 0 */
	assert_false(umbra_ref_valid(0x80000000u | (1u << 9)));
}

/* ---- transitions -------------------------------------------------------- */

enum { EMPTY, INLINE, CHAIN };

struct step {
	char op;          /* 'a' add, 'r' remove, 'p' pop, 'c' clear, 0 ends */
	uint32_t ref;     /* index for R(); for 'a' with n > 1, adds R(ref..ref+n) */
	uint32_t n;
	bool ok;          /* add/remove result */
	int form;         /* after the step */
	uint32_t extents; /* pool in_use after the step */
};

static const struct {
	const char *name;
	struct step steps[8];
} transitions[] = {
	{ "one ref is inline, no extent",
	  { { 'a', 0, 1, true, INLINE, 0 } } },
	{ "second ref moves both into one extent",
	  { { 'a', 0, 1, true, INLINE, 0 }, { 'a', 1, 1, true, CHAIN, 1 } } },
	{ "removing the first of two goes back inline",
	  { { 'a', 0, 2, true, CHAIN, 1 }, { 'r', 0, 1, true, INLINE, 0 } } },
	{ "removing the second of two goes back inline",
	  { { 'a', 0, 2, true, CHAIN, 1 }, { 'r', 1, 1, true, INLINE, 0 } } },
	{ "popping one of two goes back inline",
	  { { 'a', 0, 2, true, CHAIN, 1 }, { 'p', 0, 1, true, INLINE, 0 } } },
	{ "removing the inline ref empties the list",
	  { { 'a', 0, 1, true, INLINE, 0 }, { 'r', 0, 1, true, EMPTY, 0 } } },
	{ "popping the inline ref empties the list",
	  { { 'a', 0, 1, true, INLINE, 0 }, { 'p', 0, 1, true, EMPTY, 0 } } },
	{ "seven refs fill one extent, the eighth takes a second",
	  { { 'a', 0, 7, true, CHAIN, 1 }, { 'a', 7, 1, true, CHAIN, 2 } } },
	{ "back to seven frees the second extent",
	  { { 'a', 0, 8, true, CHAIN, 2 }, { 'r', 3, 1, true, CHAIN, 1 },
	    { 'p', 0, 1, true, CHAIN, 1 } } },
	{ "shrinking across two extents down to inline",
	  { { 'a', 0, 9, true, CHAIN, 2 }, { 'r', 8, 1, true, CHAIN, 2 },
	    { 'r', 7, 1, true, CHAIN, 1 }, { 'p', 0, 5, true, CHAIN, 1 },
	    { 'p', 0, 1, true, INLINE, 0 }, { 'r', 1, 1, false, INLINE, 0 },
	    { 'p', 0, 1, true, EMPTY, 0 } } },
	{ "clear from a chain empties it and frees every extent",
	  { { 'a', 0, 20, true, CHAIN, 3 }, { 'c', 0, 1, true, EMPTY, 0 } } },
	{ "clear of an inline list",
	  { { 'a', 0, 1, true, INLINE, 0 }, { 'c', 0, 1, true, EMPTY, 0 } } },
};

static void test_transitions_between_empty_inline_and_chain(void **state)
{
	(void)state;
	for (size_t t = 0; t < ARRAY_SIZE(transitions); t++) {
		struct reflist_extent ext[8];
		struct reflist_pool pool;
		umbra_ref model[MAX_REFS];
		uint32_t n = 0, head = 0;
		reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
		for (const struct step *s = transitions[t].steps; s->op; s++) {
			for (uint32_t k = 0; k < s->n; k++) {
				umbra_ref r = R(s->ref + k), got;
				switch (s->op) {
				case 'a':
					assert_int_equal(reflist_add(&pool, &head, r), s->ok);
					model[n++] = r;
					break;
				case 'r':
					/* Expected to fail only for a ref popped earlier. */
					assert_int_equal(reflist_remove(&pool, &head, r), s->ok);
					assert_int_equal(model_remove(model, &n, r), s->ok);
					break;
				case 'p':
					got = reflist_pop(&pool, &head);
					assert_true(model_remove(model, &n, got));
					break;
				case 'c':
					reflist_clear(&pool, &head);
					n = 0;
					break;
				}
			}
			int form = head == 0 ? EMPTY
				   : head & REFLIST_HEAD_CHAIN ? CHAIN : INLINE;
			if (form != s->form || pool.in_use != s->extents)
				fail_msg("%s: step '%c' gave form %d, %u extents",
					 transitions[t].name, s->op, form, pool.in_use);
			assert_list(&pool, head, model, n);
			assert_true(reflist_pool_check(&pool));
		}
	}
}

enum { ASCENDING, DESCENDING, ODD_THEN_EVEN, MIDDLE_OUT, ORDERS };

/* The i-th ref index to remove from a list of R(0..size) in `order`. */
static uint32_t removal_order(int order, uint32_t i, uint32_t size)
{
	switch (order) {
	case ASCENDING:
		return i;
	case DESCENDING:
		return size - 1 - i;
	case ODD_THEN_EVEN:
		return i < size / 2 ? 2 * i + 1 : 2 * (i - size / 2);
	default: /* MIDDLE_OUT: mid, mid+1, mid-1, mid+2, mid-2, ... */
		return (size / 2 + (i % 2 ? (i + 1) / 2 : size - i / 2)) % size;
	}
}

/* Growing and shrinking keep the chain at ceil(n/7) extents, whatever the
 * order refs leave in. */
static void test_chain_uses_ceil_n_over_7_extents_growing_and_shrinking(void **state)
{
	(void)state;
	static const uint32_t sizes[] = { 0, 1, 2, 3, 7, 8, 9, 14, 15, 16, 41, 100 };
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		for (int order = 0; order < ORDERS; order++) {
			struct reflist_extent ext[16];
			struct reflist_pool pool;
			umbra_ref model[MAX_REFS], gone[MAX_REFS];
			uint32_t n = 0, head = 0, size = sizes[s];
			reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
			for (uint32_t i = 0; i < size; i++) {
				assert_true(reflist_add(&pool, &head, R(i)));
				model[n++] = R(i);
				assert_int_equal(pool.in_use, extents_for(n));
				assert_list(&pool, head, model, n);
			}
			for (uint32_t i = 0; i < size; i++)
				gone[i] = R(removal_order(order, i, size));
			/* Every order above is a permutation of 0..size-1. */
			assert_same_refs(gone, size, model, n);
			for (uint32_t i = 0; i < size; i++) {
				assert_true(reflist_remove(&pool, &head, gone[i]));
				assert_true(model_remove(model, &n, gone[i]));
				assert_false(reflist_contains(&pool, head, gone[i]));
				assert_int_equal(pool.in_use, extents_for(n));
				assert_list(&pool, head, model, n);
			}
			assert_int_equal(head, 0);
			assert_int_equal(pool.in_use, 0);
			assert_true(reflist_pool_check(&pool));
		}
	}
}

/* ---- the pool ----------------------------------------------------------- */

static void test_pool_exhaustion_returns_false_and_leaves_list_intact(void **state)
{
	(void)state;
	struct reflist_extent ext[1], snap[1];
	struct reflist_pool pool, pool_snap;
	umbra_ref a[8], b[2];
	uint32_t ha = 0, hb = 0, hc = 0;

	/* No extents at all: the inline case still works, a second ref cannot. */
	reflist_pool_init(&pool, ext, 0);
	assert_true(reflist_add(&pool, &hb, R(100)));
	assert_false(reflist_add(&pool, &hb, R(101)));
	assert_int_equal(hb, R(100));
	assert_int_equal(pool.in_use, 0);

	/* One extent: list A takes it with 7 refs; the 8th needs another. */
	reflist_pool_init(&pool, ext, 1);
	hb = 0;
	for (uint32_t i = 0; i < 7; i++) {
		assert_true(reflist_add(&pool, &ha, R(i)));
		a[i] = R(i);
	}
	assert_true(reflist_add(&pool, &hb, R(100)));
	b[0] = R(100);
	memcpy(snap, ext, sizeof ext);
	pool_snap = pool;
	uint32_t ha_snap = ha;
	assert_false(reflist_add(&pool, &ha, R(7)));      /* first extent full */
	assert_false(reflist_add(&pool, &hb, R(101)));    /* inline -> chain */
	assert_true(reflist_add(&pool, &hc, R(200)));     /* empty -> inline: free */
	assert_int_equal(ha, ha_snap);
	assert_int_equal(hb, R(100));
	assert_memory_equal(ext, snap, sizeof ext);
	assert_memory_equal(&pool, &pool_snap, sizeof pool);
	assert_list(&pool, ha, a, 7);
	assert_list(&pool, hb, b, 1);
	assert_int_equal(pool.high_water, 1);

	/* The engine's recovery: evict (here: shrink A to one ref, which
	 * frees its extent), then the retried add succeeds. */
	uint32_t na = 7;
	for (uint32_t i = 1; i < 7; i++) {
		assert_true(reflist_remove(&pool, &ha, R(i)));
		assert_true(model_remove(a, &na, R(i)));
	}
	assert_int_equal(pool.in_use, 0);
	assert_true(reflist_add(&pool, &hb, R(101)));
	b[1] = R(101);
	assert_list(&pool, ha, a, 1);
	assert_list(&pool, hb, b, 2);
	assert_false(reflist_add(&pool, &ha, R(1)));      /* B holds the extent now */
	assert_true(reflist_pool_check(&pool));
}

static void test_invalid_refs_are_refused_and_change_nothing(void **state)
{
	(void)state;
	static const umbra_ref bad[] = { 0, 5, 0x80000000u, 0x80000000u | (1u << 9),
					 UINT32_MAX };
	struct reflist_extent ext[4];
	struct reflist_pool pool;
	umbra_ref model[3] = { R(0), R(1), R(2) };
	for (uint32_t size = 0; size <= 3; size++) {
		uint32_t head = 0;
		reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
		for (uint32_t i = 0; i < size; i++)
			assert_true(reflist_add(&pool, &head, model[i]));
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			uint32_t before = head;
			assert_false(reflist_add(&pool, &head, bad[i]));
			assert_false(reflist_contains(&pool, head, bad[i]));
			assert_false(reflist_remove(&pool, &head, bad[i]));
			assert_int_equal(head, before);
			assert_list(&pool, head, model, size);
		}
	}
}

/* Fill a pool to the last extent from many lists, free everything by every
 * means, and get the whole pool back. */
static void test_freeing_restores_the_pool(void **state)
{
	(void)state;
	enum { HEADS = 20, EXTENTS = 48 };
	struct reflist_extent ext[EXTENTS];
	struct reflist_pool pool;
	uint32_t heads[HEADS] = { 0 }, next = 0;
	reflist_pool_init(&pool, ext, EXTENTS);

	/* Round robin, head h adding h+1 refs per round, until adds fail. */
	for (bool progress = true; progress;) {
		progress = false;
		for (uint32_t h = 0; h < HEADS; h++)
			for (uint32_t k = 0; k <= h; k++)
				progress |= reflist_add(&pool, &heads[h], R(next++));
	}
	assert_int_equal(pool.in_use, EXTENTS);
	assert_int_equal(pool.high_water, EXTENTS);
	assert_true(reflist_pool_check(&pool));

	uint32_t sum = 0;
	for (uint32_t h = 0; h < HEADS; h++) {
		assert_true(reflist_check(&pool, heads[h]));
		sum += reflist_extents(&pool, heads[h]);
	}
	assert_int_equal(sum, pool.in_use);

	for (uint32_t h = 0; h < HEADS; h++) {
		struct reflist_iter it;
		switch (h % 3) {
		case 0:
			reflist_clear(&pool, &heads[h]);
			break;
		case 1:
			while (reflist_pop(&pool, &heads[h]))
				;
			break;
		case 2:
			for (umbra_ref r = reflist_iter_first(&it, &pool, heads[h]); r;
			     r = reflist_iter_next(&it))
				assert_true(reflist_remove(&pool, &heads[h], r));
			break;
		}
		assert_int_equal(heads[h], 0);
	}
	assert_int_equal(pool.in_use, 0);
	assert_int_equal(pool.high_water, EXTENTS); /* a statistic: the peak stays */
	assert_true(reflist_pool_check(&pool));

	/* Every extent is usable again: 7 * EXTENTS refs fit in one list. */
	uint32_t head = 0;
	for (uint32_t i = 0; i < 7 * EXTENTS; i++)
		assert_true(reflist_add(&pool, &head, R(i)));
	assert_false(reflist_add(&pool, &head, R(7 * EXTENTS)));
	assert_int_equal(reflist_count(&pool, head), 7 * EXTENTS);
	assert_int_equal(pool.in_use, EXTENTS);
	assert_true(reflist_check(&pool, head));
}

/* ---- pop, iteration, removal -------------------------------------------- */

static const uint32_t list_sizes[] = { 0, 1, 2, 3, 6, 7, 8, 13, 14, 15, 50, 300 };

static uint32_t build(struct reflist_pool *pool, uint32_t *head,
		      umbra_ref *model, uint32_t size, uint32_t first)
{
	for (uint32_t i = 0; i < size; i++) {
		model[i] = R(first + i);
		assert_true(reflist_add(pool, head, model[i]));
	}
	return size;
}

static void test_pop_drains_every_ref_exactly_once(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(list_sizes); s++) {
		struct reflist_extent ext[64];
		struct reflist_pool pool;
		umbra_ref model[MAX_REFS], popped[MAX_REFS];
		uint32_t head = 0, np = 0;
		reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
		uint32_t n = build(&pool, &head, model, list_sizes[s], 0);
		for (umbra_ref r; (r = reflist_pop(&pool, &head)) != 0;) {
			assert_true(np < n);
			popped[np++] = r;
			assert_true(reflist_check(&pool, head));
			assert_int_equal(reflist_count(&pool, head), n - np);
			assert_int_equal(pool.in_use, extents_for(n - np));
		}
		assert_same_refs(popped, np, model, n);
		assert_int_equal(head, 0);
		assert_int_equal(pool.in_use, 0);
		assert_int_equal(reflist_pop(&pool, &head), 0);
		assert_true(reflist_pool_check(&pool));
	}
}

static void test_iteration_visits_every_ref_exactly_once_in_pop_order(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(list_sizes); s++) {
		struct reflist_extent ext[64];
		struct reflist_pool pool;
		umbra_ref model[MAX_REFS], seen[MAX_REFS], popped[MAX_REFS];
		uint32_t head = 0, np = 0;
		reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
		uint32_t n = build(&pool, &head, model, list_sizes[s], 0);
		uint32_t ns = collect(&pool, head, seen, MAX_REFS);
		assert_same_refs(seen, ns, model, n);
		/* Iterating changes nothing; the order is the order pop takes. */
		assert_int_equal(pool.in_use, extents_for(n));
		for (umbra_ref r; (r = reflist_pop(&pool, &head)) != 0;)
			popped[np++] = r;
		assert_int_equal(np, ns);
		assert_memory_equal(seen, popped, ns * sizeof *seen);
	}
}

/* Which refs the caller removes while iterating. */
enum { REMOVE_ALL, REMOVE_EVERY_OTHER, REMOVE_EVERY_THIRD, REMOVE_PREVIOUS,
       REMOVE_POLICIES };

static void test_iteration_survives_removing_the_returned_ref(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(list_sizes); s++) {
		for (int policy = 0; policy < REMOVE_POLICIES; policy++) {
			struct reflist_extent ext[128];
			struct reflist_pool pool;
			umbra_ref model[MAX_REFS], other[MAX_REFS], seen[MAX_REFS];
			uint32_t head = 0, ho = 0, ns = 0;
			reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
			/* Another list of the pool, shrinking meanwhile. */
			uint32_t no = build(&pool, &ho, other, 40, 5000);
			uint32_t n = build(&pool, &head, model, list_sizes[s], 0);
			uint32_t size = n;

			struct reflist_iter it;
			for (umbra_ref r = reflist_iter_first(&it, &pool, head); r;
			     r = reflist_iter_next(&it)) {
				assert_true(ns < size);
				seen[ns++] = r;
				umbra_ref victim =
					policy == REMOVE_ALL ? r
					: policy == REMOVE_EVERY_OTHER ? (ns % 2 ? r : 0)
					: policy == REMOVE_EVERY_THIRD ? (ns % 3 ? 0 : r)
					/* REMOVE_PREVIOUS: the ref returned before this one */
					: ns >= 2 ? seen[ns - 2] : 0;
				if (victim) {
					assert_true(reflist_remove(&pool, &head, victim));
					assert_true(model_remove(model, &n, victim));
				}
				if (no > 0) {
					assert_true(model_remove(other, &no,
								 reflist_pop(&pool, &ho)));
				}
				assert_true(reflist_check(&pool, head));
				assert_int_equal(pool.in_use,
						 extents_for(n) + extents_for(no));
			}
			/* Every original ref was visited once; the survivors are
			 * exactly the ones not removed. */
			umbra_ref orig[MAX_REFS];
			for (uint32_t i = 0; i < size; i++)
				orig[i] = R(i);
			assert_same_refs(seen, ns, orig, size);
			assert_list(&pool, head, model, n);
			assert_list(&pool, ho, other, no);
			if (policy == REMOVE_ALL)
				assert_int_equal(n, 0);
		}
	}
}

static void test_removing_absent_ref_changes_nothing(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(list_sizes); s++) {
		struct reflist_extent ext[64], snap[64];
		struct reflist_pool pool, pool_snap;
		umbra_ref model[MAX_REFS];
		uint32_t head = 0;
		reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
		uint32_t n = build(&pool, &head, model, list_sizes[s], 0);
		memcpy(snap, ext, sizeof ext);
		pool_snap = pool;
		uint32_t head_snap = head;
		/* Absent: never added, a neighbour, another page's entry. */
		const umbra_ref absent[] = { R(n), R(n + 1000), umbra_ref_make(4000, 3),
					     umbra_ref_make(UMBRA_REF_ID_LIMIT - 1, 511) };
		for (size_t i = 0; i < ARRAY_SIZE(absent); i++) {
			assert_false(reflist_contains(&pool, head, absent[i]));
			assert_false(reflist_remove(&pool, &head, absent[i]));
		}
		assert_int_equal(head, head_snap);
		assert_memory_equal(ext, snap, sizeof ext);
		assert_memory_equal(&pool, &pool_snap, sizeof pool);
		assert_list(&pool, head, model, n);
	}
}

static void test_clear_frees_the_chain_and_leaves_other_lists_alone(void **state)
{
	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(list_sizes); s++) {
		struct reflist_extent ext[128];
		struct reflist_pool pool;
		umbra_ref model[MAX_REFS], other[MAX_REFS];
		uint32_t head = 0, ho = 0;
		reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
		uint32_t no = build(&pool, &ho, other, 30, 5000);
		build(&pool, &head, model, list_sizes[s], 0);
		reflist_clear(&pool, &head);
		assert_int_equal(head, 0);
		assert_int_equal(pool.in_use, extents_for(no));
		assert_list(&pool, ho, other, no);
		assert_true(reflist_pool_check(&pool));
		reflist_clear(&pool, &head); /* clearing an empty list is harmless */
		assert_int_equal(pool.in_use, extents_for(no));
	}
}

static void test_many_lists_share_one_pool(void **state)
{
	(void)state;
	enum { HEADS = 50 };
	static struct reflist_extent ext[512];
	static umbra_ref model[HEADS][64];
	struct reflist_pool pool;
	uint32_t heads[HEADS] = { 0 }, n[HEADS] = { 0 };
	reflist_pool_init(&pool, ext, ARRAY_SIZE(ext));
	/* Interleaved: ref i goes to head i % 50 while that head wants more
	 * (head h ends with h + h/7 refs: sizes 0..56). */
	for (uint32_t i = 0; i < 64 * HEADS; i++) {
		uint32_t h = i % HEADS;
		if (n[h] < h + h / 7) {
			assert_true(reflist_add(&pool, &heads[h], R(i)));
			model[h][n[h]++] = R(i);
		}
	}
	uint32_t want = 0, sum = 0;
	for (uint32_t h = 0; h < HEADS; h++) {
		assert_list(&pool, heads[h], model[h], n[h]);
		want += extents_for(n[h]);
		sum += reflist_extents(&pool, heads[h]);
		/* No list sees another's refs. */
		assert_false(reflist_contains(&pool, heads[h], R(h + 1)));
	}
	assert_int_equal(pool.in_use, want);
	assert_int_equal(sum, want);
	assert_true(reflist_pool_check(&pool));
}

/* ---- the checks catch corruption ------------------------------------------ */

struct corrupt_fixture {
	struct reflist_extent ext[8];
	struct reflist_pool pool;
	uint32_t small, big; /* a 3-ref list (1 extent), a 15-ref list (3) */
};

static void corrupt_setup(struct corrupt_fixture *f)
{
	umbra_ref m[MAX_REFS];
	memset(f, 0, sizeof *f);
	reflist_pool_init(&f->pool, f->ext, ARRAY_SIZE(f->ext));
	build(&f->pool, &f->small, m, 3, 0);
	build(&f->pool, &f->big, m, 15, 100);
}

static struct reflist_extent *first_of(struct corrupt_fixture *f, uint32_t head)
{
	return &f->ext[head & ~REFLIST_HEAD_CHAIN];
}

static struct reflist_extent *last_of(struct corrupt_fixture *f, uint32_t head)
{
	struct reflist_extent *x = first_of(f, head);
	while (x->next != REFLIST_END)
		x = &f->ext[x->next];
	return x;
}

static void c_inline_page_id_zero(struct corrupt_fixture *f) { f->small = 5; }
static void c_index_out_of_range(struct corrupt_fixture *f)
{
	f->small = REFLIST_HEAD_CHAIN | 8;
}
static void c_tagged_end(struct corrupt_fixture *f)
{
	f->small = REFLIST_HEAD_CHAIN | REFLIST_END;
}
static void c_points_at_free_extent(struct corrupt_fixture *f)
{
	f->small = REFLIST_HEAD_CHAIN | f->pool.free_head;
}
static void c_cycle(struct corrupt_fixture *f)
{
	/* Through full extents only: nothing but the cycle bound sees it. */
	last_of(f, f->big)->next = first_of(f, f->big)->next;
}
static void c_next_out_of_range(struct corrupt_fixture *f)
{
	last_of(f, f->big)->next = 100;
}
static void c_zero_in_full_extent(struct corrupt_fixture *f)
{
	last_of(f, f->big)->ref[6] = 0;
}
static void c_hole_in_first_extent(struct corrupt_fixture *f)
{
	first_of(f, f->small)->ref[0] = 0;
}
static void c_invalid_ref_in_chain(struct corrupt_fixture *f)
{
	last_of(f, f->big)->ref[3] = 0x80000000u | (7u << 9);
}
static void c_chain_with_one_ref(struct corrupt_fixture *f)
{
	first_of(f, f->small)->ref[2] = 0;
	first_of(f, f->small)->ref[1] = 0;
}
static void c_partial_later_extent(struct corrupt_fixture *f)
{
	/* Legal on its own as a first extent; illegal behind one. */
	last_of(f, f->big)->next = f->small & ~REFLIST_HEAD_CHAIN;
}
static void c_extent_in_two_chains(struct corrupt_fixture *f)
{
	/* Both chains valid on their own: only the audit sum sees it. */
	first_of(f, f->small)->ref[2] = 0;
	first_of(f, f->small)->next = first_of(f, f->big)->next;
}

static void p_in_use_too_high(struct corrupt_fixture *f) { f->pool.in_use++; }
static void p_high_water_below_in_use(struct corrupt_fixture *f)
{
	f->pool.high_water = f->pool.in_use - 1;
}
static void p_free_list_cycle(struct corrupt_fixture *f)
{
	struct reflist_extent *x = &f->ext[f->pool.free_head];
	x->next = REFLIST_FREE | f->pool.free_head;
}
static void p_free_extent_unmarked(struct corrupt_fixture *f)
{
	struct reflist_extent *x = &f->ext[f->pool.free_head];
	x->next &= ~REFLIST_FREE;
}
static void p_leaked_extent(struct corrupt_fixture *f)
{
	/* The small list forgets its extent without freeing it. */
	f->small = R(0);
}
static void p_free_extent_not_zeroed(struct corrupt_fixture *f)
{
	f->ext[f->pool.free_head].ref[4] = R(9);
}
static void p_free_head_out_of_range(struct corrupt_fixture *f)
{
	f->pool.free_head = 9;
}

static void test_checks_reject_corrupt_lists_and_pools(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		void (*corrupt)(struct corrupt_fixture *);
		bool lists_ok, pool_ok, audit_sum_ok;
	} rows[] = {
		{ "intact", NULL, true, true, true },
		{ "inline ref with page id 0", c_inline_page_id_zero, false, true, false },
		{ "extent index out of range", c_index_out_of_range, false, true, false },
		{ "head tagged with no extent", c_tagged_end, false, true, false },
		{ "chain starts at a free extent", c_points_at_free_extent, false, true, false },
		{ "cycle in a chain", c_cycle, false, true, false },
		{ "chain link out of range", c_next_out_of_range, false, true, true },
		{ "zero ref inside a full extent", c_zero_in_full_extent, false, true, true },
		{ "hole in the first extent", c_hole_in_first_extent, false, true, true },
		{ "invalid ref inside a chain", c_invalid_ref_in_chain, false, true, true },
		{ "chain holding a single ref", c_chain_with_one_ref, false, true, true },
		{ "partial extent behind the first", c_partial_later_extent, false, true, false },
		{ "extent shared by two chains", c_extent_in_two_chains, true, true, false },
		{ "in_use too high", p_in_use_too_high, true, false, false },
		{ "high water below in_use", p_high_water_below_in_use, true, false, true },
		{ "cycle in the free list", p_free_list_cycle, true, false, true },
		{ "free extent not marked free", p_free_extent_unmarked, true, false, true },
		{ "free extent holding a ref", p_free_extent_not_zeroed, true, false, true },
		{ "free head out of range", p_free_head_out_of_range, true, false, true },
		{ "extent leaked by a list", p_leaked_extent, true, true, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct corrupt_fixture f;
		corrupt_setup(&f);
		if (rows[i].corrupt)
			rows[i].corrupt(&f);
		bool lists_ok = reflist_check(&f.pool, f.small) &&
				reflist_check(&f.pool, f.big);
		bool pool_ok = reflist_pool_check(&f.pool);
		bool sum_ok = reflist_extents(&f.pool, f.small) +
				      reflist_extents(&f.pool, f.big) ==
			      f.pool.in_use;
		if (lists_ok != rows[i].lists_ok || pool_ok != rows[i].pool_ok ||
		    sum_ok != rows[i].audit_sum_ok)
			fail_msg("%s: lists %d pool %d audit sum %d", rows[i].name,
				 lists_ok, pool_ok, sum_ok);
	}
}

/* ---- randomized comparison with a reference model ------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rng_next(s) % n);
}

static void test_random_ops_match_reference_model(void **state)
{
	(void)state;
	enum { HEADS = 50, EXTENTS = 64, STEPS = 6000, REF_SPACE = 3000,
	       MODEL_MAX = 7 * EXTENTS + 1 };
	static const uint64_t seeds[] = { 1, 2, 0x5eed, 0xdeadbeefcafeull };
	static struct reflist_extent ext[EXTENTS];
	static umbra_ref model[HEADS][MODEL_MAX];
	static umbra_ref got[MAX_REFS];

	for (size_t sd = 0; sd < ARRAY_SIZE(seeds); sd++) {
		uint64_t rng = seeds[sd];
		struct reflist_pool pool;
		uint32_t heads[HEADS] = { 0 }, n[HEADS] = { 0 };
		uint32_t failed_adds = 0, peak = 0;
		reflist_pool_init(&pool, ext, EXTENTS);

		for (uint32_t step = 0; step < STEPS; step++) {
			/* A quarter of the traffic goes to one list, so that it
			 * grows long; the rest spreads over all. */
			uint32_t h = rnd(&rng, 4) == 0 ? 0 : rnd(&rng, HEADS);
			umbra_ref *m = model[h];
			umbra_ref r = R(rnd(&rng, REF_SPACE));
			uint32_t op = rnd(&rng, 100);

			if (op < 50 && model_contains(m, n[h], r)) {
				/* lists are sets: the engine never adds a ref
				 * twice */
				assert_true(reflist_contains(&pool, heads[h], r));
			} else if (op < 50) {
				/* add: fails exactly when an extent is needed
				 * and none is free */
				bool needs = n[h] == 1 ||
					     (n[h] >= 2 && n[h] % REFLIST_EXTENT_REFS == 0);
				bool can = !needs || pool.in_use < EXTENTS;
				bool ok = reflist_add(&pool, &heads[h], r);
				assert_int_equal(ok, can);
				if (ok) {
					assert_true(n[h] < MODEL_MAX);
					m[n[h]++] = r;
				} else {
					failed_adds++;
				}
			} else if (op < 70) {
				/* remove a ref that is there */
				if (n[h] > 0) {
					r = m[rnd(&rng, n[h])];
					assert_true(reflist_remove(&pool, &heads[h], r));
					assert_true(model_remove(m, &n[h], r));
				}
			} else if (op < 80) {
				/* remove a ref that may or may not be there */
				bool there = model_remove(m, &n[h], r);
				assert_int_equal(reflist_remove(&pool, &heads[h], r), there);
			} else if (op < 90) {
				umbra_ref p = reflist_pop(&pool, &heads[h]);
				if (n[h] == 0)
					assert_int_equal(p, 0);
				else
					assert_true(model_remove(m, &n[h], p));
			} else if (op < 95) {
				assert_int_equal(reflist_contains(&pool, heads[h], r),
						 model_contains(m, n[h], r));
			} else if (op < 99) {
				/* iterate, removing about half of what is returned */
				struct reflist_iter it;
				uint32_t ns = 0, before = n[h];
				memcpy(got, m, before * sizeof *m);
				umbra_ref seen[MAX_REFS];
				for (umbra_ref x = reflist_iter_first(&it, &pool, heads[h]); x;
				     x = reflist_iter_next(&it)) {
					assert_true(ns < before);
					seen[ns++] = x;
					if (rnd(&rng, 2)) {
						assert_true(reflist_remove(&pool, &heads[h], x));
						assert_true(model_remove(m, &n[h], x));
					}
				}
				assert_same_refs(seen, ns, got, before);
			} else {
				reflist_clear(&pool, &heads[h]);
				n[h] = 0;
			}

			/* After every step: every list checks and has its model's
			 * size, the touched one its model's contents, and the pool
			 * holds exactly the extents the lists need. */
			uint32_t want = 0, sum = 0;
			for (uint32_t k = 0; k < HEADS; k++) {
				assert_true(reflist_check(&pool, heads[k]));
				assert_int_equal(reflist_count(&pool, heads[k]), n[k]);
				want += extents_for(n[k]);
				sum += reflist_extents(&pool, heads[k]);
			}
			assert_int_equal(pool.in_use, want);
			assert_int_equal(sum, want);
			assert_true(reflist_pool_check(&pool));
			assert_list(&pool, heads[h], m, n[h]);
			if (pool.in_use > peak)
				peak = pool.in_use;
			assert_int_equal(pool.high_water, peak);
		}
		for (uint32_t k = 0; k < HEADS; k++)
			assert_list(&pool, heads[k], model[k], n[k]);
		/* The run must have hit exhaustion, or it did not test it. */
		assert_true(failed_adds > 0);
		assert_int_equal(peak, EXTENTS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_make_and_split_round_trip_and_reject_out_of_range),
		cmocka_unit_test(test_transitions_between_empty_inline_and_chain),
		cmocka_unit_test(test_chain_uses_ceil_n_over_7_extents_growing_and_shrinking),
		cmocka_unit_test(test_pool_exhaustion_returns_false_and_leaves_list_intact),
		cmocka_unit_test(test_invalid_refs_are_refused_and_change_nothing),
		cmocka_unit_test(test_freeing_restores_the_pool),
		cmocka_unit_test(test_pop_drains_every_ref_exactly_once),
		cmocka_unit_test(test_iteration_visits_every_ref_exactly_once_in_pop_order),
		cmocka_unit_test(test_iteration_survives_removing_the_returned_ref),
		cmocka_unit_test(test_removing_absent_ref_changes_nothing),
		cmocka_unit_test(test_clear_frees_the_chain_and_leaves_other_lists_alone),
		cmocka_unit_test(test_many_lists_share_one_pool),
		cmocka_unit_test(test_checks_reject_corrupt_lists_and_pools),
		cmocka_unit_test(test_random_ops_match_reference_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
