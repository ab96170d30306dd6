/*
 * The exhaustive permission matrix: every combination of leaf flags,
 * directory flags, upper-level R/W, access and paging-register bits, in each
 * paging mode, walked by the real walker (engine/) over real tables in a
 * struct testmem and compared with the reference model (tests/model/).
 *
 * Dimensions of the main pass (MAXPHYADDR 40), per mode:
 *   leaf      {P, R/W, U/S, A, D, NX, one reserved bit}          2^7
 *   directory {R/W, U/S, PS, NX}                                 2^4
 *   upper     one bit (see below)                                2
 *   registers {CR0.WP, EFER.NXE, CR4.SMEP, CR4.SMAP, CR4.PKE,
 *              PKRU.AD and PKRU.WD of the leaf's key}            2^7
 *   access    {CPL 0/3} x {read, write, fetch} x {EFLAGS.AC},
 *             plus implicit supervisor {read, write} x {AC} at CPL 0
 *             and CPL 3 (AC must never lift SMAP for those)          20
 * = 10,485,760 combinations per mode.
 *
 * Where the entries go:
 * - The leaf flags apply to the entry that maps the page: the PTE, or the
 *   directory entry itself when its PS is honoured (4 MiB with CR4.PSE in
 *   32-bit paging, 2 MiB in PAE and long mode).
 * - The directory flags R/W, U/S, NX apply to the level just above the leaf:
 *   the PDE for a 4 KiB page; for a large page the PDPTE (long mode), and
 *   nothing in 32-bit paging (no level above the PDE) and PAE (the PDPTE
 *   registers have no R/W, U/S or XD).  Those combinations repeat others;
 *   they are still counted.  PS stays in the PDE (in the main pass).
 * - "upper" is R/W of the level above that (long mode: the PDPTE for a
 *   4 KiB page, the PML4E for a 2 MiB page).  32-bit paging has no level
 *   above the PDE and PAE PDPTEs have no R/W, so in every mode the same bit
 *   also drives CR4.PSE: that makes 32-bit PS honoured or ignored, and checks
 *   that PAE and long mode ignore CR4.PSE.
 * - 32-bit entries have no NX bit: the NX slots toggle G (bit 8) instead,
 *   which must change nothing.  The reserved-bit slot of a 32-bit 4 KiB PTE
 *   (which has no reserved bits) toggles PAT (bit 7), which must not fault.
 *   Other reserved bits: bit M (MAXPHYADDR) in a 4 KiB PAE/long leaf, bit 13
 *   in a 2 MiB leaf, bit 21 in a 4 MiB leaf.  Whether the bit is reserved is
 *   the model's call (ref_bit_reserved).
 * - Every other level is present, R/W, U/S.  Every entry carries the
 *   ignored bits 10:9, and long-mode non-leaf entries another key in their
 *   ignored bits 62:59, to catch a walker that takes the key from the wrong
 *   level.  The leaf's key (long mode) is nonzero; PKRU gives the other keys
 *   the opposite AD/WD bits.
 * - Four variants of each table configuration alternate between cases
 *   (see VAR_A and VAR_DECOR below): non-leaf A set or clear, and bits that
 *   must change nothing (PWT, PCD, PAT, non-leaf bit 6) present or not.
 *
 * Extra passes with fewer registers (CR0.WP x EFER.NXE) and all accesses:
 * MAXPHYADDR 36 and 52 (reserved bit = bit M, or the PSE-36 bit of address
 * bit M), 32-bit paging without PSE-36, and long mode with PS at a higher
 * level: the PDPTE (1 GiB pages, with and without 1 GiB page support), the
 * PML4E and the PML5E (PS reserved).  With PS at level D and no large page,
 * the leaf is the PTE, the directory flags go to the PDE and the upper R/W
 * to the PDPTE.  The extra passes also use an even PT index, so that va
 * bit 12 is clear (see va_bit12_clear).
 *
 * Every case rewrites the entries in place, walks, commits the A/D updates
 * (also on faults: the walker reports the non-leaf A bits then), reads the
 * entries back and compares: status, error code, CR2, gpa, page size,
 * permissions, key, the walk's entries, its update list and the memory.
 *
 * Usage: matrix [--stride N] [--report N] [--stats]
 *   --stride N  check only every Nth combination (use an odd N: the
 *               dimensions are powers of two); for sanitizer builds.
 *   --report N  print the first N mismatches in full (default 20).
 *   --stats     also print, per mode, how many cases the model expects to
 *               succeed and to fault in each way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "refmodel.h"
#include "testmem.h"
#include "umbra/walk.h"
#include "umbra/x86.h"

/* ---- fixed choices ------------------------------------------------------ */

/* Guest memory for the tables: one page per level. */
#define MATRIX_GMEM_SIZE (16 * X86_PAGE_SIZE_4K)
#define MATRIX_TABLE_BASE X86_PAGE_SIZE_4K
/* The PAE PDPT is 32-byte aligned, not page aligned: CR3 bits 31:5 locate it
 * (SDM 4.4.1), so put it off the page start. */
#define MATRIX_PDPT_OFFSET 0x60u
/* Bits 11:9 are ignored in every entry of every mode (SDM tables 4-5..4-20);
 * bits 10:9 are set everywhere and must survive. */
#define MATRIX_IGNORED_BITS UMBRA_BITS(10, 9)
/* Protection keys: the leaf's, and the one hidden in the ignored bits 62:59
 * of long-mode non-leaf entries. */
