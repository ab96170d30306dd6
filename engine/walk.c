/*
 * The guest page-table walker.  docs/paging-rules.md is its specification;
 * this file turns the paging registers into precomputed masks once
 * (umbra_walk_init), and walk_tmpl.h does the per-access work.
 */
#include "umbra/walk.h"
#include "umbra/x86.h"

/* Bits a linear address must sign-extend from in long mode. */
#define LA48_SIGN_BIT 47
#define LA57_SIGN_BIT 56

/* PAE: linear address bits 31:30 select one of the four PDPTEs. */
#define PAE_PDPTE_SHIFT 30
#define PAE_PDPTE_COUNT 4
#define PAE_PDPTE_SIZE  8u

/* Reserved bits of a PAE PDPTE besides those above MAXPHYADDR (SDM 4.4.1,
 * table 4-8): R/W, U/S and bits 8:5 have no meaning there. */
#define PAE_PDPTE_RSVD_LOW (UMBRA_BITS(2, 1) | UMBRA_BITS(8, 5))

/* Reserved bits of large leaves below MAXPHYADDR: the frame field's low bits
 * between the PAT bit (12) and the page size (SDM tables 4-9, 4-15, 4-17). */
#define RSVD_2M_LOW UMBRA_BITS(20, 13)
#define RSVD_1G_LOW UMBRA_BITS(29, 13)

/* 32-bit paging: PSE-36 reaches at most 40 address bits; beyond that, and
 * when PSE-36 is absent, the PDE's high-address field is reserved. */
#define PSE36_MAX_PHYS_BITS 40
#define PSE36_LOW_ADDR_BIT  32

/* Every bit set: at a level where PS is reserved, any entry with PS faults. */
#define RSVD_ALL (~0ull)

/* ---- helpers used by every instantiation of walk_tmpl.h -------------- */

static bool is_canonical(uint64_t va, uint8_t mode)
{
	unsigned sign_bit = mode == UMBRA_MODE_LONG5 ? LA57_SIGN_BIT
						     : LA48_SIGN_BIT;
	uint64_t high = va >> sign_bit; /* the sign bit and everything above */

	return high == 0 || high == (~0ull >> sign_bit);
}

static unsigned pae_pdpte_index(uint64_t va)
{
	return (unsigned)(va >> PAE_PDPTE_SHIFT) & (PAE_PDPTE_COUNT - 1);
}

/* A user-mode access: CPL 3 and not an implicit supervisor access. */
static bool is_user_access(const struct umbra_access *acc)
{
	return acc->cpl == 3 && !acc->implicit_supervisor;
}

static void raise_pf(struct umbra_walk_result *res,
		     const struct umbra_access *acc,
		     const struct umbra_walker *w, uint64_t va, uint32_t cause)
{
	uint32_t ec = cause;

	if (acc->kind == UMBRA_ACCESS_WRITE)
		ec |= X86_PFEC_W;
	if (is_user_access(acc))
		ec |= X86_PFEC_U;
	/* I/D needs SMEP, or NX paging (PAE or long mode with NXE): SDM 4.7. */
	if (acc->kind == UMBRA_ACCESS_FETCH &&
	    ((w->regs.cr4 & X86_CR4_SMEP) ||
	     (w->mode != UMBRA_MODE_32 && (w->regs.efer & X86_EFER_NXE))))
		ec |= X86_PFEC_ID;
	res->status = UMBRA_WALK_PF;
	res->error_code = ec;
	res->fault_addr = va;
}

static void add_update(struct umbra_walk_result *res, uint64_t gpa,
		       uint64_t old_val, uint64_t new_val, unsigned size,
		       unsigned level)
{
	struct umbra_ad_update *u = &res->update[res->n_updates++];

	u->gpa = gpa;
	u->old_val = old_val;
	u->new_val = new_val;
	u->size = (uint8_t)size;
	u->level = (uint8_t)level;
}

/* The paging permission rules of SDM 4.6 for a translated address with
 * combined permissions `perm`.  Returns 0 or the error-code cause bits. */
