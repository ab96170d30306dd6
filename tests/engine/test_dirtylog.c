/*
 * The dirty log through the shadow engine: which frames of a RAM slot the
 * guest wrote since the last fetch.  The harness's "hardware" writes only
 * through writable shadow leaves, so a leaf left writable for a clean
 * frame shows up as a write the log missed; the audit (with its handler
 * and dirty-log part) runs after every access.
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
#include "rng.h"
#include "umbra/stats.h"
#include "umbra/x86.h"

#define GUEST_MB   16
#define POOL_PAGES 96
#define PAGE       X86_PAGE_SIZE_4K
#define FRAMES     ((GUEST_MB << 20) / PAGE)
#define WORDS      (FRAMES / 64)
#define TEST_VA    0x40000000ull
#define DATA_GPA   0x800000ull
#define KERNEL_MAP 0x200000ull   /* identity map of the guest's tables */
#define LEAF_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A | X86_PTE_D)

struct log {
	uint64_t bits[WORDS];
};

static void check(struct hw *hw, struct hw_result r, uint64_t va)
{
	if (r.outcome == HW_BROKEN)
		fail_msg("access %#llx: %s", (unsigned long long)va,
			 hw->last_problem);
}

static struct hw_result do_write(struct hw *hw, uint64_t va, uint64_t value)
{
	struct umbra_access a = { .va = va, .kind = UMBRA_ACCESS_WRITE };
	struct hw_result r = hw_access(hw, &a, 8, value);

	check(hw, r, va);
	assert_int_equal(r.outcome, HW_OK);
	return r;
}

static struct hw_result do_read(struct hw *hw, uint64_t va, uint8_t kind)
{
	struct umbra_access a = { .va = va, .kind = kind };
	struct hw_result r = hw_access(hw, &a, 8, 0);

	check(hw, r, va);
	assert_int_equal(r.outcome, HW_OK);
	return r;
}

static void fetch(struct hw *hw, uint64_t slot_gpa, struct log *l)
{
	memset(l, 0xA5, sizeof(*l));
	assert_int_equal(umbra_dirty_log_fetch(hw->mmu, slot_gpa, l->bits, WORDS),
			 UMBRA_OK);
	assert_true(hw_audit(hw));
}

static bool is_dirty(const struct log *l, uint64_t frame)
{
	return (l->bits[frame / 64] >> (frame % 64)) & 1;
}

static unsigned count(const struct log *l)
{
	unsigned n = 0, w;

	for (w = 0; w < WORDS; w++)
		n += (unsigned)__builtin_popcountll(l->bits[w]);
	return n;
}

static uint64_t stat(struct hw *hw, enum umbra_counter_id c)
{
	return umbra_mmu_stats(hw->mmu)->counter[c];
}

static uint64_t frame_gpa(unsigned frame)
{
	return (uint64_t)frame * PAGE;
}

/* Writes set exactly the written frames' bits; reads and fetches set none;
 * frames mapped writable before logging started are caught too. */
static void test_writes_set_exactly_the_written_frames_bits(void **state)
{
	struct hw hw;
	struct log l;
	const unsigned written[] = { 5, 17, 300, 4095 };
	unsigned i;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES); /* paging off: va = gpa */
	do_write(&hw, frame_gpa(5), 1);        /* mapped writable already */
	do_write(&hw, frame_gpa(6), 1);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);
	assert_true(hw_audit(&hw));
	for (i = 0; i < 4; i++)
		assert_true(do_write(&hw, frame_gpa(written[i]) + 8 * i, i).hw_faults >= 1);
	do_write(&hw, frame_gpa(17) + 64, 2); /* again: already dirty */
	do_read(&hw, frame_gpa(6), UMBRA_ACCESS_READ);
	do_read(&hw, frame_gpa(7), UMBRA_ACCESS_READ);
	do_read(&hw, frame_gpa(400), UMBRA_ACCESS_FETCH);
	fetch(&hw, 0, &l);
	for (i = 0; i < 4; i++)
		assert_true(is_dirty(&l, written[i]));
	assert_int_equal(count(&l), 4);
	assert_int_equal(stat(&hw, UMBRA_CTR_dirty_log_faults), 4);
	hw_fini(&hw);
}

/* After a fetch the frames are clean again: the next write faults and is
 * logged again; frames not written stay clean. */
