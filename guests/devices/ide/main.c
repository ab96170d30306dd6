/*
 * ide: reads the primary master IDE disk through the passed-through ports
 * (0x1F0-0x1F7, 0x3F6) by PIO: IDENTIFY, then READ SECTORS polled (nIEN
 * set, status polled), then READ SECTORS with IRQ 14 (through the slave
 * PIC, remapped to vector 0x2E) and HLT until each sector's interrupt.
 * Prints the model, the size, an FNV-1a checksum of each run and the
 * first bytes of a few sectors.  Options: `lba=` first sector (default 0),
 * `count=` sectors per run (default 16, at most 128).
 *
 * Attach a disk: QEMU `-drive file=IMG,format=raw,if=ide,index=0`.
 */
#include "irq.h"

#define IDE_DATA    0x1F0
#define IDE_ERROR   0x1F1
#define IDE_COUNT   0x1F2
#define IDE_LBA0    0x1F3
#define IDE_LBA1    0x1F4
#define IDE_LBA2    0x1F5
#define IDE_DRIVE   0x1F6
#define IDE_STATUS  0x1F7
#define IDE_CMD     0x1F7
#define IDE_CTRL    0x3F6
#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DF   0x20
#define ST_BSY  0x80
#define CTRL_NIEN 0x02
#define CMD_READ_SECTORS 0x20
#define CMD_IDENTIFY     0xEC
#define IRQ_IDE 14

static int failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			kprintf("ide: FAIL line %d: ", __LINE__);            \
			kprintf(__VA_ARGS__);                                \
			kprintf("\n");                                       \
			failures++;                                          \
		}                                                            \
	} while (0)

static uint8_t buf[128 * 512] __attribute__((aligned(16)));
static volatile unsigned ide_irqs;
static volatile uint8_t irq_status;

static void on_ide(unsigned irq)
{
	(void)irq;
	irq_status = inb(IDE_STATUS); /* reading STATUS acknowledges the IRQ */
	ide_irqs++;
}

static void insw(uint16_t port, void *dst, unsigned words)
{
	__asm__ volatile("rep insw" : "+D"(dst), "+c"(words) : "d"(port) : "memory");
}

static void delay400ns(void)
{
	for (int i = 0; i < 4; i++)
		(void)inb(IDE_CTRL); /* alternate status */
}

/* Wait for BSY clear and DRQ set; returns the status (0xFF: timeout). */
static uint8_t wait_drq(void)
{
	for (unsigned i = 0; i < 10000000u; i++) {
		uint8_t st = inb(IDE_STATUS);
		if (st & ST_BSY)
			continue;
		if (st & (ST_ERR | ST_DF))
			return st;
		if (st & ST_DRQ)
			return st;
	}
	return 0xFF;
}

static void issue(uint8_t cmd, uint32_t lba, unsigned count)
{
	outb(IDE_DRIVE, (uint8_t)(0xE0 | ((lba >> 24) & 0x0F))); /* master, LBA */
	delay400ns();
	outb(IDE_COUNT, (uint8_t)count);
	outb(IDE_LBA0, lba & 0xFF);
	outb(IDE_LBA1, (lba >> 8) & 0xFF);
	outb(IDE_LBA2, (lba >> 16) & 0xFF);
	outb(IDE_CMD, cmd);
	delay400ns();
}

static void print_model(const uint16_t *id)
{
	char model[41];

	for (int i = 0; i < 20; i++) {
		model[2 * i] = (char)(id[27 + i] >> 8);
		model[2 * i + 1] = (char)(id[27 + i] & 0xFF);
	}
	model[40] = 0;
	for (int i = 39; i >= 0 && model[i] == ' '; i--)
		model[i] = 0;
	kprintf("ide: IDENTIFY: model '%s', %u sectors (LBA28)\n", model,
		(unsigned)id[60] | ((unsigned)id[61] << 16));
}