#define MATRIX_LEAF_KEY 0xBu
#define MATRIX_NONLEAF_KEY 0x6u
#define MATRIX_PKEYS 16u
/* Leaf frames: this address pattern trimmed to what the mode can map. */
#define MATRIX_FRAME_PATTERN 0x000FEDCBA9876000ull
/* 32-bit 4 MiB pages with PSE-36 reach 40 physical address bits. */
#define MATRIX_PSE36_PHYS_BITS 40u
#define MATRIX_32BIT_PHYS_BITS 32u
/* Lowest bit of the 20:13 range reserved in a 2 MiB / 1 GiB leaf. */
#define MATRIX_LARGE_RSVD_BIT 13u
/* The access: table index per level (trimmed to the level's width) and the
 * offset in the 4 KiB page.  Long-mode addresses land in the upper half. */
static const unsigned matrix_va_index[REF_LEVELS_MAX + 1] = {
	0, 0x1F3, 0x2A5, 0x15A, 0x1C3, 0x1B7,
};
#define MATRIX_PAGE_OFFSET 0x789u
#define MATRIX_REPORT_DEFAULT 20u

/* ---- the dimensions ------------------------------------------------------ */

enum leaf_flag { LEAF_P, LEAF_RW, LEAF_US, LEAF_A, LEAF_D, LEAF_NX, LEAF_RSVD,
		 LEAF_FLAGS };
enum dir_flag { DIR_RW, DIR_US, DIR_PS, DIR_NX, DIR_FLAGS };
enum reg_flag { REG_WP, REG_NXE, REG_SMEP, REG_SMAP, REG_PKE, REG_PKRU_AD,
		REG_PKRU_WD, REG_FLAGS };
#define N_LEAF (1u << LEAF_FLAGS)
#define N_DIR (1u << DIR_FLAGS)
#define N_UPPER 2u
#define N_REGS_FULL (1u << REG_FLAGS)
/* Reduced passes: WP and NXE only. */
#define N_REGS_REDUCED (1u << (REG_NXE + 1))
/* Accesses: explicit {CPL 0, 3} x {R, W, X} x {AC}, then implicit supervisor
 * (never a fetch) {CPL 0, 3} x {R, W} x {AC}. */
#define N_EXPLICIT_ACCESSES 12u
#define N_ACCESSES 20u

static bool flag(unsigned bits, unsigned which)
{
	return (bits >> which) & 1u;
}

/* Where the reserved-bit slot points. */
enum rsvd_style {
	RSVD_LOW,  /* bit 13 of a 2 MiB/1 GiB leaf, bit 21 of a 4 MiB leaf */
	RSVD_ADDR, /* bit M, or the PSE-36 bit of address bit M */
};

struct pass {
	const char *label;      /* "" for the main pass */
	struct ref_caps caps;
	unsigned n_regs;
	enum rsvd_style rsvd;
	unsigned dir_level;     /* the level whose PS varies: 2 (PDE) .. 5 */
	bool long_only, only_32;
	/* The access's PT index is even, so va bit 12 is clear and a large
	 * page's PAT bit (12) leaking into the gpa shows; elsewhere it is set,
	 * so a walker dropping va bit 12 shows. */
	bool va_bit12_clear;
};

#define CAPS(m, gb, p36) { .maxphyaddr = (m), .gbpages = (gb), .pse36 = (p36) }
static const struct pass passes[] = {
	{ .label = "", .caps = CAPS(40, true, true), .n_regs = N_REGS_FULL,
	  .rsvd = RSVD_LOW, .dir_level = 2 },
	{ .label = " (M=36)", .caps = CAPS(36, true, true),
	  .n_regs = N_REGS_REDUCED, .rsvd = RSVD_ADDR, .dir_level = 2,
	  .va_bit12_clear = true },
	{ .label = " (M=52)", .caps = CAPS(52, true, true),
	  .n_regs = N_REGS_REDUCED, .rsvd = RSVD_ADDR, .dir_level = 2,
	  .va_bit12_clear = true },
	{ .label = " (no PSE-36)", .caps = CAPS(40, true, false),
	  .n_regs = N_REGS_REDUCED, .rsvd = RSVD_ADDR, .dir_level = 2,
	  .only_32 = true, .va_bit12_clear = true },
	{ .label = " (1 GiB pages)", .caps = CAPS(40, true, true),
	  .n_regs = N_REGS_REDUCED, .rsvd = RSVD_LOW, .dir_level = 3,
	  .long_only = true, .va_bit12_clear = true },
	{ .label = " (PDPTE.PS, no 1 GiB pages)", .caps = CAPS(40, false, true),
	  .n_regs = N_REGS_REDUCED, .rsvd = RSVD_LOW, .dir_level = 3,
	  .long_only = true },
	{ .label = " (PML4E.PS)", .caps = CAPS(40, true, true),
	  .n_regs = N_REGS_REDUCED, .rsvd = RSVD_LOW, .dir_level = 4,
	  .long_only = true },
	{ .label = " (PML5E.PS)", .caps = CAPS(40, true, true),
	  .n_regs = N_REGS_REDUCED, .rsvd = RSVD_LOW, .dir_level = 5,
	  .long_only = true },
};

struct mode_desc {
	enum umbra_mode umode;
	enum ref_mode rmode;
	unsigned top;
	unsigned entry_size;
};

