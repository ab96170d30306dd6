/*
 * Access handlers through the shadow engine: physical handlers (ALL and
 * WRITE over guest-physical ranges, in RAM and over MMIO) and virtual
 * handlers (per address space and for all spaces), registered and removed
 * while the guest runs.
 *
 * The harness runs every access on its "hardware" walk of the shadow
 * tables, so a stale leaf that bypasses a handler shows up as an access
 * that completed without the callback; it also checks every access against
 * the guest's own tables and runs the audit (with the handler part) after
 * each one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "guestpt.h"
#include "harness.h"
#include "rng.h"
#include "umbra/stats.h"
#include "umbra/x86.h"

#define GUEST_MB    16
#define POOL_PAGES  96
#define TEST_VA     0x40000000ull  /* 1 GiB: its own top-level entry */
#define DATA_GPA    0x800000ull    /* data frames from 8 MiB */
#define PAGES       16
#define PAGE        X86_PAGE_SIZE_4K
#define LEAF_FLAGS  (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A | X86_PTE_D)
#define MMIO_GPA    0xFEC00000ull
#define MMIO_SIZE   0x200000ull

/* ---- a recording handler ------------------------------------------------- */

struct rec {
	unsigned calls;
	const struct umbra_handler *h;
	uint64_t addr;
	unsigned size;
	int kind;
	uint64_t written;   /* the last write's value */
	uint64_t reply;     /* what reads return */
	/* Optional: deregister this handler from inside the callback. */
	struct umbra_mmu *mmu;
	struct umbra_handler *remove;
	bool remove_virt;
};

static void record(void *ctx, const struct umbra_handler *h, uint64_t addr,
		   unsigned size, enum umbra_access_kind kind, uint64_t *value)
{
	struct rec *r = ctx;

	r->calls++;
	r->h = h;
	r->addr = addr;
	r->size = size;
	r->kind = kind;
	if (kind == UMBRA_ACCESS_WRITE)
		r->written = *value;
	else
		*value = r->reply;
	if (r->remove) {
		enum umbra_status st =
			r->remove_virt
				? umbra_virt_handler_deregister(r->mmu, r->remove)
				: umbra_phys_handler_deregister(r->mmu, r->remove);

		assert_int_equal(st, UMBRA_OK);
		r->remove = NULL;
	}
}

static void handler_init(struct umbra_handler *h, enum umbra_handler_kind kind,
			 struct rec *r)
{
	memset(h, 0, sizeof(*h));
	h->kind = (uint8_t)kind;
	h->fn = record;
	h->ctx = r;
}

/* ---- a guest with a few pages mapped ------------------------------------- */

struct world {
	struct hw hw;
	struct gpt g;
	enum umbra_mode mode;
};

static uint64_t va_of(const struct world *w, unsigned i)
{
	return (w->mode == UMBRA_MODE_NONE ? DATA_GPA : TEST_VA) +
	       (uint64_t)i * PAGE;
}

static uint64_t gpa_of(unsigned i)
{
	return DATA_GPA + (uint64_t)i * PAGE;
}

static void load(struct world *w, struct gpt *g)
{
	struct umbra_paging_regs regs = gpt_regs(g, X86_CR0_WP, 0, 0);

	assert_int_equal(hw_set_paging(&w->hw, &regs, UMBRA_WROTE_ALL), UMBRA_OK);
}

/* PAGES pages at va_of(i) -> gpa_of(i), writable, user, accessed, dirty. */
static void world_init(struct world *w, enum umbra_mode mode)
{
	unsigned i;

	hw_init(&w->hw, GUEST_MB, POOL_PAGES);
	w->mode = mode;
	if (mode == UMBRA_MODE_NONE)
		return;
	gpt_init(&w->g, &w->hw, mode);
	for (i = 0; i < PAGES; i++)
		gpt_set_raw(&w->g, va_of(w, i), 1, gpa_of(i) | LEAF_FLAGS);
	load(w, &w->g);
}

static struct hw_result access_sized(struct world *w, uint64_t va,
				     uint8_t kind, unsigned size,
				     uint64_t value)
{
	struct umbra_access a = { .va = va, .kind = kind, .cpl = 0 };
	struct hw_result r = hw_access(&w->hw, &a, size, value);

	if (r.outcome == HW_BROKEN)
		fail_msg("access %#llx kind %u (%s): %s",
			 (unsigned long long)va, kind,
			 umbra_mode_name(w->mode), w->hw.last_problem);
	return r;
}

static struct hw_result access(struct world *w, uint64_t va, uint8_t kind,
			       uint64_t value)
{
	return access_sized(w, va, kind, 8, value);
}

static uint64_t stat(struct world *w, enum umbra_counter_id c)
{
	return umbra_mmu_stats(w->hw.mmu)->counter[c];
}

static const enum umbra_mode all_modes[] = {
	UMBRA_MODE_NONE, UMBRA_MODE_32, UMBRA_MODE_PAE, UMBRA_MODE_LONG4,
	UMBRA_MODE_LONG5,
};
#define N_MODES (sizeof(all_modes) / sizeof(all_modes[0]))

/* ---- physical handlers ----------------------------------------------------- */

