/*
 * A free-range allocator: few, large allocations (guest RAM, the shadow
 * pool, page-table pages, engine metadata), so a short sorted array of
 * [base, end) ranges is all it needs.
 */
#include "pmm.h"

#include "console.h"

#define MAX_FREE_RANGES 128

struct range {
	uint64_t base, end; /* [base, end), page aligned */
};

static struct range free_list[MAX_FREE_RANGES];
static unsigned n_free;
static uint64_t ram_end;

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static void remove_at(unsigned i)
{
	for (; i + 1 < n_free; i++)
		free_list[i] = free_list[i + 1];
	n_free--;
}

static bool insert_at(unsigned i, uint64_t base, uint64_t end)
{
	if (n_free == MAX_FREE_RANGES)
		return false;
	for (unsigned j = n_free; j > i; j--)
		free_list[j] = free_list[j - 1];
	free_list[i] = (struct range){ base, end };
	n_free++;
	return true;
}

/* Add [base, end) to the free list, merging with every range it touches
 * (firmware maps may overlap). */
static void add_free(uint64_t base, uint64_t end)
{
	unsigned i = 0;

	if (base >= end)
		return;
	while (i < n_free && free_list[i].base < base)
		i++;
	if (!insert_at(i, base, end)) {
		log_warn("pmm: free list full, %llu KiB at %llx lost",
			 (unsigned long long)((end - base) >> 10),
			 (unsigned long long)base);
		return;
	}
	/* Merge neighbours that overlap or touch, from the range before. */
	i = i ? i - 1 : 0;
	while (i + 1 < n_free) {
		if (free_list[i + 1].base > free_list[i].end) {
			if (free_list[i].base > end)
				break;
			i++;
			continue;
		}
		if (free_list[i + 1].end > free_list[i].end)
			free_list[i].end = free_list[i + 1].end;
		remove_at(i + 1);
	}
}

/* Take [base, end) out of the free list wherever it overlaps. */
static void reserve(uint64_t base, uint64_t end)
{
	base = align_down(base, PAGE_SIZE);
	end = align_up(end, PAGE_SIZE);
	for (unsigned i = 0; i < n_free; i++) {
		struct range r = free_list[i];

		if (r.end <= base || r.base >= end)
			continue;
		if (r.base < base && r.end > end) {
			/* A hole in the middle: split. */
			free_list[i].end = base;
			insert_at(i + 1, end, r.end);
			return;
		}
		if (r.base < base) {
			free_list[i].end = base;
		} else if (r.end > end) {
			free_list[i].base = end;
		} else {
			remove_at(i);
			i--;
		}
	}
}

bool pmm_init(const struct boot_info *bi, uint64_t image_start,
	      uint64_t image_end, const char **why)
{
	for (unsigned i = 0; i < bi->n_ranges; i++) {
		const struct boot_range *r = &bi->range[i];
		uint64_t end = r->base + r->length;

		if (r->type != MB_MMAP_AVAILABLE || end < r->base)
			continue;
		if (end > ram_end)
			ram_end = end;
		add_free(align_up(r->base, PAGE_SIZE),
			 align_down(end, PAGE_SIZE));
	}
	/* Firmware may list overlapping ranges with different types: a
	 * reserved range always wins over an available one. */
	for (unsigned i = 0; i < bi->n_ranges; i++) {
		const struct boot_range *r = &bi->range[i];

		if (r->type != MB_MMAP_AVAILABLE)
			reserve(r->base, r->base + r->length);
	}
	reserve(0, LOW_MEMORY_END);
	reserve(image_start, image_end);
	for (unsigned i = 0; i < bi->n_modules; i++)
		reserve(bi->module[i].start, bi->module[i].end);
	if (!n_free) {
		*why = "the memory map leaves no free memory above 1 MiB";
		return false;
	}
	return true;
}

uint64_t pmm_alloc(uint64_t pages, uint64_t align, uint64_t limit)
{
	const uint64_t size = pages << PAGE_SHIFT;

	if (!pages || align < PAGE_SIZE || (align & (align - 1)))
		return PMM_NONE;
	for (unsigned i = n_free; i-- > 0;) {
		struct range r = free_list[i];
		uint64_t top = r.end < limit ? r.end : limit;
		uint64_t base;

		if (top < size || top - size < r.base)
			continue;
		base = align_down(top - size, align);
		if (base < r.base)
			continue;
		if (base + size == r.end) {
			free_list[i].end = base;
			if (free_list[i].base == base)
				remove_at(i);
		} else if (base == r.base) {
			free_list[i].base = base + size;
		} else {
			/* Carve out of the middle: the range splits in two. */
			if (n_free == MAX_FREE_RANGES)
				continue;
			free_list[i].end = base;
			insert_at(i + 1, base + size, r.end);
		}
		return base;
	}
	return PMM_NONE;
}

void pmm_free(uint64_t hpa, uint64_t pages)
{
	add_free(hpa, hpa + (pages << PAGE_SHIFT));
}

uint64_t pmm_free_pages(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < n_free; i++)
		n += (free_list[i].end - free_list[i].base) >> PAGE_SHIFT;
	return n;
}

uint64_t pmm_largest_free(void)
{
	uint64_t best = 0;

	for (unsigned i = 0; i < n_free; i++)
		if (free_list[i].end - free_list[i].base > best)
			best = free_list[i].end - free_list[i].base;
	return best >> PAGE_SHIFT;
}

uint64_t pmm_ram_end(void)
{
	return ram_end;
}

void pmm_print(void)
{
	for (unsigned i = 0; i < n_free; i++)
		log_debug("pmm: free [%llx, %llx) %llu KiB",
			  (unsigned long long)free_list[i].base,
			  (unsigned long long)free_list[i].end,
			  (unsigned long long)((free_list[i].end -
						free_list[i].base) >> 10));
}
