/*
 * libFuzzer target: random guest page tables and random event sequences
 * through the shadow engine, on the hosted harness (tests/engine/harness.h),
 * checked after every event.
 *
 * The input is a header and a sequence of events (tests/fuzz/make-seeds
 * writes well-formed ones; a short input just ends early):
 *
 *   header   8 bytes: mode (32-bit, PAE, long 4-level, long 5-level), pool
 *            size (12..64 pages: eviction is the normal case), number of
 *            address spaces (2..4), which regions they share, a seed for
 *            the initial table contents;
 *   events   an opcode byte (mod 32) and a few argument bytes each:
 *    0..11   a guest access: a region page, the kernel's map of a data,
 *            window or table frame, a handler's range, or a non-canonical
 *            address; read, write or fetch; CPL 0 or 3; EFLAGS.AC; implicit
 *            supervisor; stack; 1, 2, 4 or 8 bytes;
 *   12..18   a page-table edit: a guest store through the kernel's map of
 *            its tables, of a random entry of a random table (present or
 *            not, R/W, U/S, A, D, G, PWT/PCD, PS, NX, keys, reserved bits;
 *            its frame a table -- any level, recursive mappings included --
 *            a data page, a slot-window page or unbacked memory), sometimes
 *            only part of the entry;
 *   19..20   an emulated write straight to umbra_emulated_write (1..16
 *            bytes, any alignment, across entries and frames, sometimes
 *            REP-flagged: the reuse heuristic), or a REP STOS-like run;
 *   21..23   CR3: one of the address spaces (tables shared between them),
 *            any table taken as a root, or (PAE) a PDPT that must #GP;
 *   24       INVLPG, or a guest TLB flush;
 *   25..26   control bits: CR0.WP/CD/NW, EFER.NXE, CR4.SMEP/SMAP/PSE/PKE/
 *            PGE, PKRU, paging off and on again;
 *   27       a PAE PDPTE rewrite (the registers keep the old value until a
 *            MOV CR3, which usually follows), or a root entry rewrite;
 *   28       slots: an MMIO slot above RAM; guest RAM split into three slots
 *            around a window of RAM, ROM or MMIO, retyped, merged back; the
 *            RAM slot removed and re-added; calls the engine must refuse;
 *   29       pool pressure: a sweep over every region of one or every
 *            address space; or a fork (a run of stores write-protecting
 *            present entries of one table);
 *   30       access handlers: register (physical or virtual, ALL or WRITE,
 *            over data, tables, the window, MMIO, unbacked memory or region
 *            pages; for one address space or all; callbacks that drop
 *            writes or pass them to RAM, or deregister themselves) or
 *            deregister;
 *   31       the dirty log of the RAM slot at 0: start, stop, fetch (every
 *            frame whose contents changed since the last fetch must be in
 *            the log), or calls the engine must refuse.
 *
 * Every guest access goes through hw_access(): the harness's hardware walks
 * the shadow, takes faults into the engine (handlers and plain emulation as
 * an embedder would), and compares the outcome with the guest's own tables
 * and audits (hw.audit_each stays true).  After every event the target also
 * audits and runs a side-effect-free hardware-walker check on a few
 * addresses: whatever the shadow lets the hardware do must be what the
 * guest's tables allow, at the same guest-physical address, without any A/D
 * update the CPU would have had to make, and not in a page a handler claims.
 * Register loads must #GP exactly when the architecture says (PAE PDPTEs)
 * and then change nothing; handler registrations must succeed or fail as
 * their overlaps say; refused calls must return the documented status.  A
 * failure prints the event trail and the walks and aborts, which libFuzzer
 * records as a crash.
 *
 * Harness properties the generator respects (of the harness's reference,
 * not of the engine):
 *   - the reference reads all of [0, guest size) as RAM (and expects the
 *     CPU's A/D updates there), so the slot window is zero-filled whenever
 *     it becomes ROM or MMIO: tables that entries place there read as empty
 *     on both sides, and stay so (ROM and MMIO writes are discarded);
 *   - an extra slot above RAM is MMIO (a RAM slot there would be mapped
 *     outside what the harness's hardware calls guest RAM);
 *   - the harness checks each A/D update of a walk on its own; when one
 *     entry serves two levels of a walk it reports a false failure, which
 *     do_access() recognises exactly (merged_updates_ok).
 *
 * Events run are counted; at exit the total goes to stderr and, when the
 * environment variable UMBRA_FUZZ_EVENTS_FILE names a file, into that file
 * (tests/fuzz/run-fuzz reads it).  UMBRA_FUZZ_STATS=1 adds the engine's
 * counters summed over all inputs.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MADV_DONTNEED */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "guestpt.h"
#include "harness.h"
#include "umbra/mmu.h"
#include "umbra/stats.h"
#include "umbra/walk.h"
#include "umbra/x86.h"

/* ---- guest layout ------------------------------------------------------ */

/* Guest RAM is small: the audit looks at every frame of every slot. */
#define GUEST_MB      4
#define KMAP_END      0x200000ull   /* the tables live below 2 MiB */
/* The kernel maps all of guest RAM, supervisor-only: [0, 2 MiB) at va = gpa
 * (the tables), [2 MiB, 4 MiB) at va = gpa + 4 MiB (32-bit: at va = gpa),
 * leaving the directory entry of va 2 MiB to a test region. */
#define KMAP2_VA      0x600000ull
#define DATA_GPA      0x200000ull   /* data frames from 2 MiB (2 MiB aligned) */
#define N_DATA        16
#define WIN_GPA       0x300000ull   /* the slot window: 3 MiB .. 3.5 MiB */
#define WIN_SIZE      0x80000ull
#define N_WIN         16
#define GUEST_SIZE    ((uint64_t)GUEST_MB << 20)
#define MMIO_GPA      0x4000000ull  /* extra MMIO slot: 64 MiB, beyond RAM */
#define MMIO_SIZE     0x200000ull
#define HOLE_GPA      0xF0000000ull /* unbacked, below 4 GiB */
#define HIGH_GPA      0x100000000ull /* unbacked, above 4 GiB */
#define GUEST_HPA     0x4000000ull  /* where the harness puts guest RAM */

#define MAX_AS        4
#define MAX_TABLES    256
#define MAX_REGIONS   8
#define MAX_EVENTS    4096
#define MAX_IDX       24
#define TRAIL         24
#define PROBES        6

/* ---- input ----------------------------------------------------------------- */

struct input {
	const uint8_t *p;
	size_t n, i;
};

static bool in_more(const struct input *in)
{
	return in->i < in->n;
}

static uint8_t u8(struct input *in)
{
	return in->i < in->n ? in->p[in->i++] : 0;
}

/* ---- the world --------------------------------------------------------------- */

struct table {
	uint64_t gpa;
	uint8_t level;
	bool pdpt;    /* a PAE PDPT (a root in PAE mode) */
	bool kpt;     /* the kernel's PT: never a leaf target */
};

#define N_HANDLERS 4
/* Handler flags (fz_handler.flags). */
#define HD_PASS    1u /* a physical write handler lets writes reach RAM */
#define HD_SELFDEL 2u /* the callback deregisters its handler (3rd call) */

struct fz_handler {
	struct umbra_handler h;
	bool phys;
	uint8_t flags;
	uint64_t start, last, space;
	unsigned calls;
};

struct world {
	struct hw hw;
	enum umbra_mode mode;
	bool long_mode;
	unsigned levels, esize;
	struct gpt g[MAX_AS];
	unsigned n_as;
	uint64_t cr3_gpa;              /* the table CR3 names (any table) */
	struct table tab[MAX_TABLES];
	unsigned n_tab;
	/* Directory entries on the kernel map's paths: never edited. */
	struct { uint64_t gpa; unsigned idx; } prot[MAX_AS + 2 * UMBRA_LEVELS_MAX];
	unsigned n_prot;
	uint64_t region[MAX_REGIONS];
	unsigned n_regions;
	uint64_t noncanon;             /* a non-canonical address, long mode */
	unsigned pages[8];             /* page indices used in a region */
	/* Entry indices worth editing, by level. */
	unsigned idx[UMBRA_LEVELS_MAX + 1][MAX_IDX];
	unsigned n_idx[UMBRA_LEVELS_MAX + 1];
	uint64_t bad_pdpt;             /* PAE: a PDPT whose load must #GP */
	/* Control bits beyond what the mode needs. */
	uint64_t cr0x, cr4x, eferx, cr3x;
	uint32_t pkru;
	bool paging_off;
	/* Slots: an MMIO slot above RAM; guest RAM split around the window. */
	bool mmio_slot;
	int window;                    /* -1: one RAM slot; else the type */
	/* Access handlers (registered ones stay at their address: the world
	 * is static) and the dirty log of the RAM slot at 0, with the guest
	 * memory as it was at the last fetch. */
	struct fz_handler hd[N_HANDLERS];
	bool logging;
	uint64_t log_frames;
	uint64_t rng;
	uint64_t probe_seq;
	/* The trail of recent events, printed on failure. */
	char trail[TRAIL][96];
	unsigned n_events;
};

static uint64_t total_events;
static uint64_t total_execs;
static uint64_t total_accesses;

static uint64_t rnd(struct world *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static void note(struct world *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct world *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->trail[w->n_events % TRAIL], sizeof(w->trail[0]), fmt, ap);
	va_end(ap);
}

static void dump_trail(const struct world *w)
{
	unsigned first = w->n_events >= TRAIL ? w->n_events - TRAIL + 1 : 0, i;

	fprintf(stderr, "fuzz: mode %s, %u address spaces, pool %u pages; "
		"last events:\n", umbra_mode_name(w->mode), w->n_as,
		w->hw.pool_pages);
	for (i = first; i <= w->n_events; i++)
		fprintf(stderr, "  #%u %s\n", i, w->trail[i % TRAIL]);
}

static void report_totals(void);
static uint64_t outcome_sum[5];

static void die(struct world *w, const char *what)
{
	fprintf(stderr, "fuzz: FAILURE: %s\n", what);
	dump_trail(w);
	total_events += w->n_events;
	report_totals();
	fflush(stderr);
	abort();
}

/* A walker over the guest's own tables as the harness's reference sees
 * them: guest memory, and in PAE mode the PDPTE registers last loaded. */
static void guest_walker(struct world *w, struct umbra_walker *gw);

static void print_walk(const char *who, const struct umbra_walk_result *r)
{
	unsigned l;

	fprintf(stderr, "  %s: status %u ec %#x gpa %#llx perm %#x level %u "
		"updates %u; entries:", who, r->status, r->error_code,
		(unsigned long long)r->gpa, r->perm, r->level, r->n_updates);
	for (l = r->top_level; l >= r->level && l > 0; l--)
		fprintf(stderr, " L%u@%#llx=%#llx", l,
			(unsigned long long)r->entry[l].gpa,
			(unsigned long long)r->entry[l].val);
	fprintf(stderr, "\n");
}

static bool guest_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val);
static bool host_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val);
static bool no_cmpxchg(void *ctx, uint64_t gpa, unsigned size, uint64_t old,
		       uint64_t new_val);

/* After a failed check: the access as the guest's tables, the engine's
 * walker and the shadow see it now. */
