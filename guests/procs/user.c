/*
 * The user programs of procs (CPL 3, on the user pages of the image).
 *
 * init: checks its fresh image, forks N_CHILDREN children (eager and COW
 * alternately) and waits for them in order; then rewrites its heap (every
 * page it shared copy-on-write has one owner left: it regains write).
 * A child checks what it inherited, rewrites its data and heap with its
 * own patterns, forks N_GRANDCHILDREN grandchildren, waits, rewrites its
 * heap again and execs the worker.  A grandchild checks what it inherited
 * and execs the worker.  The worker checks its fresh image and execs
 * itself until its generation reaches info->rounds, then exits.
 *
 * Exit statuses are FNV-1a hashes of the process's memory folded with its
 * children's statuses: pure functions of the pid and the generation.
 * Everything here runs at CPL 3, so it may call only USER_TEXT code and
 * read only its own pages: no strings, no switch tables, no library.
 */
#include "procs.h"
#include "user.h"

#define PHASE2 0x80u /* the heap seed after the children are gone */
#define PF_U   X86_PFEC_U
#define PF_W   X86_PFEC_W
#define PF_P   X86_PFEC_P

USER_TEXT static unsigned long sys(unsigned long no, unsigned long a,
				   unsigned long b)
{
	return user_syscall(no, a, b, 0);
}

USER_TEXT static void fail(enum ucheck what, unsigned long detail)
{
	sys(SYS_FAIL, what, detail);
}

USER_TEXT static volatile uint32_t *word_at(uintptr_t base, uint32_t page)
{
	return (volatile uint32_t *)(base + (uintptr_t)page * PAGE_SIZE);
}

USER_TEXT static void fill(uintptr_t base, uint32_t pages, uint32_t seed)
{
	for (uint32_t p = 0; p < pages; p++) {
		volatile uint32_t *w = word_at(base, p);

		for (uint32_t i = 0; i < WORDS_PER_PAGE; i++)
			w[i] = pattern(seed, p, i);
	}
}

/* Report (once per region) the first word that lost its pattern. */
USER_TEXT static void verify(uintptr_t base, uint32_t pages, uint32_t seed,
			     enum ucheck what)
{
	for (uint32_t p = 0; p < pages; p++) {
		volatile uint32_t *w = word_at(base, p);

		for (uint32_t i = 0; i < WORDS_PER_PAGE; i++) {
			if (w[i] != pattern(seed, p, i)) {
				fail(what, p * WORDS_PER_PAGE + i);
				return;
			}
		}
	}
}

USER_TEXT static uint32_t hash_region(uint32_t h, uintptr_t base, uint32_t pages)
{
	for (uint32_t p = 0; p < pages; p++) {
		volatile uint32_t *w = word_at(base, p);

		for (uint32_t i = 0; i < WORDS_PER_PAGE; i++)
			h = fnv_word(h, w[i]);
	}
	return h;
}

USER_TEXT static void expect_fault(unsigned long got, unsigned long err,
				   enum ucheck what)
{
	if (got != (PROBE_FAULT | err))
		fail(what, got);
}

/* The heap pages every program uses normally (the last one is unmapped). */
#define HEAP_USED (HEAP_PAGES - 1)

/* Demand-zero: every first touch of a heap page finds zeroes. */
USER_TEXT static void heap_first_touch(const struct uinfo *u, uint32_t seed)
{
	for (uint32_t p = 0; p < HEAP_USED; p++) {
		volatile uint32_t *w = word_at(u->heap, p);

		for (uint32_t i = 0; i < WORDS_PER_PAGE; i++) {
			if (w[i]) {
				fail(UCHECK_HEAP_ZERO, p * WORDS_PER_PAGE + i);
				break;
			}
		}
	}
	fill(u->heap, HEAP_USED, seed);
	verify(u->heap, HEAP_USED, seed, UCHECK_HEAP);
}

/* munmap: afterwards the page faults (not present) for reads and writes,
 * and stays unmapped (no demand-zero refill). */
USER_TEXT static void unmap_check(const struct uinfo *u)
{
	uintptr_t va = u->heap + (uintptr_t)UNMAP_PAGE * PAGE_SIZE;

	*word_at(va, 0) = u->pid;
	if (*word_at(va, 0) != u->pid)
		fail(UCHECK_UNMAPPED, 0);
	sys(SYS_MUNMAP, va, 0);
	expect_fault(uprobe_load(va), PF_U, UCHECK_UNMAPPED);
	expect_fault(uprobe_store(va, 1), PF_W | PF_U, UCHECK_UNMAPPED);
}

/* A forked child inherits the hole. */
USER_TEXT static void hole_check(const struct uinfo *u)
{
	expect_fault(uprobe_load(u->heap + (uintptr_t)UNMAP_PAGE * PAGE_SIZE),
		     PF_U, UCHECK_UNMAPPED);
}

/* Two directory entries share one page table: writable through alias_rw,
 * read-only through alias_ro.  `old` is the seed the pages hold now (0:
 * never touched, so zero). */
USER_TEXT static void alias_check(const struct uinfo *u, uint32_t old,
				  uint32_t seed)
{
	if (old)
		verify(u->alias_ro, ALIAS_PAGES, old, UCHECK_ALIAS);
	else if (*word_at(u->alias_ro, ALIAS_PAGES - 1)) /* demand-zero via ro */
		fail(UCHECK_ALIAS, 0);
	fill(u->alias_rw, ALIAS_PAGES, seed);
	verify(u->alias_ro, ALIAS_PAGES, seed, UCHECK_ALIAS);
	expect_fault(uprobe_store(u->alias_ro, 1), PF_P | PF_W | PF_U,
		     UCHECK_ALIAS_RO);
	verify(u->alias_rw, ALIAS_PAGES, seed, UCHECK_ALIAS);
}

