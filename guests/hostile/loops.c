/*
 * Phase "loops": tables that point at themselves and at each other.
 *
 * Self-map: one entry of a table names the table itself (the root in
 * 32-bit and long mode; a directory in PAE, whose PDPTEs cannot).  Through
 * it the table is a page of data and every page table below it is an
 * array of PTEs: the guest reads the table through itself, then maps and
 * unmaps a page by writing its PTE through the self-map.
 *
 * Cycle: two fresh tables P and Q with P[a] = Q and Q[b] = P, hung below
 * the root: every level below the root alternates between them, and the
 * last entry maps one of them as data.  The guest reads it, and writes one
 * of its entries through the cycle.  The lib's software walk (pt_translate)
 * says which frame the CPU must reach.
 */
#include "hostile.h"

#define TARGET_SLOT 200u /* window slot mapped through the self-map */
#define CYCLE_A     7u   /* P[CYCLE_A] = Q */
#define CYCLE_B     9u   /* Q[CYCLE_B] = P */
#define CYCLE_C     11u  /* entry written through the cycle */
#define ENTRY_FLAGS (X86_PTE_P | X86_PTE_RW)

/* Root (or PAE directory) indexes nothing else uses in each mode. */
static unsigned self_index(enum pt_mode mode)
{
	return mode == PT_MODE_32 ? 1000u : mode == PT_MODE_PAE ? 500u : 5u;
}

static unsigned cycle_index(enum pt_mode mode)
{
	return mode == PT_MODE_32 ? 900u : mode == PT_MODE_PAE ? 1u : 6u;
}

/* Write a paging entry through a data address, as the guest's kernel
 * would: an 8-byte entry in two halves, the half with P last when it
 * becomes present and first when it stops being present. */
static bool store_entry(struct hctx *h, uintptr_t va, uint64_t value)
{
	uint32_t lo = (uint32_t)value, hi = (uint32_t)(value >> 32);

	if (pt_entry_size(h->pt.mode) == sizeof(uint32_t))
		return store32(va, lo).vector == TRAP_NONE;
	if (value & X86_PTE_P)
		return store32(va + 4, hi).vector == TRAP_NONE &&
		       store32(va, lo).vector == TRAP_NONE;
	return store32(va, lo).vector == TRAP_NONE &&
	       store32(va + 4, hi).vector == TRAP_NONE;
}

/* Words of the page at pa that read differently through va. */
static unsigned page_differs(uintptr_t va, uint64_t pa)
{
	const volatile uint32_t *own = page_ptr(pa);
	unsigned bad = 0;

	for (unsigned i = 0; i < PAGE_WORDS; i++) {
		struct outcome o = load32(va + i * sizeof(uint32_t));

		bad += o.vector != TRAP_NONE || o.value != own[i];
	}
	return bad;
}

