/*
 * Address spaces.  Every process has its own root table; the root entries
 * [0, kernel_slots) point at the kernel's tables (the identity map of RAM,
 * global pages), so the kernel half is shared.  The user half starts at
 * the root's first slot above the kernel's (32-bit and PAE: 2 GiB), and a
 * supervisor-only recursive entry maps each space's tables at lay.window.
 *
 * The user VMAs: info (read-only, written by the kernel), data (filled at
 * exec), heap and stack (demand-zero), and the alias VMA, whose page table
 * a second, read-only directory entry (lay.alias_ro) shares.  Besides
 * those, every space maps the shared large page (lay.large) and, with
 * 1 GiB pages, physical memory from 0 read-only (lay.huge).
 *
 * Frames that processes map are refcounted (COW shares them).  The
 * allocator hands out the lowest free frame, so the frames a teardown
 * frees come back soon, as data or as tables: frame_role remembers what a
 * frame was when freed, to count those reuses.
 */
#include "kernel.h"

#define MAX_FRAMES (SIZE_1G / SIZE_4K) /* main.c keeps RAM below 1 GiB */
#define REC_SLOT_32  1023u /* 0xFFC00000 */
#define REC_SLOT_64  510u  /* 0xFFFFFF00_00000000 (4-level) */
#define PAE_REC_FIRST 508u /* PD3[508..511] -> PD0..PD3: 0xFF800000 */
#define PAE_PDPT_SLOTS 4u
#define PAE_REC_VA   0xC0000000ull /* a va whose directory is PD3 */
#define USER_SLOT_32 2u /* 32-bit and PAE: the user half starts at 2 GiB */

enum frame_role { ROLE_FRESH, ROLE_DATA, ROLE_FREED_DATA, ROLE_FREED_TABLE };

struct layout lay;
struct pt kpt;
static uint16_t refs[MAX_FRAMES];
static uint8_t role[MAX_FRAMES];
static struct proc *loaded; /* whose tables CR3 holds; NULL: kpt */
/* The shared large page: one 4 MiB-aligned block outside the allocator. */
static uint8_t large_pool[SIZE_4M] __attribute__((aligned(SIZE_4M)));

static uint64_t frame_no(uint64_t pa)
{
	return pa / SIZE_4K;
}

static uint64_t sign_extend(uint64_t va, unsigned bits)
{
	return (uint64_t)((int64_t)(va << (64 - bits)) >> (64 - bits));
}

void layout_init(enum pt_mode mode, bool huge, bool pcid)
{
	unsigned levels = pt_levels(mode);
	uint64_t top_span = pt_level_span(mode, levels), page = SIZE_4K;

	lay.mode = mode;
	lay.levels = levels;
	lay.dir_span = pt_level_span(mode, 2);
	lay.pcid = pcid;
	if (mode == PT_MODE_32 || mode == PT_MODE_PAE) {
		lay.user_base = USER_SLOT_32 * SIZE_1G;
		lay.va_mask = 0xffffffffull;
		lay.window = mode == PT_MODE_32
				     ? (uint64_t)REC_SLOT_32 << X86_PAGE_SHIFT_4M
				     : 3 * SIZE_1G + PAE_REC_FIRST * SIZE_2M;
	} else {
		unsigned bits = mode == PT_MODE_LONG5 ? 57 : 48;

		lay.user_base = top_span; /* root slot 1 */
		lay.va_mask = (1ull << bits) - 1;
		lay.window = sign_extend((uint64_t)REC_SLOT_64 * top_span, bits);
	}
	lay.vma[VMA_INFO] = (struct vma){ lay.user_base, 1, false };
	lay.vma[VMA_DATA] = (struct vma){ lay.user_base + page, DATA_PAGES, false };
	lay.vma[VMA_HEAP] = (struct vma){ lay.user_base + (1 + DATA_PAGES) * page,
					  HEAP_PAGES, true };
	lay.vma[VMA_STACK] = (struct vma){ lay.user_base + lay.dir_span -
						   STACK_PAGES * page,
					   STACK_PAGES, true };
	lay.vma[VMA_ALIAS] = (struct vma){ lay.user_base + 2 * lay.dir_span,
					   ALIAS_PAGES, true };
	lay.alias_ro = lay.user_base + 3 * lay.dir_span;
	lay.large = lay.user_base + 4 * lay.dir_span;
	lay.large_pa = (uintptr_t)large_pool;
	lay.huge = huge ? lay.user_base + SIZE_1G : 0;
}

