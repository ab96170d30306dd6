/*
 * Hosted scenario tests: what guest kernels really do to their page tables,
 * run through the shadow engine on the harness's "hardware".
 *
 * Each scenario is modelled on a guest kernel's code path (fork with
 * copy-on-write, exec, munmap, exit, recursive page directories, shared
 * tables, large pages, mode switches, a hostile guest ...).  Every guest
 * access goes through hw_access()/hw_store(), which compare it with the
 * guest's own tables (outcome, translation, error code, A/D bits), check
 * that the shadow never maps host memory outside guest RAM, and run the
 * audit; direct engine calls (INVLPG, register loads, emulated REP STOS)
 * are followed by the audit too.  On top of that each scenario asserts its
 * concrete outcomes: exact #PF error codes, data values, A/D bits, and the
 * engine's counters (cache hits, heuristics, #PF exits).
 *
 * The guest's layout in every scenario:
 *   [1 MiB, 2 MiB)  page-table frames (the harness's table allocator)
 *   [2 MiB, 4 MiB)  data frames
 *   [0, 4 MiB)      the kernel's identity map (supervisor, 4 KiB pages):
 *                   the kernel edits its tables with stores through it
 *   8 MiB           large-page targets;  64 MiB+: no guest RAM
 *   user space under its own top-level entry (entry 1), kernel under 0,
 *   shared by every address space as real kernels share theirs.
 * Raw writes into guest memory are used only to build tables and data
 * before the guest ever uses them; afterwards the kernel edits through its
 * mapping, as a real one does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "guestpt.h"
#include "harness.h"
#include "umbra/mmu.h"
#include "umbra/stats.h"
#include "umbra/x86.h"

#define GUEST_MB   16
#define POOL_PAGES 64
#define MIN_POOL   10           /* the engine's minimum pool */
#define KMAP_END   0x400000ull  /* kernel identity map [0, 4 MiB) */
#define DATA_BASE  0x200000ull  /* data frames in [2 MiB, 4 MiB) */
#define DATA_END   0x400000ull
#define LARGE_GPA  0x800000ull  /* 8 MiB: 4 MiB aligned, large-page target */
#define UNBACKED   0x4000000ull /* 64 MiB: beyond guest RAM (and equal to
				   the harness's host address of guest RAM) */
#define PAGE       X86_PAGE_SIZE_4K
#define MB2        (1ull << X86_PAGE_SHIFT_2M)
#define MB4        (1ull << X86_PAGE_SHIFT_4M)
#define GB1        (1ull << X86_PAGE_SHIFT_1G)

#define PTE_P  X86_PTE_P
#define PTE_W  X86_PTE_RW
#define PTE_U  X86_PTE_US
#define PTE_A  X86_PTE_A
#define PTE_D  X86_PTE_D
#define PTE_PS X86_PTE_PS
#define PTE_NX X86_PTE_NX
#define KPTE   (PTE_P | PTE_W | PTE_A | PTE_D) /* kernel identity leaves */
#define UDIR   (PTE_P | PTE_W | PTE_U)          /* a kernel-made directory */

#define EC_P    ((uint32_t)X86_PFEC_P)
#define EC_W    ((uint32_t)X86_PFEC_W)
#define EC_U    ((uint32_t)X86_PFEC_U)
#define EC_RSVD ((uint32_t)X86_PFEC_RSVD)
#define EC_ID   ((uint32_t)X86_PFEC_ID)
#define EC_PK   ((uint32_t)X86_PFEC_PK)

#define RD UMBRA_ACCESS_READ
#define WR UMBRA_ACCESS_WRITE
#define EX UMBRA_ACCESS_FETCH

/* ---- the world: one guest, its first address space, the checks --------- */

struct snapshot {
	struct umbra_stats s;
	uint64_t hw_faults, emulated, flush_va, flush_all;
};

struct world {
	struct hw hw;
	struct gpt g;          /* the first address space */
	enum umbra_mode mode;
	uint64_t next_data;
	uint64_t user_va;      /* start of user space */
	uint64_t cr0x, cr4x, eferx; /* control bits besides the mode's own */
	unsigned last_faults;  /* #PF exits the last access took */
	struct snapshot snap;
};

static const char *kind_name(unsigned kind)
{
	return kind == RD ? "read" : kind == WR ? "write" : "fetch";
}

static void check_eq_(int line, const char *what, uint64_t got, uint64_t want)
{
	if (got != want)
		fail_msg("line %d: %s is %#llx, expected %#llx", line, what,
			 (unsigned long long)got, (unsigned long long)want);
}
#define CHECK_EQ(got, want) check_eq_(__LINE__, #got, (got), (want))

static const struct umbra_stats *stats(const struct world *w)
{
	return umbra_mmu_stats(w->hw.mmu);
}

