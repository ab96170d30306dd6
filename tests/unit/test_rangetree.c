/*
 * Range trees (engine/rangetree.h): the intrusive AVL tree of disjoint
 * inclusive ranges that holds the shadow engine's access handlers.
 *
 * Every test audits the tree with umbra_range_tree_check after changing it,
 * and the last test runs thousands of random operations against a plain
 * sorted-array model.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "umbra/rangetree.h"

#define TOP UINT64_MAX
#define PAGE_SIZE 4096ull

/* A caller's structure with the node embedded (not first, on purpose). */
struct handler {
	unsigned id;
	struct umbra_range_node node;
};

/* ---- helpers ------------------------------------------------------------ */

static void set_range(struct handler *h, unsigned id, uint64_t start,
		      uint64_t last)
{
	memset(h, 0, sizeof(*h));
	h->id = id;
	h->node.start = start;
	h->node.last = last;
}

static struct handler *handler_of(struct umbra_range_node *n)
{
	return n ? UMBRA_RANGE_ENTRY(n, struct handler, node) : NULL;
}

/* Insert, asserting success and a sound tree. */
static void insert_ok(struct umbra_range_tree *t, struct handler *h)
{
	assert_true(umbra_range_tree_insert(t, &h->node));
	assert_true(umbra_range_tree_check(t));
}

/* The height of a subtree counted from its links, not its height fields. */
static unsigned measured_height(const struct umbra_range_node *n)
{
	unsigned l, r;

	if (!n)
		return 0;
	l = measured_height(n->left);
	r = measured_height(n->right);
	return 1 + (l > r ? l : r);
}

/*
 * The greatest height an AVL tree of n nodes can have: the largest h whose
 * sparsest AVL tree, F(h + 2) - 1 nodes (Fibonacci), still fits in n.
 * About 1.44 log2(n).
 */
static unsigned avl_max_height(uint64_t n)
{
	uint64_t f_prev = 1, f = 1; /* F(1), F(2) */
	unsigned h = 0;             /* F(h + 2) == f */

	for (;;) {
		uint64_t f_next = f + f_prev; /* F(h + 3) */

		if (f_next - 1 > n)
			return h;
		f_prev = f;
		f = f_next;
		h++;
	}
}

static unsigned ceil_log2(uint64_t n)
{
	unsigned k = 0;

	while ((1ull << k) < n)
		k++;
	return k;
}

/* All nodes in order, through first/next; returns how many. */
static size_t collect(const struct umbra_range_tree *t,
		      struct umbra_range_node **out, size_t max)
{
	size_t n = 0;

	for (struct umbra_range_node *it = umbra_range_tree_first(t); it;
	     it = umbra_range_tree_next(t, it)) {
		assert_true(n < max);
		out[n++] = it;
	}
	return n;
}

/* ---- basics ------------------------------------------------------------- */

static void test_empty_tree_finds_nothing(void **state)
{
	struct umbra_range_tree t;

	(void)state;
	umbra_range_tree_init(&t);
	assert_null(t.root);
	assert_int_equal(t.count, 0);
	assert_true(umbra_range_tree_check(&t));
	assert_null(umbra_range_tree_find(&t, 0));
	assert_null(umbra_range_tree_find(&t, TOP));
	assert_null(umbra_range_tree_first_overlap(&t, 0, TOP));
	assert_null(umbra_range_tree_first(&t));
}

static void test_insert_find_remove_basics(void **state)
{
	struct umbra_range_tree t;
	struct handler a, b, c;

	(void)state;
	umbra_range_tree_init(&t);
	set_range(&a, 1, 0x1000, 0x1fff);
	set_range(&b, 2, 0x5000, 0x5fff);
	set_range(&c, 3, 0x3000, 0x3000); /* a single address */
	insert_ok(&t, &a);
	insert_ok(&t, &b);
	insert_ok(&t, &c);
	assert_int_equal(t.count, 3);

	/* Each range is found from its first, last and a middle address. */
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x1000)), &a);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x1800)), &a);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x1fff)), &a);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x3000)), &c);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x5fff)), &b);
	/* Gaps and the addresses just outside each range find nothing. */
	assert_null(umbra_range_tree_find(&t, 0x0fff));
	assert_null(umbra_range_tree_find(&t, 0x2000));
	assert_null(umbra_range_tree_find(&t, 0x2fff));
	assert_null(umbra_range_tree_find(&t, 0x3001));
	assert_null(umbra_range_tree_find(&t, 0x6000));
	assert_null(umbra_range_tree_find(&t, 0));
	assert_null(umbra_range_tree_find(&t, TOP));

	umbra_range_tree_remove(&t, &c.node);
	assert_true(umbra_range_tree_check(&t));
	assert_int_equal(t.count, 2);
	assert_null(umbra_range_tree_find(&t, 0x3000));
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x1000)), &a);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x5000)), &b);

	umbra_range_tree_remove(&t, &a.node);
	umbra_range_tree_remove(&t, &b.node);
	assert_true(umbra_range_tree_check(&t));
	assert_int_equal(t.count, 0);
	assert_null(t.root);

	/* A removed node can be inserted again. */
	insert_ok(&t, &a);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x1234)), &a);
}

