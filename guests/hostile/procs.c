/*
 * Phase "procs": an address space per process for thousands of processes,
 * in waves: each wave creates `alive` address spaces (own root and tables,
 * the kernel's identity map shared at the root), switches CR3 among them
 * in order and then at random, each visit checking and updating the
 * process's private page, then tears them all down so that the next wave
 * reuses their frames (old tables become data and new tables).  A shadow
 * pool smaller than the working set must evict and stay correct.
 *
 * Arguments: procs=N (in all, default 3000), alive=N (per wave, default
 * 400, at most MAX_ALIVE).
 */
#include "hostile.h"

#define MAX_ALIVE    1024u
#define PROC_ROUNDS  3u   /* visits per process and wave */
#define PROC_SEED    0x0dd5eedu
#define SIG_MUL      0x2545F491u
#define PROC_VA_32   0x80000000u /* 32-bit: PD index 512; PAE: PDPTE 2 */

struct proc {
	struct pt pt;
	uint64_t data;
	uint32_t sig, visits;
};

struct procs {
	struct hctx *h;
	unsigned shared_to; /* root entries 0..shared_to are the kernel's */
	uint32_t rng;
	unsigned switches, wrong;
	struct proc p[MAX_ALIVE];
};

static struct procs ps;

/* The process page: outside the root entries the kernel shares (long
 * mode: root index 1). */
static uint64_t proc_va(enum pt_mode mode)
{
	if (mode == PT_MODE_LONG4 || mode == PT_MODE_LONG5)
		return pt_level_span(mode, pt_levels(mode));
	return PROC_VA_32;
}

static void proc_create(struct proc *p, uint32_t id)
{
	struct pt *k = &ps.h->pt;
	unsigned esize = pt_entry_size(k->mode);

	if (!pt_init(&p->pt, k->mode))
		panic("procs: out of memory for a root");
	for (unsigned i = 0; i <= ps.shared_to; i++)
		pte_write(&p->pt, (uint8_t *)page_ptr(p->pt.root) + i * esize,
			  pte_read(k, (uint8_t *)page_ptr(k->root) + i * esize));
	p->data = page_alloc();
	if (!pt_map(&p->pt, proc_va(k->mode), p->data, SIZE_4K, X86_PTE_P | X86_PTE_RW))
		panic("procs: cannot map a process page");
	p->sig = (id + 1) * SIG_MUL;
	p->visits = 0;
}

/* Run "in" the process: its page must hold what its last visit left. */
static void proc_visit(struct proc *p)
{
	volatile uint32_t *page =
		(volatile uint32_t *)(uintptr_t)proc_va(ps.h->pt.mode);
	uint32_t want = p->visits ? p->sig ^ (p->visits - 1) : 0;
	uint32_t got;

	write_cr3((unsigned long)pt_cr3(&p->pt, 0));
	ps.switches++;
	got = *page;
	*page = p->sig ^ p->visits;
	p->visits++;
	if (!check(ps.h, got == want, "process page holds %x, not %x", got, want))
		ps.wrong++;
}

static void proc_destroy(struct proc *p)
{
	uint32_t last = *(volatile uint32_t *)page_ptr(p->data);

	if (!check(ps.h, last == (p->sig ^ (p->visits - 1)),
		   "process frame holds %x after the wave", last))
		ps.wrong++;
	pt_free(&p->pt, 0, ps.shared_to);
	page_free(p->data);
}

void phase_procs(struct hctx *h)
{
	unsigned total = (unsigned)cmdline_get_u64("procs", 3000);
	unsigned alive = (unsigned)cmdline_get_u64("alive", 400);
	unsigned waves = 0, top = pt_levels(h->pt.mode);
	unsigned long kernel_cr3 = read_cr3();

	if (alive == 0 || alive > MAX_ALIVE)
		alive = MAX_ALIVE;
	ps.h = h;
	ps.shared_to = va_index(h->pt.mode, h->ram_end - 1, top);
	ps.rng = PROC_SEED;
	ps.switches = ps.wrong = 0;
	for (unsigned made = 0; made < total; waves++) {
		unsigned n = total - made < alive ? total - made : alive;

		for (unsigned i = 0; i < n; i++)
			proc_create(&ps.p[i], made + i);
		for (unsigned i = 0; i < n; i++)
			proc_visit(&ps.p[i]);
		for (unsigned r = 1; r < PROC_ROUNDS; r++)
			for (unsigned i = 0; i < n; i++)
				proc_visit(&ps.p[rng_next(&ps.rng) % n]);
		write_cr3(kernel_cr3);
		for (unsigned i = 0; i < n; i++)
			proc_destroy(&ps.p[i]);
		made += n;
	}
	kprintf("hostile: %s: procs: %u address spaces in %u waves of up to %u, %u CR3 switches, %u wrong\n",
		h->name, total, waves, alive, ps.switches, ps.wrong);
}
