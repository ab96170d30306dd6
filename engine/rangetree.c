/*
 * Range trees: an intrusive AVL tree of non-overlapping inclusive ranges
 * (see rangetree.h for the contract).
 *
 * Without parent pointers, insertion and removal remember the way down in a
 * path: the addresses of the links (the root pointer, or a left or right
 * field) they followed, at most UMBRA_RANGE_TREE_MAX_HEIGHT of them.  After
 * changing the tree at the bottom of the path they walk it back up,
 * recomputing heights and rotating where a node became unbalanced; each
 * rotation stores the subtree's new root through the link that pointed at
 * the old one.  A rotation rearranges only the subtree below its link, so the
 * links still to be visited (higher up the path) stay valid.
 *
 * AVL invariant: at every node, the heights of the two subtrees differ by at
 * most one.  An insertion or removal changes one subtree's height by one, so
 * an unbalanced node is off by exactly two and one single or double rotation
 * restores it (Knuth, TAOCP vol. 3, 6.2.3).
 */
#include "umbra/rangetree.h"

/* Heights of subtrees that may differ at one node of a valid AVL tree. */
#define AVL_MAX_SKEW 1

/* The way down from the root: the links followed, topmost first. */
struct path {
	struct umbra_range_node **link[UMBRA_RANGE_TREE_MAX_HEIGHT];
	unsigned depth;
};

/* ---- heights and rotations --------------------------------------------- */

/* The height of a possibly empty subtree: an empty one is 0 high. */
static unsigned height(const struct umbra_range_node *n)
{
	return n ? n->height : 0;
}

/* Left height minus right height: positive when left-heavy. */
static int skew(const struct umbra_range_node *n)
{
	return (int)height(n->left) - (int)height(n->right);
}

static void update_height(struct umbra_range_node *n)
{
	unsigned l = height(n->left), r = height(n->right);

	n->height = (uint8_t)(1 + (l > r ? l : r));
}

/*
 *       n                l
 *      / \              / \
 *     l   c    -->     a   n
 *    / \                  / \
 *   a   b                b   c
 *
 * Order is kept (a < l < b < n < c).  Returns the new subtree root.
 */
static struct umbra_range_node *rotate_right(struct umbra_range_node *n)
{
	struct umbra_range_node *l = n->left;

	n->left = l->right;
	l->right = n;
	update_height(n);
	update_height(l);
	return l;
}

/* The mirror image of rotate_right. */
static struct umbra_range_node *rotate_left(struct umbra_range_node *n)
{
	struct umbra_range_node *r = n->right;

	n->right = r->left;
	r->left = n;
	update_height(n);
	update_height(r);
	return r;
}

/*
 * Restore the AVL invariant at n, whose subtrees are valid AVL trees with
 * heights differing by at most two, and refresh its height.  Returns the
 * subtree's new root.  A left-heavy n whose left child leans right needs the
 * double rotation (left child first), since a single right rotation would
 * only move the imbalance to the other side; and symmetrically.
 */
static struct umbra_range_node *rebalance(struct umbra_range_node *n)
{
	int s = skew(n);

	if (s > AVL_MAX_SKEW) {
		if (skew(n->left) < 0)
			n->left = rotate_left(n->left);
		return rotate_right(n);
	}
	if (s < -AVL_MAX_SKEW) {
		if (skew(n->right) > 0)
			n->right = rotate_right(n->right);
		return rotate_left(n);
	}
	update_height(n);
	return n;
}

/*
 * Walk back up the path from link[end - 1] to link[0], the root link,
 * rebalancing the subtree each link points to (the change happened below
 * link[end - 1]).  Once a subtree comes out as high as it was before the
 * change, nothing above it can have changed (a node's height and balance
 * depend only on its subtrees' heights): stop there.  Until this visits a
 * node, its stored height is still the one from before the change.
 */
static void retrace(struct path *p, unsigned end)
{
	unsigned i = end;

	while (i > 0) {
		struct umbra_range_node **link = p->link[--i];
		unsigned old_height = (*link)->height;

		*link = rebalance(*link);
		if ((*link)->height == old_height)
			return;
	}
}

/* ---- searches ---------------------------------------------------------- */