static void test_fetch_clears_the_log_and_protects_the_frames_again(void **state)
{
	struct hw hw;
	struct log l;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);
	do_write(&hw, frame_gpa(10), 1);
	do_write(&hw, frame_gpa(11), 1);
	assert_int_equal(do_write(&hw, frame_gpa(10), 2).hw_faults, 0);
	fetch(&hw, 0, &l);
	assert_int_equal(count(&l), 2);
	fetch(&hw, 0, &l);
	assert_int_equal(count(&l), 0);
	/* Reads of the fetched frames run without exits (read-only leaves). */
	assert_int_equal(do_read(&hw, frame_gpa(10), UMBRA_ACCESS_READ).hw_faults, 0);
	assert_true(do_write(&hw, frame_gpa(10), 3).hw_faults >= 1);
	assert_int_equal(do_write(&hw, frame_gpa(10), 4).hw_faults, 0);
	fetch(&hw, 0, &l);
	assert_true(is_dirty(&l, 10));
	assert_int_equal(count(&l), 1);
	assert_int_equal(hw_gread(&hw, frame_gpa(10), 8), 4);
	hw_fini(&hw);
}

/* Reads never dirty, even of pages the guest's tables say are dirty (whose
 * leaves would be writable without logging). */
static void test_reads_and_fetches_do_not_dirty(void **state)
{
	struct hw hw;
	struct gpt g;
	struct log l;
	struct umbra_paging_regs regs;
	unsigned i;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	gpt_init(&g, &hw, UMBRA_MODE_LONG4);
	for (i = 0; i < 32; i++)
		gpt_set_raw(&g, TEST_VA + i * PAGE, 1,
			    (DATA_GPA + i * PAGE) | LEAF_FLAGS);
	regs = gpt_regs(&g, X86_CR0_WP, 0, 0);
	assert_int_equal(hw_set_paging(&hw, &regs, UMBRA_WROTE_ALL), UMBRA_OK);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);
	for (i = 0; i < 32; i++)
		do_read(&hw, TEST_VA + i * PAGE, i % 2 ? UMBRA_ACCESS_READ
						    : UMBRA_ACCESS_FETCH);
	fetch(&hw, 0, &l);
	assert_int_equal(count(&l), 0);
	/* A write through a read-only leaf: one fault, then logged. */
	assert_true(do_write(&hw, TEST_VA + 3 * PAGE, 9).hw_faults >= 1);
	fetch(&hw, 0, &l);
	assert_true(is_dirty(&l, DATA_GPA / PAGE + 3));
	assert_int_equal(count(&l), 1);
	hw_fini(&hw);
}

/* Stopping leaves read-only leaves behind: each becomes writable again on
 * its first write, and then writes run without exits. */
static void test_stop_restores_writable_mappings(void **state)
{
	struct hw hw;
	struct log l;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);
	do_write(&hw, frame_gpa(20), 1);
	do_read(&hw, frame_gpa(21), UMBRA_ACCESS_READ);
	fetch(&hw, 0, &l);
	assert_int_equal(umbra_dirty_log_stop(hw.mmu, 0), UMBRA_OK);
	assert_true(hw_audit(&hw));
	assert_int_equal(umbra_dirty_log_fetch(hw.mmu, 0, l.bits, WORDS),
			 UMBRA_ERR_INVALID);
	assert_true(do_write(&hw, frame_gpa(20), 2).hw_faults >= 1);
	assert_int_equal(do_write(&hw, frame_gpa(20), 3).hw_faults, 0);
	assert_true(do_write(&hw, frame_gpa(21), 2).hw_faults >= 1);
	assert_int_equal(do_write(&hw, frame_gpa(21), 3).hw_faults, 0);
	assert_int_equal(do_write(&hw, frame_gpa(22), 3).hw_faults, 1);
	assert_int_equal(do_write(&hw, frame_gpa(22), 4).hw_faults, 0);
	/* And logging can start over. */
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);
	assert_true(do_write(&hw, frame_gpa(22), 5).hw_faults >= 1);
	fetch(&hw, 0, &l);
	assert_int_equal(count(&l), 1);
	hw_fini(&hw);
}

/* The writes the engine does for the guest count: the CPU's A/D updates in
 * guest page tables, and emulated writes to monitored page tables. */
