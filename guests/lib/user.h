/*
 * User contexts: code running at CPL 3 that the kernel resumes as often as
 * it likes (processes), as opposed to run_user()'s one-shot trip.
 *
 * A kernel built on this library is a loop: pick a context, load its
 * address space, uctx_run() it until it traps back (exception, system call
 * or interrupt), handle that, repeat.  Only CPL 3 code runs with IF set (when
 * the context's EFLAGS has it), so the kernel itself is never interrupted
 * and needs no locks; timer preemption is simply uctx_run() returning the
 * timer's vector.
 */
#ifndef GUEST_USER_H
#define GUEST_USER_H

#include "guest.h"

/* The saved user registers: the trap frame of its last entry to the kernel. */
struct uctx {
	struct trap_frame tf;
};

/* A fresh context: entry point, stack, EFLAGS bits to set besides the
 * reserved one (EFLAGS_IF for preemptible code, EFLAGS_AC), and the first
 * two argument registers (64-bit: rdi, rsi; 32-bit: eax, edx). */
#define EFLAGS_IF (1ul << 9)
void uctx_init(struct uctx *u, uintptr_t entry, uintptr_t sp,
	       unsigned long flags, uintptr_t a0, uintptr_t a1);

/*
 * Run u at CPL 3 in the current address space until it enters the kernel.
 * Returns the vector: an exception (info, when not NULL, says which: error
 * code, CR2, RIP), TRAP_SYSCALL for `int $0x80`, or an IRQ vector (the IRQ
 * handler installed with irq_install, if any, has already run and the EOI is
 * sent).  u->tf then holds the user registers at that point (for a fault:
 * RIP of the faulting instruction; for a system call or an interrupt: the
 * next one), so calling uctx_run(u) again resumes it; the kernel may edit
 * u->tf in between (system call results, a new RIP for exec; CS, SS and the
 * IOPL/NT/VM flags are forced to user values on the way in).  A fault on
 * the way in (e.g. Intel's #GP for a non-canonical RIP) returns its vector and
 * leaves u->tf as it was.  trap_hook is consulted for exceptions first.
 */
uint32_t uctx_run(struct uctx *u, struct trap_info *info);

/* System call convention: number in the accumulator, arguments in the
 * next registers (64-bit: rdi, rsi, rdx; 32-bit: ebx, ecx, edx), result
 * back in the accumulator. */
unsigned long uctx_sysno(const struct uctx *u);
unsigned long uctx_arg(const struct uctx *u, unsigned i);
void uctx_set_ret(struct uctx *u, unsigned long v);

/* The user side of a system call (USER_TEXT code may call it; inline). */
static inline __attribute__((always_inline)) unsigned long
user_syscall(unsigned long no, unsigned long a, unsigned long b,
	     unsigned long c)
{
	unsigned long r = no;
#ifdef __x86_64__
	__asm__ volatile("int $0x80" : "+a"(r) : "D"(a), "S"(b), "d"(c)
			 : "memory");
#else
	__asm__ volatile("int $0x80" : "+a"(r) : "b"(a), "c"(b), "d"(c)
			 : "memory");
#endif
	return r;
}

#endif