static void test_remove_of_node_not_in_tree_changes_nothing(void **state)
{
	struct umbra_range_tree t;
	struct handler in, twin, out;

	(void)state;
	umbra_range_tree_init(&t);
	set_range(&in, 1, 100, 199);
	set_range(&twin, 2, 100, 199); /* same range, different object */
	set_range(&out, 3, 500, 599);
	insert_ok(&t, &in);

	umbra_range_tree_remove(&t, &twin.node);
	umbra_range_tree_remove(&t, &out.node);
	assert_true(umbra_range_tree_check(&t));
	assert_int_equal(t.count, 1);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 150)), &in);
}

/* ---- overlap refusal ---------------------------------------------------- */

static void test_insert_refuses_overlap_by_one_address(void **state)
{
	/* Each candidate overlaps [0x1000, 0x1fff] by at least one address. */
	static const uint64_t overlapping[][2] = {
		{ 0x0000, 0x1000 }, /* ends on its first address */
		{ 0x1fff, 0x2fff }, /* starts on its last address */
		{ 0x1000, 0x1fff }, /* the same range */
		{ 0x1800, 0x1800 }, /* one address inside */
		{ 0x1001, 0x1ffe }, /* inside */
		{ 0x0000, TOP },    /* covers it */
		{ 0x0fff, 0x2000 }, /* covers it by one on each side */
	};
	struct umbra_range_tree t;
	struct handler base, h;

	(void)state;
	umbra_range_tree_init(&t);
	set_range(&base, 1, 0x1000, 0x1fff);
	insert_ok(&t, &base);

	for (size_t i = 0; i < sizeof(overlapping) / sizeof(overlapping[0]);
	     i++) {
		set_range(&h, 2, overlapping[i][0], overlapping[i][1]);
		assert_false(umbra_range_tree_insert(&t, &h.node));
		assert_int_equal(t.count, 1);
		assert_ptr_equal(t.root, &base.node);
		assert_true(umbra_range_tree_check(&t));
	}
	/* Inserting the same node twice is an overlap with itself. */
	assert_false(umbra_range_tree_insert(&t, &base.node));
	assert_int_equal(t.count, 1);
	assert_true(umbra_range_tree_check(&t));
}

static void test_insert_refuses_overlap_deep_in_tree(void **state)
{
	/* Overlap with a leaf, found only at the bottom of the descent. */
	enum { N = 64 };
	static struct handler h[N];
	struct umbra_range_tree t;
	struct handler probe;

	(void)state;
	umbra_range_tree_init(&t);
	for (unsigned i = 0; i < N; i++) {
		set_range(&h[i], i, i * 0x100ull, i * 0x100ull + 0x7f);
		insert_ok(&t, &h[i]);
	}
	for (unsigned i = 0; i < N; i++) {
		/* The last address of range i, up into the gap after it. */
		set_range(&probe, 99, i * 0x100ull + 0x7f, i * 0x100ull + 0x80);
		assert_false(umbra_range_tree_insert(&t, &probe.node));
		/* The gap itself is free. */
		set_range(&probe, 99, i * 0x100ull + 0x80, i * 0x100ull + 0xff);
		insert_ok(&t, &probe);
		umbra_range_tree_remove(&t, &probe.node);
	}
	assert_int_equal(t.count, N);
	assert_true(umbra_range_tree_check(&t));
}

