/*
 * Case generation: a random sample of the paging matrix, from a seeded
 * xorshift generator.  Every flag of every level and every control bit is
 * set and clear often in every mode; the probabilities keep enough walks
 * successful that permission rules (not only not-present faults) decide
 * most cases.
 */
#include "probe.h"

static uint64_t rng;

void rng_seed(uint64_t seed)
{
	rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)((rnd() >> 32) % n);
}

static bool pct(unsigned p)
{
	return below(100) < p;
}

static unsigned shift_of(unsigned level)
{
	if (env.mode == PM_32)
		return level == 2 ? 22 : 12;
	return 12 + 9 * (level - 1);
}

static bool long_mode(void)
{
	return env.mode == PM_LONG4 || env.mode == PM_LONG5;
}

/* Reserved bits an entry can have, as a mask; `leaf_shift` is the page
 * size of a leaf (0 for an entry pointing at a table). */
static uint64_t reserved_mask(unsigned level, unsigned leaf_shift)
{
	unsigned m = env.cpu.maxphy;
	uint64_t hi = UMBRA_BITS(51, m);

	switch (env.mode) {
	case PM_32:
		if (leaf_shift == 22) {
			/* Bit 21, and the PSE-36 bits 20:13 (address bits
			 * 39:32) at or above MAXPHYADDR (32 without PSE-36). */
			uint64_t r = X86_PTE32_4M_RSVD_BIT;
			unsigned eff = env.cpu.pse36 ? m : 32;

			for (unsigned k = 0; k < 8; k++)
				if (32 + k >= eff)
					r |= UMBRA_BIT(13 + k);
			return r;
		}
		return 0;
	case PM_PAE:
		if (level == 3)
			return UMBRA_BITS(2, 1) | UMBRA_BITS(8, 5) |
			       UMBRA_BITS(63, m);
		return UMBRA_BITS(62, m) |
		       (leaf_shift == 21 ? UMBRA_BITS(20, 13) : 0);
	case PM_LONG4:
	case PM_LONG5:
		if (level >= 4)
			return hi | X86_PTE_PS;
		if (leaf_shift == 30)
			return hi | UMBRA_BITS(29, 13);
		if (leaf_shift == 21)
			return hi | UMBRA_BITS(20, 13);
		return hi;
	}
	return 0;
}

static unsigned pick_bit(uint64_t mask)
{
	unsigned n = 0, k;

	for (unsigned b = 0; b < 64; b++)
		n += mask >> b & 1;
	k = below(n);
	for (unsigned b = 0; b < 64; b++)
		if (mask >> b & 1 && k-- == 0)
			return b;
	return 0;
}

/* Random bits the walker must ignore in a 64-bit entry (never reserved). */
static uint64_t ignored_bits(bool leaf)
{
	uint64_t v = (uint64_t)below(8) << 9; /* bits 11:9 */

	if (long_mode()) {
		v |= (uint64_t)below(128) << 52; /* bits 58:52 */
		if (!leaf)
			v |= (uint64_t)below(16) << 59; /* 62:59 */
	}
	return v;
}

