/*
 * The guest's physical memory map: which guest-physical ranges are RAM the
 * guest owns and which the platform reserves.  One map is the single
 * source of truth for three consumers:
 *
 *   - the hypervisor, which backs every MEMMAP_RAM range with host memory
 *     (memory slots) and decides what to put in the reserved ranges
 *     (firmware copies, pass-through MMIO, nothing);
 *   - the loader (hv/loader.h), which loads only into MEMMAP_RAM and places
 *     the boot information and modules there;
 *   - the guest, which receives it as the multiboot memory map
 *     (mmap_addr/mmap_length, mem_lower/mem_upper).
 *
 * A map is a sorted array of non-overlapping ranges, adjacent ranges of
 * the same type merged.  Types are the multiboot / E820 types.
 * Freestanding: stdint/stddef/stdbool only, no globals.
 */
#ifndef HV_PLATFORM_MEM_H
#define HV_PLATFORM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMMAP_MAX 32

enum memmap_type {
	MEMMAP_RAM = 1,      /* usable RAM owned by the guest */
	MEMMAP_RESERVED = 2, /* firmware, MMIO, anything the guest must not use */
	MEMMAP_ACPI = 3,     /* ACPI tables, reclaimable after parsing */
	MEMMAP_NVS = 4,      /* ACPI non-volatile storage */
	MEMMAP_UNUSABLE = 5, /* bad RAM */
};

struct memmap_range {
	uint64_t base;
	uint64_t len;  /* > 0 */
	uint32_t type; /* enum memmap_type */
};

struct memmap {
	uint32_t count;
	struct memmap_range r[MEMMAP_MAX];
};

/* The standard PC layout of a guest. */
#define PC_LOW_RAM_END_MAX 0xA0000u     /* 640 KiB: VGA from here */
#define PC_HIGH_RAM_BASE   0x100000u    /* 1 MiB */
#define PC_HOLE_DEFAULT    0xC0000000u  /* 3 GiB: 32-bit MMIO hole */
#define PC_4GIB            0x100000000ull

struct pc_layout {
	/* Top of guest RAM as if there were no hole, like QEMU's -m: RAM is
	 * [0, low_ram_end) and [1 MiB, ram_size), the part of [1 MiB,
	 * ram_size) at or above hole_start moved to 4 GiB.  The 384 KiB
	 * between low_ram_end and 1 MiB are reserved, not lost from the top.
	 * A multiple of 4 KiB, at least 2 MiB. */
	uint64_t ram_size;
	/* End of base memory, a multiple of 1 KiB in [4 KiB, 640 KiB]; 0
	 * means 640 KiB.  A hypervisor that copies the host's EBDA into the
	 * guest passes the EBDA's base here (BIOS data area word 0x40E << 4,
	 * or word 0x413 in KiB), e.g. 0x9FC00 on QEMU, so that it is
	 * reserved. */
	uint64_t low_ram_end;
	/* Start of the 32-bit MMIO hole (PCI, IOAPIC 0xFEC00000, LAPIC
	 * 0xFEE00000, BIOS ROM alias below 4 GiB), a multiple of 4 KiB in
	 * [16 MiB, 4 GiB]; 0 means 3 GiB.  Nothing is listed in the hole: it
	 * is neither RAM nor, on a PC, described by the memory map. */
	uint64_t hole_start;
};

/* An empty map. */
void memmap_init(struct memmap *m);

/* Builds the PC layout: RAM [0, low_ram_end), reserved [low_ram_end,
 * 1 MiB) (EBDA, VGA memory, option ROMs, the BIOS area 0xE0000-0xFFFFF),
 * RAM [1 MiB, min(ram_size, hole_start)), and RAM above 4 GiB for the rest.
 * Returns NULL, or a constant message naming the bad parameter (the map
 * is then empty). */
const char *memmap_pc(struct memmap *m, const struct pc_layout *l);

/* Marks [base, base + len) as `type`, replacing what the map said there
 * (carving reserved ranges out of RAM, for instance firmware tables the
 * platform keeps at the top of RAM).  Returns false, leaving the map
 * unchanged, if the range wraps past 2^64, the type is 0, or the map would
 * need more than MEMMAP_MAX ranges.  len == 0 changes nothing. */
bool memmap_set(struct memmap *m, uint64_t base, uint64_t len, uint32_t type);

/* Whether [base, base + len) lies entirely in MEMMAP_RAM ranges (len == 0:
 * whether base itself does). */
bool memmap_is_ram(const struct memmap *m, uint64_t base, uint64_t len);

/* The multiboot mem_lower / mem_upper values: KiB of RAM contiguous from
 * 0 (at most 640), and KiB of RAM contiguous from 1 MiB (the first hole
 * ends it), saturated to 32 bits. */
uint32_t memmap_mem_lower_kib(const struct memmap *m);
uint32_t memmap_mem_upper_kib(const struct memmap *m);

#endif
