/*
 * procs: a small multi-process kernel, the project's showcase guest.
 *
 *   procs32.elf [mode=32|pae] [scale=N]     (default mode=32)
 *   procs64.elf [mode=long4|long5] [scale=N] (default mode=long4)
 *
 * init forks children (eager copy and copy-on-write alternately), they
 * fork grandchildren, everyone checks what it inherited, and each child
 * and grandchild finally execs a worker that runs scale + 1 generations
 * of fresh images.  Along the way: timer preemption (PIT) of processes at
 * CPL 3, demand-zero and COW faults, munmap with INVLPG, exit with the
 * tables freed and their frames reused, a recursive directory entry,
 * 4 MiB / 2 MiB / 1 GiB pages, CR0.WP, global pages with CR4.PGE toggles,
 * PCID (64-bit, when offered), and two directory entries with different
 * rights sharing one page table.  See procs.h and kernel.h.
 *
 * The output is the same natively and under Umbra: nothing printed
 * depends on timing (preemption points) or on CPUID features that Umbra
 * may hide (1 GiB pages, PCID: used when offered, never reported).
 */
#include "irq.h"
#include "kernel.h"

#define PIT_HZ    1000
#define MAX_SCALE 100

struct stats st;
uint32_t worker_rounds;

void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kprintf("procs: FAIL: ");
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	st.failures++;
}

struct mode_desc {
	const char *name;
	enum pt_mode mode;
	const char *what;
};

static const struct mode_desc modes[] = {
#ifdef __x86_64__
	{ "long4", PT_MODE_LONG4, "4-level paging, 2 MiB pages" },
	{ "long5", PT_MODE_LONG5, "5-level paging, 2 MiB pages" },
#else
	{ "32", PT_MODE_32, "32-bit paging, 4 MiB pages" },
	{ "pae", PT_MODE_PAE, "PAE paging, 2 MiB pages" },
#endif
};

static const struct mode_desc *pick_mode(void)
{
	char name[16];

	if (!cmdline_get("mode", name, sizeof(name)))
		return &modes[0];
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strncmp(name, modes[i].name, sizeof(name)))
			return &modes[i];
	return NULL;
}

static uint32_t fold64(uint32_t h, uint64_t v)
{
	return fnv_word(fnv_word(h, (uint32_t)v), (uint32_t)(v >> 32));
}

/* Every process's exit status and memory in pid order, the shared large
 * page's slices, and the deterministic counters. */