static void dump(const char *how, uint32_t lba, unsigned count)
{
	kprintf("ide: %s: sectors %u..%u fnv1a %08x\n", how, lba,
		lba + count - 1, fnv1a(FNV1A_INIT, buf, count * 512));
	for (unsigned s = 0; s < count; s += (count > 2 ? count - 1 : 1)) {
		kprintf("ide:   sector %u:", lba + s);
		for (unsigned i = 0; i < 24; i++) {
			uint8_t c = buf[s * 512 + i];
			kprintf(" %02x", c);
		}
		kprintf("\n");
	}
}

static void read_polled(uint32_t lba, unsigned count)
{
	uint8_t st;

	outb(IDE_CTRL, CTRL_NIEN);
	memset(buf, 0, sizeof(buf));
	issue(CMD_READ_SECTORS, lba, count);
	for (unsigned s = 0; s < count; s++) {
		st = wait_drq();
		CHECK(st != 0xFF && !(st & (ST_ERR | ST_DF)),
		      "polled read of sector %u: status %#x error %#x", lba + s,
		      st, inb(IDE_ERROR));
		if (st == 0xFF || (st & (ST_ERR | ST_DF)))
			return;
		insw(IDE_DATA, buf + s * 512, 256);
	}
	dump("polled", lba, count);
}

static void read_irq(uint32_t lba, unsigned count)
{
	unsigned halts = 0, seen;

	memset(buf, 0, sizeof(buf));
	ide_irqs = 0;
	__asm__ volatile("cli" ::: "memory");
	outb(IDE_CTRL, 0); /* nIEN clear: INTRQ drives IRQ 14 */
	issue(CMD_READ_SECTORS, lba, count);
	for (unsigned s = 0; s < count; s++) {
		/* One interrupt per sector (DRQ block). */
		while (ide_irqs <= s && halts < 1000000) {
			wait_for_interrupt();
			halts++;
		}
		seen = ide_irqs;
		CHECK(seen > s, "no IRQ 14 for sector %u after %u HLTs", lba + s,
		      halts);
		if (seen <= s)
			return;
		CHECK(!(irq_status & (ST_ERR | ST_DF)) && (irq_status & ST_DRQ),
		      "IRQ read of sector %u: status %#x", lba + s, irq_status);
		insw(IDE_DATA, buf + s * 512, 256);
	}
	CHECK(ide_irqs == count, "%u IRQs for %u sectors", ide_irqs, count);
	dump("IRQ 14", lba, count);
	kprintf("ide: IRQ 14 interrupts: %u for %u sectors\n", ide_irqs, count);
}

int guest_main(void)
{
	uint32_t lba = (uint32_t)cmdline_get_u64("lba", 0);
	unsigned count = (unsigned)cmdline_get_u64("count", 16);
	uint8_t st;

	if (count == 0 || count > 128)
		count = 16;
	kprintf("ide: primary master by PIO, polled and by IRQ 14\n");
	pic_init();
	irq_install(IRQ_IDE, on_ide);
	pic_unmask(IRQ_IDE);

	outb(IDE_CTRL, CTRL_NIEN);
	outb(IDE_DRIVE, 0xE0);
	delay400ns();
	st = inb(IDE_STATUS);
	if (st == 0xFF || st == 0) {
		kprintf("ide: no drive on the primary channel (status %#x)\n", st);
		return 1;
	}
	issue(CMD_IDENTIFY, 0, 0);
	st = wait_drq();
	CHECK(st != 0xFF && !(st & ST_ERR), "IDENTIFY: status %#x", st);
	if (st == 0xFF || (st & ST_ERR))
		return 1;
	insw(IDE_DATA, buf, 256);
	print_model((const uint16_t *)buf);

	read_polled(lba, count);
	read_irq(lba + count, count);
	/* The same sectors both ways: the checksums must agree. */
	{
		uint32_t a, b;
		read_polled(lba, count);
		a = fnv1a(FNV1A_INIT, buf, count * 512);
		read_irq(lba, count);
		b = fnv1a(FNV1A_INIT, buf, count * 512);
		CHECK(a == b, "polled %08x and IRQ %08x reads of the same sectors differ", a, b);
		kprintf("ide: same sectors polled and by IRQ: %s\n", a == b ? "identical" : "DIFFERENT");
	}
	pic_mask(IRQ_IDE);
	outb(IDE_CTRL, CTRL_NIEN);
	kprintf("ide: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
