/*
 * Hardware interrupts (irq.h): the two 8259 PICs remapped to vectors
 * 0x20..0x2F, per-IRQ handlers, and PIT channel 0 as a periodic timer.
 * The stubs (traps32.S / traps64.S) go through trap_dispatch(), which
 * calls irq_dispatch() and then resumes the interrupted kernel code, or
 * returns from uctx_run() when the interrupt came from CPL 3.
 */
#include "guest.h"
#include "internal.h"
#include "irq.h"

#define PIC1_CMD      0x20
#define PIC1_DATA     0x21
#define PIC2_CMD      0xA0
#define PIC2_DATA     0xA1
#define PIC_ICW1_INIT 0x11 /* edge triggered, cascade, ICW4 follows */
#define PIC_ICW3_MASTER (1u << PIC_CASCADE_IRQ) /* slave on IRQ 2 */
#define PIC_ICW3_SLAVE  PIC_CASCADE_IRQ         /* its cascade identity */
#define PIC_ICW4_8086 0x01
#define PIC_OCW2_EOI  0x20 /* non-specific end of interrupt */
#define PIC_OCW3_IRR  0x0A /* the next read of the command port gives IRR */
#define PIC_OCW3_ISR  0x0B /* ... gives ISR (the power-on default) */
#define PIC_CASCADE_IRQ 2
#define PIC_IRQS_PER_CHIP 8

#define PIT_CH0       0x40
#define PIT_MODE      0x43
#define PIT_HZ        1193182u
#define PIT_MIN_HZ    19u /* the divisor is 16 bits */
/* Channel 0, low then high byte, mode 2 (rate generator) / mode 0 with no
 * count written, which leaves the counter stopped. */
#define PIT_CH0_RATE  0x34
#define PIT_CH0_STOP  0x30

static irq_handler_fn *handlers[IRQ_LINES];
volatile unsigned irq_count[IRQ_LINES];
static uint16_t pic_mask_bits = 0xFFFF; /* bit set: IRQ masked */

static void pic_write_mask(void)
{
	outb(PIC1_DATA, pic_mask_bits & 0xFF);
	outb(PIC2_DATA, pic_mask_bits >> PIC_IRQS_PER_CHIP);
}

void pic_init(void)
{
	outb(PIC1_CMD, PIC_ICW1_INIT);
	outb(PIC2_CMD, PIC_ICW1_INIT);
	outb(PIC1_DATA, PIC_VECTOR_BASE);
	outb(PIC2_DATA, PIC_VECTOR_BASE + PIC_IRQS_PER_CHIP);
	outb(PIC1_DATA, PIC_ICW3_MASTER);
	outb(PIC2_DATA, PIC_ICW3_SLAVE);
	outb(PIC1_DATA, PIC_ICW4_8086);
	outb(PIC2_DATA, PIC_ICW4_8086);
	pic_mask_bits = 0xFFFF;
	pic_write_mask();
}

void pic_unmask(unsigned irq)
{
	pic_mask_bits &= (uint16_t)~(1u << irq);
	if (irq >= PIC_IRQS_PER_CHIP) /* the slave reaches the CPU through IRQ 2 */
		pic_mask_bits &= (uint16_t)~(1u << PIC_CASCADE_IRQ);
	pic_write_mask();
}

void pic_mask(unsigned irq)
{
	pic_mask_bits |= (uint16_t)(1u << irq);
	pic_write_mask();
}

void pic_eoi(unsigned irq)
{
	if (irq >= PIC_IRQS_PER_CHIP)
		outb(PIC2_CMD, PIC_OCW2_EOI);
	outb(PIC1_CMD, PIC_OCW2_EOI);
}

uint16_t pic_irr(void)
{
	uint16_t r;

	outb(PIC1_CMD, PIC_OCW3_IRR);
	outb(PIC2_CMD, PIC_OCW3_IRR);
	r = (uint16_t)(inb(PIC1_CMD) | (inb(PIC2_CMD) << PIC_IRQS_PER_CHIP));
	outb(PIC1_CMD, PIC_OCW3_ISR);
	outb(PIC2_CMD, PIC_OCW3_ISR);
	return r;
}

void irq_install(unsigned irq, irq_handler_fn *fn)
{
	if (irq >= IRQ_LINES)
		panic("irq_install: no IRQ %u", irq);
	handlers[irq] = fn;
	idt_set_gate(PIC_VECTOR_BASE + irq, irq_stubs[irq], 0);
}

void irq_dispatch(unsigned irq)
{
	irq_count[irq]++;
	if (handlers[irq])
		handlers[irq](irq);
	pic_eoi(irq);
}

void pit_start(unsigned hz)
{
	unsigned div;

	if (hz < PIT_MIN_HZ || hz > PIT_HZ)
		panic("pit_start: %u Hz is outside %u..%u", hz, PIT_MIN_HZ, PIT_HZ);
	div = (PIT_HZ + hz / 2) / hz;
	outb(PIT_MODE, PIT_CH0_RATE);
	outb(PIT_CH0, div & 0xFF);
	outb(PIT_CH0, div >> 8);
	pic_unmask(IRQ_TIMER);
}

void pit_stop(void)
{
	pic_mask(IRQ_TIMER);
	outb(PIT_MODE, PIT_CH0_STOP);
}