/* This pid's slice of the shared large page; through the 1 GiB mapping of
 * physical memory too when there is one. */
USER_TEXT static void large_check(const struct uinfo *u)
{
	uintptr_t off = (uintptr_t)u->pid * SLICE_SIZE;
	uint32_t seed = slice_seed(u->pid, u->gen);

	fill(u->large + off, 1, seed);
	verify(u->large + off, 1, seed, UCHECK_LARGE);
	if (u->huge)
		verify(u->huge + u->large_pa + off, 1, seed, UCHECK_HUGE);
}

/* The info page is read-only and the recursive window supervisor-only. */
USER_TEXT static void protection_check(const struct uinfo *u)
{
	expect_fault(uprobe_store((uintptr_t)u, 1), PF_P | PF_W | PF_U,
		     UCHECK_INFO_RO);
	expect_fault(uprobe_load(u->window), PF_P | PF_U, UCHECK_WINDOW);
}

USER_TEXT static uint32_t memory_hash(const struct uinfo *u)
{
	uint32_t h = hash_region(FNV1A_INIT, u->data, DATA_PAGES);

	h = hash_region(h, u->heap, HEAP_USED);
	return hash_region(h, u->alias_rw, ALIAS_PAGES);
}

/* Everything a fresh image (init, worker) checks. */
USER_TEXT static void image_checks(const struct uinfo *u)
{
	if (u->magic != INFO_MAGIC)
		fail(UCHECK_INFO, u->magic);
	verify(u->data, DATA_PAGES, data_seed(u->pid, u->gen), UCHECK_DATA);
	heap_first_touch(u, heap_seed(u->pid, u->gen));
	unmap_check(u);
	alias_check(u, 0, heap_seed(u->pid, u->gen));
	large_check(u);
	protection_check(u);
	sys(SYS_CHECK, 0, 0);
}

USER_TEXT __attribute__((noreturn)) static void exit_with(uint32_t status)
{
	sys(SYS_EXIT, status, 0);
	for (;;)
		;
}

USER_TEXT static uint32_t parent_of(uint32_t pid)
{
	return (pid - 1) / PID_FANOUT;
}

/* A forked process: its memory is its parent's at the fork. */
USER_TEXT static void inherited_check(const struct uinfo *u)
{
	uint32_t pp = parent_of(u->pid);

	verify(u->data, DATA_PAGES, data_seed(pp, u->gen), UCHECK_INHERITED);
	verify(u->heap, HEAP_USED, heap_seed(pp, u->gen), UCHECK_INHERITED);
	hole_check(u);
}

USER_TEXT static unsigned long fork_kind(uint32_t i)
{
	return i & 1 ? FORK_COW : FORK_EAGER;
}

USER_TEXT __attribute__((noreturn)) static void grandchild(const struct uinfo *u)
{
	inherited_check(u);
	sys(SYS_EXEC, PROG_WORKER, FNV1A_INIT);
	exit_with(0); /* not reached: exec does not return */
}

USER_TEXT __attribute__((noreturn)) static void child(const struct uinfo *u,
						       uint32_t k)
{
	unsigned long kids[N_GRANDCHILDREN];
	uint32_t acc = FNV1A_INIT;

	inherited_check(u);
	fill(u->data, DATA_PAGES, data_seed(u->pid, u->gen));
	fill(u->heap, HEAP_USED, heap_seed(u->pid, u->gen));
	alias_check(u, heap_seed(parent_of(u->pid), u->gen),
		    heap_seed(u->pid, u->gen));
	large_check(u);
	protection_check(u);
	sys(SYS_CHECK, 0, 0);
	for (uint32_t j = 0; j < N_GRANDCHILDREN; j++) {
		kids[j] = sys(SYS_FORK, fork_kind(k + j), 0);
		if (!kids[j])
			grandchild(u);
	}
	for (uint32_t j = 0; j < N_GRANDCHILDREN; j++)
		acc = fnv_word(acc, (uint32_t)sys(SYS_WAIT, kids[j], 0));
	fill(u->heap, HEAP_USED, heap_seed(u->pid, u->gen) + PHASE2);
	verify(u->heap, HEAP_USED, heap_seed(u->pid, u->gen) + PHASE2, UCHECK_HEAP);
	sys(SYS_EXEC, PROG_WORKER, fnv_word(acc, memory_hash(u)));
	exit_with(0); /* not reached */
}

USER_ABI USER_TEXT void user_init(uintptr_t info, uintptr_t arg)
{
	const struct uinfo *u = (const struct uinfo *)info;
	unsigned long kids[N_CHILDREN];
	uint32_t acc = (uint32_t)arg;

	image_checks(u);
	for (uint32_t k = 0; k < N_CHILDREN; k++) {
		kids[k] = sys(SYS_FORK, fork_kind(k), 0);
		if (!kids[k])
			child(u, k);
	}
	for (uint32_t k = 0; k < N_CHILDREN; k++)
		acc = fnv_word(acc, (uint32_t)sys(SYS_WAIT, kids[k], 0));
	fill(u->heap, HEAP_USED, heap_seed(u->pid, u->gen) + PHASE2);
	verify(u->heap, HEAP_USED, heap_seed(u->pid, u->gen) + PHASE2, UCHECK_HEAP);
	exit_with(fnv_word(acc, memory_hash(u)));
}

USER_ABI USER_TEXT void user_worker(uintptr_t info, uintptr_t arg)
{
	const struct uinfo *u = (const struct uinfo *)info;
	uint32_t acc;

	image_checks(u);
	acc = fnv_word((uint32_t)arg, memory_hash(u));
	if (u->gen < u->rounds)
		sys(SYS_EXEC, PROG_WORKER, acc);
	exit_with(acc);
}
