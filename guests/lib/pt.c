/*
 * Page-table builders for the four x86 paging modes (mm.h).  One walker
 * serves every mode: a mode is its number of levels, its entry width and
 * its index width per level; the mode-specific parts are which levels may
 * hold a large leaf and how a large leaf encodes its address.
 */
#include "guest.h"
#include "mm.h"

#define INDEX_BITS_32  10u /* 1024 four-byte entries per table */
#define INDEX_BITS_64  9u  /* 512 eight-byte entries per table */
#define PAE_PDPT_ENTRIES 4u
#define CR3_PCID_MASK  0xFFFull
#define LIMIT_32BIT    (4 * SIZE_1G)    /* linear addresses of PT_MODE_32/PAE */
#define LIMIT_PSE36    (1ull << 40)     /* 4 MiB leaves reach 40 bits */
#define LIMIT_PHYS     (1ull << 52)     /* the architectural maximum */
#define VA_BITS_LONG4  48u
#define VA_BITS_LONG5  57u

/* Tables below a non-leaf entry let the leaf decide the access. */
#define TABLE_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US)
/* PAE PDPTEs: RW and US are reserved there. */
#define PDPTE_FLAGS X86_PTE_P

static bool is_long(enum pt_mode mode)
{
	return mode == PT_MODE_LONG4 || mode == PT_MODE_LONG5;
}

unsigned pt_levels(enum pt_mode mode)
{
	switch (mode) {
	case PT_MODE_32:
		return 2;
	case PT_MODE_PAE:
		return 3;
	case PT_MODE_LONG4:
		return 4;
	case PT_MODE_LONG5:
		return 5;
	}
	panic("pt_levels: bad mode %d", (int)mode);
}

unsigned pt_entry_size(enum pt_mode mode)
{
	return mode == PT_MODE_32 ? sizeof(uint32_t) : sizeof(uint64_t);
}

unsigned pt_entries(enum pt_mode mode, unsigned level)
{
	if (mode == PT_MODE_32)
		return 1u << INDEX_BITS_32;
	if (mode == PT_MODE_PAE && level == 3)
		return PAE_PDPT_ENTRIES;
	return 1u << INDEX_BITS_64;
}

static unsigned level_shift(enum pt_mode mode, unsigned level)
{
	unsigned bits = mode == PT_MODE_32 ? INDEX_BITS_32 : INDEX_BITS_64;

	return X86_PAGE_SHIFT_4K + (level - 1) * bits;
}

uint64_t pt_level_span(enum pt_mode mode, unsigned level)
{
	return 1ull << level_shift(mode, level);
}

/* Can an entry at this level map a page (PS = 1) instead of a table? */
static bool large_allowed(enum pt_mode mode, unsigned level)
{
	return level == 2 || (level == 3 && is_long(mode));
}

bool pte_is_leaf(const struct pt *pt, uint64_t entry, unsigned level)
{
	return level == 1 || (large_allowed(pt->mode, level) && (entry & X86_PTE_PS));
}

/* Is va a linear address of this mode (below 4 GiB; canonical)? */
static bool va_valid(enum pt_mode mode, uint64_t va)
{
	unsigned bits;

	if (!is_long(mode))
		return va < LIMIT_32BIT;
	bits = mode == PT_MODE_LONG5 ? VA_BITS_LONG5 : VA_BITS_LONG4;
	return (uint64_t)((int64_t)(va << (64 - bits)) >> (64 - bits)) == va;
}

void *pt_slot(const struct pt *pt, uint64_t table, unsigned index)
{
	return (uint8_t *)page_ptr(table) + index * pt_entry_size(pt->mode);
}

static void *entry_at(const struct pt *pt, uint64_t table, unsigned level,
		      uint64_t va)
{
	return pt_slot(pt, table, (unsigned)(va >> level_shift(pt->mode, level)) &
				  (pt_entries(pt->mode, level) - 1));
}

/* One store, so that a walk never sees half an entry: a plain MOV in the
 * 64-bit flavour, CMPXCHG8B (until it takes) in the 32-bit one. */
static void store64(void *p, uint64_t v)
{
#ifdef __x86_64__
	*(volatile uint64_t *)p = v;
#else
	uint64_t seen = *(volatile uint64_t *)p;

	__asm__ volatile("1: lock cmpxchg8b %0\n\tjnz 1b"
			 : "+m"(*(volatile uint64_t *)p), "+A"(seen)
			 : "b"((uint32_t)v), "c"((uint32_t)(v >> 32))
			 : "memory", "cc");
#endif
}

uint64_t pte_read(const struct pt *pt, const void *entry)
{
	if (pt->mode == PT_MODE_32)
		return *(const volatile uint32_t *)entry;
	return *(const volatile uint64_t *)entry;
}

void pte_write(const struct pt *pt, void *entry, uint64_t value)
{
	if (pt->mode == PT_MODE_32)
		*(volatile uint32_t *)entry = (uint32_t)value;
	else
		store64(entry, value);
}