static void test_insert_accepts_ranges_touching_at_boundaries(void **state)
{
	struct umbra_range_tree t;
	struct handler mid, below, above;

	(void)state;
	umbra_range_tree_init(&t);
	set_range(&mid, 1, 0x1000, 0x1fff);
	set_range(&below, 2, 0x0000, 0x0fff); /* ends just before it */
	set_range(&above, 3, 0x2000, 0x2fff); /* starts just after it */
	insert_ok(&t, &mid);
	insert_ok(&t, &below);
	insert_ok(&t, &above);
	assert_int_equal(t.count, 3);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x0fff)), &below);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x1000)), &mid);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x1fff)), &mid);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0x2000)), &above);
}

static void test_insert_refuses_start_after_last(void **state)
{
	struct umbra_range_tree t;
	struct handler h;

	(void)state;
	umbra_range_tree_init(&t);
	set_range(&h, 1, 0x2000, 0x1fff);
	assert_false(umbra_range_tree_insert(&t, &h.node));
	set_range(&h, 1, TOP, 0);
	assert_false(umbra_range_tree_insert(&t, &h.node));
	assert_int_equal(t.count, 0);
	assert_null(t.root);
	assert_true(umbra_range_tree_check(&t));
}

/* ---- the edges of the address space ------------------------------------- */

static void test_ranges_at_address_zero_and_top(void **state)
{
	struct umbra_range_tree t;
	struct handler zero, top, low, high;

	(void)state;
	umbra_range_tree_init(&t);
	set_range(&zero, 1, 0, 0);
	set_range(&top, 2, TOP, TOP);
	set_range(&low, 3, 1, PAGE_SIZE - 1);
	set_range(&high, 4, TOP - PAGE_SIZE + 1, TOP - 1);
	insert_ok(&t, &top);
	insert_ok(&t, &zero);
	insert_ok(&t, &high);
	insert_ok(&t, &low);

	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0)), &zero);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 1)), &low);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, TOP)), &top);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, TOP - 1)), &high);
	assert_null(umbra_range_tree_find(&t, TOP - PAGE_SIZE));

	/* The top page touches high and top; the last address only top. */
	assert_ptr_equal(handler_of(umbra_range_tree_first_overlap(
				 &t, TOP - PAGE_SIZE + 1, TOP)), &high);
	assert_ptr_equal(handler_of(umbra_range_tree_first_overlap(&t, TOP, TOP)),
			 &top);
	/* The range ending at the top has no successor (no wrap to 0). */
	assert_null(umbra_range_tree_next(&t, &top.node));
	assert_ptr_equal(handler_of(umbra_range_tree_next(&t, &high.node)), &top);
	assert_ptr_equal(handler_of(umbra_range_tree_first(&t)), &zero);

	/* Nothing fits next to either edge range. */
	{
		struct handler h;

		set_range(&h, 5, TOP - 1, TOP);
		assert_false(umbra_range_tree_insert(&t, &h.node));
		set_range(&h, 5, 0, 1);
		assert_false(umbra_range_tree_insert(&t, &h.node));
	}

	umbra_range_tree_remove(&t, &top.node);
	umbra_range_tree_remove(&t, &zero.node);
	assert_true(umbra_range_tree_check(&t));
	assert_null(umbra_range_tree_find(&t, TOP));
	assert_null(umbra_range_tree_find(&t, 0));
	assert_null(umbra_range_tree_next(&t, &high.node));
}

static void test_range_covering_whole_address_space(void **state)
{
	struct umbra_range_tree t;
	struct handler all, h;

	(void)state;
	umbra_range_tree_init(&t);
	set_range(&all, 1, 0, TOP);
	insert_ok(&t, &all);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 0)), &all);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 1ull << 63)), &all);
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, TOP)), &all);
	assert_ptr_equal(handler_of(umbra_range_tree_first_overlap(&t, TOP, TOP)),
			 &all);
	assert_null(umbra_range_tree_next(&t, &all.node));
	set_range(&h, 2, 1ull << 40, 1ull << 40);
	assert_false(umbra_range_tree_insert(&t, &h.node));
	assert_int_equal(t.count, 1);
}

/* ---- first_overlap and iteration ---------------------------------------- */

/* Ranges of handler i: [i * STRIDE, i * STRIDE + LEN - 1], then a gap. */
#define ITER_N      500
#define ITER_STRIDE 0x3000ull
#define ITER_LEN    0x1800ull