int vma_of(uint64_t va)
{
	for (int k = 0; k < N_VMAS; k++)
		if (va >= lay.vma[k].start &&
		    va < lay.vma[k].start + (uint64_t)lay.vma[k].pages * SIZE_4K)
			return k;
	return -1;
}

/* ---- frames ------------------------------------------------------------------ */
uint64_t frame_alloc_data(void)
{
	uint64_t pa = page_alloc(), f = frame_no(pa);

	if (role[f] == ROLE_FREED_TABLE)
		st.reuse_table_as_data++;
	role[f] = ROLE_DATA;
	refs[f] = 1;
	return pa;
}

static void frame_ref(uint64_t pa)
{
	refs[frame_no(pa)]++;
}

uint32_t frame_refs(uint64_t pa)
{
	return refs[frame_no(pa)];
}

void frame_unref(uint64_t pa)
{
	uint64_t f = frame_no(pa);

	if (!refs[f])
		panic("procs: frame %#llx unreferenced twice", (unsigned long long)pa);
	if (--refs[f] == 0) {
		role[f] = ROLE_FREED_DATA;
		page_free(pa);
	}
}

/* A table of a space being torn down: was it a reused frame? */
static void note_table(uint64_t pa)
{
	uint64_t f = frame_no(pa);

	if (role[f] == ROLE_FREED_TABLE)
		st.reuse_table_as_table++;
	else if (role[f] == ROLE_FREED_DATA)
		st.reuse_data_as_table++;
	role[f] = ROLE_FREED_TABLE;
}

static void note_tables(struct pt *pt, uint64_t table, unsigned level)
{
	if (level > 1) {
		for (unsigned i = 0; i < pt_entries(lay.mode, level); i++) {
			uint64_t e = pte_read(pt, pt_slot(pt, table, i));

			if (level == lay.levels && i < lay.kernel_slots)
				continue;
			if ((e & X86_PTE_P) && !pte_is_leaf(pt, e, level))
				note_tables(pt, pte_addr(pt, e, level), level - 1);
		}
	}
	note_table(table);
}

/* ---- the kernel half --------------------------------------------------------- */
static void map_or_panic(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size,
			 uint64_t flags)
{
	if (!pt_map(pt, va, pa, size, flags))
		panic("procs: cannot map %#llx", (unsigned long long)va);
}

/* The supervisor-only self-reference: the root (PAE: the four directories,
 * from PD3) appears as a table of itself. */
static void recursive_set(struct pt *pt, bool on)
{
	if (lay.mode == PT_MODE_PAE) {
		/* PAE_REC_VA is PD3's entry 0: its address is PD3's */
		void *pd3 = pt_entry(pt, PAE_REC_VA, 2, on);

		if (!pd3)
			return;
		for (unsigned i = 0; i < PAE_PDPT_SLOTS; i++) {
			uint64_t pdpte = pte_read(pt, pt_slot(pt, pt->root, i));
			uint64_t v = on && (pdpte & X86_PTE_P)
					     ? pte_addr(pt, pdpte, 3) | X86_PTE_P | X86_PTE_RW
					     : 0;

			pte_write(pt, pt_slot(pt, (uintptr_t)pd3, PAE_REC_FIRST + i), v);
		}
		return;
	}
	unsigned slot = lay.mode == PT_MODE_32 ? REC_SLOT_32 : REC_SLOT_64;

	pte_write(pt, pt_slot(pt, pt->root, slot),
		  on ? pt->root | X86_PTE_P | X86_PTE_RW : 0);
}