static void phys_all_claims_every_access(enum umbra_mode mode)
{
	struct world w;
	struct umbra_handler h;
	struct rec rec = { .reply = 0x1122334455667788ull };
	struct hw_result r;
	unsigned round;

	world_init(&w, mode);
	hw_gwrite_raw(&w.hw, gpa_of(3), 8, 0xAAAA);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h, gpa_of(3),
						     PAGE),
			 UMBRA_OK);
	for (round = 0; round < 2; round++) {
		/* Never mapped: every access exits, every time. */
		r = access(&w, va_of(&w, 3) + 0x10, UMBRA_ACCESS_READ, 0);
		assert_int_equal(r.outcome, HW_HANDLER);
		assert_ptr_equal(r.handler, &h);
		assert_true(r.hw_faults >= 1);
		assert_int_equal(r.addr, gpa_of(3) + 0x10);
		assert_int_equal(r.value, rec.reply);
		assert_int_equal(rec.kind, UMBRA_ACCESS_READ);
		assert_int_equal(rec.size, 8);

		r = access(&w, va_of(&w, 3) + 0x20, UMBRA_ACCESS_WRITE, 0x5555);
		assert_int_equal(r.outcome, HW_HANDLER);
		assert_int_equal(rec.written, 0x5555);
		assert_int_equal(rec.addr, gpa_of(3) + 0x20);
		assert_int_equal(hw_gread(&w.hw, gpa_of(3) + 0x20, 8), 0);

		r = access(&w, va_of(&w, 3), UMBRA_ACCESS_FETCH, 0);
		assert_int_equal(r.outcome, HW_HANDLER);
		assert_int_equal(rec.kind, UMBRA_ACCESS_FETCH);
	}
	assert_int_equal(rec.calls, 6);
	assert_int_equal(stat(&w, UMBRA_CTR_fault_handler), 6);
	assert_int_equal(hw_gread(&w.hw, gpa_of(3), 8), 0xAAAA);
	/* The neighbours are plain memory. */
	r = access(&w, va_of(&w, 4), UMBRA_ACCESS_WRITE, 7);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(4), 8), 7);
	assert_int_equal(rec.calls, 6);
	assert_true(hw_audit(&w.hw));
	hw_fini(&w.hw);
}

static void test_phys_all_handler_claims_reads_writes_and_fetches(void **state)
{
	size_t m;

	(void)state;
	for (m = 0; m < N_MODES; m++)
		phys_all_claims_every_access(all_modes[m]);
}

static void test_phys_write_handler_lets_reads_through_without_exits(void **state)
{
	struct world w;
	struct umbra_handler h;
	struct rec rec = { .reply = 0 };
	struct hw_result r;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	hw_gwrite_raw(&w.hw, gpa_of(2), 8, 0xBEEF);
	handler_init(&h, UMBRA_HANDLER_WRITE, &rec);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h, gpa_of(2),
						     PAGE),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.value, 0xBEEF);
	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.hw_faults, 0); /* mapped read-only: no exit */

	r = access(&w, va_of(&w, 2) + 8, UMBRA_ACCESS_WRITE, 0x77);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_ptr_equal(r.handler, &h);
	assert_int_equal(rec.written, 0x77);
	assert_int_equal(hw_gread(&w.hw, gpa_of(2) + 8, 8), 0);
	r = access(&w, va_of(&w, 2) + 16, UMBRA_ACCESS_WRITE, 0x78);
	assert_int_equal(r.outcome, HW_HANDLER); /* every write */
	assert_int_equal(rec.calls, 2);

	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.hw_faults, 0);
	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_FETCH, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.hw_faults, 0);
	assert_int_equal(rec.calls, 2);
	hw_fini(&w.hw);
}

static void test_registering_over_mapped_frames_invalidates_their_leaves(void **state)
{
	struct world w;
	struct umbra_handler all, wr;
	struct rec rec = { .reply = 0 };
	struct hw_result r;
	uint64_t flushes;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	/* Map pages 5 and 6 writable, and page 5 twice more: through an
	 * alias va in another page table. */
	gpt_set_raw(&w.g, TEST_VA + 0x200000, 1, gpa_of(5) | LEAF_FLAGS);
	r = access(&w, va_of(&w, 5), UMBRA_ACCESS_WRITE, 1);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, TEST_VA + 0x200000, UMBRA_ACCESS_WRITE, 2);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, va_of(&w, 6), UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, va_of(&w, 6), UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.hw_faults, 0); /* writable leaf in place */

	flushes = w.hw.flush_all;
	handler_init(&all, UMBRA_HANDLER_ALL, &rec);
	handler_init(&wr, UMBRA_HANDLER_WRITE, &rec);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &all, gpa_of(5),
						     PAGE),
			 UMBRA_OK);
	assert_true(w.hw.flush_all > flushes); /* the TLB may hold them */
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &wr, gpa_of(6),
						     PAGE),
			 UMBRA_OK);
	/* Not the stale mappings: the handlers. */
	r = access(&w, va_of(&w, 5), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_ptr_equal(r.handler, &all);
	r = access(&w, TEST_VA + 0x200000, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_ptr_equal(r.handler, &all);
	r = access(&w, va_of(&w, 6), UMBRA_ACCESS_WRITE, 9);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_ptr_equal(r.handler, &wr);
	assert_int_equal(hw_gread(&w.hw, gpa_of(6), 8), 3);
	/* The write-protected leaf still serves reads. */
	r = access(&w, va_of(&w, 6), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.hw_faults, 0);
	assert_int_equal(r.value, 3);
	assert_int_equal(rec.calls, 3);
	hw_fini(&w.hw);
}

static void test_deregistering_restores_normal_mapping(void **state)
{
	struct world w;
	struct umbra_handler all, wr;
	struct rec rec = { .reply = 0 };
	struct hw_result r;

	(void)state;
	world_init(&w, UMBRA_MODE_PAE);
	handler_init(&all, UMBRA_HANDLER_ALL, &rec);
	handler_init(&wr, UMBRA_HANDLER_WRITE, &rec);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &all, gpa_of(1),
						     PAGE),
			 UMBRA_OK);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &wr, gpa_of(2),
						     2 * PAGE),
			 UMBRA_OK);
	assert_int_equal(access(&w, va_of(&w, 1), UMBRA_ACCESS_WRITE, 1).outcome,
			 HW_HANDLER);
	assert_int_equal(access(&w, va_of(&w, 3), UMBRA_ACCESS_WRITE, 1).outcome,
			 HW_HANDLER);
	assert_int_equal(umbra_phys_handler_deregister(w.hw.mmu, &all), UMBRA_OK);
	assert_int_equal(umbra_phys_handler_deregister(w.hw.mmu, &wr), UMBRA_OK);
	assert_int_equal(umbra_phys_handler_deregister(w.hw.mmu, &wr),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_mmu_stats(w.hw.mmu)->gauge[UMBRA_GAUGE_handlers].value,
			 0);

	r = access(&w, va_of(&w, 1), UMBRA_ACCESS_WRITE, 0x11);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(1), 8), 0x11);
	r = access(&w, va_of(&w, 1), UMBRA_ACCESS_WRITE, 0x12);
	assert_int_equal(r.hw_faults, 0);
	r = access(&w, va_of(&w, 3), UMBRA_ACCESS_WRITE, 0x13);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, va_of(&w, 3), UMBRA_ACCESS_WRITE, 0x14);
	assert_int_equal(r.hw_faults, 0);
	assert_int_equal(hw_gread(&w.hw, gpa_of(3), 8), 0x14);
	assert_int_equal(rec.calls, 2);
	hw_fini(&w.hw);
}

