/*
 * Trap dispatch and the recovery points built on it: try_call() for ring-0
 * code, run_user() for a trip to CPL 3.  Recovery is a longjmp from the
 * handler back into try_call/run_user: the trap frame is simply abandoned,
 * which is fine because guests run with interrupts disabled throughout.
 */
#include "guest.h"

bool (*trap_hook)(struct trap_frame *tf);

static struct jmp_ctx *recover_ctx; /* innermost recovery point, or NULL */
static struct trap_info last_trap;

void lib_enter_user(uintptr_t entry, uintptr_t sp, unsigned long flags,
		    uintptr_t a0, uintptr_t a1);
void trap_dispatch(struct trap_frame *tf);

static const char *const vec_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "v15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "v22", "v23",
	"v24", "v25", "v26", "v27", "#HV", "#VC", "#SX", "v31",
};

void trap_dispatch(struct trap_frame *tf)
{
	struct jmp_ctx *ctx;

	last_trap.vector = (uint32_t)tf->vector;
	last_trap.error = (uint32_t)tf->error;
	last_trap.cr2 = read_cr2();
	last_trap.rip = tf->rip;
	last_trap.cs = (uint16_t)tf->cs;
	if (trap_hook && trap_hook(tf))
		return;
	ctx = recover_ctx;
	if (ctx) {
		recover_ctx = NULL;
		lib_longjmp(ctx, 1);
	}
	panic("unexpected trap %s (vector %#x) error %#x at %#llx:%#llx "
	      "cr2 %#llx",
	      tf->vector < 32 ? vec_names[tf->vector] : "int",
	      (unsigned)tf->vector, (unsigned)tf->error,
	      (unsigned long long)tf->cs, (unsigned long long)tf->rip,
	      (unsigned long long)last_trap.cr2);
}

uint32_t try_call(void (*fn)(void *arg), void *arg, struct trap_info *info)
{
	struct jmp_ctx ctx;
	struct jmp_ctx *volatile outer = recover_ctx;

	if (lib_setjmp(&ctx) == 0) {
		recover_ctx = &ctx;
		fn(arg);
		recover_ctx = outer;
		if (info)
			info->vector = TRAP_NONE;
		return TRAP_NONE;
	}
	recover_ctx = outer;
	if (info)
		*info = last_trap;
	return last_trap.vector;
}

struct user_trip {
	uintptr_t entry, sp, a0, a1;
	unsigned long flags;
};

static void enter_user(void *arg)
{
	struct user_trip *t = arg;

	lib_enter_user(t->entry, t->sp, t->flags, t->a0, t->a1);
}

uint32_t run_user(uintptr_t entry, uintptr_t user_sp, unsigned long flags,
		  uintptr_t a0, uintptr_t a1, struct trap_info *info)
{
	struct user_trip t = {
		.entry = entry, .sp = user_sp, .a0 = a0, .a1 = a1,
		.flags = (flags & EFLAGS_AC) | EFLAGS_RESERVED1,
	};
	uint32_t v = try_call(enter_user, &t, info);

	if (v == TRAP_NONE) /* cannot happen: user code never returns */
		panic("run_user: user code returned");
	return v;
}
