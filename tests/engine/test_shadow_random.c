/*
 * Randomised guest workloads through the shadow engine, in every paging
 * mode: random page-table contents (present, R/W, U/S, NX, A, D, large
 * pages, reserved bits, protection keys), random control bits (CR0.WP,
 * EFER.NXE, CR4.PSE/SMEP/SMAP/PKE, PKRU), random accesses (read, write,
 * fetch; CPL 0 and 3; EFLAGS.AC; implicit supervisor) and page-table
 * rewrites done the way a guest kernel does them: stores through its own
 * mapping of the tables, which the engine must trap and apply.
 *
 * The harness checks every access against the guest's own tables and runs
 * the audit after every step, so any stale or too-permissive shadow entry,
 * wrong error code or wrong A/D bit fails the test with a precise message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "guestpt.h"
#include "harness.h"
#include "rng.h"
#include "umbra/x86.h"

#define GUEST_MB      16
#define POOL_PAGES    96
#define TEST_VA       0x40000000ull   /* 1 GiB: its own top-level entry */
#define KERNEL_MAP    0x200000ull     /* identity map of [0, 2 MiB): tables */
#define DATA_GPA      0x800000ull     /* data frames from 8 MiB */
#define DATA_FRAMES   128
#define UNBACKED_GPA  0x4000000ull    /* 64 MiB: beyond guest RAM */
#define N_DIRS        4               /* directory entries in the test area */
#define N_PAGES       8               /* pages used per directory entry */
#define ROUNDS        40
#define ACCESSES      40
#define EDITS         12
#define RSVD_BIT      UMBRA_BIT(45)   /* above MAXPHYADDR 40 */


struct world {
	struct hw hw;
	struct gpt g;
	struct rng r;
	uint64_t pt[N_DIRS]; /* each test directory entry's own table */
	bool long_mode;
};

static uint64_t dir_span(const struct world *w)
{
	return w->g.esize == 4 ? 1ull << X86_PAGE_SHIFT_4M
			       : 1ull << X86_PAGE_SHIFT_2M;
}

static uint64_t test_va(const struct world *w, unsigned d, unsigned p)
{
	return TEST_VA + d * dir_span(w) + (uint64_t)p * X86_PAGE_SIZE_4K;
}

/* A random frame for a leaf: mostly data, sometimes a page-table frame
 * (the same frame as table and data), sometimes unbacked memory. */
static uint64_t random_frame(struct world *w)
{
	if (chance(&w->r, 5))
		return HW_TABLE_BASE +
		       (rnd(&w->r) % 8) * X86_PAGE_SIZE_4K;
	if (chance(&w->r, 3))
		return UNBACKED_GPA;
	return DATA_GPA + (rnd(&w->r) % DATA_FRAMES) * X86_PAGE_SIZE_4K;
}

static uint64_t random_rights(struct world *w, unsigned p_pct, unsigned rw_pct,
			      unsigned us_pct, unsigned nx_pct)
{
	uint64_t e = 0;

	if (chance(&w->r, p_pct))
		e |= X86_PTE_P;
	if (chance(&w->r, rw_pct))
		e |= X86_PTE_RW;
	if (chance(&w->r, us_pct))
		e |= X86_PTE_US;
	if (chance(&w->r, 60))
		e |= X86_PTE_A;
	if (chance(&w->r, 50))
		e |= X86_PTE_D;
	if (w->g.esize == 8 && chance(&w->r, nx_pct))
		e |= X86_PTE_NX;
	return e;
}

static uint64_t random_leaf(struct world *w)
{
	uint64_t e = random_frame(w) | random_rights(w, 85, 50, 70, 25);

	if (w->g.esize == 8 && chance(&w->r, 3))
		e |= RSVD_BIT;
	if (w->long_mode)
		e |= (rnd(&w->r) & 0xF) << X86_PTE_PK_SHIFT;
	return e;
}

/* A directory entry: its own table, or (PS) a large page over data. */
static uint64_t random_dir(struct world *w, unsigned d)
{
	uint64_t e = random_rights(w, 95, 70, 80, 15);

	if (chance(&w->r, 20))
		return e | X86_PTE_PS | DATA_GPA; /* 2 and 4 MiB aligned */
	return (e & ~X86_PTE_D) | w->pt[d];
}

static void build(struct world *w, enum umbra_mode mode, uint64_t seed)
{
	uint64_t va;
	unsigned d, p;

	hw_init(&w->hw, GUEST_MB, POOL_PAGES);
	w->r.s = seed;
	w->long_mode = mode == UMBRA_MODE_LONG4 || mode == UMBRA_MODE_LONG5;
	gpt_init(&w->g, &w->hw, mode);
	/* The kernel's identity map of the tables: supervisor, writable. */
	for (va = 0; va < KERNEL_MAP; va += X86_PAGE_SIZE_4K)
		gpt_set_raw(&w->g, va, 1,
			    va | X86_PTE_P | X86_PTE_RW | X86_PTE_A | X86_PTE_D);
	for (d = 0; d < N_DIRS; d++) {
		w->pt[d] = hw_alloc_table(&w->hw);
		gpt_set_raw(&w->g, test_va(w, d, 0), 2, random_dir(w, d));
		for (p = 0; p < N_PAGES; p++)
			hw_gwrite_raw(&w->hw, w->pt[d] + p * w->g.esize,
				      w->g.esize, random_leaf(w));
	}
	/* Every table must come from the identity-mapped area. */
	assert_true(w->hw.next_table_gpa <= KERNEL_MAP);
}

