/*
 * Cost of the shadow engine's paths, each as ns per operation AND as a
 * ratio to a bare guest walk (umbra_walk on the same guest tables, cache
 * hot) measured in the same invocation.
 *
 * The embedder here is deliberately minimal: no per-access audit, no
 * reference walk, no hardware walker in the timed loops.  Host-physical
 * memory is one array; the shadow pool (8192 pages) sits at 1 MiB, guest
 * RAM (1 GiB) at 64 MiB (so gpa != hpa).  The guest runs in 4-level long
 * mode.  A "#PF exit" is a call to umbra_page_fault() with the error code
 * the hardware reports against the shadow (checked against a software walk
 * of the shadow tables outside the timed regions); a "PT write exit" is
 * umbra_page_fault() answering EMULATE_WRITE, then umbra_emulated_write().
 * Every timed batch also checks the engine's counters moved as the figure
 * claims (faults fixed, pages built, PTEs updated/zapped/ignored, CR3 hits),
 * and the program fails rather than print a figure for another path.
 *
 * Method.  Each figure is RUNS runs (cold rows: COLD_BATCHES batches).
 * Before each run's untimed setup one baseline sample is taken: umbra_walk,
 * read at CPL 3, over the 256 pages of the main space (one page per page
 * table, A/D set at every level), round robin.  A run's ratio is its ns/op
 * over that sample; the table prints the median ns/op, the median ratio and
 * the min-max of the ratios.  Pairing each run with its own baseline keeps
 * the ratios steady (about +-10%) on a loaded machine where absolute times
 * move by +-40% between invocations.  Time is thread CPU time, so moments
 * the thread is descheduled do not count; a clock read is a system call
 * (~0.2 us), so timed regions are batches and the calibrated cost of an
 * empty region is subtracted.  "flush" is the TLB flush-all requests the
 * engine made per operation.
 *
 * What each figure measures:
 *
 *   umbra_translate  the same walk through the engine's walker and its view
 *                 of guest memory (slots): the walk every #PF starts with.
 *   #PF, hot      every shadow level exists and only the leaf is missing.
 *                 Before each batch the guest rewrote each PTE as present
 *                 but not accessed (A = 0; an untimed emulated write, which
 *                 clears the shadow leaf since prefetch needs A); the timed
 *                 fault walks the guest (setting A), finds every level
 *                 linked and installs the leaf.  256 pages, each in its own
 *                 page table (one zapping write per table between faults
 *                 never trips the flood heuristic).
 *   #PF, D bit    a write to a clean page whose leaf is present read-only
 *                 (guest D = 0): the walk sets D, the leaf becomes writable.
 *                 Re-armed (untimed) by an emulated write of the PTE with
 *                 D = 0, which prefetches the read-only leaf.
 *   PT write      umbra_emulated_write of one 8-byte PTE into a shadowed
 *                 leaf table: present+accessed over non-present (prefetch:
 *                 the leaf is built at once), non-present over a mapped PTE
 *                 (the leaf is cleared), non-present over non-present
 *                 (nothing to update); and the whole exit: umbra_page_fault
 *                 classifying a kernel store through the guest's direct map
 *                 (2 MiB pages, read-only in the shadow) + the prefetching
 *                 write.  A fault on a spare page of each table between
 *                 batches (untimed) resets the flood counter.
 *   INVLPG        umbra_invlpg.
 *   #PF, cold     a fresh engine and a fresh address space per batch (the
 *                 root exists, nothing below it):
 *                   "PT": 256 pages 2 MiB apart under one PD: each fault
 *                         builds the page-table level (1 shadow page) and
 *                         the leaf (the first also builds PDPT and PD);
 *                   "full": 256 pages 512 GiB apart: each fault builds
 *                         PDPT, PD and PT (3 shadow pages) and the leaf.
 *                 No eviction.  "Cold" is the shadow cache; the CPU caches
 *                 are as the engine's creation and the setup left them.
 *   CR3 miss      MOV CR3 to 256 fresh address spaces in a row (each root
 *                 is allocated, cleared and its frame write-protected).
 *   CR3 hit       MOV CR3 round robin over N cached address spaces (N = 10,
 *                 100, 1000; one engine per N, same pool size); each space
 *                 was entered and touched before, so its whole path is
 *                 cached.  cr3_switch_hit/_miss deltas prove every timed
 *                 switch hit.
 *   remap off a shared frame  a prefetching PT write that moves a PTE off
 *                 a frame mapped n times (the zero page; a COW break): the
 *                 old leaf's reference leaves an n-entry reverse map.
 *   fork          512 stores clearing R/W in every present PTE of a
 *                 shadowed page table (the parent's side of fork), done by
 *                 the guest kernel through its direct map.  A store exits
 *                 only while the table's frame is write-protected in the
 *                 shadow; once the fork heuristic has unshadowed it, one
 *                 more #PF makes the direct-map leaf writable and the rest
 *                 are plain memory stores, as on hardware.  The sequence of
 *                 exits is found once by a software model of the hardware
 *                 (a walk of the shadow tables per access), then replayed
 *                 and timed without that model, every engine call checked
 *                 to take the same path.  The single exits are single-shot
 *                 (CPU caches as the setup left them), unlike the steady
 *                 "PT write exit" row.  Then the guest reads every page of
 *                 the table again (a note: the #PF exits this costs).
 *   fill          16 stores of new present, accessed, read-only PTEs into
 *                 a shadowed table whose first entry is in use (fault-
 *                 around after a file fault), same method: where the flood
 *                 heuristic stops the exits, and what it costs afterwards.
 *
 * The engine is given no clock (env.now = NULL), so no clock read lands
 * inside a measured path: the timers in the JSON line count operations, with
 * zero ticks.  The JSON line sums the statistics of every engine instance
 * this program created (counters and timers added; gauges: the highest
 * value and high-water mark of any instance).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "umbra/mmu.h"
#include "umbra/stats.h"
#include "umbra/walk.h"
#include "umbra/x86.h"

/* ---- layout and sizes ----------------------------------------------------- */

#define PAGE            X86_PAGE_SIZE_4K
#define POOL_HPA        0x100000ull           /* 1 MiB */
#define POOL_PAGES      8192u                 /* 32 MiB of shadow pool */
#define GUEST_HPA       0x4000000ull          /* 64 MiB */
#define GUEST_SIZE      (1ull << 30)
#define HOST_SIZE       (GUEST_HPA + GUEST_SIZE)
#define MAIN_TABLES     0x100000ull           /* main space: [1, 8) MiB */
#define OTHER_TABLES    0x800000ull           /* everything else: [8, 56) */
#define TABLES_END      0x3800000ull
#define KMAP_SIZE       0x4000000ull          /* direct map of [0, 64 MiB) */
#define DATA_GFN        (0x4000000ull / PAGE) /* data frames from 64 MiB */

#define KVA_BASE        0xffff888000000000ull /* the guest's direct map */
#define HOT_VA          0x0000001000000000ull /* 256 page tables, 2 MiB apart */
#define COLD_PT_VA      0x0000002000000000ull
#define CR3_VA          0x0000000000400000ull
#define FORK_VA         0x0000003000000000ull
#define FILL_VA         (FORK_VA + (2ull << 20))
#define RMAP_VA         0x0000004000000000ull

#define N_TABLES        256u  /* page tables of the hot space */
#define E_HOT           0u    /* PTE index: hot fault */
#define E_DBIT          1u    /* PTE index: D-bit fault */
#define E_WRITE         2u    /* PTE index: emulated writes */
#define E_SPARE         3u    /* first spare PTE (flood counter resets) */

#define RUNS            9u
#define BASE_WALKS      100000u /* walks per baseline sample */
#define ROUNDS_PER_RUN  24u   /* 256-op batches per run (faults) */
#define WROUNDS_PER_RUN 16u   /* rounds per run (PT writes): 3 spares each */
#define COLD_BATCHES    15u
#define SWITCHES_PER_RUN 200000u
#define INVLPG_PER_RUN  2000000u
#define FILL_WRITES     16u

#define LEAF_RW   (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A | X86_PTE_D)
#define DIR_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A)
#define PFEC_READ_NP_USER X86_PFEC_U
#define PFEC_WRITE_RO_USER (X86_PFEC_P | X86_PFEC_W | X86_PFEC_U)
#define PFEC_WRITE_RO_SUP (X86_PFEC_P | X86_PFEC_W)

/* ---- the embedder ----------------------------------------------------------- */

