/*
 * Backing the guest's RAM with host memory.
 */
#include "guestmem.h"

#include "console.h"
#include "hostmap.h"
#include "pmm.h"
#include "string.h"

/* Guest RAM blocks are 2 MiB aligned in host memory when they can be, so
 * that a later large-page shadow could map them 1:1 in 2 MiB steps. */
#define GUEST_RAM_ALIGN (2ull << 20)

bool guestmem_init(struct guest_memory *gm, uint64_t ram_size, char *why,
		   unsigned why_size)
{
	const struct pc_layout pc = { .ram_size = ram_size };
	const char *err;

	*gm = (struct guest_memory){ .n_ram = 0 };
	err = memmap_pc(&gm->map, &pc);
	if (err) {
		ksnprintf(why, why_size, "guest memory layout: %s", err);
		return false;
	}
	for (uint32_t i = 0; i < gm->map.count; i++) {
		const struct memmap_range *r = &gm->map.r[i];
		uint64_t pages = pages_for(r->len), hpa;

		if (r->type != MEMMAP_RAM)
			continue;
		hpa = pmm_alloc(pages, GUEST_RAM_ALIGN, PMM_NO_LIMIT);
		if (hpa == PMM_NONE)
			hpa = pmm_alloc(pages, PAGE_SIZE, PMM_NO_LIMIT);
		if (hpa == PMM_NONE) {
			ksnprintf(why, why_size,
				  "no %llu KiB of contiguous host memory for guest RAM at %#llx (largest free block: %llu KiB; lower mem=)",
				  (unsigned long long)(r->len >> 10),
				  (unsigned long long)r->base,
				  (unsigned long long)(pmm_largest_free() << 2));
			return false;
		}
		memset(phys_to_virt(hpa), 0, pages << PAGE_SHIFT);
		gm->ram[gm->n_ram++] = (struct guest_ram){
			.gpa = r->base, .size = pages << PAGE_SHIFT, .hpa = hpa,
		};
	}
	return true;
}

void *guestmem_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->n_ram; i++) {
		const struct guest_ram *r = &gm->ram[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return phys_to_virt(r->hpa + (gpa - r->gpa));
	}
	return NULL;
}

bool guestmem_write(void *ctx, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = guestmem_ptr(ctx, gpa, len);

	if (!dst)
		return false;
	memcpy(dst, src, len);
	return true;
}

bool guestmem_zero(void *ctx, uint64_t gpa, uint64_t len)
{
	void *dst = guestmem_ptr(ctx, gpa, len);

	if (!dst)
		return false;
	memset(dst, 0, len);
	return true;
}

void guestmem_print(const struct guest_memory *gm)
{
	for (unsigned i = 0; i < gm->n_ram; i++)
		log_debug("guest RAM [%#llx, %#llx) at host %#llx",
			  (unsigned long long)gm->ram[i].gpa,
			  (unsigned long long)(gm->ram[i].gpa + gm->ram[i].size),
			  (unsigned long long)gm->ram[i].hpa);
}
