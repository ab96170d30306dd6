/*
 * Access handlers: ranges of guest-physical or guest-virtual addresses
 * whose accesses the embedder wants to see (device registers, write
 * monitoring, code patching, ...).  The handlers themselves are the
 * embedder's structures, linked into range trees; the engine only makes
 * sure that no shadow entry lets an access through that a handler claims,
 * and says which handler claims a faulting access.
 *
 * Physical handlers (one tree, keyed by gpa).  What they mean for the
 * shadow is a property of the guest frame, so it is cached per frame of
 * RAM and ROM slots (struct frame.flags: FRAME_HANDLER_ALL / _WRITE, the
 * union of every handler touching the frame), and spte_make_leaf() obeys
 * it without a tree lookup: ALL frames are never mapped, WRITE frames only
 * read-only.  Registering sets the flags and unmaps or write-protects the
 * frames' existing leaves through the reverse map; removing recomputes the
 * flags from the tree, and leaves come back on demand.  Handlers over MMIO
 * or unbacked memory need no flags (nothing maps it); the fault path looks
 * them up in the tree.
 *
 * Virtual handlers (a tree per address space in a small table, plus one
 * tree for every space).  The shadow caches tables by guest frame, so one
 * leaf shadow entry may be visible at several guest-virtual addresses and
 * in several address spaces (a guest page table mapped twice, kernel tables
 * shared by every process, PAE directories shared between PDPTs).  A
 * handler must hold at every one of them, so the rule is enforced on the
 * entry, over all the places it can be reached from, walking the parent
 * lists up to the roots:
 *   - installing a leaf (fault or prefetch): the claims of every handler
 *     covering the page at any place the entry is reachable decide: ALL
 *     forbids the leaf, WRITE makes it read-only (handlers_leaf_claims);
 *   - linking a table under a new parent entry (spte_link_child, including
 *     a PAE root under the PDPT page at a CR3 load) makes its leaves
 *     reachable at new places: its subtree is fixed there
 *     (handlers_linked);
 *   - registering: the new range is fixed in the roots of the space(s) it
 *     covers: the cached long-mode roots of that space (found in the hash by
 *     the top-level table's frame; every cached root for an all-spaces
 *     handler) and the current PAE-format roots.  PAE-format roots not
 *     currently loaded are invisible to the hardware and get fixed when
 *     linked again.
 * The place an address space is identified: a long-mode root is the space
 * of its frame; the vCPU's PAE root page belongs to the current CR3; paging
 * off has no address space (only all-spaces handlers apply).
 *
 * An access the fault path sees at a place with no handler, but whose leaf
 * some other place forbids, cannot be mapped: it comes back as
 * UMBRA_PF_HANDLER with a NULL handler, for plain emulation.  So does the
 * rest of a 4 KiB page a handler covers in part.  Walking up is bounded
 * (VPATH_BUDGET places); beyond it the engine assumes the worst (no leaf,
 * or the whole subtree cleared), which is always safe.
 */
#include "shadow.h"

#define HANDLER_PHYS 1
#define HANDLER_VIRT 2
#define FRAME_HANDLER_MASK (FRAME_HANDLER_ALL | FRAME_HANDLER_WRITE)
/* Places (root, address) one entry may be reached from before the engine
 * stops looking and assumes a handler is there. */
#define VPATH_BUDGET 1024u
#define VA_BITS_LEGACY 32u
#define VA_BITS_LONG4  48u
#define VA_BITS_LONG5  57u
#define VA_BITS_ALL    64u
#define MAX_ACCESS_SIZE 8u

static const struct umbra_handler *handler_of(const struct umbra_range_node *n)
{
	return UMBRA_RANGE_ENTRY(n, const struct umbra_handler, node);
}

static unsigned claim_of(const struct umbra_handler *h)
{
	return h->kind == UMBRA_HANDLER_ALL ? FRAME_HANDLER_ALL
					    : FRAME_HANDLER_WRITE;
}

/* What the handlers of tree t covering any of [lo, hi] claim. */
static unsigned tree_claims(const struct umbra_range_tree *t, uint64_t lo,
			    uint64_t hi)
{
	const struct umbra_range_node *n;
	unsigned claims = 0;

	for (n = umbra_range_tree_first_overlap(t, lo, hi);
	     n && n->start <= hi && !(claims & FRAME_HANDLER_ALL);
	     n = umbra_range_tree_next(t, n))
		claims |= claim_of(handler_of(n));
	return claims;
}