static void diagnose(struct world *w, const struct umbra_access *acc)
{
	struct umbra_gmem guest = {
		.read = guest_read, .cmpxchg = no_cmpxchg, .ctx = &w->hw,
	};
	struct umbra_gmem host = {
		.read = host_read, .cmpxchg = no_cmpxchg, .ctx = &w->hw,
	};
	const struct umbra_cpu_caps host_caps = {
		.maxphyaddr = 52, .gbpages = true, .pse36 = true,
	};
	struct umbra_shadow_regs sr;
	struct umbra_paging_regs sregs;
	struct umbra_walker gw;
	struct umbra_walk_result r;

	fprintf(stderr, "fuzz: access va %#llx kind %u cpl %u ac %d implicit %d "
		"now; guest regs cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx pkru "
		"%#x\n", (unsigned long long)acc->va, acc->kind, acc->cpl,
		acc->ac, acc->implicit_supervisor,
		(unsigned long long)w->hw.regs.cr0,
		(unsigned long long)w->hw.regs.cr3,
		(unsigned long long)w->hw.regs.cr4,
		(unsigned long long)w->hw.regs.efer, w->hw.regs.pkru);
	(void)guest;
	guest_walker(w, &gw);
	umbra_walk(&gw, acc, &r);
	print_walk("guest tables", &r);
	umbra_translate(w->hw.mmu, acc, &r);
	print_walk("engine's walk", &r);
	umbra_get_shadow_regs(w->hw.mmu, &sr);
	sregs.cr0 = sr.cr0;
	sregs.cr3 = sr.cr3;
	sregs.cr4 = sr.cr4;
	sregs.efer = sr.efer;
	sregs.pkru = w->hw.regs.pkru;
	umbra_walk_init(&gw, &sregs, &host_caps, &host);
	umbra_walk(&gw, acc, &r);
	print_walk("shadow", &r);
}

static uint64_t ad_merged;

/*
 * The harness checks each A/D update of the reference walk against guest
 * memory separately.  When one entry serves at two levels of a walk (a
 * directory entry pointing at its own table, reached again at the same
 * index), the CPU's two updates land on the same entry and memory holds
 * both; the harness then reports the first update as not made.  Accept
 * exactly that case: every updated entry holds the union of its updates
 * (or the access's own store), and the audit passes.
 */
static bool merged_updates_ok(struct world *w, const struct umbra_access *acc,
			      unsigned size, const struct hw_result *r,
			      const struct umbra_walk_result *exp)
{
	bool dup = false;
	unsigned i, j;

	if (strncmp(w->hw.last_problem, "guest entry at ", 15) != 0)
		return false;
	for (i = 0; i < exp->n_updates; i++) {
		const struct umbra_ad_update *u = &exp->update[i];
		uint64_t want = 0;

		for (j = 0; j < exp->n_updates; j++) {
			if (exp->update[j].gpa == u->gpa) {
				want |= exp->update[j].new_val;
				dup |= j != i;
			}
		}
		if (acc->kind == UMBRA_ACCESS_WRITE && r->gpa < u->gpa + 8 &&
		    u->gpa < r->gpa + size)
			continue;
		if (hw_gread(&w->hw, u->gpa, u->size) != want)
			return false;
	}
	if (!dup)
		return false;
	if (!hw_audit(&w->hw))
		die(w, w->hw.last_problem);
	ad_merged++;
	return true;
}

/* One guest access through the harness, checked. */
static void do_access(struct world *w, const struct umbra_access *acc,
		      unsigned size, uint64_t value, const char *what)
{
	struct umbra_walker gw;
	struct umbra_walk_result exp;
	struct hw_result r;
	char msg[700];

	guest_walker(w, &gw); /* the reference walk the harness makes */
	umbra_walk(&gw, acc, &exp);
	r = hw_access(&w->hw, acc, size, value);
	total_accesses++;
	if (r.outcome == HW_BROKEN && exp.n_updates > 1 &&
	    merged_updates_ok(w, acc, size, &r, &exp))
		r.outcome = HW_OK;
	if (r.outcome != HW_BROKEN) {
		outcome_sum[r.outcome]++;
		return;
	}
	diagnose(w, acc);
	snprintf(msg, sizeof(msg), "%s: %s", what, w->hw.last_problem);
	die(w, msg);
}

/* A supervisor store, as hw_store() does it. */
static void do_store(struct world *w, uint64_t va, unsigned size,
		     uint64_t value, const char *what)
{
	struct umbra_access acc = {
		.va = va, .kind = UMBRA_ACCESS_WRITE, .cpl = 0,
	};

	do_access(w, &acc, size, value, what);
}

static void expect_status(struct world *w, enum umbra_status st,
			  enum umbra_status expect, const char *what)
{
	char msg[200];

	if (st == expect)
		return;
	snprintf(msg, sizeof(msg), "%s: status %d, expected %d: %s", what, st,
		 expect, umbra_mmu_last_error(w->hw.mmu));
	die(w, msg);
}

/* ---- geometry -------------------------------------------------------------- */

static unsigned index_of(const struct world *w, uint64_t va, unsigned level)
{
	unsigned bits = w->esize == 4 ? 10 : 9;

	if (w->mode == UMBRA_MODE_PAE && level == 3)
		return (unsigned)(va >> X86_PAGE_SHIFT_1G) & 3;
	return (unsigned)(va >> (X86_PAGE_SHIFT_4K + (level - 1) * bits)) &
	       ((1u << bits) - 1);
}

static uint64_t kmap_va(const struct world *w, uint64_t gpa)
{
	return w->esize == 4 || gpa < KMAP_END ? gpa
					       : gpa - KMAP_END + KMAP2_VA;
}

static bool protected_entry(const struct world *w, uint64_t table_gpa,
			    unsigned idx)
{
	unsigned i;

	for (i = 0; i < w->n_prot; i++)
		if (w->prot[i].gpa == table_gpa && w->prot[i].idx == idx)
			return true;
	return false;
}

/* Record the directory entries of the kernel map's path to va in address
 * space 0, and the roots' entries of the other spaces. */
static void protect_path(struct world *w, uint64_t va)
{
	uint64_t table = w->g[0].root;
	unsigned l, a;

	for (l = w->levels; l >= 2; l--) {
		unsigned idx = index_of(w, va, l);
		uint64_t e = hw_gread(&w->hw, table + (uint64_t)idx * w->esize,
				      w->esize);

		if (!protected_entry(w, table, idx)) {
			w->prot[w->n_prot].gpa = table;
			w->prot[w->n_prot++].idx = idx;
		}
		table = e & (w->esize == 4 ? X86_PTE32_ADDR_4K : X86_PTE_ADDR_4K);
	}
	for (a = 1; a < w->n_as; a++) {
		unsigned idx = index_of(w, va, w->levels);

		if (!protected_entry(w, w->g[a].root, idx)) {
			w->prot[w->n_prot].gpa = w->g[a].root;
			w->prot[w->n_prot++].idx = idx;
		}
	}
}

static unsigned entries_of(const struct world *w, const struct table *t)
{
	if (t->pdpt)
		return 4;
	return w->esize == 4 ? 1024 : 512;
}

static const struct table *table_at(const struct world *w, uint64_t gpa)
{
	unsigned i;

	for (i = 0; i < w->n_tab; i++)
		if (w->tab[i].gpa == gpa)
			return &w->tab[i];
	return NULL;
}

static void add_table(struct world *w, uint64_t gpa, unsigned level,
		      bool pdpt)
{
	struct table *t;

	if (table_at(w, gpa))
		return;
	if (w->n_tab == MAX_TABLES)
		die(w, "harness: too many tables");
	t = &w->tab[w->n_tab++];
	t->gpa = gpa;
	t->level = (uint8_t)level;
	t->pdpt = pdpt;
	t->kpt = false;
}

/* gpt_entry_gpa, registering the tables it creates (top-down, consecutive). */
static uint64_t entry_gpa(struct world *w, unsigned as, uint64_t va,
			  unsigned level)
{
	uint64_t before = w->hw.next_table_gpa, gpa, t;
	unsigned k, i;

	gpa = gpt_entry_gpa(&w->g[as], va, level);
	k = (unsigned)((w->hw.next_table_gpa - before) / X86_PAGE_SIZE_4K);
	for (i = 0, t = before; i < k; i++, t += X86_PAGE_SIZE_4K)
		add_table(w, t, level + k - 1 - i, false);
	return gpa;
}

static void add_index(struct world *w, unsigned level, unsigned idx)
{
	unsigned i;

	for (i = 0; i < w->n_idx[level]; i++)
		if (w->idx[level][i] == idx)
			return;
	if (w->n_idx[level] < MAX_IDX)
		w->idx[level][w->n_idx[level]++] = idx;
}

static uint64_t page_va(const struct world *w, unsigned region, unsigned page)
{
	return w->region[region] + (uint64_t)w->pages[page] * X86_PAGE_SIZE_4K;
}

static void setup_geometry(struct world *w)
{
	static const uint64_t r32[] = {
		0x00400000, 0x40000000, 0x40400000, 0x80000000, 0xFFC00000,
	};
	static const uint64_t rpae[] = {
		0x00200000, 0x40000000, 0x40200000, 0x80000000, 0xFFE00000,
	};
	static const uint64_t rlong4[] = {
		0x00200000, 0x40000000, 0x40200000, 0x00007FFFFFE00000ull,
		0xFFFF800000000000ull, 0xFFFFFFFFFFE00000ull,
	};
	static const uint64_t rlong5[] = {
		0x00200000, 0x40000000, 0x40200000, 0x00FFFFFFFFE00000ull,
		0xFF00000000000000ull, 0xFFFFFFFFFFE00000ull,
	};
	const uint64_t *r;
	unsigned n, i, l, p;

	switch (w->mode) {
	case UMBRA_MODE_32:
		r = r32, n = 5;
		break;
	case UMBRA_MODE_PAE:
		r = rpae, n = 5;
		break;
	case UMBRA_MODE_LONG4:
		r = rlong4, n = 6;
		w->noncanon = 0x0000800000000000ull;
		break;
	default:
		r = rlong5, n = 6;
		w->noncanon = 0x0100000000000000ull;
		break;
	}
	for (i = 0; i < n; i++)
		w->region[i] = r[i];
	w->n_regions = n;
	for (p = 0; p < 8; p++)
		w->pages[p] = p;
	if (w->esize == 4) {
		/* 32-bit tables: the upper half of a page table is the other
		 * quadrant of its shadow. */
		w->pages[6] = 512;
		w->pages[7] = 1023;
	} else {
		w->pages[7] = 511;
	}
	for (i = 0; i < n; i++)
		for (l = 2; l <= w->levels; l++)
			add_index(w, l, index_of(w, w->region[i], l));
	for (p = 0; p < 8; p++)
		add_index(w, 1, w->pages[p]);
	for (l = 1; l <= w->levels; l++) {
		add_index(w, l, 0);
		add_index(w, l, 1);
	}
}

/* ---- frames and entries ------------------------------------------------- */

/* A frame for a directory entry: mostly a table, sometimes a data frame or
 * unbacked memory. */
static uint64_t dir_frame(struct world *w, uint8_t c)
{
	switch (c & 7) {
	case 0:
		return DATA_GPA + (uint64_t)((c >> 3) % N_DATA) * X86_PAGE_SIZE_4K;
	case 1:
		return (c & 8) ? MMIO_GPA : HOLE_GPA;
	default:
		return w->tab[(c >> 3) % w->n_tab].gpa;
	}
}