static const struct mode_desc modes[] = {
	{ UMBRA_MODE_32, REF_MODE_32, 2, 4 },
	{ UMBRA_MODE_PAE, REF_MODE_PAE, 3, 8 },
	{ UMBRA_MODE_LONG4, REF_MODE_LONG4, 4, 8 },
	{ UMBRA_MODE_LONG5, REF_MODE_LONG5, 5, 8 },
};

static bool is_long(const struct mode_desc *md)
{
	return md->rmode == REF_MODE_LONG4 || md->rmode == REF_MODE_LONG5;
}

/* ---- addresses ----------------------------------------------------------- */

/* Index bits per level: a 4 KiB table holds 1024 4-byte or 512 8-byte
 * entries; the PAE PDPT index is what is left of 32 bits. */
static unsigned index_width(const struct mode_desc *md, unsigned level)
{
	unsigned width = (unsigned)__builtin_ctz(X86_PAGE_SIZE_4K / md->entry_size);

	if (md->rmode == REF_MODE_PAE && level == md->top)
		return MATRIX_32BIT_PHYS_BITS - (X86_PAGE_SHIFT_4K + 2 * width);
	return width;
}

static unsigned index_shift(const struct mode_desc *md, unsigned level)
{
	unsigned width = (unsigned)__builtin_ctz(X86_PAGE_SIZE_4K / md->entry_size);

	return X86_PAGE_SHIFT_4K + width * (level - 1);
}

static unsigned va_index(const struct mode_desc *md, const struct pass *p,
			 unsigned level)
{
	unsigned index = matrix_va_index[level];

	if (level == 1 && p->va_bit12_clear)
		index &= ~1u;
	return index & ((1u << index_width(md, level)) - 1);
}

/* The linear address of the access: canonical in long mode (the top index
 * has its high bit set, so bits 63:47 or 63:56 are ones). */
static uint64_t matrix_va(const struct mode_desc *md, const struct pass *p)
{
	uint64_t va = MATRIX_PAGE_OFFSET;
	unsigned sign_bit;

	for (unsigned l = 1; l <= md->top; l++)
		va |= (uint64_t)va_index(md, p, l) << index_shift(md, l);
	if (!is_long(md))
		return va;
	sign_bit = index_shift(md, md->top) + index_width(md, md->top) - 1;
	if (va & UMBRA_BIT(sign_bit))
		va |= ~0ull << sign_bit;
	return va;
}

static unsigned leaf_page_shift(const struct mode_desc *md, unsigned level)
{
	if (level == 3)
		return X86_PAGE_SHIFT_1G;
	if (level == 2)
		return md->rmode == REF_MODE_32 ? X86_PAGE_SHIFT_4M : X86_PAGE_SHIFT_2M;
	return X86_PAGE_SHIFT_4K;
}

/* The frame a leaf at `level` maps: the pattern, within the physical bits
 * the entry can express, aligned to the page size. */
static uint64_t leaf_frame(const struct mode_desc *md,
			   const struct ref_caps *caps, unsigned level)
{
	unsigned phys_bits = caps->maxphyaddr;

	if (md->rmode == REF_MODE_32) {
		phys_bits = MATRIX_32BIT_PHYS_BITS;
		if (level == 2 && caps->pse36)
			phys_bits = caps->maxphyaddr < MATRIX_PSE36_PHYS_BITS ?
				    caps->maxphyaddr : MATRIX_PSE36_PHYS_BITS;
	}
	return MATRIX_FRAME_PATTERN & UMBRA_BITS(phys_bits - 1, 0) &
	       ~(UMBRA_BIT(leaf_page_shift(md, level)) - 1);
}

/* The bit the leaf's reserved slot sets. */
static unsigned rsvd_candidate(const struct mode_desc *md,
			       const struct pass *p, unsigned level,
			       bool maps_page)
{
	unsigned m = p->caps.maxphyaddr;

	if (md->rmode == REF_MODE_32) {
		if (!maps_page)
			return (unsigned)__builtin_ctzll(X86_PTE_PAT4K);
		if (p->rsvd == RSVD_ADDR && !p->caps.pse36)
			return X86_PTE32_PSE36_SHIFT;
		if (p->rsvd == RSVD_ADDR && m < MATRIX_PSE36_PHYS_BITS)
			return X86_PTE32_PSE36_SHIFT + (m - MATRIX_32BIT_PHYS_BITS);
		return (unsigned)__builtin_ctzll(X86_PTE32_4M_RSVD_BIT);
	}
	if (maps_page && level > 1 && p->rsvd == RSVD_LOW)
		return MATRIX_LARGE_RSVD_BIT;
	return m;
}

/* ---- building the tables ------------------------------------------------- */

struct table_set {
	uint64_t table[REF_LEVELS_MAX + 1]; /* table holding level l's entry */
	uint64_t gpa[REF_LEVELS_MAX + 1];   /* the entry's address */
	uint64_t cr3;
};

static void alloc_tables(struct testmem *mem, const struct mode_desc *md,
			 const struct pass *p, struct table_set *ts)
{
	testmem_reset(mem, MATRIX_TABLE_BASE);
	memset(ts, 0, sizeof(*ts));
	for (unsigned l = md->top; l >= 1; l--) {
		ts->table[l] = testmem_alloc_page(mem);
		if (md->rmode == REF_MODE_PAE && l == md->top)
			ts->table[l] += MATRIX_PDPT_OFFSET;
		ts->gpa[l] = ts->table[l] + (uint64_t)va_index(md, p, l) * md->entry_size;
	}
	ts->cr3 = ts->table[md->top];
}