static void count_handlers(struct umbra_mmu *mmu, enum umbra_counter_id c)
{
	umbra_stat_inc(&mmu->stats, c);
	umbra_gauge_set(&mmu->stats, UMBRA_GAUGE_handlers,
			mmu->n_phys_handlers + mmu->n_virt_handlers);
}

void handlers_init(struct umbra_mmu *mmu)
{
	umbra_range_tree_init(&mmu->phys_handlers);
	umbra_range_tree_init(&mmu->virt_global);
	mmu->n_vspaces = 0;
	mmu->n_phys_handlers = 0;
	mmu->n_virt_handlers = 0;
}

/* A handler the caller may register, and its range [start, *last]. */
static bool check_new(struct umbra_mmu *mmu, const struct umbra_handler *h,
		      uint64_t start, uint64_t size, uint64_t *last)
{
	if (!h || !h->fn || h->kind > UMBRA_HANDLER_WRITE || h->registered) {
		mmu->error = "handler: no callback, unknown kind, or already "
			     "registered";
		return false;
	}
	if (size == 0 || start + (size - 1) < start) {
		mmu->error = "handler: the range is empty or wraps around";
		return false;
	}
	*last = start + (size - 1);
	return true;
}

void handlers_claim(struct umbra_mmu *mmu, const struct umbra_handler *h,
		    uint64_t addr, struct umbra_pf_result *out)
{
	out->action = UMBRA_PF_HANDLER;
	out->handler = h;
	out->addr = addr;
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_fault_handler);
}

enum umbra_status umbra_handler_invoke(struct umbra_mmu *mmu,
				       const struct umbra_handler *h,
				       uint64_t addr, unsigned size,
				       enum umbra_access_kind kind,
				       uint64_t *value)
{
	uint64_t last;

	if (!h || !h->registered || !value || size == 0 ||
	    size > MAX_ACCESS_SIZE || kind > UMBRA_ACCESS_FETCH) {
		mmu->error = "handler invoke: unregistered handler, no value, "
			     "size not 1..8 or unknown access kind";
		return UMBRA_ERR_INVALID;
	}
	last = addr + (size - 1) < addr ? UINT64_MAX : addr + (size - 1);
	if (last < h->node.start || addr > h->node.last) {
		mmu->error = "handler invoke: the access is outside the range";
		return UMBRA_ERR_INVALID;
	}
	if (kind != UMBRA_ACCESS_WRITE)
		*value = 0;
	h->fn(h->ctx, h, addr, size, kind, value);
	return UMBRA_OK;
}

/* ---- physical handlers ---------------------------------------------------- */

/* The frames of slot s (indices into s->frame) in [lo, hi]; false if none
 * or the slot keeps no per-frame state. */
static bool slot_frames(const struct slot *s, uint64_t lo, uint64_t hi,
			uint64_t *first, uint64_t *last)
{
	const uint64_t glo = lo / SP_PAGE_SIZE, ghi = hi / SP_PAGE_SIZE;
	const uint64_t send = s->gfn + s->frames - 1;

	if (!s->frame || ghi < s->gfn || glo > send)
		return false;
	*first = (glo > s->gfn ? glo : s->gfn) - s->gfn;
	*last = (ghi < send ? ghi : send) - s->gfn;
	return true;
}

static unsigned phys_page_claims(const struct umbra_mmu *mmu, uint64_t gfn)
{
	return tree_claims(&mmu->phys_handlers, gfn * SP_PAGE_SIZE,
			   gfn * SP_PAGE_SIZE + (SP_PAGE_SIZE - 1));
}

void handlers_slot_added(struct umbra_mmu *mmu, struct slot *s)
{
	const uint64_t lo = s->gfn * SP_PAGE_SIZE;
	const uint64_t hi = (s->gfn + s->frames) * SP_PAGE_SIZE - 1;
	const struct umbra_range_node *n;
	uint64_t first, last, i;

	for (n = umbra_range_tree_first_overlap(&mmu->phys_handlers, lo, hi);
	     n && n->start <= hi; n = umbra_range_tree_next(&mmu->phys_handlers, n))
		if (slot_frames(s, n->start, n->last, &first, &last))
			for (i = first; i <= last; i++)
				s->frame[i].flags |= (uint16_t)claim_of(handler_of(n));
}