/* A frame for a 4 KiB leaf: mostly data, sometimes a table (the same frame
 * as table and data), a window frame or unbacked memory. */
static uint64_t leaf_frame(struct world *w, uint8_t c)
{
	const struct table *t;

	switch (c & 7) {
	case 0: case 1: case 2: case 3:
		return DATA_GPA + (uint64_t)((c >> 3) % N_DATA) * X86_PAGE_SIZE_4K;
	case 4:
		t = &w->tab[(c >> 3) % w->n_tab];
		if (t->kpt) /* keep the kernel's map of its tables */
			return DATA_GPA;
		return t->gpa;
	case 5: case 6:
		return WIN_GPA + (uint64_t)((c >> 3) % N_WIN) * X86_PAGE_SIZE_4K;
	default:
		switch ((c >> 3) & 3) {
		case 0:
			return MMIO_GPA + (uint64_t)((c >> 5) & 3) * X86_PAGE_SIZE_4K;
		case 1:
			return HOLE_GPA;
		case 2:
			return w->esize == 8 ? HIGH_GPA : HOLE_GPA;
		default:
			return GUEST_SIZE - X86_PAGE_SIZE_4K; /* last RAM frame */
		}
	}
}

/* A large page frame at `level` (2: 2 or 4 MiB, 3: 1 GiB). */
static uint64_t large_frame(struct world *w, unsigned level, uint8_t c)
{
	if (level >= 3) {
		/* 1 GiB: all of guest RAM, or nothing; or misaligned. */
		switch (c % 4) {
		case 0: return 0;
		case 1: return 0x40000000ull;
		case 2: return X86_PTE_PAT_LARGE; /* frame 0, PAT */
		default: return 1ull << 20;       /* reserved: bits 29:13 */
		}
	}
	if (w->esize == 4) {
		/* 4 MiB: frame bits 31:22, PSE-36 bits 20:13, bit 21 reserved. */
		switch (c % 8) {
		case 0: case 1: case 2: return 0;         /* all of RAM */
		case 3: return 0x400000ull;               /* beyond RAM */
		case 4: return 0xC0000000ull;
		case 5: return X86_PTE_PAT_LARGE;         /* frame 0, PAT */
		case 6: return DATA_GPA;                  /* bit 21: reserved */
		default: return 1ull << X86_PTE32_PSE36_SHIFT; /* 4 GiB */
		}
	}
	switch (c % 8) {
	case 0: case 1: case 2:
		return DATA_GPA; /* data frames and the slot window */
	case 3:
		return 0; /* over the tables themselves */
	case 4:
		return MMIO_GPA;
	case 5:
		return 0xC0000000ull;
	case 6:
		return DATA_GPA | X86_PTE_PAT_LARGE;
	default:
		return DATA_GPA | (1ull << 13); /* reserved in a 2 MiB entry */
	}
}

/*
 * An entry for a table at `level`, from three bytes:
 *   k: what it is (not present, table pointer, large page, leaf) and frame
 *   f: flags: RW US PWT PCD A D G and "not present"
 *   x: NX, protection key, reserved bits, PS on a 4 KiB leaf (PAT)
 */
static uint64_t gen_entry(struct world *w, unsigned level, uint8_t k,
			  uint8_t f, uint8_t x)
{
	const bool e64 = w->esize == 8;
	uint64_t e = 0, flags = 0;
	unsigned what = k & 7;

	if (f & 0x01) flags |= X86_PTE_RW;
	if (f & 0x02) flags |= X86_PTE_US;
	if (f & 0x04) flags |= X86_PTE_A;
	if (f & 0x08) flags |= X86_PTE_D;
	if (f & 0x10) flags |= X86_PTE_G;
	if ((f & 0x60) == 0x60) flags |= X86_PTE_PWT | X86_PTE_PCD;
	if (!(f & 0x80) || (k & 0x80)) flags |= X86_PTE_P;
	if (what == 0)
		return (rnd(w) & ~X86_PTE_P) & (e64 ? ~0ull : 0xFFFFFFFFull);
	/* Most entries are plain: present, accessed, user, writable. */
	if (what >= 5)
		flags |= X86_PTE_P | X86_PTE_A | X86_PTE_US | X86_PTE_RW;
	if (level == 1) {
		e = leaf_frame(w, (uint8_t)(k >> 3) ^ x);
		if (x & 0x10)
			e |= X86_PTE_PAT4K;
	} else if (what == 1 || what == 2) {
		/* A large page (PS is reserved above level 3, and at level 3
		 * in PAE; in 32-bit mode without CR4.PSE it is ignored). */
		e = large_frame(w, level, (uint8_t)(k >> 3)) | X86_PTE_PS;
		if (w->esize == 4 && (x & 0x10))
			e |= (uint64_t)(x & 0x0F) << X86_PTE32_PSE36_SHIFT;
	} else {
		e = dir_frame(w, (uint8_t)((k >> 3) | (x & 0xE0)));
	}
	e |= flags;
	if (e64) {
		if (x & 0x01)
			e |= X86_PTE_NX;
		switch ((x >> 1) & 3) {
		case 0: break;
		case 1: e |= 1ull << X86_PTE_PK_SHIFT; break;
		case 2: e |= (rnd(w) & 0xF) << X86_PTE_PK_SHIFT; break;
		default: break;
		}
		switch ((x >> 5) & 7) {
		case 0: e |= UMBRA_BIT(45); break; /* above MAXPHYADDR */
		case 1: e |= UMBRA_BIT(51); break;
		default: break;
		}
	} else {
		if (((x >> 5) & 7) == 0 && level == 2)
			e |= X86_PTE32_4M_RSVD_BIT;
		e &= 0xFFFFFFFFull;
	}
	return e;
}

/* A PAE PDPTE: present with a PD (or another table), not present, or with
 * reserved bits (bits 2:1, 8:5, above MAXPHYADDR). */
static uint64_t gen_pdpte(struct world *w, uint8_t k, uint8_t x)
{
	uint64_t e;

	if ((k & 7) == 0)
		return rnd(w) & ~X86_PTE_P;
	e = dir_frame(w, (uint8_t)(k >> 3)) | X86_PTE_P;
	if (x & 1)
		e |= X86_PTE_PWT;
	if (x & 2)
		e |= X86_PTE_PCD;
	switch ((x >> 2) & 15) {
	case 0: e |= X86_PTE_RW; break;
	case 1: e |= X86_PTE_A; break;
	case 2: e |= UMBRA_BIT(45); break;
	case 3: e |= X86_PTE_NX; break;
	default: break;
	}
	return e;
}


/* ---- registers ------------------------------------------------------------- */

static struct umbra_paging_regs cur_regs(const struct world *w)
{
	struct umbra_paging_regs r = gpt_regs(&w->g[0], w->cr0x, w->cr4x,
					      w->eferx);

	r.cr3 = w->cr3_gpa | w->cr3x;
	r.pkru = w->pkru;
	if (w->paging_off) {
		r.cr0 &= ~X86_CR0_PG;
		r.efer &= ~X86_EFER_LMA;
	}
	return r;
}

static bool same_shadow_regs(const struct umbra_shadow_regs *a,
			     const struct umbra_shadow_regs *b)
{
	return a->cr0 == b->cr0 && a->cr3 == b->cr3 && a->cr4 == b->cr4 &&
	       a->efer == b->efer;
}

static bool guest_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val);

/* Does this register write load the PAE PDPTE registers (SDM 4.4.1)? */
static bool loads_pdptes(const struct umbra_paging_regs *old,
			 const struct umbra_paging_regs *regs, unsigned wrote)
{
	return umbra_paging_mode(regs) == UMBRA_MODE_PAE &&
	       ((wrote & UMBRA_WROTE_CR3) ||
		umbra_paging_mode(old) != UMBRA_MODE_PAE ||
		((old->cr0 ^ regs->cr0) &
		 (X86_CR0_PG | X86_CR0_CD | X86_CR0_NW)) ||
		((old->cr4 ^ regs->cr4) & (X86_CR4_PAE | X86_CR4_PGE |
					   X86_CR4_PSE | X86_CR4_SMEP)));
}

/*
 * Load registers.  The write must #GP exactly when it loads PAE PDPTEs and
 * one of them (in guest memory now) is present with reserved bits, and a
 * refused write changes nothing.  Returns the status.
 */
static enum umbra_status load_regs(struct world *w,
				   const struct umbra_paging_regs *regs,
				   unsigned wrote)
{
	struct umbra_gmem guest = {
		.read = guest_read, .cmpxchg = NULL, .ctx = &w->hw,
	};
	struct umbra_shadow_regs before, after;
	enum umbra_status st, expect = UMBRA_OK;
	char msg[200];

	if (loads_pdptes(&w->hw.regs, regs, wrote)) {
		struct umbra_walker pw;

		if (umbra_walk_init(&pw, regs, &w->hw.caps, &guest) !=
		    UMBRA_LOAD_OK)
			expect = UMBRA_ERR_GP;
	}
	umbra_get_shadow_regs(w->hw.mmu, &before);
	st = hw_set_paging(&w->hw, regs, wrote);
	umbra_get_shadow_regs(w->hw.mmu, &after);
	if (st != expect) {
		snprintf(msg, sizeof(msg), "umbra_set_paging(cr0 %#llx cr3 "
			 "%#llx cr4 %#llx efer %#llx, wrote %#x): status %d, "
			 "the architecture says %d: %s",
			 (unsigned long long)regs->cr0,
			 (unsigned long long)regs->cr3,
			 (unsigned long long)regs->cr4,
			 (unsigned long long)regs->efer, wrote, st, expect,
			 umbra_mmu_last_error(w->hw.mmu));
		die(w, msg);
	}
	if (st != UMBRA_OK && !same_shadow_regs(&before, &after))
		die(w, "umbra_set_paging refused the write but changed the "
		       "shadow registers");
	return st;
}

/* ---- checks ------------------------------------------------------------------ */

static bool guest_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	const struct hw *hw = ctx;

	*val = 0;
	if (gpa < hw->guest_size && size <= hw->guest_size - gpa)
		memcpy(val, hw->host.bytes + hw->guest_hpa + gpa, size);
	return true;
}

static bool no_cmpxchg(void *ctx, uint64_t gpa, unsigned size, uint64_t old,
		       uint64_t new_val)
{
	(void)ctx; (void)gpa; (void)size; (void)old; (void)new_val;
	return false;
}

static void guest_walker(struct world *w, struct umbra_walker *gw)
{
	struct umbra_gmem guest = {
		.read = guest_read, .cmpxchg = no_cmpxchg, .ctx = &w->hw,
	};
	unsigned i;

	umbra_walk_init(gw, &w->hw.regs, &w->hw.caps, &guest);
	if (gw->mode == UMBRA_MODE_PAE)
		for (i = 0; i < 4; i++)
			gw->pdpte[i] = w->hw.pdpte[i];
}

static bool host_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	const struct hw *hw = ctx;

	*val = 0;
	if (gpa >= hw->host.size || size > hw->host.size - gpa)
		return false;
	memcpy(val, hw->host.bytes + gpa, size);
	return true;
}

