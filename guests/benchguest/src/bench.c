/*
 * bench64: a tiny 64-bit kernel with its own 4-level page tables, a frame
 * allocator, demand-zero and copy-on-write #PF handling, that runs one
 * paging workload chosen on its command line and reports per-operation
 * figures:
 *
 *   work=fresh    n=PAGES       a user process touches n new pages
 *                               (demand-zero: #PF, zeroed frame, map)
 *   work=touch1g  mb=MIB        the same for mb MiB (default 1024)
 *   work=mprotect n=ITERS       flip R/W on the 512 PTEs of one table,
 *                 flush=invlpg|cr3   then INVLPG each (or one CR3 reload)
 *   work=ctxsw    n=ROUNDS      CR3 to A, touch, CR3 to B, touch
 *   work=forkwait n=FORKS c=CHILDREN pages=64 w=4
 *                               fork (COW copy of the user tables), run
 *                               the child (w page writes + stack), exit
 *                               (tables and frames freed), wait; c
 *                               children created before any is run
 *
 * Under Umbra the measured loop is bracketed by hypercalls: stats reset
 * before, stats print after (so Umbra's exits-json / engine-json lines
 * printed there cover the measured operations only, plus the print
 * hypercall itself).  Natively VMMCALL raises #UD and is skipped.
 *
 * Output: "bench: result work=W ops=N cycles=T cyc/op=X ..." (TSC).
 */
#include "guest.h"
#include "multiboot.h"


#define PG_P    0x001ull
#define PG_RW   0x002ull
#define PG_US   0x004ull
#define PG_PS   0x080ull
#define PG_COW  0x200ull /* software: copy-on-write */
#define PG_ADDR 0x000ffffffffff000ull
#define PAGE    4096ull

#define UBASE   0x8000000000ull /* PML4 slot 1: the user region */
#define UEND    0x10000000000ull

static inline uint64_t rdtsc64(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((uint64_t)hi << 32) | lo;
}

/* ---- hypercalls ---------------------------------------------------------- */
static bool under_umbra;

static void hc(uint32_t fn)
{
	umbra_hypercall(fn, NULL, NULL);
}
static void probe(void *arg)
{
	(void)arg;
	hc(HC_PROBE);
}

/* ---- frames ---------------------------------------------------------------- */
#define MAX_FRAMES (1u << 20) /* 4 GiB */
static uint8_t refcnt[MAX_FRAMES];
static uint64_t bump, mem_end, free_head;
static uint64_t frames_free_listed, frames_in_use;

static uint64_t frame_alloc(void)
{
	uint64_t f;
	if (free_head) {
		f = free_head;
		free_head = *(uint64_t *)f;
		frames_free_listed--;
	} else {
		if (bump + PAGE > mem_end)
			panic("bench: out of memory (%llu frames in use)",
			      (unsigned long long)frames_in_use);
		f = bump;
		bump += PAGE;
	}
	frames_in_use++;
	refcnt[f >> 12] = 1;
	return f;
}
static uint64_t frame_zalloc(void)
{
	uint64_t f = frame_alloc();
	memset((void *)f, 0, PAGE);
	return f;
}
static void frame_put(uint64_t f)
{
	if (--refcnt[f >> 12] == 0) {
		*(uint64_t *)f = free_head;
		free_head = f;
		frames_free_listed++;
		frames_in_use--;
	}
}
static uint64_t frames_avail(void)
{
	return (mem_end - bump) / PAGE + frames_free_listed;
}

/* ---- address spaces ------------------------------------------------------- */
static uint64_t kernel_pdpt, kernel_pml4;
/* The current address space: the kernel knows it, as a real one does, and
 * never reads CR3 back (a CR3 read is an exit under shadow paging). */
static uint64_t cur_as;
static void switch_as(uint64_t as)
{
	cur_as = as;
	write_cr3(as);
}

static uint64_t as_new(void)
{
	uint64_t p = frame_zalloc();
	((uint64_t *)p)[0] = kernel_pdpt | PG_P | PG_RW | PG_US;
	return p;
}

/* The PTE of va in the tables at pml4, allocating tables when asked. */
static uint64_t *pte_of(uint64_t pml4, uint64_t va, bool alloc)
{
	uint64_t t = pml4;
	for (int shift = 39; shift > 12; shift -= 9) {
		uint64_t *e = (uint64_t *)t + ((va >> shift) & 511);
		if (!(*e & PG_P)) {
			if (!alloc)
				return NULL;
			*e = frame_zalloc() | PG_P | PG_RW | PG_US;
		}
		t = *e & PG_ADDR;
	}
	return (uint64_t *)t + ((va >> 12) & 511);
}

