/*
 * One guest page-table walk, written once and compiled per entry family
 * (the paging_tmpl.h idea): walk.c includes this file three times, for
 * 4-byte entries (32-bit paging), for 8-byte entries whose top level is the
 * PDPTE registers (PAE), and for 8-byte entries in long mode (4 or 5 levels).
 *
 * Parameters, defined by the includer:
 *   PT_FN(name)    the name of an instantiated function
 *   pt_entry_t     the type of one entry
 *   PT_LEVEL_BITS  index bits per level (10 or 9)
 *   PT_PDPTE_REGS  1 when level 3 comes from the loaded PDPTE registers
 *   PT_LONG        1 in long mode: 64-bit addresses, canonical checks, keys
 *
 * Everything that depends only on the registers (reserved-bit masks, which
 * levels may map large pages) was computed by umbra_walk_init(), so the loop
 * below only reads, masks and accumulates.
 */

#define PT_ENTRY_SIZE ((unsigned)sizeof(pt_entry_t))
#define PT_INDEX_MASK ((1u << PT_LEVEL_BITS) - 1)

/* Index of `va` in the table at `level`. */
static inline unsigned PT_FN(index)(uint64_t va, unsigned level)
{
	unsigned shift = X86_PAGE_SHIFT_4K + (level - 1) * PT_LEVEL_BITS;

	return (unsigned)(va >> shift) & PT_INDEX_MASK;
}

/* log2 of the size a leaf at `level` maps. */
static inline uint8_t PT_FN(page_shift)(unsigned level)
{
	return (uint8_t)(X86_PAGE_SHIFT_4K + (level - 1) * PT_LEVEL_BITS);
}

/* Guest-physical address of the table an entry points at. */
static inline uint64_t PT_FN(table_addr)(uint64_t pte)
{
	return PT_ENTRY_SIZE == 4 ? pte & X86_PTE32_ADDR_4K
				  : pte & X86_PTE_ADDR_4K;
}

/* Guest-physical address of the frame a leaf maps, plus the offset of va. */
static inline uint64_t PT_FN(leaf_gpa)(uint64_t pte, unsigned level,
				       uint64_t va)
{
	uint64_t offset_mask = (1ull << PT_FN(page_shift)(level)) - 1;
	uint64_t frame;

	if (PT_ENTRY_SIZE == 4 && level == 2) {
		/* A 4 MiB page: PSE-36 carries address bits 39:32 in PDE bits
		 * 20:13; any of them beyond MAXPHYADDR failed the reserved
		 * check already. */
		frame = (pte & X86_PTE32_ADDR_4M) |
			((pte & X86_PTE32_PSE36_MASK)
			 << (32 - X86_PTE32_PSE36_SHIFT));
	} else if (PT_ENTRY_SIZE == 4) {
		frame = pte & X86_PTE32_ADDR_4K;
	} else {
		/* Clearing the offset bits also drops the large-page PAT bit. */
		frame = pte & X86_PTE_ADDR_4K & ~offset_mask;
	}
	return frame | (va & offset_mask);
}

static void PT_FN(walk)(const struct umbra_walker *w,
			const struct umbra_access *acc,
			struct umbra_walk_result *res)
{
	const bool nx_enabled = (w->regs.efer & X86_EFER_NXE) != 0;
	uint64_t va = acc->va;
	uint64_t table = 0;
	unsigned level = w->levels;
	uint8_t perm = UMBRA_PERM_W | UMBRA_PERM_U | UMBRA_PERM_X;
	uint64_t pte = 0;

	if (PT_LONG) {
		if (!is_canonical(va, w->mode)) {
			res->status = acc->stack ? UMBRA_WALK_SS : UMBRA_WALK_GP;
			return;
		}
		table = w->regs.cr3 & X86_CR3_ADDR_LONG;
	} else {
		va &= UINT32_MAX;
		table = w->regs.cr3 & (PT_PDPTE_REGS ? X86_CR3_ADDR_PAE
						     : X86_CR3_ADDR_32);
	}
	res->top_level = (uint8_t)level;

	for (;;) {
		uint64_t gpa;
		bool large;

		if (PT_PDPTE_REGS && level == 3) {
			unsigned i = pae_pdpte_index(va);

			pte = w->pdpte[i];
			gpa = w->pdpte_gpa[i];
		} else {
			gpa = table + PT_FN(index)(va, level) * PT_ENTRY_SIZE;
			if (!w->mem.read(w->mem.ctx, gpa, PT_ENTRY_SIZE, &pte)) {
				res->level = (uint8_t)level;
				res->status = UMBRA_WALK_BADMEM;
				res->bad_gpa = gpa;
				return;
			}
		}
		res->entry[level].gpa = gpa;
		res->entry[level].val = pte;
		res->level = (uint8_t)level;

		if (!(pte & X86_PTE_P)) {
			raise_pf(res, acc, w, va, 0);
			return;
		}
		large = (pte & X86_PTE_PS) != 0;
		if (pte & w->rsvd[level][large]) {
			raise_pf(res, acc, w, va, X86_PFEC_P | X86_PFEC_RSVD);
			return;
		}
		/* The PDPTE registers carry no permissions. */
		if (!(PT_PDPTE_REGS && level == 3)) {
			if (!(pte & X86_PTE_RW))
				perm &= (uint8_t)~UMBRA_PERM_W;
			if (!(pte & X86_PTE_US))
				perm &= (uint8_t)~UMBRA_PERM_U;
			if (nx_enabled && (pte & X86_PTE_NX))
				perm &= (uint8_t)~UMBRA_PERM_X;
		}
		if (level == 1 || (large && w->ps_allowed[level]))
			break;
		/* Moving through a non-leaf entry marks it accessed, whether
		 * or not the access later faults (paging-rules.md). */
		if (!(PT_PDPTE_REGS && level == 3) && !(pte & X86_PTE_A))
			add_update(res, gpa, pte, pte | X86_PTE_A,
				   PT_ENTRY_SIZE, level);
		table = PT_FN(table_addr)(pte);
		level--;
	}

	res->perm = perm;
	res->pkey = PT_LONG ? (uint8_t)((pte & X86_PTE_PK_MASK)
					>> X86_PTE_PK_SHIFT)
			    : 0;
	{
		uint32_t denied = check_access(w, acc, perm, res->pkey);

		if (denied) {
			raise_pf(res, acc, w, va, denied);
			return;
		}
	}

	res->status = UMBRA_WALK_OK;
	res->page_shift = PT_FN(page_shift)(level);
	res->gpa = PT_FN(leaf_gpa)(pte, level, va);
	{
		uint64_t set = X86_PTE_A;

		if (acc->kind == UMBRA_ACCESS_WRITE)
			set |= X86_PTE_D;
		if ((pte & set) != set)
			add_update(res, res->entry[level].gpa, pte, pte | set,
				   PT_ENTRY_SIZE, level);
	}
}

#undef PT_ENTRY_SIZE
#undef PT_INDEX_MASK
