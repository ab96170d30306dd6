/*
 * Page-table building and the table-row runner shared by the walker unit
 * tests.  See walktest.h for the row conventions.
 *
 * The expectations computed here are deliberately simple restatements of
 * docs/paging-rules.md (which entries gain A/D, what the translation is);
 * everything a rule decides (status, error code, where a walk stops) comes
 * from the row, written by hand.
 */
#include "walktest.h"

#include <stdio.h>
#include <string.h>

static struct testmem g_mem;
static bool g_mem_ready;
/* Guest memory as it was just before the walk, to prove the walk is pure and
 * that commit writes exactly the expected entries. */
static uint8_t g_snapshot[WT_MEM_SIZE];

void wt_begin(struct wt_env *e, enum umbra_mode mode)
{
	if (!g_mem_ready) {
		/* One memory for the whole program: it stays reachable, so a
		 * cmocka failure (a longjmp out of a row) leaks nothing. */
		testmem_init(&g_mem, WT_MEM_SIZE, WT_ALLOC_BASE);
		g_mem_ready = true;
	}
	testmem_reset(&g_mem, WT_ALLOC_BASE);

	memset(e, 0, sizeof(*e));
	e->mem = &g_mem;
	e->mode = (uint8_t)mode;
	e->caps.maxphyaddr = WT_DEFAULT_MAXPHYADDR;
	e->caps.gbpages = true;
	e->caps.pse36 = true;

	e->regs.cr0 = X86_CR0_PE | X86_CR0_WP;
	switch (mode) {
	case UMBRA_MODE_NONE:
	case UMBRA_MODE_INVALID:
		return;
	case UMBRA_MODE_32:
		break;
	case UMBRA_MODE_PAE:
		e->regs.cr4 = X86_CR4_PAE;
		break;
	case UMBRA_MODE_LONG4:
		e->regs.cr4 = X86_CR4_PAE;
		e->regs.efer = X86_EFER_LME | X86_EFER_LMA;
		break;
	case UMBRA_MODE_LONG5:
		e->regs.cr4 = X86_CR4_PAE | X86_CR4_LA57;
		e->regs.efer = X86_EFER_LME | X86_EFER_LMA;
		break;
	}
	e->regs.cr0 |= X86_CR0_PG;
	e->top_table = testmem_alloc_page(e->mem);
	e->regs.cr3 = e->top_table;
}

unsigned wt_top_level(enum umbra_mode mode)
{
	switch (mode) {
	case UMBRA_MODE_32: return 2;
	case UMBRA_MODE_PAE: return 3;
	case UMBRA_MODE_LONG4: return 4;
	case UMBRA_MODE_LONG5: return 5;
	default: return 0;
	}
}

unsigned wt_entry_size(enum umbra_mode mode)
{
	return mode == UMBRA_MODE_32 ? 4 : 8;
}

uint64_t wt_linear(enum umbra_mode mode, uint64_t va)
{
	if (mode == UMBRA_MODE_LONG4 || mode == UMBRA_MODE_LONG5)
		return va;
	return va & 0xffffffffull;
}

unsigned wt_index(enum umbra_mode mode, unsigned level, uint64_t va)
{
	va = wt_linear(mode, va);
	if (mode == UMBRA_MODE_32) /* 10 bits per level */
		return (unsigned)(va >> (12 + 10 * (level - 1))) & 0x3ffu;
	if (mode == UMBRA_MODE_PAE && level == 3) /* 4 PDPTEs: bits 31:30 */
		return (unsigned)(va >> 30) & 3u;
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 0x1ffu;
}

unsigned wt_page_shift(enum umbra_mode mode, unsigned level)
{
	switch (level) {
	case 1: return X86_PAGE_SHIFT_4K;
	case 2: return mode == UMBRA_MODE_32 ? X86_PAGE_SHIFT_4M
					     : X86_PAGE_SHIFT_2M;
	default: return X86_PAGE_SHIFT_1G;
	}
}

uint64_t wt_default_flags(enum umbra_mode mode, unsigned level)
{
	/* A PAE PDPTE has no RW/US (they are reserved there). */
	if (mode == UMBRA_MODE_PAE && level == 3)
		return X86_PTE_P;
	return X86_PTE_P | X86_PTE_RW | X86_PTE_US;
}

