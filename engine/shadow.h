/*
 * The shadow engine's internal state, shared by its files (pool.c, spte.c,
 * slots.c, paging.c, fault.c, ptwrite.c, audit.c, mmu.c, handlers.c,
 * dirtylog.c).
 *
 * Vocabulary:
 *   gfn   guest frame number (guest-physical address >> 12)
 *   sp    a shadow page: one 4 KiB page of the pool holding 512 shadow
 *         entries, with a descriptor saying what it shadows (its role)
 *   spte  one shadow entry
 *   ref   (sp id, entry index): names one spte (reflist.h)
 *
 * Shadow tables are always 8-byte-entry tables: PAE tables for guests with
 * paging off, 32-bit or PAE paging (QEMU and hardware run them with CR4.PAE
 * set), and 4- or 5-level tables for long-mode guests.
 */
#ifndef UMBRA_SHADOW_H
#define UMBRA_SHADOW_H

#include "umbra/rangetree.h"
#include "reflist.h"
#include "umbra/mmu.h"
#include "umbra/stats.h"
#include "umbra/walk.h"
#include "umbra/x86.h"

#define SP_ENTRIES     512u
#define SP_INDEX_BITS  9u
#define SP_PAGE_SIZE   X86_PAGE_SIZE_4K
#define SPTE_ADDR      X86_PTE_ADDR_4K
#define PAE_ROOT_ENTRIES 4u
#define NO_SP 0u /* sp ids start at 1 */

/*
 * A shadow page's role: everything besides the guest frame that decides
 * what its entries must contain.  Two guest contexts that would need
 * different entries for the same guest table get different roles, and so
 * different shadow pages (e.g. one guest table reached through two
 * directory entries with different R/W or U/S: CVE-2021-38198).
 */
#define ROLE_LEVEL_MASK     0x7u               /* shadow level, 1..5 */
#define ROLE_GPTE4          UMBRA_BIT32(3)     /* guest entries are 4 bytes */
#define ROLE_QUADRANT_SHIFT 4                  /* part of a 32-bit guest table */
#define ROLE_QUADRANT_MASK  (0x3u << ROLE_QUADRANT_SHIFT)
#define ROLE_DIRECT         UMBRA_BIT32(6)     /* maps guest-physical directly */
#define ROLE_ACCESS_SHIFT   7                  /* UMBRA_PERM_* inherited */
#define ROLE_ACCESS_MASK    (0x7u << ROLE_ACCESS_SHIFT)
/* The guest mode bits that change what a shadow page holds; a change of any
 * of them selects other shadow pages (kept cached for a change back). */
#define ROLE_CR0_WP         UMBRA_BIT32(10)
#define ROLE_NXE            UMBRA_BIT32(11)
#define ROLE_PSE            UMBRA_BIT32(12)
#define ROLE_SMEP           UMBRA_BIT32(13)
#define ROLE_SMAP           UMBRA_BIT32(14)
#define ROLE_GMODE_SHIFT    15                 /* enum umbra_mode of the guest */
#define ROLE_GMODE_MASK     (0x7u << ROLE_GMODE_SHIFT)
#define ROLE_PKE            UMBRA_BIT32(18)    /* with WP = 0 only */
#define ROLE_MODE_BITS (ROLE_CR0_WP | ROLE_NXE | ROLE_PSE | ROLE_SMEP | \
			ROLE_SMAP | ROLE_PKE | ROLE_GMODE_MASK)
/* Direct sps: the attributes of the guest large leaf they map, which every
 * leaf they hold repeats: its protection key and its PWT/PCD bits.  Two
 * large mappings of the same frames with different keys need different
 * sps, or one mapping's key would leak into the other's leaves. */
#define ROLE_ATTR_SHIFT     19
#define ROLE_ATTR_PK_BITS   4
#define ROLE_ATTR_MASK      (0x3Fu << ROLE_ATTR_SHIFT)
#define GPTE_CACHE_SHIFT    3 /* PWT, PCD: bits 4:3 of an entry */
#define UMBRA_BIT32(n) ((uint32_t)1u << (n))