static uint32_t check_paging_rights(const struct umbra_walker *w,
				    const struct umbra_access *acc,
				    uint8_t perm)
{
	const bool user_addr = (perm & UMBRA_PERM_U) != 0;
	const bool writable = (perm & UMBRA_PERM_W) != 0;
	const bool wp = (w->regs.cr0 & X86_CR0_WP) != 0;

	if (is_user_access(acc)) {
		if (!user_addr)
			return X86_PFEC_P;
		if (acc->kind == UMBRA_ACCESS_WRITE && !writable)
			return X86_PFEC_P;
		if (acc->kind == UMBRA_ACCESS_FETCH && !(perm & UMBRA_PERM_X))
			return X86_PFEC_P;
		return 0;
	}
	if (acc->kind == UMBRA_ACCESS_FETCH) {
		if (!(perm & UMBRA_PERM_X))
			return X86_PFEC_P;
		if (user_addr && (w->regs.cr4 & X86_CR4_SMEP))
			return X86_PFEC_P;
		return 0;
	}
	/* Supervisor data access.  EFLAGS.AC lifts SMAP for explicit accesses
	 * only; implicit ones (descriptor tables, event delivery) stay blocked
	 * at any CPL (SDM 4.6.1). */
	if (user_addr && (w->regs.cr4 & X86_CR4_SMAP) &&
	    !(acc->ac && !acc->implicit_supervisor))
		return X86_PFEC_P;
	if (acc->kind == UMBRA_ACCESS_WRITE && wp && !writable)
		return X86_PFEC_P;
	return 0;
}

/* Protection keys (SDM 4.6.2): data accesses to user-mode addresses, long
 * mode with CR4.PKE only.  Returns 0 or the error-code cause bits. */
static uint32_t check_pkey(const struct umbra_walker *w,
			   const struct umbra_access *acc, uint8_t perm,
			   uint8_t pkey)
{
	const bool long_mode = w->mode == UMBRA_MODE_LONG4 ||
			       w->mode == UMBRA_MODE_LONG5;
	const bool wp = (w->regs.cr0 & X86_CR0_WP) != 0;

	if (!long_mode || !(w->regs.cr4 & X86_CR4_PKE) ||
	    acc->kind == UMBRA_ACCESS_FETCH || !(perm & UMBRA_PERM_U))
		return 0;
	if (w->regs.pkru & X86_PKRU_AD(pkey))
		return X86_PFEC_P | X86_PFEC_PK;
	if (acc->kind == UMBRA_ACCESS_WRITE &&
	    (w->regs.pkru & X86_PKRU_WD(pkey)) &&
	    (is_user_access(acc) || wp))
		return X86_PFEC_P | X86_PFEC_PK;
	return 0;
}

/* PK is reported whenever the key forbids the access, alongside any
 * ordinary permission violation (SDM 4.7). */
static uint32_t check_access(const struct umbra_walker *w,
			     const struct umbra_access *acc, uint8_t perm,
			     uint8_t pkey)
{
	return check_paging_rights(w, acc, perm) | check_pkey(w, acc, perm, pkey);
}

/* ---- the three instantiations ---------------------------------------- */

#define PT_FN(name) walk32_##name
#define pt_entry_t uint32_t
#define PT_LEVEL_BITS 10
#define PT_PDPTE_REGS 0
#define PT_LONG 0
#include "walk_tmpl.h"
#undef PT_FN
#undef pt_entry_t
#undef PT_LEVEL_BITS
#undef PT_PDPTE_REGS
#undef PT_LONG

#define PT_FN(name) walkpae_##name
#define pt_entry_t uint64_t
#define PT_LEVEL_BITS 9
#define PT_PDPTE_REGS 1
#define PT_LONG 0
#include "walk_tmpl.h"
#undef PT_FN
#undef pt_entry_t
#undef PT_LEVEL_BITS
#undef PT_PDPTE_REGS
#undef PT_LONG

#define PT_FN(name) walklong_##name
#define pt_entry_t uint64_t
#define PT_LEVEL_BITS 9
#define PT_PDPTE_REGS 0
#define PT_LONG 1
#include "walk_tmpl.h"
#undef PT_FN
#undef pt_entry_t
#undef PT_LEVEL_BITS
#undef PT_PDPTE_REGS
#undef PT_LONG

/* ---- public interface --------------------------------------------------- */

enum umbra_mode umbra_paging_mode(const struct umbra_paging_regs *regs)
{
	const bool pg = (regs->cr0 & X86_CR0_PG) != 0;
	const bool pae = (regs->cr4 & X86_CR4_PAE) != 0;
	const bool lma = (regs->efer & X86_EFER_LMA) != 0;

