/* The guest's physical memory map (see platform_mem.h). */
#include "platform_mem.h"

void memmap_init(struct memmap *m)
{
	m->count = 0;
}

static uint64_t range_end(const struct memmap_range *r)
{
	return r->base + r->len;
}

bool memmap_set(struct memmap *m, uint64_t base, uint64_t len, uint32_t type)
{
	/* Each old range yields at most two pieces, plus the new one. */
	struct memmap_range tmp[2 * MEMMAP_MAX + 1];
	uint32_t n = 0;
	uint64_t end;

	if (len == 0)
		return true;
	if (type == 0 || base + len < base)
		return false;
	end = base + len; /* exclusive; may be 0 only if wrapping, refused */
	for (uint32_t i = 0; i < m->count; i++) {
		const struct memmap_range *r = &m->r[i];
		uint64_t r_end = range_end(r);

		if (r_end <= base || r->base >= end) {
			tmp[n++] = *r;
			continue;
		}
		if (r->base < base)
			tmp[n++] = (struct memmap_range){ r->base, base - r->base, r->type };
		if (r_end > end)
			tmp[n++] = (struct memmap_range){ end, r_end - end, r->type };
	}
	tmp[n++] = (struct memmap_range){ base, len, type };

	/* Insertion sort by base: the ranges do not overlap any more. */
	for (uint32_t i = 1; i < n; i++) {
		struct memmap_range x = tmp[i];
		uint32_t j = i;

		while (j > 0 && tmp[j - 1].base > x.base) {
			tmp[j] = tmp[j - 1];
			j--;
		}
		tmp[j] = x;
	}
	/* Merge touching ranges of one type. */
	uint32_t out = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (out > 0 && tmp[out - 1].type == tmp[i].type &&
		    range_end(&tmp[out - 1]) == tmp[i].base)
			tmp[out - 1].len += tmp[i].len;
		else
			tmp[out++] = tmp[i];
	}
	if (out > MEMMAP_MAX)
		return false;
	for (uint32_t i = 0; i < out; i++)
		m->r[i] = tmp[i];
	m->count = out;
	return true;
}

const char *memmap_pc(struct memmap *m, const struct pc_layout *l)
{
	uint64_t low = l->low_ram_end ? l->low_ram_end : PC_LOW_RAM_END_MAX;
	uint64_t hole = l->hole_start ? l->hole_start : PC_HOLE_DEFAULT;
	uint64_t ram = l->ram_size;

	memmap_init(m);
	if (ram < 2 * PC_HIGH_RAM_BASE)
		return "guest RAM size is below 2 MiB";
	if (ram & 0xfff)
		return "guest RAM size is not a multiple of 4 KiB";
	if (ram > (1ull << 52))
		return "guest RAM size is above 4 PiB";
	if (low < 0x1000 || low > PC_LOW_RAM_END_MAX || (low & 0x3ff))
		return "low RAM end is not a multiple of 1 KiB in [4 KiB, 640 KiB]";
	if (hole < 16 * PC_HIGH_RAM_BASE || hole > PC_4GIB || (hole & 0xfff))
		return "MMIO hole start is not a multiple of 4 KiB in [16 MiB, 4 GiB]";

	/* Three or four ranges into an empty map: cannot fail. */
	memmap_set(m, 0, low, MEMMAP_RAM);
	memmap_set(m, low, PC_HIGH_RAM_BASE - low, MEMMAP_RESERVED);
	if (ram <= hole) {
		memmap_set(m, PC_HIGH_RAM_BASE, ram - PC_HIGH_RAM_BASE, MEMMAP_RAM);
	} else {
		memmap_set(m, PC_HIGH_RAM_BASE, hole - PC_HIGH_RAM_BASE, MEMMAP_RAM);
		memmap_set(m, PC_4GIB, ram - hole, MEMMAP_RAM);
	}
	return NULL;
}

bool memmap_is_ram(const struct memmap *m, uint64_t base, uint64_t len)
{
	uint64_t pos = base;
	uint64_t end = base + len;

	if (end < base)
		return false;
	/* Ranges are sorted; walk the RAM ranges that cover pos in turn. */
	for (uint32_t i = 0; i < m->count; i++) {
		const struct memmap_range *r = &m->r[i];

		if (r->base > pos)
			return false;
		if (range_end(r) <= pos)
			continue;
		if (r->type != MEMMAP_RAM)
			return false;
		if (len == 0 || range_end(r) >= end)
			return true;
		pos = range_end(r);
	}
	return false;
}

/* KiB of RAM contiguous from `from`. */
static uint64_t contiguous_ram(const struct memmap *m, uint64_t from)
{
	uint64_t pos = from;

	for (uint32_t i = 0; i < m->count; i++) {
		const struct memmap_range *r = &m->r[i];

		if (range_end(r) <= pos)
			continue;
		if (r->base > pos || r->type != MEMMAP_RAM)
			break;
		pos = range_end(r);
	}
	return pos - from;
}

uint32_t memmap_mem_lower_kib(const struct memmap *m)
{
	uint64_t b = contiguous_ram(m, 0);

	if (b > PC_LOW_RAM_END_MAX)
		b = PC_LOW_RAM_END_MAX;
	return (uint32_t)(b / 1024);
}

uint32_t memmap_mem_upper_kib(const struct memmap *m)
{
	uint64_t kib = contiguous_ram(m, PC_HIGH_RAM_BASE) / 1024;

	return kib > 0xffffffffu ? 0xffffffffu : (uint32_t)kib;
}