/* Identity-map RAM: 4 KiB pages in the first directory span (the user
 * text pages there are user-readable), large leaves above; all global. */
void as_kernel_init(void)
{
	uint64_t ram = page_ram_end(), first = lay.dir_span;
	uint64_t utext = (uintptr_t)__user_start, uend = (uintptr_t)__user_end;
	uint64_t kflags = X86_PTE_P | X86_PTE_RW | X86_PTE_G;

	if (uend > first || (uintptr_t)large_pool + SIZE_4M > ram)
		panic("procs: the image does not fit the layout");
	if (!pt_init(&kpt, lay.mode))
		panic("procs: no memory for the kernel's tables");
	/* page 0 stays unmapped: pge_check borrows it */
	for (uint64_t va = SIZE_4K; va < first; va += SIZE_4K) {
		bool user = va >= utext && va < uend;

		map_or_panic(&kpt, va, va, SIZE_4K,
			     user ? X86_PTE_P | X86_PTE_US | X86_PTE_G : kflags);
	}
	if (!pt_map_range(&kpt, first, first, (ram & ~(SIZE_4K - 1)) - first, kflags))
		panic("procs: cannot identity-map RAM");
	if (lay.mode == PT_MODE_32 || lay.mode == PT_MODE_PAE) {
		uint64_t span = pt_level_span(lay.mode, lay.levels);

		lay.kernel_slots = (unsigned)((ram + span - 1) / span);
	} else {
		lay.kernel_slots = 1;
	}
	recursive_set(&kpt, true);
}

/* p's CR3 without the no-flush bit; PCID = pid + 1 (0 is the kernel's). */
static uint64_t space_cr3(const struct proc *p)
{
	if (!p)
		return pt_cr3(&kpt, 0);
	return pt_cr3(&p->pt, lay.pcid ? (uint16_t)(p->pid + 1) : 0);
}

void as_switch(struct proc *p)
{
	uint64_t cr3 = space_cr3(p);

	if (p == loaded && !(p && p->tlb_stale))
		return;
	if (lay.pcid && p && !p->tlb_stale)
		cr3 |= CR3_NOFLUSH;
	if (p)
		p->tlb_stale = false;
	write_cr3((unsigned long)cr3);
	loaded = p;
}

void as_flush_loaded(void)
{
	write_cr3((unsigned long)space_cr3(loaded));
}

/* ---- process spaces -------------------------------------------------------------- */
/* A root sharing the kernel half, the recursive entry and an info page. */
bool as_create(struct pt *pt)
{
	unsigned es = pt_entry_size(lay.mode);

	if (!pt_init(pt, lay.mode))
		return false;
	memcpy(page_ptr(pt->root), page_ptr(kpt.root), lay.kernel_slots * es);
	map_or_panic(pt, lay.vma[VMA_INFO].start, frame_alloc_data(), SIZE_4K,
		     X86_PTE_P | X86_PTE_US);
	recursive_set(pt, true);
	return true;
}

static void *leaf_of(struct pt *pt, uint64_t va)
{
	void *e = pt_entry(pt, va, 1, false);

	return e && (pte_read(pt, e) & X86_PTE_P) ? e : NULL;
}

/* The alias's directory entry again, read-only, pointing at its table;
 * the large page; physical memory through one 1 GiB page. */
static void map_shared(struct pt *pt)
{
	uint64_t alias = lay.vma[VMA_ALIAS].start;
	void *rw, *ro;

	if (!pt_entry(pt, alias, 1, true))
		panic("procs: no memory for the alias table");
	rw = pt_entry(pt, alias, 2, false);
	ro = pt_entry(pt, lay.alias_ro, 2, true);
	pte_write(pt, ro, pte_read(pt, rw) & ~(X86_PTE_RW | X86_PTE_A));
	map_or_panic(pt, lay.large, lay.large_pa, lay.dir_span, PTE_USER_RW);
	if (lay.huge)
		map_or_panic(pt, lay.huge, 0, SIZE_1G, X86_PTE_P | X86_PTE_US);
}

