/*
 * walkprobe main loop: boot options, the header describing the CPU, one
 * record per case, the trailer.  Options (-append): mode=32|pae (32-bit
 * image), mode=long4|long5 (64-bit image), seed=N, cases=N.
 */
#include "probe.h"

#define DEFAULT_SEED  0x5eed2024c0ffee01ull
#define DEFAULT_CASES 25000

static uint8_t user_stack[4096] USER_DATA;

static const char *const mode_names[] = { "32", "pae", "long4", "long5" };

struct kernel_access {
	uintptr_t va, op;
	uint8_t value;
};

static void do_kernel_access(void *arg)
{
	struct kernel_access *k = arg;

	k->value = (uint8_t)probe_kernel_access(k->va, k->op);
}

static void do_load_cr3(void *arg)
{
	write_cr3(*(unsigned long *)arg);
}

static uint64_t cr2_sentinel(void)
{
	return sizeof(long) == 8 ? CR2_SENTINEL_64 : CR2_SENTINEL_32;
}

/* Entries, then PKRU, EFER, CR4, CR0 and the CR3 load that flushes the TLB
 * (and in PAE mode loads the PDPTEs: a #GP there is recorded). */
static void enter_case(struct probe_case *c)
{
	unsigned long cr3 = (unsigned long)c->cr3;

	if (env.cpu.pku) { /* WRPKRU needs CR4.PKE */
		write_cr4(read_cr4() | X86_CR4_PKE);
		wrpkru(c->pkru);
	}
	if (env.cpu.nx)
		wrmsr(X86_MSR_EFER, c->efer);
	write_cr4((unsigned long)c->cr4);
	write_cr0((unsigned long)c->cr0);
	/* The case's entries go in only now: a CR4 or CR0 write that changes
	 * PGE, PSE, SMEP or PG reloads the PAE PDPTEs (SDM 4.4.1) and would
	 * #GP on a bad one; the CR3 load below is where the case wants that
	 * load to happen (and its #GP recorded). */
	for (unsigned i = 0; i < c->n; i++)
		entry_write(c->e[i].gpa, c->e[i].before);
	c->cr3_vec = try_call(do_load_cr3, &cr3, NULL);
	write_cr2((unsigned long)cr2_sentinel());
}

/* The access itself; returns the byte a successful read read. */
static uint8_t do_access(struct probe_case *c)
{
	struct trap_info ti;
	struct kernel_access k = {
		.va = (uintptr_t)c->va,
		.op = c->kind | (c->stack ? OP_STACK : 0) | (c->ac ? OP_AC : 0),
	};
	uint8_t value;

	if (c->cpl == 0) {
		c->vec = try_call(do_kernel_access, &k, &ti);
		value = k.value;
	} else {
		uint32_t v = run_user((uintptr_t)probe_user_entry,
				      (uintptr_t)user_stack + sizeof(user_stack),
				      c->ac ? EFLAGS_AC : 0, k.va, k.op, &ti);

		c->vec = v == TRAP_SYSCALL ? TRAP_NONE : v;
		/* A user page: under SMAP the kernel reads it with AC set. */
		write_flags(read_flags() | EFLAGS_AC);
		value = probe_user_read_value;
		write_flags(read_flags() & ~EFLAGS_AC);
	}
	c->err = c->vec == TRAP_NONE ? 0 : ti.error;
	c->cr2 = read_cr2();
	return value;
}

