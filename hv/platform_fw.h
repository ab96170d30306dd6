/*
 * The host's firmware data areas and pass-through devices, as the guest
 * sees them (hv/README.md, "Platform").
 *
 * platform_fw_snapshot() runs before hostmap_init(), while boot.S's
 * identity map of the first 4 GiB is live, so it can read firmware memory
 * that the host's direct map never covers (reserved ranges).  It copies
 * into host pages (below 4 GiB, so they are in the direct map later):
 *
 *   - the real-mode IVT and BIOS data area, [0, 0x500);
 *   - the EBDA, [BDA word 0x40E << 4, 0xA0000), when the word is sane;
 *   - the BIOS area [0xE0000, 0x100000), which holds the MP floating
 *     pointer and the ACPI RSDP;
 *   - the MP configuration table and every ACPI table the RSDP reaches
 *     (RSDT, XSDT, the tables they list, the FADT's DSDT and FACS) that
 *     lie outside those areas: page-rounded, merged into at most
 *     FW_MAX_EXTRA ranges;
 *
 * and records the LAPIC base (MSR 0x1B) and the IOAPIC addresses (MADT,
 * else 0xFEC00000).  guestmem_init() turns the result into guest areas at
 * the same guest-physical addresses.
 */
#ifndef HV_PLATFORM_FW_H
#define HV_PLATFORM_FW_H

#include <stdbool.h>
#include <stdint.h>

#define FW_PAGE0_LEN    0x500u    /* IVT 0x000-0x3FF, BDA 0x400-0x4FF */
#define FW_BIOS_BASE    0xE0000u
#define FW_BIOS_END     0x100000u
#define FW_EBDA_END     0xA0000u
#define FW_MAX_EXTRA    4
#define FW_MAX_IOAPIC   2
#define FW_LAPIC_DEFAULT  0xFEE00000u
#define FW_IOAPIC_DEFAULT 0xFEC00000u

struct fw_copy {
	uint64_t gpa, len; /* at the same address in the guest */
	uint64_t hpa;      /* the host copy (0: none) */
};

struct platform_fw {
	uint8_t page0[FW_PAGE0_LEN];
	uint64_t ebda_base;       /* 0: no EBDA found */
	struct fw_copy ebda;      /* [ebda_base, 0xA0000) */
	struct fw_copy bios;      /* [0xE0000, 0x100000) */
	unsigned n_extra;
	struct fw_copy extra[FW_MAX_EXTRA]; /* tables elsewhere, page-rounded */
	uint64_t rsdp, mpfp;      /* where the host's RSDP / MP pointer are (0: none) */
	const char *missing;      /* what could not be copied, or NULL */
	uint64_t lapic;           /* LAPIC MMIO base (4 KiB) */
	unsigned n_ioapic;
	uint64_t ioapic[FW_MAX_IOAPIC];
};

/* Fills *fw; never fails (what is missing is noted in fw->missing). */
void platform_fw_snapshot(struct platform_fw *fw);

/* Logs what was found (info level). */
void platform_fw_print(const struct platform_fw *fw);

#endif