enum umbra_status umbra_phys_handler_register(struct umbra_mmu *mmu,
					      struct umbra_handler *h,
					      uint64_t gpa, uint64_t size)
{
	uint64_t last, first_f, last_f, i;
	uint32_t j;
	bool flush = false;

	if (!check_new(mmu, h, gpa, size, &last))
		return UMBRA_ERR_INVALID;
	h->node.start = gpa;
	h->node.last = last;
	if (!umbra_range_tree_insert(&mmu->phys_handlers, &h->node)) {
		mmu->error = "handler: the range overlaps another physical "
			     "handler's";
		return UMBRA_ERR_INVALID;
	}
	h->registered = HANDLER_PHYS;
	h->space = 0;
	mmu->n_phys_handlers++;
	count_handlers(mmu, UMBRA_CTR_handler_registered);
	/* From now on no leaf maps (ALL) or writes (WRITE) these frames. */
	for (j = 0; j < mmu->n_slots; j++) {
		struct slot *s = &mmu->slots[j];

		if (!slot_frames(s, gpa, last, &first_f, &last_f))
			continue;
		for (i = first_f; i <= last_f; i++) {
			s->frame[i].flags |= (uint16_t)claim_of(h);
			if (h->kind == UMBRA_HANDLER_ALL
				    ? spte_unmap_frame_noflush(mmu, s->gfn + i)
				    : spte_write_protect_frame_noflush(mmu,
								       s->gfn + i))
				flush = true;
		}
	}
	if (flush)
		mmu_flush_all(mmu);
	return UMBRA_OK;
}

enum umbra_status umbra_phys_handler_deregister(struct umbra_mmu *mmu,
						struct umbra_handler *h)
{
	uint64_t first_f, last_f, i;
	uint32_t j;

	if (!h || h->registered != HANDLER_PHYS) {
		mmu->error = "handler: not a registered physical handler";
		return UMBRA_ERR_INVALID;
	}
	umbra_range_tree_remove(&mmu->phys_handlers, &h->node);
	h->registered = 0;
	mmu->n_phys_handlers--;
	count_handlers(mmu, UMBRA_CTR_handler_removed);
	/* Other handlers may share the edge pages.  Leaves come back on the
	 * next fault; nothing mapped needs to change now. */
	for (j = 0; j < mmu->n_slots; j++) {
		struct slot *s = &mmu->slots[j];

		if (!slot_frames(s, h->node.start, h->node.last, &first_f,
				 &last_f))
			continue;
		for (i = first_f; i <= last_f; i++)
			s->frame[i].flags = (uint16_t)(
				(s->frame[i].flags & ~FRAME_HANDLER_MASK) |
				phys_page_claims(mmu, s->gfn + i));
	}
	return UMBRA_OK;
}

bool handlers_phys_fault(struct umbra_mmu *mmu, const struct slot *s,
			 uint64_t gpa, bool write, struct umbra_pf_result *out)
{
	const struct umbra_range_node *n =
		umbra_range_tree_find(&mmu->phys_handlers, gpa);
	const struct umbra_handler *h = n ? handler_of(n) : NULL;
	unsigned flags;

	if (h && (h->kind == UMBRA_HANDLER_ALL || write)) {
		handlers_claim(mmu, h, gpa, out);
		return true;
	}
	if (!s || !s->frame)
		return false; /* MMIO or unbacked outside every range */
	flags = s->frame[gpa / SP_PAGE_SIZE - s->gfn].flags;
	if (!(flags & FRAME_HANDLER_ALL) &&
	    !((flags & FRAME_HANDLER_WRITE) && write))
		return false;
	if (write && s->type != UMBRA_SLOT_RAM)
		return false; /* a ROM write outside the range: as always */
	/* The page is claimed, this address is not: emulate it plainly. */
	handlers_claim(mmu, NULL, gpa, out);
	return true;
}

/* ---- virtual handlers: address spaces ------------------------------------ */

