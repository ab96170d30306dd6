/*
 * Shared helpers of the device guests (guests/devices): the 8259 PIC
 * remapped to vectors 0x20..0x2F, IDT gates for them, interrupt waiting.
 */
#ifndef DEV_H
#define DEV_H

#include "guest.h"

#define PIC_VECTOR_BASE 0x20

/* Remap both PICs (IRQ n -> vector 0x20 + n) and mask every IRQ. */
void pic_init(void);
void pic_unmask(unsigned irq);
void pic_mask(unsigned irq);
void pic_eoi(unsigned irq);
/* The PICs' interrupt request registers (OCW3 read IRR), IRQ n = bit n. */
uint16_t pic_irr(void);

/* Install gates for vectors 0x20..0x2F into the library's IDT (found by
 * SIDT) and a handler called (IF clear) for each IRQ; the dispatcher sends
 * the EOI after the handler returns. */
typedef void irq_handler_fn(unsigned irq);
void irq_install(unsigned irq, irq_handler_fn *fn);
extern volatile unsigned irq_count[16];

/* STI; HLT; CLI: wait for one interrupt (returns with IF clear). */
static inline void wait_for_interrupt(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* FNV-1a, 32 bits. */
uint32_t fnv1a(uint32_t h, const void *p, size_t n);
#define FNV1A_INIT 0x811c9dc5u

#endif
