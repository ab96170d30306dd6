/*
 * platcheck: prints the platform the guest sees, so that tests/hv/platform
 * can compare it natively and under Umbra.
 *
 *   memory   the multiboot mem_lower/mem_upper and memory map (lines
 *            "platcheck: mem ..." and "platcheck: mmap ...");
 *   firmware the BIOS data area (EBDA segment, base memory), IVT vectors,
 *            the MP floating pointer and configuration table, the ACPI RSDP,
 *            RSDT/XSDT and every table they list, the MADT's LAPIC and
 *            IOAPIC addresses, and whether the BIOS area takes writes;
 *   devices  the LAPIC ID and version and the IOAPIC version, read through
 *            MMIO (32-bit flavour only: the 64-bit flavour's page tables
 *            map only the first GiB);
 *   CPUID    the bits Umbra changes (hypervisor, SVM, x2APIC, MONITOR,
 *            PCID, vendor leaf 0x40000000).
 *
 * Lines whose values must be the same natively and under Umbra have no
 * "(differs)" mark; the test knows which lines legitimately differ.
 * Exits with the library's pass (33) when it finds the MP pointer and the
 * RSDP with valid checksums, else fail (35).
 */
#include "guest.h"

struct mb_info_full {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4];
	uint32_t mmap_length, mmap_addr;
};

struct mb_mmap {
	uint32_t size;
	uint64_t base, len;
	uint32_t type;
} __attribute__((packed));

static int failures;
static struct mb_mmap map[64];
static unsigned nmap;

static const uint8_t *pa(uint64_t a)
{
	return (const uint8_t *)(uintptr_t)a;
}

static uint32_t rd32(uint64_t a)
{
	uint32_t v;

	memcpy(&v, pa(a), 4);
	return v;
}

static uint16_t rd16(uint64_t a)
{
	uint16_t v;

	memcpy(&v, pa(a), 2);
	return v;
}

static bool sum_ok(uint64_t a, uint32_t len)
{
	uint8_t s = 0;

	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + pa(a)[i]);
	return s == 0;
}

static uint32_t map_type(uint64_t a)
{
	for (unsigned i = 0; i < nmap; i++)
		if (a >= map[i].base && a - map[i].base < map[i].len)
			return map[i].type;
	return 0;
}

static void memory(const struct mb_info_full *mb)
{
	kprintf("platcheck: mem flags=%#x mem_lower=%u mem_upper=%u\n",
		mb->flags & 0x41, mb->mem_lower, mb->mem_upper);
	if (!(mb->flags & (1u << 6))) {
		kprintf("platcheck: mmap none\n");
		failures++;
		return;
	}
	for (uint32_t off = 0; off < mb->mmap_length && nmap < 64;) {
		const struct mb_mmap *e = (const void *)(uintptr_t)(mb->mmap_addr + off);

		map[nmap++] = *e;
		kprintf("platcheck: mmap [%#llx, %#llx) type %u\n",
			(unsigned long long)e->base,
			(unsigned long long)(e->base + e->len), e->type);
		off += e->size + 4;
	}
}

static uint64_t scan(uint64_t from, uint64_t to, const char *sig, unsigned n)
{
	for (uint64_t p = from; p + n <= to; p += 16)
		if (!memcmp(pa(p), sig, n))
			return p;
	return 0;
}

static void bda(void)
{
	uint16_t ebda_seg = rd16(0x40E);

	kprintf("platcheck: bda ebda-segment=%#x base-memory=%uK com1=%#x\n",
		ebda_seg, rd16(0x413), rd16(0x400));
	kprintf("platcheck: ivt int10=%#x int13=%#x int15=%#x int19=%#x\n",
		rd32(0x10 * 4), rd32(0x13 * 4), rd32(0x15 * 4), rd32(0x19 * 4));
}

static void mp(void)
{
	uint64_t ebda = (uint64_t)rd16(0x40E) << 4, p = 0, cfg;

	if (ebda >= 0x80000 && ebda < 0xA0000)
		p = scan(ebda, ebda + 1024, "_MP_", 4);
	if (!p)
		p = scan(0x9FC00, 0xA0000, "_MP_", 4);
	if (!p)
		p = scan(0xE0000, 0x100000, "_MP_", 4);
	if (!p) {
		kprintf("platcheck: mp not found\n");
		failures++;
		return;
	}
	kprintf("platcheck: mp found at %#llx checksum %s spec 1.%u config %#x\n",
		(unsigned long long)p, sum_ok(p, 16) ? "ok" : "BAD",
		pa(p)[9], rd32(p + 4));
	if (!sum_ok(p, 16))
		failures++;
	cfg = rd32(p + 4);
	if (cfg && !memcmp(pa(cfg), "PCMP", 4)) {
		unsigned entries = rd16(cfg + 34);

		kprintf("platcheck: mp config length %u checksum %s entries %u lapic %#x\n",
			rd16(cfg + 4), sum_ok(cfg, rd16(cfg + 4)) ? "ok" : "BAD",
			entries, rd32(cfg + 36));
		/* IOAPIC entries: type 2, 8 bytes. */
		for (uint64_t e = cfg + 44, i = 0; i < entries; i++) {
			uint8_t t = pa(e)[0];

			if (t == 2)
				kprintf("platcheck: mp ioapic id %u version %#x address %#x\n",
					pa(e)[1], pa(e)[2], rd32(e + 4));
			e += t == 0 ? 20 : 8;
		}
	}
}