/* The current address space (none with paging off). */
static bool current_space(const struct umbra_mmu *mmu, uint64_t *space)
{
	switch (mmu->walker.mode) {
	case UMBRA_MODE_32:
		*space = mmu->regs.cr3 & X86_CR3_ADDR_32;
		return true;
	case UMBRA_MODE_PAE:
		*space = mmu->regs.cr3 & X86_CR3_ADDR_PAE;
		return true;
	case UMBRA_MODE_LONG4:
	case UMBRA_MODE_LONG5:
		*space = mmu->regs.cr3 & X86_CR3_ADDR_LONG;
		return true;
	default:
		return false;
	}
}

static struct vspace *vspace_find(struct umbra_mmu *mmu, uint64_t space)
{
	uint32_t i;

	for (i = 0; i < mmu->n_vspaces; i++)
		if (mmu->vspaces[i].space == space)
			return &mmu->vspaces[i];
	return NULL;
}

static const struct umbra_range_tree *space_tree(struct umbra_mmu *mmu,
						 uint64_t space)
{
	const struct vspace *vs = vspace_find(mmu, space);

	return vs ? &vs->tree : NULL;
}

const struct umbra_handler *handlers_virt_claim(struct umbra_mmu *mmu,
						uint64_t va, bool write)
{
	const struct umbra_range_node *n = NULL;
	const struct umbra_range_tree *t;
	const struct umbra_handler *h;
	uint64_t space;

	if (current_space(mmu, &space) && (t = space_tree(mmu, space)) != NULL)
		n = umbra_range_tree_find(t, va);
	if (!n)
		n = umbra_range_tree_find(&mmu->virt_global, va);
	if (!n)
		return NULL;
	h = handler_of(n);
	return h->kind == UMBRA_HANDLER_ALL || write ? h : NULL;
}

/* ---- virtual handlers: where shadow entries are visible -------------------- */

/* Where a shadow table is seen from: the handlers of its address space
 * (besides the all-spaces ones) and the width of virtual addresses.  `all`
 * pretends a handler covers everything (the safe answer when the engine
 * gives up looking). */
struct view {
	const struct umbra_range_tree *tree;
	unsigned bits;
	bool all;
};

/* A shadow-table address (index bits only) as the guest writes it:
 * sign-extended in long mode. */
static uint64_t canon(uint64_t raw, unsigned bits)
{
	uint64_t sign;

	if (bits >= VA_BITS_ALL)
		return raw;
	sign = 1ull << (bits - 1);
	raw &= (sign << 1) - 1;
	if (bits > VA_BITS_LEGACY && (raw & sign))
		raw |= ~((sign << 1) - 1);
	return raw;
}

static unsigned view_claims(const struct umbra_mmu *mmu, const struct view *v,
			    uint64_t lo, uint64_t hi)
{
	unsigned claims;

	if (v->all)
		return FRAME_HANDLER_ALL;
	claims = tree_claims(&mmu->virt_global, lo, hi);
	if (v->tree && !(claims & FRAME_HANDLER_ALL))
		claims |= tree_claims(v->tree, lo, hi);
	return claims;
}

static bool view_touches(const struct umbra_mmu *mmu, const struct view *v,
			 uint64_t lo, uint64_t hi)
{
	return v->all ||
	       umbra_range_tree_first_overlap(&mmu->virt_global, lo, hi) ||
	       (v->tree && umbra_range_tree_first_overlap(v->tree, lo, hi));
}

/* The address bits one entry of table id spans.  The vCPU's PAE root page
 * is the level above the PAE-format roots: 1 GiB per entry, 4 entries. */
static unsigned entry_shift(const struct umbra_mmu *mmu, uint32_t id)
{
	if (id == mmu->pae_page)
		return X86_PAGE_SHIFT_1G;
	return X86_PAGE_SHIFT_4K +
	       (role_level(mmu->sp[id].role) - 1) * SP_INDEX_BITS;
}

static unsigned entry_count(const struct umbra_mmu *mmu, uint32_t id)
{
	return id == mmu->pae_page ? PAE_ROOT_ENTRIES : SP_ENTRIES;
}

static bool leaf_table(const struct umbra_mmu *mmu, uint32_t id)
{
	return id != mmu->pae_page && role_level(mmu->sp[id].role) == 1;
}

/* Is sp id the top-level table of a long-mode address space? */
static bool long_root(const struct umbra_mmu *mmu, uint32_t id, unsigned *bits)
{
	const uint32_t role = mmu->sp[id].role;

	if (id == mmu->pae_page)
		return false;
	switch (role_gmode(role)) {
	case UMBRA_MODE_LONG4:
		*bits = VA_BITS_LONG4;
		return role_level(role) == 4;
	case UMBRA_MODE_LONG5:
		*bits = VA_BITS_LONG5;
		return role_level(role) == 5;
	default:
		return false;
	}
}