static bool pages_overlap(uint64_t a, uint64_t start, uint64_t last)
{
	const uint64_t mask = X86_PAGE_SIZE_4K - 1;

	return (a & ~mask) <= (last | mask) && (start & ~mask) <= (a | mask);
}

/* The shadow lets the hardware perform acc (to gpa): no handler may claim
 * it.  A page any part of which a handler covers is never mapped (ALL) or
 * mapped read-only (WRITE); a virtual handler binds its own address space
 * (or all of them) only. */
static void handler_check(struct world *w, const struct umbra_access *acc,
			  uint64_t gpa)
{
	const bool paging = (w->hw.regs.cr0 & X86_CR0_PG) != 0;
	const enum umbra_mode mode = umbra_paging_mode(&w->hw.regs);
	/* Outside long mode linear addresses have 32 bits. */
	const uint64_t va = mode == UMBRA_MODE_LONG4 || mode == UMBRA_MODE_LONG5
				    ? acc->va
				    : acc->va & 0xFFFFFFFFull;
	unsigned i;

	for (i = 0; i < N_HANDLERS; i++) {
		const struct fz_handler *f = &w->hd[i];
		char msg[240];

		if (!f->h.registered)
			continue;
		if (f->h.kind == UMBRA_HANDLER_WRITE &&
		    acc->kind != UMBRA_ACCESS_WRITE)
			continue;
		if (f->phys ? !pages_overlap(gpa, f->start, f->last)
			    : !pages_overlap(va, f->start, f->last) ||
				      (f->space != UMBRA_HANDLER_ALL_SPACES &&
				       (!paging || f->space != w->cr3_gpa)))
			continue;
		snprintf(msg, sizeof(msg), "probe: the shadow lets a %s at va "
			 "%#llx (gpa %#llx) through, but %s handler %u claims "
			 "[%#llx, %#llx]", acc->kind == UMBRA_ACCESS_WRITE ?
			 "write" : "read or fetch",
			 (unsigned long long)acc->va, (unsigned long long)gpa,
			 f->phys ? "physical" : "virtual", i,
			 (unsigned long long)f->start,
			 (unsigned long long)f->last);
		die(w, msg);
	}
}

/*
 * The hardware-walker check, free of side effects: for a few accesses, if
 * the shadow lets the hardware perform it, the guest's tables must allow it
 * at the same address, needing no A/D update.
 */
static void probe(struct world *w, uint64_t va)
{
	struct umbra_shadow_regs sr;
	struct umbra_paging_regs sregs;
	const struct umbra_cpu_caps host_caps = {
		.maxphyaddr = 52, .gbpages = true, .pse36 = true,
	};
	struct umbra_gmem host = {
		.read = host_read, .cmpxchg = no_cmpxchg, .ctx = &w->hw,
	};
	struct umbra_gmem guest = {
		.read = guest_read, .cmpxchg = no_cmpxchg, .ctx = &w->hw,
	};
	struct umbra_walker sw, gw;
	unsigned kind, cpl, v;

	umbra_get_shadow_regs(w->hw.mmu, &sr);
	sregs.cr0 = sr.cr0;
	sregs.cr3 = sr.cr3;
	sregs.cr4 = sr.cr4;
	sregs.efer = sr.efer;
	sregs.pkru = w->hw.regs.pkru;
	(void)guest;
	if (umbra_walk_init(&sw, &sregs, &host_caps, &host) != UMBRA_LOAD_OK)
		die(w, "probe: the shadow registers do not load");
	guest_walker(w, &gw);
	for (v = 0; v < 4; v++) {
		for (kind = 0; kind < 3; kind++) {
			for (cpl = 0; cpl < 2; cpl++) {
				struct umbra_access acc = {
					.va = va, .kind = (uint8_t)kind,
					.cpl = cpl ? 3 : 0,
					.ac = (v & 1) != 0,
					.implicit_supervisor =
						(v & 2) && kind != UMBRA_ACCESS_FETCH,
				};
				struct umbra_walk_result s, g;
				char msg[300];

				if ((v & 2) && kind == UMBRA_ACCESS_FETCH)
					continue;
				umbra_walk(&sw, &acc, &s);
				if (s.status == UMBRA_WALK_BADMEM)
					die(w, "probe: the shadow walk left host memory");
				if (s.status != UMBRA_WALK_OK)
					continue;
				umbra_walk(&gw, &acc, &g);
				if (s.n_updates || s.gpa < w->hw.guest_hpa ||
				    s.gpa >= w->hw.guest_hpa + w->hw.guest_size ||
				    g.status != UMBRA_WALK_OK ||
				    g.gpa != s.gpa - w->hw.guest_hpa ||
				    g.n_updates) {
					snprintf(msg, sizeof(msg),
						 "probe: va %#llx kind %u cpl %u ac %d "
						 "implicit %d: shadow allows it (hpa "
						 "%#llx, %u A/D updates) but the guest "
						 "walk says status %u ec %#x gpa %#llx "
						 "with %u A/D updates",
						 (unsigned long long)va, kind,
						 acc.cpl, acc.ac,
						 acc.implicit_supervisor,
						 (unsigned long long)s.gpa,
						 s.n_updates, g.status,
						 g.error_code,
						 (unsigned long long)g.gpa,
						 g.n_updates);
					die(w, msg);
				}
				handler_check(w, &acc, g.gpa);
			}
		}
	}
}

/* After every event: the audit and the hardware-walker check.  An event
 * that ended with hw_access() has just been audited by the harness. */
static void after_access(struct world *w, uint64_t va)
{
	unsigned i;

	probe(w, va);
	for (i = 0; i < PROBES; i++) {
		uint64_t n = w->probe_seq++;

		probe(w, page_va(w, (unsigned)(n % w->n_regions),
				 (unsigned)((n / w->n_regions) % 8)) +
				 (n % 7) * 0x208);
	}
}

static void after_event(struct world *w, uint64_t va)
{
	if (!hw_audit(&w->hw))
		die(w, w->hw.last_problem);
	after_access(w, va);
}

/* ---- building ---------------------------------------------------------------- */

static uint64_t rnd_entry(struct world *w, unsigned level)
{
	uint8_t k = (uint8_t)rnd(w), f = (uint8_t)rnd(w), x = (uint8_t)rnd(w);

	/* Mostly sane at build time, so that accesses get deep. */
	if ((rnd(w) % 4) != 0)
		k |= 5; /* what >= 5: present, A, U, W */
	if ((rnd(w) % 8) != 0)
		x |= 0x40; /* no reserved bits */
	if (level > 1 && (rnd(w) % 5) != 0)
		k = (uint8_t)((k & ~7u) | 5); /* a table, not a large page */
	return gen_entry(w, level, k, f, x);
}

static void build(struct world *w, struct input *in)
{
	static const enum umbra_mode modes[] = {
		UMBRA_MODE_32, UMBRA_MODE_PAE, UMBRA_MODE_LONG4,
		UMBRA_MODE_LONG5,
	};
	uint8_t m = u8(in), pool = u8(in), as = u8(in), share = u8(in);
	uint64_t seed = 0, gpa;
	unsigned i, a, r, p, l;

	for (i = 0; i < 4; i++)
		seed = seed << 8 | u8(in);
	w->rng = seed * 0x9E3779B97F4A7C15ull + 0x1234567u;
	w->mode = modes[m % 4];
	w->long_mode = w->mode == UMBRA_MODE_LONG4 || w->mode == UMBRA_MODE_LONG5;
	w->esize = w->mode == UMBRA_MODE_32 ? 4 : 8;
	w->n_as = 2 + as % 3;
	w->window = -1;
	hw_init(&w->hw, GUEST_MB, 12 + pool % 53);
	w->hw.audit_each = true;
	for (a = 0; a < w->n_as; a++) {
		gpt_init(&w->g[a], &w->hw, w->mode);
		w->levels = w->g[a].levels;
		add_table(w, w->g[a].root, w->levels, w->mode == UMBRA_MODE_PAE);
	}
	setup_geometry(w);
	/* The kernel's map of guest RAM, shared by every address space
	 * below the root. */
	for (gpa = 0; gpa < GUEST_SIZE; gpa += X86_PAGE_SIZE_4K)
		hw_gwrite_raw(&w->hw, entry_gpa(w, 0, kmap_va(w, gpa), 1),
			      w->esize, gpa | X86_PTE_P | X86_PTE_RW |
						X86_PTE_A | X86_PTE_D);
	for (i = 0; i < w->n_tab; i++)
		w->tab[i].kpt = w->tab[i].level == 1; /* only the kernel's yet */
	for (a = 1; a < w->n_as; a++) {
		uint64_t top = index_of(w, 0, w->levels) * w->esize;

		hw_gwrite_raw(&w->hw, w->g[a].root + top, w->esize,
			      hw_gread(&w->hw, w->g[0].root + top, w->esize));
	}
	protect_path(w, 0);
	protect_path(w, kmap_va(w, KMAP_END));
	/* The regions: some address spaces share the top-level entries of
	 * address space 0 (and so everything below). */
	for (a = 0; a < w->n_as; a++) {
		for (r = 0; r < w->n_regions; r++) {
			uint64_t top = index_of(w, w->region[r], w->levels) *
				       w->esize;
			uint64_t e0 = hw_gread(&w->hw, w->g[0].root + top,
					       w->esize);

			if (a > 0 && ((share >> (r % 8)) & 1) && (e0 & X86_PTE_P) &&
			    !(hw_gread(&w->hw, w->g[a].root + top, w->esize) &
			      X86_PTE_P))
				hw_gwrite_raw(&w->hw, w->g[a].root + top,
					      w->esize, e0);
			for (p = 0; p < 8; p++)
				entry_gpa(w, a, page_va(w, r, p), 1);
		}
	}
	/* Spare tables, one per level below the top, linked nowhere yet. */
	for (l = 1; l < w->levels; l++) {
		uint64_t t = hw_alloc_table(&w->hw);

		add_table(w, t, l, false);
	}
	if (w->mode == UMBRA_MODE_PAE) {
		w->bad_pdpt = hw_alloc_table(&w->hw);
		/* Entry 0 has a reserved bit: loading it must #GP. */
		hw_gwrite_raw(&w->hw, w->bad_pdpt, 8,
			      w->tab[w->n_tab - 1].gpa | X86_PTE_P | X86_PTE_RW);
	}
	if (w->hw.next_table_gpa > KMAP_END)
		die(w, "harness: tables beyond the kernel map");
	/* Random contents: the leaves of every region, the region entries of
	 * the directories, the spare tables. */
	for (i = 0; i < w->n_tab; i++) {
		const struct table *t = &w->tab[i];
		unsigned j;

		if (t->kpt || t->pdpt)
			continue;
		for (j = 0; j < w->n_idx[t->level]; j++) {
			unsigned idx = w->idx[t->level][j];
			uint64_t gpa = t->gpa + (uint64_t)idx * w->esize;
			uint64_t cur = hw_gread(&w->hw, gpa, w->esize);

			if (protected_entry(w, t->gpa, idx))
				continue;
			/* Keep most directory links the builder made. */
			if (t->level > 1 && (cur & X86_PTE_P) && rnd(w) % 4)
				continue;
			hw_gwrite_raw(&w->hw, gpa, w->esize,
				      rnd_entry(w, t->level));
		}
	}
	/* Page tables get a run of present, writable entries after the
	 * region's pages (what the fork event write-protects). */
	for (i = 0; i < w->n_tab; i++) {
		const struct table *t = &w->tab[i];
		unsigned j;

		if (t->level != 1 || t->kpt)
			continue;
		for (j = 8; j < 16; j++)
			hw_gwrite_raw(&w->hw, t->gpa + (uint64_t)j * w->esize,
				      w->esize,
				      (DATA_GPA + (uint64_t)j * X86_PAGE_SIZE_4K) |
					      X86_PTE_P | X86_PTE_RW |
					      X86_PTE_US | X86_PTE_A |
					      X86_PTE_D);
	}
	w->eferx = w->mode != UMBRA_MODE_32 ? X86_EFER_NXE : 0;
	w->cr0x = X86_CR0_WP;
	w->pkru = 0;
	w->cr3_gpa = w->g[0].root;
}