/* Each table configuration comes in four variants, alternating between
 * cases: VAR_A starts the non-leaf entries with A set; VAR_DECOR adds bits
 * that must change nothing: PWT and PCD everywhere, bit 6 (ignored) in
 * non-leaf entries, PAT in the leaf (bit 12 of a large page, bit 7 of a PAE
 * or long-mode PTE; the 32-bit PTE's bit 7 is the reserved-bit slot). */
enum { VAR_A = 1, VAR_DECOR = 2, N_VARIANTS = 4 };

struct layout {
	struct ref_entry e[N_VARIANTS][REF_LEVELS_MAX + 1];
	uint64_t raw[N_VARIANTS][REF_LEVELS_MAX + 1];
	unsigned leaf_level;
	unsigned rsvd_bit;
};

static bool is_pae_pdpte(const struct mode_desc *md, unsigned level)
{
	return md->rmode == REF_MODE_PAE && level == 3;
}

/* The entry's bits from its abstract flags plus `extra` (ignored bits, the
 * reserved-slot bit, G). */
static uint64_t encode(const struct mode_desc *md, unsigned level,
		       const struct ref_entry *e, bool maps_page, uint64_t extra)
{
	uint64_t v = extra;

	if (e->present)
		v |= X86_PTE_P;
	if (is_pae_pdpte(md, level))
		return v | e->frame; /* only P and the address */
	if (e->rw)
		v |= X86_PTE_RW;
	if (e->us)
		v |= X86_PTE_US;
	if (e->accessed)
		v |= X86_PTE_A;
	if (e->dirty)
		v |= X86_PTE_D;
	if (e->ps)
		v |= X86_PTE_PS;
	if (e->nx)
		v |= X86_PTE_NX;
	v |= (uint64_t)e->pkey << X86_PTE_PK_SHIFT;
	if (md->rmode == REF_MODE_32 && maps_page)
		v |= (e->frame & X86_PTE32_ADDR_4M) |
		     ((e->frame >> MATRIX_32BIT_PHYS_BITS) << X86_PTE32_PSE36_SHIFT);
	else
		v |= e->frame;
	return v;
}

/* Base case for the model: mode, caps and CR4.PSE (all that decides which
 * level maps the page). */
static void case_base(struct ref_case *c, const struct mode_desc *md,
		      const struct pass *p, bool pse)
{
	memset(c, 0, sizeof(*c));
	c->mode = md->rmode;
	c->caps = p->caps;
	c->pse = pse;
}

static void decorate(const struct mode_desc *md, unsigned leaf_level,
		     bool large, struct ref_entry *e, uint64_t *extra)
{
	/* Not the PAE PDPTE: it is a register, loaded once by umbra_walk_init()
	 * for all the cases of a configuration, so it must not vary. */
	for (unsigned l = md->top; l >= 1; l--) {
		if (is_pae_pdpte(md, l))
			continue;
		extra[l] |= X86_PTE_PWT | X86_PTE_PCD;
		if (l != leaf_level)
			e[l].dirty = true;
	}
	if (large)
		extra[leaf_level] |= X86_PTE_PAT_LARGE;
	else if (md->rmode != REF_MODE_32)
		extra[leaf_level] |= X86_PTE_PAT4K;
}

static void build_layout(const struct mode_desc *md, const struct pass *p,
			 const struct table_set *ts, const struct ref_case *base,
			 unsigned leaf, unsigned dir, bool upper,
			 struct layout *lay)
{
	unsigned d = p->dir_level;
	bool large = flag(dir, DIR_PS) && ref_ps_maps_page(base, d);
	unsigned leaf_level = large ? d : 1;
	bool has_nx = md->rmode != REF_MODE_32;

	memset(lay, 0, sizeof(*lay));
	lay->leaf_level = leaf_level;
	lay->rsvd_bit = rsvd_candidate(md, p, leaf_level, large);
	for (unsigned v = 0; v < N_VARIANTS; v++) {
		struct ref_entry *e = lay->e[v];
		uint64_t extra[REF_LEVELS_MAX + 1];

		for (unsigned l = md->top; l >= 1; l--) {
			e[l] = (struct ref_entry){
				.present = true, .rw = true, .us = true,
				.accessed = (v & VAR_A) && !is_pae_pdpte(md, l),
				.frame = l > 1 ? ts->table[l - 1] & ~(X86_PAGE_SIZE_4K - 1)
					       : leaf_frame(md, &p->caps, 1),
			};
			extra[l] = MATRIX_IGNORED_BITS;
			if (is_long(md))
				extra[l] |= (uint64_t)MATRIX_NONLEAF_KEY << X86_PTE_PK_SHIFT;
		}
		e[d].ps = flag(dir, DIR_PS);

		/* The leaf. */
		e[leaf_level] = (struct ref_entry){
			.present = flag(leaf, LEAF_P),
			.rw = flag(leaf, LEAF_RW),
			.us = flag(leaf, LEAF_US),
			.accessed = flag(leaf, LEAF_A),
			.dirty = flag(leaf, LEAF_D),
			.nx = has_nx && flag(leaf, LEAF_NX),
			.ps = large,
			.pkey = is_long(md) ? MATRIX_LEAF_KEY : 0,
			.frame = leaf_frame(md, &p->caps, leaf_level),
		};
		extra[leaf_level] = MATRIX_IGNORED_BITS;
		if (flag(leaf, LEAF_RSVD)) {
			extra[leaf_level] |= UMBRA_BIT(lay->rsvd_bit);
			e[leaf_level].rsvd = ref_bit_reserved(md->rmode, leaf_level,
				large, lay->rsvd_bit, false, &p->caps);
		}
		if (!has_nx && flag(leaf, LEAF_NX))
			extra[leaf_level] |= X86_PTE_G;

		/* The directory flags, one level up. */
		if (leaf_level + 1 <= md->top && !is_pae_pdpte(md, leaf_level + 1)) {
			struct ref_entry *de = &e[leaf_level + 1];

			de->rw = flag(dir, DIR_RW);
			de->us = flag(dir, DIR_US);
			de->nx = has_nx && flag(dir, DIR_NX);
			if (!has_nx && flag(dir, DIR_NX))
				extra[leaf_level + 1] |= X86_PTE_G;
		}
		/* Upper R/W, one more level up (long mode). */
		if (is_long(md) && leaf_level + 2 <= md->top)
			e[leaf_level + 2].rw = upper;

		if (v & VAR_DECOR)
			decorate(md, leaf_level, large, e, extra);

		for (unsigned l = md->top; l >= 1; l--)
			lay->raw[v][l] = encode(md, l, &e[l],
				l == leaf_level && large, extra[l]);
	}
}