struct machine {
	struct umbra_mmu *mmu;
	uint64_t next_table;
	uint64_t table_end;
	uint64_t flush_all, flush_va;
	struct umbra_paging_regs regs;
};

static uint8_t *host; /* all of host-physical memory */
static struct umbra_stats total; /* every instance's statistics, summed */
static volatile uint64_t sink;

static void die(const char *what)
{
	fprintf(stderr, "engine_bench: %s\n", what);
	exit(1);
}

static void die_engine(const struct machine *m, const char *what)
{
	fprintf(stderr, "engine_bench: %s: %s\n", what,
		m->mmu ? umbra_mmu_last_error(m->mmu) : "(no engine)");
	exit(1);
}

/* Bookkeeping memory: blocks are kept and handed out again (zeroed) to the
 * next instance asking for the same size, so that a fresh engine does not
 * take operating-system page faults on brand new memory inside a timed
 * region. */
#define MAX_BLOCKS 64
static struct block { void *p; size_t size; bool used; } blocks[MAX_BLOCKS];

static void *env_alloc_meta(void *ctx, size_t size)
{
	unsigned i;

	(void)ctx;
	for (i = 0; i < MAX_BLOCKS; i++) {
		if (blocks[i].p && !blocks[i].used && blocks[i].size == size) {
			memset(blocks[i].p, 0, size);
			blocks[i].used = true;
			return blocks[i].p;
		}
	}
	for (i = 0; i < MAX_BLOCKS; i++) {
		if (!blocks[i].p) {
			blocks[i].p = calloc(1, size);
			blocks[i].size = size;
			blocks[i].used = blocks[i].p != NULL;
			return blocks[i].p;
		}
	}
	return calloc(1, size); /* not expected: leaks harmlessly */
}

static void env_free_meta(void *ctx, void *ptr, size_t size)
{
	unsigned i;

	(void)ctx;
	(void)size;
	for (i = 0; i < MAX_BLOCKS; i++) {
		if (blocks[i].p == ptr) {
			blocks[i].used = false;
			return;
		}
	}
	free(ptr);
}

static void *env_hpa_to_ptr(void *ctx, uint64_t hpa)
{
	(void)ctx;
	return hpa < HOST_SIZE ? host + hpa : NULL;
}

static void env_flush_va(void *ctx, uint64_t va)
{
	(void)va;
	((struct machine *)ctx)->flush_va++;
}

static void env_flush_all(void *ctx)
{
	((struct machine *)ctx)->flush_all++;
}

static void m_create(struct machine *m, uint64_t table_base,
		     uint64_t table_end)
{
	struct umbra_env env = {
		.ctx = m, .hpa_to_ptr = env_hpa_to_ptr,
		.alloc_meta = env_alloc_meta, .free_meta = env_free_meta,
		.flush_tlb_va = env_flush_va, .flush_tlb_all = env_flush_all,
		.now = NULL,
	};
	struct umbra_config cfg = {
		.pool_hpa = POOL_HPA, .pool_pages = POOL_PAGES,
		.ref_extents = POOL_PAGES * 8,
		.caps = { .maxphyaddr = 40, .gbpages = true, .pse36 = true },
	};

	memset(m, 0, sizeof(*m));
	m->next_table = table_base;
	m->table_end = table_end;
	if (umbra_mmu_create(&m->mmu, &env, &cfg) != UMBRA_OK)
		die("umbra_mmu_create failed");
	if (umbra_slot_add(m->mmu, 0, GUEST_SIZE, GUEST_HPA,
			   UMBRA_SLOT_RAM) != UMBRA_OK)
		die_engine(m, "umbra_slot_add");
}

static void stats_accumulate(const struct umbra_stats *s)
{
	unsigned i;

	for (i = 0; i < UMBRA_CTR_COUNT; i++)
		total.counter[i] += s->counter[i];
	for (i = 0; i < UMBRA_TMR_COUNT; i++) {
		total.timer[i].count += s->timer[i].count;
		total.timer[i].ticks += s->timer[i].ticks;
		if (s->timer[i].max > total.timer[i].max)
			total.timer[i].max = s->timer[i].max;
	}
	for (i = 0; i < UMBRA_GAUGE_COUNT; i++) {
		if (s->gauge[i].value > total.gauge[i].value)
			total.gauge[i].value = s->gauge[i].value;
		if (s->gauge[i].high > total.gauge[i].high)
			total.gauge[i].high = s->gauge[i].high;
	}
}

/* Audit (untimed) and destroy: the scenarios must leave a shadow the
 * engine's own checker accepts. */
static void m_destroy(struct machine *m)
{
	struct umbra_audit_violation v[4];
	uint32_t n = umbra_audit(m->mmu, v, 4);

	if (n) {
		fprintf(stderr, "engine_bench: audit: %u violation(s), first: "
			"%s (sp %u level %u index %u gfn %#llx spte %#llx)\n",
			n, v[0].what, v[0].sp, v[0].level, v[0].index,
			(unsigned long long)v[0].gfn,
			(unsigned long long)v[0].spte);
		exit(1);
	}
	stats_accumulate(umbra_mmu_stats(m->mmu));
	umbra_mmu_destroy(m->mmu);
	m->mmu = NULL;
}

static uint64_t ctr(const struct machine *m, enum umbra_counter_id c)
{
	return umbra_mmu_stats(m->mmu)->counter[c];
}

/* ---- guest memory and guest page tables ----------------------------------- */

static uint64_t gread(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, host + GUEST_HPA + gpa, 8);
	return v;
}

static void gwrite_raw(uint64_t gpa, uint64_t v)
{
	memcpy(host + GUEST_HPA + gpa, &v, 8);
}

static uint64_t alloc_table(struct machine *m)
{
	uint64_t gpa = m->next_table;

	if (gpa + PAGE > m->table_end)
		die("out of guest table pages");
	m->next_table += PAGE;
	memset(host + GUEST_HPA + gpa, 0, PAGE);
	return gpa;
}

static unsigned index_of(uint64_t va, unsigned level)
{
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 511u;
}

/* The gpa of va's entry at `level`, creating missing tables above it. */
static uint64_t entry_gpa(struct machine *m, uint64_t root, uint64_t va,
			  unsigned level)
{
	uint64_t table = root;
	unsigned l;

	for (l = 4; l > level; l--) {
		uint64_t egpa = table + index_of(va, l) * 8ull;
		uint64_t e = gread(egpa);

		if (!(e & X86_PTE_P)) {
			e = alloc_table(m) | DIR_FLAGS;
			gwrite_raw(egpa, e);
		}
		table = e & X86_PTE_ADDR_4K;
	}
	return table + index_of(va, level) * 8ull;
}

/* The guest kernel's direct map: [0, 64 MiB) at KVA_BASE in 2 MiB pages. */
static void map_kernel(struct machine *m, uint64_t root)
{
	uint64_t gpa;

	for (gpa = 0; gpa < KMAP_SIZE; gpa += 2ull << 20)
		gwrite_raw(entry_gpa(m, root, KVA_BASE + gpa, 2),
			   gpa | X86_PTE_P | X86_PTE_RW | X86_PTE_A |
				   X86_PTE_D | X86_PTE_PS | X86_PTE_NX);
}

static struct umbra_paging_regs long4_regs(uint64_t root)
{
	struct umbra_paging_regs r = {
		.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP,
		.cr3 = root,
		.cr4 = X86_CR4_PAE,
		.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE,
	};
	return r;
}

static void set_cr3(struct machine *m, uint64_t root, unsigned wrote)
{
	m->regs = long4_regs(root);
	if (umbra_set_paging(m->mmu, &m->regs, wrote) != UMBRA_OK)
		die_engine(m, "umbra_set_paging");
}

/* ---- the hardware model (setup, checks and the fork probe only) --------- */

static bool host_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
	(void)ctx;
	*val = 0;
	if (pa >= HOST_SIZE || size > HOST_SIZE - pa)
		return false;
	memcpy(val, host + pa, size);
	return true;
}

static bool host_cmpxchg(void *ctx, uint64_t pa, unsigned size, uint64_t o,
			 uint64_t n)
{
	(void)ctx; (void)pa; (void)size; (void)o; (void)n;
	return false;
}

static bool guest_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	*val = 0;
	if (gpa >= GUEST_SIZE || size > GUEST_SIZE - gpa)
		return false;
	return host_read(ctx, GUEST_HPA + gpa, size, val);
}