static void build_striped(struct umbra_range_tree *t, struct handler *h)
{
	umbra_range_tree_init(t);
	/* An order that is neither sorted nor reversed: 7 is coprime to 500. */
	for (unsigned k = 0; k < ITER_N; k++) {
		unsigned i = (k * 7) % ITER_N;

		set_range(&h[i], i, i * ITER_STRIDE,
			  i * ITER_STRIDE + ITER_LEN - 1);
		assert_true(umbra_range_tree_insert(t, &h[i].node));
	}
	assert_true(umbra_range_tree_check(t));
	assert_int_equal(t->count, ITER_N);
}

static void test_first_overlap_returns_lowest_overlapping_range(void **state)
{
	static struct handler h[ITER_N];
	struct umbra_range_tree t;

	(void)state;
	build_striped(&t, h);
	for (unsigned i = 0; i < ITER_N; i++) {
		uint64_t s = i * ITER_STRIDE, e = s + ITER_LEN - 1;
		uint64_t gap_last = s + ITER_STRIDE - 1;

		/* Windows starting inside range i find range i. */
		assert_ptr_equal(handler_of(umbra_range_tree_first_overlap(
					 &t, s, s)), &h[i]);
		assert_ptr_equal(handler_of(umbra_range_tree_first_overlap(
					 &t, e, e)), &h[i]);
		assert_ptr_equal(handler_of(umbra_range_tree_first_overlap(
					 &t, e, TOP)), &h[i]);
		/* A window covering range i and beyond finds i, the lowest. */
		assert_ptr_equal(handler_of(umbra_range_tree_first_overlap(
					 &t, s == 0 ? 0 : s - 1, TOP)), &h[i]);
		/* A window wholly in the gap after i finds nothing... */
		assert_null(umbra_range_tree_first_overlap(&t, e + 1, gap_last));
		/* ...unless it reaches one address into range i + 1. */
		if (i + 1 < ITER_N)
			assert_ptr_equal(handler_of(
				umbra_range_tree_first_overlap(&t, e + 1,
							       gap_last + 1)),
				&h[i + 1]);
		else
			assert_null(umbra_range_tree_first_overlap(
				&t, e + 1, TOP));
	}
	/* An empty (inverted) window overlaps nothing. */
	assert_null(umbra_range_tree_first_overlap(&t, ITER_STRIDE, 0));
}

static void test_page_query_visits_every_touching_range(void **state)
{
	/* "Which handlers touch this 4 KiB page": first_overlap, then next
	 * while the range starts within the page.  Ranges of 0x300 bytes every
	 * 0x500 bytes: each page meets several, some only partly. */
	enum { N = 400 };
	const uint64_t stride = 0x500, len = 0x300;
	static struct handler h[N];
	struct umbra_range_tree t;

	(void)state;
	umbra_range_tree_init(&t);
	for (unsigned i = 0; i < N; i++) {
		set_range(&h[i], i, i * stride, i * stride + len - 1);
		insert_ok(&t, &h[i]);
	}
	for (uint64_t page = 0; page < N * stride; page += PAGE_SIZE) {
		uint64_t last = page + PAGE_SIZE - 1;
		unsigned expected = 0, seen = 0;

		for (unsigned i = 0; i < N; i++)
			if (h[i].node.start <= last && h[i].node.last >= page)
				expected++;
		for (struct umbra_range_node *n =
			     umbra_range_tree_first_overlap(&t, page, last);
		     n && n->start <= last; n = umbra_range_tree_next(&t, n)) {
			assert_true(n->last >= page);
			seen++;
		}
		assert_int_equal(seen, expected);
		assert_true(expected > 0);
	}
}

static void test_next_iterates_in_order_over_all_ranges(void **state)
{
	static struct handler h[ITER_N];
	static struct umbra_range_node *order[ITER_N];
	struct umbra_range_tree t;

	(void)state;
	build_striped(&t, h);
	assert_int_equal(collect(&t, order, ITER_N), ITER_N);
	for (unsigned i = 0; i < ITER_N; i++)
		assert_ptr_equal(handler_of(order[i]), &h[i]);
}

