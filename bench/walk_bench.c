/*
 * Cost of one guest walk per paging mode, cache hot: the baseline that later
 * shadow-fault costs are measured against.
 *
 * Each mode maps a small working set of pages whose entries already have A
 * and D set (the steady state of a running guest), then walks them round
 * robin.  The figure that matters is the ratio to the bare cost of reading
 * the same entries through the same memory callback with no paging rules:
 * what the rules, masks and result bookkeeping add on top of the loads.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testmem.h"
#include "umbra/walk.h"
#include "umbra/x86.h"

#define GUEST_MEM        (64ull << 20)
#define TABLE_BASE       (32ull << 20) /* tables above the data frames */
#define WORKING_SET      64            /* pages walked round robin */
#define WALKS_PER_RUN    2000000u
#define RUNS             5             /* report the median */
#define TEST_VA_32       0x40000000ull
#define TEST_VA_LONG     0x00007f0000000000ull
#define LEAF_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A | X86_PTE_D)
#define DIR_FLAGS  (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A)

struct bench_mode {
	const char *name;
	struct umbra_paging_regs regs;
	uint64_t va;
};

static volatile uint64_t sink; /* keeps the loops from being optimised away */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Entry index of `va` at `level` for 9-bit (PAE/long) or 10-bit tables. */
static unsigned index_of(uint64_t va, unsigned level, unsigned bits)
{
	return (unsigned)(va >> (X86_PAGE_SHIFT_4K + (level - 1) * bits)) &
	       ((1u << bits) - 1);
}

/* Map WORKING_SET consecutive pages at `va`; returns the CR3 value. */
static uint64_t build_tables(struct testmem *m, unsigned levels,
			     unsigned entry_size, uint64_t va)
{
	unsigned bits = entry_size == 4 ? 10 : 9;
	uint64_t root = testmem_alloc_page(m);
	unsigned p;

	for (p = 0; p < WORKING_SET; p++) {
		uint64_t page_va = va + (uint64_t)p * X86_PAGE_SIZE_4K;
		uint64_t table = root;
		unsigned level;

		for (level = levels; level > 1; level--) {
			unsigned i = index_of(page_va, level, bits);
			uint64_t e = testmem_get_entry(m, table, i, entry_size);

			if (!(e & X86_PTE_P)) {
				/* PAE PDPTEs have no permission or A bits. */
				bool pdpte = entry_size == 8 && levels == 3 &&
					     level == 3;
				e = testmem_alloc_page(m) |
				    (pdpte ? X86_PTE_P : DIR_FLAGS);
				testmem_set_entry(m, table, i, entry_size, e);
			}
			table = e & X86_PTE_ADDR_4K;
		}
		testmem_set_entry(m, table, index_of(page_va, 1, bits),
				  entry_size,
				  ((uint64_t)p << X86_PAGE_SHIFT_4K) | LEAF_FLAGS);
	}
	return root;
}

static double median_ns_per_walk(const struct umbra_walker *w, uint64_t va)
{
	double runs[RUNS];
	struct umbra_access acc = { .kind = UMBRA_ACCESS_WRITE, .cpl = 3 };
	struct umbra_walk_result res;
	unsigned r, i;

	for (r = 0; r < RUNS; r++) {
		double t0 = now_ns();

		for (i = 0; i < WALKS_PER_RUN; i++) {
			acc.va = va + (uint64_t)(i % WORKING_SET) *
					      X86_PAGE_SIZE_4K;
			umbra_walk(w, &acc, &res);
			sink += res.gpa;
		}
		runs[r] = (now_ns() - t0) / WALKS_PER_RUN;
	}
	qsort(runs, RUNS, sizeof(runs[0]), cmp_double);
	return runs[RUNS / 2];
}

/* The baseline: read the same entries through the same callback, chasing
 * each level's address, with no checks at all. */
static double median_ns_per_bare_chase(const struct umbra_walker *w,
				       uint64_t va)
{
	const unsigned entry_size = w->mode == UMBRA_MODE_32 ? 4 : 8;
	const unsigned bits = entry_size == 4 ? 10 : 9;
	double runs[RUNS];
	unsigned r, i;

	for (r = 0; r < RUNS; r++) {
		double t0 = now_ns();

		for (i = 0; i < WALKS_PER_RUN; i++) {
			uint64_t page_va = va + (uint64_t)(i % WORKING_SET) *
							X86_PAGE_SIZE_4K;
			uint64_t table = w->regs.cr3 & X86_CR3_ADDR_LONG;
			uint64_t e = 0;
			unsigned level;

			for (level = w->levels; level >= 1; level--) {
				w->mem.read(w->mem.ctx,
					    table + index_of(page_va, level, bits) *
							    entry_size,
					    entry_size, &e);
				table = e & X86_PTE_ADDR_4K;
			}
			sink += e;
		}
		runs[r] = (now_ns() - t0) / WALKS_PER_RUN;
	}
	qsort(runs, RUNS, sizeof(runs[0]), cmp_double);
	return runs[RUNS / 2];
}

int main(void)
{
	const struct umbra_cpu_caps caps = {
		.maxphyaddr = 40, .gbpages = true, .pse36 = true,
	};
	const uint64_t pg = X86_CR0_PG | X86_CR0_PE | X86_CR0_WP;
	const uint64_t lma = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	struct bench_mode modes[] = {
		{ "32-bit", { .cr0 = pg, .cr4 = X86_CR4_PSE }, TEST_VA_32 },
		{ "pae", { .cr0 = pg, .cr4 = X86_CR4_PAE, .efer = X86_EFER_NXE },
		  TEST_VA_32 },
		{ "long4", { .cr0 = pg, .cr4 = X86_CR4_PAE, .efer = lma },
		  TEST_VA_LONG },
		{ "long5",
		  { .cr0 = pg, .cr4 = X86_CR4_PAE | X86_CR4_LA57, .efer = lma },
		  TEST_VA_LONG },
	};
	struct testmem m;
	unsigned i;

	testmem_init(&m, GUEST_MEM, TABLE_BASE);
	printf("walk cost, cache hot, %u-page working set, median of %d runs "
	       "of %u walks\n", WORKING_SET, RUNS, WALKS_PER_RUN);
	printf("%-8s %12s %14s %18s\n", "mode", "ns/walk", "bare ns/chase",
	       "walk/bare ratio");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct bench_mode *bm = &modes[i];
		enum umbra_mode mode = umbra_paging_mode(&bm->regs);
		unsigned levels = mode == UMBRA_MODE_32 ? 2
				  : mode == UMBRA_MODE_PAE ? 3
				  : mode == UMBRA_MODE_LONG4 ? 4 : 5;
		struct umbra_gmem g = testmem_gmem(&m);
		struct umbra_walker w;
		double walk, bare;

		testmem_reset(&m, TABLE_BASE);
		bm->regs.cr3 = build_tables(&m, levels,
					    mode == UMBRA_MODE_32 ? 4 : 8,
					    bm->va);
		if (umbra_walk_init(&w, &bm->regs, &caps, &g) != UMBRA_LOAD_OK) {
			fprintf(stderr, "walk_bench: %s: walker init failed\n",
				bm->name);
			return 1;
		}
		walk = median_ns_per_walk(&w, bm->va);
		bare = median_ns_per_bare_chase(&w, bm->va);
		printf("%-8s %12.1f %14.1f %17.2fx\n", bm->name, walk, bare,
		       walk / bare);
	}
	testmem_free(&m);
	return 0;
}
