/*
 * The 8259 PICs and the IDT entries of the device guests.
 */
#include "dev.h"

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xA0
#define PIC2_DATA 0xA1

extern const uintptr_t dev_irq_stubs[16];
static irq_handler_fn *handlers[16];
volatile unsigned irq_count[16];
static uint16_t mask = 0xFFFF;

static void pic_write_mask(void)
{
	outb(PIC1_DATA, mask & 0xFF);
	outb(PIC2_DATA, mask >> 8);
}

void pic_init(void)
{
	outb(PIC1_CMD, 0x11);   /* ICW1: edge, cascade, ICW4 */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, PIC_VECTOR_BASE);     /* ICW2: vector base */
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, 0x04);  /* ICW3: slave on IRQ 2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);  /* ICW4: 8086 mode, normal EOI */
	outb(PIC2_DATA, 0x01);
	mask = 0xFFFF;
	pic_write_mask();
}

void pic_unmask(unsigned irq)
{
	mask &= (uint16_t)~(1u << irq);
	if (irq >= 8)
		mask &= (uint16_t)~(1u << 2);
	pic_write_mask();
}

void pic_mask(unsigned irq)
{
	mask |= (uint16_t)(1u << irq);
	pic_write_mask();
}

void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, 0x20);
	outb(PIC1_CMD, 0x20);
}

uint16_t pic_irr(void)
{
	uint16_t r;

	outb(PIC1_CMD, 0x0A);
	outb(PIC2_CMD, 0x0A);
	r = (uint16_t)(inb(PIC1_CMD) | (inb(PIC2_CMD) << 8));
	outb(PIC1_CMD, 0x0B);   /* back to reading the ISR */
	outb(PIC2_CMD, 0x0B);
	return r;
}

void dev_irq_dispatch(unsigned long vector);
void dev_irq_dispatch(unsigned long vector)
{
	unsigned irq = (unsigned)(vector - PIC_VECTOR_BASE);

	irq_count[irq]++;
	if (handlers[irq])
		handlers[irq](irq);
	pic_eoi(irq);
}

struct __attribute__((packed)) idtr {
	uint16_t limit;
	uintptr_t base;
};

void irq_install(unsigned irq, irq_handler_fn *fn)
{
	struct idtr r;
	unsigned vec = PIC_VECTOR_BASE + irq;
	uintptr_t h = dev_irq_stubs[irq];
	uint64_t lo = (h & 0xFFFF) | ((uint64_t)SEL_KCODE << 16) |
		      (0x8Eull << 40) | ((uint64_t)(h >> 16 & 0xFFFF) << 48);

	__asm__ volatile("sidt %0" : "=m"(r));
	handlers[irq] = fn;
#ifdef __x86_64__
	((volatile uint64_t *)r.base)[vec * 2] = lo;
	((volatile uint64_t *)r.base)[vec * 2 + 1] = (uint64_t)h >> 32;
#else
	((volatile uint64_t *)r.base)[vec] = lo;
#endif
}

uint32_t fnv1a(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x01000193u;
	}
	return h;
}
