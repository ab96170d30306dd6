/* Replaying one walkprobe record with Umbra's walker (PROTOCOL.md). */
#include "replay.h"

#include <stdio.h>
#include <string.h>

#include "umbra/x86.h"

/* Guest memory for one replay: testmem holding exactly the recorded
 * entries, and a note of any read the walker makes elsewhere. */
struct replay_mem {
	struct testmem *tm;
	const struct log_case *c;
	bool unrecorded;
	uint64_t unrecorded_gpa;
};

static bool recorded(const struct log_case *c, uint64_t gpa)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].gpa == gpa)
			return true;
	return false;
}

static bool rm_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	struct replay_mem *rm = ctx;
	struct umbra_gmem g = testmem_gmem(rm->tm);

	if (!recorded(rm->c, gpa) && !rm->unrecorded) {
		rm->unrecorded = true;
		rm->unrecorded_gpa = gpa;
	}
	return g.read(g.ctx, gpa, size, val);
}

static bool rm_cmpxchg(void *ctx, uint64_t gpa, unsigned size, uint64_t old,
		       uint64_t new_val)
{
	struct replay_mem *rm = ctx;
	struct umbra_gmem g = testmem_gmem(rm->tm);

	return g.cmpxchg(g.ctx, gpa, size, old, new_val);
}

static void add_diff(struct replay *rp, enum diff_kind kind, unsigned entry,
		     uint64_t expected, uint64_t observed)
{
	struct diff *d;

	if (rp->n_diffs == MAX_DIFFS)
		return;
	d = &rp->diffs[rp->n_diffs++];
	d->kind = kind;
	d->entry = entry;
	d->expected = expected;
	d->observed = observed;
	d->explained_by = NULL;
}

static unsigned entry_size(enum umbra_mode mode)
{
	return mode == UMBRA_MODE_32 ? 4 : 8;
}

