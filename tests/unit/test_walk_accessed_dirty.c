/*
 * Accessed and dirty bits (paging-rules.md "Accessed and dirty bits";
 * SDM 4.8, APM 5.4.2) and umbra_walk_commit.
 *
 * The row runner (walktest.c) checks for every row that umbra_walk wrote no
 * guest memory, that the reported updates are exactly the expected ones
 * (A on each entry of a successful walk, D on a written leaf, A on the
 * entries above the one where a faulting walk stopped, nothing for #GP/#SS),
 * and that umbra_walk_commit stores exactly those and nothing else.  The
 * rows here pick the situations where those rules matter.
 */
#include "walktest.h"

#include <string.h>

#include "wt_short.h"
#define A    X86_PTE_A
#define D    X86_PTE_D
#define AD_ALL { [1] = A, [2] = A, [3] = A, [4] = A, [5] = A }

static void test_successful_access_sets_accessed_at_every_level(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4-level 4 KiB read: A in PML4E, PDPTE, PDE, PTE",
		  .mode = L4, .kind = WT_READ, .status = OK },
		{ .rule = "5-level 4 KiB fetch: A in all five entries",
		  .mode = L5, .kind = WT_FETCH, .cpl = 3, .status = OK },
		{ .rule = "4-level 2 MiB read: A in three entries", .mode = L4,
		  .leaf = 2, .kind = WT_READ, .status = OK },
		{ .rule = "4-level 1 GiB read: A in two entries", .mode = L4,
		  .leaf = 3, .kind = WT_READ, .status = OK },
		{ .rule = "32-bit 4 KiB read: A in PDE and PTE (4-byte)",
		  .mode = L32, .kind = WT_READ, .status = OK },
		{ .rule = "32-bit 4 MiB read: A in the PDE", .mode = L32,
		  .cr4 = X86_CR4_PSE, .leaf = 2, .kind = WT_READ,
		  .status = OK },
		{ .rule = "PAE 4 KiB read: A in PDE and PTE", .mode = LPAE,
		  .kind = WT_READ, .status = OK },
		{ .rule = "PAE 2 MiB fetch: A in the PDE", .mode = LPAE,
		  .leaf = 2, .kind = WT_FETCH, .status = OK },
		{ .rule = "WP=0 write to a read-only page: still A and D",
		  .mode = L4, .wp_off = true,
		  .clr = { [WT_PT] = X86_PTE_RW }, .kind = WT_WRITE,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_write_sets_dirty_on_the_leaf_only(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4-level 4 KiB write: D in the PTE only", .mode = L4,
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "5-level 2 MiB write: D in the PDE", .mode = L5,
		  .leaf = 2, .kind = WT_WRITE, .cpl = 3, .status = OK },
		{ .rule = "4-level 1 GiB write: D in the PDPTE", .mode = L4,
		  .leaf = 3, .kind = WT_WRITE, .status = OK },
		{ .rule = "32-bit 4 KiB write: D in the PTE", .mode = L32,
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "32-bit 4 MiB write: D in the PDE", .mode = L32,
		  .cr4 = X86_CR4_PSE, .leaf = 2, .kind = WT_WRITE,
		  .status = OK },
		{ .rule = "32-bit PS ignored without PSE: D in the PTE",
		  .mode = L32, .set = { [WT_PD] = X86_PTE_PS },
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "PAE 2 MiB write: D in the PDE", .mode = LPAE,
		  .leaf = 2, .kind = WT_WRITE, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_entries_with_a_and_d_already_set_need_no_update(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "all A set: read makes no update", .mode = L4,
		  .set = AD_ALL, .kind = WT_READ, .status = OK },
		{ .rule = "all A set: write updates only the leaf's D",
		  .mode = L5, .set = AD_ALL, .kind = WT_WRITE, .status = OK },
		{ .rule = "A and D set in the leaf: write makes no update",
		  .mode = L4,
		  .set = { [1] = A | D, [2] = A, [3] = A, [4] = A },
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "D but not A in the leaf: write adds only A",
		  .mode = L4, .set = { [WT_PT] = D }, .kind = WT_WRITE,
		  .status = OK },
		{ .rule = "only the PDE lacks A", .mode = L4,
		  .set = { [1] = A, [3] = A, [4] = A }, .kind = WT_READ,
		  .status = OK },
		{ .rule = "32-bit all A set: read makes no update", .mode = L32,
		  .set = { [1] = A, [2] = A }, .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_faulting_access_leaves_leaf_unchanged_and_marks_upper_levels(void **state)
{
	/* A protection fault is found after the whole walk: every non-leaf
	 * entry was walked through and is marked, the leaf is untouched. */
	static const struct wt_case rows[] = {
		{ .rule = "user read of a supervisor PTE", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "user write, R/W=0 in the PML4E", .mode = L4,
		  .clr = { [WT_PML4] = X86_PTE_RW }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U },
		{ .rule = "write to a read-only 2 MiB page: no D, no A",
		  .mode = L5, .leaf = 2, .clr = { [WT_PD] = X86_PTE_RW },
		  .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "write to a read-only 1 GiB page", .mode = L4,
		  .leaf = 3, .clr = { [WT_PDPT] = X86_PTE_RW },
		  .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "fetch from an NX page", .mode = L4,
		  .efer = X86_EFER_NXE, .set = { [WT_PT] = X86_PTE_NX },
		  .kind = WT_FETCH, .status = PF, .ec = P | ID },
		{ .rule = "SMAP violation", .mode = L4, .cr4 = X86_CR4_SMAP,
		  .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "SMEP violation", .mode = L4, .cr4 = X86_CR4_SMEP,
		  .kind = WT_FETCH, .status = PF, .ec = P | ID },
		{ .rule = "protection-key violation", .mode = L4,
		  .cr4 = X86_CR4_PKE, .pkru = X86_PKRU_WD(0), .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U | PK },
		{ .rule = "leaf with A set but no D: write fault keeps it",
		  .mode = L4, .set = { [WT_PT] = A },
		  .clr = { [WT_PT] = X86_PTE_RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "32-bit write to a read-only 4 MiB page", .mode = L32,
		  .cr4 = X86_CR4_PSE, .leaf = 2, .clr = { [WT_PD] = X86_PTE_RW },
		  .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "32-bit user read of a supervisor PTE", .mode = L32,
		  .clr = { [WT_PT] = X86_PTE_US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "PAE user write to a read-only PTE", .mode = LPAE,
		  .clr = { [WT_PT] = X86_PTE_RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_not_present_or_reserved_entry_is_not_marked(void **state)
{
	/* Entries above the one that ended the walk are marked; it and
	 * everything below are not. */
	static const struct wt_case rows[] = {
		{ .rule = "PTE not present: PML4E..PDE marked", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_WRITE,
		  .status = PF, .ec = W },
		{ .rule = "PDPTE not present: only PML4E marked", .mode = L4,
		  .clr = { [WT_PDPT] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0, .stop = 3 },
		{ .rule = "PML5E not present: nothing marked", .mode = L5,
		  .clr = { [WT_PML5] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0, .stop = 5 },
		{ .rule = "reserved bit in PDE: PML4E, PDPTE marked", .mode = L4,
		  .set = { [WT_PD] = UMBRA_BIT(51) }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "reserved bit in PTE: PTE not marked", .mode = L4,
		  .set = { [WT_PT] = UMBRA_BIT(63) }, .kind = WT_WRITE,
		  .status = PF, .ec = P | W | RSVD, .stop = 1 },
		{ .rule = "PS in PML4E: nothing marked", .mode = L4,
		  .set = { [WT_PML4] = X86_PTE_PS }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 4 },
		{ .rule = "32-bit PTE not present: PDE marked", .mode = L32,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0 },
		{ .rule = "32-bit PDE not present: nothing marked", .mode = L32,
		  .clr = { [WT_PD] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0, .stop = 2 },
		{ .rule = "PAE PDE not present: nothing marked", .mode = LPAE,
		  .clr = { [WT_PD] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0, .stop = 2 },
		{ .rule = "PAE reserved PTE: PDE marked", .mode = LPAE,
		  .set = { [WT_PT] = UMBRA_BIT(62) }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 1 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pae_pdpte_registers_have_no_accessed_bit(void **state)
{
	/* The runner expects no update for level 3 in PAE mode and checks
	 * the PDPTE in memory is unchanged after commit. */
	static const struct wt_case rows[] = {
		{ .rule = "PAE read: PDPTE not marked", .mode = LPAE,
		  .kind = WT_READ, .status = OK },
		{ .rule = "PAE write: PDPTE not marked", .mode = LPAE,
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "PAE fault below: PDPTE not marked", .mode = LPAE,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_noncanonical_access_makes_no_ad_updates(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4-level #GP: no A/D", .mode = L4,
		  .va = 0x0000a5a5a5a5a5a5ull, .kind = WT_WRITE,
		  .status = UMBRA_WALK_GP },
		{ .rule = "4-level #SS: no A/D", .mode = L4,
		  .va = 0x1000a5a5a5a5a5a5ull, .kind = WT_WRITE, .stack = true,
		  .status = UMBRA_WALK_SS },
		{ .rule = "5-level #GP: no A/D", .mode = L5,
		  .va = 0x7fa5a5a5a5a5a5a5ull, .kind = WT_READ,
		  .status = UMBRA_WALK_GP },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- umbra_walk_commit ---------------------------------------------------- */

/* Walk a user write of WT_VA_LONG4 in a fresh 4-level env. */
static void walk_long4_write(struct wt_env *e, struct umbra_walk_result *res)
{
	struct umbra_access acc = wt_access(WT_VA_LONG4, WT_WRITE, 3);

	wt_begin(e, L4);
	wt_map(e, WT_VA_LONG4, 1, WT_FRAME_4K, NULL, NULL);
	assert_int_equal(wt_init(e), UMBRA_LOAD_OK);
	umbra_walk(&e->w, &acc, res);
	assert_int_equal(res->status, UMBRA_WALK_OK);
	assert_int_equal(res->n_updates, 4);
}

static void test_walk_writes_nothing_until_commit_applies_the_updates(void **state)
{
	struct umbra_walk_result res;
	struct wt_env e;

	(void)state;
	walk_long4_write(&e, &res);
	for (unsigned l = 1; l <= 4; l++)
		assert_int_equal(wt_peek(&e, e.entry_gpa[l]), e.entry_val[l]);
	assert_int_equal(e.mem->writes, 0);

	assert_true(umbra_walk_commit(&e.w, &res));
	assert_int_equal(e.mem->writes, 4);
	assert_int_equal(wt_peek(&e, e.entry_gpa[1]), e.entry_val[1] | A | D);
	for (unsigned l = 2; l <= 4; l++)
		assert_int_equal(wt_peek(&e, e.entry_gpa[l]), e.entry_val[l] | A);

	/* The same walk again: nothing left to do, commit trivially works. */
	struct umbra_access acc = wt_access(WT_VA_LONG4, WT_WRITE, 3);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.n_updates, 0);
	assert_true(umbra_walk_commit(&e.w, &res));
	assert_int_equal(e.mem->writes, 4);
}

static void test_commit_returns_false_when_an_entry_changed_since_the_walk(void **state)
{
	/* For each level: another CPU (or the guest) changes the entry
	 * between walk and commit; commit must notice and must not overwrite
	 * the new value with one computed from the stale one. */
	static const struct {
		const char *rule;
		unsigned level;
		uint64_t flip; /* bits XORed into the entry */
	} rows[] = {
		{ "PTE made read-only", 1, X86_PTE_RW },
		{ "PTE gets A from another CPU", 1, X86_PTE_A },
		{ "PTE remapped", 1, 0x00111000ull },
		{ "PDE gets A from another CPU", 2, X86_PTE_A },
		{ "PDPTE made supervisor", 3, X86_PTE_US },
		{ "PML4E made not present", 4, X86_PTE_P },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct umbra_walk_result res;
		struct wt_env e;
		uint64_t changed;

		walk_long4_write(&e, &res);
		changed = e.entry_val[rows[i].level] ^ rows[i].flip;
		wt_poke(&e, e.entry_gpa[rows[i].level], changed);
		if (umbra_walk_commit(&e.w, &res))
			WT_FAIL(rows[i].rule, "%s", "commit returned true");
		WT_EQ(rows[i].rule, "changed entry after commit",
		      wt_peek(&e, e.entry_gpa[rows[i].level]), changed);
	}
}

static void test_commit_after_a_failed_commit_succeeds_on_a_fresh_walk(void **state)
{
	struct umbra_access acc = wt_access(WT_VA_LONG4, WT_WRITE, 3);
	struct umbra_walk_result res;
	struct wt_env e;

	(void)state;
	walk_long4_write(&e, &res);
	wt_poke(&e, e.entry_gpa[2], e.entry_val[2] | X86_PTE_A);
	assert_false(umbra_walk_commit(&e.w, &res));

	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_true(umbra_walk_commit(&e.w, &res));
	assert_int_equal(wt_peek(&e, e.entry_gpa[1]), e.entry_val[1] | A | D);
	for (unsigned l = 2; l <= 4; l++)
		assert_int_equal(wt_peek(&e, e.entry_gpa[l]), e.entry_val[l] | A);
}

static void test_commit_writes_4_byte_entries_in_32bit_paging(void **state)
{
	/* A 32-bit entry update must not touch its neighbours, which an
	 * 8-byte store would. */
	const uint64_t va = WT_VA_32;
	struct umbra_access acc = wt_access(va, WT_WRITE, 0);
	struct umbra_walk_result res;
	struct wt_env e;

	(void)state;
	wt_begin(&e, L32);
	wt_map(&e, va, 1, WT_FRAME_4K, NULL, NULL);
	for (unsigned l = 1; l <= 2; l++) {
		testmem_write(e.mem, e.entry_gpa[l] - 4, 4, 0xdeadbee0);
		testmem_write(e.mem, e.entry_gpa[l] + 4, 4, 0xfeedfac0);
	}
	assert_int_equal(wt_init(&e), UMBRA_LOAD_OK);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.n_updates, 2);
	for (unsigned i = 0; i < res.n_updates; i++)
		assert_int_equal(res.update[i].size, 4);
	assert_true(umbra_walk_commit(&e.w, &res));
	assert_int_equal(wt_peek(&e, e.entry_gpa[1]), e.entry_val[1] | A | D);
	assert_int_equal(wt_peek(&e, e.entry_gpa[2]), e.entry_val[2] | A);
	for (unsigned l = 1; l <= 2; l++) {
		assert_int_equal(testmem_read(e.mem, e.entry_gpa[l] - 4, 4),
				 0xdeadbee0);
		assert_int_equal(testmem_read(e.mem, e.entry_gpa[l] + 4, 4),
				 0xfeedfac0);
	}
}

static void test_self_referencing_table_converges_to_a_and_d_set(void **state)
{
	/* A PML4 entry that points at the PML4 itself (a "recursive" map, as
	 * some guests use) is read at every level of a walk through it.  The
	 * CPU marks it at the first level, so the later reads already see A.
	 * Whatever the walker reports for the first walk, walking and
	 * committing again must settle within a retry, with A and D set once
	 * in the entry and the translation landing on the PML4 page. */
	const unsigned r = 0x0ed; /* < 0x100: bit 47 clear, canonical */
	const uint64_t va = ((uint64_t)r << 39) | ((uint64_t)r << 30) |
			    ((uint64_t)r << 21) | ((uint64_t)r << 12) | 0x7f8;
	struct umbra_access acc = wt_access(va, WT_WRITE, 0);
	struct umbra_walk_result res;
	struct wt_env e;
	uint64_t self;
	unsigned tries = 0;

	(void)state;
	wt_begin(&e, L4);
	self = e.top_table | X86_PTE_P | X86_PTE_RW;
	testmem_set_entry(e.mem, e.top_table, r, 8, self);
	assert_int_equal(wt_init(&e), UMBRA_LOAD_OK);
	do {
		assert_true(++tries <= 2);
		umbra_walk(&e.w, &acc, &res);
		assert_int_equal(res.status, UMBRA_WALK_OK);
		assert_int_equal(res.gpa, e.top_table | 0x7f8);
	} while (!umbra_walk_commit(&e.w, &res));
	assert_int_equal(testmem_get_entry(e.mem, e.top_table, r, 8),
			 self | A | D);
	/* Now settled: no more updates. */
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.n_updates, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_successful_access_sets_accessed_at_every_level),
		cmocka_unit_test(test_write_sets_dirty_on_the_leaf_only),
		cmocka_unit_test(test_entries_with_a_and_d_already_set_need_no_update),
		cmocka_unit_test(test_faulting_access_leaves_leaf_unchanged_and_marks_upper_levels),
		cmocka_unit_test(test_not_present_or_reserved_entry_is_not_marked),
		cmocka_unit_test(test_pae_pdpte_registers_have_no_accessed_bit),
		cmocka_unit_test(test_noncanonical_access_makes_no_ad_updates),
		cmocka_unit_test(test_walk_writes_nothing_until_commit_applies_the_updates),
		cmocka_unit_test(test_commit_returns_false_when_an_entry_changed_since_the_walk),
		cmocka_unit_test(test_commit_after_a_failed_commit_succeeds_on_a_fresh_walk),
		cmocka_unit_test(test_commit_writes_4_byte_entries_in_32bit_paging),
		cmocka_unit_test(test_self_referencing_table_converges_to_a_and_d_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
