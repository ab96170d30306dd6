/*
 * The host's firmware areas, copied for the guest (platform_fw.h).
 */
#include "platform_fw.h"

#include "console.h"
#include "cpu.h"
#include "hostmap.h"
#include "pmm.h"
#include "string.h"

#define APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000ull
#define TABLE_MAX_LEN (1u << 20)   /* a sane single firmware table */
#define EXTRA_MAX_SPAN (16u << 20) /* a sane extra firmware range */
#define MAX_RANGES 64

/* Before hostmap_init(), physical addresses below 4 GiB are identity
 * mapped: phys_to_virt() is the identity. */
static const uint8_t *phys(uint64_t pa)
{
	return phys_to_virt(pa);
}

static uint32_t rd32(uint64_t pa)
{
	uint32_t v;

	memcpy(&v, phys(pa), sizeof(v));
	return v;
}

static uint64_t rd64(uint64_t pa)
{
	uint64_t v;

	memcpy(&v, phys(pa), sizeof(v));
	return v;
}

static uint16_t rd16(uint64_t pa)
{
	uint16_t v;

	memcpy(&v, phys(pa), sizeof(v));
	return v;
}

static bool sum_ok(uint64_t pa, uint64_t len)
{
	uint8_t s = 0;

	for (uint64_t i = 0; i < len; i++)
		s = (uint8_t)(s + phys(pa)[i]);
	return s == 0;
}

/* Ranges of firmware tables found outside the copied areas. */
struct ranges {
	unsigned n;
	uint64_t base[MAX_RANGES], end[MAX_RANGES];
};

static bool in_fixed_areas(const struct platform_fw *fw, uint64_t b, uint64_t e)
{
	if (b >= FW_BIOS_BASE && e <= FW_BIOS_END)
		return true;
	if (fw->ebda_base && b >= fw->ebda_base && e <= FW_EBDA_END)
		return true;
	return false;
}

static void add_range(struct platform_fw *fw, struct ranges *r, uint64_t b,
		      uint64_t len)
{
	if (len == 0 || in_fixed_areas(fw, b, b + len))
		return;
	if (r->n == MAX_RANGES) {
		fw->missing = "too many firmware tables outside the BIOS area";
		return;
	}
	r->base[r->n] = b;
	r->end[r->n] = b + len;
	r->n++;
}

/* A table with a standard ACPI header at pa: its length, or 0 if it does
 * not look like one (below 4 GiB, sane length, checksum). */
static uint32_t acpi_table_len(uint64_t pa)
{
	uint32_t len;

	if (pa == 0 || pa >= (1ull << 32) - 36)
		return 0;
	len = rd32(pa + 4);
	if (len < 36 || len > TABLE_MAX_LEN || pa + len > (1ull << 32))
		return 0;
	return sum_ok(pa, len) ? len : 0;
}

static void acpi_madt(struct platform_fw *fw, uint64_t pa, uint32_t len)
{
	for (uint64_t p = pa + 44; p + 2 <= pa + len;) {
		uint8_t type = phys(p)[0], elen = phys(p)[1];

		if (elen < 2 || p + elen > pa + len)
			break;
		if (type == 1 && elen >= 12 && fw->n_ioapic < FW_MAX_IOAPIC)
			fw->ioapic[fw->n_ioapic++] = rd32(p + 4);
		p += elen;
	}
}

static void acpi_fadt(struct platform_fw *fw, struct ranges *r, uint64_t pa,
		      uint32_t len)
{
	uint64_t facs = len >= 40 ? rd32(pa + 36) : 0;
	uint64_t dsdt = len >= 44 ? rd32(pa + 40) : 0;
	uint32_t l;

	if (len >= 140 && rd64(pa + 132))
		facs = rd64(pa + 132);
	if (len >= 148 && rd64(pa + 140))
		dsdt = rd64(pa + 140);
	if (facs && facs < (1ull << 32) - 64 &&
	    !memcmp(phys(facs), "FACS", 4)) {
		l = rd32(facs + 4);
		if (l >= 64 && l <= TABLE_MAX_LEN)
			add_range(fw, r, facs, l);
	}
	if ((l = acpi_table_len(dsdt)))
		add_range(fw, r, dsdt, l);
}