static void test_iteration_survives_removing_the_current_node(void **state)
{
	static struct handler h[ITER_N];
	struct umbra_range_tree t;
	struct umbra_range_node *n, *next;
	unsigned visited = 0;

	(void)state;
	build_striped(&t, h);
	/* Remove every other range while iterating. */
	for (n = umbra_range_tree_first(&t); n; n = next) {
		struct handler *cur = handler_of(n);

		assert_ptr_equal(cur, &h[visited]);
		visited++;
		if (cur->id % 2 == 0) {
			umbra_range_tree_remove(&t, n);
			assert_true(umbra_range_tree_check(&t));
		}
		next = umbra_range_tree_next(&t, n);
	}
	assert_int_equal(visited, ITER_N);
	assert_int_equal(t.count, ITER_N / 2);
	for (unsigned i = 0; i < ITER_N; i++)
		assert_ptr_equal(umbra_range_tree_find(&t, h[i].node.start),
				 i % 2 ? &h[i].node : NULL);
}

/* ---- balance ------------------------------------------------------------ */

#define SEQ_N 4095 /* 2^12 - 1 */

static void assert_balanced(const struct umbra_range_tree *t)
{
	unsigned hgt = measured_height(t->root);

	assert_true(umbra_range_tree_check(t));
	assert_int_equal(t->root ? t->root->height : 0, hgt);
	assert_true(hgt <= avl_max_height(t->count));
	assert_true(hgt >= ceil_log2((uint64_t)t->count + 1));
}

static void test_avl_max_height_helper_matches_fibonacci_bound(void **state)
{
	(void)state;
	/* Sparsest AVL trees: heights 1..6 need 1, 2, 4, 7, 12, 20 nodes. */
	assert_int_equal(avl_max_height(1), 1);
	assert_int_equal(avl_max_height(2), 2);
	assert_int_equal(avl_max_height(3), 2);
	assert_int_equal(avl_max_height(4), 3);
	assert_int_equal(avl_max_height(7), 4);
	assert_int_equal(avl_max_height(11), 4);
	assert_int_equal(avl_max_height(12), 5);
	assert_int_equal(avl_max_height(20), 6);
	/* The header's limit: 45 high for UINT32_MAX nodes, plus one step. */
	assert_int_equal(avl_max_height(UINT32_MAX) + 1,
			 UMBRA_RANGE_TREE_MAX_HEIGHT);
}

static void test_sequential_inserts_stay_balanced(void **state)
{
	static struct handler h[SEQ_N];
	struct umbra_range_tree t;

	(void)state;
	/* Ascending: a plain BST would become a list 4095 deep.  AVL
	 * insertion of 2^k - 1 ascending keys yields the perfect tree. */
	umbra_range_tree_init(&t);
	for (unsigned i = 0; i < SEQ_N; i++) {
		set_range(&h[i], i, i * PAGE_SIZE, i * PAGE_SIZE + PAGE_SIZE - 1);
		assert_true(umbra_range_tree_insert(&t, &h[i].node));
		assert_true(measured_height(t.root) <= avl_max_height(t.count));
	}
	assert_balanced(&t);
	assert_int_equal(measured_height(t.root), 12);

	/* Removing in ascending order keeps it balanced too. */
	for (unsigned i = 0; i < SEQ_N; i++) {
		umbra_range_tree_remove(&t, &h[i].node);
		if (i % 64 == 0)
			assert_balanced(&t);
	}
	assert_int_equal(t.count, 0);
	assert_null(t.root);

	/* Descending, up to the top of the address space. */
	for (unsigned i = 0; i < SEQ_N; i++) {
		uint64_t last = TOP - i * PAGE_SIZE;

		set_range(&h[i], i, last - PAGE_SIZE + 1, last);
		assert_true(umbra_range_tree_insert(&t, &h[i].node));
	}
	assert_balanced(&t);
	assert_int_equal(measured_height(t.root), 12);

	/* Remove from the middle outwards. */
	for (unsigned k = 0; k < SEQ_N; k++) {
		unsigned i = k % 2 ? SEQ_N / 2 + (k + 1) / 2
				   : SEQ_N / 2 - k / 2;

		umbra_range_tree_remove(&t, &h[i].node);
		if (k % 64 == 0)
			assert_balanced(&t);
	}
	assert_int_equal(t.count, 0);
}

/* ---- the audit ---------------------------------------------------------- */

