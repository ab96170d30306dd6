/*
 * The page-table builders.  In every mode (whatever the flavour: building
 * tables is plain memory work): 4 KiB and large leaves, PSE-36 and
 * addresses above 4 GiB, 1 GiB leaves, the entries of intermediate tables,
 * walks blocked by large leaves, pt_map_range's choice of leaves,
 * replacement, unmapping, and pt_free with a shared root entry, which must
 * return every table page.  Then the flavour's own modes are activated
 * over an identity map and accessed through aliases: a 4 KiB page, a
 * large page, a 1 GiB page, and (LA57) an address only 5 levels reach.
 */
#include "libcheck.h"
#include "mm.h"

#define VA_4K     0x12345000ull
#define VA_BIG    0x80000000ull  /* 4 MiB and 2 MiB aligned */
#define VA_HIGH   0xC0000000ull
#define VA_RANGE  0x8FFFE000ull  /* two 4 KiB pages below a large boundary */
#define PA_RANGE  0x00BFE000ull  /* likewise: 0xC00000 is 4 MiB aligned */
#define PA_BIG    0x00C00000ull
#define PA_4K     0x00005000ull
#define PA_ABOVE_4G_4K 0x123456000ull
#define PA_ABOVE_4G_4M 0x100400000ull /* PSE-36: bits 39:32 = 1 */
#define VA_1G     0x4000000000ull     /* 256 GiB: beyond 32-bit reach */
#define PA_1G     SIZE_1G
#define VA_LA57   0x0080000000000000ull /* canonical only with 5 levels */
#define OFFSET    0x123ull
#define LEAF      (X86_PTE_P | X86_PTE_RW)
#define TABLE_BITS (X86_PTE_P | X86_PTE_RW | X86_PTE_US)
#define FLAG_BITS 0xFFFull
#define MAGIC     0x5eed1234u

static const char *const mode_names[] = { "32-bit", "PAE", "4-level", "5-level" };

static bool is_long(enum pt_mode m)
{
	return m == PT_MODE_LONG4 || m == PT_MODE_LONG5;
}

static uint64_t big_size(enum pt_mode m)
{
	return m == PT_MODE_32 ? SIZE_4M : SIZE_2M;
}

/* Does va translate to pa through a leaf at `level`? */
static bool maps(struct pt *pt, uint64_t va, uint64_t pa, unsigned level)
{
	uint64_t got;
	unsigned l;

	return pt_translate(pt, va, &got, &l) && got == pa && l == level;
}

static void check_large(struct pt *pt)
{
	enum pt_mode m = pt->mode;
	uint64_t big = big_size(m);

	CHECK(pt_map(pt, VA_BIG, PA_BIG, big, LEAF), "map large");
	CHECK(maps(pt, VA_BIG + OFFSET, PA_BIG + OFFSET, 2), "large leaf");
	CHECK(pte_addr(pt, pte_read(pt, pt_entry(pt, VA_BIG, 2, false)), 2) == PA_BIG,
	      "pte_addr of the large leaf");
	CHECK(pte_is_leaf(pt, pte_read(pt, pt_entry(pt, VA_BIG, 2, false)), 2),
	      "pte_is_leaf of the large leaf");
	CHECK(!pt_map(pt, VA_BIG + SIZE_4K, PA_4K, SIZE_4K, LEAF),
	      "a 4 KiB leaf inside a large one");
	CHECK(pt_entry(pt, VA_BIG, 1, false) == NULL, "entry below a large leaf");
	CHECK(!pt_map(pt, VA_BIG, PA_BIG + SIZE_4K, big, LEAF), "misaligned pa");
	if (m == PT_MODE_32) {
		CHECK(pt_map(pt, VA_HIGH, PA_ABOVE_4G_4M, SIZE_4M, LEAF), "map PSE-36");
		CHECK(maps(pt, VA_HIGH + OFFSET, PA_ABOVE_4G_4M + OFFSET, 2),
		      "PSE-36 leaf");
		CHECK((pte_read(pt, pt_entry(pt, VA_HIGH, 2, false)) &
		       X86_PTE32_PSE36_MASK) == 1ull << X86_PTE32_PSE36_SHIFT,
		      "PSE-36 bits");
		CHECK(!pt_map(pt, VA_4K, PA_ABOVE_4G_4K, SIZE_4K, LEAF),
		      "a 4 KiB leaf above 4 GiB");
		CHECK(!pt_map(pt, VA_BIG, PA_BIG, SIZE_2M, LEAF), "2 MiB leaf");
	} else {
		CHECK(pt_map(pt, VA_HIGH, PA_ABOVE_4G_4K, SIZE_4K, LEAF), "map high pa");
		CHECK(maps(pt, VA_HIGH + OFFSET, PA_ABOVE_4G_4K + OFFSET, 1),
		      "4 KiB leaf above 4 GiB");
		CHECK(!pt_map(pt, VA_BIG, PA_BIG, SIZE_4M, LEAF), "4 MiB leaf");
	}
	if (is_long(m) && cpu_has_1g()) {
		CHECK(pt_map(pt, VA_1G, PA_1G, SIZE_1G, LEAF), "map 1 GiB");
		CHECK(maps(pt, VA_1G + PA_BIG + OFFSET, PA_1G + PA_BIG + OFFSET, 3),
		      "1 GiB leaf");
	} else {
		CHECK(!pt_map(pt, VA_1G, PA_1G, SIZE_1G, LEAF), "1 GiB leaf");
	}
	CHECK(pt_map(pt, VA_LA57, PA_4K, SIZE_4K, LEAF) == (m == PT_MODE_LONG5),
	      "a 5-level address");
}