static void test_overlapping_registration_is_refused(void **state)
{
	struct world w;
	struct umbra_handler a, b, c, d, e;
	struct rec rec = { .reply = 0 };
	struct umbra_mmu *mmu;
	const uint64_t space = 0x100000;

	(void)state;
	world_init(&w, UMBRA_MODE_NONE);
	mmu = w.hw.mmu;
	handler_init(&a, UMBRA_HANDLER_ALL, &rec);
	handler_init(&b, UMBRA_HANDLER_WRITE, &rec);
	handler_init(&c, UMBRA_HANDLER_WRITE, &rec);
	assert_int_equal(umbra_phys_handler_register(mmu, &a, 0x10000, 0x2000),
			 UMBRA_OK);
	assert_int_equal(umbra_phys_handler_register(mmu, &b, 0x11000, 0x10),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_phys_handler_register(mmu, &b, 0xF000, 0x1001),
			 UMBRA_ERR_INVALID);
	assert_false(b.registered);
	/* Touching ranges are fine, and so are two in one page. */
	assert_int_equal(umbra_phys_handler_register(mmu, &b, 0x12000, 0x10),
			 UMBRA_OK);
	assert_int_equal(umbra_phys_handler_register(mmu, &c, 0x12010, 0x10),
			 UMBRA_OK);
	/* Already registered, empty, wrapping, malformed. */
	assert_int_equal(umbra_phys_handler_register(mmu, &a, 0x40000, 0x10),
			 UMBRA_ERR_INVALID);
	handler_init(&d, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(umbra_phys_handler_register(mmu, &d, 0x50000, 0),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_phys_handler_register(mmu, &d, UINT64_MAX - 0xF,
						     0x20),
			 UMBRA_ERR_INVALID);
	d.fn = NULL;
	assert_int_equal(umbra_phys_handler_register(mmu, &d, 0x50000, 0x10),
			 UMBRA_ERR_INVALID);
	handler_init(&d, UMBRA_HANDLER_ALL, &rec);
	/* A virtual handler may cover the same numbers: another space. */
	assert_int_equal(umbra_virt_handler_register(mmu, &d, space, 0x10000,
						     0x1000),
			 UMBRA_OK);
	/* Virtual: one space, or all spaces against any space, never
	 * overlap; different spaces may. */
	handler_init(&e, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(umbra_virt_handler_register(mmu, &e, space, 0x10800,
						     0x1000),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_virt_handler_register(
				 mmu, &e, UMBRA_HANDLER_ALL_SPACES, 0x10800,
				 0x1000),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_virt_handler_register(mmu, &e, space + PAGE,
						     0x10800, 0x1000),
			 UMBRA_OK);
	assert_int_equal(umbra_virt_handler_deregister(mmu, &e), UMBRA_OK);
	assert_int_equal(umbra_virt_handler_register(
				 mmu, &e, UMBRA_HANDLER_ALL_SPACES, 0x20000,
				 0x1000),
			 UMBRA_OK);
	assert_int_equal(umbra_virt_handler_deregister(mmu, &d), UMBRA_OK);
	handler_init(&d, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(umbra_virt_handler_register(mmu, &d, space, 0x20FFF,
						     0x10),
			 UMBRA_ERR_INVALID);
	/* The wrong kind of deregistration. */
	assert_int_equal(umbra_phys_handler_deregister(mmu, &e),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_virt_handler_deregister(mmu, &a),
			 UMBRA_ERR_INVALID);
	assert_true(hw_audit(&w.hw));
	hw_fini(&w.hw);
}

static void test_too_many_address_spaces_is_refused(void **state)
{
	struct world w;
	struct umbra_handler h[UMBRA_MAX_HANDLER_SPACES + 1];
	struct rec rec = { .reply = 0 };
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_NONE);
	for (i = 0; i <= UMBRA_MAX_HANDLER_SPACES; i++) {
		handler_init(&h[i], UMBRA_HANDLER_ALL, &rec);
		assert_int_equal(umbra_virt_handler_register(
					 w.hw.mmu, &h[i], (uint64_t)(i + 1) * PAGE,
					 0x1000, 0x10),
				 i < UMBRA_MAX_HANDLER_SPACES ? UMBRA_OK
							      : UMBRA_ERR_FULL);
	}
	/* A freed space makes room. */
	assert_int_equal(umbra_virt_handler_deregister(w.hw.mmu, &h[3]),
			 UMBRA_OK);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h[i - 1],
						     0x999000, 0x1000, 0x10),
			 UMBRA_OK);
	assert_true(hw_audit(&w.hw));
	hw_fini(&w.hw);
}

/* A handler over part of a page: the rest of the page is emulated plainly
 * (memory semantics, no callback). */
static void test_partial_page_handler_claims_only_its_range(void **state)
{
	struct world w;
	struct umbra_handler h, h2;
	struct rec rec = { .reply = 0xCAFE }, rec2 = { .reply = 0xF00D };
	struct hw_result r;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	hw_gwrite_raw(&w.hw, gpa_of(7) + 0x800, 8, 0x1234);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	handler_init(&h2, UMBRA_HANDLER_WRITE, &rec2);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h,
						     gpa_of(7) + 0x100, 0x10),
			 UMBRA_OK);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h2,
						     gpa_of(7) + 0x200, 0x10),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 7) + 0x108, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_ptr_equal(r.handler, &h);
	assert_int_equal(r.value, 0xCAFE);
	r = access(&w, va_of(&w, 7) + 0x200, UMBRA_ACCESS_WRITE, 5);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_ptr_equal(r.handler, &h2);
	/* Reading h2's range: not claimed by h2, but the page is h's. */
	r = access(&w, va_of(&w, 7) + 0x200, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, va_of(&w, 7) + 0x800, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.value, 0x1234);
	r = access(&w, va_of(&w, 7) + 0x808, UMBRA_ACCESS_WRITE, 0x4321);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(7) + 0x808, 8), 0x4321);
	assert_int_equal(w.hw.plain, 3);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec2.calls, 1);
	/* Without h, the page is h2's alone: reads map, writes outside h2's
	 * range are plain. */
	assert_int_equal(umbra_phys_handler_deregister(w.hw.mmu, &h), UMBRA_OK);
	r = access(&w, va_of(&w, 7) + 0x800, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, va_of(&w, 7) + 0x800, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.hw_faults, 0);
	r = access(&w, va_of(&w, 7) + 0x810, UMBRA_ACCESS_WRITE, 0x99);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(7) + 0x810, 8), 0x99);
	assert_int_equal(w.hw.plain, 4);
	hw_fini(&w.hw);
}