/* A perfect tree of 7 ranges [i*16, i*16+7]; h[3] is the root. */
static void build_seven(struct umbra_range_tree *t, struct handler *h)
{
	umbra_range_tree_init(t);
	for (unsigned i = 0; i < 7; i++) {
		set_range(&h[i], i, i * 16ull, i * 16ull + 7);
		insert_ok(t, &h[i]);
	}
	assert_ptr_equal(t->root, &h[3].node);
	assert_ptr_equal(t->root->left, &h[1].node);
	assert_ptr_equal(t->root->right, &h[5].node);
}

static void test_check_detects_corruption(void **state)
{
	struct umbra_range_tree t;
	struct handler h[7], extra;

	(void)state;

	build_seven(&t, h);
	t.count = 6; /* count too small */
	assert_false(umbra_range_tree_check(&t));
	t.count = 8; /* count too large */
	assert_false(umbra_range_tree_check(&t));

	build_seven(&t, h);
	h[4].node.last = 0x50; /* overlaps its in-order successor h[5] */
	assert_false(umbra_range_tree_check(&t));

	build_seven(&t, h);
	h[2].node.start = 0x40; /* moved right of its ancestor h[3] */
	h[2].node.last = 0x47;
	assert_false(umbra_range_tree_check(&t));

	build_seven(&t, h);
	h[6].node.start = h[6].node.last + 1; /* start > last */
	assert_false(umbra_range_tree_check(&t));

	build_seven(&t, h);
	h[1].node.height = 3; /* stored height wrong */
	assert_false(umbra_range_tree_check(&t));

	build_seven(&t, h);
	h[6].node.right = t.root; /* a cycle */
	assert_false(umbra_range_tree_check(&t));

	/* Unbalanced: a chain of three, heights stored correctly. */
	umbra_range_tree_init(&t);
	set_range(&extra, 9, 0x100, 0x100);
	h[0].node = (struct umbra_range_node){ .start = 0, .last = 0,
					       .right = &h[1].node,
					       .height = 3 };
	h[1].node = (struct umbra_range_node){ .start = 1, .last = 1,
					       .right = &h[2].node,
					       .height = 2 };
	h[2].node = (struct umbra_range_node){ .start = 2, .last = 2,
					       .height = 1 };
	t.root = &h[0].node;
	t.count = 3;
	assert_false(umbra_range_tree_check(&t));
	/* The same three, balanced, pass. */
	h[1].node = (struct umbra_range_node){ .start = 1, .last = 1,
					       .left = &h[0].node,
					       .right = &h[2].node,
					       .height = 2 };
	h[0].node = (struct umbra_range_node){ .start = 0, .last = 0,
					       .height = 1 };
	t.root = &h[1].node;
	assert_true(umbra_range_tree_check(&t));
	/* A node left of a range starting at 0 cannot be in order (heights
	 * kept right, so only the order is wrong). */
	h[0].node.left = &extra.node;
	h[0].node.height = 2;
	h[1].node.height = 3;
	assert_false(umbra_range_tree_check(&t));

	/* Likewise a node right of a range ending at the top. */
	umbra_range_tree_init(&t);
	set_range(&h[0], 0, TOP, TOP);
	set_range(&h[1], 1, 0x100, 0x100);
	h[0].node.right = &h[1].node;
	h[0].node.height = 2;
	h[1].node.height = 1;
	t.root = &h[0].node;
	t.count = 2;
	assert_false(umbra_range_tree_check(&t));
	/* Moved to the left, where it belongs, it passes. */
	h[0].node.right = NULL;
	h[0].node.left = &h[1].node;
	assert_true(umbra_range_tree_check(&t));
}

/*
 * A corrupted tree deeper than any AVL tree can be: a chain of ordered
 * nodes.  Insertion and removal must refuse to follow it past their bounded
 * path (ASan would see the overflow) rather than misbehave, and the audit
 * must reject it.
 */
#define CHAIN_N (UMBRA_RANGE_TREE_MAX_HEIGHT + 4)

