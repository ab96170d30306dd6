/*
 * Phase "outside": PTEs and large leaves that name guest-physical memory
 * with nothing behind it.  Under Umbra that range is where the host keeps
 * the shadow pool and its own data (QEMU gives the host 128 MiB more than
 * the guest's RAM), so a leak of host memory would show as data.  Every
 * read must give the one value the platform returns for nothing (printed,
 * so that the native run is the reference), and no write may stick.  Also:
 * an address at MAXPHYADDR (#PF with RSVD), a directory entry naming a
 * table beyond RAM (#PF, not present: nothing there reads as a zero entry).
 */
#include "hostile.h"

#define OUTSIDE_PROBES  64u
#define OUTSIDE_SPAN    (128ull << 20) /* the host's extra memory */
#define OUTSIDE_ALIGN   (16ull << 20)  /* start past any firmware tail */
#define PROBE_OFFSET    0x7F8u         /* a word in the middle of a page */
#define SIZE_4G         (4 * SIZE_1G)
#define VA_1G_LEAF      0x100000000ull /* 4-level/5-level only */

struct tally {
	bool have;
	uint32_t value;   /* what the first read gave */
	unsigned reads, others, kept, faults;
};

static void tally_read(struct tally *t, const struct outcome *o)
{
	if (o->vector != TRAP_NONE) {
		t->faults++;
		return;
	}
	if (!t->have) {
		t->have = true;
		t->value = o->value;
	}
	t->reads++;
	if (o->value != t->value)
		t->others++;
}

/* Read, write the complement, read again at va. */
static void probe(struct tally *t, uintptr_t va)
{
	struct outcome before = load32(va), after;
	uint32_t mark = ~before.value;

	tally_read(t, &before);
	if (store32(va, mark).vector != TRAP_NONE)
		t->faults++;
	after = load32(va);
	tally_read(t, &after);
	if (after.vector == TRAP_NONE && after.value == mark)
		t->kept++;
}

static uint64_t outside_base(const struct hctx *h)
{
	return (h->ram_end + OUTSIDE_ALIGN - 1) & ~(OUTSIDE_ALIGN - 1);
}

static bool addressable(const struct hctx *h, uint64_t pa)
{
	return pa < h->phys_limit &&
	       (h->pt.mode != PT_MODE_32 || pa < SIZE_4G);
}

/* 4 KiB PTEs: below 4 GiB across the host's memory, then far above. */
static void probe_pages(struct hctx *h, struct tally *t, unsigned *low,
			unsigned *high)
{
	/* Not the top of the physical space: QEMU's native map reserves
	 * [1012 GiB, 1 TiB) (the AMD HyperTransport hole), Umbra's does not. */
	const uint64_t far[] = { SIZE_4G, SIZE_4G + h->ram_end, 64 * SIZE_1G,
				 h->phys_limit / 2 };
	unsigned slot = 0;

	for (unsigned k = 0; k < OUTSIDE_PROBES; k++) {
		uint64_t pa = outside_base(h) + k * (OUTSIDE_SPAN / OUTSIDE_PROBES) +
			      (k % 8) * SIZE_4K;

		if (!check(h, phys_unlisted(pa, SIZE_4K),
			   "probe %llx is in the memory map", (unsigned long long)pa))
			continue;
		probe(t, window_map(h, slot++, pa, X86_PTE_RW) + PROBE_OFFSET);
		(*low)++;
	}
	for (unsigned k = 0; k < sizeof(far) / sizeof(far[0]); k++) {
		if (!addressable(h, far[k]) || !phys_unlisted(far[k], SIZE_4K))
			continue;
		probe(t, window_map(h, slot++, far[k], X86_PTE_RW) + PROBE_OFFSET);
		(*high)++;
	}
}

/* A large leaf (and a 1 GiB one in long mode) beyond RAM: first, middle
 * and last word. */
static void probe_large(struct hctx *h, struct tally *t, unsigned *leaves)
{
	uint64_t span = pt_level_span(h->pt.mode, 2);
	uint64_t pa = (outside_base(h) + OUTSIDE_SPAN / 2) & ~(span - 1);

	check(h, pt_map(&h->pt, LARGE_VA, pa, span, X86_PTE_P | X86_PTE_RW),
	      "large leaf not mapped");
	invlpg(LARGE_VA);
	for (uint64_t off = 0; off < span; off += span / 2 - sizeof(uint32_t))
		probe(t, LARGE_VA + (uintptr_t)off);
	pt_unmap(&h->pt, LARGE_VA);
	invlpg(LARGE_VA);
	(*leaves)++;
#ifdef __x86_64__
	if (cpu_has_1g() && phys_unlisted(SIZE_4G, SIZE_1G)) {
		check(h, pt_map(&h->pt, VA_1G_LEAF, SIZE_4G, SIZE_1G, X86_PTE_P | X86_PTE_RW),
		      "1 GiB leaf not mapped");
		invlpg(VA_1G_LEAF);
		probe(t, VA_1G_LEAF);
		probe(t, VA_1G_LEAF + SIZE_1G - sizeof(uint32_t));
		pt_unmap(&h->pt, VA_1G_LEAF);
		invlpg(VA_1G_LEAF);
		(*leaves)++;
	}
#endif
}

/* A leaf whose address has bit MAXPHYADDR set: a reserved bit. */
static void probe_rsvd(struct hctx *h)
{
	uintptr_t va;
	struct outcome o;

	if (h->pt.mode == PT_MODE_32 || h->phys_limit >= (1ull << 52))
		return;
	va = window_map(h, 0, h->phys_limit, X86_PTE_RW);
	o = load32(va);
	kprintf("hostile: %s: outside: leaf at MAXPHYADDR: ", h->name);
	outcome_print(&o);
	kprintf("\n");
	check(h, o.vector != TRAP_NONE && (o.error & X86_PFEC_RSVD) && o.cr2_ok,
	      "a leaf with a reserved address bit did not fault with RSVD");
}

/* The window's directory entry names a "table" beyond RAM. */
static void probe_table_outside(struct hctx *h)
{
	void *pde = pt_entry(&h->pt, WINDOW_VA, 2, false);
	uint64_t saved = pte_read(&h->pt, pde);
	struct outcome o;

	pte_write(&h->pt, pde, outside_base(h) | X86_PTE_P | X86_PTE_RW);
	flush_all();
	o = load32(window_va(1));
	pte_write(&h->pt, pde, saved);
	flush_all();
	kprintf("hostile: %s: outside: table beyond RAM: ", h->name);
	outcome_print(&o);
	kprintf("\n");
	check(h, o.vector != TRAP_NONE && o.cr2_ok,
	      "an access through a table beyond RAM did not fault");
}

void phase_outside(struct hctx *h)
{
	struct tally t = { .have = false };
	unsigned low = 0, high = 0, leaves = 0;

	probe_pages(h, &t, &low, &high);
	probe_large(h, &t, &leaves);
	kprintf("hostile: %s: outside: %u pages below 4 GiB, %u above, %u large leaves: %u reads gave %x, %u other values, %u faults, %u writes kept\n",
		h->name, low, high, leaves, t.reads, t.value, t.others,
		t.faults, t.kept);
	check(h, t.others == 0 && t.faults == 0 && t.kept == 0,
	      "memory beyond RAM is not uniform, faulted or kept a write");
	probe_rsvd(h);
	probe_table_outside(h);
}