/*
 * Remove what the handlers of view v forbid from the subtree of table id,
 * whose entry 0 maps raw address `base`, for the entries overlapping
 * [lo, hi]: ALL clears a leaf, WRITE takes its write access.
 */
static void fix_subtree(struct umbra_mmu *mmu, uint32_t id, uint64_t base,
			const struct view *v, uint64_t lo, uint64_t hi,
			unsigned depth, bool *flush)
{
	const unsigned shift = entry_shift(mmu, id);
	const uint64_t span = (1ull << shift) - 1;
	const bool leaf = leaf_table(mmu, id);
	uint64_t *table = sp_table(mmu, id);
	unsigned i;

	for (i = 0; i < entry_count(mmu, id) && mmu->sp[id].present; i++) {
		const uint64_t raw = base + ((uint64_t)i << shift);
		const uint64_t first = canon(raw, v->bits), last = first + span;

		if (!(table[i] & X86_PTE_P) || last < lo || first > hi)
			continue;
		if (leaf) {
			unsigned claims = view_claims(mmu, v, first, last);

			if (claims & FRAME_HANDLER_ALL) {
				spte_clear(mmu, id, i);
				*flush = true;
			} else if ((claims & FRAME_HANDLER_WRITE) &&
				   (table[i] & X86_PTE_RW)) {
				table[i] &= ~X86_PTE_RW;
				*flush = true;
			}
		} else if (depth < UMBRA_LEVELS_MAX &&
			   view_touches(mmu, v, first, last)) {
			uint32_t child = sp_from_hpa(mmu, table[i] & SPTE_ADDR);

			if (child)
				fix_subtree(mmu, child, raw, v, lo, hi,
					    depth + 1, flush);
		}
	}
}

/* Walking up from an entry to every place the hardware reaches it. */
struct up {
	struct umbra_mmu *mmu;
	unsigned budget;
	bool gave_up;  /* over budget, or a parent chain deeper than any */
	/* Called for each place: the root's view and the entry's raw
	 * address there; false stops the walk. */
	bool (*visit)(struct up *u, const struct view *v, uint64_t raw);
	unsigned claims;    /* handlers_leaf_claims */
	uint32_t child;     /* handlers_linked */
	unsigned shift;
	bool flush;
};

static bool visit(struct up *u, const struct view *v, uint64_t raw)
{
	if (u->budget == 0) {
		u->gave_up = true;
		return false;
	}
	u->budget--;
	return u->visit(u, v, raw);
}

/* raw: the address bits below table id's own span (the entry's offset). */
static bool walk_up(struct up *u, uint32_t id, uint64_t raw, unsigned depth)
{
	struct umbra_mmu *mmu = u->mmu;
	struct reflist_iter it;
	struct view v = { .tree = NULL, .all = false };
	uint64_t space;
	umbra_ref r;

	if (id == mmu->pae_page) {
		v.bits = VA_BITS_LEGACY;
		if (current_space(mmu, &space))
			v.tree = space_tree(mmu, space);
		return visit(u, &v, raw);
	}
	if (long_root(mmu, id, &v.bits)) {
		v.tree = space_tree(mmu, mmu->sp[id].gfn * SP_PAGE_SIZE);
		return visit(u, &v, raw);
	}
	if (depth >= UMBRA_LEVELS_MAX) {
		u->gave_up = true;
		return false;
	}
	/* A PAE-format root the PDPT page does not hold, or an orphan, has
	 * no parents: nothing reaches it. */
	for (r = reflist_iter_first(&it, &mmu->refs, mmu->sp[id].parents); r;
	     r = reflist_iter_next(&it)) {
		const uint32_t pid = umbra_ref_page(r);

		if (!walk_up(u, pid,
			     raw | ((uint64_t)umbra_ref_index(r)
				    << entry_shift(mmu, pid)),
			     depth + 1))
			return false;
	}
	return true;
}

static bool visit_leaf(struct up *u, const struct view *v, uint64_t raw)
{
	const uint64_t first = canon(raw, v->bits);

	u->claims |= view_claims(u->mmu, v, first, first + (SP_PAGE_SIZE - 1));
	return !(u->claims & FRAME_HANDLER_ALL);
}