/* The CPU walking the shadow tables under the shadow registers. */
static void shadow_walk(struct machine *m, uint64_t va, uint8_t kind,
			uint8_t cpl, struct umbra_walk_result *res)
{
	const struct umbra_cpu_caps caps = {
		.maxphyaddr = 52, .gbpages = true, .pse36 = true,
	};
	const struct umbra_gmem g = { .read = host_read,
				      .cmpxchg = host_cmpxchg };
	struct umbra_access acc = { .va = va, .kind = kind, .cpl = cpl };
	struct umbra_shadow_regs sr;
	struct umbra_paging_regs r = { 0 };
	struct umbra_walker w;

	umbra_get_shadow_regs(m->mmu, &sr);
	r.cr0 = sr.cr0;
	r.cr3 = sr.cr3;
	r.cr4 = sr.cr4;
	r.efer = sr.efer;
	if (umbra_walk_init(&w, &r, &caps, &g) != UMBRA_LOAD_OK)
		die("the shadow registers do not load");
	umbra_walk(&w, &acc, res);
}

/* Expect the hardware to fault on va with exactly this error code. */
static void expect_fault(struct machine *m, uint64_t va, uint8_t kind,
			 uint8_t cpl, uint32_t ec)
{
	struct umbra_walk_result r;

	shadow_walk(m, va, kind, cpl, &r);
	if (r.status != UMBRA_WALK_PF || r.error_code != ec) {
		fprintf(stderr, "engine_bench: va %#llx: expected a shadow #PF "
			"with ec %#x, got status %u ec %#x\n",
			(unsigned long long)va, ec, r.status, r.error_code);
		exit(1);
	}
}

/* Expect the hardware to complete the access without any exit. */
static void expect_ok(struct machine *m, uint64_t va, uint8_t kind,
		      uint8_t cpl)
{
	struct umbra_walk_result r;

	shadow_walk(m, va, kind, cpl, &r);
	if (r.status != UMBRA_WALK_OK) {
		fprintf(stderr, "engine_bench: va %#llx: expected no exit, "
			"got status %u ec %#x\n", (unsigned long long)va,
			r.status, r.error_code);
		exit(1);
	}
}

static uint8_t page_fault(struct machine *m, uint64_t va, uint32_t ec,
			  uint8_t cpl, struct umbra_pf_result *pf)
{
	struct umbra_fault f = { .va = va, .error_code = ec, .cpl = cpl };

	umbra_page_fault(m->mmu, &f, pf);
	return pf->action;
}

/* A guest access run to completion on the model hardware (setup only:
 * every fault must be fixed). */
static void touch(struct machine *m, uint64_t va, uint8_t kind, uint8_t cpl)
{
	unsigned tries;

	for (tries = 0; tries < 8; tries++) {
		struct umbra_walk_result r;
		struct umbra_pf_result pf;

		shadow_walk(m, va, kind, cpl, &r);
		if (r.status == UMBRA_WALK_OK)
			return;
		if (r.status != UMBRA_WALK_PF)
			die("setup access: the shadow walk failed");
		if (page_fault(m, va, r.error_code, cpl, &pf) !=
		    UMBRA_PF_FIXED)
			die_engine(m, "setup access: fault not fixed");
	}
	die("setup access: livelock");
}

static void emulated_write(struct machine *m, uint64_t gpa, uint64_t val)
{
	if (umbra_emulated_write(m->mmu, gpa, &val, 8, 0) != UMBRA_OK)
		die_engine(m, "umbra_emulated_write");
}

/* ---- timing and results ----------------------------------------------------- */

/*
 * Time is this thread's CPU time: the machines this runs on are often
 * shared with fuzzers and emulators, and wall-clock time would count the
 * moments the benchmark is not running at all.  Reading it costs a system
 * call (~0.2 us), so every timed region is long (a batch of operations) and
 * the cost of an empty region, calibrated at start, is subtracted.
 */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double clock_cost;

