/*
 * User contexts, in an address space built with the library (identity
 * map with U/S = 1): a context making system calls whose results the
 * kernel sets; a #PF at CPL 3 that uctx_run returns and that resumes,
 * re-executing the access, once the kernel has mapped the page; and timer
 * preemption: a context with IF set spins until the kernel has seen at
 * least PREEMPTIONS timer interrupts from it, and its registers survive
 * them.
 * The kernel's own interrupt path (wait_for_interrupt at CPL 0) still
 * resumes where it was.  Tick counts are never printed: they vary.
 */
#include "libcheck.h"
#include "irq.h"
#include "mm.h"
#include "user.h"

#define SYS_ADD  1 /* a + b + c */
#define SYS_EXIT 2 /* the context is done; a: its result */
#define CALLS    5
#define CALL_BASE 1000
#define CALL_EXTRA 3
#define FAULT_VA 0xD0000000ul /* beyond the identity map */
#define FAULT_VALUE 0x600dul
#define PREEMPTIONS 3
#define TICK_HZ  1000
#define MAX_RUNS 100000 /* more uctx_run calls than any check needs */
#define USER_LEAF (X86_PTE_P | X86_PTE_RW | X86_PTE_US)
#define PATTERN  ((unsigned long)0x0101010101010101ull) /* times 1, 2, ... */
#define TIMER_VECTOR (PIC_VECTOR_BASE + IRQ_TIMER)
#define STR_(x) #x
#define STR(x)  STR_(x)

/* 32-bit: the first two arguments in EAX and EDX, where uctx_init puts a0
 * and a1 (64-bit: RDI and RSI are the ABI's anyway). */
#ifdef __x86_64__
#define USER_ENTRY USER_TEXT __attribute__((used, noreturn))
#else
#define USER_ENTRY USER_TEXT __attribute__((used, noreturn, regparm(2)))
#endif

static uint8_t user_stack[4096] USER_DATA;
static volatile uint32_t preempt_seen USER_DATA;

/* The top of the user stack as a called function expects it. */
static uintptr_t user_sp(void)
{
	return (uintptr_t)user_stack + sizeof(user_stack) - sizeof(uintptr_t);
}

USER_ENTRY static void user_calls(unsigned long n, unsigned long base)
{
	unsigned long sum = 0;

	for (unsigned long i = 0; i < n; i++)
		sum += user_syscall(SYS_ADD, base, i, CALL_EXTRA);
	user_syscall(SYS_EXIT, sum, 0, 0);
	__builtin_trap();
}

USER_ENTRY static void user_touch(unsigned long va, unsigned long v)
{
	volatile unsigned long *p = (volatile unsigned long *)va;

	*p = v;
	user_syscall(SYS_EXIT, *p + 1, 0, 0);
	__builtin_trap();
}

/* Fill every register but the accumulator with PATTERN * k, spin until the
 * kernel has counted PREEMPTIONS interrupts, then exit with them intact. */
USER_TEXT __attribute__((used, naked)) static void user_spin(void)
{
	__asm__ volatile(
#ifdef __x86_64__
		"movabs $0x0101010101010101, %rbx\n\t"
		"lea (%rbx,%rbx), %rcx\n\t"
		"lea (%rcx,%rbx), %rdx\n\t"
		"lea (%rdx,%rbx), %rsi\n\t"
		"lea (%rsi,%rbx), %rdi\n\t"
		"lea (%rdi,%rbx), %rbp\n\t"
		"lea (%rbp,%rbx), %r8\n\t"
		"lea (%r8,%rbx), %r9\n\t"
		"lea (%r9,%rbx), %r10\n\t"
		"lea (%r10,%rbx), %r11\n\t"
		"lea (%r11,%rbx), %r12\n\t"
		"lea (%r12,%rbx), %r13\n\t"
		"lea (%r13,%rbx), %r14\n\t"
		"lea (%r14,%rbx), %r15\n\t"
		"1: cmpl $" STR(PREEMPTIONS) ", preempt_seen(%rip)\n\t"
#else
		"mov $0x01010101, %ebx\n\t"
		"lea (%ebx,%ebx), %ecx\n\t"
		"lea (%ecx,%ebx), %edx\n\t"
		"lea (%edx,%ebx), %esi\n\t"
		"lea (%esi,%ebx), %edi\n\t"
		"lea (%edi,%ebx), %ebp\n\t"
		"1: cmpl $" STR(PREEMPTIONS) ", preempt_seen\n\t"
#endif
		"jb 1b\n\t"
		"mov $" STR(SYS_EXIT) ", %eax\n\t"
		"int $0x80\n\t"
		"ud2");
}