static void as_free(uint64_t pml4)
{
	uint64_t *l4 = (uint64_t *)pml4;
	for (int i = 1; i < 512; i++) {
		if (!(l4[i] & PG_P))
			continue;
		uint64_t *l3 = (uint64_t *)(l4[i] & PG_ADDR);
		for (int j = 0; j < 512; j++) {
			if (!(l3[j] & PG_P))
				continue;
			uint64_t *l2 = (uint64_t *)(l3[j] & PG_ADDR);
			for (int k = 0; k < 512; k++) {
				if (!(l2[k] & PG_P))
					continue;
				uint64_t *l1 = (uint64_t *)(l2[k] & PG_ADDR);
				for (int m = 0; m < 512; m++)
					if (l1[m] & PG_P)
						frame_put(l1[m] & PG_ADDR);
				frame_put((uint64_t)l1);
			}
			frame_put((uint64_t)l2);
		}
		frame_put((uint64_t)l3);
	}
	frame_put(pml4);
}

/* fork: the child shares every user frame, both sides read-only + COW. */
static uint64_t as_fork(uint64_t parent)
{
	uint64_t child = as_new();
	uint64_t *l4 = (uint64_t *)parent, *c4 = (uint64_t *)child;
	for (int i = 1; i < 512; i++) {
		if (!(l4[i] & PG_P))
			continue;
		uint64_t *l3 = (uint64_t *)(l4[i] & PG_ADDR);
		uint64_t c3f = frame_zalloc();
		uint64_t *c3 = (uint64_t *)c3f;
		c4[i] = c3f | (l4[i] & ~PG_ADDR);
		for (int j = 0; j < 512; j++) {
			if (!(l3[j] & PG_P))
				continue;
			uint64_t *l2 = (uint64_t *)(l3[j] & PG_ADDR);
			uint64_t c2f = frame_zalloc();
			uint64_t *c2 = (uint64_t *)c2f;
			c3[j] = c2f | (l3[j] & ~PG_ADDR);
			for (int k = 0; k < 512; k++) {
				if (!(l2[k] & PG_P))
					continue;
				uint64_t *l1 = (uint64_t *)(l2[k] & PG_ADDR);
				uint64_t c1f = frame_alloc();
				uint64_t *c1 = (uint64_t *)c1f;
				c2[k] = c1f | (l2[k] & ~PG_ADDR);
				for (int m = 0; m < 512; m++) {
					uint64_t e = l1[m];
					if ((e & PG_P) && (e & (PG_RW | PG_COW))) {
						e = (e & ~PG_RW) | PG_COW;
						l1[m] = e;
					}
					if (e & PG_P)
						refcnt[(e & PG_ADDR) >> 12]++;
					c1[m] = e;
				}
			}
		}
	}
	/* The parent's PTEs lost R/W: flush its TLB (we run on its CR3). */
	write_cr3(cur_as);
	return child;
}

/* ---- #PF: demand-zero and copy-on-write ---------------------------------- */
static uint64_t n_zero, n_cow_copy, n_cow_reuse;

static bool pf_hook(struct trap_frame *tf)
{
	if (tf->vector != 14)
		return false;
	uint64_t va = read_cr2();
	if (va < UBASE || va >= UEND)
		return false;
	uint64_t *pte = pte_of(cur_as, va, true);
	if (!(tf->error & 1)) {
		if (*pte & PG_P)
			return true; /* spurious */
		*pte = frame_zalloc() | PG_P | PG_RW | PG_US;
		n_zero++;
		return true;
	}
	if ((tf->error & 2) && (*pte & PG_COW)) {
		uint64_t old = *pte & PG_ADDR;
		if (refcnt[old >> 12] == 1) {
			*pte = (*pte & ~PG_COW) | PG_RW;
			n_cow_reuse++;
		} else {
			uint64_t f = frame_alloc();
			memcpy((void *)f, (void *)old, PAGE);
			*pte = f | PG_P | PG_RW | PG_US;
			frame_put(old);
			n_cow_copy++;
		}
		invlpg(va & ~(PAGE - 1));
		return true;
	}
	return false;
}