/*
 * The lowest node whose range ends at or after addr, or NULL.  Since ranges
 * are disjoint and ordered, "last >= addr" is false for a prefix of the
 * in-order sequence and true for the rest: keep the leftmost node seen where
 * it holds, and go left of it for a lower one.
 */
static struct umbra_range_node *lowest_ending_at_or_after(
	const struct umbra_range_tree *tree, uint64_t addr)
{
	struct umbra_range_node *n = tree->root, *found = NULL;

	while (n) {
		if (n->last >= addr) {
			found = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return found;
}

void umbra_range_tree_init(struct umbra_range_tree *tree)
{
	tree->root = NULL;
	tree->count = 0;
}

struct umbra_range_node *umbra_range_tree_find(
	const struct umbra_range_tree *tree, uint64_t addr)
{
	struct umbra_range_node *n = tree->root;

	while (n) {
		if (addr < n->start)
			n = n->left;
		else if (addr > n->last)
			n = n->right;
		else
			return n;
	}
	return NULL;
}

struct umbra_range_node *umbra_range_tree_first_overlap(
	const struct umbra_range_tree *tree, uint64_t start, uint64_t last)
{
	struct umbra_range_node *n;

	if (start > last)
		return NULL;
	/* The first range not wholly below [start, last] overlaps it unless it
	 * lies wholly above. */
	n = lowest_ending_at_or_after(tree, start);
	return n && n->start <= last ? n : NULL;
}

struct umbra_range_node *umbra_range_tree_first(
	const struct umbra_range_tree *tree)
{
	struct umbra_range_node *n = tree->root;

	while (n && n->left)
		n = n->left;
	return n;
}

struct umbra_range_node *umbra_range_tree_next(
	const struct umbra_range_tree *tree,
	const struct umbra_range_node *node)
{
	/* A range ending at the top of the address space has no successor
	 * (and node->last + 1 would wrap to 0). */
	if (node->last == UINT64_MAX)
		return NULL;
	return lowest_ending_at_or_after(tree, node->last + 1);
}

/* ---- insertion --------------------------------------------------------- */

bool umbra_range_tree_insert(struct umbra_range_tree *tree,
			     struct umbra_range_node *node)
{
	struct path p;
	struct umbra_range_node **link = &tree->root;

	if (node->start > node->last || tree->count == UINT32_MAX)
		return false;

	/*
	 * Any range overlapping the new one stays in the subtree we descend
	 * into: a node lying wholly above the new range has everything right
	 * of it above too, and symmetrically.  So reaching an empty link
	 * proves there is no overlap, and meeting one is the only way to find
	 * one.  Nothing is changed until the descent succeeds.
	 */
	p.depth = 0;
	while (*link) {
		struct umbra_range_node *n = *link;

		if (!(node->last < n->start || node->start > n->last))
			return false; /* overlap */
		if (p.depth == UMBRA_RANGE_TREE_MAX_HEIGHT)
			return false; /* deeper than any valid tree: corrupt */
		p.link[p.depth++] = link;
		link = node->last < n->start ? &n->left : &n->right;
	}

	node->left = NULL;
	node->right = NULL;
	node->height = 1;
	*link = node;
	tree->count++;
	retrace(&p, p.depth);
	return true;
}

/* ---- removal ----------------------------------------------------------- */

/*
 * Record the way down to `node` in p, ending with the link that points at
 * it.  Starts are unique (ranges are disjoint), so the search by start is
 * exact.  False if this very node is not in the tree.
 */
static bool path_to_node(struct umbra_range_tree *tree,
			 const struct umbra_range_node *node, struct path *p)
{
	struct umbra_range_node **link = &tree->root;

	p->depth = 0;
	while (*link && p->depth < UMBRA_RANGE_TREE_MAX_HEIGHT) {
		struct umbra_range_node *n = *link;

		p->link[p->depth++] = link;
		if (node->start < n->start)
			link = &n->left;
		else if (node->start > n->start)
			link = &n->right;
		else
			return n == node;
	}
	return false;
}

/*
 * Extend p, which ends at a node with a right child, down to that node's
 * in-order successor: the leftmost node of its right subtree.  False (p
 * unusable) only if the tree is deeper than any valid tree.
 */
static bool extend_to_successor(struct path *p)
{
	struct umbra_range_node *node = *p->link[p->depth - 1];
	struct umbra_range_node **link = &node->right;

	for (;;) {
		if (p->depth == UMBRA_RANGE_TREE_MAX_HEIGHT)
			return false;
		p->link[p->depth++] = link;
		if (!(*link)->left)
			return true;
		link = &(*link)->left;
	}
}

/*
 * Remove the node at p->link[node_at], which has two children, by moving
 * its successor, at the bottom of p, into its place.  The nodes are the
 * caller's, so they are relinked rather than having their ranges copied.
 */
static void replace_with_successor(struct path *p, unsigned node_at)
{
	struct umbra_range_node *node = *p->link[node_at];
	struct umbra_range_node **succ_link = p->link[p->depth - 1];
	struct umbra_range_node *succ = *succ_link;

	*succ_link = succ->right;    /* unlink the successor: no left child */
	succ->left = node->left;     /* and put it where node was; */
	succ->right = node->right;   /* (already updated if succ_link was it) */
	succ->height = node->height; /* the old height, for retrace */
	*p->link[node_at] = succ;
	/* The next link down the path was node's own right field. */
	p->link[node_at + 1] = &succ->right;
}

void umbra_range_tree_remove(struct umbra_range_tree *tree,
			     struct umbra_range_node *node)
{
	struct path p;
	unsigned node_at;

	if (!path_to_node(tree, node, &p))
		return;
	node_at = p.depth - 1;

	if (node->left && node->right) {
		if (!extend_to_successor(&p))
			return;
		replace_with_successor(&p, node_at);
	} else {
		/* At most one child: it takes node's place as it is. */
		*p.link[node_at] = node->left ? node->left : node->right;
	}
	tree->count--;
	/* The subtree at the bottom of the path (where a node left) is intact;
	 * rebalance everything above it. */
	retrace(&p, p.depth - 1);

	node->left = NULL;
	node->right = NULL;
	node->height = 0;
}

/* ---- audit ------------------------------------------------------------- */

/* What check_subtree carries down the tree and counts. */
struct audit {
	uint32_t budget; /* nodes the tree may still hold: count minus seen */
	bool ok;
};

/*
 * Check the subtree at n, all of whose ranges must lie in [lo, hi], at the
 * given depth; return its height.  Recursion is bounded: a path deeper than
 * UMBRA_RANGE_TREE_MAX_HEIGHT is a violation (it also catches cycles), and
 * visiting more nodes than count is one too (a corrupted tree sharing
 * subtrees would otherwise cost exponential time).
 */
static unsigned check_subtree(const struct umbra_range_node *n, uint64_t lo,
			      uint64_t hi, unsigned depth, struct audit *a)
{
	unsigned lh = 0, rh = 0, h;

	if (!n || !a->ok)
		return 0;
	if (depth >= UMBRA_RANGE_TREE_MAX_HEIGHT || a->budget == 0 ||
	    n->start > n->last || n->start < lo || n->last > hi) {
		a->ok = false;
		return 0;
	}
	a->budget--;

	/* Left ranges end before start, right ranges begin after last: a
	 * range at address 0 (or UINT64_MAX) leaves no room on that side. */
	if (n->left) {
		if (n->start == 0)
			a->ok = false;
		else
			lh = check_subtree(n->left, lo, n->start - 1,
					   depth + 1, a);
	}
	if (n->right) {
		if (n->last == UINT64_MAX)
			a->ok = false;
		else
			rh = check_subtree(n->right, n->last + 1, hi,
					   depth + 1, a);
	}

	h = 1 + (lh > rh ? lh : rh);
	if (n->height != h || (int)lh - (int)rh > AVL_MAX_SKEW ||
	    (int)rh - (int)lh > AVL_MAX_SKEW)
		a->ok = false;
	return h;
}

bool umbra_range_tree_check(const struct umbra_range_tree *tree)
{
	struct audit a = { .budget = tree->count, .ok = true };

	check_subtree(tree->root, 0, UINT64_MAX, 0, &a);
	/* Every counted node seen, no more (the budget caught any excess). */
	return a.ok && a.budget == 0;
}