/* ---- registers and accesses ---------------------------------------------- */

static void set_regs(const struct mode_desc *md, const struct table_set *ts,
		     unsigned r, bool pse, struct ref_case *c,
		     struct umbra_paging_regs *regs)
{
	unsigned key = MATRIX_LEAF_KEY;
	uint32_t pkru = 0;

	c->wp = flag(r, REG_WP);
	c->nxe = flag(r, REG_NXE);
	c->smep = flag(r, REG_SMEP);
	c->smap = flag(r, REG_SMAP);
	c->pke = flag(r, REG_PKE);
	/* The leaf key gets the chosen AD/WD, every other key the opposite. */
	for (unsigned k = 0; k < MATRIX_PKEYS; k++) {
		bool ad = flag(r, REG_PKRU_AD) == (k == key);
		bool wd = flag(r, REG_PKRU_WD) == (k == key);

		pkru |= (ad ? X86_PKRU_AD(k) : 0) | (wd ? X86_PKRU_WD(k) : 0);
	}
	c->pkru = pkru;

	memset(regs, 0, sizeof(*regs));
	regs->cr0 = X86_CR0_PE | X86_CR0_PG | (c->wp ? X86_CR0_WP : 0);
	regs->cr3 = ts->cr3;
	regs->cr4 = (pse ? X86_CR4_PSE : 0) |
		    (md->rmode != REF_MODE_32 ? X86_CR4_PAE : 0) |
		    (md->rmode == REF_MODE_LONG5 ? X86_CR4_LA57 : 0) |
		    (c->smep ? X86_CR4_SMEP : 0) | (c->smap ? X86_CR4_SMAP : 0) |
		    (c->pke ? X86_CR4_PKE : 0);
	regs->efer = (is_long(md) ? X86_EFER_LME | X86_EFER_LMA : 0) |
		     (c->nxe ? X86_EFER_NXE : 0);
	regs->pkru = pkru;
}

static void set_access(unsigned a, uint64_t va, struct ref_case *c,
		       struct umbra_access *acc)
{
	static const enum ref_kind kinds[] = { REF_READ, REF_WRITE, REF_FETCH };
	static const uint8_t walk_kinds[] = {
		UMBRA_ACCESS_READ, UMBRA_ACCESS_WRITE, UMBRA_ACCESS_FETCH,
	};
	unsigned kind;

	c->ac = a & 1u;
	if (a < N_EXPLICIT_ACCESSES) {
		kind = (a >> 1) % 3;
		c->cpl = (a >> 1) / 3 ? 3 : 0;
		c->implicit_supervisor = false;
	} else {
		kind = ((a - N_EXPLICIT_ACCESSES) >> 1) & 1u;
		c->cpl = ((a - N_EXPLICIT_ACCESSES) >> 2) ? 3 : 0;
		c->implicit_supervisor = true;
	}
	c->kind = kinds[kind];
	c->va = va;

	memset(acc, 0, sizeof(*acc));
	acc->va = va;
	acc->kind = walk_kinds[kind];
	acc->cpl = c->cpl;
	acc->ac = c->ac;
	acc->implicit_supervisor = c->implicit_supervisor;
}

/* ---- comparing ----------------------------------------------------------- */

struct run {
	struct testmem mem;
	struct umbra_gmem gmem;
	unsigned long long counter;  /* combinations enumerated */
	unsigned long long checked;  /* combinations checked */
	unsigned long long mismatches;
	unsigned stride;
	unsigned report;
	bool stats;
	/* Expected outcomes, to show the matrix covers every kind of result. */
	unsigned long long n_ok, n_not_present, n_rsvd, n_prot, n_pk, n_large;
};

/* One case in flight. */
struct matrix_case {
	const struct mode_desc *md;
	const struct pass *pass;
	const struct table_set *ts;
	const struct layout *lay;
	unsigned variant;
	unsigned leaf, dir;
	bool upper;
	struct ref_case rc;
	struct umbra_paging_regs regs;
	struct umbra_access acc;
	struct ref_outcome exp;
	uint64_t exp_after[REF_LEVELS_MAX + 1];
	unsigned exp_changes;
	struct umbra_walk_result res;
	bool committed;
	uint64_t got_after[REF_LEVELS_MAX + 1];
	uint64_t writes;
};