static void test_phys_handler_over_mmio_slot(void **state)
{
	struct world w;
	struct umbra_handler h;
	struct rec rec = { .reply = 0xFEE };
	struct hw_result r;

	(void)state;
	world_init(&w, UMBRA_MODE_NONE);
	assert_int_equal(umbra_slot_add(w.hw.mmu, MMIO_GPA, MMIO_SIZE, 0,
					UMBRA_SLOT_MMIO),
			 UMBRA_OK);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	r = access(&w, MMIO_GPA + 0x20, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_MMIO);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h,
						     MMIO_GPA, 0x400),
			 UMBRA_OK);
	r = access_sized(&w, MMIO_GPA + 0x20, UMBRA_ACCESS_READ, 4, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_int_equal(r.value, 0xFEE);
	assert_int_equal(rec.size, 4);
	r = access_sized(&w, MMIO_GPA + 0x30, UMBRA_ACCESS_WRITE, 4, 0xAB);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_int_equal(rec.written, 0xAB);
	/* The rest of the MMIO slot is the embedder's as before. */
	r = access(&w, MMIO_GPA + 0x800, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_MMIO);
	/* A handler over memory in no slot at all. */
	assert_int_equal(umbra_phys_handler_deregister(w.hw.mmu, &h), UMBRA_OK);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h, 0x40000000,
						     PAGE),
			 UMBRA_OK);
	r = access(&w, 0x40000008, UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_int_equal(rec.calls, 3);
	hw_fini(&w.hw);
}

/* Handlers registered before a slot is added apply to its frames. */
static void test_phys_handler_applies_to_slots_added_later(void **state)
{
	struct world w;
	struct umbra_handler h;
	struct rec rec = { .reply = 0 };
	struct hw_result r;

	(void)state;
	world_init(&w, UMBRA_MODE_NONE);
	handler_init(&h, UMBRA_HANDLER_WRITE, &rec);
	assert_int_equal(umbra_slot_remove(w.hw.mmu, 0), UMBRA_OK);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h, gpa_of(1),
						     PAGE),
			 UMBRA_OK);
	assert_int_equal(umbra_slot_add(w.hw.mmu, 0, w.hw.guest_size,
					w.hw.guest_hpa, UMBRA_SLOT_RAM),
			 UMBRA_OK);
	r = access(&w, gpa_of(1), UMBRA_ACCESS_WRITE, 1);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = access(&w, gpa_of(1), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	hw_fini(&w.hw);
}

/* A callback may remove its own handler; the guest goes on at once. */
static void test_handler_may_deregister_itself_from_its_callback(void **state)
{
	struct world w;
	struct umbra_handler h, v;
	struct rec rec = { .reply = 0 }, vrec = { .reply = 0 };
	struct hw_result r;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	rec.mmu = w.hw.mmu;
	rec.remove = &h;
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h, gpa_of(0),
						     PAGE),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 0), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_false(h.registered);
	r = access(&w, va_of(&w, 0), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);

	handler_init(&v, UMBRA_HANDLER_WRITE, &vrec);
	vrec.mmu = w.hw.mmu;
	vrec.remove = &v;
	vrec.remove_virt = true;
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &v,
						     gpt_cr3(&w.g),
						     va_of(&w, 1), 8),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 1), UMBRA_ACCESS_WRITE, 4);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = access(&w, va_of(&w, 1), UMBRA_ACCESS_WRITE, 5);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(1), 8), 5);
	assert_int_equal(rec.calls + vrec.calls, 2);
	hw_fini(&w.hw);
}

