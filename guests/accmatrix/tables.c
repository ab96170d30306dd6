/*
 * The address space of each paging mode: an identity map of the low
 * HARNESS_MAP_BYTES with 4 KiB pages for the harness (supervisor pages,
 * except the image's user section; no NX bit and protection key 0, so the
 * harness keeps running under every control-register setting and PKRU the
 * matrix selects), and one test path from a root slot down to a page table,
 * whose entries the matrix rewrites in place.  Every mode gets tables of
 * its own, allocated once from a static pool: the matrix never allocates.
 */
#include "accmatrix.h"
#include "mm.h" /* cpu_has_* */

struct am_cpu cpu;
struct am_env env;

/* Pages for the tables of two modes: per mode at most a root, three
 * harness tables above the directory, the directory, one page table per
 * 2 or 4 MiB of the harness map, and four test tables. */
#define POOL_PAGES 40
static uint8_t pool[POOL_PAGES][X86_PAGE_SIZE_4K]
	__attribute__((aligned(X86_PAGE_SIZE_4K)));
static unsigned pool_used;

/* Where the test path hangs in its root, by mode: 32-bit and PAE at VA
 * 0xC0000000; long mode in the upper half, so the address is
 * sign-extended.  The test address is DATA_BASE bytes into that slot: a
 * 1 GiB leaf (frame 0) then reaches the data region too. */
#define SLOT_32    0x300u
#define SLOT_PAE   3u
#define SLOT_LONG  0x1F0u

#define CR0_AM UMBRA_BIT(18) /* EFLAGS.AC must never mean alignment checks */

/* Entries above a leaf in the harness: the leaf alone decides. */
#define HARNESS_TABLE_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A)
/* Harness leaves come with A and D set: no exits to set them. */
#define HARNESS_LEAF_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_A | X86_PTE_D)

/* PSE-36 and MAXPHYADDR: the CPUID bits the guest library's cpu_has_*
 * checks (mm.h) do not cover. */
#define CPUID_FEATURES       0x1u
#define CPUID_EXT_BASE       0x80000000u
#define CPUID_EXT_ADDR       0x80000008u /* EAX[7:0]: MAXPHYADDR */
#define CPUID_1_EDX_PAE      (1u << 6)
#define CPUID_1_EDX_PSE36    (1u << 17)
#define PHYS_BITS_MASK       0xFFu
#define PHYS_BITS_PAE        36u /* when CPUID does not say (SDM 4.1.4) */
#define PHYS_BITS_LEGACY     32u

void cpu_read(void)
{
	uint32_t features = cpuid(CPUID_FEATURES, 0).edx;

	cpu.pse36 = features & CPUID_1_EDX_PSE36;
	cpu.nx = cpu_has_nx();
	cpu.gbpages = cpu_has_1g();
	cpu.smep = cpu_has_smep();
	cpu.smap = cpu_has_smap();
	cpu.pku = cpu_has_pku();
	cpu.la57 = cpu_has_la57();
	if (cpuid(CPUID_EXT_BASE, 0).eax >= CPUID_EXT_ADDR)
		cpu.maxphy = cpuid(CPUID_EXT_ADDR, 0).eax & PHYS_BITS_MASK;
	else
		cpu.maxphy = features & CPUID_1_EDX_PAE ? PHYS_BITS_PAE
							: PHYS_BITS_LEGACY;
}

bool mode_offered(enum am_mode m)
{
	if (am_mode_long(m) != (sizeof(long) == 8))
		return false;
	return m != AM_LONG5 || cpu.la57;
}

bool mode_is_long(void)
{
	return am_mode_long(env.mode);
}

uint64_t entry_read(uint64_t gpa)
{
	if (env.esize == 4)
		return *(volatile uint32_t *)(uintptr_t)gpa;
	return *(volatile uint64_t *)(uintptr_t)gpa;
}

void entry_write(uint64_t gpa, uint64_t val)
{
	if (env.esize == 4) {
		*(volatile uint32_t *)(uintptr_t)gpa = (uint32_t)val;
		return;
	}
#ifdef __x86_64__
	*(volatile uint64_t *)(uintptr_t)gpa = val;
#else
	{
		/* Two 4-byte stores; a half that does not change is not
		 * written, since under Umbra every store to a table is one
		 * emulated write (one exit).  No access runs in between. */
		volatile uint32_t *half = (volatile uint32_t *)(uintptr_t)gpa;

		if (half[0] != (uint32_t)val)
			half[0] = (uint32_t)val;
		if (half[1] != (uint32_t)(val >> 32))
			half[1] = (uint32_t)(val >> 32);
	}
#endif
}

static uintptr_t table_alloc(void)
{
	if (pool_used == POOL_PAGES)
		panic("accmatrix: out of table pages");
	return (uintptr_t)pool[pool_used++]; /* .bss: zero */
}

static void table_set(uintptr_t table, unsigned idx, uint64_t val)
{
	entry_write(table + (uint64_t)idx * env.esize, val);
}

static unsigned entries_per_table(void)
{
	return X86_PAGE_SIZE_4K / env.esize;
}

static bool is_user_page(uintptr_t pa)
{
	return pa >= (uintptr_t)__user_start && pa < (uintptr_t)__user_end;
}

/* A directory mapping [0, HARNESS_MAP_BYTES) with 4 KiB pages; page 0 is
 * left out so that a null pointer faults. */