static inline unsigned role_level(uint32_t role)
{
	return role & ROLE_LEVEL_MASK;
}
static inline unsigned role_quadrant(uint32_t role)
{
	return (role & ROLE_QUADRANT_MASK) >> ROLE_QUADRANT_SHIFT;
}
static inline uint8_t role_access(uint32_t role)
{
	return (uint8_t)((role & ROLE_ACCESS_MASK) >> ROLE_ACCESS_SHIFT);
}
static inline unsigned role_gmode(uint32_t role)
{
	return (role & ROLE_GMODE_MASK) >> ROLE_GMODE_SHIFT;
}

/* The role attributes a guest large leaf passes on to its direct sps. */
static inline uint32_t role_attr_of(uint64_t gpte)
{
	uint32_t pk = (uint32_t)((gpte & X86_PTE_PK_MASK) >> X86_PTE_PK_SHIFT);
	uint32_t cache = (uint32_t)((gpte & (X86_PTE_PWT | X86_PTE_PCD)) >>
				    GPTE_CACHE_SHIFT);

	return (pk | cache << ROLE_ATTR_PK_BITS) << ROLE_ATTR_SHIFT;
}

/* A guest-entry image holding just a direct sp's inherited attributes, for
 * building its leaves. */
static inline uint64_t role_attr_gpte(uint32_t role)
{
	uint64_t attr = (role & ROLE_ATTR_MASK) >> ROLE_ATTR_SHIFT;
	uint64_t pk = attr & ((1u << ROLE_ATTR_PK_BITS) - 1);

	return (pk << X86_PTE_PK_SHIFT) |
	       ((attr >> ROLE_ATTR_PK_BITS) << GPTE_CACHE_SHIFT);
}

/* The rights one guest entry grants (UMBRA_PERM_*) under a role's mode:
 * NX counts only when the role's guest had EFER.NXE in PAE or long mode. */
static inline uint8_t gpte_perm(uint32_t role, uint64_t gpte)
{
	uint8_t perm = 0;

	if (gpte & X86_PTE_RW)
		perm |= UMBRA_PERM_W;
	if (gpte & X86_PTE_US)
		perm |= UMBRA_PERM_U;
	if (!((role & ROLE_NXE) && (gpte & X86_PTE_NX)))
		perm |= UMBRA_PERM_X;
	return perm;
}

/* The descriptor of one shadow page. */
struct sp {
	uint64_t gfn;        /* guest table frame, or first frame mapped (direct) */
	uint32_t role;
	uint32_t hash_next;  /* next sp in the same hash bucket, or free list */
	uint32_t lru_prev;   /* age list: towards the most recently used */
	uint32_t lru_next;   /* towards the least recently used */
	uint32_t parents;    /* reflist head: the sptes that point at this sp */
	uint16_t root_count; /* locks held by the vCPU's roots: not evictable */
	uint16_t present;    /* present entries, to skip empty pages quickly */
	/* Emulated writes since a fault last used this page for a translation
	 * (flood detection), and the current run of writes that only clear
	 * R/W of present entries (fork detection). */
	uint16_t writes;
	uint16_t fork_run;
	bool in_use;
};

/* What the engine keeps per guest frame of a RAM or ROM slot. */
struct frame {
	uint32_t rmap;     /* reflist head: leaf sptes mapping this frame */
	uint16_t shadowed; /* shadow pages (not direct) shadowing this frame */
	uint16_t flags;    /* FRAME_* */
};

/* Physical handlers covering some of the frame (the strongest wins): ALL
 * means never mapped, WRITE mapped read-only.  Kept exact by handlers.c so
 * that building a leaf needs no tree lookup.  The same bits describe what
 * handlers claim of any page ("claims"). */
#define FRAME_HANDLER_ALL   0x1u
#define FRAME_HANDLER_WRITE 0x2u

struct slot {
	uint64_t gfn;       /* first guest frame */
	uint64_t frames;
	uint64_t hpa;
	uint8_t type;       /* enum umbra_slot_type */
	struct frame *frame; /* per frame; NULL for MMIO */
	/* Dirty log (RAM slots): one bit per frame, set when the guest may
	 * have written it since the last fetch; NULL when not logging. */
	uint64_t *dirty_bits;
};