static void acpi_walk(struct platform_fw *fw, struct ranges *r)
{
	uint64_t rsdp = fw->rsdp, sdt;
	unsigned esize;
	uint32_t len;

	if (phys(rsdp)[15] >= 2 && rd32(rsdp + 20) >= 36 &&
	    sum_ok(rsdp, 36) && rd64(rsdp + 24)) {
		sdt = rd64(rsdp + 24);
		esize = 8;
	} else {
		sdt = rd32(rsdp + 16);
		esize = 4;
	}
	len = acpi_table_len(sdt);
	if (!len) {
		fw->missing = "the RSDP's RSDT/XSDT is not a valid table";
		return;
	}
	add_range(fw, r, sdt, len);
	for (uint64_t p = sdt + 36; p + esize <= sdt + len; p += esize) {
		uint64_t t = esize == 8 ? rd64(p) : rd32(p);
		uint32_t tl = acpi_table_len(t);

		if (!tl)
			continue;
		add_range(fw, r, t, tl);
		if (!memcmp(phys(t), "FACP", 4))
			acpi_fadt(fw, r, t, tl);
		else if (!memcmp(phys(t), "APIC", 4))
			acpi_madt(fw, t, tl);
	}
}

/* The MP floating pointer's configuration table, if outside the areas. */
static void mp_walk(struct platform_fw *fw, struct ranges *r)
{
	uint64_t cfg = rd32(fw->mpfp + 4);
	uint32_t len;

	if (!cfg || cfg >= (1ull << 32) - 44 || memcmp(phys(cfg), "PCMP", 4))
		return;
	len = (uint32_t)rd16(cfg + 4) + rd16(cfg + 40);
	add_range(fw, r, cfg, len);
}

static uint64_t scan(uint64_t from, uint64_t to, const char *sig,
		     unsigned sumlen)
{
	for (uint64_t p = from; p + sumlen <= to; p += 16)
		if (!memcmp(phys(p), sig, strlen(sig)) && sum_ok(p, sumlen))
			return p;
	return 0;
}

static uint64_t copy_out(uint64_t pa, uint64_t len)
{
	uint64_t pages = pages_for(len);
	uint64_t hpa = pmm_alloc(pages, PAGE_SIZE, PMM_BELOW_4G);

	if (hpa == PMM_NONE)
		return 0;
	memset(phys_to_virt(hpa), 0, pages << PAGE_SHIFT);
	memcpy(phys_to_virt(hpa), phys(pa), len);
	return hpa;
}

/* Page-round and merge the ranges, then copy each. */
static void copy_extra(struct platform_fw *fw, struct ranges *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		r->base[i] &= ~(uint64_t)(PAGE_SIZE - 1);
		r->end[i] = (r->end[i] + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	}
	/* Sort by base, then merge overlapping or touching ranges. */
	for (unsigned i = 1; i < r->n; i++)
		for (unsigned j = i; j > 0 && r->base[j - 1] > r->base[j]; j--) {
			uint64_t b = r->base[j], e = r->end[j];

			r->base[j] = r->base[j - 1];
			r->end[j] = r->end[j - 1];
			r->base[j - 1] = b;
			r->end[j - 1] = e;
		}
	fw->n_extra = 0;
	for (unsigned i = 0; i < r->n; i++) {
		struct fw_copy *c = fw->n_extra ? &fw->extra[fw->n_extra - 1] : NULL;

		if (c && r->base[i] <= c->gpa + c->len) {
			if (r->end[i] > c->gpa + c->len)
				c->len = r->end[i] - c->gpa;
			continue;
		}
		if (fw->n_extra == FW_MAX_EXTRA) {
			fw->missing = "firmware tables in too many places";
			break;
		}
		fw->extra[fw->n_extra++] = (struct fw_copy){
			.gpa = r->base[i], .len = r->end[i] - r->base[i] };
	}
	for (unsigned i = 0; i < fw->n_extra; i++) {
		struct fw_copy *c = &fw->extra[i];

		if (c->gpa < FW_BIOS_END || c->len > EXTRA_MAX_SPAN) {
			fw->missing = "firmware tables below 1 MiB outside the EBDA and BIOS area, or spread over more than 16 MiB";
			c->hpa = 0;
			continue;
		}
		c->hpa = copy_out(c->gpa, c->len);
		if (!c->hpa)
			fw->missing = "no host memory for a firmware table copy";
	}
	/* Drop the ranges that could not be copied. */
	unsigned out = 0;
	for (unsigned i = 0; i < fw->n_extra; i++)
		if (fw->extra[i].hpa)
			fw->extra[out++] = fw->extra[i];
	fw->n_extra = out;
}

