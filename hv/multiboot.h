/*
 * Multiboot specification version 0.6.96 ("multiboot v1"): the header a
 * kernel carries, the information structure a boot loader hands it, and
 * the machine state at entry.  Umbra reads these twice: as a kernel that
 * GRUB or QEMU boots (its own header and information), and as the boot
 * loader of its guest (hv/loader.c builds the guest's information).
 *
 * Every structure here has natural alignment and no padding, so its
 * layout is the specification's byte layout; the offsets are also given
 * as constants for code that reads or writes guest memory byte by byte.
 *
 * The test guests keep their own minimal copy (guests/lib/multiboot.h) on
 * purpose: a guest that checks what the loader built should not share the
 * loader's definitions.
 */
#ifndef HV_MULTIBOOT_H
#define HV_MULTIBOOT_H

/* ---- the header in the kernel image ----------------------------------- */
#define MULTIBOOT_HEADER_MAGIC   0x1BADB002u
#define MULTIBOOT_SEARCH         8192u /* the header lies in the first 8 KiB */
#define MULTIBOOT_HEADER_ALIGN   4u

/* Header flags.  Bits 0-15 are requirements: a loader that does not
 * understand or cannot meet one must refuse the image.  Bits 16-31 are
 * optional features. */
#define MULTIBOOT_PAGE_ALIGN     0x00000001u /* modules on 4 KiB boundaries */
#define MULTIBOOT_MEMORY_INFO    0x00000002u /* mem_* (and mmap) required */
#define MULTIBOOT_VIDEO_MODE     0x00000004u /* video mode table required */
#define MULTIBOOT_REQUIRED_MASK  0x0000FFFFu
#define MULTIBOOT_AOUT_KLUDGE    0x00010000u /* the address fields are valid */

/* Byte offsets of the header fields from the magic. */
#define MULTIBOOT_HDR_MAGIC         0
#define MULTIBOOT_HDR_FLAGS         4
#define MULTIBOOT_HDR_CHECKSUM      8
#define MULTIBOOT_HDR_HEADER_ADDR   12 /* flag 16 */
#define MULTIBOOT_HDR_LOAD_ADDR     16
#define MULTIBOOT_HDR_LOAD_END_ADDR 20
#define MULTIBOOT_HDR_BSS_END_ADDR  24
#define MULTIBOOT_HDR_ENTRY_ADDR    28
#define MULTIBOOT_HDR_MODE_TYPE     32 /* flag 2 */
#define MULTIBOOT_HDR_WIDTH         36
#define MULTIBOOT_HDR_HEIGHT        40
#define MULTIBOOT_HDR_DEPTH         44
#define MULTIBOOT_HDR_MIN_SIZE      12 /* magic, flags, checksum */
#define MULTIBOOT_HDR_AOUT_SIZE     32 /* ... through entry_addr */
#define MULTIBOOT_HDR_VIDEO_SIZE    48 /* ... through depth */

/* ---- machine state at the kernel's entry -------------------------------- */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u /* in EAX */

/* ---- the information structure (EBX) ----------------------------------- */
#define MULTIBOOT_INFO_MEMORY           0x00000001u /* mem_lower, mem_upper */
#define MULTIBOOT_INFO_BOOTDEV          0x00000002u
#define MULTIBOOT_INFO_CMDLINE          0x00000004u
#define MULTIBOOT_INFO_MODS             0x00000008u
#define MULTIBOOT_INFO_AOUT_SYMS        0x00000010u
#define MULTIBOOT_INFO_ELF_SHDR         0x00000020u
#define MULTIBOOT_INFO_MEM_MAP          0x00000040u
#define MULTIBOOT_INFO_DRIVE_INFO       0x00000080u
#define MULTIBOOT_INFO_CONFIG_TABLE     0x00000100u
#define MULTIBOOT_INFO_BOOT_LOADER_NAME 0x00000200u
#define MULTIBOOT_INFO_APM_TABLE        0x00000400u
#define MULTIBOOT_INFO_VBE_INFO         0x00000800u
#define MULTIBOOT_INFO_FRAMEBUFFER_INFO 0x00001000u