/* The virtual handlers of one address space (handlers.c). */
struct vspace {
	uint64_t space; /* guest-physical address of its top-level table */
	struct umbra_range_tree tree;
};

enum shadow_mode {
	SHADOW_PAE,   /* guest paging off, 32-bit or PAE */
	SHADOW_LONG4,
	SHADOW_LONG5,
};

struct umbra_mmu {
	struct umbra_env env;
	struct umbra_config cfg;
	const char *error;

	/* The pool: sp id i (1-based) lives at cfg.pool_hpa + (i-1) pages. */
	uint64_t *pool_ptr;  /* direct map of the whole pool */
	struct sp *sp;       /* [pool_pages + 1]; [0] unused */
	uint32_t free_head;  /* free sps, chained through hash_next */
	uint32_t lru_head;   /* most recently used */
	uint32_t lru_tail;   /* least recently used: evicted first */
	uint32_t in_use;
	uint32_t *hash;      /* bucket heads, by gfn */
	uint32_t hash_mask;
	struct reflist_pool refs;
	struct reflist_extent *ref_storage;

	struct slot slots[UMBRA_MAX_SLOTS];
	uint32_t n_slots;

	/* Guest paging state and its walker. */
	struct umbra_paging_regs regs;
	struct umbra_walker walker;
	struct umbra_gmem gmem;

	/* The shadow side. */
	uint8_t shadow_mode;   /* enum shadow_mode */
	uint32_t role_mode;    /* ROLE_MODE_BITS for the current guest mode */
	uint32_t root;         /* long mode: the root sp */
	uint32_t pae_page;     /* PAE: the pool page holding the 4 PDPTEs */
	uint32_t pae_root[PAE_ROOT_ENTRIES]; /* PAE: sps the PDPTEs point at */

	/* Access handlers (handlers.c). */
	struct umbra_range_tree phys_handlers;
	struct umbra_range_tree virt_global; /* for every address space */
	struct vspace vspaces[UMBRA_MAX_HANDLER_SPACES];
	uint32_t n_vspaces;
	uint32_t n_phys_handlers, n_virt_handlers;

	struct umbra_stats stats;
};

/* ---- pool.c: shadow pages, the hash, the age list ---------------------- */
static inline uint64_t *sp_table(const struct umbra_mmu *mmu, uint32_t id)
{
	return mmu->pool_ptr + (uint64_t)(id - 1) * SP_ENTRIES;
}
static inline uint64_t sp_hpa(const struct umbra_mmu *mmu, uint32_t id)
{
	return mmu->cfg.pool_hpa + (uint64_t)(id - 1) * SP_PAGE_SIZE;
}
/* The sp a non-leaf spte points at, or NO_SP if the address is not a
 * pool page. */
uint32_t sp_from_hpa(const struct umbra_mmu *mmu, uint64_t hpa);

enum umbra_status pool_init(struct umbra_mmu *mmu);
void pool_fini(struct umbra_mmu *mmu);
/* The sp for (gfn, role), found in the cache or newly made (evicting the
 * least recently used unlocked sp if the pool is full).  NO_SP when every
 * sp is locked. */
uint32_t sp_get(struct umbra_mmu *mmu, uint64_t gfn, uint32_t role);
/* Mark an sp used for a translation just now. */
void sp_touch(struct umbra_mmu *mmu, uint32_t id);
/* Remove an sp: unlink it from its parents, drop its entries' links, stop
 * monitoring its frame, free it. */
void sp_zap(struct umbra_mmu *mmu, uint32_t id);
/* First sp in the hash bucket of gfn; walk with sp[].hash_next and compare
 * the gfn (buckets are shared). */
uint32_t sp_hash_first(const struct umbra_mmu *mmu, uint64_t gfn);
/* A pool page outside the cache (never evicted): the PAE root page. */
uint32_t pool_take_page(struct umbra_mmu *mmu);
/* Evict the least recently used unlocked sp; false if there is none. */
bool pool_evict_one(struct umbra_mmu *mmu);