uint64_t wt_leaf_addr_bits(enum umbra_mode mode, unsigned level,
			   uint64_t frame)
{
	if (mode == UMBRA_MODE_32 && level == 2) /* PSE-36 encoding */
		return (frame & X86_PTE32_ADDR_4M) |
		       (((frame >> 32) << X86_PTE32_PSE36_SHIFT) &
			X86_PTE32_PSE36_MASK);
	return frame;
}

static uint64_t link_lookup(struct wt_env *e, uint64_t entry_gpa)
{
	for (unsigned i = 0; i < e->n_links; i++)
		if (e->links[i].entry_gpa == entry_gpa)
			return e->links[i].table_gpa;
	if (e->n_links == sizeof(e->links) / sizeof(e->links[0]))
		fail_msg("walktest: too many page tables in one test (%u)",
			 e->n_links);
	uint64_t table = testmem_alloc_page(e->mem);
	e->links[e->n_links].entry_gpa = entry_gpa;
	e->links[e->n_links].table_gpa = table;
	e->n_links++;
	return table;
}

uint64_t wt_map(struct wt_env *e, uint64_t va, unsigned leaf, uint64_t frame,
		const uint64_t *set, const uint64_t *clr)
{
	enum umbra_mode mode = (enum umbra_mode)e->mode;
	unsigned size = wt_entry_size(mode);
	uint64_t table = e->top_table;

	if (frame & ((1ull << wt_page_shift(mode, leaf)) - 1))
		fail_msg("walktest: frame %#llx not aligned for a level-%u leaf",
			 (unsigned long long)frame, leaf);
	e->leaf = (uint8_t)leaf;
	for (unsigned level = wt_top_level(mode); level >= leaf && level > 0;
	     level--) {
		uint64_t gpa = table + (uint64_t)wt_index(mode, level, va) * size;
		uint64_t flags = wt_default_flags(mode, level);
		uint64_t val, next = 0;

		if (level == leaf && leaf > 1)
			flags |= X86_PTE_PS;
		if (set)
			flags |= set[level];
		if (clr)
			flags &= ~clr[level];
		if (level == leaf) {
			val = wt_leaf_addr_bits(mode, level, frame) | flags;
		} else {
			next = link_lookup(e, gpa);
			val = next | flags;
		}
		if (size == 4 && (val >> 32))
			fail_msg("walktest: entry %#llx does not fit 32 bits",
				 (unsigned long long)val);
		testmem_write(e->mem, gpa, size, val);
		e->entry_gpa[level] = gpa;
		e->entry_val[level] = val;
		table = next;
	}
	return e->entry_gpa[leaf];
}

enum umbra_load_status wt_init(struct wt_env *e)
{
	struct umbra_gmem g = testmem_gmem(e->mem);

	return umbra_walk_init(&e->w, &e->regs, &e->caps, &g);
}

struct umbra_access wt_access(uint64_t va, uint8_t kind, uint8_t cpl)
{
	struct umbra_access a;

	memset(&a, 0, sizeof(a));
	a.va = va;
	a.kind = kind;
	a.cpl = cpl;
	return a;
}

uint64_t wt_peek(const struct wt_env *e, uint64_t gpa)
{
	return testmem_read(e->mem, gpa, wt_entry_size((enum umbra_mode)e->mode));
}

void wt_poke(struct wt_env *e, uint64_t gpa, uint64_t val)
{
	testmem_write(e->mem, gpa, wt_entry_size((enum umbra_mode)e->mode), val);
}

const char *wt_status_name(unsigned status)
{
	static const char *const names[] = {
		[UMBRA_WALK_OK] = "OK", [UMBRA_WALK_PF] = "#PF",
		[UMBRA_WALK_GP] = "#GP", [UMBRA_WALK_SS] = "#SS",
		[UMBRA_WALK_BADMEM] = "BADMEM",
	};
	return status < sizeof(names) / sizeof(names[0]) ? names[status]
							  : "(bad status)";
}

const char *wt_load_name(unsigned load)
{
	static const char *const names[] = {
		[UMBRA_LOAD_OK] = "LOAD_OK", [UMBRA_LOAD_GP] = "LOAD_GP",
		[UMBRA_LOAD_BADMEM] = "LOAD_BADMEM",
		[UMBRA_LOAD_INVALID_MODE] = "LOAD_INVALID_MODE",
	};
	return load < sizeof(names) / sizeof(names[0]) ? names[load]
						       : "(bad load status)";
}