struct diff {
	char text[512];
	size_t len;
};

static void note(struct diff *d, const char *what)
{
	int n = snprintf(d->text + d->len, sizeof(d->text) - d->len, "%s%s",
			 d->len ? ", " : "", what);

	if (n > 0 && d->len + (size_t)n < sizeof(d->text))
		d->len += (size_t)n;
}

static uint8_t expected_perm(const struct ref_outcome *o)
{
	return (o->writable ? UMBRA_PERM_W : 0) |
	       (o->user_address ? UMBRA_PERM_U : 0) |
	       (o->executable ? UMBRA_PERM_X : 0);
}

static void compare_outcome(const struct matrix_case *mc, struct diff *d)
{
	const struct ref_outcome *o = &mc->exp;
	const struct umbra_walk_result *r = &mc->res;
	uint8_t want = o->fault ? UMBRA_WALK_PF : UMBRA_WALK_OK;

	if (r->status != want) {
		note(d, "status");
		return;
	}
	if (r->mode != mc->md->umode)
		note(d, "mode");
	if (r->top_level != mc->md->top)
		note(d, "top_level");
	if (r->level != o->stop_level)
		note(d, "level");
	if (o->fault) {
		if (r->error_code != o->error_code)
			note(d, "error_code");
		if (r->fault_addr != mc->acc.va)
			note(d, "fault_addr");
	} else {
		if (r->gpa != o->gpa)
			note(d, "gpa");
		if (r->page_shift != o->page_shift)
			note(d, "page_shift");
	}
	if (o->walk_complete && r->perm != expected_perm(o))
		note(d, "perm");
	if (o->walk_complete && is_long(mc->md) && r->pkey != o->pkey)
		note(d, "pkey");
}

static void compare_entries(const struct matrix_case *mc, struct diff *d)
{
	const struct umbra_walk_result *r = &mc->res;
	const uint64_t *raw = mc->lay->raw[mc->variant];

	for (unsigned l = mc->md->top; l >= mc->exp.stop_level; l--) {
		if (r->entry[l].gpa != mc->ts->gpa[l] || r->entry[l].val != raw[l]) {
			note(d, "walk entries");
			break;
		}
	}
}

static void compare_updates(const struct matrix_case *mc, struct diff *d)
{
	const struct umbra_walk_result *r = &mc->res;
	const uint64_t *raw = mc->lay->raw[mc->variant];
	bool seen[REF_LEVELS_MAX + 1] = { false };

	if (r->n_updates != mc->exp_changes) {
		note(d, "n_updates");
		return;
	}
	for (unsigned i = 0; i < r->n_updates; i++) {
		const struct umbra_ad_update *u = &r->update[i];
		unsigned l = u->level;

		if (l < 1 || l > mc->md->top || seen[l] || u->gpa != mc->ts->gpa[l] ||
		    u->old_val != raw[l] || u->new_val != mc->exp_after[l] ||
		    u->size != mc->md->entry_size) {
			note(d, "update list");
			return;
		}
		seen[l] = true;
	}
}

static void compare_memory(const struct matrix_case *mc, struct diff *d)
{
	if (!mc->committed)
		note(d, "commit failed");
	for (unsigned l = mc->md->top; l >= 1; l--) {
		if (mc->got_after[l] != mc->exp_after[l]) {
			note(d, "A/D in memory");
			break;
		}
	}
	if (mc->writes != mc->exp_changes)
		note(d, "write count");
}

/* ---- reporting ------------------------------------------------------------ */

static const char *kind_name(enum ref_kind k)
{
	return k == REF_READ ? "read" : k == REF_WRITE ? "write" : "fetch";
}

static void print_ec(const char *label, uint32_t ec)
{
	printf("%s%#x (%s%s%s%s%s%s)", label, ec,
	       ec & X86_PFEC_P ? "P " : "", ec & X86_PFEC_W ? "W " : "",
	       ec & X86_PFEC_U ? "U " : "", ec & X86_PFEC_RSVD ? "RSVD " : "",
	       ec & X86_PFEC_ID ? "I/D " : "", ec & X86_PFEC_PK ? "PK " : "");
}

static void print_perm(uint8_t perm)
{
	printf("perm %s%s%s", perm & UMBRA_PERM_W ? "W" : "-",
	       perm & UMBRA_PERM_U ? "U" : "-", perm & UMBRA_PERM_X ? "X" : "-");
}

