/* User contexts (user.h): their initial state and the system-call
 * registers.  uctx_run() is in trap.c, with the recovery it relies on. */
#include "guest.h"
#include "user.h"

void uctx_init(struct uctx *u, uintptr_t entry, uintptr_t sp,
	       unsigned long flags, uintptr_t a0, uintptr_t a1)
{
	memset(u, 0, sizeof(*u));
	u->tf.rip = entry;
	u->tf.rsp = sp;
	u->tf.cs = SEL_UCODE;
	u->tf.ss = SEL_UDATA;
	u->tf.rflags = flags | EFLAGS_RESERVED1;
#ifdef __x86_64__
	u->tf.rdi = a0;
	u->tf.rsi = a1;
#else
	u->tf.ds = SEL_UDATA;
	u->tf.es = SEL_UDATA;
	u->tf.eax = a0;
	u->tf.edx = a1;
#endif
}

unsigned long uctx_sysno(const struct uctx *u)
{
#ifdef __x86_64__
	return u->tf.rax;
#else
	return u->tf.eax;
#endif
}

unsigned long uctx_arg(const struct uctx *u, unsigned i)
{
#ifdef __x86_64__
	const uint64_t args[] = { u->tf.rdi, u->tf.rsi, u->tf.rdx };
#else
	const uint32_t args[] = { u->tf.ebx, u->tf.ecx, u->tf.edx };
#endif
	if (i >= sizeof(args) / sizeof(args[0]))
		panic("uctx_arg: no argument %u", i);
	return args[i];
}

void uctx_set_ret(struct uctx *u, unsigned long v)
{
#ifdef __x86_64__
	u->tf.rax = v;
#else
	u->tf.eax = v;
#endif
}