static void test_corrupt_deep_tree_is_refused_without_overflow(void **state)
{
	static struct handler chain[CHAIN_N];
	struct umbra_range_tree t;
	struct handler beyond, root, low;

	(void)state;
	/* chain[0] <- chain[1] <- ... : each the left child of the next one,
	 * all hanging right of `root`, with `low` left of it. */
	set_range(&low, 100, 0, 0);
	set_range(&root, 101, 10, 10);
	for (unsigned i = 0; i < CHAIN_N; i++) {
		set_range(&chain[i], i, 100 + i, 100 + i);
		chain[i].node.left = i ? &chain[i - 1].node : NULL;
		chain[i].node.height = (uint8_t)(i + 1);
	}
	root.node.left = &low.node;
	root.node.right = &chain[CHAIN_N - 1].node;
	root.node.height = CHAIN_N + 1;
	low.node.height = 1;
	t.root = &root.node;
	t.count = CHAIN_N + 2;
	assert_false(umbra_range_tree_check(&t));

	/* The successor of root is at the bottom of the chain. */
	umbra_range_tree_remove(&t, &root.node);
	assert_ptr_equal(t.root, &root.node);
	assert_int_equal(t.count, CHAIN_N + 2);
	/* So is the only place a range below chain[0] could go. */
	set_range(&beyond, 102, 50, 50);
	assert_false(umbra_range_tree_insert(&t, &beyond.node));
	assert_int_equal(t.count, CHAIN_N + 2);
	/* chain[0] itself is too deep to be reached. */
	umbra_range_tree_remove(&t, &chain[0].node);
	assert_ptr_equal(chain[1].node.left, &chain[0].node);
	assert_int_equal(t.count, CHAIN_N + 2);
	/* Lookups need no path and still work. */
	assert_ptr_equal(handler_of(umbra_range_tree_find(&t, 100)), &chain[0]);
}

/* ---- randomized model test ---------------------------------------------- */

/*
 * The model: the ranges in the tree, as an array sorted by start.  Every
 * operation is applied to both and the answers compared; the tree is
 * audited after every operation and fully compared (by iteration) often.
 */
#define MODEL_POOL   200  /* nodes available; about half end up inserted */
#define MODEL_OPS    40000
#define MODEL_SEED   0x5eed2024u
#define MODEL_WINDOW 0x4000ull /* each address region's size */

struct model {
	struct umbra_range_node *sorted[MODEL_POOL];
	size_t n;
};

/* splitmix64: a small deterministic generator. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

/* An address in one of three crowded regions: at 0, in the middle, and at
 * the top of the address space, so the edges are exercised all the time. */
static uint64_t random_addr(uint64_t *s)
{
	static const uint64_t region_base[] = {
		0, 1ull << 47, TOP - MODEL_WINDOW + 1,
	};

	return region_base[rng_below(s, 3)] + rng_below(s, MODEL_WINDOW);
}

/* A random range, without wrapping past the top; sometimes inverted. */
static void random_range(uint64_t *s, uint64_t *start, uint64_t *last)
{
	uint64_t len = 1 + rng_below(s, rng_below(s, 4) ? 0x100 : 0x1000);

	*start = random_addr(s);
	*last = *start > TOP - (len - 1) ? TOP : *start + (len - 1);
	if (rng_below(s, 50) == 0) {
		uint64_t tmp = *start;

		*start = *last;
		*last = tmp;
	}
}

static bool ranges_overlap(uint64_t s1, uint64_t l1, uint64_t s2, uint64_t l2)
{
	return s1 <= l2 && s2 <= l1;
}

static bool model_accepts(const struct model *m, uint64_t start,
			  uint64_t last)
{
	if (start > last)
		return false;
	for (size_t i = 0; i < m->n; i++)
		if (ranges_overlap(start, last, m->sorted[i]->start,
				   m->sorted[i]->last))
			return false;
	return true;
}

static void model_insert(struct model *m, struct umbra_range_node *n)
{
	size_t i = m->n;

	while (i > 0 && m->sorted[i - 1]->start > n->start) {
		m->sorted[i] = m->sorted[i - 1];
		i--;
	}
	m->sorted[i] = n;
	m->n++;
}

static void model_remove(struct model *m, size_t i)
{
	memmove(&m->sorted[i], &m->sorted[i + 1],
		(m->n - i - 1) * sizeof(m->sorted[0]));
	m->n--;
}

static struct umbra_range_node *model_first_overlap(const struct model *m,
						    uint64_t start,
						    uint64_t last)
{
	for (size_t i = 0; i < m->n; i++)
		if (ranges_overlap(start, last, m->sorted[i]->start,
				   m->sorted[i]->last))
			return m->sorted[i];
	return NULL;
}

