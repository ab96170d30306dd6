/*
 * The guest's physical memory: the PC layout of platform_mem.h, each RAM
 * range backed by its own contiguous block of host memory (so guest-
 * physical != host-physical), and registered with the engine as a RAM
 * slot.  Only memory the guest owns is ever mapped into it: no slot
 * points at Umbra's image, its page tables, the pool or another guest
 * range.
 *
 * Besides RAM (platform_fw.h): copies of the host's firmware areas at
 * their own addresses (the EBDA as RAM, the BIOS area 0xE0000-0xFFFFF and
 * ACPI/MP tables elsewhere as ROM slots, all reserved in the map; the IVT
 * and BIOS data area written into page 0 of RAM), and the LAPIC and
 * IOAPIC pages passed through: RAM-typed slots whose hpa is the device's
 * own physical address (`device`), so the shadow maps the real registers
 * and guest accesses cause no exit.  Umbra itself never dereferences a
 * device area (guestmem_ptr returns NULL there).  The legacy VGA window
 * 0xA0000-0xBFFFF is a ROM area of all-ones bytes, what QEMU's VGA
 * returns there natively (guestmem.c).
 */
#ifndef HV_GUESTMEM_H
#define HV_GUESTMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "platform_fw.h"
#include "platform_mem.h"

struct guest_ram {
	uint64_t gpa, size, hpa;
	uint8_t slot_type; /* enum umbra_slot_type: UMBRA_SLOT_RAM or _ROM */
	bool device;       /* hpa is a device's MMIO page, not host RAM */
	const char *what;  /* "RAM", "EBDA", "BIOS", "tables", "LAPIC", ... */
};

struct guest_memory {
	struct memmap map;            /* what the guest is told */
	unsigned n_ram;               /* areas: RAM, firmware copies, devices */
	struct guest_ram ram[MEMMAP_MAX];
};

/* Lay out `ram_size` bytes of guest RAM the PC way and back every RAM
 * range with host memory (zeroed); then add the firmware copies and
 * device pages of *fw (NULL: none).  False with a message in why[]. */
bool guestmem_init(struct guest_memory *gm, uint64_t ram_size,
		   const struct platform_fw *fw, char *why, unsigned why_size);

/* The host pointer for [gpa, gpa + len) when it lies inside one RAM or ROM
 * area (never a device), else NULL: for reads. */
void *guestmem_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len);
/* The same for writes: RAM areas only (ROM writes are dropped). */
void *guestmem_wptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len);

/* The loader's write callback (struct guest_mem in loader.h). */
bool guestmem_write(void *ctx, uint64_t gpa, const void *src, uint64_t len);
bool guestmem_zero(void *ctx, uint64_t gpa, uint64_t len);

void guestmem_print(const struct guest_memory *gm);

#endif