uint64_t pte_addr(const struct pt *pt, uint64_t entry, unsigned level)
{
	if (level == 1 || !pte_is_leaf(pt, entry, level))
		return entry & (pt->mode == PT_MODE_32 ? X86_PTE32_ADDR_4K
						       : X86_PTE_ADDR_4K);
	if (pt->mode == PT_MODE_32)
		return (entry & X86_PTE32_ADDR_4M) |
		       (entry & X86_PTE32_PSE36_MASK)
			       >> X86_PTE32_PSE36_SHIFT << 32;
	return entry & (level == 2 ? X86_PTE_ADDR_2M : X86_PTE_ADDR_1G);
}

/* The bits of a leaf at this level that hold the address. */
static uint64_t leaf_addr_bits(enum pt_mode mode, unsigned level)
{
	if (mode == PT_MODE_32)
		return level == 1 ? X86_PTE32_ADDR_4K
				  : X86_PTE32_ADDR_4M | X86_PTE32_PSE36_MASK;
	return level == 1 ? X86_PTE_ADDR_4K
	       : level == 2 ? X86_PTE_ADDR_2M : X86_PTE_ADDR_1G;
}

/* The leaf entry for pa at this level (pa aligned to the leaf). */
static uint64_t leaf_value(enum pt_mode mode, unsigned level, uint64_t pa,
			   uint64_t flags)
{
	if (level == 1)
		return pa | flags;
	if (mode == PT_MODE_32)
		return (pa & X86_PTE32_ADDR_4M) |
		       (pa >> 32 << X86_PTE32_PSE36_SHIFT) | flags | X86_PTE_PS;
	return pa | flags | X86_PTE_PS;
}

/* The level of a leaf of `size` bytes in this mode, 0 when there is none. */
static unsigned leaf_level(enum pt_mode mode, uint64_t size)
{
	if (size == SIZE_4K)
		return 1;
	if (size == (mode == PT_MODE_32 ? SIZE_4M : SIZE_2M))
		return 2;
	if (size == SIZE_1G && is_long(mode) && cpu_has_1g())
		return 3;
	return 0;
}

bool pt_init(struct pt *pt, enum pt_mode mode)
{
	pt->mode = mode;
	pt->root = page_try_alloc();
	return pt->root != 0;
}

void *pt_entry(struct pt *pt, uint64_t va, unsigned level, bool create)
{
	uint64_t table = pt->root;
	unsigned top = pt_levels(pt->mode);

	if (level < 1 || level > top)
		panic("pt_entry: level %u out of 1..%u", level, top);
	for (unsigned l = top;; l--) {
		void *e = entry_at(pt, table, l, va);
		uint64_t v;

		if (l == level)
			return e;
		v = pte_read(pt, e);
		if (!(v & X86_PTE_P)) {
			if (!create || !(table = page_try_alloc()))
				return NULL;
			pte_write(pt, e, table | (pt->mode == PT_MODE_PAE && l == 3
							  ? PDPTE_FLAGS : TABLE_FLAGS));
			continue;
		}
		if (pte_is_leaf(pt, v, l))
			return NULL;
		table = pte_addr(pt, v, l);
	}
}

/* Free a table at `level` and every table below it (not the frames). */
static void free_table(struct pt *pt, uint64_t table, unsigned level)
{
	if (level > 1) {
		for (unsigned i = 0; i < pt_entries(pt->mode, level); i++) {
			uint64_t e = pte_read(pt, pt_slot(pt, table, i));

			if ((e & X86_PTE_P) && !pte_is_leaf(pt, e, level))
				free_table(pt, pte_addr(pt, e, level), level - 1);
		}
	}
	page_free(table);
}

bool pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size,
	    uint64_t flags)
{
	unsigned level = leaf_level(pt->mode, size);
	uint64_t reach = pt->mode == PT_MODE_32 ? (level == 1 ? LIMIT_32BIT
							      : LIMIT_PSE36)
						: LIMIT_PHYS;
	void *e;
	uint64_t old;

	if (!level || ((va | pa) & (size - 1)) || pa >= reach ||
	    !va_valid(pt->mode, va) || (flags & leaf_addr_bits(pt->mode, level)) ||
	    (pt->mode == PT_MODE_32 && flags >> 32))
		return false;
	e = pt_entry(pt, va, level, true);
	if (!e)
		return false;
	old = pte_read(pt, e);
	if ((old & X86_PTE_P) && !pte_is_leaf(pt, old, level))
		free_table(pt, pte_addr(pt, old, level), level - 1);
	pte_write(pt, e, leaf_value(pt->mode, level, pa, flags));
	return true;
}

