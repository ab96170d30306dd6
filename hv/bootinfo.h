/*
 * What the multiboot v1 loader hands Umbra (Multiboot Specification 0.6.96,
 * section 3.3: the boot information format), and Umbra's own summary of it.
 *
 * The loader's structures live in memory Umbra later gives to its page
 * allocator, so bootinfo_parse() copies everything that must outlive boot
 * (command lines, the memory map, module ranges) into struct boot_info
 * before anything is allocated.  The guest loader builds the *guest's*
 * multiboot information separately (hv/loader.h); nothing here is guest
 * facing.  Assembly includes the first part of this file.
 */
#ifndef HV_BOOTINFO_H
#define HV_BOOTINFO_H

#define MB_HEADER_MAGIC 0x1BADB002
/* Header flags: bit 0 = page-align modules, bit 1 = give the memory map. */
#define MB_HEADER_FLAGS 0x00000003
#define MB_BOOT_MAGIC   0x2BADB002 /* in EAX at entry */

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/* Which fields of struct mb_info are valid. */
#define MB_INFO_MEM     (1u << 0) /* mem_lower, mem_upper */
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS    (1u << 3)
#define MB_INFO_MMAP    (1u << 6)

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB below 640 KiB and above 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;              /* physical address of a C string */
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start, mod_end; /* [start, end) physical */
	uint32_t string;             /* its command line */
	uint32_t reserved;
} __attribute__((packed));

/* A memory map entry; `size` counts the bytes after itself. */
struct mb_mmap_entry {
	uint32_t size;
	uint64_t base, length;
	uint32_t type;
} __attribute__((packed));
#define MB_MMAP_AVAILABLE 1

/* ---- Umbra's copy ------------------------------------------------------- */

#define BOOT_MAX_RANGES   64   /* memory map entries kept */
#define BOOT_MAX_MODULES  16
#define BOOT_CMDLINE_MAX  1024

struct boot_range {
	uint64_t base, length;
	uint32_t type; /* MB_MMAP_AVAILABLE or another firmware type */
};

struct boot_module {
	uint64_t start, end;           /* physical, [start, end) */
	char cmdline[BOOT_CMDLINE_MAX];
};

struct boot_info {
	char cmdline[BOOT_CMDLINE_MAX]; /* Umbra's own command line */
	uint32_t mem_lower_kib, mem_upper_kib;
	unsigned n_ranges;
	struct boot_range range[BOOT_MAX_RANGES];
	unsigned n_modules;
	struct boot_module module[BOOT_MAX_MODULES];
};

/*
 * Copy what the loader gave (magic in EAX, info at physical `info`, read
 * through the boot identity map).  Returns NULL and sets *why when the
 * boot is not usable (wrong magic, no memory map).
 */
const struct boot_info *bootinfo_parse(uint32_t magic, uint32_t info,
				       const char **why);

#endif
#endif
