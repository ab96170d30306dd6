/*
 * One case: bring the test entries to the combination's values, predict
 * the access with Umbra's walker (engine/walk.c, compiled in by oracle.c)
 * on the tables as they are in memory now, perform it for real, and
 * compare the vector, the error code, CR2 and every test entry (its A and
 * D bits) with the prediction.
 *
 * Natively the guest runs on QEMU, which departs from the manuals in a few
 * documented places (tests/conformance/DEVIATIONS.md).  The guest's output
 * must be the same natively and under Umbra (which gives the guest the
 * manuals' behaviour), so each deviation that this matrix can meet is
 * accepted, in exactly its documented form, as a second correct answer.
 */
#include "accmatrix.h"

#define MAX_REPORTED 20

static uint8_t user_stack[X86_PAGE_SIZE_4K] USER_DATA;
static unsigned reported;

/* What an access did, or should do. */
struct outcome {
	uint32_t vector; /* TRAP_NONE or X86_VEC_PF */
	uint32_t error;
	uint64_t cr2;
	uint8_t level; /* prediction only: the level a fault was found at */
	uint64_t entry[UMBRA_LEVELS_MAX + 1]; /* test entries afterwards */
};

struct kernel_access {
	uintptr_t va, kind, ac;
};

void access_from_index(unsigned i, struct am_access *a)
{
	a->ac = (uint8_t)(i & 1);
	a->kind = (uint8_t)(i / 2 % 3);
	a->cpl = i / 6 ? 3 : 0;
}

/* Write the entries that differ from want[] (the A bit of a non-leaf
 * entry is not part of the combination: walks set it, and it stays set
 * until the entry changes otherwise), then invalidate the TLB entry. */
static void sync_entries(const struct am_combo *c, const uint64_t want[])
{
	unsigned leaf = combo_leaf_level(c);
	bool wrote = false;

	for (unsigned l = 1; l <= env.top; l++) {
		uint64_t ignore = l == leaf ? 0 : X86_PTE_A;

		if (!want[l] || ((entry_read(env.entry_gpa[l]) ^ want[l]) &
				 ~ignore) == 0)
			continue;
		entry_write(env.entry_gpa[l], want[l]);
		wrote = true;
	}
	if (wrote)
		invlpg((unsigned long)env.va);
}

static void read_entries(uint64_t entry[])
{
	for (unsigned l = 1; l <= env.top; l++)
		entry[l] = entry_read(env.entry_gpa[l]);
}

/* The walker's verdict, with its A/D updates applied to a copy of the
 * entries as they are now, before[] (umbra_walk_commit's effect). */
static void predict(const struct am_access *a, const uint64_t before[],
		    struct outcome *exp)
{
	struct umbra_access acc = {
		.va = env.va, .kind = a->kind, .cpl = a->cpl, .ac = a->ac,
	};
	struct umbra_walk_result res;

	umbra_walk(cfg_walker(), &acc, &res);
	exp->level = 0;
	for (unsigned l = 1; l <= env.top; l++)
		exp->entry[l] = before[l];
	for (unsigned i = 0; i < res.n_updates; i++) {
		const struct umbra_ad_update *u = &res.update[i];

		if (u->gpa != env.entry_gpa[u->level])
			panic("accmatrix: the walker updates %#llx, not a test entry",
			      (unsigned long long)u->gpa);
		exp->entry[u->level] = u->new_val;
	}
	switch (res.status) {
	case UMBRA_WALK_OK:
		exp->vector = TRAP_NONE;
		exp->error = 0;
		exp->cr2 = 0;
		break;
	case UMBRA_WALK_PF:
		exp->level = res.level;
		exp->vector = X86_VEC_PF;
		exp->error = res.error_code;
		exp->cr2 = res.fault_addr;
		break;
	default:
		panic("accmatrix: walker status %u for a canonical address",
		      (unsigned)res.status);
	}
}

static void kernel_access(void *arg)
{
	const struct kernel_access *k = arg;

	am_kernel_access(k->va, k->kind, k->ac);
}

static void perform(const struct am_access *a, struct outcome *got)
{
	struct trap_info ti;
	uint32_t v;

	if (a->cpl == 0) {
		struct kernel_access k = { (uintptr_t)env.va, a->kind, a->ac };

		v = try_call(kernel_access, &k, &ti);
	} else {
		v = run_user((uintptr_t)am_user_entry,
			     (uintptr_t)user_stack + sizeof(user_stack),
			     a->ac ? EFLAGS_AC : 0, (uintptr_t)env.va, a->kind,
			     &ti);
		if (v == TRAP_SYSCALL)
			v = TRAP_NONE;
	}
	got->vector = v;
	got->error = v == TRAP_NONE ? 0 : ti.error;
	got->cr2 = v == TRAP_NONE ? 0 : ti.cr2;
	read_entries(got->entry);
}

