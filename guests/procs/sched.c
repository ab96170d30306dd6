/*
 * Processes, the scheduler and the system calls.
 *
 * The kernel is a loop: run the current process with uctx_run() until it
 * enters the kernel; a timer interrupt moves on to the next runnable
 * process in pid order (round robin), a system call or a fault is handled
 * and the same process goes on.  Processes run at CPL 3 with IF = 1; the
 * kernel runs with interrupts off, so it needs no locks.
 */
#include "irq.h"
#include "kernel.h"

#define TIMER_VECTOR (PIC_VECTOR_BASE + IRQ_TIMER)
#define CRASH_STATUS 0xdeadu
#define SYSCALL_ERROR ((unsigned long)-1)

struct proc procs[MAX_PROCS];
static unsigned live;

static uintptr_t program_entry(unsigned long prog)
{
	if (prog == PROG_INIT)
		return (uintptr_t)user_init;
	if (prog == PROG_WORKER)
		return (uintptr_t)user_worker;
	return 0;
}

static uintptr_t stack_top(void)
{
	return (uintptr_t)(lay.vma[VMA_STACK].start + STACK_PAGES * SIZE_4K);
}

/* The info page, through the user's own read-only mapping with CR0.WP
 * off (p's space is loaded); then the same write with WP on must fault,
 * and the global-page check while we are at it. */
static void write_info(struct proc *p)
{
	struct uinfo *u = (struct uinfo *)(uintptr_t)lay.vma[VMA_INFO].start;
	struct uinfo v = {
		.magic = INFO_MAGIC, .pid = p->pid, .gen = p->gen,
		.rounds = worker_rounds,
		.data = (uintptr_t)lay.vma[VMA_DATA].start,
		.heap = (uintptr_t)lay.vma[VMA_HEAP].start,
		.stack_top = stack_top(),
		.alias_rw = (uintptr_t)lay.vma[VMA_ALIAS].start,
		.alias_ro = (uintptr_t)lay.alias_ro,
		.large = (uintptr_t)lay.large,
		.huge = (uintptr_t)lay.huge,
		.window = (uintptr_t)lay.window,
		.large_pa = (uintptr_t)lay.large_pa,
	};
	write_protected(u, &v, sizeof(v));
	wp_check((uintptr_t)u);
	pge_check();
}

/* A fresh image for p: new tables, the old ones torn down. */
static void image_start(struct proc *p, unsigned long prog, uintptr_t arg)
{
	struct pt old = p->pt;
	uintptr_t sp = stack_top() - sizeof(uintptr_t); /* as if called */

	if (!as_create(&p->pt))
		panic("procs: out of memory for pid %u", p->pid);
	as_map_image(p);
	memset(p->holes, 0, sizeof(p->holes));
	p->tlb_stale = true; /* PCID: its tag held the old space */
	as_switch(p);
	write_info(p);
	if (old.root)
		as_destroy(&old);
	uctx_init(&p->u, program_entry(prog), sp, EFLAGS_IF,
		  (uintptr_t)lay.vma[VMA_INFO].start, arg);
}

void sched_start(void)
{
	struct proc *p = &procs[INIT_PID];

	p->pid = INIT_PID;
	p->state = P_RUNNABLE;
	live = 1;
	image_start(p, PROG_INIT, FNV1A_INIT);
}

static struct proc *parent_of(struct proc *p)
{
	return p->pid == INIT_PID ? NULL : &procs[(p->pid - 1) / PID_FANOUT];
}

static void sys_exit(struct proc *p, uint32_t status)
{
	struct proc *parent = parent_of(p);

	p->status = status;
	p->mem_hash = as_hash(p);
	as_switch(NULL);
	as_destroy(&p->pt);
	p->state = P_ZOMBIE;
	st.exits++;
	live--;
	if (parent && parent->state == P_WAITING && parent->waiting_for == p->pid) {
		uctx_set_ret(&parent->u, status);
		parent->state = P_RUNNABLE;
		p->state = P_REAPED;
	}
}

static unsigned long sys_fork(struct proc *p, unsigned long kind)
{
	uint32_t pid = p->pid * PID_FANOUT + p->nkids + 1;
	struct proc *c;

	if ((kind != FORK_EAGER && kind != FORK_COW) || p->nkids >= PID_FANOUT ||
	    pid >= MAX_PROCS || procs[pid].state != P_FREE)
		return SYSCALL_ERROR;
	c = &procs[pid];
	p->nkids++;
	c->pid = pid;
	c->gen = p->gen;
	if (!as_create(&c->pt))
		panic("procs: out of memory for pid %u", pid);
	as_fork(p, c, kind == FORK_COW);
	c->u = p->u;
	uctx_set_ret(&c->u, 0);
	c->tlb_stale = true;
	c->state = P_RUNNABLE;
	live++;
	as_switch(c);
	write_info(c);
	if (kind == FORK_COW)
		st.forks_cow++;
	else
		st.forks_eager++;
	return pid;
}