static void test_engine_writes_to_guest_memory_are_logged(void **state)
{
	struct hw hw;
	struct gpt g;
	struct log l;
	struct umbra_paging_regs regs;
	uint64_t va, pte_gpa;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	gpt_init(&g, &hw, UMBRA_MODE_LONG4);
	for (va = 0; va < KERNEL_MAP; va += PAGE)
		gpt_set_raw(&g, va, 1, va | LEAF_FLAGS);
	/* Clean and not accessed: the walk will set A and D. */
	gpt_set_raw(&g, TEST_VA, 1, DATA_GPA | X86_PTE_P | X86_PTE_RW);
	gpt_set_raw(&g, TEST_VA + PAGE, 1, (DATA_GPA + PAGE) | LEAF_FLAGS);
	pte_gpa = gpt_entry_gpa(&g, TEST_VA, 1);
	assert_true(pte_gpa < KERNEL_MAP);
	regs = gpt_regs(&g, X86_CR0_WP, 0, 0);
	assert_int_equal(hw_set_paging(&hw, &regs, UMBRA_WROTE_ALL), UMBRA_OK);
	do_read(&hw, TEST_VA + PAGE, UMBRA_ACCESS_READ); /* shadows the table */
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);

	do_write(&hw, TEST_VA, 1);
	assert_int_equal(hw_gread(&hw, pte_gpa, 8) & (X86_PTE_A | X86_PTE_D),
			 X86_PTE_A | X86_PTE_D);
	fetch(&hw, 0, &l);
	assert_true(is_dirty(&l, DATA_GPA / PAGE));
	assert_true(is_dirty(&l, pte_gpa / PAGE)); /* the walk's A/D write */
	assert_int_equal(count(&l), 2);

	/* The guest edits its (monitored) table: emulated, and logged. */
	do_write(&hw, pte_gpa + 8, (DATA_GPA + 2 * PAGE) | LEAF_FLAGS);
	fetch(&hw, 0, &l);
	assert_true(is_dirty(&l, pte_gpa / PAGE));
	assert_int_equal(count(&l), 1);
	assert_true(hw.emulated >= 1);
	hw_fini(&hw);
}

static void test_dirty_log_errors(void **state)
{
	struct hw hw;
	struct log l;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, PAGE), UMBRA_ERR_NOT_FOUND);
	assert_int_equal(umbra_dirty_log_stop(hw.mmu, 0), UMBRA_ERR_INVALID);
	assert_int_equal(umbra_dirty_log_fetch(hw.mmu, 0, l.bits, WORDS),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_ERR_INVALID);
	assert_int_equal(umbra_dirty_log_fetch(hw.mmu, 0, l.bits, WORDS - 1),
			 UMBRA_ERR_INVALID);
	assert_int_equal(umbra_slot_add(hw.mmu, 0xFEC00000ull, 0x100000, 0,
					UMBRA_SLOT_MMIO),
			 UMBRA_OK);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0xFEC00000ull),
			 UMBRA_ERR_INVALID);
	/* Extra output words are zeroed. */
	{
		uint64_t big[WORDS + 2];

		memset(big, 0xFF, sizeof(big));
		assert_int_equal(umbra_dirty_log_fetch(hw.mmu, 0, big, WORDS + 2),
				 UMBRA_OK);
		assert_int_equal(big[WORDS], 0);
		assert_int_equal(big[WORDS + 1], 0);
	}
	/* Removing a logged slot releases its log (ASan checks the leak). */
	assert_int_equal(umbra_slot_remove(hw.mmu, 0), UMBRA_OK);
	hw_fini(&hw);
}

/* Two RAM slots, one logged: bits are per slot, from its first frame. */
static void test_log_is_per_slot(void **state)
{
	struct hw hw;
	struct log l;
	const uint64_t half = (GUEST_MB << 20) / 2;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	assert_int_equal(umbra_slot_remove(hw.mmu, 0), UMBRA_OK);
	assert_int_equal(umbra_slot_add(hw.mmu, 0, half, hw.guest_hpa,
					UMBRA_SLOT_RAM),
			 UMBRA_OK);
	assert_int_equal(umbra_slot_add(hw.mmu, half, half,
					hw.guest_hpa + half, UMBRA_SLOT_RAM),
			 UMBRA_OK);
	assert_int_equal(umbra_dirty_log_start(hw.mmu, half), UMBRA_OK);
	do_write(&hw, frame_gpa(3), 1);              /* not logged */
	do_write(&hw, half + frame_gpa(3), 1);       /* frame 3 of the slot */
	do_write(&hw, half + frame_gpa(70), 1);
	assert_int_equal(do_write(&hw, frame_gpa(3), 2).hw_faults, 0);
	assert_int_equal(umbra_dirty_log_fetch(hw.mmu, half, l.bits, WORDS / 2),
			 UMBRA_OK);
	assert_int_equal(l.bits[0], 1ull << 3);
	assert_int_equal(l.bits[1], 1ull << (70 - 64));
	hw_fini(&hw);
}

/* A physical WRITE handler over a logged frame keeps it read-only whatever
 * the log says; the write reaches memory (and the log) only if the handler
 * passes it on to umbra_emulated_write. */
struct forward {
	struct umbra_mmu *mmu;
	unsigned calls;
};