/* ---- spte.c: shadow entries and the links they make ------------------------ */
static inline uint32_t make_ref(uint32_t id, unsigned index)
{
	return umbra_ref_make(id, index);
}
/* Point spte (id, index) at child sp (non-leaf). */
bool spte_link_child(struct umbra_mmu *mmu, uint32_t id, unsigned index,
		     uint32_t child);
/* Install a leaf spte mapping gfn; false when no extent is left even
 * after eviction. */
bool spte_set_leaf(struct umbra_mmu *mmu, uint32_t id, unsigned index,
		   uint64_t spte, uint64_t gfn);
/* Clear one spte, dropping the link or reverse-map entry it made.  Returns
 * true if it was present. */
bool spte_clear(struct umbra_mmu *mmu, uint32_t id, unsigned index);
/* Remove write access from every leaf mapping gfn. */
void spte_write_protect_frame(struct umbra_mmu *mmu, uint64_t gfn);
/* Clear every leaf mapping gfn. */
void spte_unmap_frame(struct umbra_mmu *mmu, uint64_t gfn);
/* The same without the TLB flush, for loops over many frames: true when
 * an entry changed (the caller then flushes once). */
bool spte_write_protect_frame_noflush(struct umbra_mmu *mmu, uint64_t gfn);
bool spte_unmap_frame_noflush(struct umbra_mmu *mmu, uint64_t gfn);
/* The guest frame a leaf spte maps (~0 if none). */
uint64_t spte_leaf_gfn(const struct umbra_mmu *mmu, uint64_t spte);

/* The leaf spte for guest frame `gfn` with effective guest permissions
 * `perm`; `dirty` says whether the guest entry's D bit is set, `guest_leaf`
 * supplies caching and key bits, `write` that the leaf is built for a write
 * access that will complete through it (the dirty log then records the
 * frame).  0 when the frame cannot be mapped (MMIO, or a physical ALL
 * handler covers it). */
uint64_t spte_make_leaf(struct umbra_mmu *mmu, uint64_t gfn, uint8_t perm,
			bool dirty, uint64_t guest_leaf, bool write);

/* ---- slots.c: guest memory ----------------------------------------------- */
const struct slot *slot_find(const struct umbra_mmu *mmu, uint64_t gfn);
struct frame *frame_of(struct umbra_mmu *mmu, uint64_t gfn);
/* Pointer to guest-physical memory (RAM or ROM), or NULL. */
void *gpa_ptr(struct umbra_mmu *mmu, uint64_t gpa, unsigned size);
struct umbra_gmem slots_gmem(struct umbra_mmu *mmu);
static inline bool frame_is_shadowed(struct umbra_mmu *mmu, uint64_t gfn)
{
	const struct frame *f = frame_of(mmu, gfn);

	return f && f->shadowed;
}

/* Zap every shadow page (the roots must have been dropped first). */
void pool_zap_all(struct umbra_mmu *mmu);

/* ---- paging.c ------------------------------------------------------------ */
/* Release the vCPU's roots (they become ordinary cached sps), and take the
 * roots the current guest registers need. */
void paging_drop_roots(struct umbra_mmu *mmu);
/* The state of a guest just created: paging off. */
enum umbra_status paging_init(struct umbra_mmu *mmu);
enum umbra_status paging_load_roots(struct umbra_mmu *mmu);
/* The sp at the top of the shadow walk for va (PAE: one of the four root
 * sps, possibly NO_SP when the guest's PDPTE is not present). */
uint32_t paging_root_for(const struct umbra_mmu *mmu, uint64_t va);
/* Levels of the shadow hierarchy below the hardware's CR3 that sps form. */
unsigned paging_top_level(const struct umbra_mmu *mmu);

/* ---- handlers.c: access handlers ------------------------------------------ */
void handlers_init(struct umbra_mmu *mmu);
/* Give the frames of a slot being added the flags of the physical
 * handlers over them. */