static void set_random_mode(struct world *w)
{
	uint64_t cr0 = chance(&w->r, 50) ? X86_CR0_WP : 0;
	uint64_t cr4 = 0, efer = 0;
	struct umbra_paging_regs regs;

	if (chance(&w->r, 30))
		cr4 |= X86_CR4_SMEP;
	if (chance(&w->r, 30))
		cr4 |= X86_CR4_SMAP;
	if (w->g.mode == UMBRA_MODE_32 && chance(&w->r, 60))
		cr4 |= X86_CR4_PSE;
	if (w->g.mode != UMBRA_MODE_32 && chance(&w->r, 50))
		efer |= X86_EFER_NXE;
	if (w->long_mode && chance(&w->r, 30))
		cr4 |= X86_CR4_PKE;
	regs = gpt_regs(&w->g, cr0, cr4, efer);
	regs.pkru = (uint32_t)rnd(&w->r) & ~3u; /* key 0 stays open */
	assert_int_equal(hw_set_paging(&w->hw, &regs, UMBRA_WROTE_ALL),
			 UMBRA_OK);
}

static void check(struct world *w, struct hw_result r, const char *what,
		  uint64_t va)
{
	if (r.outcome == HW_BROKEN)
		fail_msg("%s at va %#llx (mode %s): %s", what,
			 (unsigned long long)va, umbra_mode_name(w->g.mode),
			 w->hw.last_problem);
}

static void random_access(struct world *w)
{
	unsigned d = (unsigned)(rnd(&w->r) % N_DIRS);
	unsigned p = (unsigned)(rnd(&w->r) % N_PAGES);
	struct umbra_access acc = {
		.va = test_va(w, d, p) + (rnd(&w->r) % 512) * 8,
		.kind = (uint8_t)(rnd(&w->r) % 3),
		.cpl = chance(&w->r, 50) ? 3 : 0,
		.ac = chance(&w->r, 50),
	};

	acc.implicit_supervisor = acc.kind != UMBRA_ACCESS_FETCH &&
				  chance(&w->r, 10);
	check(w, hw_access(&w->hw, &acc, 8, rnd(&w->r)), "access", acc.va);
}

/* Rewrite one test entry as the guest kernel would: a store through the
 * identity map of its tables. */
static void random_edit(struct world *w)
{
	unsigned d = (unsigned)(rnd(&w->r) % N_DIRS);
	uint64_t gpa, val;

	if (chance(&w->r, 25)) {
		gpa = gpt_entry_gpa(&w->g, test_va(w, d, 0), 2);
		val = random_dir(w, d);
	} else {
		gpa = w->pt[d] + (rnd(&w->r) % N_PAGES) * w->g.esize;
		val = random_leaf(w);
	}
	check(w, hw_store(&w->hw, gpa, w->g.esize, val, 0), "table edit", gpa);
}

static void run_mode(enum umbra_mode mode, uint64_t seed)
{
	struct world w;
	unsigned round, i;

	build(&w, mode, seed);
	for (round = 0; round < ROUNDS; round++) {
		set_random_mode(&w);
		for (i = 0; i < ACCESSES; i++)
			random_access(&w);
		for (i = 0; i < EDITS; i++)
			random_edit(&w);
		if (chance(&w.r, 30))
			umbra_invlpg(w.hw.mmu, test_va(&w, 0, 0));
	}
	print_message("%s: %llu accesses, %llu #PF exits, %llu emulated writes\n",
		      umbra_mode_name(mode),
		      (unsigned long long)w.hw.accesses,
		      (unsigned long long)w.hw.hw_faults,
		      (unsigned long long)w.hw.emulated);
	hw_fini(&w.hw);
}

static void test_random_workload_32bit(void **state)
{
	(void)state;
	run_mode(UMBRA_MODE_32, 0x1234567u);
}

static void test_random_workload_pae(void **state)
{
	(void)state;
	run_mode(UMBRA_MODE_PAE, 0x2345678u);
}

static void test_random_workload_long4(void **state)
{
	(void)state;
	run_mode(UMBRA_MODE_LONG4, 0x3456789u);
}

static void test_random_workload_long5(void **state)
{
	(void)state;
	run_mode(UMBRA_MODE_LONG5, 0x456789Au);
}

static void test_paging_off_maps_guest_ram_directly(void **state)
{
	struct hw hw;
	uint64_t gpa;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	for (gpa = 0; gpa < ((uint64_t)GUEST_MB << 20); gpa += 0x3F000) {
		struct umbra_access acc = {
			.va = gpa, .kind = UMBRA_ACCESS_WRITE, .cpl = 0,
		};
		struct hw_result r = hw_access(&hw, &acc, 8, gpa);

		if (r.outcome != HW_OK)
			fail_msg("paging off, gpa %#llx: %s",
				 (unsigned long long)gpa, hw.last_problem);
		assert_int_equal(hw_gread(&hw, gpa, 8), gpa);
	}
	hw_fini(&hw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paging_off_maps_guest_ram_directly),
		cmocka_unit_test(test_random_workload_32bit),
		cmocka_unit_test(test_random_workload_pae),
		cmocka_unit_test(test_random_workload_long4),
		cmocka_unit_test(test_random_workload_long5),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