static void forward_write(void *ctx, const struct umbra_handler *h,
			  uint64_t addr, unsigned size,
			  enum umbra_access_kind kind, uint64_t *value)
{
	struct forward *f = ctx;

	(void)h;
	f->calls++;
	if (kind == UMBRA_ACCESS_WRITE)
		assert_int_equal(umbra_emulated_write(f->mmu, addr, value, size,
						      0),
				 UMBRA_OK);
}

static void test_write_handler_pages_stay_protected_while_logging(void **state)
{
	struct hw hw;
	struct log l;
	struct umbra_handler h;
	struct forward fw = { .calls = 0 };
	struct umbra_access a = { .va = frame_gpa(40), .kind = UMBRA_ACCESS_WRITE };
	struct hw_result r;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	fw.mmu = hw.mmu;
	memset(&h, 0, sizeof(h));
	h.kind = UMBRA_HANDLER_WRITE;
	h.fn = forward_write;
	h.ctx = &fw;
	assert_int_equal(umbra_dirty_log_start(hw.mmu, 0), UMBRA_OK);
	assert_int_equal(umbra_phys_handler_register(hw.mmu, &h, frame_gpa(40),
						     PAGE),
			 UMBRA_OK);
	r = hw_access(&hw, &a, 8, 0x1234);
	check(&hw, r, a.va);
	assert_int_equal(r.outcome, HW_HANDLER);
	r = hw_access(&hw, &a, 8, 0x5678);
	assert_int_equal(r.outcome, HW_HANDLER); /* still protected */
	assert_int_equal(fw.calls, 2);
	assert_int_equal(hw_gread(&hw, frame_gpa(40), 8), 0x5678);
	fetch(&hw, 0, &l);
	assert_true(is_dirty(&l, 40));
	assert_int_equal(count(&l), 1);
	hw_fini(&hw);
}

/* Random writes, reads and fetches, starting and stopping: the log is
 * exact (paging off: every write is the guest's own). */

static void test_random_writes_are_logged_exactly(void **state)
{
	struct hw hw;
	struct log l;
	struct rng r = { .s = 0xD1271ull };
	bool model[FRAMES], logging = false;
	unsigned step, i, checks = 0;
	const unsigned hot = 200; /* frames in play, from DATA_GPA */

	(void)state;
	memset(model, 0, sizeof(model));
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	for (step = 0; step < 4000; step++) {
		const unsigned frame = DATA_GPA / PAGE + (unsigned)(rnd(&r) % hot);
		const uint64_t gpa = frame_gpa(frame) + (rnd(&r) % 512) * 8;
		const unsigned op = (unsigned)(rnd(&r) % 100);

		if (op < 45) {
			do_write(&hw, gpa, rnd(&r));
			model[frame] = true;
		} else if (op < 90) {
			do_read(&hw, gpa, (uint8_t)(op % 2 ? UMBRA_ACCESS_READ
							: UMBRA_ACCESS_FETCH));
		} else if (op < 97 && logging) {
			fetch(&hw, 0, &l);
			for (i = 0; i < FRAMES; i++)
				if (is_dirty(&l, i) != model[i])
					fail_msg("step %u: frame %u logged %d, "
						 "written %d", step, i,
						 is_dirty(&l, i), model[i]);
			memset(model, 0, sizeof(model));
			checks++;
		} else if (logging) {
			assert_int_equal(umbra_dirty_log_stop(hw.mmu, 0),
					 UMBRA_OK);
			logging = false;
		} else {
			assert_int_equal(umbra_dirty_log_start(hw.mmu, 0),
					 UMBRA_OK);
			memset(model, 0, sizeof(model));
			logging = true;
		}
	}
	print_message("%u fetches checked, %llu #PF exits, %llu dirty-log "
		      "faults\n", checks, (unsigned long long)hw.hw_faults,
		      (unsigned long long)stat(&hw, UMBRA_CTR_dirty_log_faults));
	assert_true(checks > 50);
	hw_fini(&hw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_set_exactly_the_written_frames_bits),
		cmocka_unit_test(test_fetch_clears_the_log_and_protects_the_frames_again),
		cmocka_unit_test(test_reads_and_fetches_do_not_dirty),
		cmocka_unit_test(test_stop_restores_writable_mappings),
		cmocka_unit_test(test_engine_writes_to_guest_memory_are_logged),
		cmocka_unit_test(test_dirty_log_errors),
		cmocka_unit_test(test_log_is_per_slot),
		cmocka_unit_test(test_write_handler_pages_stay_protected_while_logging),
		cmocka_unit_test(test_random_writes_are_logged_exactly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