static double elapsed(double t0)
{
	double d = now_ns() - t0 - clock_cost;

	return d > 0 ? d : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_of(const double *v, unsigned n)
{
	double tmp[256];
	unsigned i;

	if (n == 0 || n > 256)
		die("median of an empty or oversized set");
	for (i = 0; i < n; i++)
		tmp[i] = v[i];
	qsort(tmp, n, sizeof(tmp[0]), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static void calibrate_clock(void)
{
	double d[201];
	unsigned i;

	for (i = 0; i < 201; i++) {
		double t0 = now_ns();

		d[i] = now_ns() - t0;
	}
	clock_cost = median_of(d, 201);
}

/*
 * The runs of one figure: ns per operation, and each run's ratio to the
 * baseline sample taken just before it.  Pairing every run with its own
 * baseline keeps the ratios steady on a loaded machine, where absolute
 * times drift by tens of percent between seconds.
 */
#define MAX_SAMPLES 64
struct samples {
	double ns[MAX_SAMPLES];
	double ratio[MAX_SAMPLES];
	unsigned n;
};

static void sample(struct samples *s, double ns, double base)
{
	if (s->n == MAX_SAMPLES)
		die("too many samples");
	s->ns[s->n] = ns;
	s->ratio[s->n] = ns / base;
	s->n++;
}

/* The same runs, scaled (e.g. per store -> per sequence). */
static struct samples scaled(const struct samples *s, double k)
{
	struct samples out = *s;
	unsigned i;

	for (i = 0; i < out.n; i++) {
		out.ns[i] *= k;
		out.ratio[i] *= k;
	}
	return out;
}

#define MAX_ROWS 32
static struct row {
	char name[72];
	double ns, ratio, lo, hi;
	double flushes; /* TLB flush-all requests per operation; <0: n/a */
	char note[96];
} rows[MAX_ROWS];
static unsigned n_rows;

static void add_row(const char *name, const struct samples *s,
		    double flushes, const char *note)
{
	struct row *r;
	unsigned i;

	if (n_rows == MAX_ROWS)
		die("too many rows");
	r = &rows[n_rows++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->note, sizeof(r->note), "%s", note ? note : "");
	r->ns = median_of(s->ns, s->n);
	r->ratio = median_of(s->ratio, s->n);
	r->lo = r->hi = s->ratio[0];
	for (i = 1; i < s->n; i++) {
		if (s->ratio[i] < r->lo)
			r->lo = s->ratio[i];
		if (s->ratio[i] > r->hi)
			r->hi = s->ratio[i];
	}
	r->flushes = flushes;
}

/* Lines printed after the table.  A note's text may hold up to two %s,
 * filled with "N ns = R x walk" from the given samples. */
#define MAX_NOTES 24
static struct note {
	char text[240];
	struct samples t[2];
	unsigned n_times;
} notes[MAX_NOTES];
static unsigned n_notes;

static void add_note(const char *text, const struct samples *a,
		     const struct samples *b)
{
	struct note *n;

	if (n_notes == MAX_NOTES)
		die("too many notes");
	n = &notes[n_notes++];
	snprintf(n->text, sizeof(n->text), "%s", text);
	n->n_times = 0;
	if (a)
		n->t[n->n_times++] = *a;
	if (b)
		n->t[n->n_times++] = *b;
}

/* ---- the main address space: baseline, hot faults, PT writes, INVLPG ----- */

/* Logical slot k (E_*) of table t sits at PTE index k + 8t (mod 512): each
 * table's working entries are on another cache line offset, so the 256
 * tables do not all compete for one cache set. */
static unsigned pte_index(unsigned t, unsigned k)
{
	return (k + 8u * t) & 511u;
}

static uint64_t hot_va(unsigned t, unsigned k)
{
	return HOT_VA + ((uint64_t)t << 21) +
	       ((uint64_t)pte_index(t, k) << 12);
}

static uint64_t hot_frame(unsigned t, unsigned e)
{
	return (DATA_GFN + (uint64_t)t * 512 + e) * PAGE;
}

struct main_space {
	uint64_t root;
	uint64_t pt[N_TABLES];     /* gpa of each page table */
	unsigned next_spare;       /* next spare PTE index for resets */
	struct umbra_walker walker; /* the baseline's, over guest memory */
};

static struct main_space ms;

static uint64_t pte_gpa(unsigned t, unsigned k)
{
	return ms.pt[t] + pte_index(t, k) * 8ull;
}

static void build_main_space(struct machine *m)
{
	unsigned t, k;

	ms.root = alloc_table(m);
	for (t = 0; t < N_TABLES; t++) {
		ms.pt[t] = entry_gpa(m, ms.root, hot_va(t, 0), 1) & ~(PAGE - 1);
		for (k = 0; k < 512; k++) {
			/* Spares start unaccessed, so no write prefetches them
			 * and each still faults when first used. */
			uint64_t flags = k == E_WRITE ? 0
					 : k >= E_SPARE
						 ? X86_PTE_P | X86_PTE_RW | X86_PTE_US
						 : LEAF_RW;
			gwrite_raw(pte_gpa(t, k),
				   flags ? hot_frame(t, k) | flags : 0);
		}
	}
	map_kernel(m, ms.root);
	ms.next_spare = E_SPARE;
}

/* Reset every table's flood counter: a fault on a fresh spare page of each
 * (the fault path marks every shadow page on its way as used). */
static void reset_flood(struct machine *m)
{
	unsigned t;
	struct umbra_pf_result pf;

	if (ms.next_spare >= 512)
		die("out of spare PTEs");
	for (t = 0; t < N_TABLES; t++)
		if (page_fault(m, hot_va(t, ms.next_spare), PFEC_READ_NP_USER, 3,
			       &pf) != UMBRA_PF_FIXED)
			die_engine(m, "spare fault");
	ms.next_spare++;
}

/*
 * One baseline sample: umbra_walk over the hot space's pages, ns per walk.
 * Every timed run of every figure is preceded by one; all of them together
 * make the baseline row.
 */
#define MAX_BASE 256
static double base_all[MAX_BASE];
static unsigned n_base;

static double base_sample(void)
{
	struct umbra_access acc = { .kind = UMBRA_ACCESS_READ, .cpl = 3 };
	struct umbra_walk_result res;
	unsigned i;
	double t0 = now_ns(), ns;

	for (i = 0; i < BASE_WALKS; i++) {
		acc.va = hot_va(i % N_TABLES, E_HOT);
		umbra_walk(&ms.walker, &acc, &res);
		sink += res.gpa;
	}
	ns = (elapsed(t0)) / BASE_WALKS;
	if (res.status != UMBRA_WALK_OK || res.n_updates)
		die("baseline: the walk is not a plain cache-hot walk");
	if (n_base < MAX_BASE)
		base_all[n_base++] = ns;
	return ns;
}

static void bench_translate(struct machine *m)
{
	struct samples s = { .n = 0 };
	struct umbra_access acc = { .kind = UMBRA_ACCESS_READ, .cpl = 3 };
	struct umbra_walk_result res;
	unsigned r, i;

	for (r = 0; r < RUNS; r++) {
		double base = base_sample(), t0 = now_ns();

		for (i = 0; i < BASE_WALKS; i++) {
			acc.va = hot_va(i % N_TABLES, E_HOT);
			umbra_translate(m->mmu, &acc, &res);
			sink += res.gpa;
		}
		sample(&s, (elapsed(t0)) / BASE_WALKS, base);
	}
	add_row("umbra_translate (engine's walker, slot memory)", &s, 0,
		"the same walk, as every #PF does it");
}

/* Check that a 256-op batch took the path it claims to: counter deltas. */
static void expect_delta(const char *what, uint64_t before, uint64_t after,
			 uint64_t want)
{
	if (after - before != want) {
		fprintf(stderr, "engine_bench: %s: counter moved by %llu, "
			"expected %llu\n", what,
			(unsigned long long)(after - before),
			(unsigned long long)want);
		exit(1);
	}
}

/* Flush-all requests over a timed section, per operation. */
struct flushes {
	uint64_t all, ops;
};

static void flushes_add(struct flushes *f, const struct machine *m,
			uint64_t before, uint64_t ops)
{
	f->all += m->flush_all - before;
	f->ops += ops;
}

static double flushes_per_op(const struct flushes *f)
{
	return f->ops ? (double)f->all / (double)f->ops : 0;
}

static void bench_hot_faults(struct machine *m)
{
	struct samples sh = { .n = 0 }, sd = { .n = 0 };
	struct flushes fh = { 0, 0 }, fd = { 0, 0 };
	struct umbra_pf_result pf;
	unsigned r, k, t;

	for (r = 0; r < RUNS; r++) {
		double hot = 0, dbit = 0, base = base_sample();

		for (k = 0; k < ROUNDS_PER_RUN; k++) {
			uint64_t fixed, created, fl;
			double t0;

			/* Hot: zap each leaf by a guest write of A = 0. */
			for (t = 0; t < N_TABLES; t++)
				emulated_write(m, pte_gpa(t, E_HOT),
					       hot_frame(t, E_HOT) | X86_PTE_P |
						       X86_PTE_RW | X86_PTE_US);
			if (r == 0 && k == 0)
				for (t = 0; t < N_TABLES; t++)
					expect_fault(m, hot_va(t, E_HOT),
						     UMBRA_ACCESS_READ, 3,
						     PFEC_READ_NP_USER);
			fixed = ctr(m, UMBRA_CTR_fault_fixed);
			created = ctr(m, UMBRA_CTR_shadow_pages_created);
			fl = m->flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++)
				page_fault(m, hot_va(t, E_HOT),
					   PFEC_READ_NP_USER, 3, &pf);
			hot += elapsed(t0);
			flushes_add(&fh, m, fl, N_TABLES);
			expect_delta("hot fault: fixed", fixed,
				     ctr(m, UMBRA_CTR_fault_fixed), N_TABLES);
			expect_delta("hot fault: shadow pages built", created,
				     ctr(m, UMBRA_CTR_shadow_pages_created), 0);

			/* D bit: re-arm a clean read-only leaf (prefetched),
			 * then the write fault. */
			for (t = 0; t < N_TABLES; t++)
				emulated_write(m, pte_gpa(t, E_DBIT),
					       hot_frame(t, E_DBIT) |
						       (LEAF_RW & ~X86_PTE_D));
			if (r == 0 && k == 0)
				for (t = 0; t < N_TABLES; t++)
					expect_fault(m, hot_va(t, E_DBIT),
						     UMBRA_ACCESS_WRITE, 3,
						     PFEC_WRITE_RO_USER);
			fixed = ctr(m, UMBRA_CTR_fault_fixed);
			fl = m->flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++)
				page_fault(m, hot_va(t, E_DBIT),
					   PFEC_WRITE_RO_USER, 3, &pf);
			dbit += elapsed(t0);
			flushes_add(&fd, m, fl, N_TABLES);
			expect_delta("D-bit fault: fixed", fixed,
				     ctr(m, UMBRA_CTR_fault_fixed), N_TABLES);
			if (r == 0 && k == 0)
				for (t = 0; t < N_TABLES; t++) {
					expect_ok(m, hot_va(t, E_HOT),
						  UMBRA_ACCESS_READ, 3);
					expect_ok(m, hot_va(t, E_DBIT),
						  UMBRA_ACCESS_WRITE, 3);
				}
		}
		sample(&sh, hot / (ROUNDS_PER_RUN * N_TABLES), base);
		sample(&sd, dbit / (ROUNDS_PER_RUN * N_TABLES), base);
	}
	add_row("#PF fix, hot (levels cached, leaf missing)", &sh,
		flushes_per_op(&fh), "walk + A-bit commit + leaf");
	add_row("#PF fix, write to clean page (D bit)", &sd,
		flushes_per_op(&fd), "walk + D-bit commit + leaf RW");
}

/* The steady cost of one PT-write exit, for the sequences' estimates. */
static struct samples steady_exit;

static void bench_pt_writes(struct machine *m)
{
	struct samples pre = { .n = 0 }, zap = { .n = 0 }, ign = { .n = 0 },
		       exitw = { .n = 0 };
	struct flushes fp = { 0, 0 }, fz = { 0, 0 }, fi = { 0, 0 },
		       fx = { 0, 0 };
	struct umbra_pf_result pf;
	unsigned r, k, t;

	for (r = 0; r < RUNS; r++) {
		double tp = 0, tz = 0, ti = 0, tx = 0, t0, base = base_sample();

		for (k = 0; k < WROUNDS_PER_RUN; k++) {
			uint64_t c0, fl;

			/* Entry E_WRITE is non-present here. */
			c0 = ctr(m, UMBRA_CTR_pt_write_updated);
			fl = m->flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++)
				emulated_write(m, pte_gpa(t, E_WRITE),
					       hot_frame(t, E_WRITE) | LEAF_RW);
			tp += elapsed(t0);
			flushes_add(&fp, m, fl, N_TABLES);
			expect_delta("prefetch write: updated", c0,
				     ctr(m, UMBRA_CTR_pt_write_updated),
				     N_TABLES);
			if (r == 0 && k == 0)
				for (t = 0; t < N_TABLES; t++)
					expect_ok(m, hot_va(t, E_WRITE),
						  UMBRA_ACCESS_WRITE, 3);

			c0 = ctr(m, UMBRA_CTR_pt_write_zapped);
			fl = m->flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++)
				emulated_write(m, pte_gpa(t, E_WRITE), 0);
			tz += elapsed(t0);
			flushes_add(&fz, m, fl, N_TABLES);
			expect_delta("unmap write: zapped", c0,
				     ctr(m, UMBRA_CTR_pt_write_zapped),
				     N_TABLES);
			reset_flood(m);

			c0 = ctr(m, UMBRA_CTR_pt_write_ignored);
			fl = m->flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++)
				emulated_write(m, pte_gpa(t, E_WRITE), 0);
			ti += elapsed(t0);
			flushes_add(&fi, m, fl, N_TABLES);
			expect_delta("empty write: ignored", c0,
				     ctr(m, UMBRA_CTR_pt_write_ignored),
				     N_TABLES);

			/* The whole exit: the guest kernel stores the PTE
			 * through its direct map, read-only in the shadow. */
			if (r == 0 && k == 0)
				for (t = 0; t < N_TABLES; t++)
					expect_fault(m, KVA_BASE +
							     pte_gpa(t, E_WRITE),
						     UMBRA_ACCESS_WRITE, 0,
						     PFEC_WRITE_RO_SUP);
			c0 = ctr(m, UMBRA_CTR_fault_pt_write);
			fl = m->flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++) {
				uint64_t v = hot_frame(t, E_WRITE) | LEAF_RW;

				if (page_fault(m, KVA_BASE + pte_gpa(t, E_WRITE),
					       PFEC_WRITE_RO_SUP, 0, &pf) !=
				    UMBRA_PF_EMULATE_WRITE)
					die_engine(m, "PT write exit");
				umbra_emulated_write(m->mmu, pf.gpa, &v, 8, 0);
			}
			tx += elapsed(t0);
			flushes_add(&fx, m, fl, N_TABLES);
			expect_delta("PT write exits", c0,
				     ctr(m, UMBRA_CTR_fault_pt_write),
				     N_TABLES);
			reset_flood(m);
			/* Back to non-present for the next round. */
			for (t = 0; t < N_TABLES; t++)
				emulated_write(m, pte_gpa(t, E_WRITE), 0);
			reset_flood(m);
		}
		sample(&pre, tp / (WROUNDS_PER_RUN * N_TABLES), base);
		sample(&zap, tz / (WROUNDS_PER_RUN * N_TABLES), base);
		sample(&ign, ti / (WROUNDS_PER_RUN * N_TABLES), base);
		sample(&exitw, tx / (WROUNDS_PER_RUN * N_TABLES), base);
	}
	add_row("PT write: present+A over non-present (prefetch)", &pre,
		flushes_per_op(&fp), "umbra_emulated_write; leaf built");
	add_row("PT write: non-present over mapped PTE", &zap,
		flushes_per_op(&fz), "umbra_emulated_write; leaf cleared");
	add_row("PT write: non-present over non-present", &ign,
		flushes_per_op(&fi), "umbra_emulated_write; nothing to do");
	add_row("PT write exit: #PF classify + prefetch write", &exitw,
		flushes_per_op(&fx), "umbra_page_fault + umbra_emulated_write");
	steady_exit = exitw;
}