/* ---- events ---------------------------------------------------------------- */

/* A frame of guest RAM for an access through the kernel map. */
static uint64_t kmap_target(const struct world *w, uint8_t t, uint8_t c)
{
	switch (t) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		return DATA_GPA + (uint64_t)(c % N_DATA) * X86_PAGE_SIZE_4K;
	case 6: case 7: case 8: case 9:
		return WIN_GPA + (uint64_t)(c % N_WIN) * X86_PAGE_SIZE_4K;
	case 10: case 11: case 12: case 13:
		return w->tab[c % w->n_tab].gpa;
	case 14:
		return GUEST_SIZE - X86_PAGE_SIZE_4K;
	default:
		return 0;
	}
}

static void ev_access(struct world *w, struct input *in)
{
	uint8_t a = u8(in), b = u8(in), c = u8(in);
	static const unsigned sizes[4] = { 8, 4, 2, 1 };
	struct umbra_access acc = { .va = 0 };
	unsigned size = sizes[(b >> 6) & 3];
	uint64_t value = rnd(w);

	uint64_t off = ((uint64_t)c * 16 + (b & 8)) & ~(uint64_t)(size - 1);
	const struct fz_handler *f = &w->hd[(a >> 4) % N_HANDLERS];

	switch (a & 0xF) {
	case 0xC:
		/* Where a handler is (physical: through the kernel map). */
		if (f->h.registered && !f->phys) {
			acc.va = f->start & ~(uint64_t)(size - 1);
			break;
		}
		if (f->h.registered && f->start < GUEST_SIZE) {
			acc.va = kmap_va(w, f->start & ~(uint64_t)(size - 1));
			break;
		}
		/* fall through */
	case 0xD:
	case 0xE:
		/* A frame through the kernel's map of guest RAM. */
		acc.va = kmap_va(w, kmap_target(w, (uint8_t)(a >> 4), c)) + off;
		break;
	case 0xF:
		if (w->noncanon) {
			acc.va = w->noncanon +
				 (uint64_t)(a >> 4) * X86_PAGE_SIZE_4K + off;
			break;
		}
		/* fall through */
	default:
		acc.va = page_va(w, (a & 0xF) % w->n_regions, (a >> 4) & 7) +
			 off;
		break;
	}
	acc.kind = (uint8_t)((b & 3) == 3 ? UMBRA_ACCESS_WRITE : (b & 3));
	acc.cpl = (b & 4) ? 3 : 0;
	acc.ac = (b & 0x10) != 0;
	acc.implicit_supervisor = (b & 0x20) && !(b & 0x08) &&
				  acc.kind != UMBRA_ACCESS_FETCH;
	acc.stack = (b & 0x28) == 0x28;
	note(w, "access va %#llx kind %u cpl %u ac %d impl %d stack %d size %u",
	     (unsigned long long)acc.va, acc.kind, acc.cpl, acc.ac,
	     acc.implicit_supervisor, acc.stack, size);
	do_access(w, &acc, size, value, "access");
	after_access(w, acc.va);
}

/* A table to edit (not the kernel's PT; PAE PDPTs have their own event). */
static const struct table *pick_table(struct world *w, uint8_t t)
{
	unsigned i;

	for (i = 0; i < w->n_tab; i++) {
		const struct table *c = &w->tab[(t + i) % w->n_tab];

		if (!c->kpt && !c->pdpt)
			return c;
	}
	return NULL;
}

/* An entry index in table t: mostly one the regions use; never the kernel
 * map's own entry. */
static unsigned pick_index(struct world *w, const struct table *t, uint8_t e)
{
	unsigned n = entries_of(w, t), idx;

	if ((e & 3) == 0)
		idx = ((unsigned)e * 37u + (unsigned)(rnd(w) & 0x3FF)) % n;
	else
		idx = w->idx[t->level][(e >> 2) % w->n_idx[t->level]] % n;
	while (protected_entry(w, t->gpa, idx))
		idx = (idx + 1) % n;
	return idx;
}

static void ev_edit(struct world *w, struct input *in)
{
	const struct table *t = pick_table(w, u8(in));
	uint8_t e = u8(in), k = u8(in), f = u8(in), x = u8(in), s = u8(in);
	unsigned idx, off = 0, size;
	uint64_t gpa, val;

	if (!t)
		return;
	idx = pick_index(w, t, e);
	gpa = t->gpa + (uint64_t)idx * w->esize;
	val = gen_entry(w, t->level, k, f, x);
	size = w->esize;
	/* Sometimes only part of the entry (its low flags, or the high half
	 * with NX and the keys). */
	switch (s & 7) {
	case 5:
		size = 1;
		break;
	case 6:
		if (w->esize == 8) {
			size = 4;
			off = (s & 8) ? 4 : 0;
		} else {
			size = 2;
		}
		break;
	default:
		break;
	}
	val >>= 8 * off;
	if (size < 8)
		val &= (1ull << (8 * size)) - 1;
	note(w, "edit table %#llx (level %u) [%u]+%u size %u <- %#llx",
	     (unsigned long long)t->gpa, t->level, idx, off, size,
	     (unsigned long long)val);
	/* Through the kernel's identity map, as a guest kernel does (paging
	 * off: the same address). */
	do_store(w, gpa + off, size, val, "table edit");
	after_access(w, page_va(w, (unsigned)(e % w->n_regions), idx % 8));
}

static bool hits_protected(const struct world *w, uint64_t gpa, unsigned len)
{
	unsigned i;

	for (i = 0; i < w->n_prot; i++) {
		uint64_t e = w->prot[i].gpa + (uint64_t)w->prot[i].idx * w->esize;

		if (gpa < e + w->esize && e < gpa + len)
			return true;
	}
	return false;
}

static void ev_emulated_write(struct world *w, struct input *in)
{
	const struct table *t = pick_table(w, u8(in));
	uint8_t e = u8(in), l = u8(in), k = u8(in), f = u8(in), x = u8(in);
	unsigned idx, len, flags = (l & 0x80) ? UMBRA_WRITE_REP : 0;
	unsigned run = 1, i;
	uint64_t gpa;
	uint8_t buf[16];
	enum umbra_status st;

	if (!t)
		return;
	idx = pick_index(w, t, e);
	gpa = t->gpa + (uint64_t)idx * w->esize;
	len = 1 + (l & 15);
	if (l & 0x40)
		gpa += (x >> 4) & 7; /* misaligned */
	if ((l & 0x30) == 0x30 && w->esize == 8) {
		/* REP STOS-like: a run of whole entries, zeroed or not. */
		len = w->esize;
		run = 2 + (x & 7);
		flags = UMBRA_WRITE_REP;
		gpa &= ~(uint64_t)(w->esize - 1);
	}
	for (i = 0; i < run; i++) {
		uint64_t g = gpa + (uint64_t)i * len;
		uint64_t v0 = gen_entry(w, t->level, k, f, x);
		uint64_t v1 = gen_entry(w, t->level, (uint8_t)(k + 1), f, x);

		if (run > 1 && (k & 1))
			v0 = 0;
		if (w->esize == 4)
			v0 |= v1 << 32;
		memcpy(buf, &v0, 8);
		memcpy(buf + 8, &v1, 8);
		/* Never the kernel map's own entries. */
		if (hits_protected(w, g, len))
			break;
		note(w, "emulated write %#llx len %u flags %#x (table %#llx "
		     "level %u) %#llx", (unsigned long long)g, len, flags,
		     (unsigned long long)t->gpa, t->level,
		     (unsigned long long)v0);
		st = umbra_emulated_write(w->hw.mmu, g, buf, len, flags);
		if (st != UMBRA_OK) {
			char msg[160];

			snprintf(msg, sizeof(msg), "umbra_emulated_write: "
				 "status %d: %s", st,
				 umbra_mmu_last_error(w->hw.mmu));
			die(w, msg);
		}
		if (!hw_audit(&w->hw))
			die(w, w->hw.last_problem);
	}
	after_event(w, page_va(w, (unsigned)(e % w->n_regions), idx % 8));
}

static void ev_cr3(struct world *w, struct input *in)
{
	uint8_t c = u8(in), d = u8(in);
	struct umbra_paging_regs regs;
	uint64_t old_gpa = w->cr3_gpa, old_x = w->cr3x;

	if ((c & 0xE0) == 0xE0) {
		/* Not one of the roots: any table (the kernel map may be gone
		 * there), or in PAE mode a PDPT that must #GP. */
		w->cr3_gpa = w->mode == UMBRA_MODE_PAE && (d & 1)
				     ? w->bad_pdpt
				     : w->tab[(d >> 1) % w->n_tab].gpa;
	} else {
		w->cr3_gpa = w->g[c % w->n_as].root;
	}
	w->cr3x = ((c >> 3) & 1 ? X86_PTE_PWT : 0) |
		  ((c >> 4) & 1 ? X86_PTE_PCD : 0);
	regs = cur_regs(w);
	note(w, "cr3 <- %#llx", (unsigned long long)regs.cr3);
	if (load_regs(w, &regs, UMBRA_WROTE_CR3) != UMBRA_OK) {
		w->cr3_gpa = old_gpa;
		w->cr3x = old_x;
	}
	after_event(w, page_va(w, d % w->n_regions, (d >> 4) & 7));
}

static void ev_invlpg(struct world *w, struct input *in)
{
	uint8_t a = u8(in);
	uint64_t va = page_va(w, (a & 0xF) % w->n_regions, (a >> 4) & 7);

	if ((a & 0x0F) == 0x0F) {
		note(w, "flush guest tlb (global %d)", (a >> 4) & 1);
		umbra_flush_guest_tlb(w->hw.mmu, (a >> 4) & 1);
	} else {
		note(w, "invlpg %#llx", (unsigned long long)va);
		umbra_invlpg(w->hw.mmu, va);
	}
	after_event(w, va);
}