void handlers_slot_added(struct umbra_mmu *mmu, struct slot *s);
/* The #PF path: a claim by a virtual handler of va in the current address
 * space (NULL if none claims this access). */
const struct umbra_handler *handlers_virt_claim(struct umbra_mmu *mmu,
						uint64_t va, bool write);
/* The #PF path after the guest walk: does a physical handler claim the
 * access at gpa (s: its slot or NULL)?  Fills `out` when it does. */
bool handlers_phys_fault(struct umbra_mmu *mmu, const struct slot *s,
			 uint64_t gpa, bool write, struct umbra_pf_result *out);
/* Fill `out` for an access a handler (or NULL: plain emulation) claims. */
void handlers_claim(struct umbra_mmu *mmu, const struct umbra_handler *h,
		    uint64_t addr, struct umbra_pf_result *out);
/* What virtual handlers claim of the page that leaf entry (id, index)
 * maps, at every guest-virtual address and address space where the
 * hardware can reach that entry (FRAME_HANDLER_*).  Call only while
 * n_virt_handlers != 0. */
unsigned handlers_leaf_claims(struct umbra_mmu *mmu, uint32_t id,
			      unsigned index);
/* A leaf built ahead of any access (prefetched) for entry (id, index) must
 * not bypass a virtual handler wherever the entry is visible: spte, made
 * read-only, or 0 to leave the entry empty. */
uint64_t handlers_narrow_leaf(struct umbra_mmu *mmu, uint32_t id,
			      unsigned index, uint64_t spte);
/* spte_link_child() just made entry (id, index) point at child: remove
 * from the child's subtree what virtual handlers forbid at the addresses
 * the entry is reached from. */
void handlers_linked(struct umbra_mmu *mmu, uint32_t id, unsigned index,
		     uint32_t child);
/* The current address space changed but the shadow roots stayed (PAE:
 * a CR3 load whose PDPTEs equal the old ones): the PAE-format roots are
 * now seen from another space, whose virtual handlers must hold there.
 * paging.c calls it after updating mmu->regs. */
void handlers_space_switched(struct umbra_mmu *mmu);
/* ---- audit.c -------------------------------------------------------------- */
/* One audit run: where violations go, and how many were found. */
struct audit {
	struct umbra_mmu *mmu;
	struct umbra_audit_violation *out;
	uint32_t max, count;
};
/* Record one violation (id may be NO_SP for non-page findings). */
void audit_report(struct audit *a, enum umbra_audit_kind kind, uint32_t id,
		  unsigned index, uint64_t spte, uint64_t expected,
		  const char *what);
/* The handlers' part of the audit: leaves that bypass a handler or the
 * dirty log, and the handlers' bookkeeping (trees, frame flags, counts). */
void handlers_audit(struct audit *a);

/* ---- dirtylog.c --------------------------------------------------------- */
/* The guest (or the engine for it) wrote frame gfn. */
void dirty_log_mark(struct umbra_mmu *mmu, uint64_t gfn);
/* Release a slot's bitmap, if it is being logged (slot removal, destroy). */
void dirty_log_free(struct umbra_mmu *mmu, struct slot *s);

/* ---- mmu.c -------------------------------------------------------------- */
static inline void mmu_flush_all(struct umbra_mmu *mmu)
{
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_tlb_flush_requested_all);
	mmu->env.flush_tlb_all(mmu->env.ctx);
}
static inline void mmu_flush_va(struct umbra_mmu *mmu, uint64_t va)
{
	umbra_stat_inc(&mmu->stats, UMBRA_CTR_tlb_flush_requested_one);
	mmu->env.flush_tlb_va(mmu->env.ctx, va);
}
static inline uint64_t mmu_now(const struct umbra_mmu *mmu)
{
	return mmu->env.now ? mmu->env.now(mmu->env.ctx) : 0;
}
static inline unsigned shadow_index(uint64_t va, unsigned level)
{
	return (unsigned)(va >> (X86_PAGE_SHIFT_4K + (level - 1) * SP_INDEX_BITS)) &
	       (SP_ENTRIES - 1);
}

#endif
