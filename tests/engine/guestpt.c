#include "guestpt.h"

#include <stdio.h>
#include <stdlib.h>

#include "umbra/x86.h"

void gpt_init(struct gpt *g, struct hw *hw, enum umbra_mode mode)
{
	g->hw = hw;
	g->mode = mode;
	g->esize = mode == UMBRA_MODE_32 ? 4 : 8;
	g->bits = mode == UMBRA_MODE_32 ? 10 : 9;
	switch (mode) {
	case UMBRA_MODE_32:
		g->levels = 2;
		break;
	case UMBRA_MODE_PAE:
		g->levels = 3;
		break;
	case UMBRA_MODE_LONG4:
		g->levels = 4;
		break;
	case UMBRA_MODE_LONG5:
		g->levels = 5;
		break;
	default:
		fprintf(stderr, "gpt: no tables in mode %d\n", mode);
		abort();
	}
	g->root = hw_alloc_table(hw);
}

static unsigned index_of(const struct gpt *g, uint64_t va, unsigned level)
{
	if (g->mode == UMBRA_MODE_PAE && level == 3)
		return (unsigned)(va >> X86_PAGE_SHIFT_1G) & 3;
	return (unsigned)(va >> (X86_PAGE_SHIFT_4K + (level - 1) * g->bits)) &
	       ((1u << g->bits) - 1);
}

uint64_t gpt_entry_gpa(struct gpt *g, uint64_t va, unsigned level)
{
	uint64_t table = g->root;
	unsigned l;

	for (l = g->levels; l > level; l--) {
		uint64_t egpa = table + (uint64_t)index_of(g, va, l) * g->esize;
		uint64_t e = hw_gread(g->hw, egpa, g->esize);

		if (!(e & X86_PTE_P)) {
			bool pdpte = g->mode == UMBRA_MODE_PAE && l == 3;

			e = hw_alloc_table(g->hw) |
			    (pdpte ? X86_PTE_P : GPT_DIR_FLAGS);
			hw_gwrite_raw(g->hw, egpa, g->esize, e);
		}
		table = e & (g->esize == 4 ? X86_PTE32_ADDR_4K : X86_PTE_ADDR_4K);
	}
	return table + (uint64_t)index_of(g, va, level) * g->esize;
}

void gpt_set_raw(struct gpt *g, uint64_t va, unsigned level, uint64_t val)
{
	hw_gwrite_raw(g->hw, gpt_entry_gpa(g, va, level), g->esize, val);
}

uint64_t gpt_cr3(const struct gpt *g)
{
	return g->root;
}

struct umbra_paging_regs gpt_regs(const struct gpt *g, uint64_t cr0_extra,
				  uint64_t cr4_extra, uint64_t efer_extra)
{
	struct umbra_paging_regs r = {
		.cr0 = X86_CR0_PE | X86_CR0_PG | cr0_extra,
		.cr3 = gpt_cr3(g),
		.cr4 = cr4_extra,
		.efer = efer_extra,
	};

	if (g->mode != UMBRA_MODE_32)
		r.cr4 |= X86_CR4_PAE;
	if (g->mode == UMBRA_MODE_LONG4 || g->mode == UMBRA_MODE_LONG5)
		r.efer |= X86_EFER_LME | X86_EFER_LMA;
	if (g->mode == UMBRA_MODE_LONG5)
		r.cr4 |= X86_CR4_LA57;
	return r;
}