static void sys_wait(struct proc *p, unsigned long pid)
{
	struct proc *c = pid < MAX_PROCS ? &procs[pid] : NULL;

	if (!c || parent_of(c) != p || c->state == P_FREE || c->state == P_REAPED) {
		uctx_set_ret(&p->u, SYSCALL_ERROR);
	} else if (c->state == P_ZOMBIE) {
		uctx_set_ret(&p->u, c->status);
		c->state = P_REAPED;
	} else {
		p->state = P_WAITING;
		p->waiting_for = (uint32_t)pid;
	}
}

/* The PTE is cleared through the recursive window (p is loaded). */
static unsigned long sys_munmap(struct proc *p, uint64_t va)
{
	int k = vma_of(va);
	void *e = pt_entry(&p->pt, va, 1, false);
	uint64_t pte;
	void *win;

	if (k < 0 || !lay.vma[k].anon || (va & (SIZE_4K - 1)) || !e)
		return SYSCALL_ERROR;
	pte = pte_read(&p->pt, e);
	if (!(pte & X86_PTE_P))
		return SYSCALL_ERROR;
	win = (void *)rec_entry_va(va, 1);
	if (pte_read(&p->pt, win) != pte)
		fail("munmap: the window shows %#llx for pte %#llx",
		     (unsigned long long)pte_read(&p->pt, win), (unsigned long long)pte);
	pte_write(&p->pt, win, 0);
	flush_page(va);
	frame_unref(pte_addr(&p->pt, pte, 1));
	p->holes[k] |= 1ull << ((va - lay.vma[k].start) / SIZE_4K);
	st.munmaps++;
	return 0;
}

static void syscall(struct proc *p)
{
	unsigned long no = uctx_sysno(&p->u);
	unsigned long a0 = uctx_arg(&p->u, 0), a1 = uctx_arg(&p->u, 1);

	if (no == SYS_EXIT) {
		sys_exit(p, (uint32_t)a0);
	} else if (no == SYS_FORK) {
		uctx_set_ret(&p->u, sys_fork(p, a0));
	} else if (no == SYS_EXEC && program_entry(a0)) {
		p->gen++;
		st.execs++;
		image_start(p, a0, a1);
	} else if (no == SYS_WAIT) {
		sys_wait(p, a0);
	} else if (no == SYS_MUNMAP) {
		uctx_set_ret(&p->u, sys_munmap(p, a0));
	} else if (no == SYS_CHECK) {
		rec_check_space(p);
	} else if (no == SYS_FAIL) {
		fail("pid %u gen %u: user check %lu failed (%#lx)", p->pid, p->gen,
		     a0, a1);
	} else {
		fail("pid %u: bad system call %lu", p->pid, no);
		uctx_set_ret(&p->u, SYSCALL_ERROR);
	}
}

static void crash(struct proc *p, uint32_t vector, const struct trap_info *ti)
{
	fail("pid %u gen %u: vector %u error %#x at %#llx, cr2 %#llx", p->pid, p->gen,
	     vector, ti->error, (unsigned long long)ti->rip,
	     (unsigned long long)ti->cr2);
	sys_exit(p, CRASH_STATUS);
}

static unsigned next_runnable(unsigned from)
{
	for (unsigned i = 1; i <= MAX_PROCS; i++) {
		unsigned pid = (from + i) % MAX_PROCS;

		if (procs[pid].state == P_RUNNABLE)
			return pid;
	}
	panic("procs: %u processes left, none runnable", live);
}

void sched_run(void)
{
	unsigned cur = INIT_PID;

	while (live) {
		struct proc *p = &procs[cur];
		struct trap_info ti;
		uint32_t v;

		if (p->state != P_RUNNABLE) {
			cur = next_runnable(cur);
			continue;
		}
		as_switch(p);
		v = uctx_run(&p->u, &ti);
		if (v == TIMER_VECTOR) {
			st.preemptions++;
			cur = next_runnable(cur);
		} else if (v == TRAP_SYSCALL) {
			syscall(p);
		} else if (v == X86_VEC_PF) {
			if (!fault_fix(p, ti.cr2, ti.error) && !probe_fixup(p, ti.error))
				crash(p, v, &ti);
		} else if (v < PIC_VECTOR_BASE || v >= PIC_VECTOR_BASE + IRQ_LINES) {
			crash(p, v, &ti);
		}
	}
	as_switch(NULL);
}