/* The claims over leaf entry (id, index); false if the walk gave up. */
static bool leaf_claims(struct umbra_mmu *mmu, uint32_t id, unsigned index,
			unsigned *claims)
{
	struct up u = {
		.mmu = mmu, .budget = VPATH_BUDGET, .visit = visit_leaf,
	};

	walk_up(&u, id, (uint64_t)index << X86_PAGE_SHIFT_4K, 0);
	*claims = u.claims;
	return !u.gave_up;
}

unsigned handlers_leaf_claims(struct umbra_mmu *mmu, uint32_t id,
			      unsigned index)
{
	unsigned claims;

	if (!leaf_claims(mmu, id, index, &claims))
		return FRAME_HANDLER_ALL;
	return claims;
}

uint64_t handlers_narrow_leaf(struct umbra_mmu *mmu, uint32_t id,
			      unsigned index, uint64_t spte)
{
	unsigned claims;

	if (!spte || !mmu->n_virt_handlers)
		return spte;
	claims = handlers_leaf_claims(mmu, id, index);
	if (claims & FRAME_HANDLER_ALL)
		return 0;
	if (claims & FRAME_HANDLER_WRITE)
		spte &= ~X86_PTE_RW;
	return spte;
}

static bool visit_link(struct up *u, const struct view *v, uint64_t raw)
{
	const uint64_t first = canon(raw, v->bits);
	const uint64_t last = first + ((1ull << u->shift) - 1);

	if (view_touches(u->mmu, v, first, last))
		fix_subtree(u->mmu, u->child, raw, v, first, last, 0, &u->flush);
	return true;
}

void handlers_linked(struct umbra_mmu *mmu, uint32_t id, unsigned index,
		     uint32_t child)
{
	struct up u = {
		.mmu = mmu, .budget = VPATH_BUDGET, .visit = visit_link,
		.child = child, .shift = entry_shift(mmu, id),
	};

	walk_up(&u, id, (uint64_t)index << u.shift, 0);
	if (u.gave_up) {
		/* Too many places to check: no leaf below stays. */
		const struct view all = { .bits = VA_BITS_ALL, .all = true };

		fix_subtree(mmu, child, 0, &all, 0, UINT64_MAX, 0, &u.flush);
	}
	if (u.flush)
		mmu_flush_all(mmu);
}

/* A new handler over [lo, hi] in `space`: fix its range in every root the
 * hardware can use for that space now or after a CR3 load. */
static void invalidate_range(struct umbra_mmu *mmu, uint64_t space,
			     uint64_t lo, uint64_t hi)
{
	const bool every = space == UMBRA_HANDLER_ALL_SPACES;
	struct view v = { .tree = NULL, .all = false };
	bool flush = false, has_cur;
	uint64_t cur;
	uint32_t id;

	has_cur = current_space(mmu, &cur);
	if (mmu->shadow_mode == SHADOW_PAE &&
	    (every || (has_cur && cur == space))) {
		v.bits = VA_BITS_LEGACY;
		v.tree = has_cur ? space_tree(mmu, cur) : NULL;
		fix_subtree(mmu, mmu->pae_page, 0, &v, lo, hi, 0, &flush);
	}
	if (every) {
		for (id = 1; id <= mmu->cfg.pool_pages; id++) {
			if (!mmu->sp[id].in_use || !long_root(mmu, id, &v.bits))
				continue;
			v.tree = space_tree(mmu, mmu->sp[id].gfn * SP_PAGE_SIZE);
			fix_subtree(mmu, id, 0, &v, lo, hi, 0, &flush);
		}
	} else if (space % SP_PAGE_SIZE == 0) {
		v.tree = space_tree(mmu, space);
		for (id = sp_hash_first(mmu, space / SP_PAGE_SIZE); id;
		     id = mmu->sp[id].hash_next)
			if (mmu->sp[id].gfn == space / SP_PAGE_SIZE &&
			    long_root(mmu, id, &v.bits))
				fix_subtree(mmu, id, 0, &v, lo, hi, 0, &flush);
	}
	if (flush)
		mmu_flush_all(mmu);
}

