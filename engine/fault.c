/*
 * The page-fault path: the hardware faulted on the shadow, and the engine
 * decides what the guest's own tables say about the access.
 *
 *   1. Walk the guest's tables for the access, as the CPU would, and set the
 *      guest's A/D bits as the CPU would.
 *   2. If the guest's tables forbid the access, the fault is the guest's:
 *      reflect it with the architectural error code.
 *   3. If an access handler claims the access (a virtual one for the
 *      address in this address space, then a physical one for the guest
 *      frame), hand it to the embedder with the handler.
 *   4. If the access reaches something that is not plain RAM, or writes a
 *      frame that holds a shadowed table, hand it to the embedder.
 *   5. Otherwise build the missing shadow levels from the root down and
 *      install the leaf, never with wider rights than the guest's, nor
 *      than the virtual handlers allow wherever the leaf is visible.
 */
#include "shadow.h"

/* Sps on the path being built are pinned so that allocating a lower level
 * cannot evict a higher one. */
struct path_pins {
	uint32_t id[UMBRA_LEVELS_MAX];
	unsigned n;
};

static void pin(struct umbra_mmu *mmu, struct path_pins *p, uint32_t id)
{
	mmu->sp[id].root_count++;
	p->id[p->n++] = id;
}

static void unpin_all(struct umbra_mmu *mmu, struct path_pins *p)
{
	while (p->n)
		mmu->sp[p->id[--p->n]].root_count--;
}

static uint32_t access_bits(uint8_t perm)
{
	return (uint32_t)perm << ROLE_ACCESS_SHIFT;
}

/* The first frame a direct sp at `level` covers for guest-physical gpa. */
static uint64_t direct_gfn(uint64_t gpa, unsigned level)
{
	unsigned shift = (level) * SP_INDEX_BITS; /* frames per entry span */

	return (gpa / SP_PAGE_SIZE) >> shift << shift;
}

/* What the child of shadow entry (parent, va) at `level` must be. */
static void child_key(const struct umbra_mmu *mmu, uint32_t parent,
		      unsigned level, const struct umbra_access *acc,
		      const struct umbra_walk_result *res, uint64_t *gfn,
		      uint32_t *role)
{
	const uint32_t prole = mmu->sp[parent].role;
	const unsigned child_level = level - 1;
	uint8_t perm = role_access(prole);
	uint64_t gpte;

	*role = child_level | mmu->role_mode;
	if ((prole & ROLE_DIRECT) || res->level >= level) {
		/* Guest paging off, or a guest large page at or above this
		 * level: map its frames directly, 4 KiB at a time. */
		uint32_t attr = prole & ROLE_ATTR_MASK;

		if (!(prole & ROLE_DIRECT)) {
			gpte = res->entry[res->level].val;
			perm &= gpte_perm(prole, gpte);
			attr = role_attr_of(gpte);
			/* Clean large page: writable only once D is set. */
			if (!(gpte & X86_PTE_D) &&
			    acc->kind != UMBRA_ACCESS_WRITE)
				perm &= (uint8_t)~UMBRA_PERM_W;
		}
		*gfn = direct_gfn(res->gpa, child_level);
		*role |= ROLE_DIRECT | access_bits(perm) | attr;
		return;
	}
	gpte = res->entry[level].val;
	perm &= gpte_perm(prole, gpte);
	*role |= access_bits(perm);
	if (mmu->walker.mode == UMBRA_MODE_32) {
		/* A 4 MiB guest table: each 2 MiB half is one shadow table. */
		*gfn = (gpte & X86_PTE32_ADDR_4K) / SP_PAGE_SIZE;
		*role |= ROLE_GPTE4 |
			 ((uint32_t)((acc->va >> X86_PAGE_SHIFT_2M) & 1)
			  << ROLE_QUADRANT_SHIFT);
	} else {
		*gfn = (gpte & X86_PTE_ADDR_4K) / SP_PAGE_SIZE;
	}
}

/* The child sp the shadow entry must point at, reusing the current link
 * when it is already right. */