void case_generate(struct probe_case *c)
{
	const struct probe_cpu *cpu = &env.cpu;
	bool nxe = cpu->nx && pct(50), wide = env.esize == 8;
	unsigned top = env.top, leaf = 1, leaf_shift = 12, pkey = 0;
	unsigned idx[6] = { 0 }, ps[6] = { 0 };
	uint64_t val[6] = { 0 }, gpa[6] = { 0 }, va = 0, leaf_pa = 0, off;
	uint32_t pkru = 0;

	memset(c, 0, sizeof(*c));

	/* Control registers. */
	c->cr0 = env.base_cr0 | (pct(50) ? X86_CR0_WP : 0);
	c->cr4 = env.base_cr4;
	if (cpu->pse && pct(50))
		c->cr4 |= X86_CR4_PSE;
	if (cpu->smep && pct(50))
		c->cr4 |= X86_CR4_SMEP;
	if (cpu->smap && pct(50))
		c->cr4 |= X86_CR4_SMAP;
	if (cpu->pku && pct(50))
		c->cr4 |= X86_CR4_PKE;
	c->efer = env.base_efer | (nxe ? X86_EFER_NXE : 0);
	c->cr3 = env.root;

	/* The access. */
	c->kind = (uint8_t)below(3);
	c->cpl = pct(50) ? 3 : 0;
	c->ac = pct(50);
	c->stack = c->kind != UMBRA_ACCESS_FETCH && pct(10);

	/* Which level holds the leaf.  PS at a level where it does not map a
	 * page is kept: it is reserved (PML5E/PML4E, PDPTE without 1 GiB
	 * pages) or ignored (32-bit PDE without CR4.PSE). */
	for (unsigned l = top; l >= 2; l--) {
		bool maps = false;

		if (env.mode == PM_PAE && l == 3)
			continue; /* PDPTE: PS is one of the reserved bits */
		if (l == 2) {
			ps[l] = pct(40);
			maps = env.mode != PM_32 || (c->cr4 & X86_CR4_PSE);
		} else if (l == 3) {
			ps[l] = pct(cpu->gbpages ? 25 : 3);
			maps = cpu->gbpages;
		} else {
			ps[l] = pct(3);
		}
		if (ps[l] && maps) {
			leaf = l;
			leaf_shift = shift_of(l);
			break;
		}
	}

	/* Indices: the fixed test slot at the top, random below. */
	idx[top] = env.slot;
	for (unsigned l = top - 1; l >= 1; l--)
		idx[l] = below(env.mode == PM_32 ? 1024 : 512);
	for (unsigned l = top; l >= leaf; l--)
		va |= (uint64_t)idx[l] << shift_of(l);

	/* Leaf frame and offset: always inside the data region. */
	switch (leaf_shift) {
	case 12:
		leaf_pa = DATA_BASE + below(DATA_SIZE / 4096) * 4096u;
		off = below(4096);
		break;
	case 21:
		leaf_pa = DATA_BASE + below(2) * 0x200000u;
		off = below(0x200000);
		break;
	case 22:
		leaf_pa = DATA_BASE;
		off = below(0x400000);
		/* PSE-36: bits 39:32 of the page in PDE bits 20:13.  Only for
		 * data accesses: no RAM there, and QEMU cannot fetch from it. */
		if (cpu->pse36 && c->kind != UMBRA_ACCESS_FETCH && pct(15))
			leaf_pa |= (uint64_t)(below(255) + 1) << 32;
		break;
	default: /* 1 GiB: the page at 0, offset into the data region */
		leaf_pa = 0;
		off = DATA_BASE + below(DATA_SIZE);
		break;
	}
	va |= off;
	c->pa = leaf_pa + off;
	if (env.mode == PM_LONG4)
		va = (uint64_t)((int64_t)(va << 16) >> 16);
	else if (env.mode == PM_LONG5)
		va = (uint64_t)((int64_t)(va << 7) >> 7);

	/* Protection keys.  In long mode key 0 is the harness's (its user
	 * stack) and stays accessible; outside long mode PKRU has no effect
	 * at all, so there it is fully random, key 0 included, and a walker
	 * that applied keys there would fault the (key 0) test pages. */
	if (long_mode())
		pkey = pct(90) ? 1 + below(15) : 0;
	pkru = (uint32_t)(rnd() >> 32);
	if (long_mode())
		pkru &= ~3u;
	if (pkey) {
		pkru &= ~(3u << (2 * pkey));
		if (pct(35))
			pkru |= X86_PKRU_AD(pkey);
		if (pct(35))
			pkru |= X86_PKRU_WD(pkey);
	}
	c->pkru = cpu->pku ? pkru : 0;

	/* The entries, top to leaf. */
	for (unsigned l = top; l >= leaf; l--) {
		bool is_leaf = l == leaf;
		uint64_t v;

		gpa[l] = (l == top ? env.root : env.test_tab[l]) +
			 (uint64_t)idx[l] * env.esize;
		if (env.mode == PM_PAE && l == 3) {
			/* A PDPTE: P, PWT, PCD and ignored bits only. */
			v = env.test_tab[2] | (pct(96) ? X86_PTE_P : 0) |
			    (rnd() & (X86_PTE_PWT | X86_PTE_PCD)) |
			    ((uint64_t)below(8) << 9);
			val[l] = v;
			continue;
		}
		if (!is_leaf)
			v = env.test_tab[l - 1];
		else if (leaf_shift == 22) /* 32-bit 4 MiB: PSE-36 encoding */
			v = (leaf_pa & X86_PTE32_ADDR_4M) |
			    (leaf_pa >> 32 << X86_PTE32_PSE36_SHIFT);
		else
			v = leaf_pa;
		if (pct(is_leaf ? 88 : 95))
			v |= X86_PTE_P;
		if (pct(is_leaf ? 65 : 80))
			v |= X86_PTE_RW;
		if (pct(is_leaf ? 70 : 80))
			v |= X86_PTE_US;
		if (pct(50))
			v |= X86_PTE_A;
		if (pct(50))
			v |= X86_PTE_D; /* ignored in a non-leaf entry */
		v |= rnd() & (X86_PTE_PWT | X86_PTE_PCD);
		if (ps[l])
			v |= X86_PTE_PS;
		else if (is_leaf && pct(50))
			v |= X86_PTE_PAT4K; /* bit 7 of a 4 KiB PTE: PAT */
		if (is_leaf && leaf_shift > 12 && pct(50))
			v |= X86_PTE_PAT_LARGE;
		if (wide) {
			v |= ignored_bits(is_leaf);
			if (pct(nxe ? 20 : 4))
				v |= X86_PTE_NX;
			if (is_leaf && long_mode())
				v |= (uint64_t)pkey << X86_PTE_PK_SHIFT;
		} else {
			v |= (uint64_t)below(8) << 9;
		}
		val[l] = v;
	}

	/* At most one reserved bit, mostly in the leaf. */
	c->rsv_level = c->rsv_bit = NO_RSV;
	if (pct(8)) {
		unsigned l = pct(65) ? leaf : leaf + below(top - leaf + 1);
		uint64_t mask = reserved_mask(l, l == leaf ? leaf_shift : 0);

		if (mask) {
			unsigned b = pick_bit(mask);

			val[l] |= UMBRA_BIT(b);
			c->rsv_level = (uint8_t)l;
			c->rsv_bit = (uint8_t)b;
		}
	}

	/* Non-canonical addresses (long mode): flip one bit above the
	 * implemented width. */
	if (long_mode() && pct(4)) {
		unsigned lo = env.mode == PM_LONG5 ? 57 : 48;

		va ^= UMBRA_BIT(lo + below(64 - lo));
	}
	c->va = env.mode == PM_32 || env.mode == PM_PAE ? (uint32_t)va : va;

	/* The record's entries: PAE lists the four PDPTEs as loaded. */
	if (env.mode == PM_PAE) {
		for (unsigned i = 0; i < 4; i++) {
			struct probe_entry *e = &c->e[c->n++];

			e->level = 3;
			e->gpa = env.root + 8u * i;
			e->before = i == 0 ? env.harness_pdpte0
				    : i == env.slot ? val[3] : 0;
			e->flags = i == 0 ? PE_HARNESS : 0;
		}
	}
	for (unsigned l = top; l >= leaf; l--) {
		struct probe_entry *e;

		if (env.mode == PM_PAE && l == 3)
			continue;
		e = &c->e[c->n++];
		e->level = (uint8_t)l;
		e->gpa = gpa[l];
		e->before = val[l];
	}
}