void platform_fw_snapshot(struct platform_fw *fw)
{
	static struct ranges r;
	uint64_t ebda;

	*fw = (struct platform_fw){ .lapic = FW_LAPIC_DEFAULT };
	r.n = 0;
	memcpy(fw->page0, phys(0), FW_PAGE0_LEN);
	ebda = (uint64_t)rd16(0x40E) << 4;
	if (ebda >= 0x80000 && ebda < FW_EBDA_END && !(ebda & 0x3ff)) {
		fw->ebda_base = ebda;
		fw->ebda = (struct fw_copy){ .gpa = ebda, .len = FW_EBDA_END - ebda };
	}
	fw->bios = (struct fw_copy){ .gpa = FW_BIOS_BASE,
				     .len = FW_BIOS_END - FW_BIOS_BASE };
	fw->bios.hpa = copy_out(FW_BIOS_BASE, fw->bios.len);
	if (fw->ebda_base)
		fw->ebda.hpa = copy_out(ebda, fw->ebda.len);

	/* ACPI 5.2.5.1: the first KiB of the EBDA, then the BIOS area. */
	if (fw->ebda_base)
		fw->rsdp = scan(ebda, ebda + 1024, "RSD PTR ", 20);
	if (!fw->rsdp)
		fw->rsdp = scan(FW_BIOS_BASE, FW_BIOS_END, "RSD PTR ", 20);
	/* MP 1.4: the first KiB of the EBDA, the last KiB of base memory,
	 * the BIOS area. */
	if (fw->ebda_base)
		fw->mpfp = scan(ebda, ebda + 1024, "_MP_", 16);
	if (!fw->mpfp)
		fw->mpfp = scan(0x9FC00, FW_EBDA_END, "_MP_", 16);
	if (!fw->mpfp)
		fw->mpfp = scan(FW_BIOS_BASE, FW_BIOS_END, "_MP_", 16);
	if (fw->mpfp && !in_fixed_areas(fw, fw->mpfp, fw->mpfp + 16))
		add_range(fw, &r, fw->mpfp, 16);
	if (fw->rsdp)
		acpi_walk(fw, &r);
	if (fw->mpfp)
		mp_walk(fw, &r);
	copy_extra(fw, &r);

	if (cpuid(CPUID_LEAF_FEATURES, 0).edx & UMBRA_BIT(9)) /* APIC */
		fw->lapic = rdmsr(MSR_APIC_BASE) & APIC_BASE_ADDR_MASK;
	if (fw->n_ioapic == 0)
		fw->ioapic[fw->n_ioapic++] = FW_IOAPIC_DEFAULT;
}

void platform_fw_print(const struct platform_fw *fw)
{
	log_info("firmware: EBDA %#llx, RSDP %#llx, MP %#llx, LAPIC %#llx, IOAPIC %#llx%s",
		 (unsigned long long)fw->ebda_base,
		 (unsigned long long)fw->rsdp, (unsigned long long)fw->mpfp,
		 (unsigned long long)fw->lapic,
		 (unsigned long long)fw->ioapic[0],
		 fw->n_ioapic > 1 ? " (and more)" : "");
	for (unsigned i = 0; i < fw->n_extra; i++)
		log_info("firmware: tables [%#llx, %#llx) copied read-only",
			 (unsigned long long)fw->extra[i].gpa,
			 (unsigned long long)(fw->extra[i].gpa + fw->extra[i].len));
	if (fw->missing)
		log_warn("firmware: %s", fw->missing);
}