static void acpi_table(uint64_t t, const char *from)
{
	uint32_t len = rd32(t + 4);
	char sig[5];

	memcpy(sig, pa(t), 4);
	sig[4] = 0;
	kprintf("platcheck: acpi %s (from %s) length %u checksum %s map-type %u\n",
		sig, from, len, len >= 36 && sum_ok(t, len) ? "ok" : "BAD",
		map_type(t));
	if (len < 36 || !sum_ok(t, len))
		failures++;
	if (!memcmp(sig, "APIC", 4)) {
		kprintf("platcheck: madt lapic %#x\n", rd32(t + 36));
		for (uint64_t p = t + 44; p + 2 <= t + len && pa(p)[1] >= 2; p += pa(p)[1])
			if (pa(p)[0] == 1)
				kprintf("platcheck: madt ioapic id %u address %#x gsi %u\n",
					pa(p)[2], rd32(p + 4), rd32(p + 8));
	}
	if (!memcmp(sig, "FACP", 4) && len >= 44) {
		uint32_t facs = rd32(t + 36), dsdt = rd32(t + 40);

		if (dsdt)
			acpi_table(dsdt, "FACP");
		if (facs)
			kprintf("platcheck: acpi FACS (from FACP) %s length %u map-type %u\n",
				memcmp(pa(facs), "FACS", 4) ? "BAD" : "ok",
				rd32(facs + 4), map_type(facs));
	}
}

static void acpi(void)
{
	uint64_t ebda = (uint64_t)rd16(0x40E) << 4, p = 0, rsdt;
	char oem[7];

	if (ebda >= 0x80000 && ebda < 0xA0000)
		p = scan(ebda, ebda + 1024, "RSD PTR ", 8);
	if (!p)
		p = scan(0xE0000, 0x100000, "RSD PTR ", 8);
	if (!p) {
		kprintf("platcheck: rsdp not found\n");
		failures++;
		return;
	}
	memcpy(oem, pa(p + 9), 6);
	oem[6] = 0;
	kprintf("platcheck: rsdp found at %#llx checksum %s revision %u oem \"%s\"\n",
		(unsigned long long)p, sum_ok(p, 20) ? "ok" : "BAD", pa(p)[15], oem);
	if (!sum_ok(p, 20))
		failures++;
	rsdt = rd32(p + 16);
	kprintf("platcheck: rsdt address %#llx (differs)\n", (unsigned long long)rsdt);
	if (!rsdt || memcmp(pa(rsdt), "RSDT", 4)) {
		kprintf("platcheck: rsdt BAD signature\n");
		failures++;
		return;
	}
	acpi_table(rsdt, "RSDP");
	for (uint64_t e = rsdt + 36; e + 4 <= rsdt + rd32(rsdt + 4); e += 4)
		acpi_table(rd32(e), "RSDT");
}

static void bios_readonly(void)
{
	volatile uint8_t *b = (volatile uint8_t *)(uintptr_t)0xFFF00;
	uint8_t old = *b;

	*b = (uint8_t)~old;
	kprintf("platcheck: bios-area write %s\n", *b == old ? "ignored" : "TAKEN");
	*b = old;
}

static void devices(void)
{
#ifdef __x86_64__
	kprintf("platcheck: lapic skipped (64-bit flavour maps only the first GiB)\n");
#else
	uint64_t base = rdmsr(0x1B);
	volatile uint32_t *lapic = (volatile uint32_t *)(uintptr_t)(base & 0xFFFFF000u);
	volatile uint32_t *ioapic = (volatile uint32_t *)(uintptr_t)0xFEC00000u;
	uint32_t ver;

	kprintf("platcheck: apic-base msr %#llx\n", (unsigned long long)base);
	kprintf("platcheck: lapic id %#x version %#x\n", lapic[0x20 / 4] >> 24,
		lapic[0x30 / 4]);
	ioapic[0] = 1; /* IOREGSEL: version */
	ver = ioapic[4];
	ioapic[0] = 0; /* ID */
	kprintf("platcheck: ioapic id %#x version %#x\n", ioapic[4] >> 24, ver);
	if (ver == 0xffffffffu || (ver & 0xff) == 0xff)
		failures++;
#endif
}

static void cpuid_bits(void)
{
	struct cpuid_regs l1 = cpuid(1, 0), e1 = cpuid(0x80000001, 0);
	struct cpuid_regs hv = cpuid(0x40000000, 0);
	char sig[13];

	memcpy(sig, &hv.ebx, 4);
	memcpy(sig + 4, &hv.ecx, 4);
	memcpy(sig + 8, &hv.edx, 4);
	sig[12] = 0;
	for (int i = 0; i < 12; i++)
		if (sig[i] < 0x20 || sig[i] > 0x7e)
			sig[i] = '.';
	kprintf("platcheck: cpuid hypervisor %u svm %u x2apic %u monitor %u pcid %u (differs)\n",
		l1.ecx >> 31, (e1.ecx >> 2) & 1, (l1.ecx >> 21) & 1,
		(l1.ecx >> 3) & 1, (l1.ecx >> 17) & 1);
	kprintf("platcheck: cpuid vendor-leaf \"%s\" (differs)\n",
		(l1.ecx >> 31) ? sig : "");
	kprintf("platcheck: cpuid apic %u pae %u nx %u lm %u\n",
		(l1.edx >> 9) & 1, (l1.edx >> 6) & 1, (e1.edx >> 20) & 1,
		(e1.edx >> 29) & 1);
}

int guest_main(void)
{
	const struct mb_info_full *mb = (const void *)(uintptr_t)mb_info_addr;

#ifdef __x86_64__
	kprintf("platcheck: 64-bit flavour\n");
#else
	kprintf("platcheck: 32-bit flavour\n");
#endif
	memory(mb);
	bda();
	mp();
	acpi();
	bios_readonly();
	devices();
	cpuid_bits();
	kprintf("platcheck: %s\n", failures ? "FAILED" : "done");
	return failures;
}