void handlers_space_switched(struct umbra_mmu *mmu)
{
	struct view v = { .tree = NULL, .bits = VA_BITS_LEGACY, .all = false };
	bool flush = false;
	uint64_t space;

	if (!mmu->n_virt_handlers || mmu->shadow_mode != SHADOW_PAE)
		return;
	if (current_space(mmu, &space))
		v.tree = space_tree(mmu, space);
	fix_subtree(mmu, mmu->pae_page, 0, &v, 0, UINT64_MAX, 0, &flush);
	if (flush)
		mmu_flush_all(mmu);
}

enum umbra_status umbra_virt_handler_register(struct umbra_mmu *mmu,
					      struct umbra_handler *h,
					      uint64_t space, uint64_t va,
					      uint64_t size)
{
	struct umbra_range_tree *tree;
	struct vspace *vs = NULL;
	bool overlap = false;
	uint64_t last;
	uint32_t i;

	if (!check_new(mmu, h, va, size, &last))
		return UMBRA_ERR_INVALID;
	if (space == UMBRA_HANDLER_ALL_SPACES) {
		for (i = 0; i < mmu->n_vspaces; i++)
			if (umbra_range_tree_first_overlap(&mmu->vspaces[i].tree,
							   va, last))
				overlap = true;
		tree = &mmu->virt_global;
	} else {
		overlap = umbra_range_tree_first_overlap(&mmu->virt_global, va,
							 last) != NULL;
		vs = vspace_find(mmu, space);
		if (!vs && !overlap) {
			if (mmu->n_vspaces == UMBRA_MAX_HANDLER_SPACES) {
				mmu->error = "handler: too many address spaces "
					     "hold virtual handlers";
				return UMBRA_ERR_FULL;
			}
			vs = &mmu->vspaces[mmu->n_vspaces];
			vs->space = space;
			umbra_range_tree_init(&vs->tree);
		}
		tree = vs ? &vs->tree : NULL;
	}
	h->node.start = va;
	h->node.last = last;
	if (overlap || !umbra_range_tree_insert(tree, &h->node)) {
		mmu->error = "handler: the range overlaps another virtual "
			     "handler's in the same address space";
		return UMBRA_ERR_INVALID;
	}
	if (vs == &mmu->vspaces[mmu->n_vspaces])
		mmu->n_vspaces++;
	h->registered = HANDLER_VIRT;
	h->space = space;
	mmu->n_virt_handlers++;
	count_handlers(mmu, UMBRA_CTR_handler_registered);
	invalidate_range(mmu, space, va, last);
	return UMBRA_OK;
}

enum umbra_status umbra_virt_handler_deregister(struct umbra_mmu *mmu,
						struct umbra_handler *h)
{
	struct vspace *vs = NULL;

	if (!h || h->registered != HANDLER_VIRT) {
		mmu->error = "handler: not a registered virtual handler";
		return UMBRA_ERR_INVALID;
	}
	if (h->space != UMBRA_HANDLER_ALL_SPACES) {
		vs = vspace_find(mmu, h->space);
		if (!vs) {
			mmu->error = "handler: its address space is unknown";
			return UMBRA_ERR_INVALID;
		}
	}
	umbra_range_tree_remove(vs ? &vs->tree : &mmu->virt_global, &h->node);
	if (vs && vs->tree.count == 0)
		*vs = mmu->vspaces[--mmu->n_vspaces]; /* trees move by value */
	h->registered = 0;
	mmu->n_virt_handlers--;
	count_handlers(mmu, UMBRA_CTR_handler_removed);
	/* Narrowed leaves widen again on their next fault. */
	return UMBRA_OK;
}

/* ---- audit ----------------------------------------------------------------- */

static void audit_trees(struct audit *a)
{
	struct umbra_mmu *mmu = a->mmu;
	uint32_t i, j, n_virt = mmu->virt_global.count;

	if (!umbra_range_tree_check(&mmu->phys_handlers) ||
	    mmu->phys_handlers.count != mmu->n_phys_handlers)
		audit_report(a, UMBRA_AUDIT_HANDLER, 0, 0, mmu->phys_handlers.count,
		       mmu->n_phys_handlers,
		       "physical handler tree malformed or miscounted");
	if (!umbra_range_tree_check(&mmu->virt_global))
		audit_report(a, UMBRA_AUDIT_HANDLER, 0, 0, 0, 0,
		       "all-spaces handler tree malformed");
	for (i = 0; i < mmu->n_vspaces; i++) {
		const struct vspace *vs = &mmu->vspaces[i];

		n_virt += vs->tree.count;
		if (!umbra_range_tree_check(&vs->tree) || !vs->tree.count)
			audit_report(a, UMBRA_AUDIT_HANDLER, 0, i, vs->space, 0,
			       "address-space handler tree malformed or empty");
		for (j = 0; j < i; j++)
			if (mmu->vspaces[j].space == vs->space)
				audit_report(a, UMBRA_AUDIT_HANDLER, 0, i, vs->space,
				       0, "address space listed twice");
	}
	if (n_virt != mmu->n_virt_handlers)
		audit_report(a, UMBRA_AUDIT_HANDLER, 0, 0, n_virt,
		       mmu->n_virt_handlers, "virtual handlers miscounted");
}