static bool error_matches(uint32_t exp, uint32_t got)
{
	/* qemu-rsvd-without-p (DEVIATIONS.md): QEMU reports a reserved-bit
	 * fault with RSVD but without P. */
	bool qemu_rsvd = (exp & X86_PFEC_RSVD) && (exp & X86_PFEC_P) &&
			 got == (exp & ~(uint32_t)X86_PFEC_P);

	return got == exp || qemu_rsvd;
}

/* qemu-1g-leaf-accessed-on-fault (DEVIATIONS.md): a fault found at a
 * present 1 GiB leaf leaves the leaf's A flag set on QEMU, unless the
 * fault is one of the reserved bits QEMU checks first (at or above
 * MAXPHYADDR, NX without EFER.NXE). */
static bool qemu_1g_accessed(const struct am_cfg *cfg,
			     const struct am_combo *combo, unsigned level,
			     const struct outcome *exp, uint64_t got)
{
	uint64_t e = exp->entry[level];
	uint64_t checked_first = (cpu.maxphy < 52 ? UMBRA_BITS(51, cpu.maxphy)
						   : 0) |
				 (cfg->nxe ? 0 : X86_PTE_NX);

	return combo->dir == DIR_1G && level == 3 &&
	       exp->vector == X86_VEC_PF && exp->level == 3 &&
	       (e & X86_PTE_P) && !(e & X86_PTE_A) && !(e & checked_first) &&
	       got == (e | X86_PTE_A);
}

/* qemu-pae-pdpte-accessed (DEVIATIONS.md): QEMU walks set bit 5 of the PAE
 * PDPTE in memory, where a PDPTE has no A flag. */
static bool qemu_pdpte_accessed(unsigned level, uint64_t exp, uint64_t got)
{
	return env.mode == AM_PAE && level == 3 && !(exp & X86_PTE_A) &&
	       got == (exp | X86_PTE_A);
}

static bool outcome_matches(const struct am_cfg *cfg,
			    const struct am_combo *combo,
			    const struct outcome *exp,
			    const struct outcome *got)
{
	if (got->vector != exp->vector)
		return false;
	if (exp->vector == X86_VEC_PF &&
	    (!error_matches(exp->error, got->error) || got->cr2 != exp->cr2))
		return false;
	for (unsigned l = 1; l <= env.top; l++) {
		uint64_t e = exp->entry[l], g = got->entry[l];

		if (g != e && !qemu_pdpte_accessed(l, e, g) &&
		    !qemu_1g_accessed(cfg, combo, l, exp, g))
			return false;
	}
	return true;
}

static void describe_outcome(const char *what, const struct outcome *o)
{
	kprintf("accmatrix:   %s: ", what);
	if (o->vector == TRAP_NONE)
		kprintf("no fault;");
	else
		kprintf("vector %u error %#x cr2 %#llx;", o->vector, o->error,
			(unsigned long long)o->cr2);
	for (unsigned l = env.top; l >= 1; l--)
		kprintf(" L%u %#llx", l, (unsigned long long)o->entry[l]);
	kprintf("\n");
}

static void report(const struct am_cfg *cfg, const struct am_combo *combo,
		   const struct am_access *a, const uint64_t before[],
		   const struct outcome *exp, const struct outcome *got)
{
	static const char *const kinds[] = { "read", "write", "fetch" };

	kprintf("accmatrix: FAIL %s va %#llx: ", env.name,
		(unsigned long long)env.va);
	cfg_describe(cfg);
	kprintf("; ");
	combo_describe(combo);
	kprintf("; CPL %u %s AC=%u\n", a->cpl, kinds[a->kind], a->ac);
	kprintf("accmatrix:   before:");
	for (unsigned l = env.top; l >= 1; l--)
		kprintf(" L%u %#llx", l, (unsigned long long)before[l]);
	kprintf("\n");
	describe_outcome("expected", exp);
	describe_outcome("got     ", got);
}

static void count_prediction(const struct outcome *exp, struct am_stats *st)
{
	if (exp->vector == TRAP_NONE)
		st->no_fault++;
	else if (!(exp->error & X86_PFEC_P))
		st->not_present++;
	else if (exp->error & X86_PFEC_RSVD)
		st->reserved++;
	else
		st->protection++;
	st->pkey += (exp->error & X86_PFEC_PK) != 0;
}

void check_access(const struct am_cfg *cfg, const struct am_combo *combo,
		  const uint64_t want[], const struct am_access *a,
		  struct am_stats *st)
{
	struct outcome exp, got;
	uint64_t before[UMBRA_LEVELS_MAX + 1];

	sync_entries(combo, want);
	read_entries(before);
	predict(a, before, &exp);
	perform(a, &got);
	st->cases++;
	count_prediction(&exp, st);
	if (outcome_matches(cfg, combo, &exp, &got))
		return;
	st->failed++;
	if (reported < MAX_REPORTED) {
		reported++;
		report(cfg, combo, a, before, &exp, &got);
	}
}