/* Byte offsets in the information structure. */
#define MULTIBOOT_INFO_OFF_FLAGS            0
#define MULTIBOOT_INFO_OFF_MEM_LOWER        4
#define MULTIBOOT_INFO_OFF_MEM_UPPER        8
#define MULTIBOOT_INFO_OFF_BOOT_DEVICE      12
#define MULTIBOOT_INFO_OFF_CMDLINE          16
#define MULTIBOOT_INFO_OFF_MODS_COUNT       20
#define MULTIBOOT_INFO_OFF_MODS_ADDR        24
#define MULTIBOOT_INFO_OFF_SYMS             28 /* 16 bytes */
#define MULTIBOOT_INFO_OFF_MMAP_LENGTH      44
#define MULTIBOOT_INFO_OFF_MMAP_ADDR        48
#define MULTIBOOT_INFO_OFF_DRIVES_LENGTH    52
#define MULTIBOOT_INFO_OFF_DRIVES_ADDR      56
#define MULTIBOOT_INFO_OFF_CONFIG_TABLE     60
#define MULTIBOOT_INFO_OFF_BOOT_LOADER_NAME 64
#define MULTIBOOT_INFO_OFF_APM_TABLE        68
#define MULTIBOOT_INFO_OFF_VBE_CONTROL_INFO 72
#define MULTIBOOT_INFO_OFF_VBE_MODE_INFO    76
#define MULTIBOOT_INFO_OFF_VBE_MODE         80 /* 16 bits */
#define MULTIBOOT_INFO_OFF_FRAMEBUFFER_ADDR 88 /* 64 bits */
#define MULTIBOOT_INFO_SIZE                 116

/* A memory map entry: `size` counts the bytes after itself (20), so the
 * next entry is at entry + size + 4.  Entry sizes are 24 bytes here. */
#define MULTIBOOT_MMAP_ENTRY_SIZE    24
#define MULTIBOOT_MMAP_SIZE_FIELD    20
#define MULTIBOOT_MEMORY_AVAILABLE   1
#define MULTIBOOT_MEMORY_RESERVED    2
#define MULTIBOOT_MEMORY_ACPI_RECLAIMABLE 3
#define MULTIBOOT_MEMORY_NVS         4
#define MULTIBOOT_MEMORY_BADRAM      5

/* A module list entry: mod_start, mod_end (exclusive), string, reserved. */
#define MULTIBOOT_MOD_ENTRY_SIZE     16

#ifndef __ASSEMBLER__
#include <stdint.h>

struct multiboot_header {
	uint32_t magic;
	uint32_t flags;
	uint32_t checksum; /* magic + flags + checksum == 0 (mod 2^32) */
	/* valid with MULTIBOOT_AOUT_KLUDGE */
	uint32_t header_addr;   /* physical address of `magic` */
	uint32_t load_addr;     /* where the file offset of header_addr -
				   (header_addr - load_addr) is loaded */
	uint32_t load_end_addr; /* 0: load to the end of the file */
	uint32_t bss_end_addr;  /* 0: no bss */
	uint32_t entry_addr;
	/* valid with MULTIBOOT_VIDEO_MODE */
	uint32_t mode_type;
	uint32_t width;
	uint32_t height;
	uint32_t depth;
};

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB from 0 (at most 640) */
	uint32_t mem_upper; /* KiB from 1 MiB up to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info;
	uint32_t vbe_mode_info;
	uint16_t vbe_mode;
	uint16_t vbe_interface_seg;
	uint16_t vbe_interface_off;
	uint16_t vbe_interface_len;
	uint32_t framebuffer_addr_low;
	uint32_t framebuffer_addr_high;
	uint32_t framebuffer_pitch;
	uint32_t framebuffer_width;
	uint32_t framebuffer_height;
	uint8_t framebuffer_bpp;
	uint8_t framebuffer_type;
	uint8_t color_info[6];
};

/* The 64-bit fields split in two keep the entry free of padding. */
struct multiboot_mmap_entry {
	uint32_t size; /* 20 */
	uint32_t addr_low, addr_high;
	uint32_t len_low, len_high;
	uint32_t type;
};

struct multiboot_mod_list {
	uint32_t mod_start;
	uint32_t mod_end; /* exclusive */
	uint32_t string;  /* physical address of a NUL-terminated string */
	uint32_t reserved;
};

_Static_assert(sizeof(struct multiboot_header) == MULTIBOOT_HDR_VIDEO_SIZE,
	       "multiboot header layout");
_Static_assert(sizeof(struct multiboot_info) == MULTIBOOT_INFO_SIZE,
	       "multiboot info layout");
_Static_assert(sizeof(struct multiboot_mmap_entry) == MULTIBOOT_MMAP_ENTRY_SIZE,
	       "multiboot mmap entry layout");
_Static_assert(sizeof(struct multiboot_mod_list) == MULTIBOOT_MOD_ENTRY_SIZE,
	       "multiboot module entry layout");
#endif

#endif
