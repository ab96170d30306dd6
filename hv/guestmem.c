/*
 * Backing the guest's RAM with host memory, and placing the firmware
 * copies and pass-through device pages (guestmem.h, platform_fw.h).
 */
#include "guestmem.h"

#include "console.h"
#include "hostmap.h"
#include "pmm.h"
#include "string.h"
#include "umbra/mmu.h"

/* Guest RAM blocks are 2 MiB aligned in host memory when they can be, so
 * that a later large-page shadow could map them 1:1 in 2 MiB steps. */
#define GUEST_RAM_ALIGN (2ull << 20)
#define PAGE_MASK_4K (PAGE_SIZE - 1)
/*
 * The legacy VGA window [0xA0000, 0xC0000).  Natively QEMU's standard VGA
 * answers a read outside the part of the window its memory map mode
 * decodes with 0xFF bytes; after SeaBIOS sets text mode that is
 * everything below the text buffer at 0xB8000.  Umbra gives the guest no
 * VGA, so the whole window is a ROM area of VGA_FLOAT bytes: the guest's
 * loads (with no exit), the engine's walker and the emulator all read the
 * same all-ones, and writes are dropped.  (Reads of the text buffer differ:
 * natively they return the screen.)
 */
#define VGA_WINDOW_BASE 0xA0000u
#define VGA_WINDOW_END  0xC0000u
#define VGA_FLOAT       0xFF

static bool overlaps_area(const struct guest_memory *gm, uint64_t gpa,
			  uint64_t size)
{
	for (unsigned i = 0; i < gm->n_ram; i++)
		if (gpa < gm->ram[i].gpa + gm->ram[i].size &&
		    gm->ram[i].gpa < gpa + size)
			return true;
	return false;
}

static bool add_area(struct guest_memory *gm, struct guest_ram a, char *why,
		     unsigned why_size)
{
	if (overlaps_area(gm, a.gpa, a.size)) {
		log_warn("guest %s [%#llx, %#llx) overlaps another guest area: not mapped",
			 a.what, (unsigned long long)a.gpa,
			 (unsigned long long)(a.gpa + a.size));
		return true;
	}
	if (gm->n_ram == MEMMAP_MAX) {
		ksnprintf(why, why_size, "too many guest memory areas");
		return false;
	}
	gm->ram[gm->n_ram++] = a;
	return true;
}

/* Copy into any non-device area, ROM included (firmware setup only). */
static void fill(struct guest_memory *gm, uint64_t gpa, const void *src,
		 uint64_t len)
{
	void *dst = guestmem_ptr(gm, gpa, len);

	if (dst)
		memcpy(dst, src, len);
	else
		log_warn("firmware copy to [%#llx, +%#llx) has no guest area",
			 (unsigned long long)gpa, (unsigned long long)len);
}

static bool add_firmware(struct guest_memory *gm, const struct platform_fw *fw,
			 char *why, unsigned why_size)
{
	/* The EBDA: its first partial page is the last page of the low RAM
	 * block (rounded up); the whole pages after it are a RAM copy. */
	if (fw->ebda.hpa) {
		uint64_t from = (fw->ebda_base + PAGE_MASK_4K) & ~PAGE_MASK_4K;

		if (from < FW_EBDA_END) {
			uint64_t hpa = pmm_alloc(pages_for(FW_EBDA_END - from),
						 PAGE_SIZE, PMM_NO_LIMIT);

			if (hpa == PMM_NONE) {
				ksnprintf(why, why_size, "no host memory for the EBDA copy");
				return false;
			}
			if (!add_area(gm, (struct guest_ram){
					.gpa = from, .size = FW_EBDA_END - from,
					.hpa = hpa, .slot_type = UMBRA_SLOT_RAM,
					.what = "EBDA" }, why, why_size))
				return false;
		}
	}
	if (fw->bios.hpa &&
	    !add_area(gm, (struct guest_ram){
			.gpa = fw->bios.gpa, .size = fw->bios.len,
			.hpa = fw->bios.hpa, .slot_type = UMBRA_SLOT_ROM,
			.what = "BIOS area" }, why, why_size))
		return false;
	for (unsigned i = 0; i < fw->n_extra; i++)
		if (!add_area(gm, (struct guest_ram){
				.gpa = fw->extra[i].gpa, .size = fw->extra[i].len,
				.hpa = fw->extra[i].hpa,
				.slot_type = UMBRA_SLOT_ROM,
				.what = "firmware tables" }, why, why_size))
			return false;

	/* Contents: IVT + BDA into page 0 of RAM, the EBDA (all of it, the
	 * partial page included). */
	fill(gm, 0, fw->page0, FW_PAGE0_LEN);
	if (fw->ebda.hpa)
		fill(gm, fw->ebda.gpa, phys_to_virt(fw->ebda.hpa), fw->ebda.len);

	/* Devices: one page each, hpa == gpa. */
	if (!add_area(gm, (struct guest_ram){
			.gpa = fw->lapic & ~PAGE_MASK_4K, .size = PAGE_SIZE,
			.hpa = fw->lapic & ~PAGE_MASK_4K,
			.slot_type = UMBRA_SLOT_RAM, .device = true,
			.what = "LAPIC" }, why, why_size))
		return false;
	for (unsigned i = 0; i < fw->n_ioapic; i++) {
		uint64_t pa = fw->ioapic[i] & ~PAGE_MASK_4K;

		if (overlaps_area(gm, pa, PAGE_SIZE))
			continue; /* two IOAPICs in one page, or a bad MADT */
		if (!add_area(gm, (struct guest_ram){
				.gpa = pa, .size = PAGE_SIZE, .hpa = pa,
				.slot_type = UMBRA_SLOT_RAM, .device = true,
				.what = "IOAPIC" }, why, why_size))
			return false;
	}
	return true;
}

