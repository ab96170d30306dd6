/* Multiboot v1 constants and the part of the boot information we read. */
#ifndef GUEST_MULTIBOOT_H
#define GUEST_MULTIBOOT_H

#define MB_HEADER_MAGIC  0x1BADB002
#define MB_HEADER_FLAGS  0x00000003 /* page-align modules, memory info */
#define MB_BOOT_MAGIC    0x2BADB002 /* in EAX at entry */
#define MB_INFO_CMDLINE  (1u << 2)

#ifndef __ASSEMBLER__
#include <stdint.h>
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline; /* physical address of a NUL-terminated string */
};
#endif

#endif
