/*
 * Engine bugs the fuzzer found, each replayed as a small deterministic guest
 * program (the fuzzer's inputs stop reproducing when its input format
 * changes; these do not).  Every access goes through the harness, which
 * compares it with the guest's own tables and audits the engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "guestpt.h"
#include "harness.h"
#include "umbra/x86.h"

#define GUEST_MB   16
#define POOL_PAGES 64
#define USER_VA    0x40000000ull
#define USER_GPA   0x800000ull
#define USER_KEY   3
#define MMIO_GPA   0x4000000ull /* 64 MiB: above guest RAM */
#define MMIO_SIZE  0x200000ull

static void expect_ok(struct hw *hw, struct hw_result r, const char *what)
{
	if (r.outcome != HW_OK)
		fail_msg("%s: outcome %d vector %u ec %#x: %s", what, r.outcome,
			 r.vector, r.error_code, hw->last_problem);
}

/* A long-mode guest with one dirty, writable user page under key 3. */
static void long_mode_user_page(struct hw *hw, struct gpt *g, uint64_t cr0,
				uint64_t cr4, uint32_t pkru)
{
	struct umbra_paging_regs regs;

	hw_init(hw, GUEST_MB, POOL_PAGES);
	gpt_init(g, hw, UMBRA_MODE_LONG4);
	gpt_set_raw(g, USER_VA, 1,
		    USER_GPA | X86_PTE_P | X86_PTE_RW | X86_PTE_US |
			    X86_PTE_A | X86_PTE_D |
			    ((uint64_t)USER_KEY << X86_PTE_PK_SHIFT));
	regs = gpt_regs(g, cr0, cr4, X86_EFER_NXE);
	regs.pkru = pkru;
	assert_int_equal(hw_set_paging(hw, &regs, UMBRA_WROTE_ALL), UMBRA_OK);
}

/* CR0.WP = 0 makes supervisor writes ignore PKRU.WD (SDM 4.6.2), but the
 * shadow runs with WP = 1: the hardware takes a PK fault the guest would
 * not.  The engine must emulate the write, not re-fix the leaf forever. */
static void test_wp0_supervisor_write_ignores_pkru_write_disable(void **state)
{
	struct hw hw;
	struct gpt g;
	struct umbra_access acc = {
		.va = USER_VA + 8, .kind = UMBRA_ACCESS_WRITE, .cpl = 0,
	};

	(void)state;
	long_mode_user_page(&hw, &g, 0, X86_CR4_PKE, X86_PKRU_WD(USER_KEY));
	expect_ok(&hw, hw_access(&hw, &acc, 8, 0x1122334455667788ull),
		  "supervisor write, WP=0, PKRU.WD");
	assert_int_equal(hw_gread(&hw, USER_GPA + 8, 8), 0x1122334455667788ull);
	/* A user write still honours WD. */
	acc.cpl = 3;
	assert_int_equal(hw_access(&hw, &acc, 8, 1).error_code,
			 X86_PFEC_P | X86_PFEC_W | X86_PFEC_U | X86_PFEC_PK);
	hw_fini(&hw);
}

/* The same PK fault with SMAP and EFLAGS.AC set must not be mistaken for an
 * implicit supervisor access (which SMAP would forbid). */
static void test_pk_fault_is_not_taken_for_an_implicit_smap_access(void **state)
{
	struct hw hw;
	struct gpt g;
	struct umbra_access acc = {
		.va = USER_VA + 16, .kind = UMBRA_ACCESS_WRITE, .cpl = 0,
		.ac = true,
	};

	(void)state;
	long_mode_user_page(&hw, &g, 0, X86_CR4_PKE | X86_CR4_SMAP,
			    X86_PKRU_WD(USER_KEY));
	expect_ok(&hw, hw_access(&hw, &acc, 2, 0xBEEF),
		  "explicit supervisor write, AC=1, WP=0, PKRU.WD");
	assert_int_equal(hw_gread(&hw, USER_GPA + 16, 2), 0xBEEF);
	hw_fini(&hw);
}

/* With paging off SMEP and SMAP do nothing, even if CR4 still has them. */
static void test_paging_off_ignores_smep_and_smap(void **state)
{
	struct hw hw;
	struct umbra_paging_regs off = {
		.cr0 = X86_CR0_PE | X86_CR0_WP,
		.cr4 = X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_PKE,
	};
	struct umbra_access acc = { .va = 0x200000, .cpl = 0 };
	unsigned kind;

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	assert_int_equal(hw_set_paging(&hw, &off, UMBRA_WROTE_ALL), UMBRA_OK);
	for (kind = UMBRA_ACCESS_READ; kind <= UMBRA_ACCESS_FETCH; kind++) {
		acc.kind = (uint8_t)kind;
		expect_ok(&hw, hw_access(&hw, &acc, 8, 0xC3), "paging off");
	}
	hw_fini(&hw);
}

/* An MMIO slot's host address means nothing, and may overlap RAM's host
 * range: leaves must still be traced back to their RAM frames, or zapping
 * them leaves stale reverse-map entries (the audit's "rmap names no live
 * leaf table"). */
static void test_mmio_slot_overlapping_ram_host_range(void **state)
{
	struct hw hw;
	/* Inside the host range the MMIO slot claims too. */
	struct umbra_access acc = { .va = 0x100000, .cpl = 0 };

	(void)state;
	hw_init(&hw, GUEST_MB, POOL_PAGES);
	assert_int_equal(umbra_slot_add(hw.mmu, MMIO_GPA, MMIO_SIZE,
					hw.guest_hpa, UMBRA_SLOT_MMIO),
			 UMBRA_OK);
	/* Re-adding RAM puts the MMIO slot first in the engine's table. */
	assert_int_equal(umbra_slot_remove(hw.mmu, 0), UMBRA_OK);
	assert_int_equal(umbra_slot_add(hw.mmu, 0, hw.guest_size, hw.guest_hpa,
					UMBRA_SLOT_RAM),
			 UMBRA_OK);
	expect_ok(&hw, hw_access(&hw, &acc, 8, 0), "paging-off read");
	/* Another slot change zaps every shadow page, clearing the leaf. */
	assert_int_equal(umbra_slot_remove(hw.mmu, MMIO_GPA), UMBRA_OK);
	if (!hw_audit(&hw))
		fail_msg("after zapping: %s", hw.last_problem);
	expect_ok(&hw, hw_access(&hw, &acc, 8, 0), "read again");
	hw_fini(&hw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wp0_supervisor_write_ignores_pkru_write_disable),
		cmocka_unit_test(test_pk_fault_is_not_taken_for_an_implicit_smap_access),
		cmocka_unit_test(test_paging_off_ignores_smep_and_smap),
		cmocka_unit_test(test_mmio_slot_overlapping_ram_host_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
