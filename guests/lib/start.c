/* The C entry of both flavours, called by boot32.S / boot64.S. */
#include "guest.h"
#include "internal.h"
#include "multiboot.h"

void lib_start(uint32_t magic, uint32_t info);

uint32_t mb_info_addr;

void lib_start(uint32_t magic, uint32_t info)
{
	const struct mb_info *mb = (const struct mb_info *)(uintptr_t)info;

	mb_info_addr = info;
	serial_init();
	if (magic != MB_BOOT_MAGIC)
		panic("not booted by a multiboot loader (magic %#x)", magic);
	if (mb->flags & MB_INFO_CMDLINE)
		cmdline_set((const char *)(uintptr_t)mb->cmdline);
	desc_init();
	guest_exit(guest_main() == 0 ? GUEST_EXIT_PASS : GUEST_EXIT_FAIL);
}
