/*
 * Reading the multiboot information Umbra booted with.  Runs on the boot
 * identity map (the first 4 GiB), before the page allocator exists, and
 * copies everything into one static struct boot_info.
 */
#include "bootinfo.h"

#include <stddef.h>

#include "string.h"

/* The loader's addresses are 32-bit physical; the boot map is identity. */
static const void *boot_phys(uint32_t pa)
{
	return (const void *)(uintptr_t)pa;
}

static struct boot_info bi;

/* Copy a C string of the loader; false when it does not fit. */
static bool copy_string(char *dst, uint32_t pa)
{
	const char *src = boot_phys(pa);
	size_t n;

	if (!pa) {
		dst[0] = '\0';
		return true;
	}
	for (n = 0; n < BOOT_CMDLINE_MAX; n++) {
		dst[n] = src[n];
		if (!src[n])
			return true;
	}
	dst[BOOT_CMDLINE_MAX - 1] = '\0';
	return false;
}

static bool copy_mmap(const struct mb_info *mb, const char **why)
{
	uint32_t off = 0;

	while (off + sizeof(uint32_t) <= mb->mmap_length) {
		const struct mb_mmap_entry *e =
			boot_phys(mb->mmap_addr + off);

		if (bi.n_ranges == BOOT_MAX_RANGES) {
			*why = "the memory map has more entries than Umbra keeps";
			return false;
		}
		bi.range[bi.n_ranges++] = (struct boot_range){
			.base = e->base, .length = e->length, .type = e->type,
		};
		off += e->size + sizeof(e->size);
	}
	return true;
}

static bool copy_modules(const struct mb_info *mb, const char **why)
{
	const struct mb_module *m = boot_phys(mb->mods_addr);

	if (mb->mods_count > BOOT_MAX_MODULES) {
		*why = "more multiboot modules than Umbra accepts (16)";
		return false;
	}
	for (uint32_t i = 0; i < mb->mods_count; i++) {
		struct boot_module *bm = &bi.module[i];

		if (m[i].mod_end < m[i].mod_start) {
			*why = "a multiboot module ends before it starts";
			return false;
		}
		bm->start = m[i].mod_start;
		bm->end = m[i].mod_end;
		if (!copy_string(bm->cmdline, m[i].string)) {
			*why = "a module's command line is longer than 1023 bytes";
			return false;
		}
	}
	bi.n_modules = mb->mods_count;
	return true;
}

const struct boot_info *bootinfo_parse(uint32_t magic, uint32_t info,
				       const char **why)
{
	const struct mb_info *mb = boot_phys(info);

	if (magic != MB_BOOT_MAGIC) {
		*why = "not started by a multiboot v1 loader (bad magic in EAX)";
		return NULL;
	}
	if ((mb->flags & MB_INFO_CMDLINE) &&
	    !copy_string(bi.cmdline, mb->cmdline)) {
		*why = "Umbra's command line is longer than 1023 bytes";
		return NULL;
	}
	if (mb->flags & MB_INFO_MEM) {
		bi.mem_lower_kib = mb->mem_lower;
		bi.mem_upper_kib = mb->mem_upper;
	}
	if (!(mb->flags & MB_INFO_MMAP)) {
		*why = "the loader gave no memory map (multiboot flag 6)";
		return NULL;
	}
	if (!copy_mmap(mb, why))
		return NULL;
	if ((mb->flags & MB_INFO_MODS) && !copy_modules(mb, why))
		return NULL;
	return &bi;
}