static void test_invoke_checks_its_arguments(void **state)
{
	struct world w;
	struct umbra_handler h, other;
	struct rec rec = { .reply = 0x42 };
	uint64_t value = 0x99;

	(void)state;
	world_init(&w, UMBRA_MODE_NONE);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	handler_init(&other, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(umbra_phys_handler_register(w.hw.mmu, &h, 0x10000,
						     0x10),
			 UMBRA_OK);
	assert_int_equal(umbra_handler_invoke(w.hw.mmu, &other, 0x10000, 4,
					      UMBRA_ACCESS_READ, &value),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_handler_invoke(w.hw.mmu, &h, 0x10010, 4,
					      UMBRA_ACCESS_READ, &value),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_handler_invoke(w.hw.mmu, &h, 0x10000, 16,
					      UMBRA_ACCESS_READ, &value),
			 UMBRA_ERR_INVALID);
	assert_int_equal(rec.calls, 0);
	/* Straddling the start is an access to the range. */
	assert_int_equal(umbra_handler_invoke(w.hw.mmu, &h, 0xFFFE, 4,
					      UMBRA_ACCESS_READ, &value),
			 UMBRA_OK);
	assert_int_equal(value, 0x42);
	value = 7;
	assert_int_equal(umbra_handler_invoke(w.hw.mmu, &h, 0x1000C, 4,
					      UMBRA_ACCESS_WRITE, &value),
			 UMBRA_OK);
	assert_int_equal(rec.written, 7);
	hw_fini(&w.hw);
}

/* ---- virtual handlers -------------------------------------------------------- */

/* A second address space next to w->g: its own top-level table and its own
 * page tables for the test pages, mapping them to other frames
 * (gpa_of(PAGES + i)), unless `share` asks for w->g's page table. */
static void second_space(struct world *w, struct gpt *g2, bool share)
{
	unsigned i;

	gpt_init(g2, &w->hw, w->mode);
	if (share) {
		gpt_set_raw(g2, TEST_VA, 2,
			    hw_gread(&w->hw, gpt_entry_gpa(&w->g, TEST_VA, 2),
				     w->g.esize));
		return;
	}
	for (i = 0; i < PAGES; i++)
		gpt_set_raw(g2, va_of(w, i), 1, gpa_of(PAGES + i) | LEAF_FLAGS);
}

static void virt_per_space(enum umbra_mode mode)
{
	struct world w;
	struct gpt b;
	struct umbra_handler h;
	struct rec rec = { .reply = 0xB0B };
	struct hw_result r;

	world_init(&w, mode);
	second_space(&w, &b, false);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	/* Space A runs; the handler goes to B, not loaded yet. */
	assert_int_equal(access(&w, va_of(&w, 4), UMBRA_ACCESS_WRITE, 1).outcome,
			 HW_OK);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h, gpt_cr3(&b),
						     va_of(&w, 4) + 0x10, 0x20),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 4) + 0x10, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.hw_faults, 0); /* A keeps its mapping */

	load(&w, &b);
	r = access(&w, va_of(&w, 4) + 0x10, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_ptr_equal(r.handler, &h);
	assert_int_equal(r.addr, va_of(&w, 4) + 0x10);
	assert_int_equal(r.gpa, gpa_of(PAGES + 4) + 0x10);
	assert_int_equal(r.value, 0xB0B);
	r = access(&w, va_of(&w, 4) + 0x18, UMBRA_ACCESS_WRITE, 6);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_int_equal(rec.written, 6);
	r = access(&w, va_of(&w, 4) + 0x18, UMBRA_ACCESS_FETCH, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	/* The rest of B's page: plain; other pages: mapped. */
	r = access(&w, va_of(&w, 4) + 0x100, UMBRA_ACCESS_WRITE, 8);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(PAGES + 4) + 0x100, 8), 8);
	r = access(&w, va_of(&w, 5), UMBRA_ACCESS_WRITE, 8);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, va_of(&w, 5), UMBRA_ACCESS_WRITE, 8);
	assert_int_equal(r.hw_faults, 0);

	load(&w, &w.g);
	r = access(&w, va_of(&w, 4) + 0x10, UMBRA_ACCESS_WRITE, 2);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.hw_faults, 0);
	assert_int_equal(hw_gread(&w.hw, gpa_of(4) + 0x10, 8), 2);
	assert_int_equal(rec.calls, 3);

	/* Registered while its space runs: the current leaf goes at once. */
	assert_int_equal(umbra_virt_handler_deregister(w.hw.mmu, &h), UMBRA_OK);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h,
						     gpt_cr3(&w.g),
						     va_of(&w, 4), PAGE),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 4) + 0x10, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	load(&w, &b);
	r = access(&w, va_of(&w, 4) + 0x10, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(rec.calls, 4);
	hw_fini(&w.hw);
}

static void test_virt_handler_applies_to_its_address_space_only(void **state)
{
	(void)state;
	virt_per_space(UMBRA_MODE_32);
	virt_per_space(UMBRA_MODE_PAE);
	virt_per_space(UMBRA_MODE_LONG4);
	virt_per_space(UMBRA_MODE_LONG5);
}

/* Two spaces sharing one guest page table share its shadow table: the
 * handler of one must still see every access there, and the other's
 * accesses must still complete (plainly), never reaching the callback. */
static void virt_shared_table(enum umbra_mode mode)
{
	struct world w;
	struct gpt b;
	struct umbra_handler h;
	struct rec rec = { .reply = 0 };
	struct hw_result r;

	world_init(&w, mode);
	second_space(&w, &b, true);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(access(&w, va_of(&w, 2), UMBRA_ACCESS_WRITE, 1).outcome,
			 HW_OK);
	load(&w, &b);
	assert_int_equal(access(&w, va_of(&w, 2), UMBRA_ACCESS_WRITE, 2).outcome,
			 HW_OK);
	load(&w, &w.g);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h, gpt_cr3(&b),
						     va_of(&w, 2), PAGE),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(2), 8), 3);
	r = access(&w, va_of(&w, 3), UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.outcome, HW_OK);
	load(&w, &b);
	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = access(&w, va_of(&w, 3), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.value, 3);
	load(&w, &w.g);
	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.value, 3);
	assert_int_equal(rec.calls, 1);
	/* Removed: both spaces map the page again. */
	assert_int_equal(umbra_virt_handler_deregister(w.hw.mmu, &h), UMBRA_OK);
	access(&w, va_of(&w, 2), UMBRA_ACCESS_READ, 0);
	r = access(&w, va_of(&w, 2), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.hw_faults, 0);
	hw_fini(&w.hw);
}

static void test_virt_handler_holds_through_page_tables_shared_between_spaces(void **state)
{
	(void)state;
	virt_shared_table(UMBRA_MODE_32);
	virt_shared_table(UMBRA_MODE_PAE);
	virt_shared_table(UMBRA_MODE_LONG4);
	virt_shared_table(UMBRA_MODE_LONG5);
}