static void ev_mode(struct world *w, struct input *in)
{
	uint8_t m = u8(in), k = u8(in);
	struct umbra_paging_regs old = cur_regs(w), regs;
	uint64_t cr0x = w->cr0x, cr4x = w->cr4x, eferx = w->eferx;
	uint32_t pkru = w->pkru;
	bool off = w->paging_off;
	unsigned wrote = 0;

	w->cr0x = ((m & 0x01) ? X86_CR0_WP : 0) |
		  ((k & 0x30) == 0x30 ? X86_CR0_CD : 0) |
		  ((k & 0x70) == 0x70 ? X86_CR0_NW : 0);
	w->eferx = (m & 0x02) && w->mode != UMBRA_MODE_32 ? X86_EFER_NXE : 0;
	w->cr4x = ((m & 0x04) ? X86_CR4_SMEP : 0) |
		  ((m & 0x08) ? X86_CR4_SMAP : 0) |
		  ((m & 0x10) ? X86_CR4_PSE : 0) |
		  ((m & 0x20) && w->long_mode ? X86_CR4_PKE : 0) |
		  ((m & 0x40) ? X86_CR4_PGE : 0);
	if (k & 0x04)
		w->pkru = (k & 0x08) ? (uint32_t)rnd(w)
				     : (uint32_t)rnd(w) & ~3u; /* key 0 open */
	w->paging_off = (m & 0x80) && (k & 3) == 0;
	regs = cur_regs(w);
	if (regs.cr0 != old.cr0 || (k & 0x80))
		wrote |= UMBRA_WROTE_CR0;
	if (regs.cr4 != old.cr4 || (k & 0x40))
		wrote |= UMBRA_WROTE_CR4;
	if (regs.efer != old.efer)
		wrote |= UMBRA_WROTE_EFER;
	if (regs.pkru != old.pkru)
		wrote |= UMBRA_WROTE_PKRU;
	note(w, "mode cr0 %#llx cr4 %#llx efer %#llx pkru %#x wrote %#x",
	     (unsigned long long)regs.cr0, (unsigned long long)regs.cr4,
	     (unsigned long long)regs.efer, regs.pkru, wrote);
	if (load_regs(w, &regs, wrote) != UMBRA_OK) {
		w->cr0x = cr0x, w->cr4x = cr4x, w->eferx = eferx;
		w->pkru = pkru, w->paging_off = off;
	}
	after_event(w, page_va(w, k % w->n_regions, (k >> 3) & 7));
}

/* PAE: rewrite a PDPTE, then MOV CR3 as the architecture needs; a value
 * the load must refuse is written, refused, and undone.  Other modes: a
 * root entry. */
static void ev_pdpte(struct world *w, struct input *in)
{
	uint8_t a = u8(in), i = u8(in), k = u8(in), x = u8(in);
	unsigned as = a % w->n_as;
	uint64_t gpa, val;

	if (w->mode != UMBRA_MODE_PAE) {
		const struct table *root = table_at(w, w->g[as].root);
		unsigned ridx = pick_index(w, root, i);

		val = gen_entry(w, w->levels, k, x, (uint8_t)(x >> 1));
		gpa = root->gpa + (uint64_t)ridx * w->esize;
		note(w, "root edit %#llx [%u] <- %#llx",
		     (unsigned long long)root->gpa, ridx,
		     (unsigned long long)val);
		do_store(w, gpa, w->esize, val, "root edit");
		after_event(w, page_va(w, i % w->n_regions, 0));
		return;
	}
	/* PDPTE 0 holds the kernel map: rarely. */
	gpa = w->g[as].root +
	      (uint64_t)((i & 0xC0) == 0xC0 ? 0 : 1 + i % 3) * 8;
	val = gen_pdpte(w, k, x);
	note(w, "pdpte %#llx <- %#llx%s", (unsigned long long)gpa,
	     (unsigned long long)val, (a & 0x80) ? "" : ", mov cr3");
	do_store(w, gpa, 8, val, "pdpte store");
	/* The PDPTE registers keep the old value until the next load. */
	if (!(a & 0x80) && w->cr3_gpa == w->g[as].root) {
		struct umbra_paging_regs regs = cur_regs(w);

		w->n_events++;
		note(w, "mov cr3 %#llx", (unsigned long long)regs.cr3);
		load_regs(w, &regs, UMBRA_WROTE_CR3);
	}
	after_event(w, page_va(w, (i >> 2) % w->n_regions, 0));
}

static void slot_op(struct world *w, enum umbra_status st, const char *what)
{
	char msg[200];

	if (st == UMBRA_OK)
		return;
	snprintf(msg, sizeof(msg), "%s: status %d: %s", what, st,
		 umbra_mmu_last_error(w->hw.mmu));
	die(w, msg);
}

/* Removing the slot at 0 ends its dirty log. */
static enum umbra_status remove_slot0(struct world *w)
{
	w->logging = false;
	return umbra_slot_remove(w->hw.mmu, 0);
}

/* The window has become `type`; ROM and MMIO start out zeroed (see the top
 * of this file).  Every shadow page went with the slot change, so no
 * shadow was built from the old contents. */
static void set_window(struct world *w, int type)
{
	w->window = type;
	if (type != UMBRA_SLOT_RAM)
		memset(w->hw.host.bytes + w->hw.guest_hpa + WIN_GPA, 0, WIN_SIZE);
}

/* Slot and emulated-write calls the engine must refuse, changing nothing
 * (the audit and the probes after the event check that). */
static void slot_misuse(struct world *w, uint8_t s)
{
	struct umbra_mmu *mmu = w->hw.mmu;
	uint64_t v = rnd(w);

	switch ((s >> 4) & 7) {
	case 0:
		note(w, "slot misuse: add RAM over a data frame");
		expect_status(w, umbra_slot_add(mmu, DATA_GPA, X86_PAGE_SIZE_4K,
						GUEST_HPA + DATA_GPA,
						UMBRA_SLOT_RAM),
			      UMBRA_ERR_INVALID, "slot misuse");
		break;
	case 1:
		note(w, "slot misuse: remove where no slot starts");
		expect_status(w, umbra_slot_remove(mmu, X86_PAGE_SIZE_4K),
			      UMBRA_ERR_NOT_FOUND, "slot misuse");
		break;
	case 2:
		note(w, "slot misuse: add an unaligned slot");
		expect_status(w, umbra_slot_add(mmu, HOLE_GPA + 0x800,
						X86_PAGE_SIZE_4K, 0,
						UMBRA_SLOT_MMIO),
			      UMBRA_ERR_INVALID, "slot misuse");
		break;
	case 3:
		note(w, "slot misuse: add an empty slot");
		expect_status(w, umbra_slot_add(mmu, HOLE_GPA, 0, 0,
						UMBRA_SLOT_MMIO),
			      UMBRA_ERR_INVALID, "slot misuse");
		break;
	case 4:
		note(w, "emulated write misuse: unbacked memory");
		expect_status(w, umbra_emulated_write(mmu, HOLE_GPA, &v, 8, 0),
			      UMBRA_ERR_NOT_RAM, "emulated write misuse");
		break;
	case 5:
		/* The window when it is ROM or MMIO. */
		note(w, "emulated write misuse: the window (type %d)",
		     w->window);
		if (w->window == UMBRA_SLOT_ROM || w->window == UMBRA_SLOT_MMIO)
			expect_status(w, umbra_emulated_write(mmu, WIN_GPA, &v,
							      8, 0),
				      UMBRA_ERR_NOT_RAM,
				      "emulated write misuse");
		break;
	case 6:
		note(w, "emulated write misuse: 17 bytes");
		{
			uint8_t buf[17] = { 0 };

			expect_status(w, umbra_emulated_write(mmu, DATA_GPA,
							      buf, 17, 0),
				      UMBRA_ERR_INVALID,
				      "emulated write misuse");
		}
		break;
	default:
		note(w, "emulated write misuse: 0 bytes");
		expect_status(w, umbra_emulated_write(mmu, DATA_GPA, &v, 0, 0),
			      UMBRA_ERR_INVALID, "emulated write misuse");
		break;
	}
}

static void ev_slot(struct world *w, struct input *in)
{
	uint8_t s = u8(in);
	struct umbra_mmu *mmu = w->hw.mmu;
	static const enum umbra_slot_type types[4] = {
		UMBRA_SLOT_RAM, UMBRA_SLOT_ROM, UMBRA_SLOT_MMIO, UMBRA_SLOT_MMIO,
	};

	switch (s & 3) {
	case 0: {
		/* The MMIO slot above RAM.  Its hpa means nothing; sometimes it
		 * names host memory that RAM uses. */
		const bool overlap = (s & 4) != 0;

		note(w, "slot: %s MMIO above RAM (hpa %s)",
		     w->mmio_slot ? "remove" : "add", overlap ? "RAM's" : "0");
		if (w->mmio_slot)
			slot_op(w, umbra_slot_remove(mmu, MMIO_GPA), "remove MMIO");
		else
			slot_op(w, umbra_slot_add(mmu, MMIO_GPA, MMIO_SIZE,
						  overlap ? GUEST_HPA : 0,
						  UMBRA_SLOT_MMIO),
				"add MMIO");
		w->mmio_slot = !w->mmio_slot;
		break;
	}
	case 1:
	case 2:
		if (w->window < 0) {
			int type = types[(s >> 2) & 3];

			note(w, "slot: split RAM, window of type %d", type);
			slot_op(w, remove_slot0(w), "remove RAM");
			slot_op(w, umbra_slot_add(mmu, 0, WIN_GPA, GUEST_HPA,
						  UMBRA_SLOT_RAM), "add low RAM");
			slot_op(w, umbra_slot_add(mmu, WIN_GPA + WIN_SIZE,
						  GUEST_SIZE - WIN_GPA - WIN_SIZE,
						  GUEST_HPA + WIN_GPA + WIN_SIZE,
						  UMBRA_SLOT_RAM), "add high RAM");
			slot_op(w, umbra_slot_add(mmu, WIN_GPA, WIN_SIZE,
						  GUEST_HPA + WIN_GPA,
						  (enum umbra_slot_type)type),
				"add window");
			set_window(w, type);
		} else if (s & 4) {
			int type = types[(s >> 3) & 3];

			note(w, "slot: window type %d -> %d", w->window, type);
			slot_op(w, umbra_slot_remove(mmu, WIN_GPA), "remove window");
			slot_op(w, umbra_slot_add(mmu, WIN_GPA, WIN_SIZE,
						  GUEST_HPA + WIN_GPA,
						  (enum umbra_slot_type)type),
				"add window");
			set_window(w, type);
		} else {
			note(w, "slot: merge RAM");
			slot_op(w, umbra_slot_remove(mmu, WIN_GPA), "remove window");
			slot_op(w, remove_slot0(w), "remove low RAM");
			slot_op(w, umbra_slot_remove(mmu, WIN_GPA + WIN_SIZE),
				"remove high RAM");
			slot_op(w, umbra_slot_add(mmu, 0, GUEST_SIZE, GUEST_HPA,
						  UMBRA_SLOT_RAM), "add RAM");
			w->window = -1;
		}
		break;
	default:
		if (s & 0x80) {
			slot_misuse(w, s);
			break;
		}
		/* Remove and re-add the slot that holds the tables. */
		note(w, "slot: re-add the low RAM slot");
		slot_op(w, remove_slot0(w), "remove RAM");
		slot_op(w, umbra_slot_add(mmu, 0, w->window < 0 ? GUEST_SIZE
							      : WIN_GPA,
					  GUEST_HPA, UMBRA_SLOT_RAM),
			"re-add RAM");
		break;
	}
	after_event(w, page_va(w, (s >> 4) % w->n_regions, (s >> 5) & 7));
}