/* The entries above VA_4K's leaf: P only in a PAE PDPT, P|RW|US else;
 * tables, not leaves; the root's is where pt_slot says. */
static void check_table_entries(struct pt *pt)
{
	unsigned top = pt_levels(pt->mode);
	unsigned idx = (unsigned)(VA_4K / pt_level_span(pt->mode, top) %
				  pt_entries(pt->mode, top));

	for (unsigned l = 2; l <= top; l++) {
		uint64_t e = pte_read(pt, pt_entry(pt, VA_4K, l, false));
		uint64_t want = pt->mode == PT_MODE_PAE && l == 3 ? X86_PTE_P
								    : TABLE_BITS;

		CHECK((e & FLAG_BITS) == want && (e >> 52) == 0 &&
		      !pte_is_leaf(pt, e, l),
		      "level %u entry %#llx", l, (unsigned long long)e);
	}
	CHECK(pt_entry(pt, VA_4K, top, false) == pt_slot(pt, pt->root, idx),
	      "pt_slot of the root entry");
}

static void check_range(struct pt *pt)
{
	uint64_t big = big_size(pt->mode), boundary = VA_RANGE + 2 * SIZE_4K;

	CHECK(pt_map_range(pt, VA_RANGE, PA_RANGE, 3 * SIZE_4K + big, LEAF),
	      "pt_map_range");
	CHECK(maps(pt, VA_RANGE, PA_RANGE, 1) &&
	      maps(pt, boundary - SIZE_4K, PA_RANGE + SIZE_4K, 1),
	      "range head");
	CHECK(maps(pt, boundary + OFFSET, PA_BIG + OFFSET, 2), "range body");
	CHECK(maps(pt, boundary + big, PA_BIG + big, 1) &&
	      !pt_translate(pt, boundary + big + SIZE_4K, &(uint64_t){ 0 },
			    &(unsigned){ 0 }),
	      "range tail");
}

/* A second tree sharing VA_4K's root entry: pt_free leaves it alone. */
static void check_shared_free(struct pt *pt)
{
	unsigned top = pt_levels(pt->mode);
	unsigned idx = (unsigned)(VA_4K / pt_level_span(pt->mode, top) %
				  pt_entries(pt->mode, top));
	uint64_t used = page_used_count();
	struct pt other;

	if (!pt_init(&other, pt->mode)) {
		CHECK(false, "pt_init");
		return;
	}
	pte_write(&other, pt_entry(&other, VA_4K, top, false),
		  pte_read(pt, pt_entry(pt, VA_4K, top, false)));
	/* ...and has tables of its own under the next root entry. */
	CHECK(pt_map(&other, VA_4K + pt_level_span(pt->mode, top), PA_4K,
		     SIZE_4K, LEAF), "map in the second tree");
	CHECK(maps(&other, VA_4K, PA_4K, 1), "shared entry");
	pt_free(&other, idx, idx);
	CHECK(page_used_count() == used, "second tree: %llu pages left",
	      (unsigned long long)(page_used_count() - used));
	CHECK(maps(pt, VA_4K, PA_4K, 1), "shared tables survive");
}

static void check_builder(enum pt_mode m)
{
	int before = failures;
	uint64_t used = page_used_count(), frame = page_alloc();
	struct pt pt;

	if (!pt_init(&pt, m)) {
		CHECK(false, "pt_init");
		return;
	}
	CHECK(pt_entry(&pt, VA_4K, 1, false) == NULL, "entry in an empty tree");
	CHECK(pt_map(&pt, VA_4K, frame, SIZE_4K, LEAF), "map 4 KiB");
	CHECK(maps(&pt, VA_4K + OFFSET, frame + OFFSET, 1), "4 KiB leaf");
	CHECK(pte_read(&pt, pt_entry(&pt, VA_4K, 1, false)) == (frame | LEAF),
	      "4 KiB leaf value");
	check_table_entries(&pt);
	CHECK(!pt_map(&pt, VA_4K + 1, frame, SIZE_4K, LEAF), "misaligned va");
	CHECK(pt_map(&pt, VA_4K, PA_4K, SIZE_4K, LEAF) &&
	      maps(&pt, VA_4K, PA_4K, 1), "replace a leaf");
	CHECK(!pt_translate(&pt, VA_4K + SIZE_4K, &(uint64_t){ 0 }, &(unsigned){ 0 }),
	      "next page unmapped");
	check_large(&pt);
	check_range(&pt);
	check_shared_free(&pt);
	CHECK(pt_unmap(&pt, VA_4K) && !pt_unmap(&pt, VA_4K) &&
	      !pt_translate(&pt, VA_4K, &(uint64_t){ 0 }, &(unsigned){ 0 }),
	      "unmap 4 KiB");
	CHECK(pt_unmap(&pt, VA_BIG + OFFSET) &&
	      !pt_translate(&pt, VA_BIG, &(uint64_t){ 0 }, &(unsigned){ 0 }),
	      "unmap large");
	pt_free(&pt, 1, 0);
	page_free(frame);
	CHECK(page_used_count() == used, "%llu pages left after pt_free",
	      (unsigned long long)(page_used_count() - used));
	kprintf("libcheck: pt %s: map, translate, unmap, free: %s\n",
		mode_names[m], verdict(before));
}

