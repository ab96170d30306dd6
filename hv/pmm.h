/*
 * The host physical page allocator.
 *
 * Built from the multiboot memory map: every "available" range, minus the
 * first MiB (real-mode data, the BIOS area the guest's firmware tables are
 * copied from), minus the Umbra image and the multiboot modules (the guest
 * images, read later by the loader).  It keeps a sorted list of free
 * ranges and hands out page-aligned, physically contiguous blocks from the
 * top of memory down, below a caller's limit (the shadow pool and early
 * page tables must lie below 4 GiB).  Freed blocks merge back.
 *
 * Addresses are host-physical; reach them through the direct map
 * (hostmap.h).  Memory is not zeroed.
 */
#ifndef HV_PMM_H
#define HV_PMM_H

#include <stdbool.h>
#include <stdint.h>

#include "bootinfo.h"

#define PAGE_SIZE  4096ull
#define PAGE_SHIFT 12
#define PMM_NONE   0ull            /* no allocation ever returns page 0 */
#define PMM_NO_LIMIT UINT64_MAX
#define PMM_BELOW_4G (1ull << 32)
#define LOW_MEMORY_END 0x100000ull /* the first MiB stays out of the pool */

static inline uint64_t pages_for(uint64_t bytes)
{
	return (bytes + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

/* Returns false with *why when no usable memory is left. */
bool pmm_init(const struct boot_info *bi, uint64_t image_start,
	      uint64_t image_end, const char **why);
/* `pages` contiguous pages at a multiple of `align` (a power of two, at
 * least PAGE_SIZE) ending at or below `limit`; PMM_NONE when none fit. */
uint64_t pmm_alloc(uint64_t pages, uint64_t align, uint64_t limit);
void pmm_free(uint64_t hpa, uint64_t pages);

uint64_t pmm_free_pages(void);
uint64_t pmm_largest_free(void);          /* pages in the largest range */
/* One past the highest RAM address in the memory map (what the direct
 * map must cover). */
uint64_t pmm_ram_end(void);
void pmm_print(void);

#endif