static void bench_invlpg(struct machine *m)
{
	struct samples s = { .n = 0 };
	struct flushes f = { 0, 0 };
	uint64_t one = m->flush_va;
	unsigned r, i;
	char note[96];

	for (r = 0; r < RUNS; r++) {
		uint64_t fl = m->flush_all;
		double base = base_sample(), t0 = now_ns();

		for (i = 0; i < INVLPG_PER_RUN; i++)
			umbra_invlpg(m->mmu, hot_va(i % N_TABLES, E_HOT));
		sample(&s, (elapsed(t0)) / INVLPG_PER_RUN, base);
		flushes_add(&f, m, fl, INVLPG_PER_RUN);
	}
	snprintf(note, sizeof(note), "umbra_invlpg; %.2f single-address "
		 "flushes/op", (double)(m->flush_va - one) /
				       ((double)RUNS * INVLPG_PER_RUN));
	add_row("INVLPG", &s, flushes_per_op(&f), note);
}

static void bench_main(void)
{
	struct machine m;
	const struct umbra_gmem g = { .read = guest_read,
				      .cmpxchg = host_cmpxchg };
	const struct umbra_cpu_caps caps = {
		.maxphyaddr = 40, .gbpages = true, .pse36 = true,
	};
	unsigned t;
	uint64_t heur0;
	char buf[200];

	m_create(&m, MAIN_TABLES, OTHER_TABLES);
	build_main_space(&m);
	set_cr3(&m, ms.root, UMBRA_WROTE_ALL);
	for (t = 0; t < N_TABLES; t++) {
		touch(&m, hot_va(t, E_HOT), UMBRA_ACCESS_READ, 3);
		touch(&m, hot_va(t, E_DBIT), UMBRA_ACCESS_READ, 3);
		/* The direct-map leaf of each table frame (read-only). */
		touch(&m, KVA_BASE + ms.pt[t], UMBRA_ACCESS_READ, 0);
	}
	if (umbra_walk_init(&ms.walker, &m.regs, &caps, &g) != UMBRA_LOAD_OK)
		die("baseline walker");
	bench_translate(&m);
	heur0 = ctr(&m, UMBRA_CTR_flood_detected) +
		ctr(&m, UMBRA_CTR_fork_detected) +
		ctr(&m, UMBRA_CTR_reuse_detected);
	bench_hot_faults(&m);
	bench_pt_writes(&m);
	bench_invlpg(&m);
	if (ctr(&m, UMBRA_CTR_flood_detected) + ctr(&m, UMBRA_CTR_fork_detected) +
		    ctr(&m, UMBRA_CTR_reuse_detected) != heur0)
		die("a heuristic unshadowed a table during the hot benchmarks");
	if (ctr(&m, UMBRA_CTR_evictions))
		die("the main space evicted shadow pages");
	snprintf(buf, sizeof(buf), "main space: %llu emulated PT writes, "
		 "%llu #PF exits, 0 heuristics fired, 0 evictions",
		 (unsigned long long)ctr(&m, UMBRA_CTR_pt_write_emulated),
		 (unsigned long long)(ctr(&m, UMBRA_CTR_fault_fixed) +
				      ctr(&m, UMBRA_CTR_fault_pt_write)));
	add_note(buf, NULL, NULL);
	m_destroy(&m);
}

/* ---- cold faults and CR3 misses ------------------------------------------ */

