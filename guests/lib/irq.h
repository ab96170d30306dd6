/*
 * Hardware interrupts for guests: the 8259 PICs remapped to vectors
 * 0x20..0x2F, IDT gates for them, per-IRQ handlers, and the PIT as a
 * periodic timer (the preemption tick of guests/procs, the clock of
 * guests/devices).
 */
#ifndef GUEST_IRQ_H
#define GUEST_IRQ_H

#include "guest.h"

#define PIC_VECTOR_BASE 0x20
#define IRQ_LINES       16 /* IRQ 0..15: vectors 0x20..0x2F */
#define IRQ_TIMER       0

/* Remap both PICs (IRQ n -> vector 0x20 + n) and mask every IRQ. */
void pic_init(void);
void pic_unmask(unsigned irq);
void pic_mask(unsigned irq);
void pic_eoi(unsigned irq);
/* The PICs' interrupt request registers (OCW3 read IRR), IRQ n = bit n. */
uint16_t pic_irr(void);

/* Install the gate for IRQ irq and a handler called (IF clear) for it; the
 * dispatcher sends the EOI after the handler returns.  fn may be NULL
 * (count and EOI only; useful with uctx_run, which reports the vector). */
typedef void irq_handler_fn(unsigned irq);
void irq_install(unsigned irq, irq_handler_fn *fn);
extern volatile unsigned irq_count[IRQ_LINES];

/* Program PIT channel 0 as a rate generator at hz (19..1193182) and
 * unmask IRQ 0 (pic_init first). */
void pit_start(unsigned hz);
void pit_stop(void);

/* STI; HLT; CLI: wait for one interrupt (returns with IF clear). */
static inline void wait_for_interrupt(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}

#endif
