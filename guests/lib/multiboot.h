/* Multiboot v1 constants and the part of the boot information we read. */
#ifndef GUEST_MULTIBOOT_H
#define GUEST_MULTIBOOT_H

#define MB_HEADER_MAGIC  0x1BADB002
#define MB_HEADER_FLAGS  0x00000003 /* page-align modules, memory info */
#define MB_BOOT_MAGIC    0x2BADB002 /* in EAX at entry */
#define MB_INFO_MEMORY   (1u << 0)  /* mem_lower, mem_upper valid */
#define MB_INFO_CMDLINE  (1u << 2)
#define MB_INFO_MODS     (1u << 3)
#define MB_INFO_MMAP     (1u << 6)

#define MB_MMAP_AVAILABLE 1 /* mb_mmap_entry.type of usable RAM */

#ifndef __ASSEMBLER__
#include <stdint.h>
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB below 1 MiB / above 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline; /* physical address of a NUL-terminated string */
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};

struct mb_module {
	uint32_t start, end; /* [start, end) */
	uint32_t string;
	uint32_t reserved;
};

/* One memory-map entry; `size` counts the bytes after itself, so the next
 * entry starts size + 4 bytes further. */
struct __attribute__((packed)) mb_mmap_entry {
	uint32_t size;
	uint64_t base, len;
	uint32_t type;
};
#endif

#endif
