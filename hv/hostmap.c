/*
 * Building Umbra's page tables.
 *
 * Four-level tables, built while boot.S's identity map of the first 4 GiB
 * is live (so every table page is allocated below 4 GiB and written
 * through the identity), then loaded into CR3.  From then on host memory
 * is reached only through the direct map.
 */
#include "hostmap.h"

#include "console.h"
#include "cpu.h"
#include "pmm.h"
#include "string.h"

#define PT_ENTRIES   512
#define PT_INDEX_MASK (PT_ENTRIES - 1)
#define LARGE_SIZE   (1ull << X86_PAGE_SHIFT_2M)
#define LEVEL_SHIFT(level) (X86_PAGE_SHIFT_4K + 9 * ((level) - 1))

/* Non-leaf entries allow everything; leaves say what the page allows. */
#define TABLE_FLAGS  (X86_PTE_P | X86_PTE_RW)
#define CODE_FLAGS   (X86_PTE_P)
#define DATA_FLAGS   (X86_PTE_P | X86_PTE_RW)

/* Memory map types worth mapping: RAM, ACPI reclaimable, ACPI NVS. */
#define MB_MMAP_ACPI_RECLAIM 3
#define MB_MMAP_ACPI_NVS     4

extern char __image_start[], __text_end[], __image_end[];
extern char boot_stack_guard[];

uint64_t hostmap_direct_base;
static uint64_t nx_bit;  /* X86_PTE_NX once EFER.NXE is on */
static uint64_t pml4_pa;

uint64_t image_start(void)
{
	return (uint64_t)(uintptr_t)__image_start;
}

uint64_t image_end(void)
{
	return (uint64_t)(uintptr_t)__image_end;
}

uint64_t virt_to_phys(const void *p)
{
	uint64_t va = (uint64_t)(uintptr_t)p;

	if (hostmap_direct_base && va >= hostmap_direct_base)
		return va - hostmap_direct_base;
	return va; /* the image is identity-mapped */
}

uint64_t page_alloc_zeroed(uint64_t pages, uint64_t limit)
{
	uint64_t pa = pmm_alloc(pages, PAGE_SIZE, limit);

	if (pa != PMM_NONE)
		memset(phys_to_virt(pa), 0, pages << PAGE_SHIFT);
	return pa;
}

/* The entry for `va` at `level` (1 = PT), creating tables down to it. */
static uint64_t *walk_create(uint64_t va, unsigned level)
{
	uint64_t *table = phys_to_virt(pml4_pa);

	for (unsigned l = 4; l > level; l--) {
		uint64_t *e = &table[(va >> LEVEL_SHIFT(l)) & PT_INDEX_MASK];

		if (!(*e & X86_PTE_P)) {
			uint64_t pa = page_alloc_zeroed(1, PMM_BELOW_4G);

			if (pa == PMM_NONE)
				return NULL;
			*e = pa | TABLE_FLAGS;
		}
		table = phys_to_virt(*e & X86_PTE_ADDR_4K);
	}
	return &table[(va >> LEVEL_SHIFT(level)) & PT_INDEX_MASK];
}

static bool map_image(void)
{
	const uint64_t start = image_start(), text = (uint64_t)(uintptr_t)__text_end;
	const uint64_t guard = (uint64_t)(uintptr_t)boot_stack_guard;

	for (uint64_t va = start; va < image_end(); va += PAGE_SIZE) {
		uint64_t *e = walk_create(va, 1);

		if (!e)
			return false;
		if (va == guard)
			continue; /* stack overflows fault here */
		*e = va | (va < text ? CODE_FLAGS : DATA_FLAGS | nx_bit);
	}
	return true;
}

static bool mappable(uint32_t type)
{
	return type == MB_MMAP_AVAILABLE || type == MB_MMAP_ACPI_RECLAIM ||
	       type == MB_MMAP_ACPI_NVS;
}

/* Every RAM range in the direct map, rounded out to 2 MiB pages. */
static bool map_direct(const struct boot_info *bi, const char **why)
{
	for (unsigned i = 0; i < bi->n_ranges; i++) {
		const struct boot_range *r = &bi->range[i];
		uint64_t pa = r->base & ~(LARGE_SIZE - 1);
		uint64_t end = r->base + r->length;

		if (!mappable(r->type) || !r->length)
			continue;
		if (end > DIRECT_MAP_SIZE) {
			*why = "host RAM reaches beyond the direct map (32 TiB)";
			return false;
		}
		for (; pa < end; pa += LARGE_SIZE) {
			uint64_t *e = walk_create(DIRECT_MAP_BASE + pa, 2);

			if (!e) {
				*why = "no memory below 4 GiB for page tables";
				return false;
			}
			*e = pa | DATA_FLAGS | X86_PTE_PS | nx_bit;
		}
	}
	return true;
}

bool hostmap_init(const struct boot_info *bi, const char **why)
{
	struct cpuid_regs ext = cpuid(CPUID_LEAF_EXT_AMD, 0);

	if (ext.edx & CPUID_81_EDX_NX) {
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | X86_EFER_NXE);
		nx_bit = X86_PTE_NX;
	}
	pml4_pa = page_alloc_zeroed(1, PMM_BELOW_4G);
	if (pml4_pa == PMM_NONE) {
		*why = "no memory below 4 GiB for page tables";
		return false;
	}
	if (!map_image()) {
		*why = "no memory below 4 GiB for page tables";
		return false;
	}
	if (!map_direct(bi, why))
		return false;
	/* Supervisor writes honour read-only pages (the image's code). */
	write_cr0(read_cr0() | X86_CR0_WP);
	write_cr3(pml4_pa);
	hostmap_direct_base = DIRECT_MAP_BASE;
	return true;
}
