/*
 * Access rights (paging-rules.md "Permissions"; SDM 4.6, 4.6.2; APM 5.6):
 * U/S and R/W combined over all levels, CR0.WP, NX, SMEP, SMAP with
 * EFLAGS.AC and implicit supervisor accesses, protection keys, and the
 * effective permissions and key reported in the result.
 */
#include "walktest.h"

#include "wt_short.h"
#define NXE  X86_EFER_NXE
#define US   X86_PTE_US
#define RW   X86_PTE_RW
#define NX   X86_PTE_NX
#define KEY(k) ((uint64_t)(k) << X86_PTE_PK_SHIFT)

/* ---- U/S ------------------------------------------------------------ */

static void test_user_access_to_supervisor_address_faults_us_clear_at_any_level(void **state)
{
	/* An address is user-mode only if U/S = 1 at every level. */
	static const struct wt_case rows[] = {
		{ .rule = "U/S=0 in PTE: user read", .mode = L4,
		  .clr = { [WT_PT] = US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "U/S=0 in PDE: user read", .mode = L4,
		  .clr = { [WT_PD] = US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "U/S=0 in PDPTE: user write", .mode = L4,
		  .clr = { [WT_PDPT] = US }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "U/S=0 in PML4E: user fetch (no NXE/SMEP: no I/D)",
		  .mode = L4, .clr = { [WT_PML4] = US }, .kind = WT_FETCH,
		  .cpl = 3, .status = PF, .ec = P | U },
		{ .rule = "U/S=0 in PML4E: user fetch with NXE", .mode = L4,
		  .efer = NXE, .clr = { [WT_PML4] = US }, .kind = WT_FETCH,
		  .cpl = 3, .status = PF, .ec = P | U | ID },
		{ .rule = "U/S=0 in PML5E: user read", .mode = L5,
		  .clr = { [WT_PML5] = US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "U/S=0 in 2 MiB PDE: user write", .mode = L4,
		  .leaf = 2, .clr = { [WT_PD] = US }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U },
		{ .rule = "U/S=0 in 1 GiB PDPTE: user read", .mode = L4,
		  .leaf = 3, .clr = { [WT_PDPT] = US }, .kind = WT_READ,
		  .cpl = 3, .status = PF, .ec = P | U },
		{ .rule = "PAE U/S=0 in PDE: user read", .mode = LPAE,
		  .clr = { [WT_PD] = US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "PAE U/S=0 in PTE: user write", .mode = LPAE,
		  .clr = { [WT_PT] = US }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "32-bit U/S=0 in PDE: user read", .mode = L32,
		  .clr = { [WT_PD] = US }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U },
		{ .rule = "32-bit U/S=0 in 4 MiB PDE: user read", .mode = L32,
		  .cr4 = X86_CR4_PSE, .leaf = 2, .clr = { [WT_PD] = US },
		  .kind = WT_READ, .cpl = 3, .status = PF, .ec = P | U },
		{ .rule = "U/S=1 everywhere: user read allowed", .mode = L4,
		  .kind = WT_READ, .cpl = 3, .status = OK },
		{ .rule = "U/S=0 in PTE: supervisor read allowed", .mode = L4,
		  .clr = { [WT_PT] = US }, .kind = WT_READ, .cpl = 0,
		  .status = OK },
		{ .rule = "U/S=0 in PTE: CPL 1 is supervisor", .mode = L4,
		  .clr = { [WT_PT] = US }, .kind = WT_WRITE, .cpl = 1,
		  .status = OK },
		{ .rule = "U/S=0 in PTE: CPL 2 is supervisor", .mode = L32,
		  .clr = { [WT_PT] = US }, .kind = WT_READ, .cpl = 2,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- R/W and CR0.WP ------------------------------------------------- */

static void test_user_write_needs_rw_at_every_level(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "R/W=0 in PTE: user write", .mode = L4,
		  .clr = { [WT_PT] = RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "R/W=0 in PDE: user write", .mode = L4,
		  .clr = { [WT_PD] = RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "R/W=0 in PDPTE: user write", .mode = L4,
		  .clr = { [WT_PDPT] = RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "R/W=0 in PML4E: user write", .mode = L4,
		  .clr = { [WT_PML4] = RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "R/W=0 in PML5E: user write", .mode = L5,
		  .clr = { [WT_PML5] = RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "R/W=0 in 1 GiB PDPTE: user write", .mode = L4,
		  .leaf = 3, .clr = { [WT_PDPT] = RW }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U },
		{ .rule = "PAE R/W=0 in PDE: user write", .mode = LPAE,
		  .clr = { [WT_PD] = RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "32-bit R/W=0 in PTE: user write", .mode = L32,
		  .clr = { [WT_PT] = RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U },
		{ .rule = "R/W=0 in PML4E: user read allowed", .mode = L4,
		  .clr = { [WT_PML4] = RW }, .kind = WT_READ, .cpl = 3,
		  .status = OK },
		{ .rule = "R/W=0 in PTE: user fetch allowed", .mode = L4,
		  .clr = { [WT_PT] = RW }, .kind = WT_FETCH, .cpl = 3,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_supervisor_write_needs_rw_at_every_level_when_cr0_wp_set(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "WP=1, R/W=0 in PTE of a user page: supervisor write",
		  .mode = L4, .clr = { [WT_PT] = RW }, .kind = WT_WRITE,
		  .status = PF, .ec = P | W },
		{ .rule = "WP=1, R/W=0 in PML4E of a supervisor page",
		  .mode = L4, .clr = { [WT_PML4] = RW | US },
		  .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "WP=1, R/W=0 in PDE, CPL 1", .mode = L4,
		  .clr = { [WT_PD] = RW }, .kind = WT_WRITE, .cpl = 1,
		  .status = PF, .ec = P | W },
		{ .rule = "WP=1, PAE R/W=0 in PTE", .mode = LPAE,
		  .clr = { [WT_PT] = RW }, .kind = WT_WRITE, .status = PF,
		  .ec = P | W },
		{ .rule = "WP=1, 32-bit R/W=0 in PDE", .mode = L32,
		  .clr = { [WT_PD] = RW }, .kind = WT_WRITE, .status = PF,
		  .ec = P | W },
		{ .rule = "WP=1, R/W=0 in 2 MiB PDE", .mode = L5, .leaf = 2,
		  .clr = { [WT_PD] = RW }, .kind = WT_WRITE, .status = PF,
		  .ec = P | W },
		{ .rule = "WP=1, R/W=1 everywhere: supervisor write allowed",
		  .mode = L4, .clr = { [WT_PT] = US }, .kind = WT_WRITE,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_cr0_wp_clear_lets_supervisor_write_read_only_pages(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "WP=0: supervisor write, R/W=0 in PTE of a user page",
		  .mode = L4, .wp_off = true, .clr = { [WT_PT] = RW },
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "WP=0: supervisor write, R/W=0 at every level",
		  .mode = L4, .wp_off = true,
		  .clr = { [WT_PT] = RW, [WT_PD] = RW, [WT_PDPT] = RW,
			   [WT_PML4] = RW },
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "WP=0: supervisor page, R/W=0 in PML5E", .mode = L5,
		  .wp_off = true, .clr = { [WT_PML5] = RW | US },
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "WP=0: CPL 2 write to a 1 GiB read-only page",
		  .mode = L4, .wp_off = true, .leaf = 3,
		  .clr = { [WT_PDPT] = RW }, .kind = WT_WRITE, .cpl = 2,
		  .status = OK },
		{ .rule = "WP=0: PAE read-only PDE", .mode = LPAE,
		  .wp_off = true, .clr = { [WT_PD] = RW }, .kind = WT_WRITE,
		  .status = OK },
		{ .rule = "WP=0: 32-bit read-only 4 MiB page", .mode = L32,
		  .cr4 = X86_CR4_PSE, .leaf = 2, .wp_off = true,
		  .clr = { [WT_PD] = RW }, .kind = WT_WRITE, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_cr0_wp_clear_does_not_let_user_write_read_only_pages(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "WP=0: user write, R/W=0 in PTE", .mode = L4,
		  .wp_off = true, .clr = { [WT_PT] = RW }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U },
		{ .rule = "WP=0: user write, R/W=0 in PDPTE", .mode = L4,
		  .wp_off = true, .clr = { [WT_PDPT] = RW }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U },
		{ .rule = "WP=0: 32-bit user write, R/W=0 in PDE", .mode = L32,
		  .wp_off = true, .clr = { [WT_PD] = RW }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_supervisor_data_access_to_user_page_allowed_without_smap(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "no SMAP: supervisor read of a user page", .mode = L4,
		  .kind = WT_READ, .status = OK },
		{ .rule = "no SMAP: supervisor write of a user page", .mode = L4,
		  .kind = WT_WRITE, .status = OK },
		{ .rule = "SMEP only: supervisor write of a user page", .mode = L4,
		  .cr4 = X86_CR4_SMEP, .kind = WT_WRITE, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- NX ------------------------------------------------------------------ */

static void test_nx_forbids_fetch_at_any_level_when_efer_nxe(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "NX in PTE: supervisor fetch", .mode = L4, .efer = NXE,
		  .set = { [WT_PT] = NX }, .kind = WT_FETCH, .status = PF,
		  .ec = P | ID },
		{ .rule = "NX in PDE: user fetch", .mode = L4, .efer = NXE,
		  .set = { [WT_PD] = NX }, .kind = WT_FETCH, .cpl = 3,
		  .status = PF, .ec = P | U | ID },
		{ .rule = "NX in PDPTE: supervisor fetch", .mode = L4,
		  .efer = NXE, .set = { [WT_PDPT] = NX }, .kind = WT_FETCH,
		  .status = PF, .ec = P | ID },
		{ .rule = "NX in PML4E: user fetch", .mode = L4, .efer = NXE,
		  .set = { [WT_PML4] = NX }, .kind = WT_FETCH, .cpl = 3,
		  .status = PF, .ec = P | U | ID },
		{ .rule = "NX in PML5E: supervisor fetch", .mode = L5,
		  .efer = NXE, .set = { [WT_PML5] = NX }, .kind = WT_FETCH,
		  .status = PF, .ec = P | ID },
		{ .rule = "NX in 2 MiB PDE: fetch", .mode = L4, .efer = NXE,
		  .leaf = 2, .set = { [WT_PD] = NX }, .kind = WT_FETCH,
		  .status = PF, .ec = P | ID },
		{ .rule = "NX in 1 GiB PDPTE: fetch", .mode = L4, .efer = NXE,
		  .leaf = 3, .set = { [WT_PDPT] = NX }, .kind = WT_FETCH,
		  .status = PF, .ec = P | ID },
		{ .rule = "PAE NX in PDE: fetch", .mode = LPAE, .efer = NXE,
		  .set = { [WT_PD] = NX }, .kind = WT_FETCH, .status = PF,
		  .ec = P | ID },
		{ .rule = "PAE NX in PTE: user fetch", .mode = LPAE, .efer = NXE,
		  .set = { [WT_PT] = NX }, .kind = WT_FETCH, .cpl = 3,
		  .status = PF, .ec = P | U | ID },
		{ .rule = "NXE, no NX anywhere: fetch allowed", .mode = L4,
		  .efer = NXE, .kind = WT_FETCH, .cpl = 3, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_nx_does_not_restrict_reads_or_writes(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "NX page: user read", .mode = L4, .efer = NXE,
		  .set = { [WT_PT] = NX }, .kind = WT_READ, .cpl = 3,
		  .status = OK },
		{ .rule = "NX page: supervisor write", .mode = L4, .efer = NXE,
		  .set = { [WT_PML4] = NX }, .kind = WT_WRITE, .status = OK },
		{ .rule = "PAE NX page: user write", .mode = LPAE, .efer = NXE,
		  .set = { [WT_PD] = NX }, .kind = WT_WRITE, .cpl = 3,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- SMEP ------------------------------------------------------------------ */

static void test_smep_forbids_supervisor_fetch_from_user_address(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "SMEP: CPL 0 fetch from a user page", .mode = L4,
		  .cr4 = X86_CR4_SMEP, .kind = WT_FETCH, .status = PF,
		  .ec = P | ID },
		{ .rule = "SMEP: CPL 2 fetch from a user page, NXE", .mode = L4,
		  .cr4 = X86_CR4_SMEP, .efer = NXE, .kind = WT_FETCH, .cpl = 2,
		  .status = PF, .ec = P | ID },
		{ .rule = "SMEP: fetch from a user 1 GiB page", .mode = L5,
		  .cr4 = X86_CR4_SMEP, .leaf = 3, .kind = WT_FETCH,
		  .status = PF, .ec = P | ID },
		{ .rule = "SMEP: PAE fetch from a user page", .mode = LPAE,
		  .cr4 = X86_CR4_SMEP, .kind = WT_FETCH, .status = PF,
		  .ec = P | ID },
		{ .rule = "SMEP: 32-bit fetch from a user page", .mode = L32,
		  .cr4 = X86_CR4_SMEP, .kind = WT_FETCH, .status = PF,
		  .ec = P | ID },
		{ .rule = "SMEP: fetch from a read-only user page", .mode = L4,
		  .cr4 = X86_CR4_SMEP, .clr = { [WT_PT] = RW },
		  .kind = WT_FETCH, .status = PF, .ec = P | ID },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_smep_allows_fetch_from_supervisor_address_and_user_fetches(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "SMEP: U/S=0 in PML4E makes the page supervisor",
		  .mode = L4, .cr4 = X86_CR4_SMEP, .clr = { [WT_PML4] = US },
		  .kind = WT_FETCH, .status = OK },
		{ .rule = "SMEP: U/S=0 in PTE only", .mode = L4,
		  .cr4 = X86_CR4_SMEP, .clr = { [WT_PT] = US },
		  .kind = WT_FETCH, .status = OK },
		{ .rule = "SMEP: 32-bit U/S=0 in PDE", .mode = L32,
		  .cr4 = X86_CR4_SMEP, .clr = { [WT_PD] = US },
		  .kind = WT_FETCH, .status = OK },
		{ .rule = "SMEP: user fetch from a user page", .mode = L4,
		  .cr4 = X86_CR4_SMEP, .kind = WT_FETCH, .cpl = 3,
		  .status = OK },
		{ .rule = "SMEP: supervisor read of a user page", .mode = L4,
		  .cr4 = X86_CR4_SMEP, .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- SMAP ------------------------------------------------------------------ */

#define SMAP X86_CR4_SMAP

static void test_smap_blocks_supervisor_read_of_user_page_unless_ac(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "SMAP: CPL 0 read of a user page, AC=0", .mode = L4,
		  .cr4 = SMAP, .kind = WT_READ, .status = PF, .ec = P },
		{ .rule = "SMAP: CPL 0 read of a user page, AC=1", .mode = L4,
		  .cr4 = SMAP, .kind = WT_READ, .ac = true, .status = OK },
		{ .rule = "SMAP: CPL 1 read, AC=0", .mode = L4, .cr4 = SMAP,
		  .kind = WT_READ, .cpl = 1, .status = PF, .ec = P },
		{ .rule = "SMAP: CPL 2 read, AC=1", .mode = L4, .cr4 = SMAP,
		  .kind = WT_READ, .cpl = 2, .ac = true, .status = OK },
		{ .rule = "SMAP: read of a user 2 MiB page", .mode = L5,
		  .cr4 = SMAP, .leaf = 2, .kind = WT_READ, .status = PF,
		  .ec = P },
		{ .rule = "SMAP: PAE read of a user page", .mode = LPAE,
		  .cr4 = SMAP, .kind = WT_READ, .status = PF, .ec = P },
		{ .rule = "SMAP: 32-bit read of a user page", .mode = L32,
		  .cr4 = SMAP, .kind = WT_READ, .status = PF, .ec = P },
		{ .rule = "SMAP: 32-bit read of a user page, AC=1", .mode = L32,
		  .cr4 = SMAP, .kind = WT_READ, .ac = true, .status = OK },
		{ .rule = "SMAP: U/S=0 in PDPTE: not a user address", .mode = L4,
		  .cr4 = SMAP, .clr = { [WT_PDPT] = US }, .kind = WT_READ,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_smap_blocks_supervisor_write_to_user_page_unless_ac(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "SMAP: CPL 0 write to a user page, AC=0", .mode = L4,
		  .cr4 = SMAP, .kind = WT_WRITE, .status = PF, .ec = P | W },
		{ .rule = "SMAP: CPL 0 write to a user page, AC=1", .mode = L4,
		  .cr4 = SMAP, .kind = WT_WRITE, .ac = true, .status = OK },
		{ .rule = "SMAP: WP=0 does not lift SMAP", .mode = L4,
		  .cr4 = SMAP, .wp_off = true, .kind = WT_WRITE, .status = PF,
		  .ec = P | W },
		{ .rule = "SMAP: 1 GiB user page write, AC=0", .mode = L4,
		  .cr4 = SMAP, .leaf = 3, .kind = WT_WRITE, .status = PF,
		  .ec = P | W },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_smap_ac_ignored_for_implicit_supervisor_accesses(void **state)
{
	/* Descriptor-table and event-delivery accesses are supervisor-mode
	 * even at CPL 3, and EFLAGS.AC never relaxes SMAP for them. */
	static const struct wt_case rows[] = {
		{ .rule = "SMAP: implicit read at CPL 0, AC=1", .mode = L4,
		  .cr4 = SMAP, .kind = WT_READ, .ac = true, .implicit = true,
		  .status = PF, .ec = P },
		{ .rule = "SMAP: implicit read at CPL 3, AC=1 (U clear)",
		  .mode = L4, .cr4 = SMAP, .kind = WT_READ, .cpl = 3,
		  .ac = true, .implicit = true, .status = PF, .ec = P },
		{ .rule = "SMAP: implicit write at CPL 3, AC=0", .mode = L4,
		  .cr4 = SMAP, .kind = WT_WRITE, .cpl = 3, .implicit = true,
		  .status = PF, .ec = P | W },
		{ .rule = "SMAP: PAE implicit read at CPL 3", .mode = LPAE,
		  .cr4 = SMAP, .kind = WT_READ, .cpl = 3, .implicit = true,
		  .status = PF, .ec = P },
		{ .rule = "SMAP: implicit read of a supervisor page is fine",
		  .mode = L4, .cr4 = SMAP, .clr = { [WT_PT] = US },
		  .kind = WT_READ, .cpl = 3, .implicit = true, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_smap_does_not_apply_to_user_mode_accesses_or_fetches(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "SMAP: CPL 3 explicit read of a user page", .mode = L4,
		  .cr4 = SMAP, .kind = WT_READ, .cpl = 3, .status = OK },
		{ .rule = "SMAP: CPL 3 explicit write, AC=1", .mode = L4,
		  .cr4 = SMAP, .kind = WT_WRITE, .cpl = 3, .ac = true,
		  .status = OK },
		{ .rule = "SMAP without SMEP: supervisor fetch from a user page",
		  .mode = L4, .cr4 = SMAP, .kind = WT_FETCH, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_smap_allowed_write_still_follows_cr0_wp(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "SMAP+AC, WP=1: write to a read-only user page",
		  .mode = L4, .cr4 = SMAP, .clr = { [WT_PT] = RW },
		  .kind = WT_WRITE, .ac = true, .status = PF, .ec = P | W },
		{ .rule = "SMAP+AC, WP=0: write to a read-only user page",
		  .mode = L4, .cr4 = SMAP, .wp_off = true,
		  .clr = { [WT_PD] = RW }, .kind = WT_WRITE, .ac = true,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_implicit_supervisor_access_at_cpl3_is_supervisor_mode(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "implicit read at CPL 3 of a supervisor page",
		  .mode = L4, .clr = { [WT_PML4] = US }, .kind = WT_READ,
		  .cpl = 3, .implicit = true, .status = OK },
		{ .rule = "implicit write at CPL 3 to a read-only supervisor "
			  "page, WP=1: #PF without U",
		  .mode = L4, .clr = { [WT_PT] = US | RW }, .kind = WT_WRITE,
		  .cpl = 3, .implicit = true, .status = PF, .ec = P | W },
		{ .rule = "implicit write at CPL 3 to a read-only supervisor "
			  "page, WP=0",
		  .mode = L4, .wp_off = true, .clr = { [WT_PT] = US | RW },
		  .kind = WT_WRITE, .cpl = 3, .implicit = true, .status = OK },
		{ .rule = "32-bit implicit read at CPL 3 of a supervisor page",
		  .mode = L32, .clr = { [WT_PD] = US }, .kind = WT_READ,
		  .cpl = 3, .implicit = true, .status = OK },
		{ .rule = "no SMAP: implicit read at CPL 3 of a user page",
		  .mode = L4, .kind = WT_READ, .cpl = 3, .implicit = true,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- protection keys ------------------------------------------------------ */

#define PKE X86_CR4_PKE

static void test_pku_access_disable_forbids_data_access_to_user_page(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PKRU.AD: user read", .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_AD(5), .set = { [WT_PT] = KEY(5) },
		  .kind = WT_READ, .cpl = 3, .status = PF, .ec = P | U | PK },
		{ .rule = "PKRU.AD: user write", .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_AD(5), .set = { [WT_PT] = KEY(5) },
		  .kind = WT_WRITE, .cpl = 3, .status = PF,
		  .ec = P | W | U | PK },
		{ .rule = "PKRU.AD: supervisor read of a user page", .mode = L4,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_READ, .status = PF,
		  .ec = P | PK },
		{ .rule = "PKRU.AD: supervisor write with WP=0", .mode = L4,
		  .cr4 = PKE, .wp_off = true, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_WRITE, .status = PF,
		  .ec = P | W | PK },
		{ .rule = "PKRU.AD: implicit supervisor read at CPL 3",
		  .mode = L4, .cr4 = PKE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_READ, .cpl = 3,
		  .implicit = true, .status = PF, .ec = P | PK },
		{ .rule = "PKRU.AD: key 15, 2 MiB page", .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_AD(15), .leaf = 2,
		  .set = { [WT_PD] = KEY(15) }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U | PK },
		{ .rule = "PKRU.AD: key 1, 1 GiB page, 5-level", .mode = L5,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(1), .leaf = 3,
		  .set = { [WT_PDPT] = KEY(1) }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U | PK },
		{ .rule = "PKRU.AD: key 0 (the default key)", .mode = L4,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(0), .kind = WT_READ,
		  .cpl = 3, .status = PF, .ec = P | U | PK },
		{ .rule = "PKRU.AD of other keys does not matter", .mode = L4,
		  .cr4 = PKE,
		  .pkru = X86_PKRU_AD(4) | X86_PKRU_AD(6) | X86_PKRU_WD(4) |
			  X86_PKRU_WD(6),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_WRITE, .cpl = 3,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pku_write_disable_forbids_user_writes(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PKRU.WD: user write", .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_WD(5), .set = { [WT_PT] = KEY(5) },
		  .kind = WT_WRITE, .cpl = 3, .status = PF,
		  .ec = P | W | U | PK },
		{ .rule = "PKRU.WD: user write with WP=0", .mode = L4,
		  .cr4 = PKE, .wp_off = true, .pkru = X86_PKRU_WD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U | PK },
		{ .rule = "PKRU.WD: user read allowed", .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_WD(5), .set = { [WT_PT] = KEY(5) },
		  .kind = WT_READ, .cpl = 3, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pku_write_disable_ignored_for_supervisor_writes_when_cr0_wp_clear(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PKRU.WD, WP=1: supervisor write faults", .mode = L4,
		  .cr4 = PKE, .pkru = X86_PKRU_WD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_WRITE, .status = PF,
		  .ec = P | W | PK },
		{ .rule = "PKRU.WD, WP=0: supervisor write allowed", .mode = L4,
		  .cr4 = PKE, .wp_off = true, .pkru = X86_PKRU_WD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_WRITE, .status = OK },
		{ .rule = "PKRU.WD, WP=0: implicit write at CPL 3 allowed",
		  .mode = L4, .cr4 = PKE, .wp_off = true,
		  .pkru = X86_PKRU_WD(5), .set = { [WT_PT] = KEY(5) },
		  .kind = WT_WRITE, .cpl = 3, .implicit = true, .status = OK },
		{ .rule = "PKRU.WD, WP=1: implicit write at CPL 3 faults",
		  .mode = L4, .cr4 = PKE, .pkru = X86_PKRU_WD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_WRITE, .cpl = 3,
		  .implicit = true, .status = PF, .ec = P | W | PK },
		{ .rule = "PKRU.WD, WP=0, read-only user page: supervisor write "
			  "allowed",
		  .mode = L4, .cr4 = PKE, .wp_off = true,
		  .pkru = X86_PKRU_WD(5), .set = { [WT_PT] = KEY(5) },
		  .clr = { [WT_PT] = RW }, .kind = WT_WRITE, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pku_not_checked_on_instruction_fetches(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PKRU.AD|WD: user fetch allowed", .mode = L4,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(5) | X86_PKRU_WD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_FETCH, .cpl = 3,
		  .status = OK },
		{ .rule = "PKRU.AD: supervisor fetch from a user page allowed",
		  .mode = L4, .cr4 = PKE, .efer = NXE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) }, .kind = WT_FETCH,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pku_applies_only_to_user_mode_addresses(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PKRU.AD: U/S=0 in PTE, supervisor read allowed",
		  .mode = L4, .cr4 = PKE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PT] = KEY(5) }, .clr = { [WT_PT] = US },
		  .kind = WT_READ, .status = OK },
		{ .rule = "PKRU.AD|WD: U/S=0 in PML4E, supervisor write allowed",
		  .mode = L4, .cr4 = PKE,
		  .pkru = X86_PKRU_AD(5) | X86_PKRU_WD(5),
		  .set = { [WT_PT] = KEY(5) }, .clr = { [WT_PML4] = US },
		  .kind = WT_WRITE, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pku_key_comes_from_leaf_bits_62_59_only(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "key bits in a PDE (non-leaf) are ignored", .mode = L4,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(5),
		  .set = { [WT_PD] = KEY(5), [WT_PDPT] = KEY(5),
			   [WT_PML4] = KEY(5) },
		  .kind = WT_READ, .cpl = 3, .status = OK,
		  .check_pkey = true, .pkey = 0 },
		{ .rule = "the leaf's key 0 governs despite a key in the PDE",
		  .mode = L4, .cr4 = PKE, .pkru = X86_PKRU_AD(0),
		  .set = { [WT_PD] = KEY(5) }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U | PK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pku_requires_cr4_pke_and_long_mode(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "no CR4.PKE: PKRU.AD ignored", .mode = L4,
		  .pkru = X86_PKRU_AD(5), .set = { [WT_PT] = KEY(5) },
		  .kind = WT_WRITE, .cpl = 3, .status = OK },
		{ .rule = "PAE with CR4.PKE: no protection keys", .mode = LPAE,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(0) | X86_PKRU_WD(0),
		  .kind = WT_WRITE, .cpl = 3, .status = OK },
		{ .rule = "32-bit with CR4.PKE: no protection keys", .mode = L32,
		  .cr4 = PKE, .pkru = X86_PKRU_AD(0), .kind = WT_READ,
		  .cpl = 3, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- effective permissions and key in the result ------------------------ */

#define PERM_WUX (UMBRA_PERM_W | UMBRA_PERM_U | UMBRA_PERM_X)

static void test_perm_bits_combine_rw_us_nx_over_all_levels(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "perm: all levels permissive", .mode = L4,
		  .efer = NXE, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = PERM_WUX },
		{ .rule = "perm: R/W=0 in PML4E clears W", .mode = L4,
		  .clr = { [WT_PML4] = RW }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "perm: R/W=0 in PTE clears W", .mode = L4,
		  .clr = { [WT_PT] = RW }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "perm: U/S=0 in PDPTE clears U", .mode = L4,
		  .clr = { [WT_PDPT] = US }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_W | UMBRA_PERM_X },
		{ .rule = "perm: NX in PDE clears X", .mode = L4, .efer = NXE,
		  .set = { [WT_PD] = NX }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_W | UMBRA_PERM_U },
		{ .rule = "perm: NX in PML5E clears X", .mode = L5, .efer = NXE,
		  .set = { [WT_PML5] = NX }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_W | UMBRA_PERM_U },
		{ .rule = "perm: supervisor read-only no-execute", .mode = L5,
		  .efer = NXE, .clr = { [WT_PML5] = US, [WT_PT] = RW },
		  .set = { [WT_PDPT] = NX }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = 0 },
		{ .rule = "perm: 1 GiB leaf R/W=0", .mode = L4, .leaf = 3,
		  .clr = { [WT_PDPT] = RW }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "perm: 2 MiB leaf, U/S=0 in PML4E", .mode = L4,
		  .leaf = 2, .clr = { [WT_PML4] = US }, .kind = WT_READ,
		  .status = OK, .check_perm = true,
		  .perm = UMBRA_PERM_W | UMBRA_PERM_X },
		{ .rule = "perm: PAE NX in PTE", .mode = LPAE, .efer = NXE,
		  .set = { [WT_PT] = NX }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_W | UMBRA_PERM_U },
		{ .rule = "perm: PAE R/W=0 in PDE", .mode = LPAE,
		  .clr = { [WT_PD] = RW }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "perm: PAE without NXE is executable", .mode = LPAE,
		  .kind = WT_READ, .status = OK, .check_perm = true,
		  .perm = PERM_WUX },
		{ .rule = "perm: 32-bit U/S=0 in PDE", .mode = L32,
		  .clr = { [WT_PD] = US }, .kind = WT_READ, .status = OK,
		  .check_perm = true, .perm = UMBRA_PERM_W | UMBRA_PERM_X },
		{ .rule = "perm: 32-bit R/W=0 in 4 MiB PDE", .mode = L32,
		  .cr4 = X86_CR4_PSE, .leaf = 2, .clr = { [WT_PD] = RW },
		  .kind = WT_READ, .status = OK, .check_perm = true,
		  .perm = UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "perm: reported for a WP=0 write to a read-only page",
		  .mode = L4, .wp_off = true, .clr = { [WT_PD] = RW },
		  .kind = WT_WRITE, .status = OK, .check_perm = true,
		  .perm = UMBRA_PERM_U | UMBRA_PERM_X },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pkey_reported_from_leaf_bits_62_59(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "pkey 11 from a 4 KiB PTE", .mode = L4, .cr4 = PKE,
		  .set = { [WT_PT] = KEY(11) }, .kind = WT_READ, .cpl = 3,
		  .status = OK, .check_pkey = true, .pkey = 11 },
		{ .rule = "pkey 7 from a 2 MiB PDE", .mode = L4, .cr4 = PKE,
		  .leaf = 2, .set = { [WT_PD] = KEY(7) }, .kind = WT_READ,
		  .status = OK, .check_pkey = true, .pkey = 7 },
		{ .rule = "pkey 15 from a 1 GiB PDPTE", .mode = L5, .cr4 = PKE,
		  .leaf = 3, .set = { [WT_PDPT] = KEY(15) }, .kind = WT_WRITE,
		  .status = OK, .check_pkey = true, .pkey = 15 },
		{ .rule = "pkey of a supervisor page is still its key bits",
		  .mode = L4, .cr4 = PKE, .clr = { [WT_PT] = US },
		  .set = { [WT_PT] = KEY(9) }, .kind = WT_READ, .status = OK,
		  .check_pkey = true, .pkey = 9 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_access_to_supervisor_address_faults_us_clear_at_any_level),
		cmocka_unit_test(test_user_write_needs_rw_at_every_level),
		cmocka_unit_test(test_supervisor_write_needs_rw_at_every_level_when_cr0_wp_set),
		cmocka_unit_test(test_cr0_wp_clear_lets_supervisor_write_read_only_pages),
		cmocka_unit_test(test_cr0_wp_clear_does_not_let_user_write_read_only_pages),
		cmocka_unit_test(test_supervisor_data_access_to_user_page_allowed_without_smap),
		cmocka_unit_test(test_nx_forbids_fetch_at_any_level_when_efer_nxe),
		cmocka_unit_test(test_nx_does_not_restrict_reads_or_writes),
		cmocka_unit_test(test_smep_forbids_supervisor_fetch_from_user_address),
		cmocka_unit_test(test_smep_allows_fetch_from_supervisor_address_and_user_fetches),
		cmocka_unit_test(test_smap_blocks_supervisor_read_of_user_page_unless_ac),
		cmocka_unit_test(test_smap_blocks_supervisor_write_to_user_page_unless_ac),
		cmocka_unit_test(test_smap_ac_ignored_for_implicit_supervisor_accesses),
		cmocka_unit_test(test_smap_does_not_apply_to_user_mode_accesses_or_fetches),
		cmocka_unit_test(test_smap_allowed_write_still_follows_cr0_wp),
		cmocka_unit_test(test_implicit_supervisor_access_at_cpl3_is_supervisor_mode),
		cmocka_unit_test(test_pku_access_disable_forbids_data_access_to_user_page),
		cmocka_unit_test(test_pku_write_disable_forbids_user_writes),
		cmocka_unit_test(test_pku_write_disable_ignored_for_supervisor_writes_when_cr0_wp_clear),
		cmocka_unit_test(test_pku_not_checked_on_instruction_fetches),
		cmocka_unit_test(test_pku_applies_only_to_user_mode_addresses),
		cmocka_unit_test(test_pku_key_comes_from_leaf_bits_62_59_only),
		cmocka_unit_test(test_pku_requires_cr4_pke_and_long_mode),
		cmocka_unit_test(test_perm_bits_combine_rw_us_nx_over_all_levels),
		cmocka_unit_test(test_pkey_reported_from_leaf_bits_62_59),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
