/*
 * Kernel-side checks of the paging structures:
 *   - the recursive window: every level of an address's walk read through
 *     the window equals the entry in memory, and the leaf translates as
 *     pt_translate says;
 *   - CR0.WP: with WP = 0 the kernel writes a read-only user page, with
 *     WP = 1 the same write faults;
 *   - global pages: a global kernel mapping changed in place is seen after
 *     INVLPG, after a CR4.PGE toggle, and (PGE off) after a CR3 reload.
 */
#include "kernel.h"

#define PGE_VA_MARK_A 0x41414141u
#define PGE_VA_MARK_B 0x42424242u

/* The null page is mapped only during pge_check; the pointer is opaque to
 * the compiler, which would otherwise treat a load from it as a trap. */
static volatile uintptr_t pge_va;
static uint64_t pge_frame[2];
static void *pge_pte;
/* The kernel's CR0 and CR4: it knows them, as a real one does, and never
 * reads them back (a control-register read may be an exit). */
static unsigned long kcr0, kcr4;

static uint64_t mask_ad(uint64_t e)
{
	return e & ~(uint64_t)(X86_PTE_A | X86_PTE_D);
}

/* The window address of va's entry at `level` (1: its PTE): each step
 * maps an address to the address of the entry that maps it. */
uintptr_t rec_entry_va(uint64_t va, unsigned level)
{
	for (unsigned l = 0; l < level; l++)
		va = lay.window + ((va & lay.va_mask) >> X86_PAGE_SHIFT_4K) *
					  pt_entry_size(lay.mode);
	return (uintptr_t)va;
}

/* Every level of va's walk from the root down (PAE: from the directory;
 * its PDPT has no recursive entry). */
static void rec_check_va(struct pt *pt, uint64_t va, bool counted)
{
	unsigned top = lay.mode == PT_MODE_PAE ? lay.levels - 1 : lay.levels;

	for (unsigned l = top; l >= 1; l--) {
		void *e = pt_entry(pt, va, l, false);
		uint64_t mem, win, pa;
		unsigned level;

		if (!e)
			return;
		mem = pte_read(pt, e);
		win = pte_read(pt, (void *)rec_entry_va(va, l));
		if (counted)
			st.rec_entries++;
		if (mask_ad(mem) != mask_ad(win))
			fail("recursive window: va %#llx level %u: %#llx, in memory %#llx",
			     (unsigned long long)va, l, (unsigned long long)win,
			     (unsigned long long)mem);
		if (!(mem & X86_PTE_P))
			return;
		if (pte_is_leaf(pt, mem, l)) {
			uint64_t via = pte_addr(pt, win, l) + (va & (pt_level_span(lay.mode, l) - 1));

			if (!pt_translate(pt, va, &pa, &level) || pa != via || level != l)
				fail("recursive window: va %#llx maps %#llx, pt_translate says otherwise",
				     (unsigned long long)va, (unsigned long long)via);
			return;
		}
	}
}

/* Every page of p's VMAs, the alias's read-only view, the shared large
 * page and (uncounted: it exists only with 1 GiB pages) the huge one, and
 * a few kernel addresses.  p's space is the loaded one. */
void rec_check_space(struct proc *p)
{
	for (int k = 0; k < N_VMAS; k++)
		for (uint32_t i = 0; i < lay.vma[k].pages; i++)
			rec_check_va(&p->pt, lay.vma[k].start + (uint64_t)i * SIZE_4K, true);
	for (uint32_t i = 0; i < ALIAS_PAGES; i++)
		rec_check_va(&p->pt, lay.alias_ro + (uint64_t)i * SIZE_4K, true);
	rec_check_va(&p->pt, lay.large + (uint64_t)p->pid * SLICE_SIZE, true);
	if (lay.huge)
		rec_check_va(&p->pt, lay.huge + lay.large_pa, false);
	rec_check_va(&p->pt, (uintptr_t)rec_check_space, true);
	rec_check_va(&p->pt, (uintptr_t)uprobe_load, true);
	rec_check_va(&p->pt, lay.large_pa, true);
	rec_check_va(&p->pt, p->pt.root, true);
	st.rec_checks++;
}

static void poke(void *va)
{
	*(volatile uint8_t *)va = *(volatile uint8_t *)va;
}

void write_protected(void *dst, const void *src, size_t n)
{
	write_cr0(kcr0 & ~X86_CR0_WP);
	memcpy(dst, src, n);
	write_cr0(kcr0);
}

/* ro_va: a present, read-only user page of the loaded space. */
void wp_check(uintptr_t ro_va)
{
	struct trap_info ti;
	uint32_t v;

	write_cr0(kcr0 & ~X86_CR0_WP);
	v = try_call(poke, (void *)ro_va, &ti);
	write_cr0(kcr0);
	if (v != TRAP_NONE)
		fail("CR0.WP=0: a kernel write to a read-only page raised vector %u", v);
	v = try_call(poke, (void *)ro_va, &ti);
	if (v != X86_VEC_PF || ti.error != (X86_PFEC_P | X86_PFEC_W) || ti.cr2 != ro_va)
		fail("CR0.WP=1: a kernel write to a read-only page: vector %u error %#x cr2 %#llx",
		     v, ti.error, (unsigned long long)ti.cr2);
	st.wp_checks++;
}

void checks_init(void)
{
	kcr0 = read_cr0() | X86_CR0_WP; /* the kernel honours read-only pages */
	kcr4 = read_cr4();
	write_cr0(kcr0);
	for (int i = 0; i < 2; i++) {
		pge_frame[i] = page_alloc();
		*(uint32_t *)page_ptr(pge_frame[i]) = i ? PGE_VA_MARK_B : PGE_VA_MARK_A;
	}
	pge_pte = pt_entry(&kpt, pge_va, 1, false);
	if (!pge_pte)
		panic("procs: the null page has no page table");
}

static void pge_map(int which)
{
	pte_write(&kpt, pge_pte, pge_frame[which] | X86_PTE_P | X86_PTE_RW | X86_PTE_G);
}

static void pge_expect(int which, const char *after)
{
	uint32_t want = which ? PGE_VA_MARK_B : PGE_VA_MARK_A;
	uint32_t got = *(volatile uint32_t *)pge_va;

	if (got != want)
		fail("global page: after %s read %#x, want %#x", after, got, want);
}

/* In the loaded space (the kernel half is shared, so any will do). */
void pge_check(void)
{
	pge_map(0);
	invlpg(pge_va);
	pge_expect(0, "mapping");
	pge_map(1);
	write_cr4(kcr4 & ~X86_CR4_PGE);
	pge_expect(1, "CR4.PGE off");
	pge_map(0);
	as_flush_loaded(); /* G is ignored now */
	pge_expect(0, "a CR3 reload with CR4.PGE off");
	write_cr4(kcr4);
	pge_map(1);
	invlpg(pge_va);
	pge_expect(1, "CR4.PGE on and INVLPG");
	pte_write(&kpt, pge_pte, 0);
	invlpg(pge_va);
	st.pge_checks++;
}
