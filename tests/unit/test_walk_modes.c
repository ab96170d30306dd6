/*
 * Paging modes, address widths and translation (paging-rules.md "Modes",
 * "Addresses and canonicality"; SDM 4.1, 4.3-4.5; APM 5.1-5.3).
 */
#include "walktest.h"

#include <string.h>

#define PTE_PRWU (X86_PTE_P | X86_PTE_RW | X86_PTE_US)

/* ---- umbra_paging_mode ---------------------------------------------- */

struct mode_row {
	const char *rule;
	uint64_t cr0, cr4, efer;
	enum umbra_mode want;
};

#define PG (X86_CR0_PE | X86_CR0_PG)
#define PE X86_CR0_PE
#define LMA (X86_EFER_LME | X86_EFER_LMA)

/* Every combination of CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57 (SDM 4.1.1
 * table 4-1), plus bits that must not influence the choice. */
static const struct mode_row mode_rows[] = {
	{ "PG=0: no paging", PE, 0, 0, UMBRA_MODE_NONE },
	{ "PG=0, LA57: no paging", PE, X86_CR4_LA57, 0, UMBRA_MODE_NONE },
	{ "PG=0, PAE: no paging", PE, X86_CR4_PAE, 0, UMBRA_MODE_NONE },
	{ "PG=0, PAE, LA57: no paging", PE, X86_CR4_PAE | X86_CR4_LA57, 0,
	  UMBRA_MODE_NONE },
	{ "PG=0, LMA: invalid", PE, 0, LMA, UMBRA_MODE_INVALID },
	{ "PG=0, LMA, LA57: invalid", PE, X86_CR4_LA57, LMA, UMBRA_MODE_INVALID },
	{ "PG=0, PAE, LMA: invalid", PE, X86_CR4_PAE, LMA, UMBRA_MODE_INVALID },
	{ "PG=0, PAE, LMA, LA57: invalid", PE, X86_CR4_PAE | X86_CR4_LA57, LMA,
	  UMBRA_MODE_INVALID },
	{ "PG=1: 32-bit", PG, 0, 0, UMBRA_MODE_32 },
	{ "PG=1, LA57 without LMA: 32-bit", PG, X86_CR4_LA57, 0, UMBRA_MODE_32 },
	{ "PG=1, PAE: PAE", PG, X86_CR4_PAE, 0, UMBRA_MODE_PAE },
	{ "PG=1, PAE, LA57 without LMA: PAE", PG, X86_CR4_PAE | X86_CR4_LA57, 0,
	  UMBRA_MODE_PAE },
	{ "PG=1, LMA without PAE: invalid", PG, 0, LMA, UMBRA_MODE_INVALID },
	{ "PG=1, LMA, LA57 without PAE: invalid", PG, X86_CR4_LA57, LMA,
	  UMBRA_MODE_INVALID },
	{ "PG=1, PAE, LMA: 4-level", PG, X86_CR4_PAE, LMA, UMBRA_MODE_LONG4 },
	{ "PG=1, PAE, LMA, LA57: 5-level", PG, X86_CR4_PAE | X86_CR4_LA57, LMA,
	  UMBRA_MODE_LONG5 },
	/* Bits that do not select the mode. */
	{ "real mode (PE=0, PG=0): no paging", 0, 0, 0, UMBRA_MODE_NONE },
	{ "EFER.LME without LMA is not long mode", PE, X86_CR4_PAE,
	  X86_EFER_LME, UMBRA_MODE_NONE },
	{ "CR4.PSE does not change 32-bit paging", PG, X86_CR4_PSE, 0,
	  UMBRA_MODE_32 },
	{ "CR4.PSE does not change PAE paging", PG, X86_CR4_PAE | X86_CR4_PSE, 0,
	  UMBRA_MODE_PAE },
	{ "EFER.NXE and CR4.SMEP/SMAP/PKE do not change 4-level paging", PG,
	  X86_CR4_PAE | X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_PKE,
	  LMA | X86_EFER_NXE, UMBRA_MODE_LONG4 },
};

static void test_paging_mode_selected_by_pg_pae_lma_la57(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mode_rows) / sizeof(mode_rows[0]); i++) {
		const struct mode_row *r = &mode_rows[i];
		struct umbra_paging_regs regs = {
			.cr0 = r->cr0, .cr4 = r->cr4, .efer = r->efer,
		};
		enum umbra_mode got = umbra_paging_mode(&regs);

		if (got != r->want)
			WT_FAIL(r->rule, "umbra_paging_mode: got %s, expected %s",
				umbra_mode_name(got), umbra_mode_name(r->want));
	}
}

