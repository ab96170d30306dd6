/*
 * Table-entry combinations: the leaf's P, R/W, U/S, A, D, NX and one
 * reserved bit; the directory entry's R/W, U/S and NX (pointing at the
 * page table), or a large leaf taking the leaf bits: PS in the directory
 * (2 or 4 MiB) or, in long mode with 1 GiB pages, in the PDPTE; in long
 * mode, one level above the directory with R/W = 0, or with PS = 1 where
 * PS is reserved (PML4E, PML5E).  Bits a mode does not have are skipped:
 * NX in 32-bit paging, a reserved bit where the leaf size has none.
 *
 * Index order, fastest first: leaf bits, directory, upper level.  The
 * matrix walks the indexes in order, so consecutive combinations mostly
 * differ in the leaf alone: one rewritten entry.
 */
#include "accmatrix.h"

#define LEAF_VALUES (1u << LB_COUNT)
#define FIRST_UPPER_LEVEL 3u
#define FIRST_PS_RESERVED_LEVEL 4u

static bool leaf_has(const struct am_combo *c, unsigned bit)
{
	return c->leaf >> bit & 1;
}

/* Upper values: none; R/W = 0 at one of the levels 3..top; PS = 1 at one
 * of the levels 4..top.  Only long mode has permissions above the
 * directory (PAE PDPTEs have none). */
static unsigned ro_values(void)
{
	return mode_is_long() ? env.top - FIRST_UPPER_LEVEL + 1 : 0;
}

static unsigned upper_values(void)
{
	return mode_is_long()
		? 1 + ro_values() + env.top - FIRST_PS_RESERVED_LEVEL + 1
		: 1;
}

static void decode_upper(struct am_combo *c)
{
	unsigned u = c->upper;

	c->ro_level = c->ps_level = 0;
	if (u == 0)
		return;
	if (u <= ro_values())
		c->ro_level = (uint8_t)(FIRST_UPPER_LEVEL + u - 1);
	else
		c->ps_level = (uint8_t)(FIRST_PS_RESERVED_LEVEL + u - 1 -
					ro_values());
}

unsigned combo_count(void)
{
	return LEAF_VALUES * DIR_VALUES * upper_values();
}

unsigned combo_leaf_level(const struct am_combo *c)
{
	return c->dir == DIR_1G ? 3 : c->dir == DIR_PS ? 2 : 1;
}

static uint64_t leaf_reserved_bit(const struct am_combo *c)
{
	return combo_leaf_level(c) > 1 ? env.rsv_large : env.rsv_4k;
}

bool combo_from_index(unsigned i, struct am_combo *c)
{
	bool nx_exists = env.esize == 8;

	c->leaf = (uint8_t)(i % LEAF_VALUES);
	c->dir = (uint8_t)(i / LEAF_VALUES % DIR_VALUES);
	c->upper = (uint8_t)(i / (LEAF_VALUES * DIR_VALUES));
	decode_upper(c);
	if (!nx_exists && (leaf_has(c, LB_NX) ||
			   (c->dir < DIR_PS && (c->dir & DIR_NX))))
		return false;
	if (c->dir == DIR_1G &&
	    (!mode_is_long() || !cpu.gbpages || c->ro_level == 3))
		return false; /* level 3's R/W is then the leaf's own */
	return !leaf_has(c, LB_RSV) || leaf_reserved_bit(c) != 0;
}

/* The frame a leaf maps: the 4 KiB data page, or the large page holding
 * the data region (va's offset in it is DATA_BASE for 1 GiB, 0 below). */
static uint64_t leaf_frame(unsigned level)
{
	static const uint64_t frames[] = { 0, DATA_4K_FRAME, DATA_BASE, 0 };

	return frames[level] | (level > 1 ? X86_PTE_PS : 0);
}

static uint64_t leaf_value(const struct am_combo *c)
{
	static const uint64_t bits[LB_COUNT] = {
		[LB_P] = X86_PTE_P, [LB_RW] = X86_PTE_RW, [LB_US] = X86_PTE_US,
		[LB_A] = X86_PTE_A, [LB_D] = X86_PTE_D, [LB_NX] = X86_PTE_NX,
	};
	uint64_t v = leaf_frame(combo_leaf_level(c));

	for (unsigned b = 0; b < LB_COUNT; b++)
		if (leaf_has(c, b))
			v |= b == LB_RSV ? leaf_reserved_bit(c) : bits[b];
	if (mode_is_long())
		v |= (uint64_t)TEST_PKEY << X86_PTE_PK_SHIFT;
	return v;
}

void combo_entries(const struct am_combo *c, uint64_t want[])
{
	unsigned leaf = combo_leaf_level(c);

	for (unsigned l = 0; l <= UMBRA_LEVELS_MAX; l++)
		want[l] = 0;
	want[leaf] = leaf_value(c);
	if (leaf == 1)
		want[2] = env.table_of[2] | X86_PTE_P |
			  (c->dir & DIR_RW ? X86_PTE_RW : 0) |
			  (c->dir & DIR_US ? X86_PTE_US : 0) |
			  (c->dir & DIR_NX ? X86_PTE_NX : 0);
	if (!mode_is_long())
		return; /* the PAE PDPTE has no permissions: never varied */
	for (unsigned l = FIRST_UPPER_LEVEL; l <= env.top; l++) {
		if (l == leaf)
			continue;
		want[l] = env.table_of[l] | X86_PTE_P | X86_PTE_US |
			  (c->ro_level == l ? 0 : X86_PTE_RW) |
			  (c->ps_level == l ? X86_PTE_PS : 0);
	}
}

void combo_describe(const struct am_combo *c)
{
	static const char *const leaf_names[LB_COUNT] = {
		"P", "RW", "US", "A", "D", "NX", "RSV"
	};

	if (c->ro_level)
		kprintf("L%u read-only; ", c->ro_level);
	if (c->ps_level)
		kprintf("L%u PS (reserved); ", c->ps_level);
	if (c->dir == DIR_1G)
		kprintf("PDPTE: PS (a 1 GiB leaf)");
	else if (c->dir == DIR_PS)
		kprintf("dir: PS (the leaf)");
	else
		kprintf("dir: P%s%s%s", c->dir & DIR_RW ? " RW" : "",
			c->dir & DIR_US ? " US" : "",
			c->dir & DIR_NX ? " NX" : "");
	kprintf("; leaf: bits");
	for (unsigned b = 0; b < LB_COUNT; b++)
		if (leaf_has(c, b))
			kprintf(" %s", leaf_names[b]);
}
