/*
 * Trap dispatch and the recovery points built on it: try_call() for ring-0
 * code, uctx_run() (and run_user(), a one-shot use of it) for CPL 3.
 * Recovery is a longjmp from the handler back into try_call/uctx_run: the
 * kernel's trap frame is simply abandoned, which is fine because the
 * kernel runs with interrupts disabled throughout; a frame from CPL 3 is
 * first copied into the user context, from which uctx_run resumes it.
 */
#include "guest.h"
#include "internal.h"
#include "irq.h"
#include "user.h"

/* EFLAGS bits user code may not get through uctx_run's IRET. */
#define EFLAGS_IOPL (3ul << 12)
#define EFLAGS_NT   (1ul << 14)
#define EFLAGS_VM   (1ul << 17)
#define EFLAGS_USER_FORBIDDEN (EFLAGS_IOPL | EFLAGS_NT | EFLAGS_VM)
#define CPL_MASK 3u

bool (*trap_hook)(struct trap_frame *tf);

/* A recovery point: try_call's (user NULL) or uctx_run's. */
struct recovery {
	struct jmp_ctx jmp;
	struct uctx *user;
};

static struct recovery *recover; /* the innermost, or NULL */
static struct trap_info last_trap;

static const char *const vec_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "v15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "v22", "v23",
	"v24", "v25", "v26", "v27", "#HV", "#VC", "#SX", "v31",
};

static bool from_user(const struct trap_frame *tf)
{
	return (tf->cs & CPL_MASK) == CPL_MASK;
}

static bool is_irq(const struct trap_frame *tf)
{
	return tf->vector >= PIC_VECTOR_BASE &&
	       tf->vector < PIC_VECTOR_BASE + IRQ_LINES;
}

static void record(const struct trap_frame *tf)
{
	last_trap.vector = (uint32_t)tf->vector;
	last_trap.error = (uint32_t)tf->error;
	last_trap.cr2 = read_cr2();
	last_trap.rip = tf->rip;
	last_trap.cs = (uint16_t)tf->cs;
}

static __attribute__((noreturn)) void unexpected(const struct trap_frame *tf,
						 const char *why)
{
	panic("%s: %s (vector %#x) error %#x at %#llx:%#llx cr2 %#llx", why,
	      tf->vector < 32 ? vec_names[tf->vector]
	      : tf->vector == TRAP_SYSCALL ? "int $0x80" : "interrupt",
	      (unsigned)tf->vector, (unsigned)tf->error,
	      (unsigned long long)tf->cs, (unsigned long long)tf->rip,
	      (unsigned long long)last_trap.cr2);
}

/* Back to the innermost recovery point; a frame from CPL 3 becomes its
 * context's saved state (a fault while entering CPL 3 leaves it as is). */
static __attribute__((noreturn)) void resume_recovery(const struct trap_frame *tf)
{
	struct recovery *r = recover;

	recover = NULL;
	if (r->user && from_user(tf))
		r->user->tf = *tf;
	lib_longjmp(&r->jmp, 1);
}

void trap_dispatch(struct trap_frame *tf)
{
	record(tf);
	if (is_irq(tf)) {
		irq_dispatch((unsigned)(tf->vector - PIC_VECTOR_BASE));
		if (!from_user(tf))
			return; /* the kernel's own wait_for_interrupt() */
		if (!recover || !recover->user)
			unexpected(tf, "interrupt from CPL 3 outside uctx_run");
		resume_recovery(tf);
	}
	if (trap_hook && trap_hook(tf))
		return;
	if (!recover)
		unexpected(tf, "unexpected trap");
	if (from_user(tf) && !recover->user)
		unexpected(tf, "trap from CPL 3 outside uctx_run");
	resume_recovery(tf);
}

uint32_t try_call(void (*fn)(void *arg), void *arg, struct trap_info *info)
{
	struct recovery r = { .user = NULL };
	struct recovery *volatile outer = recover;

	if (lib_setjmp(&r.jmp) == 0) {
		recover = &r;
		fn(arg);
		recover = outer;
		if (info)
			info->vector = TRAP_NONE;
		return TRAP_NONE;
	}
	recover = outer;
	if (info)
		*info = last_trap;
	return last_trap.vector;
}

uint32_t uctx_run(struct uctx *u, struct trap_info *info)
{
	struct recovery r = { .user = u };
	struct recovery *volatile outer = recover;

	/* Whatever the kernel edited, the IRET goes to CPL 3 and no further. */
	u->tf.cs = SEL_UCODE;
	u->tf.ss = SEL_UDATA;
	u->tf.rflags = (u->tf.rflags & ~EFLAGS_USER_FORBIDDEN) | EFLAGS_RESERVED1;
	if (lib_setjmp(&r.jmp) == 0) {
		recover = &r;
		lib_uctx_enter(&u->tf);
	}
	recover = outer;
	if (info)
		*info = last_trap;
	return last_trap.vector;
}

uint32_t run_user(uintptr_t entry, uintptr_t user_sp, unsigned long flags,
		  uintptr_t a0, uintptr_t a1, struct trap_info *info)
{
	struct uctx u;

	uctx_init(&u, entry, user_sp, flags & EFLAGS_AC, a0, a1);
	return uctx_run(&u, info);
}