	if (lma && (!pg || !pae))
		return UMBRA_MODE_INVALID;
	if (!pg)
		return UMBRA_MODE_NONE;
	if (!pae)
		return UMBRA_MODE_32;
	if (!lma)
		return UMBRA_MODE_PAE;
	return (regs->cr4 & X86_CR4_LA57) ? UMBRA_MODE_LONG5
					  : UMBRA_MODE_LONG4;
}

/* Bits 51:M of an 8-byte entry (empty when MAXPHYADDR is 52). */
static uint64_t above_maxphyaddr(uint8_t maxphyaddr)
{
	return maxphyaddr >= 52 ? 0 : UMBRA_BITS(51, maxphyaddr);
}

/* 32-bit paging, SDM tables 4-4 to 4-6: no reserved bits in 4 KiB entries;
 * a 4 MiB PDE reserves bit 21 and its PSE-36 bits beyond MAXPHYADDR. */
static void init_masks_32(struct umbra_walker *w)
{
	unsigned phys = w->caps.pse36 ? w->caps.maxphyaddr : PSE36_LOW_ADDR_BIT;

	if (phys > PSE36_MAX_PHYS_BITS)
		phys = PSE36_MAX_PHYS_BITS;
	w->ps_allowed[2] = (w->regs.cr4 & X86_CR4_PSE) != 0;
	w->rsvd[2][1] = X86_PTE32_4M_RSVD_BIT;
	if (phys < PSE36_MAX_PHYS_BITS)
		w->rsvd[2][1] |= UMBRA_BITS(20, X86_PTE32_PSE36_SHIFT + phys -
						    PSE36_LOW_ADDR_BIT);
	/* Without CR4.PSE the PS bit is ignored: the entry is a table
	 * pointer with no reserved bits. */
	if (!w->ps_allowed[2])
		w->rsvd[2][1] = 0;
}

/* PAE, SDM tables 4-8 to 4-11: bits 62:M reserved (and 63 without NXE). */
static void init_masks_pae(struct umbra_walker *w, uint64_t nx_rsvd)
{
	uint64_t base = nx_rsvd | (w->caps.maxphyaddr >= 63
					   ? 0
					   : UMBRA_BITS(62, w->caps.maxphyaddr));

	w->rsvd[1][0] = w->rsvd[1][1] = base;
	w->rsvd[2][0] = base;
	w->rsvd[2][1] = base | RSVD_2M_LOW;
	w->ps_allowed[2] = true;
}

/* Long mode, SDM tables 4-14 to 4-20 (and 4-ff for LA57). */
static void init_masks_long(struct umbra_walker *w, uint64_t nx_rsvd)
{
	uint64_t base = nx_rsvd | above_maxphyaddr(w->caps.maxphyaddr);
	unsigned level;

	for (level = 1; level <= UMBRA_LEVELS_MAX; level++)
		w->rsvd[level][0] = w->rsvd[level][1] = base;
	/* PS is reserved in PML5Es and PML4Es. */
	w->rsvd[5][1] = w->rsvd[4][1] = RSVD_ALL;
	if (w->caps.gbpages) {
		w->rsvd[3][1] = base | RSVD_1G_LOW;
		w->ps_allowed[3] = true;
	} else {
		w->rsvd[3][1] = RSVD_ALL;
	}
	w->rsvd[2][1] = base | RSVD_2M_LOW;
	w->ps_allowed[2] = true;
}

enum umbra_load_status umbra_walk_load_pdptes(struct umbra_walker *w)
{
	const uint64_t rsvd = PAE_PDPTE_RSVD_LOW |
			      (w->caps.maxphyaddr >= 64
				       ? 0
				       : UMBRA_BITS(63, w->caps.maxphyaddr));
	uint64_t pdpt = w->regs.cr3 & X86_CR3_ADDR_PAE;
	uint64_t loaded[PAE_PDPTE_COUNT];
	unsigned i;

	for (i = 0; i < PAE_PDPTE_COUNT; i++) {
		uint64_t gpa = pdpt + i * PAE_PDPTE_SIZE;

		if (!w->mem.read(w->mem.ctx, gpa, PAE_PDPTE_SIZE, &loaded[i]))
			return UMBRA_LOAD_BADMEM;
		if ((loaded[i] & X86_PTE_P) && (loaded[i] & rsvd))
			return UMBRA_LOAD_GP;
	}
	/* Like the instruction, a failed load leaves the registers as they
	 * were. */
	for (i = 0; i < PAE_PDPTE_COUNT; i++) {
		w->pdpte[i] = loaded[i];
		w->pdpte_gpa[i] = pdpt + i * PAE_PDPTE_SIZE;
	}
	return UMBRA_LOAD_OK;
}