/* Run u, answering SYS_ADD, until SYS_EXIT or another vector; returns
 * that vector. */
static uint32_t serve(struct uctx *u, struct trap_info *ti, unsigned *calls)
{
	for (unsigned runs = 0; runs < MAX_RUNS; runs++) {
		uint32_t v = uctx_run(u, ti);

		if (v != TRAP_SYSCALL || uctx_sysno(u) != SYS_ADD)
			return v;
		uctx_set_ret(u, uctx_arg(u, 0) + uctx_arg(u, 1) + uctx_arg(u, 2));
		(*calls)++;
	}
	return TRAP_NONE;
}

static void check_syscalls(void)
{
	int before = failures;
	struct uctx u;
	struct trap_info ti;
	unsigned calls = 0;
	unsigned long want = CALLS * (CALL_BASE + CALL_EXTRA) + CALLS * (CALLS - 1) / 2;
	uint32_t v;

	uctx_init(&u, (uintptr_t)user_calls, user_sp(), 0, CALLS, CALL_BASE);
	v = serve(&u, &ti, &calls);
	CHECK(v == TRAP_SYSCALL && uctx_sysno(&u) == SYS_EXIT,
	      "ended with vector %#x sysno %lu", v, uctx_sysno(&u));
	CHECK(calls == CALLS, "%u calls", calls);
	CHECK(uctx_arg(&u, 0) == want, "sum %lu, want %lu", uctx_arg(&u, 0), want);
	CHECK((ti.cs & 3) == 3, "system call from cs %#x", ti.cs);
	kprintf("libcheck: uctx: %u system calls, results set by the kernel: %s\n",
		CALLS, verdict(before));
}

#ifdef __x86_64__
#define NONCANONICAL 0x8000000000000000ull

/* A non-canonical entry: Intel's IRETQ faults at CPL 0 (the context is
 * left as it was), QEMU's TCG faults the fetch at CPL 3 (the context's
 * RIP is the bad one): either way uctx_run returns #GP and the context
 * still says where it was going. */
static void check_bad_entry(void)
{
	int before = failures;
	struct uctx u;
	struct trap_info ti;
	uint32_t v;

	uctx_init(&u, NONCANONICAL, user_sp(), 0, 0, 0);
	v = uctx_run(&u, &ti);
	CHECK(v == X86_VEC_GP, "vector %#x", v);
	CHECK(u.tf.rip == NONCANONICAL, "rip now %#llx",
	      (unsigned long long)u.tf.rip);
	kprintf("libcheck: uctx: non-canonical entry: #GP: %s\n",
		verdict(before));
}
#endif

static void check_fault(struct pt *pt)
{
	int before = failures;
	struct uctx u;
	struct trap_info ti;
	unsigned calls = 0;
	uint64_t frame;
	uintptr_t fault_rip;
	uint32_t v;

	uctx_init(&u, (uintptr_t)user_touch, user_sp(), 0, FAULT_VA, FAULT_VALUE);
	v = uctx_run(&u, &ti);
	CHECK(v == X86_VEC_PF, "vector %#x", v);
	CHECK(ti.cr2 == FAULT_VA, "cr2 %#llx", (unsigned long long)ti.cr2);
	CHECK(ti.error == (X86_PFEC_W | X86_PFEC_U), "error %#x", ti.error);
	CHECK(ti.rip == u.tf.rip, "info rip %#llx, context rip %#llx",
	      (unsigned long long)ti.rip, (unsigned long long)u.tf.rip);
	fault_rip = u.tf.rip;
	frame = page_alloc();
	CHECK(pt_map(pt, FAULT_VA, frame, SIZE_4K, USER_LEAF), "map the page");
	v = serve(&u, &ti, &calls);
	CHECK(v == TRAP_SYSCALL && uctx_sysno(&u) == SYS_EXIT &&
	      uctx_arg(&u, 0) == FAULT_VALUE + 1,
	      "after the fault: vector %#x sysno %lu a0 %#lx", v,
	      uctx_sysno(&u), uctx_arg(&u, 0));
	CHECK(*(volatile unsigned long *)page_ptr(frame) == FAULT_VALUE,
	      "the page holds %#lx", *(volatile unsigned long *)page_ptr(frame));
	CHECK(ti.rip != fault_rip, "still at the faulting instruction");
	pt_unmap(pt, FAULT_VA);
	invlpg(FAULT_VA);
	page_free(frame);
	kprintf("libcheck: uctx: #PF at CPL 3 returned, page mapped, resumed: %s\n",
		verdict(before));
}