static uint32_t get_child(struct umbra_mmu *mmu, uint32_t id, unsigned index,
			  uint64_t gfn, uint32_t role)
{
	uint64_t spte = sp_table(mmu, id)[index];
	uint32_t child;

	if (spte & X86_PTE_P) {
		child = sp_from_hpa(mmu, spte & SPTE_ADDR);
		if (child && mmu->sp[child].gfn == gfn &&
		    mmu->sp[child].role == role)
			return child;
	}
	child = sp_get(mmu, gfn, role);
	if (child && !spte_link_child(mmu, id, index, child))
		return NO_SP;
	return child;
}

/*
 * The leaves of a direct sp (a guest large page, or paging off) all come
 * from one guest entry, whose A bit the walk has already set (and D when
 * the role allows writes), so building a faulting leaf's neighbours sets
 * nothing in the guest that the access has not set already.  One fault
 * then maps an aligned group of this many pages: a kernel zeroing fresh
 * frames through its large-page direct map exits once per group instead
 * of once per page.  (Small, as KVM's 8: each leaf costs a reverse-map
 * entry, and sparse accesses to a large page would waste them.)
 */
#define DIRECT_PREFETCH 16u

static void prefetch_direct(struct umbra_mmu *mmu, uint32_t id,
			    unsigned index)
{
	const uint32_t role = mmu->sp[id].role;
	const unsigned first = index & ~(DIRECT_PREFETCH - 1);
	unsigned i;

	for (i = first; i < first + DIRECT_PREFETCH; i++) {
		const uint64_t gfn = mmu->sp[id].gfn + i;
		uint64_t spte;

		if (sp_table(mmu, id)[i] & X86_PTE_P)
			continue; /* the faulting leaf, or one already built */
		spte = handlers_narrow_leaf(
			mmu, id, i,
			spte_make_leaf(mmu, gfn, role_access(role), true,
				       role_attr_gpte(role), false));
		/* Out of reverse-map room: the rest waits for its faults. */
		if (spte && !spte_set_leaf(mmu, id, i, spte, gfn))
			return;
	}
}

enum install_result {
	INSTALL_OK,
	INSTALL_FAILED, /* mmu->error says why */
	/* A virtual handler forbids the leaf at another address it is
	 * visible at (a shared shadow table), or on the rest of a claimed
	 * page: the access must be emulated instead. */
	INSTALL_PLAIN,
};

/* Build the shadow path for an access the guest allows and install the
 * leaf.  `perm_add`/`perm_del` adjust the leaf rights (CR0.WP = 0). */
static enum install_result install(struct umbra_mmu *mmu,
				   const struct umbra_access *acc,
				   const struct umbra_walk_result *res,
				   uint8_t perm_add, uint8_t perm_del)
{
	struct path_pins pins = { .n = 0 };
	uint32_t id = paging_root_for(mmu, acc->va);
	unsigned level;
	uint64_t gfn = res->gpa / SP_PAGE_SIZE, spte, guest_leaf;
	const bool write = acc->kind == UMBRA_ACCESS_WRITE;
	enum install_result result = INSTALL_FAILED;
	uint8_t perm;
	bool dirty;

	if (!id) {
		mmu->error = "no shadow root for the address";
		return INSTALL_FAILED;
	}
	for (level = paging_top_level(mmu); level > 1; level--) {
		uint64_t child_gfn;
		uint32_t child_role;

		sp_touch(mmu, id);
		pin(mmu, &pins, id);
		child_key(mmu, id, level, acc, res, &child_gfn, &child_role);
		id = get_child(mmu, id, shadow_index(acc->va, level),
			       child_gfn, child_role);
		if (!id) {
			mmu->error = "the shadow pool is exhausted by locked pages";
			goto out;
		}
	}
	sp_touch(mmu, id);
	if (mmu->n_virt_handlers) {
		unsigned claims = handlers_leaf_claims(
			mmu, id, shadow_index(acc->va, 1));

		if ((claims & FRAME_HANDLER_ALL) ||
		    ((claims & FRAME_HANDLER_WRITE) && write)) {
			result = INSTALL_PLAIN;
			goto out;
		}
		if (claims & FRAME_HANDLER_WRITE)
			perm_del |= UMBRA_PERM_W;
	}
	if (mmu->sp[id].role & ROLE_DIRECT) {
		perm = role_access(mmu->sp[id].role);
		dirty = true; /* the role has W only when the guest's D is set */
		guest_leaf = role_attr_gpte(mmu->sp[id].role);
	} else {
		guest_leaf = res->entry[1].val;
		perm = res->perm;
		dirty = (guest_leaf & X86_PTE_D) || write;
	}
	perm = (uint8_t)((perm | perm_add) & ~perm_del);
	spte = spte_make_leaf(mmu, gfn, perm, dirty, guest_leaf, write);
	if (!spte) {
		mmu->error = "the frame cannot be mapped";
		goto out;
	}
	if (!spte_set_leaf(mmu, id, shadow_index(acc->va, 1), spte, gfn)) {
		mmu->error = "no reverse-map extent left, even after eviction";
		goto out;
	}
	result = INSTALL_OK;
	if (mmu->sp[id].role & ROLE_DIRECT)
		prefetch_direct(mmu, id, shadow_index(acc->va, 1));
out:
	unpin_all(mmu, &pins);
	return result;
}

