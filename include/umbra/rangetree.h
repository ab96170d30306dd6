/*
 * Range trees: sets of non-overlapping closed ranges [start, last] of 64-bit
 * addresses, with O(log n) lookup of the range containing an address.
 *
 * The shadow engine keeps its access handlers in them: one tree of
 * guest-physical handlers (MMIO, write monitoring), and trees of
 * guest-virtual handlers (one per address space, one for all address
 * spaces).  Every page fault asks "which handler covers this address?" and
 * "which handlers touch this 4 KiB page?", so lookups must be logarithmic.
 *
 * The tree is intrusive: a struct umbra_range_node is embedded in the
 * caller's own structure (recover it with UMBRA_RANGE_ENTRY), and the tree
 * only links those nodes together.  It never allocates.
 *
 * The tree is an AVL tree ordered by start.  Because ranges never overlap,
 * ordering by start also orders by last, and the ranges of any subtree lie
 * strictly between the ranges of its ancestors' neighbours.  An AVL tree of
 * n nodes is at most about 1.44 log2(n) high, so every operation touches at
 * most UMBRA_RANGE_TREE_MAX_HEIGHT nodes; the implementation uses no
 * recursion except in the audit, whose depth it bounds by the same limit.
 *
 * Ranges are inclusive at both ends so that a range may end at UINT64_MAX
 * (a half-open [start, end) could not express it).  Nothing here computes
 * last + 1 or start - 1 without first checking for the edge.
 *
 * The tree is not thread-safe; its owner serializes access.
 */
#ifndef UMBRA_ENGINE_RANGETREE_H
#define UMBRA_ENGINE_RANGETREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The most nodes on any root-to-leaf path.  A tree holds at most UINT32_MAX
 * nodes (its count is 32 bits).  The sparsest AVL tree of height h has
 * F(h + 2) - 1 nodes (F = Fibonacci, F(1) = F(2) = 1); F(47) - 1 =
 * 2971215072 fits in 32 bits and F(48) - 1 does not, so a valid tree is at
 * most 45 high.  An insertion walks one step below the old height before
 * it rebalances: 46.
 */
#define UMBRA_RANGE_TREE_MAX_HEIGHT 46

/* One range.  Set start and last before inserting; the tree owns the rest. */
struct umbra_range_node {
	uint64_t start; /* first address of the range */
	uint64_t last;  /* last address of the range (inclusive) */
	struct umbra_range_node *left;  /* ranges below start */
	struct umbra_range_node *right; /* ranges above last */
	uint8_t height; /* nodes on the longest path down to a leaf: leaf = 1 */
};

struct umbra_range_tree {
	struct umbra_range_node *root;
	uint32_t count; /* nodes in the tree */
};

/* The structure of type `type` whose member `member` is the node `node`. */
#define UMBRA_RANGE_ENTRY(node, type, member) \
	((type *)(void *)((char *)(node) - offsetof(type, member)))

/* An empty tree. */
void umbra_range_tree_init(struct umbra_range_tree *tree);

/*
 * Link `node` into the tree.  Refused (false, tree unchanged) when
 * node->start > node->last, when [start, last] shares any address with a
 * range already in the tree (ranges that merely touch, one ending at a and
 * the next starting at a + 1, are fine), or when the tree already holds
 * UINT32_MAX nodes.  Inserting a node that is already in the tree is an
 * overlap, hence refused.
 */
bool umbra_range_tree_insert(struct umbra_range_tree *tree,
			     struct umbra_range_node *node);

/*
 * Unlink `node`, which must be in the tree.  A node that is not (no node of
 * the tree is this very node) leaves the tree unchanged.
 */
void umbra_range_tree_remove(struct umbra_range_tree *tree,
			     struct umbra_range_node *node);

/* The node whose range contains addr, or NULL. */
struct umbra_range_node *umbra_range_tree_find(
	const struct umbra_range_tree *tree, uint64_t addr);

/*
 * The lowest node whose range shares an address with [start, last], or NULL
 * (also NULL when start > last: the empty range overlaps nothing).  The
 * others follow through umbra_range_tree_next while their start <= last.
 */
struct umbra_range_node *umbra_range_tree_first_overlap(
	const struct umbra_range_tree *tree, uint64_t start, uint64_t last);

/* The lowest node of the tree, or NULL when the tree is empty. */
struct umbra_range_node *umbra_range_tree_first(
	const struct umbra_range_tree *tree);

/*
 * The in-order successor of `node` (the node with the next higher range),
 * or NULL.  Found by a search from the root: O(log n), no parent pointers.
 * Only node->last is read, so `node` may be a node just removed from the
 * tree: iteration survives removing the current node.
 */
struct umbra_range_node *umbra_range_tree_next(
	const struct umbra_range_tree *tree,
	const struct umbra_range_node *node);

/*
 * Audit: every range well formed (start <= last), ranges in order and not
 * overlapping, every stored height right, every node AVL-balanced (child
 * heights differ by at most one), the height within
 * UMBRA_RANGE_TREE_MAX_HEIGHT, and count equal to the number of nodes.
 * Safe on a corrupted tree (cycles, too many nodes): it stops at the first
 * violation.
 */
bool umbra_range_tree_check(const struct umbra_range_tree *tree);

#endif