bool pt_map_range(struct pt *pt, uint64_t va, uint64_t pa, uint64_t len,
		  uint64_t flags)
{
	const uint64_t sizes[] = {
		is_long(pt->mode) && cpu_has_1g() ? SIZE_1G : 0,
		pt->mode == PT_MODE_32 ? SIZE_4M : SIZE_2M,
		SIZE_4K,
	};

	if ((va | pa | len) & (SIZE_4K - 1))
		return false;
	while (len) {
		uint64_t size = SIZE_4K;

		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			if (sizes[i] && len >= sizes[i] && !((va | pa) & (sizes[i] - 1))) {
				size = sizes[i];
				break;
			}
		}
		if (!pt_map(pt, va, pa, size, flags))
			return false;
		va += size;
		pa += size;
		len -= size;
	}
	return true;
}

/* The present leaf that maps va and its level, or NULL. */
static void *find_leaf(struct pt *pt, uint64_t va, unsigned *level)
{
	uint64_t table = pt->root;

	if (!va_valid(pt->mode, va))
		return NULL;
	for (unsigned l = pt_levels(pt->mode); l >= 1; l--) {
		void *e = entry_at(pt, table, l, va);
		uint64_t v = pte_read(pt, e);

		if (!(v & X86_PTE_P))
			return NULL;
		if (pte_is_leaf(pt, v, l)) {
			*level = l;
			return e;
		}
		table = pte_addr(pt, v, l);
	}
	return NULL;
}

bool pt_translate(struct pt *pt, uint64_t va, uint64_t *pa, unsigned *level)
{
	unsigned l;
	void *e = find_leaf(pt, va, &l);

	if (!e)
		return false;
	*pa = pte_addr(pt, pte_read(pt, e), l) +
	      (va & (pt_level_span(pt->mode, l) - 1));
	*level = l;
	return true;
}

bool pt_unmap(struct pt *pt, uint64_t va)
{
	unsigned l;
	void *e = find_leaf(pt, va, &l);

	if (!e)
		return false;
	pte_write(pt, e, 0);
	return true;
}

void pt_free(struct pt *pt, unsigned shared_from, unsigned shared_to)
{
	unsigned top = pt_levels(pt->mode);

	for (unsigned i = 0; i < pt_entries(pt->mode, top); i++) {
		uint64_t e = pte_read(pt, pt_slot(pt, pt->root, i));

		if (i >= shared_from && i <= shared_to)
			continue;
		if ((e & X86_PTE_P) && !pte_is_leaf(pt, e, top))
			free_table(pt, pte_addr(pt, e, top), top - 1);
	}
	page_free(pt->root);
	pt->root = 0;
}

uint64_t pt_cr3(const struct pt *pt, uint16_t pcid)
{
	return pt->root | (pcid & CR3_PCID_MASK);
}

/* CR4 bits that select the paging mode itself. */
#define CR4_MODE_BITS (X86_CR4_PSE | X86_CR4_PAE | X86_CR4_LA57)

static unsigned long mode_cr4(enum pt_mode mode)
{
	switch (mode) {
	case PT_MODE_32:
		return X86_CR4_PSE; /* 4 MiB leaves */
	case PT_MODE_PAE:
	case PT_MODE_LONG4:
		return X86_CR4_PAE;
	case PT_MODE_LONG5:
		return X86_CR4_PAE | X86_CR4_LA57;
	}
	return 0;
}

/* Let X86_PTE_NX leaves work (the bit is reserved while EFER.NXE = 0). */
static void enable_nx(void)
{
	if (cpu_has_nx())
		wrmsr(X86_MSR_EFER, rdmsr(X86_MSR_EFER) | X86_EFER_NXE);
}

#ifdef __x86_64__
bool pt_activate(const struct pt *pt, unsigned long cr4_extra)
{
	unsigned long old = read_cr4();
	unsigned long cr4 = (old & ~CR4_MODE_BITS) | mode_cr4(pt->mode) | cr4_extra;

	if (!is_long(pt->mode) || (pt->mode == PT_MODE_LONG5 && !cpu_has_la57()))
		return false;
	enable_nx();
	if ((cr4 ^ old) & X86_CR4_LA57) {
		/* Paging is off in between: setting PCIDE needs long mode. */
		paging_reenter(pt_cr3(pt, 0), cr4 & ~X86_CR4_PCIDE);
		if (cr4 & X86_CR4_PCIDE)
			write_cr4(cr4);
	} else {
		/* CR3 first: new CR4 bits (SMEP, ...) may only suit pt. */
		write_cr3(pt_cr3(pt, 0));
		write_cr4(cr4);
	}
	return true;
}
#else
bool pt_activate(const struct pt *pt, unsigned long cr4_extra)
{
	unsigned long cr0 = read_cr0();

	if (is_long(pt->mode))
		return false;
	/* With paging off the mode bits can change freely; we run on
	 * identity addresses, so nothing moves under our feet. */
	if (cr0 & X86_CR0_PG)
		write_cr0(cr0 & ~X86_CR0_PG);
	if (pt->mode == PT_MODE_PAE)
		enable_nx();
	write_cr4((read_cr4() & ~CR4_MODE_BITS) | mode_cr4(pt->mode) | cr4_extra);
	write_cr3((unsigned long)pt_cr3(pt, 0));
	write_cr0(cr0 | X86_CR0_PG);
	return true;
}
#endif
