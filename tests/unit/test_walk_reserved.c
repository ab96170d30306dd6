/*
 * Reserved bits (paging-rules.md "Entries and reserved bits"; SDM tables
 * 4-4 .. 4-20, 4.4.1 for PAE PDPTEs; APM 5.3-5.4): a present entry with a
 * reserved bit set ends the walk with #PF(P|RSVD), except a PAE PDPTE, whose
 * reserved bits make the CR3 load itself raise #GP.
 */
#include "walktest.h"

#include "wt_short.h"
#define NXE  X86_EFER_NXE
#define PSE  X86_CR4_PSE
#define B(n) UMBRA_BIT(n)

static void test_reserved_bits_above_maxphyaddr_fault_at_every_level(void **state)
{
	/* Long mode: bits 51:M are reserved in every entry. */
	static const struct wt_case rows[] = {
		{ .rule = "M=36: bit 36 in PTE", .mode = L4, .maxphyaddr = 36,
		  .set = { [WT_PT] = B(36) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 1 },
		{ .rule = "M=36: bit 36 in PDE", .mode = L4, .maxphyaddr = 36,
		  .set = { [WT_PD] = B(36) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 2 },
		{ .rule = "M=36: bit 36 in PDPTE", .mode = L4, .maxphyaddr = 36,
		  .set = { [WT_PDPT] = B(36) }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U | RSVD, .stop = 3 },
		{ .rule = "M=36: bit 36 in PML4E", .mode = L4, .maxphyaddr = 36,
		  .set = { [WT_PML4] = B(36) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 4 },
		{ .rule = "M=46: bit 50 in PML5E", .mode = L5,
		  .set = { [WT_PML5] = B(50) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 5 },
		{ .rule = "M=40: bit 51 in PTE", .mode = L4, .maxphyaddr = 40,
		  .set = { [WT_PT] = B(51) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 1 },
		{ .rule = "M=46: bit 46 in PDPTE, fetch with NXE", .mode = L4,
		  .efer = NXE, .set = { [WT_PDPT] = B(46) }, .kind = WT_FETCH,
		  .status = PF, .ec = P | RSVD | ID, .stop = 3 },
		{ .rule = "M=39: bit 39 in 2 MiB PDE", .mode = L4,
		  .maxphyaddr = 39, .leaf = 2, .set = { [WT_PD] = B(39) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "M=36: bit 44 in 1 GiB PDPTE", .mode = L4,
		  .maxphyaddr = 36, .leaf = 3, .set = { [WT_PDPT] = B(44) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 3 },
		{ .rule = "PAE M=36: bit 36 in PDE", .mode = LPAE,
		  .maxphyaddr = 36, .set = { [WT_PD] = B(36) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "PAE M=36: bit 51 in PTE", .mode = LPAE,
		  .maxphyaddr = 36, .set = { [WT_PT] = B(51) },
		  .kind = WT_READ, .cpl = 3, .status = PF,
		  .ec = P | U | RSVD, .stop = 1 },
		{ .rule = "PAE M=40: bit 45 in 2 MiB PDE", .mode = LPAE,
		  .maxphyaddr = 40, .leaf = 2, .set = { [WT_PD] = B(45) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_maxphyaddr_is_configurable(void **state)
{
	/* The same leaf bit is an address bit below MAXPHYADDR and reserved
	 * at or above it. */
	static const struct wt_case rows[] = {
		{ .rule = "M=41: bit 40 is an address bit", .mode = L4,
		  .maxphyaddr = 41, .frame = B(40) | WT_FRAME_4K,
		  .kind = WT_READ, .status = OK },
		{ .rule = "M=40: bit 40 is reserved", .mode = L4,
		  .maxphyaddr = 40, .set = { [WT_PT] = B(40) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD },
		{ .rule = "M=52: bit 51 is an address bit", .mode = L4,
		  .maxphyaddr = 52, .frame = B(51) | WT_FRAME_4K,
		  .kind = WT_READ, .status = OK },
		{ .rule = "M=52: bit 51 in a 1 GiB page", .mode = L5,
		  .maxphyaddr = 52, .leaf = 3, .frame = B(51) | WT_FRAME_1G,
		  .kind = WT_READ, .status = OK },
		{ .rule = "M=36: bit 35 is an address bit", .mode = L4,
		  .maxphyaddr = 36, .leaf = 2, .frame = B(35) | WT_FRAME_2M,
		  .kind = WT_READ, .status = OK },
		{ .rule = "PAE M=52: bit 51 is an address bit", .mode = LPAE,
		  .maxphyaddr = 52, .frame = B(51) | WT_FRAME_4K,
		  .kind = WT_READ, .status = OK },
		{ .rule = "PAE M=45: bit 45 is reserved", .mode = LPAE,
		  .maxphyaddr = 45, .set = { [WT_PT] = B(45) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_nx_bit63_reserved_without_efer_nxe(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "no NXE: bit 63 in PTE", .mode = L4,
		  .set = { [WT_PT] = X86_PTE_NX }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 1 },
		{ .rule = "no NXE: bit 63 in PDE", .mode = L4,
		  .set = { [WT_PD] = X86_PTE_NX }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U | RSVD, .stop = 2 },
		{ .rule = "no NXE: bit 63 in PDPTE", .mode = L4,
		  .set = { [WT_PDPT] = X86_PTE_NX }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 3 },
		{ .rule = "no NXE: bit 63 in PML4E, fetch (no I/D without "
			  "NXE/SMEP)",
		  .mode = L4, .set = { [WT_PML4] = X86_PTE_NX },
		  .kind = WT_FETCH, .status = PF, .ec = P | RSVD, .stop = 4 },
		{ .rule = "no NXE: bit 63 in PML5E", .mode = L5,
		  .set = { [WT_PML5] = X86_PTE_NX }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 5 },
		{ .rule = "no NXE: bit 63 in 2 MiB PDE", .mode = L4, .leaf = 2,
		  .set = { [WT_PD] = X86_PTE_NX }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "no NXE: bit 63 in 1 GiB PDPTE", .mode = L4,
		  .leaf = 3, .set = { [WT_PDPT] = X86_PTE_NX },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 3 },
		{ .rule = "PAE no NXE: bit 63 in PDE", .mode = LPAE,
		  .set = { [WT_PD] = X86_PTE_NX }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "PAE no NXE: bit 63 in PTE", .mode = LPAE,
		  .set = { [WT_PT] = X86_PTE_NX }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 1 },
		{ .rule = "NXE: bit 63 is the NX bit, read allowed", .mode = L4,
		  .efer = NXE,
		  .set = { [WT_PT] = X86_PTE_NX, [WT_PML4] = X86_PTE_NX },
		  .kind = WT_READ, .status = OK },
		{ .rule = "PAE NXE: bit 63 is the NX bit, read allowed",
		  .mode = LPAE, .efer = NXE, .set = { [WT_PD] = X86_PTE_NX },
		  .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_bits_62_52_ignored_in_long_mode_entries(void **state)
{
	const uint64_t ign = UMBRA_BITS(62, 52);
	const struct wt_case rows[] = {
		{ .rule = "bits 62:52 set at every level, 4 KiB", .mode = L4,
		  .set = { [WT_PT] = ign, [WT_PD] = ign, [WT_PDPT] = ign,
			   [WT_PML4] = ign },
		  .kind = WT_WRITE, .cpl = 3, .status = OK },
		{ .rule = "bits 62:52 set at every level, 5-level 2 MiB",
		  .mode = L5, .leaf = 2,
		  .set = { [WT_PD] = ign, [WT_PDPT] = ign, [WT_PML4] = ign,
			   [WT_PML5] = ign },
		  .kind = WT_READ, .status = OK },
		{ .rule = "bits 62:52 in a 1 GiB page with M=52", .mode = L4,
		  .maxphyaddr = 52, .leaf = 3,
		  .set = { [WT_PDPT] = ign, [WT_PML4] = ign },
		  .kind = WT_READ, .status = OK },
		{ .rule = "bits 62:52 with CR4.PKE and PKRU=0", .mode = L4,
		  .cr4 = X86_CR4_PKE,
		  .set = { [WT_PT] = ign, [WT_PD] = ign },
		  .kind = WT_READ, .cpl = 3, .status = OK,
		  .check_pkey = true, .pkey = 15 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pae_bits_62_to_maxphyaddr_reserved_in_pde_and_pte(void **state)
{
	/* Unlike long mode, PAE has no ignored high bits: 62:M are all
	 * reserved, even with M = 52, and there are no protection keys. */
	static const struct wt_case rows[] = {
		{ .rule = "PAE M=52: bit 52 in PDE", .mode = LPAE,
		  .maxphyaddr = 52, .set = { [WT_PD] = B(52) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "PAE M=52: bit 62 in PTE", .mode = LPAE,
		  .maxphyaddr = 52, .set = { [WT_PT] = B(62) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 1 },
		{ .rule = "PAE: key bit 59 in PTE with CR4.PKE", .mode = LPAE,
		  .cr4 = X86_CR4_PKE, .set = { [WT_PT] = B(59) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 1 },
		{ .rule = "PAE NXE: bit 62 in PDE still reserved", .mode = LPAE,
		  .efer = NXE, .set = { [WT_PD] = B(62) }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 2 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_ps_reserved_in_pml4e_and_pml5e(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "PS in PML4E", .mode = L4,
		  .set = { [WT_PML4] = X86_PTE_PS }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 4 },
		{ .rule = "PS in PML4E, user write", .mode = L4,
		  .set = { [WT_PML4] = X86_PTE_PS }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U | RSVD, .stop = 4 },
		{ .rule = "PS in PML5E", .mode = L5,
		  .set = { [WT_PML5] = X86_PTE_PS }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 5 },
		{ .rule = "PS in PML4E under 5-level paging", .mode = L5,
		  .set = { [WT_PML4] = X86_PTE_PS }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 4 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_1g_page_ps_reserved_without_gbpages_support(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "no 1 GiB pages: PS in PDPTE is reserved", .mode = L4,
		  .no_gbpages = true, .leaf = 3, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 3 },
		{ .rule = "no 1 GiB pages: 5-level, user write", .mode = L5,
		  .no_gbpages = true, .leaf = 3, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U | RSVD, .stop = 3 },
		{ .rule = "no 1 GiB pages: 2 MiB pages still work", .mode = L4,
		  .no_gbpages = true, .leaf = 2, .kind = WT_READ,
		  .status = OK },
		{ .rule = "1 GiB pages supported: PS in PDPTE maps 1 GiB",
		  .mode = L4, .leaf = 3, .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_1g_page_bits_29_13_reserved_bit12_is_pat(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "1 GiB page: bit 13 reserved", .mode = L4, .leaf = 3,
		  .set = { [WT_PDPT] = B(13) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 3 },
		{ .rule = "1 GiB page: bit 21 reserved", .mode = L4, .leaf = 3,
		  .set = { [WT_PDPT] = B(21) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 3 },
		{ .rule = "1 GiB page: bit 29 reserved", .mode = L5, .leaf = 3,
		  .set = { [WT_PDPT] = B(29) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 3 },
		{ .rule = "1 GiB page: bit 12 is PAT", .mode = L4, .leaf = 3,
		  .set = { [WT_PDPT] = X86_PTE_PAT_LARGE }, .kind = WT_WRITE,
		  .status = OK },
		{ .rule = "PDPTE without PS: table address bit 13 (PD at "
			  "0x3000) is not reserved",
		  .mode = L4, .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_2m_page_bits_20_13_reserved_bit12_is_pat(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "2 MiB page: bit 13 reserved", .mode = L4, .leaf = 2,
		  .set = { [WT_PD] = B(13) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 2 },
		{ .rule = "2 MiB page: bit 20 reserved", .mode = L5, .leaf = 2,
		  .set = { [WT_PD] = B(20) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 2 },
		{ .rule = "2 MiB page: bit 12 is PAT", .mode = L4, .leaf = 2,
		  .set = { [WT_PD] = X86_PTE_PAT_LARGE }, .kind = WT_READ,
		  .status = OK },
		{ .rule = "PAE 2 MiB page: bit 13 reserved", .mode = LPAE,
		  .leaf = 2, .set = { [WT_PD] = B(13) }, .kind = WT_READ,
		  .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "PAE 2 MiB page: bit 16 reserved", .mode = LPAE,
		  .leaf = 2, .set = { [WT_PD] = B(16) }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U | RSVD, .stop = 2 },
		{ .rule = "PAE 2 MiB page: bit 12 is PAT", .mode = LPAE,
		  .leaf = 2, .set = { [WT_PD] = X86_PTE_PAT_LARGE },
		  .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_4k_pte_bit7_is_pat_not_page_size(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4-level PTE bit 7 (PAT)", .mode = L4,
		  .set = { [WT_PT] = X86_PTE_PAT4K }, .kind = WT_READ,
		  .status = OK },
		{ .rule = "PAE PTE bit 7 (PAT)", .mode = LPAE,
		  .set = { [WT_PT] = X86_PTE_PAT4K }, .kind = WT_WRITE,
		  .status = OK },
		{ .rule = "32-bit PTE bit 7 (PAT) with CR4.PSE", .mode = L32,
		  .cr4 = PSE, .set = { [WT_PT] = X86_PTE_PAT4K },
		  .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_32bit_4k_entries_have_no_reserved_bits(void **state)
{
	/* Every bit of a 32-bit PDE (without PS) and PTE is an address, flag
	 * or ignored bit; even EFER.NXE does not make one reserved. */
	static const struct wt_case rows[] = {
		{ .rule = "32-bit: all flag and ignored bits set", .mode = L32,
		  .set = { [WT_PD] = UMBRA_BITS(11, 8) | X86_PTE_D |
			   X86_PTE_PWT | X86_PTE_PCD,
			   [WT_PT] = UMBRA_BITS(11, 7) | X86_PTE_PWT |
			   X86_PTE_PCD },
		  .kind = WT_WRITE, .cpl = 3, .status = OK },
		{ .rule = "32-bit with NXE and PSE: still none reserved",
		  .mode = L32, .cr4 = PSE, .efer = NXE,
		  .set = { [WT_PD] = UMBRA_BITS(11, 8),
			   [WT_PT] = UMBRA_BITS(11, 7) },
		  .frame = 0xfffff000, .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_32bit_4m_pde_bit21_reserved(void **state)
{
	static const struct wt_case rows[] = {
		{ .rule = "4 MiB PDE: bit 21", .mode = L32, .cr4 = PSE,
		  .leaf = 2, .set = { [WT_PD] = X86_PTE32_4M_RSVD_BIT },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "4 MiB PDE: bit 21 with M=52", .mode = L32,
		  .cr4 = PSE, .maxphyaddr = 52, .leaf = 2,
		  .set = { [WT_PD] = X86_PTE32_4M_RSVD_BIT }, .kind = WT_WRITE,
		  .cpl = 3, .status = PF, .ec = P | W | U | RSVD, .stop = 2 },
		{ .rule = "4 MiB PDE: bit 12 is PAT", .mode = L32, .cr4 = PSE,
		  .leaf = 2, .set = { [WT_PD] = X86_PTE_PAT_LARGE },
		  .kind = WT_READ, .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_32bit_4m_pde_address_bits_above_maxphyaddr_reserved(void **state)
{
	/* PSE-36: PDE bits 20:13 carry address bits 39:32; those at or above
	 * MAXPHYADDR (bits 20:(M-19)) are reserved, and all of them when the
	 * CPU lacks PSE-36. */
	static const struct wt_case rows[] = {
		{ .rule = "M=36: PDE bit 17 (address bit 36) reserved",
		  .mode = L32, .cr4 = PSE, .maxphyaddr = 36, .leaf = 2,
		  .set = { [WT_PD] = B(17) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 2 },
		{ .rule = "M=36: PDE bit 20 reserved", .mode = L32, .cr4 = PSE,
		  .maxphyaddr = 36, .leaf = 2, .set = { [WT_PD] = B(20) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "M=36: PDE bit 16 is address bit 35", .mode = L32,
		  .cr4 = PSE, .maxphyaddr = 36, .leaf = 2,
		  .frame = B(35) | WT_FRAME_4M, .kind = WT_READ, .status = OK },
		{ .rule = "M=39: PDE bit 20 reserved", .mode = L32, .cr4 = PSE,
		  .maxphyaddr = 39, .leaf = 2, .set = { [WT_PD] = B(20) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "M=39: PDE bit 19 is address bit 38", .mode = L32,
		  .cr4 = PSE, .maxphyaddr = 39, .leaf = 2,
		  .frame = B(38) | WT_FRAME_4M, .kind = WT_READ, .status = OK },
		{ .rule = "M=32: PDE bit 13 reserved", .mode = L32, .cr4 = PSE,
		  .maxphyaddr = 32, .leaf = 2, .set = { [WT_PD] = B(13) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 2 },
		{ .rule = "no PSE-36: PDE bit 13 reserved", .mode = L32,
		  .cr4 = PSE, .no_pse36 = true, .leaf = 2,
		  .set = { [WT_PD] = B(13) }, .kind = WT_READ, .status = PF,
		  .ec = P | RSVD, .stop = 2 },
		{ .rule = "no PSE-36: PDE bit 20 reserved", .mode = L32,
		  .cr4 = PSE, .no_pse36 = true, .leaf = 2,
		  .set = { [WT_PD] = B(20) }, .kind = WT_FETCH, .cpl = 3,
		  .status = PF, .ec = P | U | RSVD, .stop = 2 },
		{ .rule = "no PSE-36: 4 MiB page below 4 GiB works", .mode = L32,
		  .cr4 = PSE, .no_pse36 = true, .leaf = 2, .kind = WT_READ,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pae_pdpte_reserved_bits_raise_gp_at_cr3_load(void **state)
{
	/* PDPTE reserved bits 2:1, 8:5, 63:M (SDM table 4-8): MOV to CR3
	 * raises #GP(0) when a present PDPTE has one. */
	static const struct wt_case rows[] = {
		{ .rule = "PDPTE bit 1 (R/W position)", .mode = LPAE,
		  .set = { [WT_PDPT] = B(1) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bit 2 (U/S position)", .mode = LPAE,
		  .set = { [WT_PDPT] = B(2) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bit 5 (A position)", .mode = LPAE,
		  .set = { [WT_PDPT] = B(5) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bit 6", .mode = LPAE,
		  .set = { [WT_PDPT] = B(6) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bit 7 (PS position)", .mode = LPAE,
		  .set = { [WT_PDPT] = B(7) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bit 8", .mode = LPAE,
		  .set = { [WT_PDPT] = B(8) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE M=36: bit 36", .mode = LPAE, .maxphyaddr = 36,
		  .set = { [WT_PDPT] = B(36) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE M=52: bit 52", .mode = LPAE, .maxphyaddr = 52,
		  .set = { [WT_PDPT] = B(52) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bit 62", .mode = LPAE,
		  .set = { [WT_PDPT] = B(62) }, .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bit 63 even with NXE", .mode = LPAE,
		  .efer = NXE, .set = { [WT_PDPT] = B(63) },
		  .load = UMBRA_LOAD_GP },
		{ .rule = "PDPTE bits 11:9 are ignored", .mode = LPAE,
		  .set = { [WT_PDPT] = UMBRA_BITS(11, 9) }, .kind = WT_READ,
		  .status = OK },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

static void test_pae_any_present_pdpte_with_reserved_bits_fails_the_load(void **state)
{
	/* All four PDPTEs are loaded and checked, not just the one a later
	 * walk would use; not-present ones are not checked. */
	struct wt_env e;

	(void)state;
	wt_begin(&e, LPAE);
	wt_map(&e, 0x00001000, 1, WT_FRAME_4K, NULL, NULL); /* PDPTE 0 */
	testmem_set_entry(e.mem, e.top_table, 1, 8, UMBRA_BITS(63, 1));
	testmem_set_entry(e.mem, e.top_table, 2, 8, 0x2000 | X86_PTE_P);
	testmem_set_entry(e.mem, e.top_table, 3, 8, 0x3000);
	assert_int_equal(wt_init(&e), UMBRA_LOAD_OK);

	/* PDPTE 3 becomes present with U/S (reserved in a PDPTE). */
	testmem_set_entry(e.mem, e.top_table, 3, 8,
			  0x3000 | X86_PTE_P | X86_PTE_US);
	assert_int_equal(umbra_walk_load_pdptes(&e.w), UMBRA_LOAD_GP);

	testmem_set_entry(e.mem, e.top_table, 3, 8, 0x3000 | X86_PTE_P);
	assert_int_equal(umbra_walk_load_pdptes(&e.w), UMBRA_LOAD_OK);

	testmem_set_entry(e.mem, e.top_table, 2, 8,
			  0x2000 | X86_PTE_P | UMBRA_BIT(7));
	assert_int_equal(wt_init(&e), UMBRA_LOAD_GP);
}

static void test_reserved_bit_found_during_walk_precedes_other_faults(void **state)
{
	/* The walk stops at the first entry with a reserved bit; permission
	 * checks come after a complete walk and not-present entries below
	 * are never read. */
	static const struct wt_case rows[] = {
		{ .rule = "U/S=0 above, reserved PTE: RSVD, with U", .mode = L4,
		  .clr = { [WT_PML4] = X86_PTE_US },
		  .set = { [WT_PT] = B(50) }, .kind = WT_READ, .cpl = 3,
		  .status = PF, .ec = P | U | RSVD, .stop = 1 },
		{ .rule = "R/W=0 above, reserved PDE: RSVD, with W", .mode = L4,
		  .clr = { [WT_PDPT] = X86_PTE_RW },
		  .set = { [WT_PD] = X86_PTE_NX }, .kind = WT_WRITE, .cpl = 3,
		  .status = PF, .ec = P | W | U | RSVD, .stop = 2 },
		{ .rule = "reserved PDPTE, not-present PTE: RSVD", .mode = L4,
		  .set = { [WT_PDPT] = B(47) }, .clr = { [WT_PT] = X86_PTE_P },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 3 },
		{ .rule = "not-present PML4E, reserved PTE: not present",
		  .mode = L4, .clr = { [WT_PML4] = X86_PTE_P },
		  .set = { [WT_PT] = B(50) }, .kind = WT_READ, .status = PF,
		  .ec = 0, .stop = 4 },
		{ .rule = "NX above, reserved PTE, fetch: RSVD with I/D",
		  .mode = L4, .efer = NXE, .set = { [WT_PD] = X86_PTE_NX,
						    [WT_PT] = B(49) },
		  .kind = WT_FETCH, .status = PF, .ec = P | ID | RSVD,
		  .stop = 1 },
		{ .rule = "SMAP would fault, reserved PTE: RSVD", .mode = L4,
		  .cr4 = X86_CR4_SMAP, .set = { [WT_PT] = B(51) },
		  .kind = WT_READ, .status = PF, .ec = P | RSVD, .stop = 1 },
		{ .rule = "not-present entry with reserved bits: not present",
		  .mode = L4, .clr = { [WT_PD] = X86_PTE_P },
		  .set = { [WT_PD] = B(51) | X86_PTE_PS }, .kind = WT_READ,
		  .status = PF, .ec = 0, .stop = 2 },
	};

	(void)state;
	WT_RUN_TABLE(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reserved_bits_above_maxphyaddr_fault_at_every_level),
		cmocka_unit_test(test_maxphyaddr_is_configurable),
		cmocka_unit_test(test_nx_bit63_reserved_without_efer_nxe),
		cmocka_unit_test(test_bits_62_52_ignored_in_long_mode_entries),
		cmocka_unit_test(test_pae_bits_62_to_maxphyaddr_reserved_in_pde_and_pte),
		cmocka_unit_test(test_ps_reserved_in_pml4e_and_pml5e),
		cmocka_unit_test(test_1g_page_ps_reserved_without_gbpages_support),
		cmocka_unit_test(test_1g_page_bits_29_13_reserved_bit12_is_pat),
		cmocka_unit_test(test_2m_page_bits_20_13_reserved_bit12_is_pat),
		cmocka_unit_test(test_4k_pte_bit7_is_pat_not_page_size),
		cmocka_unit_test(test_32bit_4k_entries_have_no_reserved_bits),
		cmocka_unit_test(test_32bit_4m_pde_bit21_reserved),
		cmocka_unit_test(test_32bit_4m_pde_address_bits_above_maxphyaddr_reserved),
		cmocka_unit_test(test_pae_pdpte_reserved_bits_raise_gp_at_cr3_load),
		cmocka_unit_test(test_pae_any_present_pdpte_with_reserved_bits_fails_the_load),
		cmocka_unit_test(test_reserved_bit_found_during_walk_precedes_other_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