static void test_virt_handler_for_all_spaces(void **state)
{
	struct world w;
	struct gpt b;
	struct umbra_handler h;
	struct rec rec = { .reply = 0 };
	struct hw_result r;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	second_space(&w, &b, false);
	access(&w, va_of(&w, 9), UMBRA_ACCESS_WRITE, 1);
	handler_init(&h, UMBRA_HANDLER_WRITE, &rec);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h,
						     UMBRA_HANDLER_ALL_SPACES,
						     va_of(&w, 9), 2 * PAGE),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 9), UMBRA_ACCESS_WRITE, 2);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = access(&w, va_of(&w, 10) + 8, UMBRA_ACCESS_WRITE, 2);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = access(&w, va_of(&w, 9), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.value, 1);
	load(&w, &b);
	r = access(&w, va_of(&w, 10), UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_int_equal(r.gpa, gpa_of(PAGES + 10));
	r = access(&w, va_of(&w, 11), UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(rec.calls, 3);
	assert_int_equal(umbra_virt_handler_deregister(w.hw.mmu, &h), UMBRA_OK);
	r = access(&w, va_of(&w, 10), UMBRA_ACCESS_WRITE, 4);
	assert_int_equal(r.outcome, HW_OK);
	load(&w, &w.g);
	r = access(&w, va_of(&w, 9), UMBRA_ACCESS_WRITE, 4);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(hw_gread(&w.hw, gpa_of(9), 8), 4);
	/* With paging off, only all-spaces handlers apply, at va = gpa. */
	{
		struct umbra_paging_regs off = { .cr0 = X86_CR0_PE };
		struct umbra_handler per;

		assert_int_equal(hw_set_paging(&w.hw, &off, UMBRA_WROTE_ALL),
				 UMBRA_OK);
		w.mode = UMBRA_MODE_NONE;
		handler_init(&per, UMBRA_HANDLER_ALL, &rec);
		assert_int_equal(umbra_virt_handler_register(
					 w.hw.mmu, &per, 0, gpa_of(1), PAGE),
				 UMBRA_OK);
		assert_int_equal(umbra_virt_handler_register(
					 w.hw.mmu, &h, UMBRA_HANDLER_ALL_SPACES,
					 gpa_of(2), PAGE),
				 UMBRA_OK);
		r = access(&w, gpa_of(1), UMBRA_ACCESS_WRITE, 5);
		assert_int_equal(r.outcome, HW_OK);
		r = access(&w, gpa_of(2), UMBRA_ACCESS_WRITE, 5);
		assert_int_equal(r.outcome, HW_HANDLER);
		assert_int_equal(rec.calls, 4);
	}
	hw_fini(&w.hw);
}

/* The same page table reached twice in one space (two directory entries):
 * the handler covers one address, the alias must not bypass it. */
static void test_virt_handler_holds_against_aliases_in_its_space(void **state)
{
	struct world w;
	struct umbra_handler h;
	struct rec rec = { .reply = 0 };
	struct hw_result r;
	const uint64_t alias = TEST_VA + 0x200000;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	gpt_set_raw(&w.g, alias, 2,
		    hw_gread(&w.hw, gpt_entry_gpa(&w.g, TEST_VA, 2), 8));
	handler_init(&h, UMBRA_HANDLER_WRITE, &rec);
	/* The alias is mapped writable first. */
	assert_int_equal(access(&w, alias + 6 * PAGE, UMBRA_ACCESS_WRITE, 1).outcome,
			 HW_OK);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h,
						     gpt_cr3(&w.g),
						     va_of(&w, 6), PAGE),
			 UMBRA_OK);
	r = access(&w, va_of(&w, 6), UMBRA_ACCESS_WRITE, 2);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = access(&w, alias + 6 * PAGE, UMBRA_ACCESS_WRITE, 3);
	assert_int_equal(r.outcome, HW_OK); /* plain, through the engine */
	assert_int_equal(hw_gread(&w.hw, gpa_of(6), 8), 3);
	r = access(&w, va_of(&w, 6), UMBRA_ACCESS_WRITE, 4);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = access(&w, alias + 6 * PAGE, UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(r.value, 3);
	r = access(&w, va_of(&w, 6), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(rec.calls, 2);
	hw_fini(&w.hw);
}

/* Prefetch fills leaves when the guest writes its page tables: those must
 * obey virtual handlers too. */
static void test_virt_handler_holds_against_prefetched_leaves(void **state)
{
	struct world w;
	struct umbra_handler h;
	struct rec rec = { .reply = 0 };
	struct hw_result r;
	const uint64_t kmap = 0x200000; /* identity map of the tables */
	uint64_t va, pte_gpa;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	for (va = 0; va < kmap; va += PAGE)
		gpt_set_raw(&w.g, va, 1, va | LEAF_FLAGS);
	load(&w, &w.g);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(access(&w, va_of(&w, 1), UMBRA_ACCESS_READ, 0).outcome,
			 HW_OK);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h,
						     gpt_cr3(&w.g),
						     va_of(&w, 8), PAGE),
			 UMBRA_OK);
	/* The guest maps page 8 anew, through a store to its table. */
	pte_gpa = gpt_entry_gpa(&w.g, va_of(&w, 8), 1);
	assert_true(pte_gpa < kmap);
	r = access(&w, pte_gpa, UMBRA_ACCESS_WRITE, gpa_of(12) | LEAF_FLAGS);
	assert_int_equal(r.outcome, HW_OK);
	r = access(&w, va_of(&w, 8), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	assert_int_equal(r.gpa, gpa_of(12));
	hw_fini(&w.hw);
}

/* A fault on a guest large page builds a group of neighbouring leaves
 * (engine/fault.c, prefetch_direct): those must obey virtual handlers. */
static void test_virt_handler_holds_against_large_page_prefetch(void **state)
{
	struct world w;
	struct umbra_handler all, wr;
	struct rec rec = { .reply = 0 };
	const uint64_t big = TEST_VA + 0x200000;

	(void)state;
	world_init(&w, UMBRA_MODE_LONG4);
	gpt_set_raw(&w.g, big, 2, DATA_GPA | LEAF_FLAGS | X86_PTE_PS);
	load(&w, &w.g);
	handler_init(&all, UMBRA_HANDLER_ALL, &rec);
	handler_init(&wr, UMBRA_HANDLER_WRITE, &rec);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &all,
						     gpt_cr3(&w.g),
						     big + 3 * PAGE, PAGE),
			 UMBRA_OK);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &wr,
						     gpt_cr3(&w.g),
						     big + 5 * PAGE, PAGE),
			 UMBRA_OK);
	assert_int_equal(access(&w, big + 2 * PAGE, UMBRA_ACCESS_WRITE, 1).outcome,
			 HW_OK);
	assert_int_equal(access(&w, big + 3 * PAGE, UMBRA_ACCESS_READ, 0).outcome,
			 HW_HANDLER);
	assert_int_equal(access(&w, big + 5 * PAGE, UMBRA_ACCESS_READ, 0).outcome,
			 HW_OK);
	assert_int_equal(access(&w, big + 5 * PAGE, UMBRA_ACCESS_WRITE, 2).outcome,
			 HW_HANDLER);
	assert_int_equal(access(&w, big + 6 * PAGE, UMBRA_ACCESS_WRITE, 3).outcome,
			 HW_OK);
	assert_int_equal(rec.calls, 2);
	hw_fini(&w.hw);
}