static unsigned handled;

static void on_tick(unsigned irq)
{
	(void)irq;
	handled++;
}

static void check_registers(const struct uctx *u)
{
	const struct trap_frame *t = &u->tf;
#ifdef __x86_64__
	const uint64_t regs[] = { t->rbx, t->rcx, t->rdx, t->rsi, t->rdi, t->rbp,
				  t->r8, t->r9, t->r10, t->r11, t->r12, t->r13,
				  t->r14, t->r15 };
#else
	const uint32_t regs[] = { t->ebx, t->ecx, t->edx, t->esi, t->edi, t->ebp };
#endif
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		CHECK(regs[i] == PATTERN * (i + 1), "register %u: %#llx", i,
		      (unsigned long long)regs[i]);
}

static void check_preemption(void)
{
	int before = failures;
	struct uctx u;
	struct trap_info ti;
	uint32_t v = TRAP_NONE;
	unsigned runs, count0, ticks;

	pic_init();
	irq_install(IRQ_TIMER, on_tick);
	count0 = irq_count[IRQ_TIMER];
	handled = 0;
	preempt_seen = 0;
	pit_start(TICK_HZ);
	uctx_init(&u, (uintptr_t)user_spin, user_sp(), EFLAGS_IF, 0, 0);
	for (runs = 0; runs < MAX_RUNS; runs++) {
		v = uctx_run(&u, &ti);
		if (v != TIMER_VECTOR)
			break;
		CHECK((ti.cs & 3) == 3 && (u.tf.rflags & EFLAGS_IF),
		      "interrupt from cs %#x flags %#lx", ti.cs,
		      (unsigned long)u.tf.rflags);
		preempt_seen++;
	}
	ticks = irq_count[IRQ_TIMER] - count0;
	CHECK(v == TRAP_SYSCALL && uctx_sysno(&u) == SYS_EXIT,
	      "ended with vector %#x", v);
	/* More when a tick lands between the kernel's count and the user's
	 * next look at it. */
	CHECK(preempt_seen >= PREEMPTIONS, "%u preemptions", preempt_seen);
	CHECK(handled == ticks, "handler ran %u times for %u interrupts", handled,
	      ticks);
	check_registers(&u);

	/* At CPL 0 an interrupt runs its handler and resumes the kernel. */
	wait_for_interrupt();
	CHECK(irq_count[IRQ_TIMER] - count0 > ticks, "no interrupt at CPL 0");
	CHECK(handled == irq_count[IRQ_TIMER] - count0, "handler at CPL 0");
	pit_stop();
	kprintf("libcheck: uctx: preempted %u+ times by IRQ 0, resumed with its "
		"registers; kernel wait_for_interrupt: %s\n", PREEMPTIONS,
		verdict(before));
}

void check_uctx(void)
{
#ifdef __x86_64__
	const enum pt_mode mode = PT_MODE_LONG4;
#else
	const enum pt_mode mode = PT_MODE_32;
#endif
	uint64_t ram = (page_ram_end() + SIZE_4M - 1) & ~(SIZE_4M - 1);
	uint64_t used = page_used_count(), boot_cr3 = read_cr3();
	struct pt pt;

	if (!pt_init(&pt, mode) || !pt_map_range(&pt, 0, 0, ram, USER_LEAF) ||
	    !pt_activate(&pt, 0)) {
		CHECK(false, "cannot build the user address space");
		return;
	}
	check_syscalls();
#ifdef __x86_64__
	check_bad_entry();
#endif
	check_fault(&pt);
	check_preemption();
	back_to_boot(boot_cr3);
	pt_free(&pt, 1, 0);
	CHECK(page_used_count() == used, "%llu pages left",
	      (unsigned long long)(page_used_count() - used));
}