/* ---- user code ------------------------------------------------------------ */
static char ustack[4096] USER_DATA;

/* Write one byte in each of n pages from base, then return to the kernel. */
USER_TEXT __attribute__((noinline)) static void user_touch(uint64_t base, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		*(volatile char *)(base + i * PAGE) = (char)i;
	__asm__ volatile("int $0x80" ::: "memory");
	for (;;)
		;
}

static void user_run(uint64_t base, uint64_t n, uint64_t sp)
{
	struct trap_info info;
	uint32_t v = run_user((uintptr_t)user_touch, sp, 0, base, n, &info);
	if (v != TRAP_SYSCALL)
		panic("bench: user code raised vector %u at %llx (cr2 %llx err %x)", v,
		      (unsigned long long)info.rip, (unsigned long long)info.cr2, info.error);
}
#define USTACK_TOP ((uint64_t)(ustack + sizeof(ustack)))

/* ---- the measurement window ----------------------------------------------- */
static uint64_t t_start;
static uint64_t z0, cc0, cr0_;

static void window_begin(void)
{
	z0 = n_zero;
	cc0 = n_cow_copy;
	cr0_ = n_cow_reuse;
	if (under_umbra)
		hc(HC_STATS_RESET);
	t_start = rdtsc64();
}

static void window_end(const char *work, uint64_t ops)
{
	uint64_t t = rdtsc64() - t_start;
	if (under_umbra)
		hc(HC_STATS_PRINT);
	if (!ops)
		ops = 1;
	kprintf("bench: result work=%s ops=%llu cycles=%llu cyc/op=%llu.%02llu "
		"zero-faults=%llu cow-copies=%llu cow-reuses=%llu umbra=%d\n",
		work, (unsigned long long)ops, (unsigned long long)t,
		(unsigned long long)(t / ops), (unsigned long long)((t % ops) * 100 / ops),
		(unsigned long long)(n_zero - z0), (unsigned long long)(n_cow_copy - cc0),
		(unsigned long long)(n_cow_reuse - cr0_), under_umbra);
}

/* ---- workloads ------------------------------------------------------------ */
static void work_fresh(const char *name, uint64_t n)
{
	if (n + n / 256 + 64 > frames_avail()) {
		uint64_t m = frames_avail() - frames_avail() / 256 - 64;
		kprintf("bench: %llu pages do not fit: using %llu (%llu MiB)\n",
			(unsigned long long)n, (unsigned long long)m,
			(unsigned long long)(m >> 8));
		n = m;
	}
	kprintf("bench: %s: %llu pages (%llu MiB)\n", name, (unsigned long long)n,
		(unsigned long long)(n >> 8));
	uint64_t as = as_new();
	switch_as(as);
	window_begin();
	user_run(UBASE, n, USTACK_TOP);
	window_end(name, n);
	switch_as(kernel_pml4);
	as_free(as);
}

static void work_mprotect(uint64_t n, bool cr3)
{
	uint64_t as = as_new();
	switch_as(as);
	user_run(UBASE, 512, USTACK_TOP); /* populate one full table */
	uint64_t *pt = pte_of(as, UBASE, false);
	kprintf("bench: mprotect: 512 PTEs, flush=%s\n", cr3 ? "cr3" : "invlpg");
	window_begin();
	for (uint64_t it = 0; it < n; it++) {
		for (int i = 0; i < 512; i++)
			pt[i] ^= PG_RW;
		if (cr3)
			write_cr3(as);
		else
			for (int i = 0; i < 512; i++)
				invlpg(UBASE + (uint64_t)i * PAGE);
	}
	window_end("mprotect", n);
	switch_as(kernel_pml4);
	as_free(as);
}

static void work_ctxsw(uint64_t n)
{
	uint64_t a = as_new(), b = as_new();
	switch_as(a);
	user_run(UBASE, 1, USTACK_TOP);
	switch_as(b);
	user_run(UBASE, 1, USTACK_TOP);
	kprintf("bench: ctxsw: one op = CR3 to A, touch, CR3 to B, touch\n");
	window_begin();
	for (uint64_t i = 0; i < n; i++) {
		switch_as(a);
		(*(volatile uint64_t *)UBASE)++;
		switch_as(b);
		(*(volatile uint64_t *)UBASE)++;
	}
	window_end("ctxsw", n);
	switch_as(kernel_pml4);
	as_free(a);
	as_free(b);
}