static bool add_vga_window(struct guest_memory *gm, char *why,
			   unsigned why_size)
{
	const uint64_t size = VGA_WINDOW_END - VGA_WINDOW_BASE;
	uint64_t hpa = pmm_alloc(pages_for(size), PAGE_SIZE, PMM_NO_LIMIT);

	if (hpa == PMM_NONE) {
		ksnprintf(why, why_size, "no host memory for the VGA window");
		return false;
	}
	memset(phys_to_virt(hpa), VGA_FLOAT, size);
	return add_area(gm, (struct guest_ram){
			.gpa = VGA_WINDOW_BASE, .size = size, .hpa = hpa,
			.slot_type = UMBRA_SLOT_ROM, .what = "VGA window" },
			why, why_size);
}

bool guestmem_init(struct guest_memory *gm, uint64_t ram_size,
		   const struct platform_fw *fw, char *why, unsigned why_size)
{
	const struct pc_layout pc = {
		.ram_size = ram_size,
		.low_ram_end = fw ? fw->ebda_base : 0,
	};
	const char *err;

	*gm = (struct guest_memory){ .n_ram = 0 };
	err = memmap_pc(&gm->map, &pc);
	if (err) {
		ksnprintf(why, why_size, "guest memory layout: %s", err);
		return false;
	}
	/* Firmware tables outside the BIOS area are reserved at their own
	 * addresses, carved out of guest RAM if they fall inside it. */
	for (unsigned i = 0; fw && i < fw->n_extra; i++)
		if (!memmap_set(&gm->map, fw->extra[i].gpa, fw->extra[i].len,
				MEMMAP_RESERVED)) {
			ksnprintf(why, why_size, "guest memory map: too many ranges");
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
		if (!add_area(gm, (struct guest_ram){
				.gpa = r->base, .size = pages << PAGE_SHIFT,
				.hpa = hpa, .slot_type = UMBRA_SLOT_RAM,
				.what = "RAM" }, why, why_size))
			return false;
	}
	if (!add_vga_window(gm, why, why_size))
		return false;
	return fw ? add_firmware(gm, fw, why, why_size) : true;
}

static void *area_ptr(const struct guest_memory *gm, uint64_t gpa,
		      uint64_t len, bool write)
{
	for (unsigned i = 0; i < gm->n_ram; i++) {
		const struct guest_ram *r = &gm->ram[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa)) {
			if (r->device || (write && r->slot_type != UMBRA_SLOT_RAM))
				return NULL;
			return phys_to_virt(r->hpa + (gpa - r->gpa));
		}
	}
	return NULL;
}

void *guestmem_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	return area_ptr(gm, gpa, len, false);
}

void *guestmem_wptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	return area_ptr(gm, gpa, len, true);
}

bool guestmem_write(void *ctx, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = guestmem_wptr(ctx, gpa, len);

	if (!dst)
		return false;
	memcpy(dst, src, len);
	return true;
}

bool guestmem_zero(void *ctx, uint64_t gpa, uint64_t len)
{
	void *dst = guestmem_wptr(ctx, gpa, len);

	if (!dst)
		return false;
	memset(dst, 0, len);
	return true;
}

void guestmem_print(const struct guest_memory *gm)
{
	for (unsigned i = 0; i < gm->n_ram; i++)
		log_debug("guest %s [%#llx, %#llx) at host %#llx%s",
			  gm->ram[i].what,
			  (unsigned long long)gm->ram[i].gpa,
			  (unsigned long long)(gm->ram[i].gpa + gm->ram[i].size),
			  (unsigned long long)gm->ram[i].hpa,
			  gm->ram[i].device ? " (device, passed through)" :
			  gm->ram[i].slot_type == UMBRA_SLOT_ROM ? " (read-only)" : "");
	for (unsigned i = 0; i < gm->map.count; i++)
		log_debug("guest map [%#llx, %#llx) type %u",
			  (unsigned long long)gm->map.r[i].base,
			  (unsigned long long)(gm->map.r[i].base + gm->map.r[i].len),
			  gm->map.r[i].type);
}
