/*
 * Declarations shared between the library's own files only: guests use
 * guest.h, mm.h, user.h and irq.h.
 */
#ifndef GUEST_INTERNAL_H
#define GUEST_INTERNAL_H

#include "guest.h"

/* start.c calls these once, before guest_main(). */
void desc_init(void);
void cmdline_set(const char *s);

/* Point IDT vector vec at handler (an interrupt gate: IF clear inside;
 * dpl 3 lets user code reach it with INT n). */
void idt_set_gate(unsigned vec, uintptr_t handler, unsigned dpl);

/* The stubs of traps32.S / traps64.S: exceptions 0..31, the system call
 * gate, the PIC's IRQs 0..15.  All join trap_common, which calls
 * trap_dispatch() with the saved registers. */
extern const uintptr_t trap_stubs[32];
extern const uintptr_t trap_stub_syscall;
extern const uintptr_t irq_stubs[16];
void trap_dispatch(struct trap_frame *tf);

/* Load every register from tf and IRET (trap_common's exit path). */
__attribute__((noreturn)) void lib_uctx_enter(struct trap_frame *tf);

/* irq.c: count IRQ irq, run its handler, send the EOI. */
void irq_dispatch(unsigned irq);

#endif