const char *wt_ec_string(uint32_t ec)
{
	/* Rotating buffers: one message may render two error codes. */
	static char bufs[4][64];
	static unsigned next;
	static const struct {
		uint32_t bit;
		const char *name;
	} bits[] = {
		{ X86_PFEC_P, "P" }, { X86_PFEC_W, "W" }, { X86_PFEC_U, "U" },
		{ X86_PFEC_RSVD, "RSVD" }, { X86_PFEC_ID, "I/D" },
		{ X86_PFEC_PK, "PK" },
	};
	char *buf = bufs[next++ % 4];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (ec & bits[i].bit)
			len += (size_t)snprintf(buf + len, sizeof(bufs[0]) - len,
						"%s%s", len ? "|" : "",
						bits[i].name);
	if (!len)
		snprintf(buf, sizeof(bufs[0]), "0");
	return buf;
}

static uint64_t default_va(enum umbra_mode mode)
{
	switch (mode) {
	case UMBRA_MODE_LONG4: return WT_VA_LONG4;
	case UMBRA_MODE_LONG5: return WT_VA_LONG5;
	default: return WT_VA_32;
	}
}

static uint64_t default_frame(enum umbra_mode mode, unsigned leaf)
{
	switch (leaf) {
	case 1: return WT_FRAME_4K;
	case 2: return mode == UMBRA_MODE_32 ? WT_FRAME_4M : WT_FRAME_2M;
	default: return WT_FRAME_1G;
	}
}

/* Entries the walk read or should have read: levels top..last. */
static void check_entries(const struct wt_case *c, const struct wt_env *e,
			  const struct umbra_walk_result *res, unsigned last)
{
	enum umbra_mode mode = (enum umbra_mode)c->mode;

	for (unsigned l = wt_top_level(mode); l >= last && l > 0; l--) {
		char what[48];

		snprintf(what, sizeof(what), "entry[%u].gpa", l);
		WT_EQ(c->rule, what, res->entry[l].gpa, e->entry_gpa[l]);
		snprintf(what, sizeof(what), "entry[%u].val", l);
		WT_EQ(c->rule, what, res->entry[l].val, e->entry_val[l]);
	}
}