/* ALL implies everything WRITE would: compare claims with it folded in. */
static unsigned strongest(unsigned claims)
{
	return (claims & FRAME_HANDLER_ALL) ? FRAME_HANDLER_ALL : claims;
}

static void audit_frame_flags(struct audit *a)
{
	struct umbra_mmu *mmu = a->mmu;
	uint32_t j;

	for (j = 0; j < mmu->n_slots; j++) {
		const struct slot *s = &mmu->slots[j];
		uint64_t i;

		for (i = 0; s->frame && i < s->frames; i++) {
			unsigned want = mmu->n_phys_handlers
						? phys_page_claims(mmu, s->gfn + i)
						: 0;

			if (strongest(s->frame[i].flags & FRAME_HANDLER_MASK) !=
			    strongest(want))
				audit_report(a, UMBRA_AUDIT_HANDLER, 0, 0,
				       s->frame[i].flags, s->gfn + i,
				       "frame's handler flags disagree with the "
				       "physical handlers");
		}
	}
}

static void audit_leaf(struct audit *a, uint32_t id, unsigned index,
		       uint64_t spte)
{
	struct umbra_mmu *mmu = a->mmu;
	const uint64_t gfn = spte_leaf_gfn(mmu, spte);
	const struct slot *s = slot_find(mmu, gfn);
	const struct frame *f = s && s->frame ? &s->frame[gfn - s->gfn] : NULL;
	const bool rw = (spte & X86_PTE_RW) != 0;
	unsigned claims;

	if (f && (f->flags & FRAME_HANDLER_ALL))
		audit_report(a, UMBRA_AUDIT_HANDLER, id, index, spte, gfn,
		       "leaf maps a frame a physical ALL handler claims");
	if (f && (f->flags & FRAME_HANDLER_WRITE) && rw)
		audit_report(a, UMBRA_AUDIT_HANDLER, id, index, spte, gfn,
		       "leaf writes a frame a physical WRITE handler claims");
	if (s && s->dirty_bits && rw &&
	    !(s->dirty_bits[(gfn - s->gfn) / 64] & (1ull << ((gfn - s->gfn) % 64))))
		audit_report(a, UMBRA_AUDIT_WRITABLE, id, index, spte, gfn,
		       "leaf writable though the dirty log holds the frame "
		       "clean");
	if (!mmu->n_virt_handlers || !leaf_claims(mmu, id, index, &claims))
		return; /* too many places to look: the engine never maps
			   such leaves writable or present without checking */
	if (claims & FRAME_HANDLER_ALL)
		audit_report(a, UMBRA_AUDIT_HANDLER, id, index, spte, gfn,
		       "leaf reachable where a virtual ALL handler claims "
		       "the page");
	else if ((claims & FRAME_HANDLER_WRITE) && rw)
		audit_report(a, UMBRA_AUDIT_HANDLER, id, index, spte, gfn,
		       "leaf writable where a virtual WRITE handler claims "
		       "the page");
}

void handlers_audit(struct audit *a)
{
	struct umbra_mmu *mmu = a->mmu;
	uint32_t id;

	audit_trees(a);
	audit_frame_flags(a);
	for (id = 1; id <= mmu->cfg.pool_pages; id++) {
		const uint64_t *table = sp_table(mmu, id);
		unsigned i;

		if (!mmu->sp[id].in_use || !leaf_table(mmu, id))
			continue;
		for (i = 0; i < SP_ENTRIES; i++)
			if (table[i] & X86_PTE_P)
				audit_leaf(a, id, i, table[i]);
	}
}