static void test_walk_init_rejects_registers_selecting_no_mode(void **state)
{
	struct wt_env e;

	(void)state;
	for (size_t i = 0; i < sizeof(mode_rows) / sizeof(mode_rows[0]); i++) {
		const struct mode_row *r = &mode_rows[i];

		if (r->want != UMBRA_MODE_INVALID)
			continue;
		wt_begin(&e, UMBRA_MODE_LONG4); /* a valid PML4 at CR3 */
		e.regs.cr0 = r->cr0;
		e.regs.cr4 = r->cr4;
		e.regs.efer = r->efer;
		WT_EQ(r->rule, "umbra_walk_init", wt_init(&e),
		      UMBRA_LOAD_INVALID_MODE);
	}
}

static void test_mode_names_are_distinct(void **state)
{
	static const enum umbra_mode modes[] = {
		UMBRA_MODE_NONE, UMBRA_MODE_32, UMBRA_MODE_PAE,
		UMBRA_MODE_LONG4, UMBRA_MODE_LONG5, UMBRA_MODE_INVALID,
	};
	const size_t n = sizeof(modes) / sizeof(modes[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_non_null(umbra_mode_name(modes[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(umbra_mode_name(modes[i]),
						umbra_mode_name(modes[j]));
	}
}

/* ---- paging off ---------------------------------------------------- */

static void test_paging_off_linear_is_physical_32_bits_wide(void **state)
{
	/* No translation, no protection: every access succeeds with
	 * gpa = the 32-bit linear address, and nothing is read or marked. */
	static const struct wt_case rows[] = {
		{ .rule = "paging off: supervisor read maps 1:1",
		  .mode = UMBRA_MODE_NONE, .va = 0x12345678, .kind = WT_READ,
		  .status = UMBRA_WALK_OK, .check_perm = true,
		  .perm = UMBRA_PERM_W | UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "paging off: user write maps 1:1",
		  .mode = UMBRA_MODE_NONE, .va = 0xfffff123, .kind = WT_WRITE,
		  .cpl = 3, .status = UMBRA_WALK_OK, .check_perm = true,
		  .perm = UMBRA_PERM_W | UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "paging off: fetch maps 1:1, NXE irrelevant",
		  .mode = UMBRA_MODE_NONE, .va = 0x00000ffc, .kind = WT_FETCH,
		  .efer = X86_EFER_NXE, .status = UMBRA_WALK_OK },
		{ .rule = "paging off: linear address is 32 bits (bits 63:32 dropped)",
		  .mode = UMBRA_MODE_NONE, .va = 0xdead0000cafe1234ull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "paging off: high address is not a canonicality #SS",
		  .mode = UMBRA_MODE_NONE, .va = 0x8000000000000010ull,
		  .kind = WT_WRITE, .stack = true, .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_paging_off_reads_no_tables_even_with_cr3_outside_memory(void **state)
{
	struct wt_env e;
	struct umbra_walk_result res;
	struct umbra_access acc = wt_access(0x00345678, WT_READ, 0);

	(void)state;
	wt_begin(&e, UMBRA_MODE_NONE);
	e.regs.cr3 = 0xfffff000; /* far outside guest memory */
	assert_int_equal(wt_init(&e), UMBRA_LOAD_OK);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.mode, UMBRA_MODE_NONE);
	assert_int_equal(res.gpa, 0x00345678);
	assert_int_equal(res.top_level, 0);
	assert_int_equal(res.n_updates, 0);
}

/* ---- 32-bit paging ----------------------------------------------------- */

static void test_32bit_paging_translates_4k_pages(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "32-bit 4 KiB: supervisor read", .mode = UMBRA_MODE_32,
		  .kind = WT_READ, .status = UMBRA_WALK_OK, .check_perm = true,
		  .perm = UMBRA_PERM_W | UMBRA_PERM_U | UMBRA_PERM_X },
		{ .rule = "32-bit 4 KiB: user write", .mode = UMBRA_MODE_32,
		  .kind = WT_WRITE, .cpl = 3, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 KiB: user fetch", .mode = UMBRA_MODE_32,
		  .kind = WT_FETCH, .cpl = 3, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 KiB: page at the top of the address space",
		  .mode = UMBRA_MODE_32, .va = 0xfffffffc, .frame = 0xfffff000,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 KiB: CR4.PSE does not affect a PDE without PS",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_32bit_paging_4m_page_with_cr4_pse(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "32-bit 4 MiB page with CR4.PSE: read", .mode = UMBRA_MODE_32,
		  .cr4 = X86_CR4_PSE, .leaf = 2, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 MiB page with CR4.PSE: write sets D in the PDE",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .leaf = 2,
		  .kind = WT_WRITE, .cpl = 3, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 MiB page: offset is linear bits 21:0",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .leaf = 2,
		  .va = 0x7fffffff, .frame = 0xffc00000, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_32bit_paging_4m_page_pse36_supplies_address_bits_39_32(void **state)
{
	/* PDE bits 20:13 are physical address bits 39:32 (SDM table 4-4). */
	static const struct wt_case rows[] = {
		{ .rule = "PSE-36: PDE bits 14:13 give address bits 33:32",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .leaf = 2,
		  .frame = 0x345400000ull, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "PSE-36: all of PDE bits 20:13 used when MAXPHYADDR=40",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .maxphyaddr = 40,
		  .leaf = 2, .frame = 0xffffc00000ull, .kind = WT_WRITE,
		  .status = UMBRA_WALK_OK },
		{ .rule = "PSE-36: MAXPHYADDR=52 still reaches only 40 bits",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .maxphyaddr = 52,
		  .leaf = 2, .frame = 0xa5c0400000ull, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "PSE-36: MAXPHYADDR=36 uses PDE bits 16:13",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .maxphyaddr = 36,
		  .leaf = 2, .frame = 0xf00400000ull, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_32bit_paging_pde_ps_ignored_without_cr4_pse(void **state)
{
	/* Without CR4.PSE the PDE still points at a page table, whatever its
	 * bit 7 says (SDM 4.3): the walk goes on to a 4 KiB PTE. */
	static const struct wt_case rows[] = {
		{ .rule = "32-bit PDE.PS without CR4.PSE: read via the PTE",
		  .mode = UMBRA_MODE_32, .set = { [WT_PD] = X86_PTE_PS },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit PDE.PS without CR4.PSE: write sets D only in the PTE",
		  .mode = UMBRA_MODE_32, .set = { [WT_PD] = X86_PTE_PS },
		  .kind = WT_WRITE, .cpl = 3, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit PDE.PS without CR4.PSE: PTE permissions apply",
		  .mode = UMBRA_MODE_32, .set = { [WT_PD] = X86_PTE_PS },
		  .clr = { [WT_PT] = X86_PTE_RW }, .kind = WT_WRITE, .cpl = 3,
		  .status = UMBRA_WALK_PF,
		  .ec = X86_PFEC_P | X86_PFEC_W | X86_PFEC_U },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- PAE paging -------------------------------------------------------- */

static void test_pae_paging_translates_4k_and_2m_pages(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PAE 4 KiB: read", .mode = UMBRA_MODE_PAE,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "PAE 4 KiB: user write", .mode = UMBRA_MODE_PAE,
		  .kind = WT_WRITE, .cpl = 3, .status = UMBRA_WALK_OK },
		{ .rule = "PAE 2 MiB: PS honoured without CR4.PSE",
		  .mode = UMBRA_MODE_PAE, .leaf = 2, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "PAE 2 MiB: with CR4.PSE (ignored in PAE)",
		  .mode = UMBRA_MODE_PAE, .cr4 = X86_CR4_PSE, .leaf = 2,
		  .kind = WT_WRITE, .status = UMBRA_WALK_OK },
		{ .rule = "PAE: each of the 4 PDPTEs is used (index 3)",
		  .mode = UMBRA_MODE_PAE, .va = 0xc0201000, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "PAE: PDPTE index 0", .mode = UMBRA_MODE_PAE,
		  .va = 0x3fe01abc, .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "PAE: frame above 4 GiB", .mode = UMBRA_MODE_PAE,
		  .frame = 0x3fffffff000ull, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "PAE: PWT/PCD allowed in a PDPTE",
		  .mode = UMBRA_MODE_PAE,
		  .set = { [WT_PDPT] = X86_PTE_PWT | X86_PTE_PCD },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pae_not_present_pdpte_faults_with_p_clear(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PAE PDPTE not present: read", .mode = UMBRA_MODE_PAE,
		  .clr = { [WT_PDPT] = X86_PTE_P }, .kind = WT_READ,
		  .status = UMBRA_WALK_PF, .ec = 0, .stop = 3 },
		{ .rule = "PAE PDPTE not present: user write",
		  .mode = UMBRA_MODE_PAE, .clr = { [WT_PDPT] = X86_PTE_P },
		  .kind = WT_WRITE, .cpl = 3, .status = UMBRA_WALK_PF,
		  .ec = X86_PFEC_W | X86_PFEC_U, .stop = 3 },
		{ .rule = "PAE PDPTE not present: reserved bits then do not matter",
		  .mode = UMBRA_MODE_PAE, .clr = { [WT_PDPT] = X86_PTE_P },
		  .set = { [WT_PDPT] = X86_PTE_RW | UMBRA_BIT(63) },
		  .kind = WT_READ, .status = UMBRA_WALK_PF, .ec = 0, .stop = 3 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pae_walk_uses_pdpte_registers_loaded_at_cr3_load(void **state)
{
	const uint64_t va = WT_VA_32, off = va & 0xfff;
	const unsigned i3 = wt_index(UMBRA_MODE_PAE, 3, va);
	const unsigned i2 = wt_index(UMBRA_MODE_PAE, 2, va);
	const unsigned i1 = wt_index(UMBRA_MODE_PAE, 1, va);
	const uint64_t frame_b = 0x0bbbb000;
	struct umbra_access acc = wt_access(va, WT_READ, 0);
	struct umbra_walk_result res;
	struct wt_env e;
	uint64_t pdpte_gpa, pdpte, pd2, pt2, pte_gpa;

	(void)state;
	wt_begin(&e, UMBRA_MODE_PAE);
	pte_gpa = wt_map(&e, va, 1, WT_FRAME_4K, NULL, NULL);
	pdpte_gpa = e.entry_gpa[3];
	pdpte = e.entry_val[3];
	assert_int_equal(wt_init(&e), UMBRA_LOAD_OK);
	assert_int_equal(e.w.pdpte[i3], pdpte);
	assert_int_equal(e.w.pdpte_gpa[i3], pdpte_gpa);

	/* A second PD/PT pair mapping va to frame_b. */
	pd2 = testmem_alloc_page(e.mem);
	pt2 = testmem_alloc_page(e.mem);
	testmem_set_entry(e.mem, pd2, i2, 8, pt2 | PTE_PRWU);
	testmem_set_entry(e.mem, pt2, i1, 8, frame_b | PTE_PRWU);

	/* Rewriting the PDPTE in memory changes nothing until a CR3 load. */
	wt_poke(&e, pdpte_gpa, pd2 | X86_PTE_P);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.gpa, WT_FRAME_4K | off);
	assert_int_equal(res.entry[3].val, pdpte);
	assert_int_equal(res.entry[3].gpa, pdpte_gpa);

	/* Nor does clearing it, or filling it with reserved bits. */
	wt_poke(&e, pdpte_gpa, 0);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.gpa, WT_FRAME_4K | off);
	wt_poke(&e, pdpte_gpa, pd2 | X86_PTE_P | X86_PTE_RW);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);

	/* The PDE and PTE are not cached: a PTE change shows at once. */
	wt_poke(&e, pte_gpa, 0x0cccc000 | PTE_PRWU);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.gpa, 0x0cccc000 | off);

	/* MOV to CR3 reloads: now the new PDPTE is used. */
	wt_poke(&e, pdpte_gpa, pd2 | X86_PTE_P);
	assert_int_equal(umbra_walk_load_pdptes(&e.w), UMBRA_LOAD_OK);
	assert_int_equal(e.w.pdpte[i3], pd2 | X86_PTE_P);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.gpa, frame_b | off);

	/* Reloading a not-present PDPTE: the walk faults at level 3. */
	wt_poke(&e, pdpte_gpa, 0);
	assert_int_equal(umbra_walk_load_pdptes(&e.w), UMBRA_LOAD_OK);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_PF);
	assert_int_equal(res.error_code, 0);
	assert_int_equal(res.level, 3);

	/* Reloading a present PDPTE with a reserved bit: #GP. */
	wt_poke(&e, pdpte_gpa, pd2 | X86_PTE_P | X86_PTE_RW);
	assert_int_equal(umbra_walk_load_pdptes(&e.w), UMBRA_LOAD_GP);
}

static void test_pae_pdpt_located_by_cr3_bits_31_5(void **state)
{
	/* The PDPT is 32-byte aligned: CR3 bits 31:5 locate it, bits 4:0
	 * (PWT, PCD) are not address bits.  The 4 KiB-aligned slots below
	 * hold PDPTEs with reserved bits, which a walker that rounded CR3
	 * down to a page would load and reject. */
	const uint64_t va = WT_VA_32;
	struct umbra_access acc = wt_access(va, WT_WRITE, 3);
	struct umbra_walk_result res;
	struct wt_env e;
	uint64_t page;

	(void)state;
	wt_begin(&e, UMBRA_MODE_PAE);
	page = e.top_table;
	for (unsigned i = 0; i < 4; i++)
		testmem_set_entry(e.mem, page, i, 8,
				  X86_PTE_P | X86_PTE_RW | X86_PTE_US);
	e.top_table = page + 0x60;
	e.regs.cr3 = page + 0x60 + (X86_PTE_PWT | X86_PTE_PCD);
	wt_map(&e, va, 1, WT_FRAME_4K, NULL, NULL);
	assert_int_equal(e.entry_gpa[3], page + 0x60 + 8 * wt_index(UMBRA_MODE_PAE, 3, va));
	assert_int_equal(wt_init(&e), UMBRA_LOAD_OK);
	umbra_walk(&e.w, &acc, &res);
	assert_int_equal(res.status, UMBRA_WALK_OK);
	assert_int_equal(res.gpa, WT_FRAME_4K | (va & 0xfff));
	assert_int_equal(res.entry[3].gpa, e.entry_gpa[3]);
}

static void test_cr3_flag_bits_do_not_move_the_top_table(void **state)
{
	/* CR3 bits 11:0 (PWT, PCD; with PCIDE the PCID) are not part of the
	 * table address in 32-bit and long-mode paging (SDM tables 4-3,
	 * 4-12). */
	static const enum umbra_mode modes[] = {
		UMBRA_MODE_32, UMBRA_MODE_LONG4, UMBRA_MODE_LONG5,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const char *rule = umbra_mode_name(modes[i]);
		uint64_t va = modes[i] == UMBRA_MODE_32 ? WT_VA_32
			    : modes[i] == UMBRA_MODE_LONG4 ? WT_VA_LONG4
							   : WT_VA_LONG5;
		struct umbra_access acc = wt_access(va, WT_READ, 0);
		struct umbra_walk_result res;
		struct wt_env e;

		wt_begin(&e, modes[i]);
		wt_map(&e, va, 1, WT_FRAME_4K, NULL, NULL);
		e.regs.cr3 |= X86_PTE_PWT | X86_PTE_PCD;
		WT_EQ(rule, "umbra_walk_init", wt_init(&e), UMBRA_LOAD_OK);
		umbra_walk(&e.w, &acc, &res);
		WT_EQ(rule, "status", res.status, UMBRA_WALK_OK);
		WT_EQ(rule, "gpa", res.gpa, WT_FRAME_4K | (va & 0xfff));
		WT_EQ(rule, "top entry gpa", res.entry[wt_top_level(modes[i])].gpa,
		      e.top_table +
		      (uint64_t)wt_index(modes[i], wt_top_level(modes[i]), va) *
		      wt_entry_size(modes[i]));
	}
}

static void test_pae_pdpt_outside_guest_memory_is_load_badmem(void **state)
{
	struct wt_env e;

	(void)state;
	wt_begin(&e, UMBRA_MODE_PAE);
	e.regs.cr3 = 0x40000000; /* far above the 1 MiB of guest memory */
	assert_int_equal(wt_init(&e), UMBRA_LOAD_BADMEM);
}

/* ---- long mode ----------------------------------------------------- */

static void test_long_mode_4level_translates_4k_2m_1g_pages(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4-level 4 KiB: read", .mode = UMBRA_MODE_LONG4,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 4 KiB: user write", .mode = UMBRA_MODE_LONG4,
		  .kind = WT_WRITE, .cpl = 3, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 2 MiB: read", .mode = UMBRA_MODE_LONG4,
		  .leaf = 2, .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 2 MiB: write", .mode = UMBRA_MODE_LONG4,
		  .leaf = 2, .kind = WT_WRITE, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 1 GiB: read", .mode = UMBRA_MODE_LONG4,
		  .leaf = 3, .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 1 GiB: user write", .mode = UMBRA_MODE_LONG4,
		  .leaf = 3, .kind = WT_WRITE, .cpl = 3,
		  .status = UMBRA_WALK_OK },
		{ .rule = "4-level: high-half address", .mode = UMBRA_MODE_LONG4,
		  .va = 0xffffa5a5a5a5a5a5ull, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "4-level: lowest mappable page, fetch",
		  .mode = UMBRA_MODE_LONG4, .va = 0x1000, .kind = WT_FETCH,
		  .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_long_mode_5level_walks_pml5_from_cr3(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "5-level 4 KiB: read", .mode = UMBRA_MODE_LONG5,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "5-level 4 KiB: write", .mode = UMBRA_MODE_LONG5,
		  .kind = WT_WRITE, .cpl = 3, .status = UMBRA_WALK_OK },
		{ .rule = "5-level 2 MiB", .mode = UMBRA_MODE_LONG5, .leaf = 2,
		  .kind = WT_WRITE, .status = UMBRA_WALK_OK },
		{ .rule = "5-level 1 GiB", .mode = UMBRA_MODE_LONG5, .leaf = 3,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "5-level: high-half address",
		  .mode = UMBRA_MODE_LONG5, .va = 0xffa5a5a5a5a5a5a5ull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "5-level: PML5E not present stops at level 5",
		  .mode = UMBRA_MODE_LONG5, .clr = { [WT_PML5] = X86_PTE_P },
		  .kind = WT_READ, .status = UMBRA_WALK_PF, .ec = 0, .stop = 5 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- canonical addresses ------------------------------------------- */

static void test_noncanonical_address_is_gp_or_ss_not_pf_4level(void **state)
{
	/* Bits 63:47 must equal bit 47 (SDM 3.3.7.1); the check precedes the
	 * walk, so there is no #PF and no A/D update. */
	static const struct wt_case rows[] = {
		{ .rule = "4-level: 0x0000800000000000 is non-canonical",
		  .mode = UMBRA_MODE_LONG4, .va = 0x0000800000000000ull,
		  .kind = WT_READ, .status = UMBRA_WALK_GP },
		{ .rule = "4-level: 0xffff7fffffffffff is non-canonical",
		  .mode = UMBRA_MODE_LONG4, .va = 0xffff7fffffffffffull,
		  .kind = WT_WRITE, .status = UMBRA_WALK_GP },
		{ .rule = "4-level: bit 48 alone is non-canonical",
		  .mode = UMBRA_MODE_LONG4, .va = 0x0001000000001000ull,
		  .kind = WT_FETCH, .cpl = 3, .status = UMBRA_WALK_GP },
		{ .rule = "4-level: bit 63 alone is non-canonical",
		  .mode = UMBRA_MODE_LONG4, .va = 0x8000000000001000ull,
		  .kind = WT_READ, .cpl = 3, .status = UMBRA_WALK_GP },
		{ .rule = "4-level: an LA57-canonical address is non-canonical",
		  .mode = UMBRA_MODE_LONG4, .va = 0x00ff000000000000ull,
		  .kind = WT_READ, .status = UMBRA_WALK_GP },
		{ .rule = "4-level: non-canonical stack read is #SS",
		  .mode = UMBRA_MODE_LONG4, .va = 0x0000800000000000ull,
		  .kind = WT_READ, .stack = true, .status = UMBRA_WALK_SS },
		{ .rule = "4-level: non-canonical stack write is #SS",
		  .mode = UMBRA_MODE_LONG4, .va = 0xffff7ffffffffff8ull,
		  .kind = WT_WRITE, .cpl = 3, .stack = true,
		  .status = UMBRA_WALK_SS },
		{ .rule = "4-level: non-canonical beats a not-present entry",
		  .mode = UMBRA_MODE_LONG4, .va = 0x8000000000001000ull,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ,
		  .status = UMBRA_WALK_GP },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_noncanonical_address_is_gp_or_ss_not_pf_5level(void **state)
{
	/* With LA57, bits 63:56 must equal bit 56. */
	static const struct wt_case rows[] = {
		{ .rule = "5-level: 0x0100000000000000 is non-canonical",
		  .mode = UMBRA_MODE_LONG5, .va = 0x0100000000000000ull,
		  .kind = WT_READ, .status = UMBRA_WALK_GP },
		{ .rule = "5-level: 0xfeffffffffffffff is non-canonical",
		  .mode = UMBRA_MODE_LONG5, .va = 0xfeffffffffffffffull,
		  .kind = WT_WRITE, .status = UMBRA_WALK_GP },
		{ .rule = "5-level: bit 63 alone is non-canonical",
		  .mode = UMBRA_MODE_LONG5, .va = 0x8000000000001000ull,
		  .kind = WT_FETCH, .status = UMBRA_WALK_GP },
		{ .rule = "5-level: non-canonical stack access is #SS",
		  .mode = UMBRA_MODE_LONG5, .va = 0x0100000000000000ull,
		  .kind = WT_READ, .stack = true, .status = UMBRA_WALK_SS },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_canonical_boundary_addresses_translate(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4-level: 0x00007fffffffffff is canonical",
		  .mode = UMBRA_MODE_LONG4, .va = 0x00007fffffffffffull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level: 0xffff800000000000 is canonical",
		  .mode = UMBRA_MODE_LONG4, .va = 0xffff800000000000ull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level: canonical stack access translates",
		  .mode = UMBRA_MODE_LONG4, .va = 0xffffffffffffeff8ull,
		  .kind = WT_WRITE, .stack = true, .status = UMBRA_WALK_OK },
		{ .rule = "5-level: 0x00ffffffffffffff is canonical",
		  .mode = UMBRA_MODE_LONG5, .va = 0x00ffffffffffffffull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "5-level: 0xff00000000000000 is canonical",
		  .mode = UMBRA_MODE_LONG5, .va = 0xff00000000000000ull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "5-level: 0x0000800000000000 is canonical",
		  .mode = UMBRA_MODE_LONG5, .va = 0x0000800000000000ull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "5-level: 0xffff7fffffffffff is canonical",
		  .mode = UMBRA_MODE_LONG5, .va = 0xffff7fffffffffffull,
		  .kind = WT_WRITE, .stack = true, .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_linear_address_is_32_bits_outside_long_mode(void **state)
{
	/* Bits 63:32 of the access address are dropped (no canonicality
	 * check); CR2 receives the 32-bit address. */
	static const struct wt_case rows[] = {
		{ .rule = "32-bit paging: bits 63:32 dropped",
		  .mode = UMBRA_MODE_32, .va = 0xffffffff5a5a5a5aull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit paging: high bits are not a #SS",
		  .mode = UMBRA_MODE_32, .va = 0x000080005a5a5a5aull,
		  .kind = WT_WRITE, .stack = true, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit paging: CR2 is the 32-bit address",
		  .mode = UMBRA_MODE_32, .va = 0x123456785a5a5a5aull,
		  .clr = { [WT_PT] = X86_PTE_P }, .kind = WT_READ,
		  .status = UMBRA_WALK_PF, .ec = 0 },
		{ .rule = "PAE paging: bits 63:32 dropped",
		  .mode = UMBRA_MODE_PAE, .va = 0x8000000dc0201000ull,
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "PAE paging: CR2 is the 32-bit address",
		  .mode = UMBRA_MODE_PAE, .va = 0xffff00005a5a5a5aull,
		  .clr = { [WT_PT] = X86_PTE_US }, .kind = WT_READ, .cpl = 3,
		  .status = UMBRA_WALK_PF, .ec = X86_PFEC_P | X86_PFEC_U },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- translation arithmetic ------------------------------------------ */

static void test_translation_keeps_offset_bits_and_takes_frame_bits_from_entry(void **state)
{
	/* gpa = frame bits of the leaf | linear bits below the page size.
	 * Flag, PAT, available and (long mode) ignored bits 62:52 of the
	 * leaf must not leak into the address. */
	const uint64_t ign_long = UMBRA_BITS(62, 52) | UMBRA_BITS(11, 9);
	const struct wt_case rows[] = {
		{ .rule = "4-level 4 KiB: offset 11:0, frame 45:12",
		  .mode = UMBRA_MODE_LONG4, .va = 0x00005a5a5a5a5fffull,
		  .frame = UMBRA_BIT(45) | 0x12345000ull,
		  .set = { [WT_PT] = ign_long | X86_PTE_PAT4K | X86_PTE_G |
			   X86_PTE_PWT | X86_PTE_PCD },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 2 MiB: offset 20:0, PAT bit 12 not address",
		  .mode = UMBRA_MODE_LONG4, .leaf = 2, .va = 0x00005a5a5a5fffffull,
		  .frame = UMBRA_BIT(45) | 0x3fe00000ull,
		  .set = { [WT_PD] = ign_long | X86_PTE_PAT_LARGE | X86_PTE_G },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 1 GiB: offset 29:0, PAT bit 12 not address",
		  .mode = UMBRA_MODE_LONG4, .leaf = 3, .va = 0x00005a5a7fffffffull,
		  .frame = UMBRA_BIT(45) | 0xc0000000ull,
		  .set = { [WT_PDPT] = ign_long | X86_PTE_PAT_LARGE },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 2 MiB: PAT bit 12 not address, offset bit 12 clear",
		  .mode = UMBRA_MODE_LONG4, .leaf = 2, .va = 0x00005a5a5a400abcull,
		  .set = { [WT_PD] = X86_PTE_PAT_LARGE },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "4-level 1 GiB: PAT bit 12 not address, offset bit 12 clear",
		  .mode = UMBRA_MODE_LONG4, .leaf = 3, .va = 0x00005a5a40000abcull,
		  .set = { [WT_PDPT] = X86_PTE_PAT_LARGE },
		  .kind = WT_WRITE, .status = UMBRA_WALK_OK },
		{ .rule = "4-level: MAXPHYADDR=52 frame uses bit 51",
		  .mode = UMBRA_MODE_LONG4, .maxphyaddr = 52,
		  .frame = UMBRA_BIT(51) | 0x1000ull, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "5-level 4 KiB: offset 11:0",
		  .mode = UMBRA_MODE_LONG5, .va = 0xffa5a5a5a5a5a000ull,
		  .frame = UMBRA_BIT(45) | 0xfffff000ull, .kind = WT_READ,
		  .status = UMBRA_WALK_OK },
		{ .rule = "PAE 4 KiB: offset 11:0, frame 45:12",
		  .mode = UMBRA_MODE_PAE, .va = 0x5a5a5fff,
		  .frame = UMBRA_BIT(45) | 0xabcde000ull,
		  .set = { [WT_PT] = X86_PTE_PAT4K | UMBRA_BITS(11, 9) },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "PAE 2 MiB: offset 20:0, PAT bit 12 not address",
		  .mode = UMBRA_MODE_PAE, .leaf = 2, .va = 0x5a5fffff,
		  .frame = UMBRA_BIT(45) | 0x00200000ull,
		  .set = { [WT_PD] = X86_PTE_PAT_LARGE | UMBRA_BITS(11, 9) },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "PAE 2 MiB: PAT bit 12 not address, offset bit 12 clear",
		  .mode = UMBRA_MODE_PAE, .leaf = 2, .va = 0x5a400abc,
		  .set = { [WT_PD] = X86_PTE_PAT_LARGE },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 MiB: PAT bit 12 not address, offset bit 12 clear",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .leaf = 2,
		  .va = 0x5a800abc, .set = { [WT_PD] = X86_PTE_PAT_LARGE },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 KiB: offset 11:0, frame 31:12",
		  .mode = UMBRA_MODE_32, .va = 0x5a5a5fff, .frame = 0xfffff000,
		  .set = { [WT_PT] = X86_PTE_PAT4K | UMBRA_BITS(11, 9) },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
		{ .rule = "32-bit 4 MiB: offset 21:0, PAT bit 12 not address",
		  .mode = UMBRA_MODE_32, .cr4 = X86_CR4_PSE, .leaf = 2,
		  .va = 0x5a7fffff, .frame = 0xa5ffc00000ull,
		  .set = { [WT_PD] = X86_PTE_PAT_LARGE | UMBRA_BITS(11, 9) },
		  .kind = WT_READ, .status = UMBRA_WALK_OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

/* ---- entries outside guest memory -------------------------------------- */

struct badmem_row {
	const char *rule;
	enum umbra_mode mode;
	unsigned level;  /* entry to aim outside memory; 0 = CR3 */
	bool not_present; /* ... but mark it not present */
};

static void test_badmem_when_a_paging_entry_lies_outside_guest_memory(void **state)
{
	static const struct badmem_row rows[] = {
		{ "4-level: CR3 outside memory", UMBRA_MODE_LONG4, 0, false },
		{ "4-level: PML4E points outside", UMBRA_MODE_LONG4, 4, false },
		{ "4-level: PDPTE points outside", UMBRA_MODE_LONG4, 3, false },
		{ "4-level: PDE points outside", UMBRA_MODE_LONG4, 2, false },
		{ "5-level: CR3 outside memory", UMBRA_MODE_LONG5, 0, false },
		{ "5-level: PML5E points outside", UMBRA_MODE_LONG5, 5, false },
		{ "PAE: PDPTE points outside", UMBRA_MODE_PAE, 3, false },
		{ "PAE: PDE points outside", UMBRA_MODE_PAE, 2, false },
		{ "32-bit: CR3 outside memory", UMBRA_MODE_32, 0, false },
		{ "32-bit: PDE points outside", UMBRA_MODE_32, 2, false },
		{ "4-level: not-present PDE pointing outside is a #PF",
		  UMBRA_MODE_LONG4, 2, true },
		{ "32-bit: not-present PDE pointing outside is a #PF",
		  UMBRA_MODE_32, 2, true },
	};
	const uint64_t outside = 0x40000000; /* above 1 MiB, below 2^32 */

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct badmem_row *r = &rows[i];
		uint64_t va = r->mode == UMBRA_MODE_LONG4 ? WT_VA_LONG4
			    : r->mode == UMBRA_MODE_LONG5 ? WT_VA_LONG5
							  : WT_VA_32;
		struct umbra_access acc = wt_access(va, WT_READ, 0);
		struct umbra_walk_result res;
		unsigned size = wt_entry_size(r->mode);
		unsigned next = r->level ? r->level - 1 : wt_top_level(r->mode);
		uint64_t flags = wt_default_flags(r->mode, r->level);
		struct wt_env e;

		wt_begin(&e, r->mode);
		wt_map(&e, va, 1, WT_FRAME_4K, NULL, NULL);
		if (r->level == 0)
			e.regs.cr3 = outside;
		else
			wt_poke(&e, e.entry_gpa[r->level],
				outside | (r->not_present ? flags & ~X86_PTE_P
							  : flags));
		WT_EQ(r->rule, "umbra_walk_init", wt_init(&e), UMBRA_LOAD_OK);
		umbra_walk(&e.w, &acc, &res);
		WT_EQ(r->rule, "cmpxchg stores by the walk", e.mem->writes, 0);
		if (r->not_present) {
			WT_EQ(r->rule, "status", res.status, UMBRA_WALK_PF);
			WT_EQ(r->rule, "error code", res.error_code, 0);
			continue;
		}
		WT_EQ(r->rule, "status", res.status, UMBRA_WALK_BADMEM);
		WT_EQ(r->rule, "bad_gpa", res.bad_gpa,
		      outside + (uint64_t)wt_index(r->mode, next, va) * size);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paging_mode_selected_by_pg_pae_lma_la57),
		cmocka_unit_test(test_walk_init_rejects_registers_selecting_no_mode),
		cmocka_unit_test(test_mode_names_are_distinct),
		cmocka_unit_test(test_paging_off_linear_is_physical_32_bits_wide),
		cmocka_unit_test(test_paging_off_reads_no_tables_even_with_cr3_outside_memory),
		cmocka_unit_test(test_32bit_paging_translates_4k_pages),
		cmocka_unit_test(test_32bit_paging_4m_page_with_cr4_pse),
		cmocka_unit_test(test_32bit_paging_4m_page_pse36_supplies_address_bits_39_32),
		cmocka_unit_test(test_32bit_paging_pde_ps_ignored_without_cr4_pse),
		cmocka_unit_test(test_pae_paging_translates_4k_and_2m_pages),
		cmocka_unit_test(test_pae_not_present_pdpte_faults_with_p_clear),
		cmocka_unit_test(test_pae_walk_uses_pdpte_registers_loaded_at_cr3_load),
		cmocka_unit_test(test_pae_pdpt_located_by_cr3_bits_31_5),
		cmocka_unit_test(test_cr3_flag_bits_do_not_move_the_top_table),
		cmocka_unit_test(test_pae_pdpt_outside_guest_memory_is_load_badmem),
		cmocka_unit_test(test_long_mode_4level_translates_4k_2m_1g_pages),
		cmocka_unit_test(test_long_mode_5level_walks_pml5_from_cr3),
		cmocka_unit_test(test_noncanonical_address_is_gp_or_ss_not_pf_4level),
		cmocka_unit_test(test_noncanonical_address_is_gp_or_ss_not_pf_5level),
		cmocka_unit_test(test_canonical_boundary_addresses_translate),
		cmocka_unit_test(test_linear_address_is_32_bits_outside_long_mode),
		cmocka_unit_test(test_translation_keeps_offset_bits_and_takes_frame_bits_from_entry),
		cmocka_unit_test(test_badmem_when_a_paging_entry_lies_outside_guest_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