static void self_map(struct hctx *h)
{
	enum pt_mode mode = h->pt.mode;
	unsigned top = pt_levels(mode), s = mode == PT_MODE_PAE ? 2 : top;
	unsigned r = self_index(mode), esize = pt_entry_size(mode);
	uint64_t table = s == top ? h->pt.root : table_of(h, WINDOW_VA, s);
	void *self = (uint8_t *)page_ptr(table) + r * esize;
	uint64_t target = window_va(TARGET_SLOT);
	unsigned idx[MAX_LEVELS + 1] = { 0 }, bad;
	uintptr_t table_va, pte_va;
	struct outcome mapped, unmapped;

	check(h, pte_read(&h->pt, self) == 0, "self-map slot in use");
	pte_write(&h->pt, self, table | ENTRY_FLAGS);
	pte_write(&h->pt, window_pte(h, TARGET_SLOT), 0);
	flush_all();

	/* The table as data: index r from level s down. */
	for (unsigned l = 1; l <= top; l++)
		idx[l] = l > s ? va_index(mode, WINDOW_VA, l) : r;
	table_va = (uintptr_t)va_from_indexes(mode, idx);
	bad = page_differs(table_va, table);

	/* target's PTE: levels below s shift down by one under the self-map. */
	for (unsigned l = 1; l <= top; l++)
		idx[l] = l > s ? va_index(mode, target, l)
			 : l == s ? r : va_index(mode, target, l + 1);
	idx[0] = va_index(mode, target, 1) * esize;
	pte_va = (uintptr_t)va_from_indexes(mode, idx);
	check(h, store_entry(h, pte_va, pattern_frame[0] | ENTRY_FLAGS),
	      "writing a PTE through the self-map faulted");
	invlpg(target);
	mapped = load32(target);
	check(h, store_entry(h, pte_va, 0),
	      "clearing a PTE through the self-map faulted");
	invlpg(target);
	unmapped = load32(target);

	pte_write(&h->pt, self, 0);
	flush_all();
	kprintf("hostile: %s: loops: self-map at level %u: table read through itself, %u words differ; PTE written through it %s; cleared through it: ",
		h->name, s, bad,
		mapped.vector == TRAP_NONE &&
		mapped.value == pattern_word(pattern_frame[0]) ? "maps the page"
							       : "does not map the page");
	outcome_print(&unmapped);
	kprintf("\n");
	check(h, bad == 0, "the table differs through its self-map");
	check(h, mapped.vector == TRAP_NONE &&
	      mapped.value == pattern_word(pattern_frame[0]),
	      "a PTE written through the self-map does not map its page");
	check(h, unmapped.vector != TRAP_NONE && unmapped.cr2_ok &&
	      !(unmapped.error & X86_PFEC_P),
	      "a PTE cleared through the self-map still maps");
}

static void cycle(struct hctx *h)
{
	enum pt_mode mode = h->pt.mode;
	unsigned top = pt_levels(mode), esize = pt_entry_size(mode);
	uint64_t p = page_alloc(), q = page_alloc();
	void *hook = (uint8_t *)page_ptr(h->pt.root) + cycle_index(mode) * esize;
	unsigned idx[MAX_LEVELS + 1] = { 0 }, level, bad;
	uint64_t pa, entry_c;
	uintptr_t va;
	bool wrote;

	check(h, pte_read(&h->pt, hook) == 0, "cycle slot in use");
	pte_write(&h->pt, (uint8_t *)page_ptr(p) + CYCLE_A * esize, q | ENTRY_FLAGS);
	pte_write(&h->pt, (uint8_t *)page_ptr(q) + CYCLE_B * esize, p | ENTRY_FLAGS);
	/* PAE PDPTEs take P alone: their RW bit is reserved. */
	pte_write(&h->pt, hook, p | (mode == PT_MODE_PAE ? X86_PTE_P : ENTRY_FLAGS));
	flush_all();

	idx[top] = cycle_index(mode);
	for (unsigned l = top - 1; l >= 1; l--)
		idx[l] = (top - 1 - l) % 2 ? CYCLE_B : CYCLE_A;
	va = (uintptr_t)va_from_indexes(mode, idx);
	check(h, pt_translate(&h->pt, va, &pa, &level) && (pa == p || pa == q),
	      "the software walk does not end in the cycle");
	bad = page_differs(va, pa);
	wrote = store_entry(h, va + CYCLE_C * esize, pattern_frame[1] | ENTRY_FLAGS);
	entry_c = pte_read(&h->pt, (uint8_t *)page_ptr(pa) + CYCLE_C * esize);
	bad += page_differs(va, pa);

	pte_write(&h->pt, hook, 0);
	flush_all();
	page_free(p);
	page_free(q);
	kprintf("hostile: %s: loops: cycle of two tables below the root: the %s read through the cycle, %u words differ; an entry written through it %s\n",
		h->name, pa == p ? "first" : "second", bad,
		wrote && entry_c == (pattern_frame[1] | ENTRY_FLAGS) ? "landed"
								      : "was lost");
	check(h, bad == 0, "a table differs read through the cycle");
	check(h, wrote && entry_c == (pattern_frame[1] | ENTRY_FLAGS),
	      "an entry written through the cycle did not land");
}

void phase_loops(struct hctx *h)
{
	self_map(h);
	cycle(h);
}
