/*
 * procs: the kernel's internal interfaces (the user side is in procs.h).
 *
 *   as.c      address spaces: the shared kernel half, the recursive slot,
 *             process images, fork (eager / copy-on-write), teardown,
 *             refcounted frames and the frame-reuse accounting
 *   fault.c   #PF: demand-zero, copy-on-write, user probes
 *   checks.c  recursive-window walks, CR0.WP and CR4.PGE checks
 *   sched.c   processes, the round-robin scheduler, system calls
 *   main.c    modes, setup, the summary and the checksum
 */
#ifndef PROCS_KERNEL_H
#define PROCS_KERNEL_H

#include "procs.h"
#include "user.h"

#define PTE_COW UMBRA_BIT(9) /* software-available bit: write-protected for COW */
#define PTE_USER_RW (X86_PTE_P | X86_PTE_RW | X86_PTE_US)
#define CR3_NOFLUSH UMBRA_BIT(63) /* with CR4.PCIDE: keep this PCID's TLB */

/* ---- the layout of every address space in the chosen mode --------------- */
enum vma_kind { VMA_INFO, VMA_DATA, VMA_HEAP, VMA_STACK, VMA_ALIAS, N_VMAS };

struct vma {
	uint64_t start;
	uint32_t pages;
	bool anon; /* demand-zero */
};

struct layout {
	enum pt_mode mode;
	unsigned levels;
	uint64_t dir_span;      /* bytes one directory (level 2) entry covers */
	uint64_t user_base;
	unsigned kernel_slots;  /* root entries [0, kernel_slots) are shared */
	uint64_t window;        /* the recursive window */
	uint64_t va_mask;       /* the linear-address bits */
	uint64_t alias_ro;      /* the read-only view of the alias VMA */
	uint64_t large, huge;   /* huge = 0 without 1 GiB pages */
	uint64_t large_pa;
	bool pcid;
	struct vma vma[N_VMAS];
};
extern struct layout lay;

/* ---- counters: all but the last group are printed and checksummed ------- */
struct stats {
	uint64_t forks_eager, forks_cow, execs, exits;
	uint64_t faults_zero, faults_cow, faults_probe;
	uint64_t munmaps, rec_checks, rec_entries, wp_checks, pge_checks;
	uint64_t failures;
	/* interleaving-dependent: verified, never printed */
	uint64_t cow_copies, cow_regains, preemptions;
	uint64_t reuse_table_as_data, reuse_data_as_table, reuse_table_as_table;
};
extern struct stats st;

void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern uint32_t worker_rounds; /* the generations a worker runs (scale + 1) */

/* ---- processes ------------------------------------------------------------ */
enum pstate { P_FREE, P_RUNNABLE, P_WAITING, P_ZOMBIE, P_REAPED };

struct proc {
	enum pstate state;
	uint32_t pid, gen, nkids, waiting_for;
	uint32_t status, mem_hash; /* at exit */
	struct pt pt;
	struct uctx u;
	uint64_t holes[N_VMAS]; /* munmapped pages, bit i = page i */
	bool tlb_stale;         /* PCID: flush its TLB at the next switch */
};

/* ---- as.c ----------------------------------------------------------------- */
void layout_init(enum pt_mode mode, bool huge, bool pcid);
void as_kernel_init(void);
void as_switch(struct proc *p); /* NULL: the kernel's own address space */
void as_flush_loaded(void);     /* reload CR3, flushing its PCID too */
bool as_create(struct pt *pt);
void as_destroy(struct pt *pt);
void as_map_image(struct proc *p);
void as_fork(struct proc *parent, struct proc *child, bool cow);
uint32_t as_hash(struct proc *p);
uint64_t frame_alloc_data(void);
void frame_unref(uint64_t pa);
uint32_t frame_refs(uint64_t pa);
int vma_of(uint64_t va); /* -1: none */
extern struct pt kpt;

/* ---- fault.c -------------------------------------------------------------- */
void flush_page(uint64_t va);
bool fault_fix(struct proc *p, uint64_t va, uint32_t err);
bool probe_fixup(struct proc *p, uint32_t err);

/* ---- checks.c --------------------------------------------------------------- */
void checks_init(void);
uintptr_t rec_entry_va(uint64_t va, unsigned level);
void rec_check_space(struct proc *p);
void write_protected(void *dst, const void *src, size_t n); /* CR0.WP off */
void wp_check(uintptr_t ro_va);
void pge_check(void);

/* ---- sched.c ---------------------------------------------------------------- */
void sched_start(void);
void sched_run(void);
extern struct proc procs[MAX_PROCS];

#endif