static void reflect(struct umbra_mmu *mmu, const struct umbra_walk_result *res,
		    struct umbra_pf_result *out)
{
	out->action = UMBRA_PF_REFLECT;
	if (res->status == UMBRA_WALK_PF) {
		out->vector = X86_VEC_PF;
		out->error_code = res->error_code;
		out->fault_addr = res->fault_addr;
	} else {
		out->vector = res->status == UMBRA_WALK_SS ? X86_VEC_SS
							   : X86_VEC_GP;
	}
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_fault_reflected);
}

static void fail(struct umbra_mmu *mmu, struct umbra_pf_result *out)
{
	out->action = UMBRA_PF_ERROR;
	out->message = mmu->error;
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_fault_error);
}

/* The access the hardware reports: I/D is reliable because the shadow
 * always runs with EFER.NXE set. */
static void access_from_fault(const struct umbra_fault *f,
			      struct umbra_access *acc)
{
	acc->va = f->va;
	acc->cpl = f->cpl;
	acc->ac = f->ac;
	acc->stack = false;
	acc->kind = (f->error_code & X86_PFEC_ID) ? UMBRA_ACCESS_FETCH
		    : (f->error_code & X86_PFEC_W) ? UMBRA_ACCESS_WRITE
						   : UMBRA_ACCESS_READ;
	/* A supervisor-mode access at CPL 3 can only be an implicit one. */
	acc->implicit_supervisor = f->implicit || (f->cpl == 3 &&
				   !(f->error_code & X86_PFEC_U));
}

/* The shadow leaf that translates va now, or 0. */
static uint64_t shadow_leaf(const struct umbra_mmu *mmu, uint64_t va)
{
	uint32_t id = paging_root_for(mmu, va);
	unsigned level;

	for (level = paging_top_level(mmu); id && level > 1; level--) {
		uint64_t spte = sp_table(mmu, id)[shadow_index(va, level)];

		if (!(spte & X86_PTE_P))
			return 0;
		id = sp_from_hpa(mmu, spte & SPTE_ADDR);
	}
	return id ? sp_table(mmu, id)[shadow_index(va, 1)] : 0;
}

/*
 * With SMAP and EFLAGS.AC set, an explicit supervisor access to a user page
 * is allowed and an implicit one is not, and a #PF exit does not say which
 * this was.  If the shadow leaf already grants the explicit access and the
 * fault is not a protection-key fault, the hardware can only have faulted
 * because the access was implicit.
 */
static void infer_implicit(const struct umbra_mmu *mmu, uint32_t hw_ec,
			   struct umbra_access *acc)
{
	uint64_t spte;

	if (acc->implicit_supervisor || (hw_ec & X86_PFEC_PK) ||
	    acc->cpl == 3 || !acc->ac ||
	    acc->kind == UMBRA_ACCESS_FETCH ||
	    !(mmu->regs.cr4 & X86_CR4_SMAP))
		return;
	spte = shadow_leaf(mmu, acc->va);
	if ((spte & X86_PTE_P) && (spte & X86_PTE_US) &&
	    (acc->kind != UMBRA_ACCESS_WRITE || (spte & X86_PTE_RW)))
		acc->implicit_supervisor = true;
}

/* Walk the guest and set its A/D bits; retried if an entry changes
 * between the walk and the update (it cannot with one vCPU, but the
 * cmpxchg contract allows it). */