static void run_case(struct probe_case *c)
{
	/* The planned target byte gets a marker, so that a read or write
	 * shows where QEMU really went (only inside RAM: not for a PSE-36
	 * page above 4 GiB). */
	bool check_pa = c->kind != UMBRA_ACCESS_FETCH &&
			c->pa >= DATA_BASE && c->pa < DATA_BASE + DATA_SIZE;
	volatile uint8_t *target = (volatile uint8_t *)(uintptr_t)c->pa;
	uint8_t value;

	if (check_pa)
		*target = PA_MARK;
	enter_case(c);
	value = do_access(c);

	c->pa_check = PA_UNCHECKED;
	if (check_pa && c->vec == TRAP_NONE) {
		bool hit = c->kind == UMBRA_ACCESS_READ ? value == PA_MARK
							: *target == 0xC3;
		c->pa_check = hit ? PA_MATCH : PA_MISMATCH;
	}
	if (check_pa)
		*target = 0xC3;
	for (unsigned i = 0; i < c->n; i++)
		c->e[i].after = entry_read(c->e[i].gpa);
	for (unsigned i = 0; i < c->n; i++)
		if (!(c->e[i].flags & PE_HARNESS))
			entry_write(c->e[i].gpa, 0);
}

static void print_record(unsigned idx, const struct probe_case *c)
{
	kprintf("C %x %llx %llx %llx %llx %x %llx %x %x %x %x %x %x %x %x %x "
		"%llx %llx %x %x",
		idx, (unsigned long long)c->cr0, (unsigned long long)c->cr3,
		(unsigned long long)c->cr4, (unsigned long long)c->efer,
		c->pkru, (unsigned long long)c->va, c->kind, c->cpl, c->ac,
		c->stack, c->rsv_level, c->rsv_bit, c->cr3_vec, c->vec, c->err,
		(unsigned long long)c->cr2, (unsigned long long)c->pa,
		c->pa_check, c->n);
	for (unsigned i = 0; i < c->n; i++)
		kprintf(" %x %x %llx %llx %llx", c->e[i].level, c->e[i].flags,
			(unsigned long long)c->e[i].gpa,
			(unsigned long long)c->e[i].before,
			(unsigned long long)c->e[i].after);
	kprintf("\n");
}

static enum probe_mode parse_mode(void)
{
	char buf[16];

	if (!cmdline_get("mode", buf, sizeof(buf)))
		return sizeof(long) == 8 ? PM_LONG4 : PM_32;
	for (unsigned m = 0; m < 4; m++) {
		if (strlen(buf) == strlen(mode_names[m]) &&
		    !strncmp(buf, mode_names[m], sizeof(buf))) {
			bool is64 = m >= PM_LONG4;

			if (is64 != (sizeof(long) == 8))
				panic("walkprobe: mode=%s needs the %s image",
				      buf, is64 ? "64-bit" : "32-bit");
			return (enum probe_mode)m;
		}
	}
	panic("walkprobe: unknown mode=%s (32, pae, long4, long5)", buf);
}

int guest_main(void)
{
	static struct probe_case c;
	const struct probe_cpu *cpu = &env.cpu;
	uint64_t seed = cmdline_get_u64("seed", DEFAULT_SEED);
	unsigned cases = (unsigned)cmdline_get_u64("cases", DEFAULT_CASES);

	env.mode = parse_mode();
	harness_setup();
	kprintf("H walkprobe v=1 mode=%s seed=%#llx cases=%u maxphy=%u pse=%u "
		"pse36=%u pae=%u nx=%u gbpages=%u lm=%u la57=%u pku=%u "
		"smep=%u smap=%u cr2sentinel=%#llx\n",
		mode_names[env.mode], (unsigned long long)seed, cases,
		cpu->maxphy, cpu->pse, cpu->pse36, cpu->pae, cpu->nx,
		cpu->gbpages, cpu->lm, cpu->la57, cpu->pku, cpu->smep,
		cpu->smap, (unsigned long long)cr2_sentinel());
	/* Each mode draws its own stream from the one seed. */
	rng_seed(seed ^ (0x9E3779B97F4A7C15ull * (env.mode + 1)));
	for (unsigned i = 0; i < cases; i++) {
		case_generate(&c);
		run_case(&c);
		print_record(i, &c);
	}
	kprintf("T cases=%u\n", cases);
	return 0;
}