void replay_case(struct replay *rp, const struct log_header *h,
		 const struct log_case *c, struct testmem *m)
{
	const unsigned esize = entry_size(h->mode);
	struct umbra_paging_regs regs = {
		.cr0 = c->cr0, .cr3 = c->cr3, .cr4 = c->cr4, .efer = c->efer,
		.pkru = c->pkru,
	};
	struct umbra_access acc = {
		.va = c->va, .kind = (uint8_t)c->kind, .cpl = (uint8_t)c->cpl,
		.ac = c->ac != 0, .implicit_supervisor = false,
		.stack = c->stack != 0,
	};
	struct replay_mem rm = { .tm = m, .c = c };
	struct umbra_gmem gmem = { .read = rm_read, .cmpxchg = rm_cmpxchg,
				   .ctx = &rm };

	memset(rp, 0, sizeof(*rp));
	rp->h = h;
	rp->c = c;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->e[i].gpa + esize > m->size) {
			add_diff(rp, DIFF_HARNESS, i, 0, c->e[i].gpa);
			return;
		}
		testmem_write(m, c->e[i].gpa, esize, c->e[i].before);
	}

	rp->cr3_vec = LOG_NONE;
	rp->load = umbra_walk_init(&rp->w, &regs, &h->caps, &gmem);
	if (rp->load == UMBRA_LOAD_GP)
		rp->cr3_vec = X86_VEC_GP;
	if (rp->cr3_vec != c->cr3_vec)
		add_diff(rp, DIFF_CR3_VEC, 0, rp->cr3_vec, c->cr3_vec);

	if (rp->load == UMBRA_LOAD_OK) {
		umbra_walk(&rp->w, &acc, &rp->res);
		rp->walked = true;
		rp->vec = LOG_NONE;
		rp->err = 0;
		rp->cr2 = h->cr2_sentinel;
		switch (rp->res.status) {
		case UMBRA_WALK_OK:
			break;
		case UMBRA_WALK_PF:
			rp->vec = X86_VEC_PF;
			rp->err = rp->res.error_code;
			rp->cr2 = rp->res.fault_addr;
			break;
		case UMBRA_WALK_GP:
			rp->vec = X86_VEC_GP;
			break;
		case UMBRA_WALK_SS:
			rp->vec = X86_VEC_SS;
			break;
		case UMBRA_WALK_BADMEM:
			/* The walker left the recorded entries entirely. */
			add_diff(rp, DIFF_UNRECORDED, 0, 0, rp->res.bad_gpa);
			rp->walked = false;
			break;
		default:
			add_diff(rp, DIFF_HARNESS, 0, rp->res.status, 0);
			rp->walked = false;
			break;
		}
		if (rp->walked && rp->res.n_updates &&
		    !umbra_walk_commit(&rp->w, &rp->res))
			add_diff(rp, DIFF_HARNESS, 0, 0, 0);
	} else if (rp->load != UMBRA_LOAD_GP) {
		/* BADMEM or an invalid mode: the harness is broken. */
		add_diff(rp, DIFF_HARNESS, 0, rp->load, 0);
	}
	/* After a MOV CR3 that faults, the PDPTE registers keep whatever an
	 * earlier load put there: no architectural expectation to compare. */

	if (rp->walked) {
		if (rp->vec != c->vec)
			add_diff(rp, DIFF_VEC, 0, rp->vec, c->vec);
		else if (rp->err != c->err)
			add_diff(rp, DIFF_ERR, 0, rp->err, c->err);
		if (rp->cr2 != c->cr2)
			add_diff(rp, DIFF_CR2, 0, rp->cr2, c->cr2);
		if (rp->res.status == UMBRA_WALK_OK && rp->res.gpa != c->pa)
			add_diff(rp, DIFF_GPA, 0, rp->res.gpa, c->pa);
		if (c->pa_check == LOG_PA_MISMATCH)
			add_diff(rp, DIFF_QEMU_GPA, 0, c->pa, 0);
		for (unsigned i = 0; i < c->n; i++) {
			rp->after[i] = testmem_read(m, c->e[i].gpa, esize);
			if (c->e[i].flags & LOG_E_HARNESS)
				continue;
			if (rp->after[i] != c->e[i].after)
				add_diff(rp, DIFF_AFTER, i, rp->after[i],
					 c->e[i].after);
		}
		if (rm.unrecorded)
			add_diff(rp, DIFF_UNRECORDED, 0, 0, rm.unrecorded_gpa);
	}

	for (unsigned i = 0; i < c->n; i++)
		testmem_write(m, c->e[i].gpa, esize, 0);
}

bool classify_diffs(struct replay *rp)
{
	bool all = true;

	for (unsigned i = 0; i < rp->n_diffs; i++) {
		struct diff *d = &rp->diffs[i];

		for (unsigned k = 0; k < n_deviations && !d->explained_by; k++)
			if (deviations[k]->explains(rp, d))
				d->explained_by = deviations[k];
	}
	for (unsigned k = 0; k < n_deviations; k++) {
		bool used = false;

		if (!deviations[k]->seen(rp))
			continue;
		for (unsigned i = 0; i < rp->n_diffs; i++)
			used = used || rp->diffs[i].explained_by == deviations[k];
		if (!used)
			add_diff(rp, DIFF_COPIES_DEVIATION, k, 0, 0);
	}
	for (unsigned i = 0; i < rp->n_diffs; i++)
		all = all && rp->diffs[i].explained_by;
	return all;
}

const char *diff_kind_name(enum diff_kind k)
{
	switch (k) {
	case DIFF_CR3_VEC: return "MOV CR3 outcome";
	case DIFF_VEC: return "exception";
	case DIFF_ERR: return "error code";
	case DIFF_CR2: return "CR2";
	case DIFF_GPA: return "translation (walker vs the guest's tables)";
	case DIFF_QEMU_GPA:
		return "QEMU accessed another physical byte than the tables say";
	case DIFF_AFTER: return "entry after the access";
	case DIFF_UNRECORDED: return "walker read an unrecorded entry";
	case DIFF_HARNESS: return "cannot replay";
	case DIFF_COPIES_DEVIATION:
		return "walker agrees with QEMU where QEMU deviates from the "
		       "manuals";
	}
	return "?";
}