/*
 * PAE: two PDPTs with the same four entries are two address spaces to the
 * embedder (two CR3 values), but one shadow to the engine: a CR3 load
 * between them keeps the roots.  The new space's handlers must hold at
 * once: engine/paging.c calls handlers_space_switched() when it keeps the
 * roots.
 */

static void test_virt_handler_holds_across_pae_cr3_loads_keeping_the_roots(void **state)
{
	struct world w;
	struct umbra_handler h;
	struct rec rec = { .reply = 0 };
	struct hw_result r;
	struct umbra_paging_regs regs;
	uint64_t copy;
	unsigned i;

	(void)state;
	world_init(&w, UMBRA_MODE_PAE);
	copy = hw_alloc_table(&w.hw);
	for (i = 0; i < 4; i++)
		hw_gwrite_raw(&w.hw, copy + 8 * i, 8,
			      hw_gread(&w.hw, gpt_cr3(&w.g) + 8 * i, 8));
	assert_int_equal(access(&w, va_of(&w, 5), UMBRA_ACCESS_WRITE, 1).outcome,
			 HW_OK);
	handler_init(&h, UMBRA_HANDLER_ALL, &rec);
	assert_int_equal(umbra_virt_handler_register(w.hw.mmu, &h, copy,
						     va_of(&w, 5), PAGE),
			 UMBRA_OK);
	regs = gpt_regs(&w.g, X86_CR0_WP, 0, 0);
	regs.cr3 = copy;
	assert_int_equal(hw_set_paging(&w.hw, &regs, UMBRA_WROTE_CR3), UMBRA_OK);
	r = access(&w, va_of(&w, 5), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_HANDLER);
	load(&w, &w.g);
	r = access(&w, va_of(&w, 5), UMBRA_ACCESS_READ, 0);
	assert_int_equal(r.outcome, HW_OK);
	assert_int_equal(rec.calls, 1);
	hw_fini(&w.hw);
}

/* ---- registration and removal while the guest runs -------------------------- */

#define N_PHYS 5
#define N_VIRT 6
#define STEPS  1500


struct live {
	struct world w;
	struct gpt b;
	struct gpt *cur;
	struct umbra_handler phys[N_PHYS], virt[N_VIRT];
	struct rec rec;
	struct rng r;
	bool share; /* B uses A's page table for the test pages */
	uint64_t claimed, plain_or_mapped;
};

/* Where page `page` of the current space lives. */
static uint64_t live_gpa(const struct live *l, unsigned page)
{
	if (l->cur == &l->w.g || l->share || page % 2)
		return gpa_of(page);
	return gpa_of(PAGES + page);
}

static bool overlaps(const struct umbra_handler *h, uint64_t lo, uint64_t hi)
{
	return h->registered && h->node.start <= hi && lo <= h->node.last;
}

/* The handler that must claim an access, by the model. */
static const struct umbra_handler *expected_claim(struct live *l, uint64_t va,
						  uint64_t gpa, bool write)
{
	unsigned i;

	for (i = 0; i < N_VIRT; i++) {
		const struct umbra_handler *h = &l->virt[i];

		if (overlaps(h, va, va) &&
		    (h->space == UMBRA_HANDLER_ALL_SPACES ||
		     h->space == gpt_cr3(l->cur)) &&
		    (h->kind == UMBRA_HANDLER_ALL || write))
			return h;
	}
	for (i = 0; i < N_PHYS; i++) {
		const struct umbra_handler *h = &l->phys[i];

		if (overlaps(h, gpa, gpa) &&
		    (h->kind == UMBRA_HANDLER_ALL || write))
			return h;
	}
	return NULL;
}

/* A random range over the test pages: a few bytes, a page, or pages. */
static void random_range(struct live *l, uint64_t base, uint64_t *start,
			 uint64_t *size)
{
	const unsigned page = (unsigned)(rnd(&l->r) % PAGES);

	switch (rnd(&l->r) % 3) {
	case 0:
		*start = base + page * PAGE + (rnd(&l->r) % 64) * 64;
		*size = 8 + rnd(&l->r) % 256;
		break;
	case 1:
		*start = base + page * PAGE;
		*size = PAGE;
		break;
	default:
		*start = base + page * PAGE;
		*size = PAGE * (1 + rnd(&l->r) % 3);
		break;
	}
}

static void toggle_phys(struct live *l)
{
	struct umbra_handler *h = &l->phys[rnd(&l->r) % N_PHYS];
	uint64_t start, size;
	bool clash = false;
	unsigned i;

	if (h->registered) {
		assert_int_equal(umbra_phys_handler_deregister(l->w.hw.mmu, h),
				 UMBRA_OK);
		return;
	}
	random_range(l, DATA_GPA, &start, &size);
	for (i = 0; i < N_PHYS; i++)
		clash |= overlaps(&l->phys[i], start, start + size - 1);
	handler_init(h, rnd(&l->r) % 2 ? UMBRA_HANDLER_ALL : UMBRA_HANDLER_WRITE,
		     &l->rec);
	assert_int_equal(umbra_phys_handler_register(l->w.hw.mmu, h, start, size),
			 clash ? UMBRA_ERR_INVALID : UMBRA_OK);
}

static void toggle_virt(struct live *l)
{
	struct umbra_handler *h = &l->virt[rnd(&l->r) % N_VIRT];
	const uint64_t spaces[3] = {
		gpt_cr3(&l->w.g), gpt_cr3(&l->b), UMBRA_HANDLER_ALL_SPACES,
	};
	uint64_t start, size, space = spaces[rnd(&l->r) % 3];
	bool clash = false;
	unsigned i;

	if (h->registered) {
		assert_int_equal(umbra_virt_handler_deregister(l->w.hw.mmu, h),
				 UMBRA_OK);
		return;
	}
	random_range(l, va_of(&l->w, 0), &start, &size);
	for (i = 0; i < N_VIRT; i++)
		clash |= overlaps(&l->virt[i], start, start + size - 1) &&
			 (l->virt[i].space == space ||
			  l->virt[i].space == UMBRA_HANDLER_ALL_SPACES ||
			  space == UMBRA_HANDLER_ALL_SPACES);
	handler_init(h, rnd(&l->r) % 2 ? UMBRA_HANDLER_ALL : UMBRA_HANDLER_WRITE,
		     &l->rec);
	assert_int_equal(umbra_virt_handler_register(l->w.hw.mmu, h, space,
						     start, size),
			 clash ? UMBRA_ERR_INVALID : UMBRA_OK);
}