enum umbra_load_status umbra_walk_init(struct umbra_walker *w,
				       const struct umbra_paging_regs *regs,
				       const struct umbra_cpu_caps *caps,
				       const struct umbra_gmem *mem)
{
	const uint64_t nx_rsvd = (regs->efer & X86_EFER_NXE) ? 0 : X86_PTE_NX;
	unsigned level;

	w->regs = *regs;
	w->caps = *caps;
	w->mem = *mem;
	w->mode = (uint8_t)umbra_paging_mode(regs);
	for (level = 0; level <= UMBRA_LEVELS_MAX; level++) {
		w->rsvd[level][0] = w->rsvd[level][1] = 0;
		w->ps_allowed[level] = false;
	}
	for (level = 0; level < PAE_PDPTE_COUNT; level++)
		w->pdpte[level] = w->pdpte_gpa[level] = 0;

	switch (w->mode) {
	case UMBRA_MODE_NONE:
		w->levels = 0;
		return UMBRA_LOAD_OK;
	case UMBRA_MODE_32:
		w->levels = 2;
		init_masks_32(w);
		return UMBRA_LOAD_OK;
	case UMBRA_MODE_PAE:
		w->levels = 3;
		init_masks_pae(w, nx_rsvd);
		return umbra_walk_load_pdptes(w);
	case UMBRA_MODE_LONG4:
	case UMBRA_MODE_LONG5:
		w->levels = w->mode == UMBRA_MODE_LONG5 ? 5 : 4;
		init_masks_long(w, nx_rsvd);
		return UMBRA_LOAD_OK;
	default:
		w->levels = 0;
		return UMBRA_LOAD_INVALID_MODE;
	}
}

/* Only the scalar fields: entry[] is valid for the levels the walk reached
 * (level..top_level) and update[] up to n_updates, so the ~300 bytes of
 * arrays need no clearing on this hot path. */
static void clear_result(struct umbra_walk_result *res, uint8_t mode)
{
	res->status = UMBRA_WALK_OK;
	res->mode = mode;
	res->top_level = res->level = res->page_shift = 0;
	res->perm = res->pkey = res->n_updates = 0;
	res->error_code = 0;
	res->fault_addr = res->gpa = res->bad_gpa = 0;
}

void umbra_walk(const struct umbra_walker *w, const struct umbra_access *acc,
		struct umbra_walk_result *res)
{
	clear_result(res, w->mode);
	switch (w->mode) {
	case UMBRA_MODE_NONE:
		/* Linear = physical, 32 bits wide, everything allowed. */
		res->status = UMBRA_WALK_OK;
		res->gpa = acc->va & UINT32_MAX;
		res->page_shift = X86_PAGE_SHIFT_4K;
		res->perm = UMBRA_PERM_W | UMBRA_PERM_U | UMBRA_PERM_X;
		break;
	case UMBRA_MODE_32:
		walk32_walk(w, acc, res);
		break;
	case UMBRA_MODE_PAE:
		walkpae_walk(w, acc, res);
		break;
	case UMBRA_MODE_LONG4:
	case UMBRA_MODE_LONG5:
		walklong_walk(w, acc, res);
		break;
	default:
		/* No CPU runs in an invalid mode; report it as the #GP that
		 * the register write creating it would have raised. */
		res->status = UMBRA_WALK_GP;
		break;
	}
}

bool umbra_walk_commit(const struct umbra_walker *w,
		       const struct umbra_walk_result *res)
{
	unsigned i;

	for (i = 0; i < res->n_updates; i++) {
		const struct umbra_ad_update *u = &res->update[i];

		if (!w->mem.cmpxchg(w->mem.ctx, u->gpa, u->size, u->old_val,
				    u->new_val))
			return false;
	}
	return true;
}

const char *umbra_mode_name(enum umbra_mode mode)
{
	switch (mode) {
	case UMBRA_MODE_NONE:
		return "none";
	case UMBRA_MODE_32:
		return "32-bit";
	case UMBRA_MODE_PAE:
		return "pae";
	case UMBRA_MODE_LONG4:
		return "long4";
	case UMBRA_MODE_LONG5:
		return "long5";
	default:
		return "invalid";
	}
}