static void walk_guest(struct umbra_mmu *mmu, const struct umbra_access *acc,
		       struct umbra_walk_result *res)
{
	const unsigned max_tries = 4;
	unsigned i;

	for (i = 0; i < max_tries; i++) {
		umbra_walk(&mmu->walker, acc, res);
		if (umbra_walk_commit(&mmu->walker, res))
			return;
	}
}

static void fault(struct umbra_mmu *mmu, const struct umbra_fault *f,
		  struct umbra_pf_result *out)
{
	struct umbra_access acc;
	struct umbra_walk_result res;
	const struct slot *s;
	uint8_t perm_add = 0, perm_del = 0;
	bool write;

	access_from_fault(f, &acc);
	out->kind = acc.kind;
	if (f->error_code & X86_PFEC_RSVD) {
		mmu->error = "the hardware found a reserved bit in a shadow entry";
		fail(mmu, out);
		return;
	}
	infer_implicit(mmu, f->error_code, &acc);
	walk_guest(mmu, &acc, &res);
	if (res.status != UMBRA_WALK_OK) {
		reflect(mmu, &res, out);
		return;
	}
	write = acc.kind == UMBRA_ACCESS_WRITE;
	out->gpa = res.gpa;
	if (mmu->n_virt_handlers) {
		const struct umbra_handler *h =
			handlers_virt_claim(mmu, acc.va, write);

		if (h) {
			handlers_claim(mmu, h, acc.va, out);
			return;
		}
	}
	s = slot_find(mmu, res.gpa / SP_PAGE_SIZE);
	if (mmu->n_phys_handlers &&
	    handlers_phys_fault(mmu, s, res.gpa, write, out))
		return;
	if (!s || s->type == UMBRA_SLOT_MMIO ||
	    (write && s->type == UMBRA_SLOT_ROM)) {
		out->action = UMBRA_PF_MMIO;
		out->slot_type = s ? s->type : UMBRA_PF_UNBACKED;
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_fault_mmio);
		return;
	}
	if (write && !(res.perm & UMBRA_PERM_W)) {
		/* Allowed only because the guest runs with CR0.WP = 0, but the
		 * shadow always has WP = 1.  Map the page writable for the
		 * supervisor only, so that user accesses still fault and get
		 * the guest's rights back.  SMEP, SMAP and protection keys act
		 * on user pages only, so with any of them on that trick would
		 * defeat them (and WRPKRU never exits to undo it): emulate the
		 * write instead. */
		if (mmu->role_mode & (ROLE_SMEP | ROLE_SMAP | ROLE_PKE)) {
			out->action = UMBRA_PF_EMULATE_WRITE;
			umbra_stat_inc(&mmu->stats, UMBRA_CTR_fault_pt_write);
			return;
		}
		perm_add = UMBRA_PERM_W;
		perm_del = UMBRA_PERM_U;
	}
	/* A protection-key fault on a write the guest allows: CR0.WP = 0
	 * lets supervisor writes ignore PKRU.WD, which the shadow (always
	 * WP = 1, and WRPKRU never exits) cannot express.  Emulate it. */
	if ((write && frame_is_shadowed(mmu, res.gpa / SP_PAGE_SIZE)) ||
	    (write && (f->error_code & X86_PFEC_PK))) {
		out->action = UMBRA_PF_EMULATE_WRITE;
		umbra_stat_inc(&mmu->stats, UMBRA_CTR_fault_pt_write);
		return;
	}
	switch (install(mmu, &acc, &res, perm_add, perm_del)) {
	case INSTALL_OK:
		break;
	case INSTALL_PLAIN:
		handlers_claim(mmu, NULL, acc.va, out);
		return;
	default:
		fail(mmu, out);
		return;
	}
	out->action = UMBRA_PF_FIXED;
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_fault_fixed);
}

void umbra_page_fault(struct umbra_mmu *mmu, const struct umbra_fault *f,
		      struct umbra_pf_result *out)
{
	const uint64_t t0 = mmu_now(mmu);
	struct umbra_pf_result empty = { .action = UMBRA_PF_ERROR };

	*out = empty;
	fault(mmu, f, out);
	umbra_timer_add(&mmu->stats, UMBRA_TMR_fault, mmu_now(mmu) - t0);
}
