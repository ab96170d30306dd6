/*
 * Umbra's own address space (hv/layout.h): the image identity-mapped, and
 * all host RAM in the direct map.  Until hostmap_init() switches to it,
 * boot.S's identity map of the first 4 GiB is live and phys_to_virt() is
 * the identity.
 */
#ifndef HV_HOSTMAP_H
#define HV_HOSTMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "bootinfo.h"
#include "layout.h"

extern uint64_t hostmap_direct_base; /* 0 during boot */

static inline void *phys_to_virt(uint64_t hpa)
{
	return (void *)(uintptr_t)(hostmap_direct_base + hpa);
}

/* The physical address of something in the image or the direct map. */
uint64_t virt_to_phys(const void *p);

/* Build and load the final page tables; false with *why on failure. */
bool hostmap_init(const struct boot_info *bi, const char **why);

/* A zeroed page (or `pages` contiguous ones) of host memory: its hpa, or
 * 0 when memory is exhausted. */
uint64_t page_alloc_zeroed(uint64_t pages, uint64_t limit);

/* The image's bounds (linker symbols). */
uint64_t image_start(void);
uint64_t image_end(void);

#endif