static void report(const struct matrix_case *mc, const struct diff *d,
		   unsigned long long index)
{
	const struct ref_case *c = &mc->rc;
	const struct ref_outcome *o = &mc->exp;
	const struct umbra_walk_result *r = &mc->res;
	const uint64_t *raw = mc->lay->raw[mc->variant];

	printf("MISMATCH %s%s, combination #%llu: %s\n",
	       ref_mode_name(mc->md->rmode), mc->pass->label, index, d->text);
	printf("  config: leaf %#x (P RW US A D NX RSVD=bit %u) dir %#x (RW US PS NX) upper %u, leaf level %u, variant %u (1 = non-leaf A, 2 = ignored bits)\n",
	       mc->leaf, mc->lay->rsvd_bit, mc->dir, mc->upper,
	       mc->lay->leaf_level, mc->variant);
	printf("  regs: cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx pkru %#x"
	       " [WP %u PSE %u NXE %u SMEP %u SMAP %u PKE %u] M=%u gbpages %u pse36 %u\n",
	       (unsigned long long)mc->regs.cr0, (unsigned long long)mc->regs.cr3,
	       (unsigned long long)mc->regs.cr4, (unsigned long long)mc->regs.efer,
	       mc->regs.pkru, c->wp, c->pse, c->nxe, c->smep, c->smap, c->pke,
	       c->caps.maxphyaddr, c->caps.gbpages, c->caps.pse36);
	printf("  access: %s va %#llx cpl %u ac %u implicit-supervisor %u\n",
	       kind_name(c->kind), (unsigned long long)c->va, c->cpl, c->ac,
	       c->implicit_supervisor);
	for (unsigned l = mc->md->top; l >= 1; l--)
		printf("  L%u @%#llx: before %#018llx expected after %#018llx got after %#018llx%s\n",
		       l, (unsigned long long)mc->ts->gpa[l],
		       (unsigned long long)raw[l],
		       (unsigned long long)mc->exp_after[l],
		       (unsigned long long)mc->got_after[l],
		       mc->got_after[l] != mc->exp_after[l] ? "  <--" : "");
	printf("  expected: %s level %u", o->fault ? "#PF" : "OK", o->stop_level);
	if (o->fault)
		print_ec(" ec ", o->error_code);
	else
		printf(" gpa %#llx shift %u", (unsigned long long)o->gpa, o->page_shift);
	if (o->walk_complete) {
		printf(" ");
		print_perm(expected_perm(o));
		printf(" pkey %u", o->pkey);
	}
	printf(" updates %u\n", mc->exp_changes);
	printf("  got:      status %u level %u top %u", r->status, r->level,
	       r->top_level);
	if (r->status == UMBRA_WALK_PF) {
		print_ec(" ec ", r->error_code);
		printf(" cr2 %#llx", (unsigned long long)r->fault_addr);
	} else if (r->status == UMBRA_WALK_OK) {
		printf(" gpa %#llx shift %u", (unsigned long long)r->gpa,
		       r->page_shift);
	} else if (r->status == UMBRA_WALK_BADMEM) {
		printf(" bad_gpa %#llx", (unsigned long long)r->bad_gpa);
	}
	printf(" ");
	print_perm(r->perm);
	printf(" pkey %u updates %u commit %s writes %llu\n", r->pkey,
	       r->n_updates, mc->committed ? "ok" : "FAILED",
	       (unsigned long long)mc->writes);
	for (unsigned i = 0; i < r->n_updates && i < UMBRA_LEVELS_MAX; i++)
		printf("    update L%u @%#llx size %u: %#llx -> %#llx\n",
		       r->update[i].level, (unsigned long long)r->update[i].gpa,
		       r->update[i].size,
		       (unsigned long long)r->update[i].old_val,
		       (unsigned long long)r->update[i].new_val);
}

/* ---- running one case ---------------------------------------------------- */

static void write_entries(struct run *run, const struct matrix_case *mc)
{
	const uint64_t *raw = mc->lay->raw[mc->variant];

	for (unsigned l = mc->md->top; l >= 1; l--)
		testmem_write(&run->mem, mc->ts->gpa[l], mc->md->entry_size, raw[l]);
}

static void expected_memory(struct matrix_case *mc)
{
	const uint64_t *raw = mc->lay->raw[mc->variant];

	mc->exp_changes = 0;
	for (unsigned l = 1; l <= mc->md->top; l++) {
		uint64_t v = raw[l];

		if (mc->exp.accessed[l] && !mc->rc.e[l].accessed)
			v |= X86_PTE_A;
		if (mc->exp.dirty[l] && !mc->rc.e[l].dirty)
			v |= X86_PTE_D;
		mc->exp_after[l] = v;
		mc->exp_changes += v != raw[l];
	}
}

static void count_outcome(struct run *run, const struct matrix_case *mc)
{
	const struct ref_outcome *o = &mc->exp;

	if (!o->fault)
		run->n_ok++;
	else if (!(o->error_code & X86_PFEC_P))
		run->n_not_present++;
	else if (o->error_code & X86_PFEC_RSVD)
		run->n_rsvd++;
	else
		run->n_prot++;
	if (o->fault && (o->error_code & X86_PFEC_PK))
		run->n_pk++;
	if (!o->fault && o->page_shift != X86_PAGE_SHIFT_4K)
		run->n_large++;
}

static void run_case(struct run *run, const struct umbra_walker *w,
		     struct matrix_case *mc)
{
	struct diff d;

	/* Not a full initializer: zeroing the text for every case costs more
	 * than the walk. */
	d.len = 0;
	d.text[0] = '\0';

	write_entries(run, mc);
	run->mem.writes = 0;
	umbra_walk(w, &mc->acc, &mc->res);
	mc->committed = umbra_walk_commit(w, &mc->res);
	mc->writes = run->mem.writes;
	for (unsigned l = mc->md->top; l >= 1; l--)
		mc->got_after[l] = testmem_read(&run->mem, mc->ts->gpa[l],
						mc->md->entry_size);

	memcpy(mc->rc.e, mc->lay->e[mc->variant], sizeof(mc->rc.e));
	ref_evaluate(&mc->rc, &mc->exp);
	expected_memory(mc);

	compare_outcome(mc, &d);
	compare_entries(mc, &d);
	compare_updates(mc, &d);
	compare_memory(mc, &d);
	run->checked++;
	if (run->stats)
		count_outcome(run, mc);
	if (d.len == 0)
		return;
	run->mismatches++;
	if (run->mismatches <= run->report)
		report(mc, &d, run->counter);
}