/* A fresh image: data pages with the (pid, gen) pattern. */
void as_map_image(struct proc *p)
{
	const struct vma *d = &lay.vma[VMA_DATA];

	for (uint32_t i = 0; i < d->pages; i++) {
		uint64_t pa = frame_alloc_data();
		uint32_t *w = page_ptr(pa);

		for (uint32_t j = 0; j < WORDS_PER_PAGE; j++)
			w[j] = pattern(data_seed(p->pid, p->gen), i, j);
		map_or_panic(&p->pt, d->start + (uint64_t)i * SIZE_4K, pa, SIZE_4K,
			     PTE_USER_RW);
	}
	map_shared(&p->pt);
}

/* Copy the parent's data, heap, stack and alias pages: fresh frames
 * (eager) or the same frames write-protected in both (COW). */
void as_fork(struct proc *parent, struct proc *child, bool cow)
{
	for (int k = VMA_DATA; k < N_VMAS; k++) {
		for (uint32_t i = 0; i < lay.vma[k].pages; i++) {
			uint64_t va = lay.vma[k].start + (uint64_t)i * SIZE_4K;
			void *e = leaf_of(&parent->pt, va);
			uint64_t pte, pa, flags;

			if (!e)
				continue;
			pte = pte_read(&parent->pt, e);
			pa = pte_addr(&parent->pt, pte, 1);
			flags = X86_PTE_P | X86_PTE_US;
			if (cow) {
				if (pte & (X86_PTE_RW | PTE_COW)) {
					pte = (pte & ~X86_PTE_RW) | PTE_COW;
					pte_write(&parent->pt, e, pte);
					flags |= PTE_COW;
				}
				frame_ref(pa);
			} else {
				uint64_t copy = frame_alloc_data();

				memcpy(page_ptr(copy), page_ptr(pa), PAGE_SIZE);
				if (pte & (X86_PTE_RW | PTE_COW))
					flags |= X86_PTE_RW;
				pa = copy;
			}
			map_or_panic(&child->pt, va, pa, SIZE_4K, flags);
		}
		child->holes[k] = parent->holes[k];
	}
	map_shared(&child->pt);
	if (cow && loaded == parent) /* the parent lost write access */
		as_flush_loaded();
}

/* FNV-1a of the pages a process leaves: data, heap, alias (not the stack,
 * whose contents are the compiler's business). */
uint32_t as_hash(struct proc *p)
{
	static const int hashed[] = { VMA_DATA, VMA_HEAP, VMA_ALIAS };
	uint32_t h = FNV1A_INIT;

	for (unsigned n = 0; n < sizeof(hashed) / sizeof(hashed[0]); n++) {
		const struct vma *v = &lay.vma[hashed[n]];

		for (uint32_t i = 0; i < v->pages; i++) {
			void *e = leaf_of(&p->pt, v->start + (uint64_t)i * SIZE_4K);
			const uint32_t *w;

			h = fnv_word(h, e ? i : ~i);
			if (!e)
				continue;
			w = page_ptr(pte_addr(&p->pt, pte_read(&p->pt, e), 1));
			for (uint32_t j = 0; j < WORDS_PER_PAGE; j++)
				h = fnv_word(h, w[j]);
		}
	}
	return h;
}

/* Drop the user half and the root (never the loaded space). */
void as_destroy(struct pt *pt)
{
	void *ro = pt_entry(pt, lay.alias_ro, 2, false);

	if (loaded && pt->root == loaded->pt.root)
		panic("procs: destroying the loaded address space");
	recursive_set(pt, false);
	if (ro)
		pte_write(pt, ro, 0);
	for (int k = 0; k < N_VMAS; k++) {
		for (uint32_t i = 0; i < lay.vma[k].pages; i++) {
			void *e = leaf_of(pt, lay.vma[k].start + (uint64_t)i * SIZE_4K);

			if (e)
				frame_unref(pte_addr(pt, pte_read(pt, e), 1));
		}
	}
	note_tables(pt, pt->root, lay.levels);
	pt_free(pt, 0, lay.kernel_slots - 1);
}