static uint32_t final_checksum(void)
{
	const uint32_t *pool = page_ptr(lay.large_pa);
	const uint64_t counted[] = {
		st.forks_eager, st.forks_cow, st.execs, st.exits, st.faults_zero,
		st.faults_cow, st.faults_probe, st.munmaps, st.rec_checks,
		st.rec_entries, st.wp_checks, st.pge_checks,
	};
	uint32_t h = FNV1A_INIT;

	for (uint32_t pid = 0; pid < MAX_PROCS; pid++) {
		const struct proc *p = &procs[pid];

		if (p->state == P_ZOMBIE || p->state == P_REAPED)
			h = fnv_word(fnv_word(fnv_word(h, pid), p->status), p->mem_hash);
	}
	for (uint32_t i = 0; i < MAX_PROCS * SLICE_SIZE / sizeof(uint32_t); i++)
		h = fnv_word(h, pool[i]);
	for (unsigned i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
		h = fold64(h, counted[i]);
	return h;
}

/* What must have happened, though how often depends on the interleaving. */
static void verify_run(uint64_t free_before)
{
	if (st.exits != N_PROCS)
		fail("%llu processes exited, want %u", (unsigned long long)st.exits, N_PROCS);
	if (page_free_count() != free_before)
		fail("%lld frames leaked",
		     (long long)(free_before - page_free_count()));
	if (!st.preemptions)
		fail("the timer never preempted a process");
	if (!st.cow_copies || !st.cow_regains)
		fail("copy-on-write: %llu copies, %llu last-owner regains",
		     (unsigned long long)st.cow_copies, (unsigned long long)st.cow_regains);
	if (!st.reuse_table_as_data || !st.reuse_data_as_table || !st.reuse_table_as_table)
		fail("freed frames reused: table as data %llu, data as table %llu, "
		     "table as table %llu",
		     (unsigned long long)st.reuse_table_as_data,
		     (unsigned long long)st.reuse_data_as_table,
		     (unsigned long long)st.reuse_table_as_table);
}

static void report(const struct mode_desc *m, uint64_t scale)
{
	kprintf("procs: mode=%s scale=%llu: %s; %u processes (init, %u children, "
		"%u grandchildren), preempted by the timer, round robin\n",
		m->name, (unsigned long long)scale, m->what, N_PROCS, N_CHILDREN,
		N_CHILDREN * N_GRANDCHILDREN);
	kprintf("procs: %llu forks (%llu eager, %llu copy-on-write), %llu execs, "
		"%llu exits\n",
		(unsigned long long)(st.forks_eager + st.forks_cow),
		(unsigned long long)st.forks_eager, (unsigned long long)st.forks_cow,
		(unsigned long long)st.execs, (unsigned long long)st.exits);
	kprintf("procs: page faults: %llu demand-zero, %llu copy-on-write, "
		"%llu expected by probes (unmapped, read-only alias, info page, "
		"recursive window)\n",
		(unsigned long long)st.faults_zero, (unsigned long long)st.faults_cow,
		(unsigned long long)st.faults_probe);
	kprintf("procs: %llu munmaps with INVLPG; %llu recursive-window walks "
		"(%llu entries); %llu CR0.WP and %llu CR4.PGE checks\n",
		(unsigned long long)st.munmaps, (unsigned long long)st.rec_checks,
		(unsigned long long)st.rec_entries, (unsigned long long)st.wp_checks,
		(unsigned long long)st.pge_checks);
	kprintf("procs: every process checked its memory; freed page tables were "
		"reused as data and as tables; checksum 0x%08x\n",
		final_checksum());
	kprintf("procs: result: %llu failures: %s\n", (unsigned long long)st.failures,
		st.failures ? "FAILED" : "ok");
}

int guest_main(void)
{
	const struct mode_desc *m = pick_mode();
	uint64_t scale = cmdline_get_u64("scale", 1), free_before;
	bool is_long, huge, pcid;

	if (!m) {
		kprintf("procs: unknown mode for this flavour\n");
		return 1;
	}
	if (m->mode == PT_MODE_LONG5 && !cpu_has_la57()) {
		kprintf("procs: mode=long5 skipped: the CPU does not offer 5-level paging\n");
		return 0;
	}
	if (scale < 1 || scale > MAX_SCALE) {
		kprintf("procs: scale must be 1..%u\n", MAX_SCALE);
		return 1;
	}
	worker_rounds = (uint32_t)scale + 1;
	page_init();
	if (page_ram_end() > SIZE_1G) {
		kprintf("procs: give it at most 1 GiB of RAM\n");
		return 1;
	}
	is_long = m->mode == PT_MODE_LONG4 || m->mode == PT_MODE_LONG5;
	huge = is_long && cpu_has_1g();
	pcid = is_long && cpu_has_pcid();
	layout_init(m->mode, huge, pcid);
	as_kernel_init();
	if (!pt_activate(&kpt, X86_CR4_PGE | (pcid ? X86_CR4_PCIDE : 0)))
		panic("procs: cannot enter mode %s", m->name);
	checks_init();
	free_before = page_free_count();

	pic_init();
	irq_install(IRQ_TIMER, NULL);
	pit_start(PIT_HZ);
	sched_start();
	sched_run();
	pit_stop();

	verify_run(free_before);
	report(m, scale);
	return st.failures ? 1 : 0;
}