void wt_run_case(const struct wt_case *c)
{
	enum umbra_mode mode = (enum umbra_mode)c->mode;
	unsigned leaf = c->leaf ? c->leaf : 1;
	unsigned stop = c->stop ? c->stop : leaf;
	unsigned top = wt_top_level(mode);
	unsigned size = wt_entry_size(mode);
	uint64_t va = c->va ? c->va : default_va(mode);
	uint64_t frame = c->frame ? c->frame : default_frame(mode, leaf);
	uint64_t want[UMBRA_LEVELS_MAX + 1] = { 0 };
	unsigned n_want = 0, seen = 0;
	struct umbra_walk_result res;
	struct umbra_access acc;
	struct wt_env e;
	enum umbra_load_status load;

	wt_begin(&e, mode);
	e.regs.cr4 |= c->cr4;
	e.regs.efer |= c->efer;
	if (c->wp_off)
		e.regs.cr0 &= ~X86_CR0_WP;
	e.regs.pkru = c->pkru;
	if (c->maxphyaddr)
		e.caps.maxphyaddr = c->maxphyaddr;
	e.caps.gbpages = !c->no_gbpages;
	e.caps.pse36 = !c->no_pse36;
	if (top)
		wt_map(&e, va, leaf, frame, c->set, c->clr);

	load = wt_init(&e);
	if (load != c->load)
		WT_FAIL(c->rule, "umbra_walk_init: got %s, expected %s",
			wt_load_name(load), wt_load_name(c->load));
	if (load != UMBRA_LOAD_OK)
		return;

	acc = wt_access(va, c->kind, c->cpl);
	acc.ac = c->ac;
	acc.implicit_supervisor = c->implicit;
	acc.stack = c->stack;

	memcpy(g_snapshot, e.mem->bytes, WT_MEM_SIZE);
	memset(&res, 0xa5, sizeof(res)); /* no field may be left stale */
	umbra_walk(&e.w, &acc, &res);
	if (memcmp(g_snapshot, e.mem->bytes, WT_MEM_SIZE) != 0 ||
	    e.mem->writes != 0)
		WT_FAIL(c->rule, "%s", "umbra_walk wrote guest memory");

	if (res.status != c->status)
		WT_FAIL(c->rule, "status: got %s (error code %s), expected %s",
			wt_status_name(res.status),
			res.status == UMBRA_WALK_PF ? wt_ec_string(res.error_code)
						    : "-",
			wt_status_name(c->status));
	WT_EQ(c->rule, "result mode", res.mode, mode);

	switch (res.status) {
	case UMBRA_WALK_OK: {
		unsigned shift = top ? wt_page_shift(mode, leaf) : 0;
		uint64_t lin = wt_linear(mode, va);
		uint64_t gpa = top ? frame | (lin & ((1ull << shift) - 1)) : lin;

		WT_EQ(c->rule, "translation gpa", res.gpa, gpa);
		WT_EQ(c->rule, "top_level", res.top_level, top);
		if (top) {
			WT_EQ(c->rule, "page_shift", res.page_shift, shift);
			WT_EQ(c->rule, "leaf level", res.level, leaf);
			check_entries(c, &e, &res, leaf);
		}
		if (c->check_perm)
			WT_EQ(c->rule, "perm (W=1,U=2,X=4)", res.perm, c->perm);
		if (c->check_pkey)
			WT_EQ(c->rule, "pkey", res.pkey, c->pkey);
		break;
	}
	case UMBRA_WALK_PF:
		if (res.error_code != c->ec)
			WT_FAIL(c->rule, "error code: got %#x (%s), expected %#x (%s)",
				res.error_code, wt_ec_string(res.error_code),
				c->ec, wt_ec_string(c->ec));
		WT_EQ(c->rule, "fault_addr (CR2)", res.fault_addr,
		      wt_linear(mode, va));
		WT_EQ(c->rule, "level where the walk stopped", res.level, stop);
		WT_EQ(c->rule, "top_level", res.top_level, top);
		check_entries(c, &e, &res, stop);
		break;
	default:
		break;
	}

	/* The A/D bits the CPU would set (paging-rules.md "Accessed and
	 * dirty bits"); a PAE PDPTE register has none. */
	for (unsigned l = top; l >= leaf && l > 0; l--) {
		want[l] = e.entry_val[l];
		if (mode == UMBRA_MODE_PAE && l == 3)
			continue;
		if (res.status == UMBRA_WALK_OK) {
			want[l] |= X86_PTE_A;
			if (l == leaf && c->kind == WT_WRITE)
				want[l] |= X86_PTE_D;
		} else if (res.status == UMBRA_WALK_PF && l > stop) {
			want[l] |= X86_PTE_A;
		}
		if (want[l] != e.entry_val[l])
			n_want++;
	}
	if (res.status == UMBRA_WALK_BADMEM)
		return; /* A/D of a BADMEM walk are the embedder's business */

	WT_EQ(c->rule, "n_updates", res.n_updates, n_want);
	for (unsigned i = 0; i < res.n_updates && i < UMBRA_LEVELS_MAX; i++) {
		const struct umbra_ad_update *u = &res.update[i];
		unsigned l = u->level;

		if (l < leaf || l > top || (seen & (1u << l)))
			WT_FAIL(c->rule, "update[%u] has level %u", i, l);
		seen |= 1u << l;
		WT_EQ(c->rule, "update gpa", u->gpa, e.entry_gpa[l]);
		WT_EQ(c->rule, "update old_val", u->old_val, e.entry_val[l]);
		WT_EQ(c->rule, "update new_val", u->new_val, want[l]);
		WT_EQ(c->rule, "update size", u->size, size);
	}

	if (!umbra_walk_commit(&e.w, &res))
		WT_FAIL(c->rule, "%s", "umbra_walk_commit failed on unchanged memory");
	WT_EQ(c->rule, "cmpxchg stores by commit", e.mem->writes, n_want);
	for (unsigned l = top; l >= leaf && l > 0; l--) {
		char what[48];

		snprintf(what, sizeof(what), "level-%u entry after commit", l);
		WT_EQ(c->rule, what, wt_peek(&e, e.entry_gpa[l]), want[l]);
		memcpy(g_snapshot + e.entry_gpa[l], &want[l], size);
	}
	if (memcmp(g_snapshot, e.mem->bytes, WT_MEM_SIZE) != 0)
		WT_FAIL(c->rule, "%s", "commit wrote outside the walked entries");
}

void wt_run_table(const struct wt_case *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wt_run_case(&rows[i]);
}