static uintptr_t harness_directory(void)
{
	uintptr_t dir = table_alloc();
	unsigned per = entries_per_table();
	unsigned tables = HARNESS_MAP_BYTES / (per * X86_PAGE_SIZE_4K);

	for (unsigned t = 0; t < tables; t++) {
		uintptr_t pt = table_alloc();

		table_set(dir, t, pt | HARNESS_TABLE_FLAGS);
		for (unsigned i = 0; i < per; i++) {
			uintptr_t pa = (t * per + i) * X86_PAGE_SIZE_4K;

			if (pa != 0)
				table_set(pt, i, pa | HARNESS_LEAF_FLAGS |
							 (is_user_page(pa) ? X86_PTE_US : 0));
		}
	}
	return dir;
}

/* The harness tree: a directory and one table per level above it, each
 * holding its child in entry 0.  Returns the root. */
static uintptr_t harness_tree(void)
{
	uintptr_t t = harness_directory();

	for (unsigned level = 3; level <= env.top; level++) {
		uintptr_t up = table_alloc();

		if (env.mode == AM_PAE) {
			env.harness_pdpte0 = t | X86_PTE_P; /* no other bits */
			table_set(up, 0, env.harness_pdpte0);
		} else {
			table_set(up, 0, t | HARNESS_TABLE_FLAGS);
		}
		t = up;
	}
	return t;
}

/* Index of va in the table at `level`. */
static unsigned va_index(unsigned level)
{
	unsigned bits = env.esize == 4 ? 10 : 9;
	unsigned shift = X86_PAGE_SHIFT_4K + (level - 1) * bits;

	return (unsigned)(env.va >> shift) & (entries_per_table() - 1);
}

/* The test path of va: its slot in the root, then one fresh table per
 * level.  The entries stay zero (not present) until the matrix writes
 * them; only the PAE PDPTE is fixed. */
static void test_path(void)
{
	uintptr_t t = env.root;

	for (unsigned level = env.top; level >= 1; level--) {
		env.entry_gpa[level] = t + (uint64_t)va_index(level) * env.esize;
		if (level > 1) {
			t = table_alloc();
			env.table_of[level] = t;
		}
	}
	if (env.mode == AM_PAE) {
		env.test_pdpte = env.table_of[3] | X86_PTE_P;
		entry_write(env.entry_gpa[3], env.test_pdpte);
	}
}

static uint64_t sign_extend(uint64_t va, unsigned bits)
{
	uint64_t sign = 1ull << (bits - 1);

	return (va ^ sign) - sign;
}

/* The leaf reserved bits: the lowest address bit at or above MAXPHYADDR
 * for a 4 KiB leaf (none in 32-bit paging); for a large leaf the lowest
 * bit of the large-page reserved field (bit 21 of a 4 MiB PDE, bit 13 of a
 * 2 MiB PDE). */
static void choose_reserved_bits(void)
{
	unsigned addr_top = env.mode == AM_PAE ? 62 : 51;

	if (env.mode == AM_32) {
		env.rsv_4k = 0;
		env.rsv_large = X86_PTE32_4M_RSVD_BIT;
		return;
	}
	env.rsv_4k = cpu.maxphy <= addr_top ? UMBRA_BIT(cpu.maxphy) : 0;
	env.rsv_large = UMBRA_BIT(13);
}

static const char *const mode_names[AM_MODES] = { "32", "pae", "long4",
						   "long5" };

static void layout(enum am_mode m)
{
	static const unsigned tops[AM_MODES] = { 2, 3, 4, 5 };
	static const unsigned slots[AM_MODES] = { SLOT_32, SLOT_PAE, SLOT_LONG,
						  SLOT_LONG };
	unsigned bits_per_level = m == AM_32 ? 10 : 9;
	unsigned shift;

	memset(&env, 0, sizeof(env));
	env.mode = m;
	env.name = mode_names[m];
	env.top = tops[m];
	env.esize = m == AM_32 ? 4 : 8;
	shift = X86_PAGE_SHIFT_4K + (env.top - 1) * bits_per_level;
	env.va = (uint64_t)slots[m] << shift | DATA_BASE;
	if (am_mode_long(m))
		env.va = sign_extend(env.va, shift + bits_per_level);
	env.root = harness_tree();
	test_path();
	choose_reserved_bits();
}

/* Switch to the new mode's tables with CR4 = base_cr4 (no SMEP, SMAP or
 * PKE yet: the configuration adds them). */
static void switch_paging(void)
{
#ifdef __x86_64__
	if ((read_cr4() & X86_CR4_LA57) != (env.base_cr4 & X86_CR4_LA57)) {
		paging_reenter(env.root, env.base_cr4);
		return;
	}
	write_cr4(env.base_cr4);
	write_cr3(env.root);
#else
	/* 32-bit and PAE paging are entered from paging off. */
	write_cr0(env.base_cr0 & ~X86_CR0_PG);
	write_cr4(env.base_cr4);
	write_cr3(env.root);
	write_cr0(env.base_cr0);
#endif
}

void mode_enter(enum am_mode m)
{
	static const uint64_t cr4s[AM_MODES] = {
		X86_CR4_PSE, X86_CR4_PAE, X86_CR4_PAE,
		X86_CR4_PAE | X86_CR4_LA57
	};

	if (DATA_BASE + DATA_SIZE > HARNESS_MAP_BYTES ||
	    (uintptr_t)__image_end > DATA_BASE)
		panic("accmatrix: the image overlaps the data region");
	memset((void *)(uintptr_t)DATA_BASE, DATA_FILL, DATA_SIZE);
	layout(m);
	env.base_cr0 = (read_cr0() & ~(CR0_AM | X86_CR0_WP)) | X86_CR0_PE |
		       X86_CR0_PG;
	env.base_cr4 = cr4s[m];
	env.base_efer = cpu.nx ? rdmsr(X86_MSR_EFER) & ~X86_EFER_NXE : 0;
	switch_paging();
}