/* ---- activation ------------------------------------------------------------ */

static volatile uint32_t probe = MAGIC; /* read through the large aliases */

static uint32_t read_alias(uint64_t alias_base, uint64_t pa_base)
{
	return *(volatile uint32_t *)(uintptr_t)(alias_base +
						 ((uintptr_t)&probe - pa_base));
}

/* Leave pt for the boot state: the boot tables (64-bit), paging off (32). */
void back_to_boot(uint64_t boot_cr3)
{
#ifdef __x86_64__
	struct pt boot = { .mode = PT_MODE_LONG4,
			   .root = boot_cr3 & X86_CR3_ADDR_LONG };

	CHECK(pt_activate(&boot, 0), "back to the boot tables");
#else
	(void)boot_cr3;
	write_cr0(read_cr0() & ~X86_CR0_PG);
#endif
}

static void check_activate(enum pt_mode m)
{
	int before = failures;
	uint64_t used = page_used_count(), boot_cr3 = read_cr3();
	uint64_t frame = page_alloc(), big = big_size(m);
	uint64_t probe_pa = (uintptr_t)&probe & ~(big - 1);
	uint64_t ram = (page_ram_end() + big - 1) & ~(big - 1);
	bool long1g = is_long(m) && cpu_has_1g();
	struct pt pt;

	*(volatile uint32_t *)page_ptr(frame) = MAGIC;
	if (!pt_init(&pt, m)) {
		CHECK(false, "pt_init");
		return;
	}
	CHECK(pt_map_range(&pt, 0, 0, ram, LEAF), "identity map");
	CHECK(pt_map(&pt, VA_HIGH, frame, SIZE_4K, LEAF), "4 KiB alias");
	CHECK(pt_map(&pt, VA_HIGH + big, probe_pa, big, LEAF), "large alias");
	if (long1g)
		CHECK(pt_map(&pt, VA_1G, 0, SIZE_1G, LEAF), "1 GiB alias");
	if (m == PT_MODE_LONG5)
		CHECK(pt_map(&pt, VA_LA57, frame, SIZE_4K, LEAF), "LA57 alias");
	if (!pt_activate(&pt, 0)) {
		CHECK(false, "pt_activate %s", mode_names[m]);
	} else {
		volatile uint32_t *alias = (void *)(uintptr_t)VA_HIGH;

		CHECK(*alias == MAGIC, "read through the 4 KiB alias");
		*alias = ~MAGIC;
		CHECK(*(volatile uint32_t *)page_ptr(frame) == ~MAGIC,
		      "write through the 4 KiB alias");
		CHECK(read_alias(VA_HIGH + big, probe_pa) == MAGIC, "large alias");
		if (long1g)
			CHECK(read_alias(VA_1G, 0) == MAGIC, "1 GiB alias");
#ifdef __x86_64__
		if (m == PT_MODE_LONG5) {
			CHECK(read_cr4() & X86_CR4_LA57, "CR4.LA57");
			CHECK(*(volatile uint32_t *)VA_LA57 == ~MAGIC, "LA57 alias");
		}
#endif
		back_to_boot(boot_cr3);
	}
	CHECK(!(read_cr4() & X86_CR4_LA57), "CR4.LA57 after leaving");
	pt_free(&pt, 1, 0);
	page_free(frame);
	CHECK(page_used_count() == used, "%llu pages left",
	      (unsigned long long)(page_used_count() - used));
	kprintf("libcheck: pt %s: activated, 4 KiB/large%s aliases: %s\n",
		mode_names[m], long1g ? "/1 GiB" : "", verdict(before));
}

void check_page_tables(void)
{
	for (unsigned m = PT_MODE_32; m <= PT_MODE_LONG5; m++)
		check_builder((enum pt_mode)m);
#ifdef __x86_64__
	check_activate(PT_MODE_LONG4);
	if (cpu_has_la57())
		check_activate(PT_MODE_LONG5);
	else
		kprintf("libcheck: pt 5-level: no LA57, not activated\n");
	{
		struct pt wrong = { .mode = PT_MODE_PAE, .root = 0 };
		CHECK(!pt_activate(&wrong, 0), "PAE activated in the 64-bit flavour");
	}
#else
	check_activate(PT_MODE_32);
	check_activate(PT_MODE_PAE);
	{
		struct pt wrong = { .mode = PT_MODE_LONG4, .root = 0 };
		CHECK(!pt_activate(&wrong, 0), "4-level activated in the 32-bit flavour");
	}
#endif
}