static void bench_cold(void)
{
	struct samples cold[2] = { { .n = 0 }, { .n = 0 } }, miss = { .n = 0 };
	struct flushes ff[2] = { { 0, 0 }, { 0, 0 } }, fm = { 0, 0 };
	unsigned b, v;
	char buf[200];
	uint64_t per_batch[2] = { 0, 0 };

	for (v = 0; v < 2; v++) {
		for (b = 0; b < COLD_BATCHES; b++) {
			struct machine m;
			struct umbra_pf_result pf;
			struct umbra_paging_regs fresh[N_TABLES];
			uint64_t root, dummy, va[N_TABLES], c0, fl, t;
			double t0, base = base_sample();

			m_create(&m, OTHER_TABLES, TABLES_END);
			dummy = alloc_table(&m);
			root = alloc_table(&m);
			for (t = 0; t < N_TABLES; t++) {
				va[t] = v == 0 ? COLD_PT_VA + (t << 21)
					       : t << 39;
				gwrite_raw(entry_gpa(&m, root, va[t], 1),
					   (DATA_GFN + t) * PAGE | LEAF_RW);
			}
			/* Enter long mode elsewhere, then the timed MOV CR3s
			 * to N_TABLES fresh (empty) spaces: root misses. */
			for (t = 0; t < N_TABLES; t++)
				fresh[t] = long4_regs(alloc_table(&m));
			set_cr3(&m, dummy, UMBRA_WROTE_ALL);
			c0 = ctr(&m, UMBRA_CTR_cr3_switch_miss);
			fl = m.flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++)
				umbra_set_paging(m.mmu, &fresh[t],
						 UMBRA_WROTE_CR3);
			sample(&miss, elapsed(t0) / N_TABLES, base);
			flushes_add(&fm, &m, fl, N_TABLES);
			expect_delta("cold: CR3 misses", c0,
				     ctr(&m, UMBRA_CTR_cr3_switch_miss),
				     N_TABLES);
			set_cr3(&m, root, UMBRA_WROTE_CR3);
			if (b == 0)
				expect_fault(&m, va[0], UMBRA_ACCESS_READ, 3,
					     PFEC_READ_NP_USER);
			c0 = ctr(&m, UMBRA_CTR_shadow_pages_created);
			fl = m.flush_all;
			t0 = now_ns();
			for (t = 0; t < N_TABLES; t++)
				page_fault(&m, va[t], PFEC_READ_NP_USER, 3, &pf);
			sample(&cold[v], elapsed(t0) / N_TABLES, base);
			flushes_add(&ff[v], &m, fl, N_TABLES);
			per_batch[v] = ctr(&m, UMBRA_CTR_shadow_pages_created) -
				       c0;
			expect_delta("cold: fixed", 0,
				     ctr(&m, UMBRA_CTR_fault_fixed), N_TABLES);
			expect_delta("cold: pages built", c0,
				     ctr(&m, UMBRA_CTR_shadow_pages_created),
				     v == 0 ? N_TABLES + 2 : 3 * N_TABLES);
			if (b == 0)
				for (t = 0; t < N_TABLES; t++)
					expect_ok(&m, va[t], UMBRA_ACCESS_READ,
						  3);
			if (ctr(&m, UMBRA_CTR_evictions))
				die("cold: unexpected eviction");
			m_destroy(&m);
		}
	}
	add_row("#PF fix, cold: builds PT level + leaf", &cold[0],
		flushes_per_op(&ff[0]), "fresh space, pages 2 MiB apart");
	add_row("#PF fix, cold: builds PDPT+PD+PT + leaf", &cold[1],
		flushes_per_op(&ff[1]), "fresh space, pages 512 GiB apart");
	add_row("CR3 switch, root not cached (miss)", &miss,
		flushes_per_op(&fm), "allocates, clears, protects the root");
	snprintf(buf, sizeof(buf), "cold: %u batches per variant, each %u CR3 misses then %u faults; "
		 "shadow pages built per batch: %llu (PT) and %llu (full); "
		 "0 evictions", COLD_BATCHES, N_TABLES, N_TABLES,
		 (unsigned long long)per_batch[0],
		 (unsigned long long)per_batch[1]);
	add_note(buf, NULL, NULL);
}

/* ---- CR3 switches to cached roots ------------------------------------------ */

static void bench_cr3_hits(unsigned n_spaces)
{
	struct machine m;
	static struct umbra_paging_regs regs[1000];
	struct samples s = { .n = 0 };
	struct flushes f = { 0, 0 };
	uint64_t hit0, miss0, ev0;
	unsigned a, r, i;
	char name[80], buf[200];

	if (n_spaces > 1000)
		die("too many spaces");
	m_create(&m, OTHER_TABLES, TABLES_END);
	for (a = 0; a < n_spaces; a++) {
		uint64_t root = alloc_table(&m);

		gwrite_raw(entry_gpa(&m, root, CR3_VA, 1),
			   (DATA_GFN + a) * PAGE | LEAF_RW);
		regs[a] = long4_regs(root);
	}
	for (a = 0; a < n_spaces; a++) {
		set_cr3(&m, regs[a].cr3, a ? UMBRA_WROTE_CR3 : UMBRA_WROTE_ALL);
		touch(&m, CR3_VA, UMBRA_ACCESS_READ, 3);
	}
	/* Every space's path is cached: switching back needs no fault. */
	for (a = 0; a < n_spaces; a++) {
		set_cr3(&m, regs[a].cr3, UMBRA_WROTE_CR3);
		expect_ok(&m, CR3_VA, UMBRA_ACCESS_READ, 3);
	}
	hit0 = ctr(&m, UMBRA_CTR_cr3_switch_hit);
	miss0 = ctr(&m, UMBRA_CTR_cr3_switch_miss);
	ev0 = ctr(&m, UMBRA_CTR_evictions);
	a = 0;
	for (r = 0; r < RUNS; r++) {
		uint64_t fl = m.flush_all;
		double base = base_sample(), t0 = now_ns();

		for (i = 0; i < SWITCHES_PER_RUN; i++) {
			a = a + 1 == n_spaces ? 0 : a + 1;
			umbra_set_paging(m.mmu, &regs[a], UMBRA_WROTE_CR3);
		}
		sample(&s, (elapsed(t0)) / SWITCHES_PER_RUN, base);
		flushes_add(&f, &m, fl, SWITCHES_PER_RUN);
	}
	snprintf(name, sizeof(name), "CR3 switch, cached root, %u spaces",
		 n_spaces);
	snprintf(buf, sizeof(buf), "cr3_switch_hit +%llu, _miss +%llu",
		 (unsigned long long)(ctr(&m, UMBRA_CTR_cr3_switch_hit) - hit0),
		 (unsigned long long)(ctr(&m, UMBRA_CTR_cr3_switch_miss) -
				      miss0));
	add_row(name, &s, flushes_per_op(&f), buf);
	if (ctr(&m, UMBRA_CTR_cr3_switch_miss) != miss0 ||
	    ctr(&m, UMBRA_CTR_cr3_switch_hit) - hit0 !=
		    (uint64_t)RUNS * SWITCHES_PER_RUN ||
	    ctr(&m, UMBRA_CTR_evictions) != ev0)
		die("CR3 hits: a timed switch missed or evicted");
	snprintf(buf, sizeof(buf), "CR3 %u spaces: %u timed switches, "
		 "cr3_switch_hit +%llu, cr3_switch_miss +%llu, evictions +%llu, "
		 "pool pages in use %llu of %u", n_spaces,
		 RUNS * SWITCHES_PER_RUN,
		 (unsigned long long)(ctr(&m, UMBRA_CTR_cr3_switch_hit) - hit0),
		 (unsigned long long)(ctr(&m, UMBRA_CTR_cr3_switch_miss) -
				      miss0),
		 (unsigned long long)(ctr(&m, UMBRA_CTR_evictions) - ev0),
		 (unsigned long long)umbra_mmu_stats(m.mmu)
			 ->gauge[UMBRA_GAUGE_pool_pages_in_use].value,
		 POOL_PAGES);
	add_note(buf, NULL, NULL);
	m_destroy(&m);
}

/* ---- a frame mapped many times: the reverse map --------------------------- */

/*
 * A PT write that moves a PTE off a frame mapped n times (the zero page
 * every untouched anonymous page maps read-only; a COW break moves the PTE
 * to a new frame).  Clearing the old leaf removes its reference from the
 * frame's reverse map.  RMAP_TABLES tables each map the shared frame in
 * n / RMAP_TABLES entries; each timed batch remaps one such entry per table
 * (prefetched: present, accessed), then (untimed) maps it back and resets
 * the flood counters.
 */
#define RMAP_TABLES 64u
#define RMAP_ROUNDS 16u