#define MAX_CHILDREN 256
static void fork_batch(uint64_t parent, uint64_t c, uint64_t pages, uint64_t w)
{
	static uint64_t child[MAX_CHILDREN];
	uint64_t sp = UBASE + pages * PAGE - 64; /* the last page: COW too */
	for (uint64_t i = 0; i < c; i++)
		child[i] = as_fork(parent);
	for (uint64_t i = 0; i < c; i++) {
		switch_as(child[i]);
		user_run(UBASE, w, sp);
	}
	switch_as(parent);
	for (uint64_t i = 0; i < c; i++)
		as_free(child[i]);
	user_run(UBASE, w, sp); /* the parent runs on: its own COW faults */
}

static void work_forkwait(uint64_t n, uint64_t c, uint64_t pages, uint64_t w)
{
	if (c < 1)
		c = 1;
	if (c > MAX_CHILDREN)
		c = MAX_CHILDREN;
	if (pages < 2)
		pages = 2;
	if (pages > 512)
		pages = 512;
	if (w > pages - 1)
		w = pages - 1;
	n = (n + c - 1) / c * c;
	uint64_t parent = as_new();
	switch_as(parent);
	user_run(UBASE, pages, USTACK_TOP);
	kprintf("bench: forkwait: %llu user pages, child writes %llu pages, "
		"%llu children at a time\n", (unsigned long long)pages,
		(unsigned long long)w, (unsigned long long)c);
	fork_batch(parent, c, pages, w); /* warm-up */
	window_begin();
	for (uint64_t done = 0; done < n; done += c)
		fork_batch(parent, c, pages, w);
	window_end(c == 1 ? "forkwait" : "forkwait-c", n);
	switch_as(kernel_pml4);
	as_free(parent);
}

/* ---- setup ------------------------------------------------------------------ */
static void setup_memory(void)
{
	const struct mb_info *mb = (const struct mb_info *)(uintptr_t)mb_info_addr;
	uint64_t top = ((uint64_t)mb->mem_upper << 10) + 0x100000;
	if (top > 0xC0000000ull)
		top = 0xC0000000ull; /* below the PCI hole */
	mem_end = top & ~(PAGE - 1);
	bump = ((uint64_t)(uintptr_t)__image_end + 0x1fffff) & ~0x1fffffull;
	/* the kernel's identity map of 4 GiB with 2 MiB pages */
	kernel_pdpt = frame_zalloc();
	for (int g = 0; g < 4; g++) {
		uint64_t pd = frame_zalloc();
		for (int i = 0; i < 512; i++)
			((uint64_t *)pd)[i] = (((uint64_t)g << 30) + ((uint64_t)i << 21)) |
					      PG_P | PG_RW | PG_US | PG_PS;
		((uint64_t *)kernel_pdpt)[g] = pd | PG_P | PG_RW | PG_US;
	}
	kernel_pml4 = as_new();
	switch_as(kernel_pml4);
	kprintf("bench: memory to %llu MiB, %llu frames free\n",
		(unsigned long long)(mem_end >> 20), (unsigned long long)frames_avail());
}

int guest_main(void)
{
	char work[32];
	if (!cmdline_get("work", work, sizeof(work)))
		memcpy(work, "fresh", 6);
	uint64_t n = cmdline_get_u64("n", 1000);

	under_umbra = try_call(probe, NULL, NULL) == TRAP_NONE;
	setup_memory();
	trap_hook = pf_hook;

	if (!strncmp(work, "fresh", 6)) {
		work_fresh("fresh", n);
	} else if (!strncmp(work, "touch1g", 8)) {
		work_fresh("touch1g", cmdline_get_u64("mb", 1024) << 8);
	} else if (!strncmp(work, "mprotect", 9)) {
		char fl[8] = "invlpg";
		cmdline_get("flush", fl, sizeof(fl));
		work_mprotect(n, !strncmp(fl, "cr3", 4));
	} else if (!strncmp(work, "ctxsw", 6)) {
		work_ctxsw(n);
	} else if (!strncmp(work, "forkwait", 9)) {
		work_forkwait(n, cmdline_get_u64("c", 1), cmdline_get_u64("pages", 64),
			      cmdline_get_u64("w", 4));
	} else {
		kprintf("bench: unknown work=%s\n", work);
		return 1;
	}
	kprintf("bench: done\n");
	return 0;
}