/* Pool pressure: touch every region of every address space. */
static void sweep_space(struct world *w, uint8_t s)
{
	unsigned r;

	for (r = 0; r < w->n_regions; r++) {
		struct umbra_access acc = {
			.va = page_va(w, r, (s >> 1) & 7),
			.kind = (s & 0x10) ? UMBRA_ACCESS_WRITE
					   : UMBRA_ACCESS_READ,
			.cpl = (s & 0x20) ? 3 : 0,
		};

		w->n_events++;
		note(w, "sweep access %#llx kind %u cpl %u",
		     (unsigned long long)acc.va, acc.kind, acc.cpl);
		do_access(w, &acc, 8, rnd(w), "sweep access");
	}
}

static void ev_sweep(struct world *w, uint8_t s)
{
	uint64_t cr3 = w->cr3_gpa;
	unsigned a;

	if (!(s & 1)) {
		sweep_space(w, s);
	} else {
		for (a = 0; a < w->n_as; a++) {
			struct umbra_paging_regs regs;

			w->cr3_gpa = w->g[a].root;
			regs = cur_regs(w);
			w->n_events++;
			note(w, "sweep: cr3 <- %#llx",
			     (unsigned long long)regs.cr3);
			if (load_regs(w, &regs, UMBRA_WROTE_CR3) != UMBRA_OK) {
				w->cr3_gpa = w->hw.regs.cr3 & ~w->cr3x;
				continue;
			}
			sweep_space(w, s);
		}
		if (w->cr3_gpa != cr3) {
			struct umbra_paging_regs regs;
			uint64_t now = w->cr3_gpa;

			w->cr3_gpa = cr3;
			regs = cur_regs(w);
			w->n_events++;
			note(w, "sweep: back to cr3 %#llx",
			     (unsigned long long)regs.cr3);
			if (load_regs(w, &regs, UMBRA_WROTE_CR3) != UMBRA_OK)
				w->cr3_gpa = now;
		}
	}
	after_event(w, page_va(w, 0, (s >> 1) & 7));
}

/* A fork: a run of stores each clearing R/W in a present writable entry of
 * one table (the pattern the fork heuristic watches for). */
static void ev_fork(struct world *w, uint8_t s)
{
	const struct table *t = pick_table(w, s);
	unsigned i, n = 0;

	if (!t)
		return;
	for (i = 0; i < 24 && n < 12; i++) {
		uint64_t gpa = t->gpa + (uint64_t)i * w->esize;
		uint64_t e = hw_gread(&w->hw, gpa, w->esize);

		if (protected_entry(w, t->gpa, i))
			continue;
		if ((e & (X86_PTE_P | X86_PTE_RW)) != (X86_PTE_P | X86_PTE_RW))
			continue;
		w->n_events++;
		n++;
		note(w, "fork: table %#llx [%u] <- %#llx",
		     (unsigned long long)t->gpa, i,
		     (unsigned long long)(e & ~X86_PTE_RW));
		do_store(w, gpa, w->esize, e & ~X86_PTE_RW, "fork store");
	}
	after_event(w, page_va(w, s % w->n_regions, 0));
}

static void ev_pressure(struct world *w, struct input *in)
{
	uint8_t s = u8(in);

	if ((s & 0xC0) == 0xC0)
		ev_fork(w, u8(in));
	else
		ev_sweep(w, s);
}

/* ---- access handlers ------------------------------------------------------ */

static uint64_t handler_calls, handler_passes, dirty_fetches;

static bool plain_ram(const struct world *w, uint64_t gpa, unsigned size)
{
	if (gpa >= GUEST_SIZE || size > GUEST_SIZE - gpa ||
	    gpa / X86_PAGE_SIZE_4K != (gpa + size - 1) / X86_PAGE_SIZE_4K)
		return false;
	return w->window < 0 || w->window == UMBRA_SLOT_RAM ||
	       gpa + size <= WIN_GPA || gpa >= WIN_GPA + WIN_SIZE;
}

static enum umbra_status handler_deregister(struct world *w,
					    struct fz_handler *f)
{
	return f->phys ? umbra_phys_handler_deregister(w->hw.mmu, &f->h)
		       : umbra_virt_handler_deregister(w->hw.mmu, &f->h);
}

/* The device behind a handler: reads return a pattern of the address;
 * writes are dropped, or (HD_PASS, physical) reach RAM through the engine;
 * HD_SELFDEL handlers deregister themselves on their third call. */
static void handler_fn(void *ctx, const struct umbra_handler *h, uint64_t addr,
		       unsigned size, enum umbra_access_kind kind,
		       uint64_t *value)
{
	struct world *w = ctx;
	struct fz_handler *f = (struct fz_handler *)(void *)h;
	enum umbra_status st;
	char msg[200];

	handler_calls++;
	f->calls++;
	if (f < w->hd || f >= w->hd + N_HANDLERS || !h->registered)
		die(w, "a handler callback for no registered handler");
	if (size < 1 || size > 8)
		die(w, "a handler callback with a bad size");
	if (kind != UMBRA_ACCESS_WRITE) {
		*value = (addr * 0x9E3779B97F4A7C15ull) >> (64 - 8 * size);
	} else if ((f->flags & HD_PASS) && f->phys && plain_ram(w, addr, size)) {
		handler_passes++;
		st = umbra_emulated_write(w->hw.mmu, addr, value, size, 0);
		if (st != UMBRA_OK) {
			snprintf(msg, sizeof(msg), "handler pass-through write "
				 "of %u bytes at %#llx: status %d: %s", size,
				 (unsigned long long)addr, st,
				 umbra_mmu_last_error(w->hw.mmu));
			die(w, msg);
		}
	}
	if ((f->flags & HD_SELFDEL) && f->calls == 3) {
		st = handler_deregister(w, f);
		if (st != UMBRA_OK) {
			snprintf(msg, sizeof(msg), "a handler deregistering "
				 "itself in its callback: status %d: %s", st,
				 umbra_mmu_last_error(w->hw.mmu));
			die(w, msg);
		}
	}
}

static bool ranges_overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 <= b1 && b0 <= a1;
}

/* What registering f (range and space set) must return. */
static enum umbra_status handler_expect(const struct world *w,
					const struct fz_handler *f)
{
	unsigned i;

	for (i = 0; i < N_HANDLERS; i++) {
		const struct fz_handler *o = &w->hd[i];

		if (o == f || !o->h.registered || o->phys != f->phys ||
		    !ranges_overlap(o->start, o->last, f->start, f->last))
			continue;
		if (f->phys || o->space == f->space ||
		    o->space == UMBRA_HANDLER_ALL_SPACES ||
		    f->space == UMBRA_HANDLER_ALL_SPACES)
			return UMBRA_ERR_INVALID;
	}
	return UMBRA_OK;
}

static void ev_handler(struct world *w, struct input *in)
{
	static const uint64_t sizes[8] = {
		1, 8, 16, 100, 4096, 4096 + 8, 8192, 3 * 4096,
	};
	uint8_t a = u8(in), b = u8(in), c = u8(in);
	struct fz_handler *f = &w->hd[a % N_HANDLERS];
	uint64_t size = sizes[(b >> 5) & 7], off = (uint64_t)(b & 0x1F) * 8;
	enum umbra_status st, expect;
	char msg[240];

	if (f->h.registered) {
		note(w, "handler %u: deregister", a % N_HANDLERS);
		st = handler_deregister(w, f);
		if (st != UMBRA_OK || f->h.registered) {
			snprintf(msg, sizeof(msg), "handler deregistration: "
				 "status %d: %s", st,
				 umbra_mmu_last_error(w->hw.mmu));
			die(w, msg);
		}
		after_event(w, f->phys ? page_va(w, 0, 0) : f->start);
		return;
	}
	memset(f, 0, sizeof(*f));
	f->h.kind = (a & 4) ? UMBRA_HANDLER_WRITE : UMBRA_HANDLER_ALL;
	f->h.fn = handler_fn;
	f->h.ctx = w;
	f->phys = !(a & 8);
	f->flags = (uint8_t)((a >> 4) & 3);
	if (size >= 4096)
		off &= 0x18;
	if (f->phys) {
		uint64_t base;

		switch (c & 7) {
		case 0: case 1:
			base = DATA_GPA + (uint64_t)((c >> 3) % N_DATA) *
					  X86_PAGE_SIZE_4K;
			break;
		case 2:
			base = w->tab[(c >> 3) % w->n_tab].gpa;
			break;
		case 3:
			base = WIN_GPA + (uint64_t)((c >> 3) % N_WIN) *
					 X86_PAGE_SIZE_4K;
			break;
		case 4:
			base = MMIO_GPA;
			break;
		case 5:
			base = HOLE_GPA;
			break;
		case 6:
			base = GUEST_SIZE - X86_PAGE_SIZE_4K; /* across RAM's end */
			break;
		default:
			base = 0;
			break;
		}
		f->start = base + off;
		f->last = f->start + size - 1;
		f->space = 0;
		expect = handler_expect(w, f);
		note(w, "handler %u: physical %s [%#llx, %#llx] flags %u",
		     a % N_HANDLERS, (a & 4) ? "write" : "all",
		     (unsigned long long)f->start, (unsigned long long)f->last,
		     f->flags);
		st = umbra_phys_handler_register(w->hw.mmu, &f->h, f->start,
						 size);
	} else {
		unsigned r = (c & 7) % w->n_regions;
		uint64_t span = w->esize == 4 ? 1ull << X86_PAGE_SHIFT_4M
					      : 1ull << X86_PAGE_SHIFT_2M;
		uint64_t end = w->region[r] + span; /* stay in the region */

		f->start = page_va(w, r, (c >> 3) & 7) + off;
		if (size > end - f->start)
			size = end - f->start;
		f->last = f->start + size - 1;
		f->space = (c & 0x40) ? UMBRA_HANDLER_ALL_SPACES
			   : (c & 0x80) ? w->cr3_gpa
					: w->g[(c >> 3) % w->n_as].root;
		expect = handler_expect(w, f);
		note(w, "handler %u: virtual %s [%#llx, %#llx] space %#llx "
		     "flags %u", a % N_HANDLERS, (a & 4) ? "write" : "all",
		     (unsigned long long)f->start, (unsigned long long)f->last,
		     (unsigned long long)f->space, f->flags);
		st = umbra_virt_handler_register(w->hw.mmu, &f->h, f->space,
						 f->start, size);
	}
	if (st != expect || (st == UMBRA_OK) != (f->h.registered != 0)) {
		snprintf(msg, sizeof(msg), "handler registration: status %d "
			 "(registered %u), expected %d: %s", st,
			 f->h.registered, expect,
			 umbra_mmu_last_error(w->hw.mmu));
		die(w, msg);
	}
	after_event(w, f->phys ? page_va(w, c % w->n_regions, 0) : f->start);
}

/* ---- dirty log ------------------------------------------------------------- */

/* Guest memory of the logged slot as it was at the last fetch. */
static uint8_t dirty_snap[GUEST_SIZE];
static uint64_t dirty_bits[GUEST_SIZE / X86_PAGE_SIZE_4K / 64 + 2];

static const uint8_t *guest_mem(const struct world *w)
{
	return w->hw.host.bytes + w->hw.guest_hpa;
}