static void bench_rmap(unsigned n_maps)
{
	const unsigned zn = n_maps / RMAP_TABLES;
	const uint64_t shared = (DATA_GFN + 0x30000) * PAGE;
	const uint64_t zero_pte = shared | X86_PTE_P | X86_PTE_US | X86_PTE_A;
	struct machine m;
	struct samples s = { .n = 0 };
	struct flushes f = { 0, 0 };
	struct umbra_pf_result pf;
	uint64_t root, pt[RMAP_TABLES];
	unsigned t, e, r, k, spare = zn, round = 0;
	char name[80], note[96];

	if (zn == 0 || zn + RUNS * RMAP_ROUNDS > 512)
		die("rmap: bad size");
	m_create(&m, OTHER_TABLES, TABLES_END);
	root = alloc_table(&m);
	for (t = 0; t < RMAP_TABLES; t++) {
		uint64_t va = RMAP_VA + ((uint64_t)t << 21);

		pt[t] = entry_gpa(&m, root, va, 1) & ~(PAGE - 1);
		for (e = 0; e < 512; e++)
			gwrite_raw(pt[t] + e * 8ull,
				   e < zn ? zero_pte
					  : (DATA_GFN + 0x31000 + t * 512 + e) *
							  PAGE |
						  X86_PTE_P | X86_PTE_RW |
						  X86_PTE_US);
	}
	set_cr3(&m, root, UMBRA_WROTE_ALL);
	for (t = 0; t < RMAP_TABLES; t++)
		for (e = 0; e < zn; e++)
			if (page_fault(&m, RMAP_VA + ((uint64_t)t << 21) +
						   ((uint64_t)e << 12),
				       PFEC_READ_NP_USER, 3, &pf) !=
			    UMBRA_PF_FIXED)
				die_engine(&m, "rmap setup");
	for (r = 0; r < RUNS; r++) {
		double base = base_sample(), total = 0;

		for (k = 0; k < RMAP_ROUNDS; k++, round++) {
			uint64_t c0 = ctr(&m, UMBRA_CTR_pt_write_updated);
			uint64_t fl = m.flush_all;
			double t0;

			e = round % zn;
			t0 = now_ns();
			for (t = 0; t < RMAP_TABLES; t++)
				emulated_write(&m, pt[t] + e * 8ull,
					       (DATA_GFN + 0x31000 + t * 512 + e) *
							       PAGE |
						       LEAF_RW);
			total += elapsed(t0);
			flushes_add(&f, &m, fl, RMAP_TABLES);
			expect_delta("rmap: remapped", c0,
				     ctr(&m, UMBRA_CTR_pt_write_updated),
				     RMAP_TABLES);
			for (t = 0; t < RMAP_TABLES; t++)
				emulated_write(&m, pt[t] + e * 8ull, zero_pte);
			for (t = 0; t < RMAP_TABLES; t++)
				if (page_fault(&m, RMAP_VA + ((uint64_t)t << 21) +
							   ((uint64_t)spare << 12),
					       PFEC_READ_NP_USER, 3, &pf) !=
				    UMBRA_PF_FIXED)
					die_engine(&m, "rmap spare fault");
			spare++;
		}
		sample(&s, total / (RMAP_ROUNDS * RMAP_TABLES), base);
	}
	if (ctr(&m, UMBRA_CTR_flood_detected) || ctr(&m, UMBRA_CTR_evictions))
		die("rmap: a table was unshadowed or evicted");
	snprintf(name, sizeof(name), "PT write: remap off a frame mapped %u "
		 "times", n_maps);
	snprintf(note, sizeof(note), "prefetch; old leaf leaves a %u-entry "
		 "reverse map", n_maps);
	add_row(name, &s, flushes_per_op(&f), note);
	m_destroy(&m);
}

/* ---- store sequences: fork and fill ---------------------------------------- */

/*
 * What one guest access did on the model hardware.  EV_EXIT: a #PF exit
 * answered EMULATE_WRITE, then the emulated write; EV_EXIT_UNSHADOW: the
 * same, but a heuristic unshadowed the table during it; EV_FIX: a #PF exit
 * answered FIXED (the access is then retried); EV_PLAIN: the access
 * completed in hardware (a store: one memory write).
 */
enum ev_kind { EV_EXIT, EV_EXIT_UNSHADOW, EV_FIX, EV_PLAIN, EV_KINDS };

struct event {
	uint8_t kind;
	uint8_t cpl;
	uint8_t phase; /* 0: the stores, 1: the guest using its pages after */
	uint32_t ec;
	uint64_t va;
	uint64_t val;
	uint64_t gpa;  /* EV_PLAIN store: where it lands (guest-physical) */
	bool store;
};

#define SCRIPT_MAX (4 * 512 + 16)

struct script {
	struct event ev[SCRIPT_MAX];
	unsigned n;
	unsigned count[2][EV_KINDS]; /* by phase */
};

static void script_add(struct script *s, const struct event *e)
{
	if (s->n == SCRIPT_MAX)
		die("script too long");
	s->ev[s->n++] = *e;
	s->count[e->phase][e->kind]++;
}

/* One guest access on the model hardware (a shadow walk per try), recorded
 * event by event. */
static void probe_access(struct machine *m, struct script *s, uint8_t phase,
			 uint64_t va, uint8_t cpl, bool store, uint64_t val)
{
	const uint8_t kind = store ? UMBRA_ACCESS_WRITE : UMBRA_ACCESS_READ;
	unsigned tries;

	for (tries = 0; tries < 8; tries++) {
		struct event e = { .cpl = cpl, .phase = phase, .va = va,
				   .val = val, .store = store };
		struct umbra_walk_result r;
		struct umbra_pf_result pf;
		uint64_t unsh;

		shadow_walk(m, va, kind, cpl, &r);
		if (r.status == UMBRA_WALK_OK) {
			if (store)
				memcpy(host + r.gpa, &val, 8);
			e.kind = EV_PLAIN;
			e.gpa = r.gpa - GUEST_HPA;
			script_add(s, &e);
			return;
		}
		if (r.status != UMBRA_WALK_PF)
			die("probe: shadow walk failed");
		e.ec = r.error_code;
		unsh = ctr(m, UMBRA_CTR_unshadowed);
		switch (page_fault(m, va, r.error_code, cpl, &pf)) {
		case UMBRA_PF_FIXED:
			e.kind = EV_FIX;
			script_add(s, &e);
			continue;
		case UMBRA_PF_EMULATE_WRITE:
			if (!store)
				die("probe: emulation asked for a read");
			emulated_write(m, pf.gpa, val);
			e.kind = ctr(m, UMBRA_CTR_unshadowed) != unsh
					 ? EV_EXIT_UNSHADOW : EV_EXIT;
			script_add(s, &e);
			return;
		default:
			die_engine(m, "probe: unexpected #PF outcome");
		}
	}
	die("probe: livelock");
}

/* Replay: the same engine calls, no hardware model.  Times in ns by phase
 * and kind; flush-all requests by phase. */
static void replay(struct machine *m, const struct script *s,
		   double t[2][EV_KINDS], uint64_t flushes[2])
{
	struct umbra_pf_result pf;
	unsigned i = 0;

	while (i < s->n) {
		const uint8_t kind = s->ev[i].kind, phase = s->ev[i].phase;
		const uint64_t fl = m->flush_all;
		double t0 = now_ns();

		for (; i < s->n && s->ev[i].kind == kind &&
		       s->ev[i].phase == phase;
		     i++) {
			const struct event *e = &s->ev[i];

			if (kind == EV_PLAIN) {
				if (e->store)
					memcpy(host + GUEST_HPA + e->gpa,
					       &e->val, 8);
				continue;
			}
			if (page_fault(m, e->va, e->ec, e->cpl, &pf) !=
			    (kind == EV_FIX ? UMBRA_PF_FIXED
					    : UMBRA_PF_EMULATE_WRITE))
				die_engine(m, "replay diverged from the probe");
			if (kind != EV_FIX)
				umbra_emulated_write(m->mmu, pf.gpa, &e->val, 8,
						     0);
		}
		t[phase][kind] += elapsed(t0);
		flushes[phase] += m->flush_all - fl;
	}
}

struct seq {
	const char *name;
	uint64_t base_va;  /* user page e at base_va + e * 4K */
	unsigned first, count; /* the PTEs stored */
	unsigned in_use;   /* PTEs [0, in_use) present and used before */
	uint64_t frame0;
	uint64_t (*before)(const struct seq *q, unsigned e);
	uint64_t (*after)(const struct seq *q, unsigned e);
};

static uint64_t fork_before(const struct seq *q, unsigned e)
{
	return (q->frame0 + e * PAGE) | LEAF_RW;
}

static uint64_t fork_after(const struct seq *q, unsigned e)
{
	return fork_before(q, e) & ~X86_PTE_RW;
}

static uint64_t fill_before(const struct seq *q, unsigned e)
{
	return e < q->in_use ? (q->frame0 + e * PAGE) | LEAF_RW : 0;
}

static uint64_t fill_after(const struct seq *q, unsigned e)
{
	/* A file page mapped by fault-around: present, accessed (x86 Linux
	 * protections carry A), read-only, user. */
	return (q->frame0 + e * PAGE) | X86_PTE_P | X86_PTE_US | X86_PTE_A;
}

static double sum(const double *v, unsigned n)
{
	double s = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		s += v[i];
	return s;
}

