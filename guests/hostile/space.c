/* The kernel address space of one mode, the window of hostile PTEs, and
 * accesses that may fault. */
#include "hostile.h"
#include "multiboot.h"

#define CPUID_EXT_MAX   0x80000000u /* EAX: the highest extended leaf */
#define CPUID_EXT_ADDR  0x80000008u /* EAX[7:0]: MAXPHYADDR */
#define PHYS_BITS_MASK  0xFFu
#define PHYS_BITS_DEFAULT 36u       /* when the CPU does not say (SDM 4.1.4) */

static unsigned max_phys_bits(void)
{
	if (cpuid(CPUID_EXT_MAX, 0).eax < CPUID_EXT_ADDR)
		return PHYS_BITS_DEFAULT;
	return cpuid(CPUID_EXT_ADDR, 0).eax & PHYS_BITS_MASK;
}

static const char *mode_name(enum pt_mode mode)
{
	switch (mode) {
	case PT_MODE_32:
		return "32-bit";
	case PT_MODE_PAE:
		return "PAE";
	case PT_MODE_LONG4:
		return "4-level";
	case PT_MODE_LONG5:
		return "5-level";
	}
	return "?";
}

bool space_enter(struct hctx *h, enum pt_mode mode)
{
	uint64_t large = pt_level_span(mode, 2);

	if (mode == PT_MODE_LONG5 && !cpu_has_la57())
		return false;
	h->name = mode_name(mode);
	/* Rounded up to a large page: natively the top of RAM may be a
	 * reserved firmware range that Umbra's guest map calls RAM, and the
	 * output must not depend on it. */
	h->ram_end = (page_ram_end() + large - 1) & ~(large - 1);
	h->phys_limit = 1ull << max_phys_bits();
	if (!pt_init(&h->pt, mode) ||
	    !pt_map_range(&h->pt, 0, 0, h->ram_end, X86_PTE_P | X86_PTE_RW) ||
	    !pt_entry(&h->pt, WINDOW_VA, 1, true))
		panic("%s: no memory for the kernel address space", h->name);
	return pt_activate(&h->pt, 0);
}

uintptr_t window_va(unsigned slot)
{
	return WINDOW_VA + (uintptr_t)slot * PAGE_SIZE;
}

void *window_pte(struct hctx *h, unsigned slot)
{
	return pt_entry(&h->pt, window_va(slot), 1, false);
}

uintptr_t window_map(struct hctx *h, unsigned slot, uint64_t pa,
		     uint64_t flags)
{
	uintptr_t va = window_va(slot);

	pte_write(&h->pt, window_pte(h, slot), pa | flags | X86_PTE_P);
	invlpg(va);
	return va;
}

static unsigned index_shift(enum pt_mode mode, unsigned level)
{
	return (unsigned)__builtin_ctzll(pt_level_span(mode, level));
}

unsigned va_index(enum pt_mode mode, uint64_t va, unsigned level)
{
	return (unsigned)(va >> index_shift(mode, level)) &
	       (pt_entries(mode, level) - 1);
}

uint64_t va_from_indexes(enum pt_mode mode, const unsigned *idx)
{
	unsigned top = pt_levels(mode);
	uint64_t va = idx[0];
	unsigned bits;

	for (unsigned l = 1; l <= top; l++)
		va |= (uint64_t)(idx[l] & (pt_entries(mode, l) - 1))
		      << index_shift(mode, l);
	if (mode != PT_MODE_LONG4 && mode != PT_MODE_LONG5)
		return va;
	bits = index_shift(mode, top) +
	       (unsigned)__builtin_ctz(pt_entries(mode, top)); /* 48 or 57 */
	return (uint64_t)((int64_t)(va << (64 - bits)) >> (64 - bits));
}

uint64_t table_of(struct hctx *h, uint64_t va, unsigned level)
{
	void *e = pt_entry(&h->pt, va, level, true);

	if (!e)
		panic("%s: no table at level %u for %llx", h->name, level,
		      (unsigned long long)va);
	return (uintptr_t)e & ~(uintptr_t)(PAGE_SIZE - 1);
}

bool phys_unlisted(uint64_t pa, uint64_t len)
{
	const struct mb_info *mb = (const void *)(uintptr_t)mb_info_addr;

	if (!(mb->flags & MB_INFO_MMAP))
		return false;
	for (uint32_t off = 0; off < mb->mmap_length;) {
		const struct mb_mmap_entry *e =
			(const void *)(uintptr_t)(mb->mmap_addr + off);

		if (e->base < pa + len && pa < e->base + e->len)
			return false;
		off += e->size + sizeof(e->size);
	}
	return true;
}

void flush_all(void)
{
	write_cr3(read_cr3());
}

/* ---- accesses ------------------------------------------------------------ */

struct access {
	uintptr_t va;
	uint32_t value;
};

static void do_load(void *arg)
{
	struct access *a = arg;

	a->value = *(volatile uint32_t *)a->va;
}

static void do_store(void *arg)
{
	struct access *a = arg;

	*(volatile uint32_t *)a->va = a->value;
}

static struct outcome run_access(void (*fn)(void *), struct access *a)
{
	struct trap_info ti;
	struct outcome o = { .vector = try_call(fn, a, &ti) };

	if (o.vector == TRAP_NONE) {
		o.value = a->value;
		return o;
	}
	o.error = ti.error;
	o.cr2_ok = ti.cr2 == a->va;
	/* QEMU reports a reserved-bit #PF without P (tests/conformance/
	 * DEVIATIONS.md, qemu-rsvd-without-p); Umbra gives the manuals'
	 * P|RSVD.  Both say RSVD, which is what the output keeps. */
	if (o.vector == X86_VEC_PF && (o.error & X86_PFEC_RSVD))
		o.error &= ~(uint32_t)X86_PFEC_P;
	return o;
}

struct outcome load32(uintptr_t va)
{
	struct access a = { .va = va };

	return run_access(do_load, &a);
}

struct outcome store32(uintptr_t va, uint32_t value)
{
	struct access a = { .va = va, .value = value };

	return run_access(do_store, &a);
}

void outcome_print(const struct outcome *o)
{
	if (o->vector == TRAP_NONE)
		kprintf("ok %x", o->value);
	else if (o->vector == X86_VEC_PF)
		kprintf("#PF %x", o->error);
	else
		kprintf("exception %u", o->vector);
}