static uint64_t slot0_size(const struct world *w)
{
	return w->window < 0 ? GUEST_SIZE : WIN_GPA;
}

/* Dirty-log calls the engine must refuse, changing nothing. */
static void dirty_misuse(struct world *w, uint8_t d)
{
	struct umbra_mmu *mmu = w->hw.mmu;
	const size_t need = (size_t)(slot0_size(w) / X86_PAGE_SIZE_4K + 63) / 64;

	switch ((d >> 4) & 3) {
	case 0:
		note(w, "dirty log misuse: %s", w->logging ? "start twice"
							   : "stop unlogged");
		expect_status(w, w->logging ? umbra_dirty_log_start(mmu, 0)
					    : umbra_dirty_log_stop(mmu, 0),
			      UMBRA_ERR_INVALID, "dirty log misuse");
		break;
	case 1:
		note(w, "dirty log misuse: fetch into %zu words", need - 1);
		expect_status(w, umbra_dirty_log_fetch(mmu, 0, dirty_bits,
						       need - 1),
			      UMBRA_ERR_INVALID, "dirty log misuse");
		break;
	case 2:
		/* The window when it is not RAM; else no slot starts there. */
		note(w, "dirty log misuse: start the window (type %d)",
		     w->window);
		expect_status(w, umbra_dirty_log_start(mmu, WIN_GPA),
			      w->window < 0 ? UMBRA_ERR_NOT_FOUND
			      : w->window == UMBRA_SLOT_RAM ? UMBRA_OK
							   : UMBRA_ERR_INVALID,
			      "dirty log misuse");
		if (w->window == UMBRA_SLOT_RAM)
			expect_status(w, umbra_dirty_log_stop(mmu, WIN_GPA),
				      UMBRA_OK, "dirty log stop (window)");
		break;
	default:
		note(w, "dirty log misuse: fetch where no slot starts");
		expect_status(w, umbra_dirty_log_fetch(mmu, X86_PAGE_SIZE_4K,
						       dirty_bits, need),
			      UMBRA_ERR_NOT_FOUND, "dirty log misuse");
		break;
	}
	after_event(w, page_va(w, d % w->n_regions, 0));
}

/* The dirty log of the RAM slot at 0: start, stop, or fetch and check
 * that every frame whose contents changed since the last fetch is in it
 * (frames that did not change may be: the log is a superset). */
static void ev_dirty(struct world *w, struct input *in)
{
	uint8_t d = u8(in);
	enum umbra_status st;
	char msg[200];
	uint64_t i;

	if (d & 0x80) {
		dirty_misuse(w, d);
		return;
	}
	if (!w->logging) {
		note(w, "dirty log: start");
		st = umbra_dirty_log_start(w->hw.mmu, 0);
		w->logging = true;
		w->log_frames = slot0_size(w) / X86_PAGE_SIZE_4K;
		memcpy(dirty_snap, guest_mem(w), slot0_size(w));
	} else if ((d & 3) == 0) {
		note(w, "dirty log: stop");
		st = umbra_dirty_log_stop(w->hw.mmu, 0);
		w->logging = false;
	} else {
		const size_t words = (size_t)(w->log_frames + 63) / 64 + (d & 4 ? 1 : 0);

		note(w, "dirty log: fetch %zu words", words);
		memset(dirty_bits, 0xA5, sizeof(dirty_bits));
		st = umbra_dirty_log_fetch(w->hw.mmu, 0, dirty_bits, words);
		dirty_fetches++;
		for (i = 0; st == UMBRA_OK && i < w->log_frames; i++) {
			const uint64_t off = i * X86_PAGE_SIZE_4K;

			if (!((dirty_bits[i / 64] >> (i % 64)) & 1) &&
			    memcmp(dirty_snap + off, guest_mem(w) + off,
				   X86_PAGE_SIZE_4K)) {
				snprintf(msg, sizeof(msg), "dirty log: frame %#llx "
					 "changed since the last fetch but is "
					 "not in the log",
					 (unsigned long long)i);
				die(w, msg);
			}
		}
		for (i = w->log_frames; st == UMBRA_OK && i < words * 64; i++)
			if ((dirty_bits[i / 64] >> (i % 64)) & 1)
				die(w, "dirty log: bits set past the slot's end");
		memcpy(dirty_snap, guest_mem(w), slot0_size(w));
	}
	if (st != UMBRA_OK) {
		snprintf(msg, sizeof(msg), "dirty log: status %d: %s", st,
			 umbra_mmu_last_error(w->hw.mmu));
		die(w, msg);
	}
	after_event(w, page_va(w, d % w->n_regions, (d >> 4) & 7));
}

/* ---- the event loop ---------------------------------------------------------- */

static void run_events(struct world *w, struct input *in)
{
	while (in_more(in) && w->n_events < MAX_EVENTS) {
		uint8_t op = u8(in);

		w->n_events++;
		switch (op % 32) {
		case 12: case 13: case 14: case 15: case 16: case 17: case 18:
			ev_edit(w, in);
			break;
		case 19: case 20:
			ev_emulated_write(w, in);
			break;
		case 21: case 22: case 23:
			ev_cr3(w, in);
			break;
		case 24:
			ev_invlpg(w, in);
			break;
		case 25: case 26:
			ev_mode(w, in);
			break;
		case 27:
			ev_pdpte(w, in);
			break;
		case 28:
			ev_slot(w, in);
			break;
		case 29:
			ev_pressure(w, in);
			break;
		case 30:
			ev_handler(w, in);
			break;
		case 31:
			ev_dirty(w, in);
			break;
		default: /* 0..11 */
			ev_access(w, in);
			break;
		}
	}
}

/* ---- host memory ------------------------------------------------------------ */

/*
 * The harness's host memory is one zeroed allocation of 64 MiB and more
 * (guest RAM sits above 64 MiB), made and freed for every input.  Through
 * the sanitizer's allocator that costs ~10 ms an input (poisoning megabytes
 * of shadow memory), more than all the events of a typical input.  The
 * link wraps testmem_init/testmem_free (-Wl,--wrap, see fuzz.mk) for host
 * memory of that size: one mapping kept across inputs, handed back to the
 * kernel after each (MADV_DONTNEED: it reads as zero again, exactly like
 * calloc), with an inaccessible guard page right after its end so that a
 * stray access past host memory still crashes.  Small test memories go to
 * the real functions.
 */
#define ARENA_MIN (16u << 20)

void __real_testmem_init(struct testmem *m, uint64_t size, uint64_t alloc_base);
void __real_testmem_free(struct testmem *m);
void __wrap_testmem_init(struct testmem *m, uint64_t size, uint64_t alloc_base);
void __wrap_testmem_free(struct testmem *m);

static uint8_t *arena;
static uint64_t arena_size;
static bool arena_busy;

void __wrap_testmem_init(struct testmem *m, uint64_t size, uint64_t alloc_base)
{
	const uint64_t page = X86_PAGE_SIZE_4K;

	if (size < ARENA_MIN || size % page || arena_busy) {
		__real_testmem_init(m, size, alloc_base);
		return;
	}
	if (arena && arena_size != size) {
		munmap(arena, arena_size + page);
		arena = NULL;
	}
	if (!arena) {
		void *p = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);

		if (p == MAP_FAILED) {
			perror("fuzz: mmap host memory");
			abort();
		}
		arena = p;
		arena_size = size;
		if (mprotect(arena + size, page, PROT_NONE)) {
			perror("fuzz: guard page");
			abort();
		}
	}
	arena_busy = true;
	m->bytes = arena;
	m->size = size;
	m->next_free = alloc_base;
	m->writes = 0;
}

void __wrap_testmem_free(struct testmem *m)
{
	if (!arena_busy || m->bytes != arena) {
		__real_testmem_free(m);
		return;
	}
	if (madvise(arena, arena_size, MADV_DONTNEED)) {
		perror("fuzz: madvise host memory");
		abort();
	}
	arena_busy = false;
	m->bytes = NULL;
	m->size = 0;
}

/* ---- libFuzzer ------------------------------------------------------------- */

/* UMBRA_FUZZ_STATS=1: the engine's counters summed over every input, and
 * the access outcomes, printed at exit (to see what the generator reaches). */
static bool want_stats;
static uint64_t stat_sum[UMBRA_CTR_COUNT];
static uint64_t pool_high_sum, runs_summed;

static void sum_stats(const struct world *w)
{
	const struct umbra_stats *st = umbra_mmu_stats(w->hw.mmu);
	unsigned i;

	for (i = 0; i < UMBRA_CTR_COUNT; i++)
		stat_sum[i] += st->counter[i];
	pool_high_sum += st->gauge[UMBRA_GAUGE_pool_pages_in_use].high * 100 /
			 w->hw.pool_pages;
	runs_summed++;
}

static void report_totals(void)
{
	const char *path = getenv("UMBRA_FUZZ_EVENTS_FILE");
	unsigned i;

	if (want_stats) {
		fprintf(stderr, "fuzz_shadow: outcomes: ok %llu fault %llu mmio "
			"%llu handler %llu (merged A/D updates %llu); pool "
			"high-water mark %llu%% on average\n",
			(unsigned long long)outcome_sum[HW_OK],
			(unsigned long long)outcome_sum[HW_FAULT],
			(unsigned long long)outcome_sum[HW_MMIO],
			(unsigned long long)outcome_sum[HW_HANDLER],
			(unsigned long long)ad_merged,
			(unsigned long long)(runs_summed ? pool_high_sum /
							   runs_summed : 0));
		for (i = 0; i < UMBRA_CTR_COUNT; i++)
			fprintf(stderr, "  %-28s %llu\n",
				umbra_counter_name((enum umbra_counter_id)i),
				(unsigned long long)stat_sum[i]);
	}

	fprintf(stderr, "fuzz_shadow: %llu executions, %llu events, %llu "
		"accesses, %llu handler calls (%llu passed to RAM), %llu dirty "
		"log fetches\n", (unsigned long long)total_execs,
		(unsigned long long)total_events,
		(unsigned long long)total_accesses,
		(unsigned long long)handler_calls,
		(unsigned long long)handler_passes,
		(unsigned long long)dirty_fetches);
	if (path && *path) {
		FILE *f = fopen(path, "w");

		if (f) {
			fprintf(f, "%llu %llu %llu\n",
				(unsigned long long)total_execs,
				(unsigned long long)total_events,
				(unsigned long long)total_accesses);
			fclose(f);
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	want_stats = getenv("UMBRA_FUZZ_STATS") != NULL;
	atexit(report_totals);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	struct input in = { .p = data, .n = size, .i = 0 };

	if (size < 8)
		return 0; /* not even a header */
	memset(&w, 0, sizeof(w));
	build(&w, &in);
	{
		struct umbra_paging_regs regs = cur_regs(&w);

		note(&w, "start: cr3 %#llx", (unsigned long long)regs.cr3);
		if (load_regs(&w, &regs, UMBRA_WROTE_ALL) != UMBRA_OK)
			die(&w, "the initial registers did not load");
	}
	after_event(&w, w.region[0]);
	run_events(&w, &in);
	total_events += w.n_events;
	total_execs++;
	if (want_stats)
		sum_stats(&w);
	hw_fini(&w.hw);
	return 0;
}
