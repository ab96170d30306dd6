/*
 * Umbra's own descriptor tables: a GDT with a 64-bit code and data segment
 * and a TSS, and an IDT whose 32 exception vectors report and end the run
 * (panic.c).  Double fault, page fault, NMI and machine check run on their
 * own stack (IST 1), so a stack overflow into the guard page is reported
 * instead of triple-faulting.
 */
#ifndef HV_TRAPS_H
#define HV_TRAPS_H

#include <stdint.h>

#define HOST_SEL_CODE 0x08
#define HOST_SEL_DATA 0x10
#define HOST_SEL_TSS  0x18

/* What traps.S pushes, lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

void traps_init(void);
__attribute__((noreturn)) void trap_report(struct trap_frame *f);

#endif
