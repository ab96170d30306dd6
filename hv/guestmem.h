/*
 * The guest's physical memory: the PC layout of platform_mem.h, each RAM
 * range backed by its own contiguous block of host memory (so guest-
 * physical != host-physical), and registered with the engine as a RAM
 * slot.  Only memory the guest owns is ever mapped into it: no slot
 * points at Umbra's image, its page tables, the pool or another guest
 * range.
 */
#ifndef HV_GUESTMEM_H
#define HV_GUESTMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "platform_mem.h"

struct guest_ram {
	uint64_t gpa, size, hpa;
};

struct guest_memory {
	struct memmap map;            /* what the guest is told */
	unsigned n_ram;
	struct guest_ram ram[MEMMAP_MAX];
};

/* Lay out `ram_size` bytes of guest RAM the PC way and back every RAM
 * range with host memory (zeroed).  False with a message in why[]. */
bool guestmem_init(struct guest_memory *gm, uint64_t ram_size, char *why,
		   unsigned why_size);

/* The host pointer for [gpa, gpa + len) when it lies inside one RAM range,
 * else NULL. */
void *guestmem_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len);

/* The loader's write callback (struct guest_mem in loader.h). */
bool guestmem_write(void *ctx, uint64_t gpa, const void *src, uint64_t len);
bool guestmem_zero(void *ctx, uint64_t gpa, uint64_t len);

void guestmem_print(const struct guest_memory *gm);

#endif
