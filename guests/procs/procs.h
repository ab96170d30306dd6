/*
 * procs: a small multi-process kernel on the guest library.
 *
 * This header is the contract between the kernel (kernel.c, as.c, fault.c,
 * sched.c, checks.c) and the user programs (user.c, probe32.S/probe64.S):
 * the system calls, the user address-space layout as the info page
 * describes it, and the data patterns both sides compute.
 */
#ifndef PROCS_H
#define PROCS_H

#include "guest.h"
#include "mm.h"

/* ---- the process tree -------------------------------------------------- */
/* Pids are positions in the tree, not creation order, so that they (and so
 * every pattern derived from them) do not depend on the interleaving:
 * child k (0-based) of pid p is p * PID_FANOUT + k + 1. */
#define PID_FANOUT     8u
#define MAX_PROCS      64u
#define INIT_PID       0u
#define N_CHILDREN     6u  /* init's children */
#define N_GRANDCHILDREN 2u /* each child's children */
#define N_PROCS        (1 + N_CHILDREN + N_CHILDREN * N_GRANDCHILDREN)

/* ---- system calls (number in the accumulator, see user.h) -------------- */
enum sysno {
	SYS_EXIT = 1, /* (status) */
	SYS_FORK,     /* (FORK_EAGER or FORK_COW) -> child pid, 0 in the child */
	SYS_EXEC,     /* (program, argument): a fresh image */
	SYS_WAIT,     /* (pid) -> that child's exit status */
	SYS_MUNMAP,   /* (va): unmap one anonymous page */
	SYS_CHECK,    /* kernel-side checks of the caller's address space */
	SYS_FAIL,     /* (check, detail): a user check failed */
};

enum fork_kind { FORK_EAGER = 1, FORK_COW = 2 };
enum program { PROG_INIT = 1, PROG_WORKER = 2 };

/* What a user check that failed reports with SYS_FAIL. */
enum ucheck {
	UCHECK_DATA = 1,   /* the image's data pages */
	UCHECK_HEAP_ZERO,  /* a demand-zero page was not zero */
	UCHECK_HEAP,       /* a heap page lost its pattern */
	UCHECK_INHERITED,  /* a forked child saw other data than its parent's */
	UCHECK_ALIAS,      /* the read-only alias shows other data */
	UCHECK_ALIAS_RO,   /* a write through the read-only alias: no #PF 0x7 */
	UCHECK_LARGE,      /* the large page lost this process's slice */
	UCHECK_HUGE,       /* the 1 GiB alias shows other data */
	UCHECK_UNMAPPED,   /* an unmapped page did not fault (#PF 0x4) */
	UCHECK_INFO_RO,    /* a write to the info page did not fault (#PF 0x7) */
	UCHECK_WINDOW,     /* the recursive window was not supervisor-only */
	UCHECK_INFO,       /* the info page is not what exec wrote */
};

/* ---- the user address space ---------------------------------------------- */
#define INFO_MAGIC   0x50524f43u /* "PROC" */
#define DATA_PAGES   8u   /* the image's initialized data, filled by exec */
#define HEAP_PAGES   32u  /* anonymous, demand-zero */
#define STACK_PAGES  4u   /* anonymous, demand-zero, at the top of its span */
#define ALIAS_PAGES  4u   /* anonymous, seen through two directory entries */
#define SLICE_SIZE   PAGE_SIZE /* each pid's part of the shared large page */
#define UNMAP_PAGE   (HEAP_PAGES - 1) /* the heap page every process unmaps */

/* The read-only page the kernel writes at exec (with CR0.WP = 0) and passes
 * to the program in its first argument register. */
struct uinfo {
	uint32_t magic, pid, gen, rounds;
	uintptr_t data, heap, stack_top, alias_rw, alias_ro;
	uintptr_t large;  /* the shared large page (4 MiB or 2 MiB) */
	uintptr_t huge;   /* 1 GiB of physical memory from 0, or 0 when none */
	uintptr_t window; /* the recursive window's first byte */
	uintptr_t large_pa; /* the large page's physical address */
};

/* ---- the patterns ------------------------------------------------------------ */
/* FNV-1a (guest.h) of one word, inlined into user code too. */
static inline __attribute__((always_inline)) uint32_t fnv_word(uint32_t h, uint32_t v)
{
	return fnv1a(h, &v, sizeof(v));
}

/* Word `w` of page `page` in a region seeded `seed`: distinct per word. */
static inline __attribute__((always_inline)) uint32_t pattern(uint32_t seed,
							       uint32_t page,
							       uint32_t w)
{
	uint32_t x = seed * 0x9e3779b1u ^ page * 0x85ebca77u ^ w * 0xc2b2ae3du;

	return x ^ (x >> 15);
}

/* Region seeds: a region's pattern depends on its owner and generation. */
static inline __attribute__((always_inline)) uint32_t data_seed(uint32_t pid,
								 uint32_t gen)
{
	return 0x10000u + pid * 0x100u + gen;
}

static inline __attribute__((always_inline)) uint32_t heap_seed(uint32_t pid,
								 uint32_t gen)
{
	return 0x20000u + pid * 0x100u + gen;
}

static inline __attribute__((always_inline)) uint32_t slice_seed(uint32_t pid,
								  uint32_t gen)
{
	return 0x30000u + pid * 0x100u + gen;
}

#define WORDS_PER_PAGE (PAGE_SIZE / sizeof(uint32_t))

/* ---- user probes (probe32.S / probe64.S, on user pages) ------------------ */
/* Touch one byte; 0 when the access worked, else PROBE_FAULT | the #PF
 * error code (the kernel resumes a faulting probe at its return). */
#define PROBE_FAULT 0x100u
#ifdef __x86_64__
#define USER_ABI
#else
#define USER_ABI __attribute__((regparm(2)))
#endif
USER_ABI unsigned long uprobe_load(uintptr_t va);
USER_ABI unsigned long uprobe_store(uintptr_t va, unsigned long byte);
extern char uprobe_load_insn[], uprobe_load_ret[];
extern char uprobe_store_insn[], uprobe_store_ret[];

/* The programs' entry points (user.c): first argument the info page. */
USER_ABI void user_init(uintptr_t info, uintptr_t arg);
USER_ABI void user_worker(uintptr_t info, uintptr_t arg);

#endif
