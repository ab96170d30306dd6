/*
 * The exact #PF error code and CR2 (paging-rules.md "The #PF error code";
 * SDM 4.7, APM 8.4.2): P, W, U, RSVD, I/D and PK, each set exactly when its
 * rule says.
 */
#include "walktest.h"

#include "wt_short.h"
#define NXE  X86_EFER_NXE
#define SMEP X86_CR4_SMEP
#define SMAP X86_CR4_SMAP
#define PKE  X86_CR4_PKE
#define KEY(k) ((uint64_t)(k) << X86_PTE_PK_SHIFT)

static void test_pf_error_code_p_clear_for_not_present_entry(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "not-present PTE, supervisor read: 0", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0 },
		{ .rule = "not-present PDE, supervisor write: W", .mode = L4,
		  .clr = { [WT_PD] = X86_PTE_P }, .kind = WT_WRITE,
		  .status = PF, .ec = W, .stop = 2 },
		{ .rule = "not-present PDPTE, user read: U", .mode = L4,
		  .clr = { [WT_PDPT] = X86_PTE_P }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = U, .stop = 3 },
		{ .rule = "not-present PML4E, user write: W|U", .mode = L4,
		  .clr = { [WT_PML4] = X86_PTE_P }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = W | U, .stop = 4 },
		{ .rule = "not-present PML5E, user write: W|U", .mode = L5,
		  .clr = { [WT_PML5] = X86_PTE_P }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = W | U, .stop = 5 },
		{ .rule = "not-present 2 MiB PDE: 0", .mode = L4, .leaf = 2,
		  .clr = { [WT_PD] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0, .stop = 2 },
		{ .rule = "not-present and supervisor above: still P=0",
		  .mode = L4, .clr = { [WT_PML4] = X86_PTE_US,
				       [WT_PT] = X86_PTE_P },
		  .kind = WT_READ, .cpl = 3, .status = PF, .ec = U },
		{ .rule = "32-bit not-present PTE, user write", .mode = L32,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = W | U },
		{ .rule = "PAE not-present PDE", .mode = LPAE,
		  .clr = { [WT_PD] = X86_PTE_P }, .kind = WT_WRITE,
		  .status = PF, .ec = W, .stop = 2 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_error_code_p_set_for_protection_violation(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "user read of a supervisor page: P|U", .mode = L4,
		  .clr = { [WT_PD] = X86_PTE_US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "supervisor write of a read-only page: P|W",
		  .mode = L4, .clr = { [WT_PT] = X86_PTE_RW },
		  .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "32-bit user write of a read-only page: P|W|U",
		  .mode = L32, .clr = { [WT_PD] = X86_PTE_RW },
		  .kind = WT_WRITE, .cpl = 3, .status = PF, .ec = P | W | U },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_error_code_rsvd_with_p_for_reserved_bit(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "reserved PTE, read: P|RSVD", .mode = L4,
		  .set = { [WT_PT] = UMBRA_BIT(50) }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD },
		{ .rule = "reserved PDE, user write: P|W|U|RSVD", .mode = L4,
		  .set = { [WT_PD] = UMBRA_BIT(50) }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U | RSVD, .stop = 2 },
		{ .rule = "reserved PTE, fetch with NXE: P|RSVD|I/D", .mode = L4,
		  .efer = NXE, .set = { [WT_PT] = UMBRA_BIT(50) },
		  .kind = WT_FETCH, .status = PF, .ec = P | RSVD | ID },
		{ .rule = "32-bit reserved 4 MiB PDE, user read: P|U|RSVD",
		  .mode = L32, .cr4 = X86_CR4_PSE, .leaf = 2,
		  .set = { [WT_PD] = X86_PTE32_4M_RSVD_BIT }, .kind = WT_READ,
		  .cpl = 3, .status = PF, .ec = P | U | RSVD },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_error_code_u_only_for_user_mode_accesses(void **state)
{
	/* U reports a user-mode access: CPL 3 and not an implicit supervisor
	 * access. */
	static const struct wt_case rows[] = {
		{ .rule = "CPL 0: no U", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ, .cpl = 0,
		  .status = PF, .ec = 0 },
		{ .rule = "CPL 1: no U", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ, .cpl = 1,
		  .status = PF, .ec = 0 },
		{ .rule = "CPL 2: no U", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ, .cpl = 2,
		  .status = PF, .ec = 0 },
		{ .rule = "CPL 3: U", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = U },
		{ .rule = "CPL 3 implicit supervisor access: no U", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ, .cpl = 3,
		  .implicit = true, .status = PF, .ec = 0 },
		{ .rule = "CPL 3 implicit write, not present: W only",
		  .mode = L32, .clr = { [WT_PD] = X86_PTE_P },
		  .kind = WT_WRITE, .cpl = 3, .implicit = true, .status = PF,
		  .ec = W, .stop = 2 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_error_code_w_only_for_writes(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "read: no W", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0 },
		{ .rule = "fetch: no W", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_FETCH,
		  .status = PF, .ec = 0 },
		{ .rule = "write: W", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_WRITE,
		  .status = PF, .ec = W },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_error_code_id_only_for_fetches_with_nxe_or_smep(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4-level fetch, no NXE, no SMEP: no I/D", .mode = L4,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_FETCH,
		  .status = PF, .ec = 0 },
		{ .rule = "4-level fetch with NXE: I/D", .mode = L4, .efer = NXE,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_FETCH,
		  .status = PF, .ec = ID },
		{ .rule = "4-level fetch with SMEP: I/D", .mode = L4,
		  .cr4 = SMEP, .clr = { [WT_PML4] = X86_PTE_P },
		  .kind = WT_FETCH, .cpl = 3, .status = PF, .ec = U | ID,
		  .stop = 4 },
		{ .rule = "5-level fetch with NXE: I/D", .mode = L5,
		  .efer = NXE, .clr = { [WT_PML5] = X86_PTE_P },
		  .kind = WT_FETCH, .status = PF, .ec = ID, .stop = 5 },
		{ .rule = "PAE fetch, no NXE: no I/D", .mode = LPAE,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_FETCH,
		  .status = PF, .ec = 0 },
		{ .rule = "PAE fetch with NXE: I/D", .mode = LPAE, .efer = NXE,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_FETCH,
		  .status = PF, .ec = ID },
		{ .rule = "PAE fetch, not-present PDPTE, NXE: I/D",
		  .mode = LPAE, .efer = NXE, .clr = { [WT_PDPT] = X86_PTE_P },
		  .kind = WT_FETCH, .status = PF, .ec = ID, .stop = 3 },
		{ .rule = "PAE fetch with SMEP: I/D", .mode = LPAE, .cr4 = SMEP,
		  .clr = { [WT_PD] = X86_PTE_P }, .kind = WT_FETCH,
		  .status = PF, .ec = ID, .stop = 2 },
		{ .rule = "32-bit fetch with NXE alone: no I/D", .mode = L32,
		  .efer = NXE, .clr = { [WT_PT] = X86_PTE_P },
		  .kind = WT_FETCH, .status = PF, .ec = 0 },
		{ .rule = "32-bit fetch with SMEP: I/D", .mode = L32,
		  .cr4 = SMEP, .clr = { [WT_PT] = X86_PTE_P },
		  .kind = WT_FETCH, .status = PF, .ec = ID },
		{ .rule = "32-bit user fetch of a supervisor page, no SMEP: P|U",
		  .mode = L32, .efer = NXE, .clr = { [WT_PT] = X86_PTE_US },
		  .kind = WT_FETCH, .cpl = 3, .status = PF, .ec = P | U },
		{ .rule = "4-level user fetch of a supervisor page, no NXE/SMEP",
		  .mode = L4, .clr = { [WT_PT] = X86_PTE_US },
		  .kind = WT_FETCH, .cpl = 3, .status = PF, .ec = P | U },
		{ .rule = "read with NXE and SMEP: no I/D", .mode = L4,
		  .cr4 = SMEP, .efer = NXE, .clr = { [WT_PT] = X86_PTE_P },
		  .kind = WT_READ, .status = PF, .ec = 0 },
		{ .rule = "write with NXE and SMEP: no I/D", .mode = L4,
		  .cr4 = SMEP, .efer = NXE, .clr = { [WT_PT] = X86_PTE_RW },
		  .kind = WT_WRITE, .cpl = 3, .status = PF, .ec = P | W | U },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_error_code_pk_set_even_with_ordinary_violation(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "WD + user write to a read-only page: P|W|U|PK",
		  .mode = L4, .cr4 = PKE, .pkru = X86_PKRU_WD(3),
		  .set = { [WT_PT] = KEY(3) }, .clr = { [WT_PD] = X86_PTE_RW },
		  .kind = WT_WRITE, .cpl = 3, .status = PF,
		  .ec = P | W | U | PK },
		{ .rule = "AD + user write to a read-only page: P|W|U|PK",
		  .mode = L4, .cr4 = PKE, .pkru = X86_PKRU_AD(3),
		  .set = { [WT_PT] = KEY(3) }, .clr = { [WT_PT] = X86_PTE_RW },
		  .kind = WT_WRITE, .cpl = 3, .status = PF,
		  .ec = P | W | U | PK },
		{ .rule = "AD + SMAP read violation: P|PK", .mode = L4,
		  .cr4 = PKE | SMAP, .pkru = X86_PKRU_AD(3),
		  .set = { [WT_PT] = KEY(3) }, .kind = WT_READ, .status = PF,
		  .ec = P | PK },
		{ .rule = "WD + SMAP write violation, WP=1: P|W|PK", .mode = L4,
		  .cr4 = PKE | SMAP, .pkru = X86_PKRU_WD(3),
		  .set = { [WT_PT] = KEY(3) }, .kind = WT_WRITE, .status = PF,
		  .ec = P | W | PK },
		{ .rule = "WD + SMAP write violation, WP=0: P|W, no PK",
		  .mode = L4, .cr4 = PKE | SMAP, .wp_off = true,
		  .pkru = X86_PKRU_WD(3), .set = { [WT_PT] = KEY(3) },
		  .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "WD + supervisor write to a read-only page, WP=1",
		  .mode = L4, .cr4 = PKE, .pkru = X86_PKRU_WD(3),
		  .set = { [WT_PT] = KEY(3) }, .clr = { [WT_PT] = X86_PTE_RW },
		  .kind = WT_WRITE, .status = PF, .ec = P | W | PK },
		{ .rule = "WD + user read: no fault", .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_WD(3), .set = { [WT_PT] = KEY(3) },
		  .kind = WT_READ, .cpl = 3, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_error_code_pk_never_with_rsvd_not_present_fetch_or_supervisor_address(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "AD, not-present PTE: U only", .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_AD(0), .clr = { [WT_PT] = X86_PTE_P },
		  .kind = WT_READ, .cpl = 3, .status = PF, .ec = U },
		{ .rule = "AD, reserved bit in the PTE: P|U|RSVD", .mode = L4,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) | UMBRA_BIT(51) }, .kind = WT_READ,
		  .cpl = 3, .status = PF, .ec = P | U | RSVD },
		{ .rule = "AD, user read of a supervisor page: P|U", .mode = L4,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) }, .clr = { [WT_PD] = X86_PTE_US },
		  .kind = WT_READ, .cpl = 3, .status = PF, .ec = P | U },
		{ .rule = "AD, user fetch of an NX page: P|U|I/D", .mode = L4,
		  .cr4 = PKE, .efer = NXE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) | X86_PTE_NX }, .kind = WT_FETCH,
		  .cpl = 3, .status = PF, .ec = P | U | ID },
		{ .rule = "AD, SMEP fetch violation: P|I/D", .mode = L4,
		  .cr4 = PKE | SMEP, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_FETCH, .status = PF,
		  .ec = P | ID },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pf_reports_full_linear_address_in_cr2(void **state)
{
	/* The runner checks fault_addr == the access's linear address (all
	 * 64 bits in long mode, 32 bits otherwise). */
	static const struct wt_case rows[] = {
		{ .rule = "4-level high-half address with offset", .mode = L4,
		  .va = 0xffff8000123456f7ull, .clr = { [WT_PT] = X86_PTE_P },
		  .kind = WT_READ, .status = PF, .ec = 0 },
		{ .rule = "4-level 2 MiB page, offset bits kept", .mode = L4,
		  .leaf = 2, .va = 0x00007f00001fffffull,
		  .clr = { [WT_PD] = X86_PTE_RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "5-level address above 48 bits", .mode = L5,
		  .va = 0xff12345678abcdefull, .clr = { [WT_PML4] = X86_PTE_P },
		  .kind = WT_READ, .status = PF, .ec = 0, .stop = 4 },
		{ .rule = "5-level low-half address above 48 bits", .mode = L5,
		  .va = 0x00fedcba98765432ull, .clr = { [WT_PT] = X86_PTE_US },
		  .kind = WT_READ, .cpl = 3, .status = PF, .ec = P | U },
		{ .rule = "PAE address", .mode = LPAE, .va = 0xfffff004,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ,
		  .status = PF, .ec = 0 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pf_error_code_p_clear_for_not_present_entry),
		cmocka_unit_test(test_pf_error_code_p_set_for_protection_violation),
		cmocka_unit_test(test_pf_error_code_rsvd_with_p_for_reserved_bit),
		cmocka_unit_test(test_pf_error_code_u_only_for_user_mode_accesses),
		cmocka_unit_test(test_pf_error_code_w_only_for_writes),
		cmocka_unit_test(test_pf_error_code_id_only_for_fetches_with_nxe_or_smep),
		cmocka_unit_test(test_pf_error_code_pk_set_even_with_ordinary_violation),
		cmocka_unit_test(test_pf_error_code_pk_never_with_rsvd_not_present_fetch_or_supervisor_address),
		cmocka_unit_test(test_pf_reports_full_linear_address_in_cr2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