static void assert_same_as_model(const struct umbra_range_tree *t,
				 const struct model *m)
{
	static struct umbra_range_node *got[MODEL_POOL];

	assert_int_equal(t->count, m->n);
	assert_int_equal(collect(t, got, MODEL_POOL), m->n);
	for (size_t i = 0; i < m->n; i++)
		assert_ptr_equal(got[i], m->sorted[i]);
}

static void test_random_operations_match_sorted_array_model(void **state)
{
	static struct umbra_range_node pool[MODEL_POOL];
	static bool in_tree[MODEL_POOL];
	static struct model m;
	struct umbra_range_tree t;
	uint64_t rng = MODEL_SEED;
	unsigned inserts = 0, refusals = 0, removals = 0, hits = 0;

	(void)state;
	umbra_range_tree_init(&t);
	memset(in_tree, 0, sizeof(in_tree));
	m.n = 0;

	for (unsigned op = 0; op < MODEL_OPS; op++) {
		uint64_t start, last;
		unsigned choice = (unsigned)rng_below(&rng, 4);
		size_t k = (size_t)rng_below(&rng, MODEL_POOL);

		switch (choice) {
		case 0: /* insert the pool node k if free, else remove it */
		case 1:
			if (!in_tree[k]) {
				bool expect, got;

				random_range(&rng, &start, &last);
				expect = model_accepts(&m, start, last);
				pool[k].start = start;
				pool[k].last = last;
				got = umbra_range_tree_insert(&t, &pool[k]);
				assert_int_equal(got, expect);
				if (got) {
					model_insert(&m, &pool[k]);
					in_tree[k] = true;
					inserts++;
				} else {
					refusals++;
				}
				break;
			}
			for (size_t i = 0; i < m.n; i++) {
				if (m.sorted[i] == &pool[k]) {
					model_remove(&m, i);
					break;
				}
			}
			umbra_range_tree_remove(&t, &pool[k]);
			in_tree[k] = false;
			removals++;
			break;
		case 2: { /* find */
			uint64_t a = random_addr(&rng);
			struct umbra_range_node *want =
				model_first_overlap(&m, a, a);

			assert_ptr_equal(umbra_range_tree_find(&t, a), want);
			hits += want != NULL;
			break;
		}
		default: /* first_overlap */
			random_range(&rng, &start, &last);
			assert_ptr_equal(
				umbra_range_tree_first_overlap(&t, start, last),
				start > last ? NULL
					     : model_first_overlap(&m, start,
								   last));
			break;
		}
		assert_true(umbra_range_tree_check(&t));
		assert_int_equal(t.count, m.n);
		assert_true(measured_height(t.root) <= avl_max_height(t.count));
		if (op % 16 == 0)
			assert_same_as_model(&t, &m);
	}
	assert_same_as_model(&t, &m);

	/* The run exercised every path, not just one. */
	print_message("model: %u inserts, %u refusals, %u removals, "
		      "%u find hits, %zu ranges at the end\n",
		      inserts, refusals, removals, hits, m.n);
	assert_true(inserts > 1000);
	assert_true(refusals > 1000);
	assert_true(removals > 1000);
	assert_true(hits > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_tree_finds_nothing),
		cmocka_unit_test(test_insert_find_remove_basics),
		cmocka_unit_test(test_remove_of_node_not_in_tree_changes_nothing),
		cmocka_unit_test(test_insert_refuses_overlap_by_one_address),
		cmocka_unit_test(test_insert_refuses_overlap_deep_in_tree),
		cmocka_unit_test(test_insert_accepts_ranges_touching_at_boundaries),
		cmocka_unit_test(test_insert_refuses_start_after_last),
		cmocka_unit_test(test_ranges_at_address_zero_and_top),
		cmocka_unit_test(test_range_covering_whole_address_space),
		cmocka_unit_test(test_first_overlap_returns_lowest_overlapping_range),
		cmocka_unit_test(test_page_query_visits_every_touching_range),
		cmocka_unit_test(test_next_iterates_in_order_over_all_ranges),
		cmocka_unit_test(test_iteration_survives_removing_the_current_node),
		cmocka_unit_test(test_avl_max_height_helper_matches_fibonacci_bound),
		cmocka_unit_test(test_sequential_inserts_stay_balanced),
		cmocka_unit_test(test_check_detects_corruption),
		cmocka_unit_test(test_corrupt_deep_tree_is_refused_without_overflow),
		cmocka_unit_test(test_random_operations_match_sorted_array_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