#define CTR(w, name) (stats(w)->counter[UMBRA_CTR_##name])
#define DELTA(w, name) (CTR(w, name) - (w)->snap.s.counter[UMBRA_CTR_##name])
#define HW_DELTA(w, field) ((w)->hw.field - (w)->snap.field)
#define EXPECT_DELTA(w, name, n) \
	check_eq_(__LINE__, "change of counter " #name, DELTA(w, name), (n))

static void snap(struct world *w)
{
	w->snap.s = *stats(w);
	w->snap.hw_faults = w->hw.hw_faults;
	w->snap.emulated = w->hw.emulated;
	w->snap.flush_va = w->hw.flush_va;
	w->snap.flush_all = w->hw.flush_all;
}

static void audit_ok_(struct world *w, int line)
{
	if (!hw_audit(&w->hw))
		fail_msg("line %d: %s", line, w->hw.last_problem);
}
#define AUDIT_OK(w) audit_ok_(w, __LINE__)

/* Worlds alive now: a failed check longjmps out of the test, and the
 * teardown frees what the test could not. */
#define MAX_LIVE 4
static struct world *live[MAX_LIVE];

static void world_track(struct world *w)
{
	unsigned i;

	for (i = 0; i < MAX_LIVE; i++)
		if (!live[i]) {
			live[i] = w;
			return;
		}
	fail_msg("too many live worlds");
}

static void world_fini(struct world *w)
{
	unsigned i;

	hw_fini(&w->hw);
	for (i = 0; i < MAX_LIVE; i++)
		if (live[i] == w)
			live[i] = NULL;
}

static int free_worlds(void **state)
{
	unsigned i;

	(void)state;
	for (i = 0; i < MAX_LIVE; i++)
		if (live[i])
			world_fini(live[i]);
	return 0;
}

static void world_init(struct world *w, enum umbra_mode mode, uint32_t pool)
{
	uint64_t va;

	memset(w, 0, sizeof(*w));
	hw_init(&w->hw, GUEST_MB, pool);
	world_track(w);
	w->mode = mode;
	gpt_init(&w->g, &w->hw, mode);
	for (va = 0; va < KMAP_END; va += PAGE)
		gpt_set_raw(&w->g, va, 1, va | KPTE);
	w->next_data = DATA_BASE;
	w->user_va = mode == UMBRA_MODE_LONG5   ? 1ull << 48
		     : mode == UMBRA_MODE_LONG4 ? 1ull << 39
						: 0x40000000ull;
	w->cr0x = X86_CR0_WP;
	w->eferx = mode == UMBRA_MODE_32 ? 0 : X86_EFER_NXE;
}

/* A fresh data frame whose first word holds `fill` (written before the
 * guest can see the frame). */
static uint64_t data_frame(struct world *w, uint64_t fill)
{
	uint64_t gpa = w->next_data;

	assert_true(gpa < DATA_END);
	w->next_data += PAGE;
	hw_gwrite_raw(&w->hw, gpa, 8, fill);
	return gpa;
}

/* A second address space sharing the kernel's half (entry 0 of the top
 * table), set up before the guest uses it. */
static void as_init(struct world *w, struct gpt *g)
{
	gpt_init(g, &w->hw, w->mode);
	hw_gwrite_raw(&w->hw, g->root, w->g.esize,
		      hw_gread(&w->hw, w->g.root, w->g.esize));
}

static void map_raw(struct gpt *g, uint64_t va, uint64_t pte)
{
	gpt_set_raw(g, va, 1, pte);
}

/* The guest-physical address of the table holding va's entry at level. */
static uint64_t table_of(struct gpt *g, uint64_t va, unsigned level)
{
	return gpt_entry_gpa(g, va, level) & ~(PAGE - 1);
}

static struct umbra_paging_regs regs_for(const struct world *w,
					 const struct gpt *g)
{
	struct umbra_paging_regs r = gpt_regs(g, w->cr0x, w->cr4x, w->eferx);

	r.pkru = w->hw.regs.pkru;
	return r;
}

static void load_(struct world *w, int line, struct umbra_paging_regs r,
		  unsigned wrote)
{
	enum umbra_status st = hw_set_paging(&w->hw, &r, wrote);

	if (st != UMBRA_OK)
		fail_msg("line %d: loading cr0 %#llx cr3 %#llx cr4 %#llx efer "
			 "%#llx failed (%d): %s", line,
			 (unsigned long long)r.cr0, (unsigned long long)r.cr3,
			 (unsigned long long)r.cr4, (unsigned long long)r.efer,
			 st, umbra_mmu_last_error(w->hw.mmu));
	audit_ok_(w, line);
}
#define LOAD(w, r, wrote) load_(w, __LINE__, r, wrote)
/* Enter the world's mode on address space g (all registers written). */
#define START(w, g) LOAD(w, regs_for(w, g), UMBRA_WROTE_ALL)

static void switch_to_(struct world *w, int line, const struct gpt *g)
{
	struct umbra_paging_regs r = w->hw.regs;

	r.cr3 = gpt_cr3(g);
	load_(w, line, r, UMBRA_WROTE_CR3);
}
#define SWITCH_TO(w, g) switch_to_(w, __LINE__, g)

static void invlpg_(struct world *w, int line, uint64_t va)
{
	umbra_invlpg(w->hw.mmu, va);
	audit_ok_(w, line);
}
#define INVLPG(w, va) invlpg_(w, __LINE__, va)

static struct hw_result access_(struct world *w, int line, uint64_t va,
				unsigned kind, unsigned cpl, bool ac,
				bool implicit, unsigned size, uint64_t val)
{
	struct umbra_access a = {
		.va = va, .kind = (uint8_t)kind, .cpl = (uint8_t)cpl, .ac = ac,
		.implicit_supervisor = implicit,
	};
	struct hw_result r = hw_access(&w->hw, &a, size, val);

	w->last_faults = r.hw_faults;
	if (r.outcome == HW_BROKEN)
		fail_msg("line %d: %s at va %#llx (cpl %u): %s", line,
			 kind_name(kind), (unsigned long long)va, cpl,
			 w->hw.last_problem);
	return r;
}

static void not_ok(int line, unsigned kind, uint64_t va, unsigned cpl,
		   struct hw_result r)
{
	fail_msg("line %d: %s at va %#llx (cpl %u) should succeed; outcome %d "
		 "vector %u ec %#x", line, kind_name(kind),
		 (unsigned long long)va, cpl, r.outcome, r.vector,
		 r.error_code);
}

static uint64_t read_ok_(struct world *w, int line, uint64_t va, unsigned cpl,
			 unsigned size)
{
	struct hw_result r = access_(w, line, va, RD, cpl, false, false, size, 0);

	if (r.outcome != HW_OK)
		not_ok(line, RD, va, cpl, r);
	return hw_gread(&w->hw, r.gpa, size);
}
#define READ_OK(w, va, cpl) read_ok_(w, __LINE__, va, cpl, 8)

/* A read that must return what guest memory at gpa holds once the access
 * is done (its own walk may set A in that very word). */
static void read_mem_(struct world *w, int line, uint64_t va, unsigned cpl,
		      unsigned size, uint64_t gpa)
{
	uint64_t got = read_ok_(w, line, va, cpl, size);

	check_eq_(line, "value read vs guest memory", got,
		  hw_gread(&w->hw, gpa, size));
}
#define EXPECT_READ_MEM(w, va, cpl, gpa) read_mem_(w, __LINE__, va, cpl, 8, gpa)
#define EXPECT_READ(w, va, cpl, want) \
	check_eq_(__LINE__, "value read", READ_OK(w, va, cpl), (want))

static uint64_t write_ok_(struct world *w, int line, uint64_t va, unsigned cpl,
			  unsigned size, uint64_t val)
{
	struct hw_result r = access_(w, line, va, WR, cpl, false, false, size,
				     val);
	uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;

	if (r.outcome != HW_OK)
		not_ok(line, WR, va, cpl, r);
	check_eq_(line, "value stored", hw_gread(&w->hw, r.gpa, size),
		  val & mask);
	return r.gpa;
}
#define WRITE_OK(w, va, cpl, val) write_ok_(w, __LINE__, va, cpl, 8, val)

static void fetch_ok_(struct world *w, int line, uint64_t va, unsigned cpl)
{
	struct hw_result r = access_(w, line, va, EX, cpl, false, false, 1, 0);

	if (r.outcome != HW_OK)
		not_ok(line, EX, va, cpl, r);
}
#define FETCH_OK(w, va, cpl) fetch_ok_(w, __LINE__, va, cpl)

/* The kernel reads or rewrites one of its page-table entries through its
 * identity map, as a guest kernel does (entry-sized accesses). */
#define KREAD(w, gpa) read_ok_(w, __LINE__, gpa, 0, (w)->g.esize)
#define KSTORE(w, gpa, val) write_ok_(w, __LINE__, gpa, 0, (w)->g.esize, val)

static void expect_pf_(struct world *w, int line, uint64_t va, unsigned kind,
		       unsigned cpl, bool ac, bool implicit, uint32_t ec)
{
	struct hw_result r = access_(w, line, va, kind, cpl, ac, implicit, 8,
				     0x5a5a5a5a5a5a5a5aull);

	if (r.outcome != HW_FAULT || r.vector != X86_VEC_PF ||
	    r.error_code != ec || r.cr2 != va)
		fail_msg("line %d: %s at va %#llx (cpl %u): expected #PF ec %#x, "
			 "got outcome %d vector %u ec %#x cr2 %#llx", line,
			 kind_name(kind), (unsigned long long)va, cpl, ec,
			 r.outcome, r.vector, r.error_code,
			 (unsigned long long)r.cr2);
}
#define EXPECT_PF(w, va, kind, cpl, ec) \
	expect_pf_(w, __LINE__, va, kind, cpl, false, false, ec)

static void expect_mmio_(struct world *w, int line, uint64_t va, unsigned kind,
			 unsigned cpl, uint64_t gpa)
{
	struct hw_result r = access_(w, line, va, kind, cpl, false, false, 8, 0);

	if (r.outcome != HW_MMIO || r.gpa != gpa)
		fail_msg("line %d: %s at va %#llx: expected MMIO at gpa %#llx, "
			 "got outcome %d gpa %#llx", line, kind_name(kind),
			 (unsigned long long)va, (unsigned long long)gpa,
			 r.outcome, (unsigned long long)r.gpa);
}
#define EXPECT_MMIO(w, va, kind, cpl, gpa) \
	expect_mmio_(w, __LINE__, va, kind, cpl, gpa)

/* What the hardware would do now for an access, on the shadow tables
 * (without taking the fault). */
static void shadow_probe(struct world *w, uint64_t va, unsigned kind,
			 unsigned cpl, struct umbra_walk_result *res)
{
	struct umbra_shadow_regs sr;
	struct umbra_paging_regs regs;
	struct umbra_cpu_caps caps = {
		.maxphyaddr = 52, .gbpages = true, .pse36 = true,
	};
	struct umbra_gmem host = testmem_gmem(&w->hw.host);
	struct umbra_access a = { .va = va, .kind = (uint8_t)kind,
				  .cpl = (uint8_t)cpl };
	struct umbra_walker wk;

	umbra_get_shadow_regs(w->hw.mmu, &sr);
	regs.cr0 = sr.cr0;
	regs.cr3 = sr.cr3;
	regs.cr4 = sr.cr4;
	regs.efer = sr.efer;
	regs.pkru = w->hw.regs.pkru;
	assert_int_equal(umbra_walk_init(&wk, &regs, &caps, &host),
			 UMBRA_LOAD_OK);
	umbra_walk(&wk, &a, res);
}

/*
 * The kernel zeroes a page with REP STOSQ at va (its identity map).  The
 * first store exits as a write to a monitored table; the embedder decodes
 * REP STOS and emulates the whole instruction, passing each store to the
 * engine with UMBRA_WRITE_REP.
 */
static void rep_stos_(struct world *w, int line, uint64_t va, uint64_t val,
		      unsigned count)
{
	struct umbra_walk_result sw;
	struct umbra_pf_result pf;
	struct umbra_fault f = { .va = va, .cpl = 0 };
	unsigned i;

	shadow_probe(w, va, WR, 0, &sw);
	if (sw.status != UMBRA_WALK_PF)
		fail_msg("line %d: REP STOS at %#llx does not exit", line,
			 (unsigned long long)va);
	f.error_code = sw.error_code;
	w->hw.hw_faults++;
	umbra_page_fault(w->hw.mmu, &f, &pf);
	if (pf.action != UMBRA_PF_EMULATE_WRITE)
		fail_msg("line %d: REP STOS at %#llx: action %u, expected "
			 "emulation", line, (unsigned long long)va, pf.action);
	for (i = 0; i < count; i++) {
		enum umbra_status st = umbra_emulated_write(
			w->hw.mmu, pf.gpa + 8ull * i, &val, 8, UMBRA_WRITE_REP);

		if (st != UMBRA_OK)
			fail_msg("line %d: emulated REP STOS store %u: %s", line,
				 i, umbra_mmu_last_error(w->hw.mmu));
		audit_ok_(w, line);
	}
}
#define REP_STOS(w, va, val, count) rep_stos_(w, __LINE__, va, val, count)

/* ---- fork, exec, munmap, exit: a process's life ------------------------- */

/*
 * fork() with copy-on-write, as Linux's copy_page_range does it: the kernel
 * allocates the child's tables, shares its own half, and for each present
 * user PTE clears R/W in the parent's entry (a store into a shadowed table)
 * and copies it into the child's.  The child reads the shared page; its
 * write faults (P|W|U) to the kernel, which copies the page, maps the copy
 * writable, INVLPGs and retries.  Back in the parent, its cached address
 * space costs no faults, and its own COW fault just restores R/W.
 */
static void test_fork_copy_on_write(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct gpt child;
	uint64_t d[4], ppt, cpdpt, cpd, cpt, copy, va;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	for (i = 0; i < 4; i++) {
		d[i] = data_frame(&w, 0x1000 + i);
		map_raw(&w.g, va + i * PAGE, d[i] | PTE_P | PTE_W | PTE_U);
	}
	ppt = table_of(&w.g, va, 1);
	START(&w, &w.g);

	/* The parent runs: touches pages 0 (read, write) and 1 (read). */
	EXPECT_READ(&w, va, 3, 0x1000);
	WRITE_OK(&w, va + 8, 3, 0xAA);
	EXPECT_READ(&w, va + PAGE, 3, 0x1001);
	CHECK_EQ(hw_gread(&w.hw, ppt, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	CHECK_EQ(hw_gread(&w.hw, ppt + 8, 8) & (PTE_A | PTE_D), PTE_A);
	CHECK_EQ(hw_gread(&w.hw, ppt + 16, 8) & PTE_A, 0);

	/* fork(): the child's tables, written through the kernel's map. */
	snap(&w);
	child = w.g;
	child.root = hw_alloc_table(&w.hw);
	cpdpt = hw_alloc_table(&w.hw);
	cpd = hw_alloc_table(&w.hw);
	cpt = hw_alloc_table(&w.hw);
	KSTORE(&w, child.root, KREAD(&w, w.g.root)); /* kernel half */
	KSTORE(&w, child.root + 8, cpdpt | UDIR);
	KSTORE(&w, cpdpt, cpd | UDIR);
	KSTORE(&w, cpd, cpt | UDIR);
	for (i = 0; i < 4; i++) {
		uint64_t pte = KREAD(&w, ppt + i * 8);

		KSTORE(&w, ppt + i * 8, pte & ~PTE_W); /* ptep_set_wrprotect */
		KSTORE(&w, cpt + i * 8, pte & ~PTE_W);
	}
	/* Only the parent's PT is shadowed: 4 emulated writes, each only
	 * clearing R/W; the 2 accessed entries are rebuilt read-only at
	 * once, the 2 never-used ones had no shadow entry. */
	EXPECT_DELTA(&w, fault_pt_write, 4);
	EXPECT_DELTA(&w, pt_write_emulated, 4);
	EXPECT_DELTA(&w, pt_write_updated, 2);
	EXPECT_DELTA(&w, pt_write_ignored, 2);
	EXPECT_DELTA(&w, fork_detected, 0);
	EXPECT_DELTA(&w, flood_detected, 0);
	CHECK_EQ(HW_DELTA(&w, emulated), 4);
	LOAD(&w, w.hw.regs, UMBRA_WROTE_CR3); /* flush_tlb_mm */
	EXPECT_PF(&w, va + 8, WR, 3, EC_P | EC_W | EC_U);

	/* The child runs. */
	snap(&w);
	SWITCH_TO(&w, &child);
	EXPECT_DELTA(&w, cr3_switch_miss, 1);
	EXPECT_READ(&w, va + 8, 3, 0xAA);
	EXPECT_READ(&w, va, 3, 0x1000);
	EXPECT_PF(&w, va + 8, WR, 3, EC_P | EC_W | EC_U);
	CHECK_EQ(hw_gread(&w.hw, d[0] + 8, 8), 0xAA);

	/* The kernel breaks the COW: copy, map writable, INVLPG, retry. */
	copy = data_frame(&w, 0);
	for (i = 0; i < 2; i++)
		WRITE_OK(&w, copy + i * 8, 0, READ_OK(&w, d[0] + i * 8, 0));
	snap(&w);
	KSTORE(&w, cpt, copy | PTE_P | PTE_W | PTE_U);
	EXPECT_DELTA(&w, fault_pt_write, 1);
	EXPECT_DELTA(&w, pt_write_zapped, 1); /* A clear: rebuilt on demand */
	INVLPG(&w, va);
	EXPECT_DELTA(&w, invlpg, 1);
	WRITE_OK(&w, va + 8, 3, 0xBB);
	CHECK_EQ(hw_gread(&w.hw, copy + 8, 8), 0xBB);
	CHECK_EQ(hw_gread(&w.hw, copy, 8), 0x1000);
	CHECK_EQ(hw_gread(&w.hw, d[0] + 8, 8), 0xAA);
	CHECK_EQ(hw_gread(&w.hw, cpt, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	EXPECT_READ(&w, va + 8, 3, 0xBB);
	CHECK_EQ(w.last_faults, 0);

	/* Back in the parent: a cache hit, and the pages it touched before
	 * cost no #PF exit at all. */
	snap(&w);
	SWITCH_TO(&w, &w.g);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	EXPECT_DELTA(&w, cr3_switch_miss, 0);
	EXPECT_READ(&w, va + 8, 3, 0xAA);
	EXPECT_READ(&w, va + PAGE, 3, 0x1001);
	EXPECT_DELTA(&w, shadow_pages_created, 0);
	CHECK_EQ(HW_DELTA(&w, hw_faults), 0);
	/* The parent's own COW fault: the page is now only its own. */
	EXPECT_PF(&w, va + 8, WR, 3, EC_P | EC_W | EC_U);
	KSTORE(&w, ppt, KREAD(&w, ppt) | PTE_W);
	INVLPG(&w, va);
	WRITE_OK(&w, va + 8, 3, 0xCC);
	CHECK_EQ(hw_gread(&w.hw, d[0] + 8, 8), 0xCC);
	SWITCH_TO(&w, &child);
	EXPECT_READ(&w, va + 8, 3, 0xBB);
	CHECK_EQ(w.last_faults, 0);
	world_fini(&w);
}

/*
 * A large fork: the parent's PT sees a run of stores that each clear R/W
 * in a present entry.  After a run of them the engine recognises the fork,
 * stops shadowing the table, and the rest of the run costs the guest one
 * exit (to make the kernel's mapping of the table writable) instead of one
 * per entry.  The parent's next access rebuilds the shadow from the
 * write-protected entries.
 */
static void test_fork_heuristic_unshadows_parent_table(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, ppt;
	unsigned i, emulated_writes = 0, exits_after = 0;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	for (i = 0; i < 32; i++)
		map_raw(&w.g, va + i * PAGE,
			data_frame(&w, 0x2000 + i) | PTE_P | PTE_W | PTE_U);
	ppt = table_of(&w.g, va, 1);
	START(&w, &w.g);
	for (i = 0; i < 32; i++)
		WRITE_OK(&w, va + i * PAGE + 8, 3, i);

	snap(&w);
	for (i = 0; i < 32; i++) {
		uint64_t pte = KREAD(&w, ppt + i * 8);
		uint64_t before = w.hw.emulated;

		KSTORE(&w, ppt + i * 8, pte & ~PTE_W);
		if (w.hw.emulated != before)
			emulated_writes++;
		else
			exits_after += w.last_faults;
	}
	EXPECT_DELTA(&w, fork_detected, 1);
	EXPECT_DELTA(&w, flood_detected, 0);
	EXPECT_DELTA(&w, unshadowed, 1);
	/* The heuristic fires well before the end of the run, and from then
	 * on the run costs at most one exit. */
	assert_true(emulated_writes >= 2 && emulated_writes <= 16);
	CHECK_EQ(DELTA(&w, fault_pt_write), emulated_writes);
	assert_true(exits_after <= 1);
	LOAD(&w, w.hw.regs, UMBRA_WROTE_CR3);

	/* The parent's pages are read-only now, data intact. */
	snap(&w);
	for (i = 0; i < 32; i += 7) {
		EXPECT_READ(&w, va + i * PAGE + 8, 3, i);
		EXPECT_PF(&w, va + i * PAGE, WR, 3, EC_P | EC_W | EC_U);
	}
	assert_true(DELTA(&w, shadow_pages_created) >= 1); /* PT again */
	/* The table is shadowed again: kernel edits exit again. */
	snap(&w);
	KSTORE(&w, ppt, KREAD(&w, ppt) | PTE_W);
	EXPECT_DELTA(&w, fault_pt_write, 1);
	INVLPG(&w, va);
	WRITE_OK(&w, va, 3, 0x77);
	world_fini(&w);
}

/*
 * exec(): the kernel builds the new image's address space in fresh frames
 * (stores through its map: one exit per fresh frame, to map it writable,
 * none emulated since nothing shadows them), switches CR3 (a miss: a new
 * root), and the new program sees only its own pages.
 */
static void test_exec_builds_new_address_space(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct gpt img;
	uint64_t va, pdpt, pd, pt, text, bss, old;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	old = data_frame(&w, 0x01d);
	map_raw(&w.g, va, old | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	START(&w, &w.g);
	EXPECT_READ(&w, va, 3, 0x01d);

	snap(&w);
	img = w.g;
	img.root = hw_alloc_table(&w.hw);
	pdpt = hw_alloc_table(&w.hw);
	pd = hw_alloc_table(&w.hw);
	pt = hw_alloc_table(&w.hw);
	text = data_frame(&w, 0x7e47);
	bss = data_frame(&w, 0);
	KSTORE(&w, img.root, KREAD(&w, w.g.root));
	KSTORE(&w, img.root + 8, pdpt | UDIR);
	KSTORE(&w, pdpt, pd | UDIR);
	KSTORE(&w, pd, pt | UDIR);
	KSTORE(&w, pt, text | PTE_P | PTE_U);          /* text: read-only */
	KSTORE(&w, pt + 8, bss | PTE_P | PTE_W | PTE_U | PTE_NX);
	EXPECT_DELTA(&w, fault_pt_write, 0);
	CHECK_EQ(HW_DELTA(&w, emulated), 0);
	/* One exit per fresh table frame (the kernel's first store to it),
	 * plus one for the kernel's first read of its own root. */
	CHECK_EQ(HW_DELTA(&w, hw_faults), 5);

	snap(&w);
	SWITCH_TO(&w, &img);
	EXPECT_DELTA(&w, cr3_switch_miss, 1);
	EXPECT_READ(&w, va, 3, 0x7e47);
	FETCH_OK(&w, va + 0x10, 3);
	EXPECT_PF(&w, va, WR, 3, EC_P | EC_W | EC_U);
	WRITE_OK(&w, va + PAGE, 3, 0xb55);
	EXPECT_PF(&w, va + PAGE, EX, 3, EC_P | EC_U | EC_ID);
	EXPECT_PF(&w, va + 2 * PAGE, RD, 3, EC_U);
	CHECK_EQ(hw_gread(&w.hw, old, 8), 0x01d);
	world_fini(&w);
}

/*
 * munmap() of two pages: the kernel clears their PTEs (stores into a
 * shadowed table) and INVLPGs each.  The unmapped pages fault not-present
 * with the exact error codes; their neighbours stay mapped with no exit.
 * Then munmap() of the whole range: the table floods, stops being
 * shadowed, and the teardown finishes without an exit per entry.
 */
static void test_munmap_with_invlpg(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pt;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	for (i = 0; i < 8; i++)
		map_raw(&w.g, va + i * PAGE,
			data_frame(&w, 0x3000 + i) | PTE_P | PTE_W | PTE_U);
	pt = table_of(&w.g, va, 1);
	START(&w, &w.g);
	for (i = 0; i < 8; i++)
		WRITE_OK(&w, va + i * PAGE + 8, 3, 0x300 + i);

	snap(&w);
	KSTORE(&w, pt + 2 * 8, 0);
	INVLPG(&w, va + 2 * PAGE);
	KSTORE(&w, pt + 5 * 8, 0);
	INVLPG(&w, va + 5 * PAGE);
	EXPECT_DELTA(&w, pt_write_zapped, 2);
	EXPECT_DELTA(&w, flood_detected, 0);
	EXPECT_DELTA(&w, invlpg, 2);
	CHECK_EQ(HW_DELTA(&w, flush_va), 2);
	EXPECT_PF(&w, va + 2 * PAGE, RD, 3, EC_U);
	EXPECT_PF(&w, va + 5 * PAGE + 16, WR, 3, EC_W | EC_U);
	EXPECT_PF(&w, va + 5 * PAGE, RD, 0, 0);
	EXPECT_PF(&w, va + 2 * PAGE, EX, 3, EC_U | EC_ID);
	snap(&w);
	for (i = 0; i < 8; i++)
		if (i != 2 && i != 5)
			EXPECT_READ(&w, va + i * PAGE + 8, 3, 0x300 + i);
	CHECK_EQ(HW_DELTA(&w, hw_faults), 0);

	/* munmap() of everything. */
	snap(&w);
	for (i = 0; i < 8; i++)
		KSTORE(&w, pt + i * 8, 0);
	LOAD(&w, w.hw.regs, UMBRA_WROTE_CR3);
	EXPECT_DELTA(&w, flood_detected, 1);
	assert_true(DELTA(&w, fault_pt_write) <= 3);
	for (i = 0; i < 8; i++)
		EXPECT_PF(&w, va + i * PAGE, RD, 3, EC_U);
	world_fini(&w);
}

/*
 * A process exits: the kernel switches to another process, then frees the
 * dead one's page-table pages.  It zeroes a freed PT with REP STOSQ: the
 * engine sees a REP write to a shadowed table and stops shadowing it
 * (reuse).  Then the freed frames are reused as data pages of the live
 * process: the zeroed PT with no exit per store, and the dead root
 * (zeroed by plain stores, as clear_page does) after the flood heuristic
 * gave it up.  Data must be right throughout.
 */
static void test_exit_reuses_table_pages_as_data(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct gpt dead;
	uint64_t va, dpt, lpt;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	as_init(&w, &dead);
	for (i = 0; i < 4; i++) {
		map_raw(&dead, va + i * PAGE,
			data_frame(&w, 0xdead0 + i) | PTE_P | PTE_W | PTE_U);
		map_raw(&w.g, va + i * PAGE,
			data_frame(&w, 0x11fe0 + i) | PTE_P | PTE_W | PTE_U);
	}
	dpt = table_of(&dead, va, 1);
	lpt = table_of(&w.g, va, 1);
	START(&w, &dead);
	for (i = 0; i < 4; i++)
		EXPECT_READ(&w, va + i * PAGE, 3, 0xdead0 + i);
	SWITCH_TO(&w, &w.g); /* the dying process is switched away */
	for (i = 0; i < 4; i++)
		EXPECT_READ(&w, va + i * PAGE, 3, 0x11fe0 + i);

	/* free_pgtables(): the dead PT is zeroed with REP STOSQ. */
	snap(&w);
	REP_STOS(&w, dpt, 0, 512);
	EXPECT_DELTA(&w, reuse_detected, 1);
	EXPECT_DELTA(&w, unshadowed, 1);
	for (i = 0; i < 512; i += 73)
		CHECK_EQ(hw_gread(&w.hw, dpt + i * 8, 8), 0);

	/* The zeroed PT becomes a data page of the live process. */
	snap(&w);
	KSTORE(&w, lpt + 8 * 8, dpt | PTE_P | PTE_W | PTE_U);
	for (i = 0; i < 16; i++)
		WRITE_OK(&w, va + 8 * PAGE + i * 8, 3, 0xda7a0 + i);
	EXPECT_READ(&w, va + 8 * PAGE + 15 * 8, 3, 0xda7a0 + 15);
	CHECK_EQ(HW_DELTA(&w, emulated), 1); /* only the kernel's PTE store */
	CHECK_EQ(HW_DELTA(&w, hw_faults), 2);

	/* The dead root is still cached (and monitored); reused as data and
	 * cleared by plain stores, it floods and stops being shadowed. */
	snap(&w);
	KSTORE(&w, lpt + 9 * 8, dead.root | PTE_P | PTE_W | PTE_U);
	for (i = 0; i < 512; i++)
		WRITE_OK(&w, va + 9 * PAGE + i * 8, 3, 0);
	EXPECT_DELTA(&w, flood_detected, 1);
	assert_true(HW_DELTA(&w, emulated) <= 1 + 3);
	assert_true(HW_DELTA(&w, hw_faults) <= 1 + 3 + 1);
	for (i = 0; i < 8; i++)
		WRITE_OK(&w, va + 9 * PAGE + i * 8, 3, 0x5eed + i);
	EXPECT_READ(&w, va + 9 * PAGE + 7 * 8, 3, 0x5eed + 7);
	/* The live process's own pages are untouched. */
	for (i = 0; i < 4; i++)
		EXPECT_READ(&w, va + i * PAGE, 3, 0x11fe0 + i);
	world_fini(&w);
}

/*
 * umbra_frame_monitored tells an embedder emulating a REP STOS when the
 * frame stopped being a shadowed table, so that the guest can finish the
 * REP natively: a shadowed PT is monitored until a REP write unshadows
 * it; a data frame never is; the root in use stays monitored whatever
 * REP writes reach it, and so does a table after one plain store.
 */
static void test_frame_monitored_follows_unshadowing(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	const uint64_t zero = 0;
	struct gpt dead;
	uint64_t va, dpt, lpt, data;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	as_init(&w, &dead);
	data = data_frame(&w, 0xdead0);
	map_raw(&dead, va, data | PTE_P | PTE_W | PTE_U);
	map_raw(&w.g, va, data_frame(&w, 0x11fe0) | PTE_P | PTE_W | PTE_U);
	dpt = table_of(&dead, va, 1);
	lpt = table_of(&w.g, va, 1);
	START(&w, &dead);
	EXPECT_READ(&w, va, 3, 0xdead0);
	SWITCH_TO(&w, &w.g);
	EXPECT_READ(&w, va, 3, 0x11fe0);
	assert_true(umbra_frame_monitored(w.hw.mmu, dpt));
	assert_true(umbra_frame_monitored(w.hw.mmu, lpt + 8));
	assert_false(umbra_frame_monitored(w.hw.mmu, data));

	/* One plain store to the live PT: still shadowed. */
	KSTORE(&w, lpt + 8 * 8, 0);
	assert_true(umbra_frame_monitored(w.hw.mmu, lpt));

	/* The first REP store to the dead PT unshadows it. */
	snap(&w);
	REP_STOS(&w, dpt, 0, 1);
	EXPECT_DELTA(&w, reuse_detected, 1);
	assert_false(umbra_frame_monitored(w.hw.mmu, dpt + 4095));

	/* REP stores to an unused entry of the root in use leave it. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(umbra_emulated_write(w.hw.mmu,
						      w.g.root + 8 * 300 + 8 * i,
						      &zero, 8, UMBRA_WRITE_REP),
				 UMBRA_OK);
		assert_true(umbra_frame_monitored(w.hw.mmu, w.g.root));
	}
	audit_ok_(&w, __LINE__);
	EXPECT_READ(&w, va, 3, 0x11fe0);
	world_fini(&w);
}

/*
 * Demand paging: the kernel fills in one PTE at a time and the process
 * touches each page right away.  Each fault uses the table for a
 * translation, so the flood heuristic must not fire however many entries
 * are written, and no write looks like a fork.
 */
static void test_demand_paging_does_not_flood(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pt;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	map_raw(&w.g, va, data_frame(&w, 0x600) | PTE_P | PTE_W | PTE_U);
	pt = table_of(&w.g, va, 1);
	START(&w, &w.g);
	EXPECT_READ(&w, va, 3, 0x600);
	snap(&w);
	for (i = 1; i < 24; i++) {
		uint64_t f = data_frame(&w, 0x600 + i);

		EXPECT_PF(&w, va + i * PAGE, WR, 3, EC_W | EC_U);
		KSTORE(&w, pt + i * 8, f | PTE_P | PTE_W | PTE_U);
		WRITE_OK(&w, va + i * PAGE + 8, 3, i);
		CHECK_EQ(hw_gread(&w.hw, f + 8, 8), i);
	}
	EXPECT_DELTA(&w, flood_detected, 0);
	EXPECT_DELTA(&w, fork_detected, 0);
	EXPECT_DELTA(&w, fault_pt_write, 23);
	EXPECT_DELTA(&w, pt_write_ignored, 23); /* not-present entries */
	world_fini(&w);
}

/* ---- CR3 switches: a hash lookup, not a rebuild -------------------------- */

/*
 * Two processes, each touching its pages, switching back and forth.  The
 * first load of each address space builds a root (a miss); every later
 * switch finds it in the cache (a hit), creates no shadow page and costs
 * no #PF exit for the pages touched before.  A CR3 write of the same value
 * only flushes the TLB.
 */
static void cr3_switching(enum umbra_mode mode)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct gpt b;
	uint64_t va;
	unsigned i, round;

	world_init(&w, mode, POOL_PAGES);
	va = w.user_va;
	as_init(&w, &b);
	for (i = 0; i < 6; i++) {
		uint64_t pte = PTE_P | PTE_W | PTE_U;

		map_raw(&w.g, va + i * 0x81000, data_frame(&w, 0xa00 + i) | pte);
		map_raw(&b, va + i * 0x81000, data_frame(&w, 0xb00 + i) | pte);
	}
	snap(&w);
	START(&w, &w.g);
	for (i = 0; i < 6; i++)
		EXPECT_READ(&w, va + i * 0x81000, 3, 0xa00 + i);
	SWITCH_TO(&w, &b);
	for (i = 0; i < 6; i++)
		EXPECT_READ(&w, va + i * 0x81000, 3, 0xb00 + i);
	EXPECT_DELTA(&w, cr3_switch_miss, 2);
	EXPECT_DELTA(&w, cr3_switch_hit, 0);
	assert_true(HW_DELTA(&w, hw_faults) >= 12);

	for (round = 0; round < 3; round++) {
		snap(&w);
		SWITCH_TO(&w, &w.g);
		for (i = 0; i < 6; i++)
			EXPECT_READ(&w, va + i * 0x81000, 3, 0xa00 + i);
		SWITCH_TO(&w, &b);
		for (i = 0; i < 6; i++)
			EXPECT_READ(&w, va + i * 0x81000, 3, 0xb00 + i);
		EXPECT_DELTA(&w, cr3_switch_hit, 2);
		EXPECT_DELTA(&w, cr3_switch_miss, 0);
		EXPECT_DELTA(&w, shadow_pages_created, 0);
		EXPECT_DELTA(&w, cache_miss, 0);
		CHECK_EQ(HW_DELTA(&w, hw_faults), 0);
		CHECK_EQ(HW_DELTA(&w, flush_all), 2);
	}
	/* MOV CR3 with the same value: a TLB flush, no lookup at all. */
	snap(&w);
	SWITCH_TO(&w, &b);
	EXPECT_DELTA(&w, tlb_flush_guest, 1);
	EXPECT_DELTA(&w, cr3_switch_hit, 0);
	EXPECT_DELTA(&w, cr3_switch_miss, 0);
	EXPECT_READ(&w, va, 3, 0xb00);
	CHECK_EQ(w.last_faults, 0);
	world_fini(&w);
}

static void test_cr3_switch_cached_long4(void **state)
{
	(void)state;
	cr3_switching(UMBRA_MODE_LONG4);
}

static void test_cr3_switch_cached_long5(void **state)
{
	(void)state;
	cr3_switching(UMBRA_MODE_LONG5);
}

static void test_cr3_switch_cached_pae(void **state)
{
	(void)state;
	cr3_switching(UMBRA_MODE_PAE);
}

static void test_cr3_switch_cached_32bit(void **state)
{
	(void)state;
	cr3_switching(UMBRA_MODE_32);
}

/* ---- INVLPG after PTE changes ------------------------------------------- */

/*
 * The kernel changes a live PTE in every way it does (remap, rights
 * reduced, page cleaned, page aged, NX set, the PDE pointed at another
 * table) and INVLPGs.  The engine applies each store to the shadow at once
 * (an accessed entry is rebuilt, so the next access needs no exit), and
 * every access after it is architecturally right, A/D bits included.
 */
static void test_invlpg_after_pte_changes(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pt, pd, d0, d1, d2, pt2;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	d0 = data_frame(&w, 0xd0);
	d1 = data_frame(&w, 0xd1);
	d2 = data_frame(&w, 0xd2);
	map_raw(&w.g, va, d0 | PTE_P | PTE_W | PTE_U);
	pt = table_of(&w.g, va, 1);
	pd = table_of(&w.g, va, 2);
	START(&w, &w.g);
	EXPECT_READ(&w, va, 3, 0xd0);

	/* Remap to another frame, entry already accessed: rebuilt at once. */
	snap(&w);
	KSTORE(&w, pt, d1 | PTE_P | PTE_W | PTE_U | PTE_A);
	EXPECT_DELTA(&w, pt_write_updated, 1);
	INVLPG(&w, va);
	EXPECT_DELTA(&w, invlpg, 1);
	EXPECT_DELTA(&w, tlb_flush_requested_one, 1);
	CHECK_EQ(HW_DELTA(&w, flush_va), 1);
	EXPECT_READ(&w, va, 3, 0xd1);
	CHECK_EQ(w.last_faults, 0);
	/* A clean page: reading needs no exit, the first write sets D. */
	WRITE_OK(&w, va + 8, 3, 0x1d1);
	CHECK_EQ(w.last_faults, 1);
	CHECK_EQ(hw_gread(&w.hw, pt, 8) & PTE_D, PTE_D);

	/* Remap, entry not accessed: cleared, the access sets A. */
	snap(&w);
	KSTORE(&w, pt, d2 | PTE_P | PTE_W | PTE_U);
	EXPECT_DELTA(&w, pt_write_zapped, 1);
	INVLPG(&w, va);
	EXPECT_READ(&w, va, 3, 0xd2);
	CHECK_EQ(w.last_faults, 1);
	CHECK_EQ(hw_gread(&w.hw, pt, 8) & (PTE_A | PTE_D), PTE_A);

	/* mprotect(PROT_READ): R/W cleared. */
	WRITE_OK(&w, va + 8, 3, 0x2d2);
	KSTORE(&w, pt, KREAD(&w, pt) & ~PTE_W);
	INVLPG(&w, va);
	EXPECT_PF(&w, va + 8, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_PF(&w, va + 8, WR, 0, EC_P | EC_W); /* CR0.WP = 1 */
	EXPECT_READ(&w, va + 8, 3, 0x2d2);

	/* The page becomes the kernel's: U/S cleared. */
	KSTORE(&w, pt, KREAD(&w, pt) & ~PTE_U);
	INVLPG(&w, va);
	EXPECT_PF(&w, va, RD, 3, EC_P | EC_U);
	EXPECT_READ(&w, va + 8, 0, 0x2d2);

	/* Writeback cleans the page (D cleared, R/W back): the next write
	 * must set D again, and a read must not. */
	KSTORE(&w, pt, (KREAD(&w, pt) | PTE_W | PTE_U) & ~PTE_D);
	INVLPG(&w, va);
	EXPECT_READ(&w, va + 8, 3, 0x2d2);
	CHECK_EQ(hw_gread(&w.hw, pt, 8) & PTE_D, 0);
	WRITE_OK(&w, va + 8, 3, 0x3d2);
	CHECK_EQ(hw_gread(&w.hw, pt, 8) & PTE_D, PTE_D);

	/* Page aging: A cleared, the next access sets it again. */
	KSTORE(&w, pt, KREAD(&w, pt) & ~PTE_A);
	INVLPG(&w, va);
	EXPECT_READ(&w, va + 8, 3, 0x3d2);
	CHECK_EQ(w.last_faults, 1);
	CHECK_EQ(hw_gread(&w.hw, pt, 8) & PTE_A, PTE_A);

	/* NX set (EFER.NXE = 1): a fetch faults with I/D. */
	FETCH_OK(&w, va, 3);
	KSTORE(&w, pt, KREAD(&w, pt) | PTE_NX);
	INVLPG(&w, va);
	EXPECT_PF(&w, va, EX, 3, EC_P | EC_U | EC_ID);
	EXPECT_READ(&w, va + 8, 3, 0x3d2);

	/* The PDE now points at another table (a new mapping of the whole
	 * 2 MiB), and the old table is no longer reachable. */
	pt2 = hw_alloc_table(&w.hw);
	KSTORE(&w, pt2, d0 | PTE_P | PTE_U);
	KSTORE(&w, pd, pt2 | UDIR);
	INVLPG(&w, va);
	EXPECT_READ(&w, va, 3, 0xd0);
	EXPECT_PF(&w, va, WR, 3, EC_P | EC_W | EC_U);
	CHECK_EQ(hw_gread(&w.hw, pd, 8) & PTE_A, PTE_A);
	world_fini(&w);
}

/*
 * A PAE guest writes its 8-byte PTEs as two 4-byte halves (Linux's
 * set_pte on 32-bit PAE: high word first, then the low word with P; and
 * clears the low word first).  Each half is a partial write the engine
 * must apply without ever exposing a half-made entry wider than the guest
 * allows.
 */
static void test_pae_split_pte_writes(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pt, d0, d1, pte;

	(void)state;
	world_init(&w, UMBRA_MODE_PAE, POOL_PAGES);
	va = w.user_va;
	d0 = data_frame(&w, 0xaa0);
	d1 = data_frame(&w, 0xaa1);
	map_raw(&w.g, va, d0 | PTE_P | PTE_W | PTE_U);
	pt = table_of(&w.g, va, 1);
	START(&w, &w.g);
	EXPECT_READ(&w, va, 3, 0xaa0);
	EXPECT_PF(&w, va + PAGE, RD, 3, EC_U);

	snap(&w);
	pte = d1 | PTE_P | PTE_U | PTE_A | PTE_NX;
	write_ok_(&w, __LINE__, pt + 8 + 4, 0, 4, pte >> 32);
	EXPECT_PF(&w, va + PAGE, RD, 3, EC_U);
	write_ok_(&w, __LINE__, pt + 8, 0, 4, pte & 0xffffffffu);
	EXPECT_DELTA(&w, pt_write_partial, 2);
	EXPECT_READ(&w, va + PAGE, 3, 0xaa1);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_PF(&w, va + PAGE, EX, 3, EC_P | EC_U | EC_ID);
	/* pte_clear: the low word first. */
	write_ok_(&w, __LINE__, pt + 8, 0, 4, 0);
	EXPECT_PF(&w, va + PAGE, RD, 3, EC_U);
	write_ok_(&w, __LINE__, pt + 8 + 4, 0, 4, 0);
	EXPECT_PF(&w, va + PAGE, RD, 3, EC_U);
	EXPECT_READ(&w, va, 3, 0xaa0);
	world_fini(&w);
}

/*
 * An embedder emulates a misaligned 8-byte store (e.g. a MOVQ the guest
 * kernel did at the end of one page table) that straddles two page tables
 * in consecutive frames: both tables' entries must follow.
 */
static void test_emulated_store_straddling_two_tables(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_walk_result sw;
	struct umbra_pf_result pf;
	struct umbra_fault f = { .cpl = 0 };
	uint64_t va, t1, t2, d1, d2, v8;

	(void)state;
	world_init(&w, UMBRA_MODE_32, POOL_PAGES);
	va = w.user_va; /* PD[256] -> t1, PD[257] -> t2 */
	t1 = hw_alloc_table(&w.hw);
	t2 = hw_alloc_table(&w.hw);
	assert_true(t2 == t1 + PAGE);
	hw_gwrite_raw(&w.hw, w.g.root + 256 * 4, 4, t1 | UDIR);
	hw_gwrite_raw(&w.hw, w.g.root + 257 * 4, 4, t2 | UDIR);
	hw_gwrite_raw(&w.hw, t1 + 1023 * 4, 4,
		      data_frame(&w, 0x51) | PTE_P | PTE_W | PTE_U);
	hw_gwrite_raw(&w.hw, t2, 4, data_frame(&w, 0x52) | PTE_P | PTE_W | PTE_U);
	d1 = data_frame(&w, 0x61);
	d2 = data_frame(&w, 0x62);
	START(&w, &w.g);
	EXPECT_READ(&w, va + 1023 * PAGE, 3, 0x51);
	EXPECT_READ(&w, va + MB4, 3, 0x52);

	/* The store at t1 + 0xffc exits (the kernel's mapping of t1 is
	 * read-only in the shadow); the embedder emulates all 8 bytes. */
	EXPECT_READ(&w, t1 + 0xff8, 0, hw_gread(&w.hw, t1 + 0xff8, 8));
	f.va = t1 + 0xffc;
	shadow_probe(&w, f.va, WR, 0, &sw);
	CHECK_EQ(sw.status, UMBRA_WALK_PF);
	f.error_code = sw.error_code;
	umbra_page_fault(w.hw.mmu, &f, &pf);
	CHECK_EQ(pf.action, UMBRA_PF_EMULATE_WRITE);
	CHECK_EQ(pf.gpa, t1 + 0xffc);
	snap(&w);
	v8 = (d1 | PTE_P | PTE_U | PTE_A) | ((d2 | PTE_P | PTE_U | PTE_A) << 32);
	assert_int_equal(umbra_emulated_write(w.hw.mmu, pf.gpa, &v8, 8, 0),
			 UMBRA_OK);
	AUDIT_OK(&w);
	EXPECT_DELTA(&w, pt_write_updated, 2);
	CHECK_EQ(hw_gread(&w.hw, t1 + 0xffc, 4), d1 | PTE_P | PTE_U | PTE_A);
	CHECK_EQ(hw_gread(&w.hw, t2, 4), d2 | PTE_P | PTE_U | PTE_A);
	EXPECT_READ(&w, va + 1023 * PAGE, 3, 0x61);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_READ(&w, va + MB4, 3, 0x62);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_PF(&w, va + MB4, WR, 3, EC_P | EC_W | EC_U);
	world_fini(&w);
}

/* ---- table structures -------------------------------------------------- */

/* Address of (l4, l3, l2, l1) in 4-level long mode (lower half). */
static uint64_t va4(unsigned l4, unsigned l3, unsigned l2, unsigned l1)
{
	return ((uint64_t)l4 << 39) | ((uint64_t)l3 << 30) |
	       ((uint64_t)l2 << 21) | ((uint64_t)l1 << 12);
}

/*
 * A recursive page directory (Windows' self-map, PML4[R] = PML4): the
 * kernel reads and edits every table through the recursive window.  The
 * PML4 frame is then shadowed in four roles (as PML4, PDPT, PD and PT),
 * each of which must follow every edit; user mode can't reach the window.
 */
static void test_recursive_page_directory(void **state)
{
	const unsigned R = 2; /* PML4 index of the self-map */
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pml4, pt, d0, d3, self, ptwin;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va; /* va4(1, 0, 0, 0) */
	d0 = data_frame(&w, 0x5e1f);
	d3 = data_frame(&w, 0x5e13);
	map_raw(&w.g, va, d0 | PTE_P | PTE_W | PTE_U);
	pml4 = w.g.root;
	pt = table_of(&w.g, va, 1);
	hw_gwrite_raw(&w.hw, pml4 + R * 8, 8, pml4 | PTE_P | PTE_W);
	self = va4(R, R, R, R);  /* the PML4 as data */
	ptwin = va4(R, 1, 0, 0); /* the user PT as data */
	START(&w, &w.g);
	EXPECT_READ(&w, va, 3, 0x5e1f);

	/* Reading the tables through the window. */
	CHECK_EQ(READ_OK(&w, self + R * 8, 0) & X86_PTE_ADDR_4K, pml4);
	EXPECT_READ_MEM(&w, ptwin, 0, pt);
	/* (R, R, 1, 0): the user PD as data; its entry 0 names the PT. */
	CHECK_EQ(READ_OK(&w, va4(R, R, 1, 0), 0) & X86_PTE_ADDR_4K, pt);
	EXPECT_PF(&w, ptwin, RD, 3, EC_P | EC_U);
	EXPECT_PF(&w, self, WR, 3, EC_P | EC_W | EC_U);

	/* mprotect through the window. */
	snap(&w);
	WRITE_OK(&w, ptwin, 0, hw_gread(&w.hw, pt, 8) & ~PTE_W);
	EXPECT_DELTA(&w, fault_pt_write, 1);
	INVLPG(&w, va);
	EXPECT_PF(&w, va, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_READ(&w, va, 3, 0x5e1f);

	/* A new mapping through the window, already accessed: the shadow is
	 * updated by the write itself. */
	snap(&w);
	WRITE_OK(&w, ptwin + 3 * 8, 0, d3 | PTE_P | PTE_U | PTE_A);
	EXPECT_DELTA(&w, pt_write_updated, 1);
	EXPECT_READ(&w, va + 3 * PAGE, 3, 0x5e13);
	CHECK_EQ(w.last_faults, 0);

	/* Edits of the PML4 itself through the window: the root stays
	 * shadowed (it is in use), the PML4's other roles may be given up,
	 * and every view stays exact. */
	snap(&w);
	for (i = 5; i < 12; i++)
		WRITE_OK(&w, self + i * 8, 0, (uint64_t)i << 12);
	for (i = 5; i < 12; i++)
		WRITE_OK(&w, self + i * 8, 0, 0);
	EXPECT_DELTA(&w, fault_pt_write, 14); /* the root is always monitored */
	CHECK_EQ(READ_OK(&w, self + R * 8, 0) & X86_PTE_ADDR_4K, pml4);
	EXPECT_READ(&w, va + 3 * PAGE, 3, 0x5e13);
	/* Unmapping the user half through the window. */
	WRITE_OK(&w, self + 1 * 8, 0, 0);
	LOAD(&w, w.hw.regs, UMBRA_WROTE_CR3);
	EXPECT_PF(&w, va, RD, 3, EC_U);
	EXPECT_PF(&w, ptwin, RD, 0, 0);
	world_fini(&w);
}

/*
 * Two directory entries share one page table with different rights: a
 * user read-only window (U/S=1, R/W=0) and a kernel read-write window
 * (U/S=0, R/W=1).  Each window keeps its own rights whatever the order of
 * use, and a kernel edit of the shared table reaches both shadows.
 */
static void test_shared_table_different_permissions(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va_u, va_k, pd, t, d0, d1;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va_u = w.user_va + MB2;
	va_k = w.user_va + 2 * MB2;
	d0 = data_frame(&w, 0x5a0);
	d1 = data_frame(&w, 0x5a1);
	t = hw_alloc_table(&w.hw);
	hw_gwrite_raw(&w.hw, t, 8, d0 | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	pd = table_of(&w.g, w.user_va, 2);
	hw_gwrite_raw(&w.hw, pd + 8, 8, t | PTE_P | PTE_U);
	hw_gwrite_raw(&w.hw, pd + 16, 8, t | PTE_P | PTE_W);
	START(&w, &w.g);

	EXPECT_READ(&w, va_u, 3, 0x5a0);
	EXPECT_PF(&w, va_u, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_PF(&w, va_u, WR, 0, EC_P | EC_W);
	WRITE_OK(&w, va_k + 8, 0, 0x5a5);
	EXPECT_PF(&w, va_k, RD, 3, EC_P | EC_U);
	EXPECT_PF(&w, va_k, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_READ(&w, va_u + 8, 3, 0x5a5);
	EXPECT_PF(&w, va_u, WR, 3, EC_P | EC_W | EC_U);

	/* Remap through the shared table: both shadows of it follow. */
	snap(&w);
	KSTORE(&w, t, d1 | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	EXPECT_DELTA(&w, pt_write_updated, 2);
	INVLPG(&w, va_u);
	INVLPG(&w, va_k);
	EXPECT_READ(&w, va_u, 3, 0x5a1);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_READ(&w, va_k, 0, 0x5a1);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_PF(&w, va_k, RD, 3, EC_P | EC_U);
	EXPECT_PF(&w, va_u, WR, 3, EC_P | EC_W | EC_U);
	world_fini(&w);
}

/*
 * CVE-2021-38198: a user access through the U/S=0 directory entry must
 * fault even after the same table was used through a U/S=1 entry (and the
 * other way round).  The table gets one shadow page per set of inherited
 * rights; one extra shadow page is all the second window costs.
 */
static void cve_2021_38198(bool user_first)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va_u, va_s, pd, t, d0;

	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va_u = w.user_va + MB2;
	va_s = w.user_va + 2 * MB2;
	d0 = data_frame(&w, 0xc7e);
	t = hw_alloc_table(&w.hw);
	hw_gwrite_raw(&w.hw, t, 8, d0 | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	pd = table_of(&w.g, w.user_va, 2);
	hw_gwrite_raw(&w.hw, pd + 8, 8, t | PTE_P | PTE_W | PTE_U);
	hw_gwrite_raw(&w.hw, pd + 16, 8, t | PTE_P | PTE_W);
	START(&w, &w.g);

	if (user_first) {
		EXPECT_READ(&w, va_u, 3, 0xc7e);
		WRITE_OK(&w, va_u + 8, 3, 1);
		FETCH_OK(&w, va_u, 3);
		snap(&w);
		EXPECT_PF(&w, va_s, RD, 3, EC_P | EC_U);
		EXPECT_PF(&w, va_s, WR, 3, EC_P | EC_W | EC_U);
		EXPECT_PF(&w, va_s, EX, 3, EC_P | EC_U | EC_ID);
		EXPECT_READ(&w, va_s + 8, 0, 1);
		EXPECT_DELTA(&w, shadow_pages_created, 1);
		EXPECT_PF(&w, va_s, RD, 3, EC_P | EC_U);
	} else {
		EXPECT_READ(&w, va_s, 0, 0xc7e);
		WRITE_OK(&w, va_s + 8, 0, 2);
		EXPECT_PF(&w, va_s, RD, 3, EC_P | EC_U);
		snap(&w);
		EXPECT_READ(&w, va_u + 8, 3, 2);
		WRITE_OK(&w, va_u + 8, 3, 3);
		EXPECT_DELTA(&w, shadow_pages_created, 1);
		EXPECT_PF(&w, va_s, RD, 3, EC_P | EC_U);
		EXPECT_PF(&w, va_s + 8, WR, 3, EC_P | EC_W | EC_U);
		EXPECT_READ(&w, va_s + 8, 0, 3);
	}
	/* Both windows keep working in any order afterwards. */
	EXPECT_READ(&w, va_u, 3, 0xc7e);
	EXPECT_PF(&w, va_s, RD, 3, EC_P | EC_U);
	world_fini(&w);
}

static void test_cve_2021_38198_user_window_first(void **state)
{
	(void)state;
	cve_2021_38198(true);
}

static void test_cve_2021_38198_supervisor_window_first(void **state)
{
	(void)state;
	cve_2021_38198(false);
}

/*
 * The same frame as a page table and as data: a PT maps itself as a
 * user-writable page.  The user reads its own PTEs, installs a mapping by
 * writing the table through the data mapping (emulated, and the new
 * translation works at once), and rewrites the very entry that maps the
 * table.  The data mapping of a shadowed table is never writable in the
 * shadow.
 */
static void test_same_frame_table_and_data(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_walk_result sw;
	uint64_t va, t, win, d0, d3;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	d0 = data_frame(&w, 0x7ab0);
	d3 = data_frame(&w, 0x7ab3);
	map_raw(&w.g, va, d0 | PTE_P | PTE_W | PTE_U);
	map_raw(&w.g, va + 4 * PAGE,
		data_frame(&w, 0x7ab4) | PTE_P | PTE_W | PTE_U);
	t = table_of(&w.g, va, 1);
	map_raw(&w.g, va + 8 * PAGE, t | PTE_P | PTE_W | PTE_U);
	win = va + 8 * PAGE; /* the PT as user data */
	START(&w, &w.g);

	EXPECT_READ(&w, va, 3, 0x7ab0);
	EXPECT_READ_MEM(&w, win, 3, t);
	CHECK_EQ(READ_OK(&w, win, 3) & PTE_A, PTE_A);
	shadow_probe(&w, win, WR, 3, &sw);
	CHECK_EQ(sw.status, UMBRA_WALK_PF);
	CHECK_EQ(sw.error_code, EC_P | EC_W | EC_U);

	/* The user installs a mapping by writing its table. */
	EXPECT_PF(&w, va + 3 * PAGE, RD, 3, EC_U);
	snap(&w);
	WRITE_OK(&w, win + 3 * 8, 3, d3 | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	EXPECT_DELTA(&w, fault_pt_write, 1);
	EXPECT_DELTA(&w, pt_write_updated, 1);
	EXPECT_READ(&w, va + 3 * PAGE, 3, 0x7ab3);
	CHECK_EQ(w.last_faults, 0);
	WRITE_OK(&w, va + 3 * PAGE + 8, 3, 0x33);
	CHECK_EQ(w.last_faults, 0);

	/* Floods of writes while the table is in use: whatever the engine
	 * decides, a table mapped by itself keeps being monitored. */
	EXPECT_READ(&w, va + 4 * PAGE, 3, 0x7ab4); /* a fault through t */
	snap(&w);
	WRITE_OK(&w, win + 100 * 8, 3, 0x100);
	WRITE_OK(&w, win + 101 * 8, 3, 0x101);
	WRITE_OK(&w, win + 102 * 8, 3, 0x102);
	EXPECT_DELTA(&w, flood_detected, 1);
	WRITE_OK(&w, win + 103 * 8, 3, 0x103);
	CHECK_EQ(HW_DELTA(&w, emulated), 4);
	shadow_probe(&w, win, WR, 3, &sw);
	assert_true(sw.status == UMBRA_WALK_PF);

	/* The entry that maps the table, rewritten through itself: the
	 * window becomes read-only. */
	WRITE_OK(&w, win + 8 * 8, 3, t | PTE_P | PTE_U | PTE_A | PTE_D);
	EXPECT_PF(&w, win + 8, WR, 3, EC_P | EC_W | EC_U);
	CHECK_EQ(READ_OK(&w, win + 8 * 8, 3), t | PTE_P | PTE_U | PTE_A | PTE_D);
	EXPECT_READ(&w, va + 3 * PAGE + 8, 3, 0x33);
	world_fini(&w);
}

/* ---- large pages --------------------------------------------------------- */

/*
 * 2 MiB and 1 GiB pages in long mode: a clean 2 MiB page becomes dirty on
 * the first write (D set in the PDE), loses R/W by a store into the PD,
 * and is split into a 4 KiB table as a kernel does for a partial
 * mprotect.  A 1 GiB identity window reaches past guest RAM (MMIO) and
 * lets the user rewrite its own PD through it.  Two PDEs mapping the same
 * 2 MiB with different U/S keep their own rights.
 */
static void test_large_pages_long_mode(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, big, g1, pd, pdpt, npt;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	big = va + MB2;
	g1 = va + GB1;
	pd = table_of(&w.g, va, 2);
	pdpt = table_of(&w.g, va, 3);
	hw_gwrite_raw(&w.hw, pd + 8, 8, LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_PS);
	hw_gwrite_raw(&w.hw, pd + 4 * 8, 8,
		      LARGE_GPA | PTE_P | PTE_W | PTE_PS | PTE_A | PTE_D);
	hw_gwrite_raw(&w.hw, pdpt + 8, 8,
		      PTE_P | PTE_W | PTE_U | PTE_PS | PTE_A | PTE_D);
	hw_gwrite_raw(&w.hw, LARGE_GPA + 0x1238, 8, 0xb16);
	hw_gwrite_raw(&w.hw, LARGE_GPA + 0x1ff000, 8, 0xb17);
	START(&w, &w.g);

	EXPECT_READ(&w, big + 0x1238, 3, 0xb16);
	CHECK_EQ(hw_gread(&w.hw, pd + 8, 8) & (PTE_A | PTE_D), PTE_A);
	WRITE_OK(&w, big + 0x5000, 3, 0x1a29e);
	CHECK_EQ(hw_gread(&w.hw, LARGE_GPA + 0x5000, 8), 0x1a29e);
	CHECK_EQ(hw_gread(&w.hw, pd + 8, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	EXPECT_READ(&w, big + 0x1ff000, 3, 0xb17);

	/* mprotect(PROT_READ) of the huge page. */
	snap(&w);
	KSTORE(&w, pd + 8, KREAD(&w, pd + 8) & ~PTE_W);
	EXPECT_DELTA(&w, pt_write_zapped, 1);
	INVLPG(&w, big);
	EXPECT_PF(&w, big + 0x5000, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_READ(&w, big + 0x5000, 3, 0x1a29e);

	/* Split into 4 KiB pages, some read-only, some absent. */
	npt = hw_alloc_table(&w.hw);
	KSTORE(&w, npt, LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	KSTORE(&w, npt + 1 * 8, (LARGE_GPA + PAGE) | PTE_P | PTE_U | PTE_A);
	KSTORE(&w, npt + 5 * 8,
	       (LARGE_GPA + 5 * PAGE) | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	KSTORE(&w, npt + 0x1ff * 8,
	       (LARGE_GPA + 0x1ff * PAGE) | PTE_P | PTE_W | PTE_U);
	KSTORE(&w, pd + 8, npt | UDIR);
	LOAD(&w, w.hw.regs, UMBRA_WROTE_CR3);
	WRITE_OK(&w, big + 0x5000, 3, 0x2a29e);
	EXPECT_READ(&w, big + 0x1238, 3, 0xb16);
	EXPECT_PF(&w, big + 0x1238, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_PF(&w, big + 2 * PAGE, RD, 3, EC_U);
	EXPECT_READ(&w, big + 0x1ff000, 3, 0xb17);

	/* The same 2 MiB through a supervisor PDE. */
	EXPECT_READ(&w, va + 4 * MB2 + 0x1238, 0, 0xb16);
	EXPECT_PF(&w, va + 4 * MB2 + 0x1238, RD, 3, EC_P | EC_U);

	/* The 1 GiB identity window. */
	EXPECT_READ(&w, g1 + LARGE_GPA + 0x1ff000, 3, 0xb17);
	WRITE_OK(&w, g1 + 0xf00000, 3, 0x1e1);
	CHECK_EQ(hw_gread(&w.hw, 0xf00000, 8), 0x1e1);
	snap(&w);
	EXPECT_MMIO(&w, g1 + 0x2000000, RD, 3, 0x2000000);
	EXPECT_DELTA(&w, fault_mmio, 1);
	/* The user maps a huge page by writing its own PD through it. */
	snap(&w);
	WRITE_OK(&w, g1 + pd + 3 * 8, 3,
		 LARGE_GPA | PTE_P | PTE_U | PTE_PS | PTE_A);
	EXPECT_DELTA(&w, fault_pt_write, 1);
	EXPECT_READ(&w, va + 3 * MB2 + 0x1238, 3, 0xb16);
	EXPECT_PF(&w, va + 3 * MB2 + 0x1238, WR, 3, EC_P | EC_W | EC_U);
	world_fini(&w);
}

/*
 * The first fault on a guest large page builds its aligned group of 16
 * leaves (engine/fault.c, prefetch_direct): the rest of the group costs no
 * fault, the next group one.  A clean large page's group is read-only:
 * the write that dirties the page faults once, then the whole group of the
 * dirty page's shadow is writable.
 */
static void test_large_page_fault_prefetches_its_group(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	const unsigned group = 16;
	uint64_t big, pd;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	big = w.user_va + MB2;
	pd = table_of(&w.g, w.user_va, 2);
	hw_gwrite_raw(&w.hw, pd + 8, 8, LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_PS);
	for (i = 0; i <= group; i++)
		hw_gwrite_raw(&w.hw, LARGE_GPA + i * PAGE + 8, 8, 0x9000 + i);
	START(&w, &w.g);

	snap(&w);
	EXPECT_READ(&w, big + 3 * PAGE + 8, 3, 0x9003);
	EXPECT_DELTA(&w, fault_fixed, 1);
	snap(&w);
	for (i = 0; i < group; i++)
		EXPECT_READ(&w, big + i * PAGE + 8, 3, 0x9000 + i);
	EXPECT_DELTA(&w, fault_fixed, 0);
	snap(&w);
	WRITE_OK(&w, big + 4 * PAGE, 3, 0x4444);
	EXPECT_DELTA(&w, fault_fixed, 1);
	CHECK_EQ(hw_gread(&w.hw, pd + 8, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	snap(&w);
	WRITE_OK(&w, big + 7 * PAGE, 3, 0x7777);
	EXPECT_READ(&w, big + 9 * PAGE + 8, 3, 0x9009);
	EXPECT_DELTA(&w, fault_fixed, 0);
	snap(&w);
	EXPECT_READ(&w, big + group * PAGE + 8, 3, 0x9000 + group);
	EXPECT_DELTA(&w, fault_fixed, 1);
	world_fini(&w);
}

/*
 * Protection keys on large pages: two 2 MiB PDEs map the same frames with
 * different keys.  Each translation must be checked against its own key,
 * whichever of them built the shadow of those frames first.
 */
static void test_large_pages_same_frame_different_pkeys(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	uint64_t va, pd, k1, k2;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	w.cr4x = X86_CR4_PKE;
	va = w.user_va;
	k1 = va + MB2;
	k2 = va + 2 * MB2;
	pd = table_of(&w.g, va, 2);
	hw_gwrite_raw(&w.hw, pd + 8, 8,
		      LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_A |
			      PTE_D | (1ull << X86_PTE_PK_SHIFT));
	hw_gwrite_raw(&w.hw, pd + 16, 8,
		      LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_A |
			      PTE_D | (2ull << X86_PTE_PK_SHIFT));
	hw_gwrite_raw(&w.hw, LARGE_GPA + 0x1238, 8, 0xb16);
	START(&w, &w.g);

	EXPECT_READ(&w, k1 + 0x1238, 3, 0xb16);
	EXPECT_READ(&w, k2 + 0x1238, 3, 0xb16);
	/* Key 1 access-disabled: only the first window faults. */
	r = w.hw.regs;
	r.pkru = X86_PKRU_AD(1);
	LOAD(&w, r, UMBRA_WROTE_PKRU);
	EXPECT_PF(&w, k1 + 0x1238, RD, 3, EC_P | EC_U | EC_PK);
	EXPECT_READ(&w, k2 + 0x1238, 3, 0xb16);
	/* Key 2 write-disabled instead. */
	r.pkru = X86_PKRU_WD(2);
	LOAD(&w, r, UMBRA_WROTE_PKRU);
	WRITE_OK(&w, k1 + 0x1240, 3, 0x4b1);
	EXPECT_PF(&w, k2 + 0x1240, WR, 3, EC_P | EC_W | EC_U | EC_PK);
	EXPECT_READ(&w, k2 + 0x1240, 3, 0x4b1);
	world_fini(&w);
}

/*
 * A 32-bit guest's 4 MiB pages (CR4.PSE): each is two 2 MiB halves in the
 * PAE shadow.  With PSE cleared, the same PDE names a page table (PS is
 * ignored): the large page's first frame is read as PTEs.  Toggling PSE
 * back finds the first shadow again in the cache, and a write to the frame
 * that the PSE-off shadow treats as a table is emulated.
 */
static void test_large_pages_32bit_pse(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	uint64_t pd, big, d5;

	(void)state;
	world_init(&w, UMBRA_MODE_32, POOL_PAGES);
	w.cr4x = X86_CR4_PSE;
	pd = w.g.root;
	big = 0x40400000ull; /* PD[257] */
	d5 = data_frame(&w, 0xd5);
	hw_gwrite_raw(&w.hw, pd + 257 * 4, 4,
		      LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_PS);
	hw_gwrite_raw(&w.hw, LARGE_GPA + 0x1238, 8, 0xb16);
	hw_gwrite_raw(&w.hw, LARGE_GPA + 0x201238, 8, 0xb17);
	hw_gwrite_raw(&w.hw, LARGE_GPA + 5 * 4, 4, d5 | PTE_P | PTE_U | PTE_A);
	START(&w, &w.g);

	EXPECT_READ(&w, big + 0x1238, 3, 0xb16);
	EXPECT_READ(&w, big + 0x201238, 3, 0xb17);
	CHECK_EQ(hw_gread(&w.hw, pd + 257 * 4, 4) & PTE_D, 0);
	WRITE_OK(&w, big + 0x201240, 3, 0x4d);
	CHECK_EQ(hw_gread(&w.hw, pd + 257 * 4, 4) & PTE_D, PTE_D);
	CHECK_EQ(hw_gread(&w.hw, LARGE_GPA + 0x201240, 8), 0x4d);

	/* PSE off: the PDE names a table, the large page's first frame. */
	snap(&w);
	r = w.hw.regs;
	r.cr4 &= ~X86_CR4_PSE;
	LOAD(&w, r, UMBRA_WROTE_CR4);
	EXPECT_DELTA(&w, mode_changes, 1);
	EXPECT_READ(&w, big + 5 * PAGE, 3, 0xd5);
	EXPECT_PF(&w, big + 6 * PAGE, RD, 3, EC_U);
	EXPECT_PF(&w, big + 5 * PAGE, WR, 3, EC_P | EC_W | EC_U);

	/* PSE on again: the cached shadow, no exit for what was touched. */
	snap(&w);
	r.cr4 |= X86_CR4_PSE;
	LOAD(&w, r, UMBRA_WROTE_CR4);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	EXPECT_READ(&w, big + 0x1238, 3, 0xb16);
	EXPECT_READ(&w, big + 0x201240, 3, 0x4d);
	EXPECT_DELTA(&w, shadow_pages_created, 0);
	CHECK_EQ(HW_DELTA(&w, hw_faults), 0);
	/* The frame the PSE-off shadow reads as a table, written as data. */
	snap(&w);
	write_ok_(&w, __LINE__, big + 5 * 4, 3, 4, 0);
	CHECK_EQ(HW_DELTA(&w, emulated), 1);
	r.cr4 &= ~X86_CR4_PSE;
	LOAD(&w, r, UMBRA_WROTE_CR4);
	EXPECT_PF(&w, big + 5 * PAGE, RD, 3, EC_U);
	world_fini(&w);
}

/*
 * A 32-bit guest's quadrants: its 1024-entry page table is two shadow
 * tables (entries 0-511 and 512-1023), its 1024-entry directory four shadow
 * roots (one per GiB), and a 4 MiB PDE two shadow entries.  A store into
 * one half of a guest table touches only that half's shadow; a PDE store
 * only its quarter's root; an 8-byte store (CMPXCHG8B) two 4-byte PTEs.
 */
static void test_32bit_quadrants(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pd, t, q[4], dc, de, df, v8;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_32, POOL_PAGES);
	w.cr4x = X86_CR4_PSE;
	va = w.user_va; /* PD[256] */
	pd = w.g.root;
	map_raw(&w.g, va + 10 * PAGE, data_frame(&w, 0xa10) | PTE_P | PTE_W | PTE_U);
	map_raw(&w.g, va + 700 * PAGE, data_frame(&w, 0xa70) | PTE_P | PTE_W | PTE_U);
	t = table_of(&w.g, va, 1);
	for (i = 0; i < 4; i++) {
		q[i] = (uint64_t)i * GB1 + 0x800000; /* PD[256 i + 2] */
		map_raw(&w.g, q[i], data_frame(&w, 0x90 + i) | PTE_P | PTE_U);
	}
	map_raw(&w.g, va + 30 * PAGE, data_frame(&w, 0xa30) | PTE_P | PTE_U);
	map_raw(&w.g, va + 600 * PAGE, data_frame(&w, 0xa60) | PTE_P | PTE_U);
	hw_gwrite_raw(&w.hw, pd + 771 * 4, 4,
		      LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_A | PTE_D);
	hw_gwrite_raw(&w.hw, LARGE_GPA + 0x1238, 8, 0xb16);
	hw_gwrite_raw(&w.hw, LARGE_GPA + 0x201238, 8, 0xb17);
	dc = data_frame(&w, 0xac);
	de = data_frame(&w, 0xae);
	df = data_frame(&w, 0xaf);
	START(&w, &w.g);

	EXPECT_READ(&w, va + 10 * PAGE, 3, 0xa10);
	EXPECT_READ(&w, va + 700 * PAGE, 3, 0xa70);
	for (i = 0; i < 4; i++)
		EXPECT_READ(&w, q[i], 3, 0x90 + i);
	EXPECT_READ(&w, 0xc0c01238ull, 3, 0xb16);
	EXPECT_READ(&w, 0xc0e01238ull, 3, 0xb17);

	/* The upper half of the table. */
	snap(&w);
	KSTORE(&w, t + 700 * 4, dc | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	EXPECT_DELTA(&w, pt_write_updated, 1);
	EXPECT_DELTA(&w, pt_write_ignored, 1);
	INVLPG(&w, va + 700 * PAGE);
	EXPECT_READ(&w, va + 700 * PAGE, 3, 0xac);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_READ(&w, va + 10 * PAGE, 3, 0xa10);
	CHECK_EQ(w.last_faults, 0);
	/* The lower half. */
	snap(&w);
	KSTORE(&w, t + 10 * 4, 0);
	EXPECT_DELTA(&w, pt_write_zapped, 1);
	EXPECT_DELTA(&w, pt_write_ignored, 1);
	INVLPG(&w, va + 10 * PAGE);
	EXPECT_PF(&w, va + 10 * PAGE, RD, 3, EC_U);
	EXPECT_READ(&w, va + 700 * PAGE, 3, 0xac);

	/* One PDE of the last quarter: only its root changes. */
	snap(&w);
	KSTORE(&w, pd + 770 * 4, 0);
	EXPECT_DELTA(&w, pt_write_zapped, 1);  /* the linked 2 MiB half */
	EXPECT_DELTA(&w, pt_write_ignored, 4); /* the other half, 3 roots */
	INVLPG(&w, q[3]);
	EXPECT_PF(&w, q[3], RD, 3, EC_U);
	for (i = 0; i < 3; i++)
		EXPECT_READ(&w, q[i], 3, 0x90 + i);
	/* The 4 MiB PDE: both of its shadow entries go. */
	snap(&w);
	KSTORE(&w, pd + 771 * 4, 0);
	EXPECT_DELTA(&w, pt_write_zapped, 2);
	LOAD(&w, w.hw.regs, UMBRA_WROTE_CR3);
	EXPECT_PF(&w, 0xc0c01238ull, RD, 3, EC_U);
	EXPECT_PF(&w, 0xc0e01238ull, RD, 3, EC_U);

	/* CMPXCHG8B over two PTEs at once. */
	/* First use of two more pages: faults through both halves of the
	 * table, which tells the engine the table is in use (not flooded). */
	EXPECT_READ(&w, va + 30 * PAGE, 3, 0xa30);
	EXPECT_READ(&w, va + 600 * PAGE, 3, 0xa60);
	snap(&w);
	v8 = (de | PTE_P | PTE_U | PTE_A) |
	     ((df | PTE_P | PTE_U | PTE_A) << 32);
	write_ok_(&w, __LINE__, t + 20 * 4, 0, 8, v8);
	EXPECT_DELTA(&w, pt_write_updated, 2);
	EXPECT_DELTA(&w, pt_write_ignored, 2);
	EXPECT_READ(&w, va + 20 * PAGE, 3, 0xae);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_READ(&w, va + 21 * PAGE, 3, 0xaf);
	CHECK_EQ(w.last_faults, 0);
	world_fini(&w);
}

/*
 * A 32-bit recursive page directory (PD[768] = PD, the classic
 * 0xC0000000 window): the directory is shadowed as four roots and, through
 * the window, as two halves of a page table.  The kernel edits a PTE
 * through the window; the user cannot reach it.
 */
static void test_32bit_recursive_page_directory(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pd, pt, win_pt, win_pd, d5;

	(void)state;
	world_init(&w, UMBRA_MODE_32, POOL_PAGES);
	va = w.user_va;
	pd = w.g.root;
	map_raw(&w.g, va, data_frame(&w, 0x3200) | PTE_P | PTE_W | PTE_U);
	d5 = data_frame(&w, 0x3205);
	pt = table_of(&w.g, va, 1);
	hw_gwrite_raw(&w.hw, pd + 768 * 4, 4, pd | PTE_P | PTE_W);
	win_pt = 0xc0000000ull + 256 * PAGE; /* the PT of PD[256] */
	win_pd = 0xc0000000ull + 768 * PAGE; /* the PD itself */
	START(&w, &w.g);

	EXPECT_READ(&w, va, 3, 0x3200);
	read_mem_(&w, __LINE__, win_pd + 256 * 4, 0, 4, pd + 256 * 4);
	CHECK_EQ(read_ok_(&w, __LINE__, win_pd + 768 * 4, 0, 4) &
			 X86_PTE32_ADDR_4K, pd);
	read_mem_(&w, __LINE__, win_pt, 0, 4, pt);
	EXPECT_PF(&w, win_pt, RD, 3, EC_P | EC_U);

	snap(&w);
	write_ok_(&w, __LINE__, win_pt + 5 * 4, 0, 4,
		  d5 | PTE_P | PTE_U | PTE_A);
	EXPECT_DELTA(&w, pt_write_updated, 1);
	EXPECT_READ(&w, va + 5 * PAGE, 3, 0x3205);
	CHECK_EQ(w.last_faults, 0);
	/* A new directory entry through the window, then its table. */
	write_ok_(&w, __LINE__, win_pd + 300 * 4, 0, 4,
		  hw_alloc_table(&w.hw) | PTE_P | PTE_W | PTE_U);
	write_ok_(&w, __LINE__, 0xc0000000ull + 300 * PAGE + 7 * 4, 0, 4,
		  d5 | PTE_P | PTE_U);
	EXPECT_READ(&w, 300 * MB4 + 7 * PAGE, 3, 0x3205);
	world_fini(&w);
}

/* ---- the pool ------------------------------------------------------------- */

/*
 * Three processes, each spreading its pages over eight page tables, on a
 * pool far too small for them: every round trip evicts.  Data and rights
 * stay exact, roots in use are never evicted, the pool's high-water mark
 * never passes its size.
 */
static void test_pool_exhaustion_with_eviction(void **state)
{
	const uint32_t pool = 12;
	static struct world w; /* static: freed by free_worlds() on failure */
	struct gpt as[3];
	uint64_t va;
	unsigned p, k, round;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, pool);
	va = w.user_va;
	as[0] = w.g;
	as_init(&w, &as[1]);
	as_init(&w, &as[2]);
	for (p = 0; p < 3; p++)
		for (k = 0; k < 8; k++)
			map_raw(&as[p], va + k * MB2 + p * PAGE,
				data_frame(&w, 0x100 * p + k) | PTE_P | PTE_W |
					PTE_U);
	START(&w, &as[0]);
	snap(&w);
	for (round = 0; round < 3; round++) {
		for (p = 0; p < 3; p++) {
			SWITCH_TO(&w, &as[p]);
			for (k = 0; k < 8; k++) {
				uint64_t a = va + k * MB2 + p * PAGE;

				EXPECT_READ(&w, a, 3, 0x100 * p + k + round);
				WRITE_OK(&w, a, 3, 0x100 * p + k + round + 1);
				EXPECT_PF(&w, a + PAGE, RD, 3, EC_U);
			}
		}
	}
	assert_true(DELTA(&w, evictions) > 0);
	assert_true(stats(&w)->gauge[UMBRA_GAUGE_pool_pages_in_use].high <= pool);
	EXPECT_DELTA(&w, fault_error, 0);
	world_fini(&w);
}

/*
 * A process reads a large untouched anonymous region: Linux maps every
 * page to the shared zero page, so one frame is mapped by hundreds of
 * leaves and its reverse map needs many extents.  On a small pool, the
 * engine must evict to find extents without ever evicting the shadow page
 * it is filling.
 */
static void test_pool_exhaustion_shared_zero_page(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, zp;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, MIN_POOL);
	va = w.user_va;
	zp = data_frame(&w, 0);
	for (i = 0; i < 1024; i++)
		map_raw(&w.g, va + i * PAGE, zp | PTE_P | PTE_U);
	START(&w, &w.g);
	snap(&w);
	for (i = 0; i < 1024; i++)
		EXPECT_READ(&w, va + i * PAGE, 3, 0);
	EXPECT_PF(&w, va, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_DELTA(&w, fault_error, 0);
	world_fini(&w);
}

/*
 * A mirrored ring buffer (each frame mapped at two consecutive addresses,
 * the "magic ring buffer" trick): every frame's reverse map holds two
 * entries, so each needs an extent of its own, and one page table of them
 * needs more extents than a small pool has.  The engine must evict other
 * shadow pages to make room, never the one it is filling.
 */
static void test_pool_exhaustion_mirrored_pages(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, MIN_POOL);
	va = w.user_va;
	for (i = 0; i < 256; i++) {
		uint64_t f = data_frame(&w, 0x8000 + i);

		map_raw(&w.g, va + i * PAGE, f | PTE_P | PTE_W | PTE_U);
		map_raw(&w.g, va + (256 + i) * PAGE, f | PTE_P | PTE_W | PTE_U);
	}
	START(&w, &w.g);
	snap(&w);
	for (i = 0; i < 512; i++)
		EXPECT_READ(&w, va + i * PAGE, 3, 0x8000 + i % 256);
	WRITE_OK(&w, va + 8, 3, 0x4242);
	EXPECT_READ(&w, va + 256 * PAGE + 8, 3, 0x4242);
	EXPECT_DELTA(&w, fault_error, 0);
	world_fini(&w);
}

/* ---- mode changes ------------------------------------------------------- */

/*
 * CR0.WP toggling, as kernels do around writes to read-only kernel data:
 * with WP = 0 supervisor writes go through read-only pages (and set D),
 * user accesses keep the guest's rights; with WP = 1 they fault P|W.  Each
 * setting's shadow stays cached, so toggling back costs a lookup and no
 * exit for pages already used.  WP = 0 with SMEP makes the engine emulate
 * such writes instead.
 */
static void test_cr0_wp_toggling(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	uint64_t va, kva, uva, cva, pt;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	kva = va;
	uva = va + PAGE;
	cva = va + 2 * PAGE;
	map_raw(&w.g, kva, data_frame(&w, 0xc0) | PTE_P | PTE_A | PTE_D);
	map_raw(&w.g, uva, data_frame(&w, 0xc1) | PTE_P | PTE_U | PTE_A | PTE_D);
	map_raw(&w.g, cva, data_frame(&w, 0xc2) | PTE_P | PTE_U);
	pt = table_of(&w.g, va, 1);
	START(&w, &w.g);

	EXPECT_PF(&w, kva, WR, 0, EC_P | EC_W);
	EXPECT_PF(&w, uva, WR, 0, EC_P | EC_W);
	EXPECT_READ(&w, uva, 3, 0xc1);
	EXPECT_READ(&w, kva, 0, 0xc0);

	/* WP = 0. */
	snap(&w);
	r = w.hw.regs;
	r.cr0 &= ~X86_CR0_WP;
	LOAD(&w, r, UMBRA_WROTE_CR0);
	EXPECT_DELTA(&w, mode_changes, 1);
	EXPECT_DELTA(&w, cr3_switch_miss, 1);
	WRITE_OK(&w, kva + 8, 0, 0x3b0);
	WRITE_OK(&w, uva + 8, 0, 0x3b1);
	EXPECT_READ(&w, uva + 8, 3, 0x3b1);
	EXPECT_PF(&w, uva + 8, WR, 3, EC_P | EC_W | EC_U);
	WRITE_OK(&w, uva + 16, 0, 0x3b2);
	EXPECT_PF(&w, kva, RD, 3, EC_P | EC_U);
	EXPECT_PF(&w, uva + 8, WR, 3, EC_P | EC_W | EC_U);
	/* A clean read-only page: the supervisor write sets D. */
	WRITE_OK(&w, cva, 0, 0x3b3);
	CHECK_EQ(hw_gread(&w.hw, pt + 16, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	EXPECT_READ(&w, cva, 3, 0x3b3);
	EXPECT_PF(&w, cva, WR, 3, EC_P | EC_W | EC_U);

	/* WP = 1 again: the first shadow, from the cache. */
	snap(&w);
	r.cr0 |= X86_CR0_WP;
	LOAD(&w, r, UMBRA_WROTE_CR0);
	EXPECT_DELTA(&w, mode_changes, 1);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	EXPECT_READ(&w, uva + 8, 3, 0x3b1);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_PF(&w, kva + 8, WR, 0, EC_P | EC_W);
	EXPECT_PF(&w, cva, WR, 0, EC_P | EC_W);
	EXPECT_DELTA(&w, shadow_pages_created, 0);

	/* WP = 0 again: cached too; the supervisor write needs no exit. */
	snap(&w);
	r.cr0 &= ~X86_CR0_WP;
	LOAD(&w, r, UMBRA_WROTE_CR0);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	WRITE_OK(&w, kva + 8, 0, 0x3b4);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_DELTA(&w, shadow_pages_created, 0);

	/* WP = 0 with SMEP: such writes are emulated. */
	snap(&w);
	r.cr4 |= X86_CR4_SMEP;
	LOAD(&w, r, UMBRA_WROTE_CR4);
	EXPECT_DELTA(&w, mode_changes, 1);
	WRITE_OK(&w, uva + 24, 0, 0x3b5);
	WRITE_OK(&w, kva + 16, 0, 0x3b6);
	CHECK_EQ(HW_DELTA(&w, emulated), 2);
	EXPECT_DELTA(&w, fault_pt_write, 2);
	EXPECT_READ(&w, uva + 24, 3, 0x3b5);
	EXPECT_PF(&w, uva + 24, WR, 3, EC_P | EC_W | EC_U);
	EXPECT_PF(&w, uva, EX, 0, EC_P | EC_ID);
	EXPECT_PF(&w, kva, RD, 3, EC_P | EC_U);
	world_fini(&w);
}

/*
 * CR0.WP = 0 with protection keys (CR4.PKE): a supervisor write to a
 * read-only user page is allowed, but PKRU.AD of the page's key still
 * forbids supervisor data accesses to that user page.  WRPKRU does not
 * exit on real hardware, so the shadow leaf the write leaves behind must
 * keep the hardware checking the key.
 */
static void test_cr0_wp0_with_protection_keys(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	uint64_t va, uva;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	w.cr0x = 0;
	w.cr4x = X86_CR4_PKE;
	va = w.user_va;
	uva = va;
	map_raw(&w.g, uva, data_frame(&w, 0x6e) | PTE_P | PTE_U | PTE_A |
				    PTE_D | (1ull << X86_PTE_PK_SHIFT));
	START(&w, &w.g);

	WRITE_OK(&w, uva + 8, 0, 0x6e1); /* WP = 0: allowed */
	/* WRPKRU: key 1 access-disabled. */
	r = w.hw.regs;
	r.pkru = X86_PKRU_AD(1);
	LOAD(&w, r, UMBRA_WROTE_PKRU);
	EXPECT_PF(&w, uva + 8, RD, 0, EC_P | EC_PK);
	EXPECT_PF(&w, uva + 8, WR, 0, EC_P | EC_W | EC_PK);
	EXPECT_PF(&w, uva + 8, RD, 3, EC_P | EC_U | EC_PK);
	r.pkru = 0;
	LOAD(&w, r, UMBRA_WROTE_PKRU);
	EXPECT_READ(&w, uva + 8, 0, 0x6e1);
	world_fini(&w);
}

/*
 * EFER.NXE, CR4.SMEP and CR4.SMAP toggles.  With CR0.WP = 1 SMEP and SMAP
 * change nothing in the shadow's contents (the hardware enforces them on
 * it), so toggling them creates no shadow page.  Clearing NXE makes bit 63
 * reserved: the NX page faults RSVD until the kernel clears the bit.
 */
static void test_nxe_smep_smap_toggling(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	struct hw_result res;
	uint64_t va, nva, uva, pt;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	nva = va;
	uva = va + PAGE;
	map_raw(&w.g, nva,
		data_frame(&w, 0x11) | PTE_P | PTE_U | PTE_A | PTE_D | PTE_NX);
	map_raw(&w.g, uva,
		data_frame(&w, 0x22) | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	pt = table_of(&w.g, va, 1);
	START(&w, &w.g);

	EXPECT_PF(&w, nva, EX, 3, EC_P | EC_U | EC_ID);
	EXPECT_READ(&w, nva, 3, 0x11);
	FETCH_OK(&w, uva, 3);
	FETCH_OK(&w, uva, 0);

	/* SMEP. */
	snap(&w);
	r = w.hw.regs;
	r.cr4 |= X86_CR4_SMEP;
	LOAD(&w, r, UMBRA_WROTE_CR4);
	EXPECT_DELTA(&w, mode_changes, 0);
	EXPECT_PF(&w, uva, EX, 0, EC_P | EC_ID);
	FETCH_OK(&w, uva, 3);
	EXPECT_PF(&w, nva, EX, 0, EC_P | EC_ID);

	/* SMAP: explicit supervisor data accesses to user pages need AC. */
	r.cr4 |= X86_CR4_SMAP;
	LOAD(&w, r, UMBRA_WROTE_CR4);
	expect_pf_(&w, __LINE__, uva, RD, 0, false, false, EC_P);
	expect_pf_(&w, __LINE__, uva, WR, 0, false, false, EC_P | EC_W);
	res = access_(&w, __LINE__, uva + 8, WR, 0, true, false, 8, 0x5a);
	CHECK_EQ(res.outcome, HW_OK);
	CHECK_EQ(hw_gread(&w.hw, res.gpa, 8), 0x5a);
	res = access_(&w, __LINE__, uva + 8, RD, 0, true, false, 8, 0);
	CHECK_EQ(res.outcome, HW_OK);
	/* Implicit supervisor accesses are never relaxed by AC (at CPL 0 or
	 * during event delivery at CPL 3). */
	expect_pf_(&w, __LINE__, uva, RD, 0, true, true, EC_P);
	expect_pf_(&w, __LINE__, uva, WR, 3, true, true, EC_P | EC_W);
	EXPECT_READ(&w, uva + 8, 3, 0x5a);
	EXPECT_DELTA(&w, shadow_pages_created, 0);
	r.cr4 &= ~(X86_CR4_SMEP | X86_CR4_SMAP);
	LOAD(&w, r, UMBRA_WROTE_CR4);
	EXPECT_READ(&w, uva + 8, 0, 0x5a);
	FETCH_OK(&w, uva, 0);

	/* NXE off: bit 63 is reserved now. */
	snap(&w);
	r.efer &= ~X86_EFER_NXE;
	LOAD(&w, r, UMBRA_WROTE_EFER);
	EXPECT_DELTA(&w, mode_changes, 1);
	EXPECT_PF(&w, nva, RD, 3, EC_P | EC_U | EC_RSVD);
	EXPECT_PF(&w, nva, EX, 3, EC_P | EC_U | EC_RSVD);
	FETCH_OK(&w, uva, 3);
	EXPECT_READ(&w, uva + 8, 3, 0x5a);
	/* The kernel clears the bit. */
	KSTORE(&w, pt, KREAD(&w, pt) & ~PTE_NX);
	INVLPG(&w, nva);
	FETCH_OK(&w, nva, 3);
	EXPECT_READ(&w, nva, 3, 0x11);

	/* NXE on again: the cached shadow, whose NX leaf was dropped when
	 * the kernel cleared the bit. */
	snap(&w);
	r.efer |= X86_EFER_NXE;
	LOAD(&w, r, UMBRA_WROTE_EFER);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	EXPECT_DELTA(&w, mode_changes, 1);
	FETCH_OK(&w, nva, 3);
	EXPECT_READ(&w, uva + 8, 3, 0x5a);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_DELTA(&w, shadow_pages_created, 0);
	world_fini(&w);
}

/*
 * Paging off and on again: a long-mode kernel drops to paging off (leaving
 * long mode), edits a PTE by its physical address (the frame is still
 * monitored by the cached long-mode shadow, so the store is emulated and
 * applied), touches memory physically (unbacked addresses are MMIO), and
 * re-enables paging: the cached root is found, and the edit is seen.
 */
static void test_paging_off_and_on(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	uint64_t va, pt, d0, d1;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	d0 = data_frame(&w, 0x0ff0);
	d1 = data_frame(&w, 0x0ff1);
	map_raw(&w.g, va, d0 | PTE_P | PTE_W | PTE_U);
	pt = table_of(&w.g, va, 1);
	START(&w, &w.g);
	WRITE_OK(&w, va + 8, 3, 0xf00d);

	snap(&w);
	r = w.hw.regs;
	r.cr0 &= ~X86_CR0_PG;
	r.efer &= ~X86_EFER_LMA;
	LOAD(&w, r, UMBRA_WROTE_CR0 | UMBRA_WROTE_EFER);
	EXPECT_DELTA(&w, mode_changes, 1);
	EXPECT_READ(&w, d0 + 8, 0, 0xf00d);
	EXPECT_MMIO(&w, UNBACKED + 0x10, RD, 0, UNBACKED + 0x10);
	EXPECT_MMIO(&w, (uint64_t)GUEST_MB << 20, WR, 0,
		    (uint64_t)GUEST_MB << 20);
	WRITE_OK(&w, d1 + 16, 0, 0x1d1);
	snap(&w);
	WRITE_OK(&w, pt, 0, d1 | PTE_P | PTE_W | PTE_U);
	CHECK_EQ(HW_DELTA(&w, emulated), 1);
	EXPECT_DELTA(&w, pt_write_zapped, 1);

	snap(&w);
	r.cr0 |= X86_CR0_PG;
	r.efer |= X86_EFER_LMA;
	LOAD(&w, r, UMBRA_WROTE_CR0 | UMBRA_WROTE_EFER);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	EXPECT_DELTA(&w, mode_changes, 1);
	EXPECT_READ(&w, va, 3, 0x0ff1);
	EXPECT_READ(&w, va + 16, 3, 0x1d1);
	EXPECT_READ(&w, d0 + 8, 0, 0xf00d);
	world_fini(&w);
}

/*
 * A boot: paging off -> 32-bit paging -> PAE -> long mode -> back to
 * 32-bit.  At each stage the kernel builds the next stage's tables with
 * stores through its current mapping (physical addresses first), then
 * switches through paging off as real kernels do.  One data page is
 * mapped at the same user address in every mode and keeps its contents;
 * returning to the 32-bit address space finds its shadow in the cache.
 */
static void test_mode_switches_32_pae_long(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	uint64_t pd32, pt32, d0, pdpt, pdk, pdu, ptu, pml4, pdptk, pdptu, pdl,
		ptl;
	const uint64_t u32 = 0x40000000ull, u64 = 1ull << 39;

	(void)state;
	memset(&w, 0, sizeof(w));
	hw_init(&w.hw, GUEST_MB, POOL_PAGES);
	world_track(&w);
	w.next_data = DATA_BASE;
	w.g.esize = 4;
	d0 = data_frame(&w, 0xb007);

	/* Paging off: 32-bit tables by physical stores.  The kernel maps its
	 * first 4 MiB with one PSE page. */
	pd32 = hw_alloc_table(&w.hw);
	pt32 = hw_alloc_table(&w.hw);
	write_ok_(&w, __LINE__, pd32, 0, 4, PTE_P | PTE_W | PTE_PS | PTE_A | PTE_D);
	write_ok_(&w, __LINE__, pd32 + 256 * 4, 0, 4, pt32 | UDIR);
	write_ok_(&w, __LINE__, pt32, 0, 4, d0 | PTE_P | PTE_W | PTE_U);
	snap(&w);
	r = (struct umbra_paging_regs){
		.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP, .cr3 = pd32,
		.cr4 = X86_CR4_PSE,
	};
	LOAD(&w, r, UMBRA_WROTE_ALL);
	EXPECT_DELTA(&w, mode_changes, 1);
	EXPECT_READ(&w, u32, 3, 0xb007);
	EXPECT_READ(&w, d0, 0, 0xb007);

	/* PAE tables through the 32-bit map: 2 MiB pages for the kernel. */
	pdpt = hw_alloc_table(&w.hw);
	pdk = hw_alloc_table(&w.hw);
	pdu = hw_alloc_table(&w.hw);
	ptu = hw_alloc_table(&w.hw);
	WRITE_OK(&w, pdk, 0, PTE_P | PTE_W | PTE_PS | PTE_A | PTE_D);
	WRITE_OK(&w, pdk + 8, 0, MB2 | PTE_P | PTE_W | PTE_PS | PTE_A | PTE_D);
	WRITE_OK(&w, pdpt, 0, pdk | PTE_P);
	WRITE_OK(&w, pdpt + 8, 0, pdu | PTE_P);
	WRITE_OK(&w, pdu, 0, ptu | UDIR);
	WRITE_OK(&w, ptu, 0, d0 | PTE_P | PTE_W | PTE_U);
	r.cr0 &= ~X86_CR0_PG;
	LOAD(&w, r, UMBRA_WROTE_CR0);
	r.cr4 |= X86_CR4_PAE;
	r.cr3 = pdpt;
	LOAD(&w, r, UMBRA_WROTE_CR4 | UMBRA_WROTE_CR3);
	r.cr0 |= X86_CR0_PG;
	LOAD(&w, r, UMBRA_WROTE_CR0);
	EXPECT_READ(&w, u32, 3, 0xb007);
	WRITE_OK(&w, u32 + 8, 3, 0x9ae);
	EXPECT_READ(&w, d0 + 8, 0, 0x9ae);

	/* Long-mode tables through the PAE map: a 1 GiB kernel page. */
	pml4 = hw_alloc_table(&w.hw);
	pdptk = hw_alloc_table(&w.hw);
	pdptu = hw_alloc_table(&w.hw);
	pdl = hw_alloc_table(&w.hw);
	ptl = hw_alloc_table(&w.hw);
	WRITE_OK(&w, pdptk, 0, PTE_P | PTE_W | PTE_PS | PTE_A | PTE_D);
	WRITE_OK(&w, pml4, 0, pdptk | PTE_P | PTE_W);
	WRITE_OK(&w, pml4 + 8, 0, pdptu | UDIR);
	WRITE_OK(&w, pdptu, 0, pdl | UDIR);
	WRITE_OK(&w, pdl, 0, ptl | UDIR);
	WRITE_OK(&w, ptl, 0, d0 | PTE_P | PTE_W | PTE_U);
	r.cr0 &= ~X86_CR0_PG;
	LOAD(&w, r, UMBRA_WROTE_CR0);
	r.efer |= X86_EFER_LME | X86_EFER_NXE;
	r.cr3 = pml4;
	LOAD(&w, r, UMBRA_WROTE_EFER | UMBRA_WROTE_CR3);
	r.cr0 |= X86_CR0_PG;
	r.efer |= X86_EFER_LMA;
	LOAD(&w, r, UMBRA_WROTE_CR0 | UMBRA_WROTE_EFER);
	EXPECT_READ(&w, u64, 3, 0xb007);
	EXPECT_READ(&w, u64 + 8, 3, 0x9ae);
	WRITE_OK(&w, u64 + 16, 3, 0x10e6);
	EXPECT_READ(&w, d0 + 16, 0, 0x10e6);
	EXPECT_PF(&w, d0, RD, 3, EC_P | EC_U);

	/* Back to 32-bit paging. */
	r.cr0 &= ~X86_CR0_PG;
	r.efer &= ~X86_EFER_LMA;
	LOAD(&w, r, UMBRA_WROTE_CR0 | UMBRA_WROTE_EFER);
	r.efer &= ~(X86_EFER_LME | X86_EFER_NXE);
	r.cr4 &= ~X86_CR4_PAE;
	r.cr3 = pd32;
	LOAD(&w, r, UMBRA_WROTE_EFER | UMBRA_WROTE_CR4 | UMBRA_WROTE_CR3);
	snap(&w);
	r.cr0 |= X86_CR0_PG;
	LOAD(&w, r, UMBRA_WROTE_CR0);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	EXPECT_READ(&w, u32 + 16, 3, 0x10e6);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_READ(&w, d0, 0, 0xb007);
	CHECK_EQ(w.last_faults, 0);
	EXPECT_DELTA(&w, shadow_pages_created, 0);
	world_fini(&w);
}

/* ---- a hostile guest ----------------------------------------------------- */

/*
 * Entries naming memory that is not guest RAM: a PTE at the host address
 * of guest RAM, or just past the end of RAM (MMIO to the embedder); a PTE
 * at the guest frame equal to the pool's host address (a guest frame like
 * any other); a directory whose table is not RAM (reads as zeros: not
 * present); entries with address bits above MAXPHYADDR (RSVD); large pages
 * past RAM.  The harness checks that no shadow leaf ever maps host memory
 * outside guest RAM.
 */
static void test_hostile_entries_outside_ram(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t va, pd, pdpt, end = (uint64_t)GUEST_MB << 20;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	map_raw(&w.g, va, UNBACKED | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	map_raw(&w.g, va + PAGE, 0x100000 | PTE_P | PTE_U | PTE_A);
	map_raw(&w.g, va + 2 * PAGE, (end - PAGE) | PTE_P | PTE_W | PTE_U);
	map_raw(&w.g, va + 3 * PAGE, end | PTE_P | PTE_W | PTE_U);
	map_raw(&w.g, va + 4 * PAGE, UMBRA_BIT(45) | PTE_P | PTE_U);
	pd = table_of(&w.g, va, 2);
	pdpt = table_of(&w.g, va, 3);
	hw_gwrite_raw(&w.hw, pd + 1 * 8, 8, (UNBACKED + 0x5000) | UDIR);
	hw_gwrite_raw(&w.hw, pd + 2 * 8, 8, UMBRA_BIT(45) | hw_alloc_table(&w.hw) | UDIR);
	hw_gwrite_raw(&w.hw, pd + 3 * 8, 8, UNBACKED | UDIR | PTE_PS);
	hw_gwrite_raw(&w.hw, pdpt + 1 * 8, 8, (4 * GB1) | UDIR | PTE_PS);
	START(&w, &w.g);

	snap(&w);
	EXPECT_MMIO(&w, va, RD, 3, UNBACKED);
	EXPECT_MMIO(&w, va + 8, WR, 3, UNBACKED + 8);
	EXPECT_MMIO(&w, va + 16, EX, 0, UNBACKED + 16);
	EXPECT_DELTA(&w, fault_mmio, 3);
	EXPECT_READ_MEM(&w, va + PAGE, 3, 0x100000);
	WRITE_OK(&w, va + 2 * PAGE + 0xff8, 3, 0x1a57);
	CHECK_EQ(hw_gread(&w.hw, end - 8, 8), 0x1a57);
	EXPECT_MMIO(&w, va + 3 * PAGE, RD, 3, end);
	EXPECT_PF(&w, va + 4 * PAGE, RD, 3, EC_P | EC_U | EC_RSVD);
	EXPECT_PF(&w, va + MB2, RD, 3, EC_U);
	EXPECT_PF(&w, va + MB2, WR, 0, EC_W);
	EXPECT_PF(&w, va + 2 * MB2, RD, 3, EC_P | EC_U | EC_RSVD);
	EXPECT_MMIO(&w, va + 3 * MB2 + 0x1000, WR, 3, UNBACKED + 0x1000);
	EXPECT_MMIO(&w, va + GB1 + 0x123000, RD, 3, 4 * GB1 + 0x123000);
	world_fini(&w);
}

/*
 * A 32-bit guest's hostile large pages: a PSE-36 4 MiB page above 4 GiB
 * (MMIO), one with the reserved bit 21 set (RSVD), one over the end of
 * RAM; and in long mode a misaligned 1 GiB page (bits 29:13 reserved).
 */
static void test_hostile_large_pages(void **state)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t pd, va, pdpt;

	(void)state;
	world_init(&w, UMBRA_MODE_32, POOL_PAGES);
	w.cr4x = X86_CR4_PSE;
	pd = w.g.root;
	hw_gwrite_raw(&w.hw, pd + 257 * 4, 4,
		      (1ull << X86_PTE32_PSE36_SHIFT) | PTE_P | PTE_W | PTE_U |
			      PTE_PS | PTE_A | PTE_D); /* 4 GiB */
	hw_gwrite_raw(&w.hw, pd + 258 * 4, 4,
		      LARGE_GPA | X86_PTE32_4M_RSVD_BIT | PTE_P | PTE_U | PTE_PS);
	hw_gwrite_raw(&w.hw, pd + 259 * 4, 4,
		      ((uint64_t)GUEST_MB << 20) | PTE_P | PTE_U | PTE_PS);
	START(&w, &w.g);
	EXPECT_MMIO(&w, 0x40400000ull + 0x1234, RD, 3, 4 * GB1 + 0x1234);
	EXPECT_PF(&w, 0x40800000ull, RD, 3, EC_P | EC_U | EC_RSVD);
	EXPECT_MMIO(&w, 0x40c00000ull + 0x3ff000, RD, 0,
		    ((uint64_t)GUEST_MB << 20) + 0x3ff000);
	world_fini(&w);

	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	va = w.user_va;
	pdpt = table_of(&w.g, va, 3);
	hw_gwrite_raw(&w.hw, pdpt + 8, 8, MB2 | UDIR | PTE_PS | PTE_A | PTE_D);
	START(&w, &w.g);
	EXPECT_PF(&w, va + GB1, RD, 3, EC_P | EC_U | EC_RSVD);
	EXPECT_PF(&w, va + GB1 + 0x1000, EX, 0, EC_P | EC_RSVD | EC_ID);
	world_fini(&w);
}

/*
 * Tables that point at themselves and at each other: a PDPT whose entry
 * names a PD whose entry names the PDPT back (read as a PT), self-mapped
 * PDs and PDPTs, a user-writable PML4 self-map.  Concrete translations
 * first, then every address the loops make, read and written at CPL 3 and
 * 0 (the writes rewrite the loops themselves); each access is compared
 * with the guest's own walk.
 */
static void test_hostile_table_loops(void **state)
{
	static const uint64_t vals[] = {
		0, PTE_P | PTE_U, UNBACKED | PTE_P | PTE_W | PTE_U,
		UMBRA_BIT(45) | PTE_P | PTE_W | PTE_U,
	};
	static struct world w; /* static: freed by free_worlds() on failure */
	uint64_t pml4, x, y;
	unsigned l4i, a, b, c, n = 0, ok = 0, faults = 0;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4, POOL_PAGES);
	pml4 = w.g.root;
	x = hw_alloc_table(&w.hw); /* a PDPT */
	y = hw_alloc_table(&w.hw); /* a PD */
	hw_gwrite_raw(&w.hw, pml4 + 1 * 8, 8, x | UDIR);
	hw_gwrite_raw(&w.hw, pml4 + 3 * 8, 8, pml4 | UDIR);
	hw_gwrite_raw(&w.hw, x + 0 * 8, 8, y | UDIR);
	hw_gwrite_raw(&w.hw, x + 1 * 8, 8, x | UDIR);
	hw_gwrite_raw(&w.hw, x + 2 * 8, 8, pml4 | PTE_P | PTE_U);
	hw_gwrite_raw(&w.hw, y + 0 * 8, 8, x | UDIR);
	hw_gwrite_raw(&w.hw, y + 1 * 8, 8, y | UDIR);
	START(&w, &w.g);

	/* x as a PT under y: x[0] maps y, x[1] maps x. */
	CHECK_EQ(READ_OK(&w, va4(1, 0, 0, 0), 3) & X86_PTE_ADDR_4K, x);
	CHECK_EQ(READ_OK(&w, va4(1, 0, 0, 1) + 8, 3) & X86_PTE_ADDR_4K, x);
	/* y as a PT under itself: y[0] maps x. */
	CHECK_EQ(READ_OK(&w, va4(1, 0, 1, 0) + 16, 3) & X86_PTE_ADDR_4K, pml4);
	/* x as PD and PT under itself. */
	CHECK_EQ(READ_OK(&w, va4(1, 1, 1, 1), 3) & X86_PTE_ADDR_4K, y);
	/* x[2] maps the PML4 as a read-only PD; its self-map PML4[3] makes
	 * it a PT, then data: read-only, so a user write faults. */
	EXPECT_READ(&w, va4(1, 2, 3, 3) + 3 * 8, 3, pml4 | UDIR | PTE_A);
	EXPECT_PF(&w, va4(1, 2, 3, 3), WR, 3, EC_P | EC_W | EC_U);
	/* The user writes its own PML4 through the self-map: emulated. */
	snap(&w);
	WRITE_OK(&w, va4(3, 3, 3, 3) + 5 * 8, 3, y | UDIR);
	EXPECT_DELTA(&w, fault_pt_write, 1);
	/* PML4[5] = y read as a PDPT: y[0] = x as PD, x[0] = y as PT, y[0]
	 * maps x. */
	CHECK_EQ(READ_OK(&w, va4(5, 0, 0, 0), 3) & X86_PTE_ADDR_4K, y);

	for (l4i = 0; l4i < 2; l4i++)
		for (a = 0; a < 4; a++)
			for (b = 0; b < 4; b++)
				for (c = 0; c < 4; c++) {
					uint64_t v = va4(l4i ? 3 : 1, a, b, c) +
						     8 * ((a + b + c) % 4);
					struct hw_result r;

					r = access_(&w, __LINE__, v, RD, 3, false,
						    false, 8, 0);
					ok += r.outcome == HW_OK;
					faults += r.outcome == HW_FAULT;
					r = access_(&w, __LINE__, v, WR, 3 * (n % 2),
						    false, false, 8,
						    vals[n % 4] | (n % 3 ? x : y));
					ok += r.outcome == HW_OK;
					faults += r.outcome == HW_FAULT;
					r = access_(&w, __LINE__, v, EX, 0, false,
						    false, 1, 0);
					n++;
				}
	print_message("table loops: %u accesses ok, %u faults, %llu emulated\n",
		      ok, faults, (unsigned long long)w.hw.emulated);
	assert_true(ok > 16);
	assert_true(faults > 16);
	world_fini(&w);
}

/*
 * CR3 pointing outside guest RAM (every walk reads zeros: not present, in
 * every mode), and a PAE PDPT with a reserved bit (the load raises #GP and
 * changes nothing).  The guest recovers by loading a good CR3, found in the
 * cache.
 */
static void root_outside_ram(enum umbra_mode mode)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct gpt bad;
	uint64_t va;

	world_init(&w, mode, POOL_PAGES);
	va = w.user_va;
	map_raw(&w.g, va, data_frame(&w, 0x600d) | PTE_P | PTE_W | PTE_U);
	START(&w, &w.g);
	EXPECT_READ(&w, va, 3, 0x600d);

	bad = w.g;
	bad.root = UNBACKED + 0x3000;
	SWITCH_TO(&w, &bad);
	EXPECT_PF(&w, va, RD, 3, EC_U);
	EXPECT_PF(&w, 0x1000, WR, 0, EC_W);
	EXPECT_PF(&w, va, EX, 0, mode == UMBRA_MODE_32 ? 0 : EC_ID);
	bad.root = ((uint64_t)GUEST_MB << 20) - PAGE; /* RAM: zeros */
	SWITCH_TO(&w, &bad);
	EXPECT_PF(&w, va, RD, 3, EC_U);

	snap(&w);
	SWITCH_TO(&w, &w.g);
	EXPECT_DELTA(&w, cr3_switch_hit, 1);
	EXPECT_READ(&w, va, 3, 0x600d);
	CHECK_EQ(w.last_faults, 0);

	if (mode == UMBRA_MODE_PAE) {
		struct umbra_paging_regs r = w.hw.regs;
		uint64_t pdpt = hw_alloc_table(&w.hw);

		hw_gwrite_raw(&w.hw, pdpt, 8,
			      hw_gread(&w.hw, w.g.root, 8) | PTE_W);
		r.cr3 = pdpt;
		assert_int_equal(hw_set_paging(&w.hw, &r, UMBRA_WROTE_CR3),
				 UMBRA_ERR_GP);
		AUDIT_OK(&w);
		EXPECT_READ(&w, va, 3, 0x600d);
		CHECK_EQ(w.last_faults, 0);
	}
	world_fini(&w);
}

static void test_hostile_root_outside_ram_long4(void **state)
{
	(void)state;
	root_outside_ram(UMBRA_MODE_LONG4);
}

static void test_hostile_root_outside_ram_pae(void **state)
{
	(void)state;
	root_outside_ram(UMBRA_MODE_PAE);
}

static void test_hostile_root_outside_ram_32bit(void **state)
{
	(void)state;
	root_outside_ram(UMBRA_MODE_32);
}

/*
 * A PAE PDPTE that names the PDPT itself: the four PDPTEs are read as PDEs
 * (supervisor, read-only: their R/W and U/S bits must be zero), so the
 * kernel's PD appears as a PT and the kernel's PTs as data.  The first walk
 * through the loop sets A (bit 5) in a PDPTE, a reserved bit there: the
 * loaded PDPTE registers don't change, but the next MOV CR3 to this PDPT
 * raises #GP.  (One checked access per world: the harness's reference
 * walker reloads the PDPTEs from memory for every access, which after the
 * A update no longer matches the CPU's registers.)
 */
enum pdpt_loop_case { LOOP_KREAD, LOOP_UREAD, LOOP_KWRITE, LOOP_PT_DATA,
		      LOOP_ABSENT, LOOP_CASES };

static void pae_pdpt_loop_case(enum pdpt_loop_case c)
{
	static struct world w; /* static: freed by free_worlds() on failure */
	struct umbra_paging_regs r;
	uint64_t va, pdpt, pdk, ptk;

	world_init(&w, UMBRA_MODE_PAE, POOL_PAGES);
	va = w.user_va; /* PDPT[1] */
	pdpt = w.g.root;
	pdk = hw_gread(&w.hw, pdpt, 8) & X86_PTE_ADDR_4K;
	ptk = hw_gread(&w.hw, pdk, 8) & X86_PTE_ADDR_4K;
	hw_gwrite_raw(&w.hw, pdpt + 8, 8, pdpt | PTE_P);
	START(&w, &w.g);

	switch (c) {
	case LOOP_KREAD: /* PDE 0 = PDPTE 0 -> pdk as PT; pdk[0] -> ptk */
		EXPECT_READ_MEM(&w, va, 0, ptk);
		CHECK_EQ(hw_gread(&w.hw, ptk, 8) & X86_PTE_ADDR_4K, 0);
		break;
	case LOOP_UREAD:
		EXPECT_PF(&w, va, RD, 3, EC_P | EC_U);
		break;
	case LOOP_KWRITE:
		EXPECT_PF(&w, va, WR, 0, EC_P | EC_W);
		break;
	case LOOP_PT_DATA: /* PDE 1 = PDPTE 1 -> pdpt as PT: [0] maps pdk */
		EXPECT_READ_MEM(&w, va + MB2 + 8, 0, pdk + 8);
		break;
	default: /* PDE 2 = PDPTE 2: not present */
		EXPECT_PF(&w, va + 2 * MB2, RD, 0, 0);
		break;
	}
	if (c != LOOP_ABSENT) {
		/* A went into a PDPTE (reserved there): MOV CR3 now #GPs and
		 * leaves everything as it was. */
		CHECK_EQ(hw_gread(&w.hw, pdpt + (c == LOOP_PT_DATA ? 8 : 0), 8) &
				 PTE_A, PTE_A);
		r = w.hw.regs;
		assert_int_equal(hw_set_paging(&w.hw, &r, UMBRA_WROTE_CR3),
				 UMBRA_ERR_GP);
		AUDIT_OK(&w);
	}
	world_fini(&w);
}

static void test_hostile_pae_pdpt_as_directory(void **state)
{
	unsigned c;

	(void)state;
	for (c = 0; c < LOOP_CASES; c++)
		pae_pdpt_loop_case((enum pdpt_loop_case)c);
}

#define T(f) cmocka_unit_test_teardown(f, free_worlds)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fork_copy_on_write),
		T(test_fork_heuristic_unshadows_parent_table),
		T(test_exec_builds_new_address_space),
		T(test_munmap_with_invlpg),
		T(test_exit_reuses_table_pages_as_data),
		T(test_frame_monitored_follows_unshadowing),
		T(test_demand_paging_does_not_flood),
		T(test_cr3_switch_cached_long4),
		T(test_cr3_switch_cached_long5),
		T(test_cr3_switch_cached_pae),
		T(test_cr3_switch_cached_32bit),
		T(test_invlpg_after_pte_changes),
		T(test_pae_split_pte_writes),
		T(test_emulated_store_straddling_two_tables),
		T(test_recursive_page_directory),
		T(test_shared_table_different_permissions),
		T(test_cve_2021_38198_user_window_first),
		T(test_cve_2021_38198_supervisor_window_first),
		T(test_same_frame_table_and_data),
		T(test_large_pages_long_mode),
		T(test_large_page_fault_prefetches_its_group),
		T(test_large_pages_same_frame_different_pkeys),
		T(test_large_pages_32bit_pse),
		T(test_32bit_quadrants),
		T(test_32bit_recursive_page_directory),
		T(test_pool_exhaustion_with_eviction),
		T(test_pool_exhaustion_shared_zero_page),
		T(test_pool_exhaustion_mirrored_pages),
		T(test_cr0_wp_toggling),
		T(test_cr0_wp0_with_protection_keys),
		T(test_nxe_smep_smap_toggling),
		T(test_paging_off_and_on),
		T(test_mode_switches_32_pae_long),
		T(test_hostile_entries_outside_ram),
		T(test_hostile_large_pages),
		T(test_hostile_table_loops),
		T(test_hostile_root_outside_ram_long4),
		T(test_hostile_root_outside_ram_pae),
		T(test_hostile_root_outside_ram_32bit),
		T(test_hostile_pae_pdpt_as_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