static void live_access(struct live *l)
{
	const unsigned page = (unsigned)(rnd(&l->r) % PAGES);
	const uint64_t off = (rnd(&l->r) % 512) * 8;
	const uint64_t va = va_of(&l->w, page) + off;
	const uint8_t kind = (uint8_t)(rnd(&l->r) % 3);
	const bool write = kind == UMBRA_ACCESS_WRITE;
	const uint64_t gpa = live_gpa(l, page) + off;
	const uint64_t value = rnd(&l->r), before = hw_gread(&l->w.hw, gpa, 8);
	const struct umbra_handler *want = expected_claim(l, va, gpa, write);
	const unsigned calls = l->rec.calls;
	struct hw_result r = access(&l->w, va, kind, value);

	assert_int_equal(r.gpa, gpa);
	if (want) {
		if (r.outcome != HW_HANDLER || r.handler != want)
			fail_msg("va %#llx gpa %#llx kind %u: expected handler "
				 "%p, got outcome %d handler %p",
				 (unsigned long long)va, (unsigned long long)gpa,
				 kind, (const void *)want, r.outcome,
				 (const void *)r.handler);
		assert_int_equal(l->rec.calls, calls + 1);
		assert_int_equal(hw_gread(&l->w.hw, gpa, 8), before);
		l->claimed++;
		return;
	}
	if (r.outcome != HW_OK)
		fail_msg("va %#llx gpa %#llx kind %u: no handler claims it, got "
			 "outcome %d", (unsigned long long)va,
			 (unsigned long long)gpa, kind, r.outcome);
	assert_int_equal(l->rec.calls, calls);
	if (write)
		assert_int_equal(hw_gread(&l->w.hw, gpa, 8), value);
	else
		assert_int_equal(r.value, before);
	l->plain_or_mapped++;
}

static void live_run(enum umbra_mode mode, uint64_t seed, bool share)
{
	struct live *l = calloc(1, sizeof(*l));
	unsigned step, i;

	assert_non_null(l);
	l->r.s = seed;
	l->share = share;
	world_init(&l->w, mode);
	/* Space B: either A's very page table (one shadow table for both
	 * spaces), or its own, mapping odd pages to A's frames and even
	 * pages to others. */
	l->cur = &l->b;
	if (share) {
		second_space(&l->w, &l->b, true);
	} else {
		gpt_init(&l->b, &l->w.hw, mode);
		for (i = 0; i < PAGES; i++)
			gpt_set_raw(&l->b, va_of(&l->w, i), 1,
				    live_gpa(l, i) | LEAF_FLAGS);
	}
	l->cur = &l->w.g;
	for (step = 0; step < STEPS; step++) {
		switch (rnd(&l->r) % 16) {
		case 0:
			toggle_phys(l);
			break;
		case 1:
		case 2:
			toggle_virt(l);
			break;
		case 3:
			l->cur = l->cur == &l->w.g ? &l->b : &l->w.g;
			load(&l->w, l->cur);
			break;
		default:
			live_access(l);
			break;
		}
	}
	print_message("%s%s: %llu claimed, %llu mapped or plain (%llu plain), "
		      "%llu exits\n", umbra_mode_name(mode),
		      share ? " (shared table)" : "",
		      (unsigned long long)l->claimed,
		      (unsigned long long)l->plain_or_mapped,
		      (unsigned long long)l->w.hw.plain,
		      (unsigned long long)l->w.hw.hw_faults);
	assert_true(l->claimed > 50);
	hw_fini(&l->w.hw);
	free(l);
}

static void test_handlers_registered_and_removed_while_the_guest_runs(void **state)
{
	(void)state;
	live_run(UMBRA_MODE_32, 0x1111, false);
	live_run(UMBRA_MODE_PAE, 0x2222, false);
	live_run(UMBRA_MODE_LONG4, 0x3333, false);
	live_run(UMBRA_MODE_LONG5, 0x4444, false);
	live_run(UMBRA_MODE_32, 0x5555, true);
	live_run(UMBRA_MODE_PAE, 0x6666, true);
	live_run(UMBRA_MODE_LONG4, 0x7777, true);
	live_run(UMBRA_MODE_LONG5, 0x8888, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phys_all_handler_claims_reads_writes_and_fetches),
		cmocka_unit_test(test_phys_write_handler_lets_reads_through_without_exits),
		cmocka_unit_test(test_registering_over_mapped_frames_invalidates_their_leaves),
		cmocka_unit_test(test_deregistering_restores_normal_mapping),
		cmocka_unit_test(test_overlapping_registration_is_refused),
		cmocka_unit_test(test_too_many_address_spaces_is_refused),
		cmocka_unit_test(test_partial_page_handler_claims_only_its_range),
		cmocka_unit_test(test_phys_handler_over_mmio_slot),
		cmocka_unit_test(test_phys_handler_applies_to_slots_added_later),
		cmocka_unit_test(test_handler_may_deregister_itself_from_its_callback),
		cmocka_unit_test(test_invoke_checks_its_arguments),
		cmocka_unit_test(test_virt_handler_applies_to_its_address_space_only),
		cmocka_unit_test(test_virt_handler_holds_through_page_tables_shared_between_spaces),
		cmocka_unit_test(test_virt_handler_for_all_spaces),
		cmocka_unit_test(test_virt_handler_holds_against_aliases_in_its_space),
		cmocka_unit_test(test_virt_handler_holds_against_prefetched_leaves),
		cmocka_unit_test(test_virt_handler_holds_against_large_page_prefetch),
		cmocka_unit_test(test_virt_handler_holds_across_pae_cr3_loads_keeping_the_roots),
		cmocka_unit_test(test_handlers_registered_and_removed_while_the_guest_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