/* ---- the enumeration ------------------------------------------------------ */

static void run_mode_pass(struct run *run, const struct mode_desc *md,
			  const struct pass *p)
{
	unsigned long long checked0 = run->checked, mism0 = run->mismatches;
	unsigned long long ok0 = run->n_ok, np0 = run->n_not_present;
	unsigned long long rsvd0 = run->n_rsvd, prot0 = run->n_prot;
	unsigned long long pk0 = run->n_pk, large0 = run->n_large;
	uint64_t va = matrix_va(md, p);
	struct table_set ts;
	struct layout lay;
	struct matrix_case mc;

	struct umbra_cpu_caps caps = {
		.maxphyaddr = p->caps.maxphyaddr,
		.gbpages = p->caps.gbpages,
		.pse36 = p->caps.pse36,
	};

	alloc_tables(&run->mem, md, p, &ts);
	memset(&mc, 0, sizeof(mc));
	mc.md = md;
	mc.pass = p;
	mc.ts = &ts;
	mc.lay = &lay;
	for (unsigned cfg = 0; cfg < N_LEAF * N_DIR * N_UPPER; cfg++) {
		unsigned n_cfg_cases = p->n_regs * N_ACCESSES;

		mc.leaf = cfg % N_LEAF;
		mc.dir = (cfg / N_LEAF) % N_DIR;
		mc.upper = cfg / (N_LEAF * N_DIR);
		/* Skip whole configurations holding no multiple of the stride. */
		if ((run->counter + run->stride - 1) / run->stride * run->stride >=
		    run->counter + n_cfg_cases) {
			run->counter += n_cfg_cases;
			continue;
		}
		case_base(&mc.rc, md, p, mc.upper);
		build_layout(md, p, &ts, &mc.rc, mc.leaf, mc.dir, mc.upper, &lay);
		mc.variant = 0;
		write_entries(run, &mc); /* PAE: the PDPTE must be there for init */

		for (unsigned r = 0; r < p->n_regs; r++) {
			struct umbra_walker w;
			enum umbra_load_status ls;

			set_regs(md, &ts, r, mc.upper, &mc.rc, &mc.regs);
			ls = umbra_walk_init(&w, &mc.regs, &caps, &run->gmem);
			if (ls != UMBRA_LOAD_OK) {
				run->mismatches++;
				if (run->mismatches <= run->report)
					printf("MISMATCH %s%s: umbra_walk_init returned %d for cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx\n",
					       ref_mode_name(md->rmode), p->label, ls,
					       (unsigned long long)mc.regs.cr0,
					       (unsigned long long)mc.regs.cr3,
					       (unsigned long long)mc.regs.cr4,
					       (unsigned long long)mc.regs.efer);
				run->counter += N_ACCESSES;
				continue;
			}
			for (unsigned a = 0; a < N_ACCESSES; a++) {
				unsigned long long index = run->counter++;

				if (index % run->stride != 0)
					continue;
				mc.variant = (cfg + r + a) % N_VARIANTS;
				set_access(a, va, &mc.rc, &mc.acc);
				run_case(run, &w, &mc);
			}
		}
	}
	printf("matrix %s%s: %llu combinations, %llu mismatches\n",
	       ref_mode_name(md->rmode), p->label, run->checked - checked0,
	       run->mismatches - mism0);
	if (run->stats)
		printf("  expected: %llu OK (%llu large pages), #PF: %llu not present, %llu reserved, %llu protection (%llu with PK)\n",
		       run->n_ok - ok0, run->n_large - large0,
		       run->n_not_present - np0, run->n_rsvd - rsvd0,
		       run->n_prot - prot0, run->n_pk - pk0);
	fflush(stdout);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--stride N] [--report N] [--stats]\n", prog);
	exit(2);
}

static unsigned parse_count(const char *prog, const char *s, unsigned min)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (*s == '\0' || *end != '\0' || v < min || v > 1000000000ul)
		usage(prog);
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	struct run run;
	struct timespec t0, t1;

	memset(&run, 0, sizeof(run));
	run.stride = 1;
	run.report = MATRIX_REPORT_DEFAULT;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--stride") && i + 1 < argc)
			run.stride = parse_count(argv[0], argv[++i], 1);
		else if (!strcmp(argv[i], "--report") && i + 1 < argc)
			run.report = parse_count(argv[0], argv[++i], 0);
		else if (!strcmp(argv[i], "--stats"))
			run.stats = true;
		else
			usage(argv[0]);
	}

	timespec_get(&t0, TIME_UTC);
	testmem_init(&run.mem, MATRIX_GMEM_SIZE, MATRIX_TABLE_BASE);
	run.gmem = testmem_gmem(&run.mem);
	for (size_t p = 0; p < sizeof(passes) / sizeof(passes[0]); p++) {
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			const struct mode_desc *md = &modes[m];

			if (passes[p].long_only && !is_long(md))
				continue;
			if (passes[p].only_32 && md->rmode != REF_MODE_32)
				continue;
			if (passes[p].dir_level > md->top)
				continue;
			run_mode_pass(&run, md, &passes[p]);
		}
	}
	testmem_free(&run.mem);
	timespec_get(&t1, TIME_UTC);

	printf("matrix: %llu combinations checked, %llu mismatches (stride %u, %.1f s)\n",
	       run.checked, run.mismatches, run.stride,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return run.mismatches ? 1 : 0;
}