static void bench_sequence(const struct seq *q)
{
	struct machine m;
	static struct script s;
	struct samples per_store = { .n = 0 }, exit1 = { .n = 0 },
		       unsh = { .n = 0 }, use = { .n = 0 }, all, every;
	uint64_t root, pt, probe_ctr[4] = { 0, 0, 0, 0 }, fl_total[2] = { 0, 0 };
	static const enum umbra_counter_id watched[4] = {
		UMBRA_CTR_pt_write_emulated, UMBRA_CTR_fork_detected,
		UMBRA_CTR_flood_detected, UMBRA_CTR_unshadowed,
	};
	const unsigned *c0, *c1;
	unsigned r, e, i, used;
	char name[80], buf[240];

	m_create(&m, OTHER_TABLES, TABLES_END);
	root = alloc_table(&m);
	pt = entry_gpa(&m, root, q->base_va, 1) & ~(PAGE - 1);
	map_kernel(&m, root);
	set_cr3(&m, root, UMBRA_WROTE_ALL);
	memset(&s, 0, sizeof(s));
	used = q->first + q->count > q->in_use ? q->first + q->count
					       : q->in_use;
	for (r = 0; r <= RUNS; r++) {
		double t[2][EV_KINDS] = { { 0 } }, base = base_sample();
		uint64_t before[4], fl[2] = { 0, 0 };

		/* The table is not shadowed here (never yet, or the last
		 * run's heuristic unshadowed it, which the probe checked):
		 * set it up raw, shadow it by using its pages, and map it
		 * read-only in the direct map by a kernel read. */
		for (e = 0; e < 512; e++)
			gwrite_raw(pt + e * 8ull, q->before(q, e));
		for (e = 0; e < q->in_use; e++)
			touch(&m, q->base_va + e * PAGE, UMBRA_ACCESS_READ, 3);
		touch(&m, KVA_BASE + pt, UMBRA_ACCESS_READ, 0);
		for (i = 0; i < 4; i++)
			before[i] = ctr(&m, watched[i]);
		if (r == 0) {
			/* The probe: the guest's stores, then the guest
			 * reading every page of the table it uses. */
			for (e = q->first; e < q->first + q->count; e++)
				probe_access(&m, &s, 0, KVA_BASE + pt + e * 8ull,
					     0, true, q->after(q, e));
			for (e = 0; e < used; e++)
				probe_access(&m, &s, 1, q->base_va + e * PAGE,
					     3, false, 0);
			for (i = 0; i < 4; i++)
				probe_ctr[i] = ctr(&m, watched[i]) - before[i];
			if (!probe_ctr[3])
				die("sequence: no heuristic unshadowed the "
				    "table");
			continue;
		}
		replay(&m, &s, t, fl);
		for (i = 0; i < 4; i++)
			if (ctr(&m, watched[i]) - before[i] != probe_ctr[i])
				die("replay: counters differ from the probe");
		for (e = q->first; e < q->first + q->count; e++)
			if (gread(pt + e * 8ull) != q->after(q, e))
				die("replay: the table holds the wrong values");
		sample(&per_store, sum(t[0], EV_KINDS) / q->count, base);
		if (s.count[0][EV_EXIT])
			sample(&exit1, t[0][EV_EXIT] / s.count[0][EV_EXIT],
			       base);
		sample(&unsh, t[0][EV_EXIT_UNSHADOW], base);
		sample(&use, sum(t[1], EV_KINDS), base);
		fl_total[0] += fl[0];
		fl_total[1] += fl[1];
	}
	c0 = s.count[0];
	c1 = s.count[1];
	if (s.count[0][EV_EXIT_UNSHADOW] != 1 || !exit1.n)
		die("sequence: expected exits, then one unshadowing exit");
	snprintf(name, sizeof(name), "%s, per store", q->name);
	snprintf(buf, sizeof(buf), "%u stores: %u exits, %u #PF fixed, "
		 "%u plain", q->count, c0[EV_EXIT] + c0[EV_EXIT_UNSHADOW],
		 c0[EV_FIX], c0[EV_PLAIN]);
	add_row(name, &per_store,
		(double)fl_total[0] / ((double)RUNS * q->count), buf);
	snprintf(name, sizeof(name), "%s, one PT-write exit", q->name);
	add_row(name, &exit1, -1, "single-shot; before the heuristic fires");
	snprintf(name, sizeof(name), "%s, the unshadowing exit", q->name);
	add_row(name, &unsh, -1, "single-shot; zaps the table's shadow page");
	snprintf(buf, sizeof(buf), "%s: fork_detected +%llu, flood_detected "
		 "+%llu, unshadowed +%llu, pt_write_emulated +%llu: %u stores "
		 "emulated, %u plain after unshadowing (+%u #PF fixing the "
		 "direct map)", q->name, (unsigned long long)probe_ctr[1],
		 (unsigned long long)probe_ctr[2],
		 (unsigned long long)probe_ctr[3],
		 (unsigned long long)probe_ctr[0],
		 c0[EV_EXIT] + c0[EV_EXIT_UNSHADOW], c0[EV_PLAIN], c0[EV_FIX]);
	add_note(buf, NULL, NULL);
	all = scaled(&per_store, q->count);
	every = scaled(&steady_exit, q->count);
	snprintf(buf, sizeof(buf), "%s: the %u stores took %%s in all; had "
		 "every store exited (steady PT write exit cost): ~%%s",
		 q->name, q->count);
	add_note(buf, &all, &every);
	snprintf(buf, sizeof(buf), "%s: the guest then reading its %u pages "
		 "takes %u #PF exits (leaves lost with the table): %%s, "
		 "%.2f flush-all/run", q->name, used, c1[EV_FIX],
		 (double)fl_total[1] / RUNS);
	add_note(buf, &use, NULL);
	m_destroy(&m);
}

/* ---- output --------------------------------------------------------------- */

static void out_stdout(void *ctx, const char *s, size_t len)
{
	(void)ctx;
	fwrite(s, 1, len, stdout);
}

static void fmt_time(char *buf, size_t size, const struct samples *s)
{
	snprintf(buf, size, "%.0f ns = %.1fx walk", median_of(s->ns, s->n),
		 median_of(s->ratio, s->n));
}

int main(void)
{
	static const struct seq fork = {
		.name = "fork: write-protect 512 PTEs", .base_va = FORK_VA,
		.first = 0, .count = 512, .in_use = 512,
		.frame0 = (DATA_GFN + 0x10000) * PAGE,
		.before = fork_before, .after = fork_after,
	};
	static const struct seq fill = {
		.name = "fill: 16 new PTEs (fault-around)", .base_va = FILL_VA,
		.first = 1, .count = FILL_WRITES, .in_use = 1,
		.frame0 = (DATA_GFN + 0x10400) * PAGE,
		.before = fill_before, .after = fill_after,
	};
	double base, lo, hi;
	unsigned i;

	host = calloc(1, HOST_SIZE);
	if (!host)
		die("cannot allocate host memory");
	calibrate_clock();

	bench_main();
	bench_cold();
	bench_cr3_hits(10);
	bench_cr3_hits(100);
	bench_cr3_hits(1000);
	bench_rmap(64);
	bench_rmap(512);
	bench_rmap(4096);
	bench_sequence(&fork);
	bench_sequence(&fill);

	base = median_of(base_all, n_base);
	lo = hi = base_all[0];
	for (i = 1; i < n_base; i++) {
		lo = base_all[i] < lo ? base_all[i] : lo;
		hi = base_all[i] > hi ? base_all[i] : hi;
	}
	printf("shadow engine cost, long-mode 4-level guest; median of %u runs "
	       "(cold rows: %u batches)\n", RUNS, COLD_BATCHES);
	printf("ratio: each run / a bare guest walk (umbra_walk, cache hot, "
	       "same guest tables) sampled just before it; median, and "
	       "min-max over the runs\n");
	printf("flush: TLB flush-all requests per operation\n");
	printf("%-52s %8s %7s %12s %5s  %s\n", "operation", "ns/op", "ratio",
	       "min-max", "flush", "notes");
	printf("%-52s %8.1f %6.2fx %5.2f-%-6.2f %5s  %u samples of %u walks\n",
	       "bare guest walk (baseline)", base, 1.0, lo / base, hi / base,
	       "-", n_base, BASE_WALKS);
	for (i = 0; i < n_rows; i++) {
		char fl[16] = "-";

		if (rows[i].flushes >= 0)
			snprintf(fl, sizeof(fl), "%.2f", rows[i].flushes);
		printf("%-52s %8.1f %6.2fx %5.2f-%-6.2f %5s  %s\n", rows[i].name,
		       rows[i].ns, rows[i].ratio, rows[i].lo, rows[i].hi, fl,
		       rows[i].note);
	}
	for (i = 0; i < n_notes; i++) {
		char a[64] = "", b[64] = "";

		if (notes[i].n_times > 0)
			fmt_time(a, sizeof(a), &notes[i].t[0]);
		if (notes[i].n_times > 1)
			fmt_time(b, sizeof(b), &notes[i].t[1]);
		/* The note texts carry at most two %s, for the times. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		printf(notes[i].text, a, b);
#pragma GCC diagnostic pop
		printf("\n");
	}
	printf("engine statistics (all instances of this run):\n");
	umbra_stats_print_json(&total, out_stdout, NULL);
	for (i = 0; i < MAX_BLOCKS; i++)
		free(blocks[i].p);
	free(host);
	return 0;
}
