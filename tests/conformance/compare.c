/*
 * compare: replay walkprobe serial logs with Umbra's walker.
 *
 *   compare [--details N] [--quiet-coverage] LOG...
 *
 * For every case: build guest memory holding exactly the recorded entries,
 * umbra_walk_init (the PAE PDPTE load), umbra_walk, umbra_walk_commit, and
 * compare the MOV CR3 outcome, the exception vector, error code, CR2 and
 * every entry's value after the access with what QEMU did.  Differences
 * that a documented QEMU deviation (deviations.c, DEVIATIONS.md) explains
 * are counted apart.  Prints per-mode summaries and coverage.
 *
 * Exit status: 0 when every case agrees or differs only by documented
 * deviations and coverage is complete; 1 on an undocumented disagreement or
 * a coverage gap; 2 when a log cannot be read or replayed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "log.h"
#include "replay.h"
#include "umbra/x86.h"

#define GUEST_MEM_BYTES (64ull << 20) /* covers every table the probe uses */

static unsigned details_max = 20, details_shown;

static const char *const kind_names[] = { "read", "write", "fetch" };

static const char *vec_name(uint32_t v)
{
	switch (v) {
	case LOG_NONE: return "none";
	case X86_VEC_PF: return "#PF";
	case X86_VEC_GP: return "#GP";
	case X86_VEC_SS: return "#SS";
	case 6: return "#UD";
	case 8: return "#DF";
	default: return "vector";
	}
}

static void print_ec(FILE *o, uint32_t ec)
{
	fprintf(o, "%#x", ec);
	if (!ec)
		return;
	fprintf(o, " (");
	fprintf(o, "%s", ec & X86_PFEC_P ? "P" : "!P");
	if (ec & X86_PFEC_W) fprintf(o, " W");
	if (ec & X86_PFEC_U) fprintf(o, " U");
	if (ec & X86_PFEC_RSVD) fprintf(o, " RSVD");
	if (ec & X86_PFEC_ID) fprintf(o, " I/D");
	if (ec & X86_PFEC_PK) fprintf(o, " PK");
	fprintf(o, ")");
}

static void print_outcome(FILE *o, uint32_t vec, uint32_t err, uint64_t cr2)
{
	fprintf(o, "%s", vec_name(vec));
	if (vec != LOG_NONE && vec != X86_VEC_PF && vec != X86_VEC_GP &&
	    vec != X86_VEC_SS)
		fprintf(o, " %u", vec);
	if (vec != LOG_NONE) {
		fprintf(o, " error ");
		print_ec(o, err);
	}
	fprintf(o, ", CR2 %#llx", (unsigned long long)cr2);
}

static void print_entry_flags(FILE *o, uint64_t v, unsigned level,
			      bool wide, bool long_leaf)
{
	fprintf(o, "%s%s%s%s%s%s%s", v & X86_PTE_P ? "P" : "-",
		v & X86_PTE_RW ? " RW" : "", v & X86_PTE_US ? " US" : "",
		v & X86_PTE_A ? " A" : "", v & X86_PTE_D ? " D" : "",
		!(v & X86_PTE_PS) ? "" : level == 1 ? " PAT" : " PS",
		wide && (v & X86_PTE_NX) ? " NX" : "");
	if (long_leaf)
		fprintf(o, " key %u", (unsigned)(v >> X86_PTE_PK_SHIFT & 15));
}

static void print_details(const struct replay *rp)
{
	const struct log_case *c = rp->c;
	const struct log_header *h = rp->h;
	const bool wide = h->mode != UMBRA_MODE_32;
	FILE *o = stdout;

	fprintf(o, "\n--- %s case %u (log line %u): UNDOCUMENTED "
		"disagreement\n", h->mode_name, c->idx, c->line);
	fprintf(o, "  access   %s%s at CPL %u, EFLAGS.AC=%u, va %#llx\n",
		kind_names[c->kind], c->stack ? " (stack)" : "", c->cpl, c->ac,
		(unsigned long long)c->va);
	fprintf(o, "  regs     cr0 %#llx%s  cr4 %#llx%s%s%s%s  efer %#llx%s  "
		"pkru %#x  cr3 %#llx\n",
		(unsigned long long)c->cr0, c->cr0 & X86_CR0_WP ? " (WP)" : "",
		(unsigned long long)c->cr4,
		c->cr4 & X86_CR4_PSE ? " PSE" : "",
		c->cr4 & X86_CR4_SMEP ? " SMEP" : "",
		c->cr4 & X86_CR4_SMAP ? " SMAP" : "",
		c->cr4 & X86_CR4_PKE ? " PKE" : "",
		(unsigned long long)c->efer,
		c->efer & X86_EFER_NXE ? " (NXE)" : "", c->pkru,
		(unsigned long long)c->cr3);
	if (h->mode == UMBRA_MODE_LONG4 || h->mode == UMBRA_MODE_LONG5) {
		unsigned key = (unsigned)(c->e[c->n - 1].before >>
					  X86_PTE_PK_SHIFT & 15);

		fprintf(o, "  pkey     leaf key %u: PKRU.AD %u, PKRU.WD %u\n", key,
			!!(c->pkru & X86_PKRU_AD(key)),
			!!(c->pkru & X86_PKRU_WD(key)));
	}
	fprintf(o, "  phys     tables say %#llx; QEMU %s",
		(unsigned long long)c->pa,
		c->pa_check == LOG_PA_MATCH ? "accessed exactly that byte"
		: c->pa_check == LOG_PA_MISMATCH ? "accessed ANOTHER byte"
						 : "(not checked)");
	if (rp->walked && rp->res.status == UMBRA_WALK_OK)
		fprintf(o, "; walker %#llx", (unsigned long long)rp->res.gpa);
	fprintf(o, "\n");
	if (c->rsv_level != LOG_NO_RSV)
		fprintf(o, "  injected reserved bit %u at level %u\n",
			c->rsv_bit, c->rsv_level);
	fprintf(o, "  qemu     ");
	if (c->cr3_vec != LOG_NONE)
		fprintf(o, "MOV CR3 %s; ", vec_name(c->cr3_vec));
	print_outcome(o, c->vec, c->err, c->cr2);
	fprintf(o, "\n  walker   ");
	if (rp->cr3_vec != LOG_NONE)
		fprintf(o, "MOV CR3 %s; ", vec_name(rp->cr3_vec));
	if (rp->walked) {
		print_outcome(o, rp->vec, rp->err, rp->cr2);
		fprintf(o, "  [status %u, stopped at level %u]", rp->res.status,
			rp->res.level);
	} else {
		fprintf(o, "(access not replayed)");
	}
	fprintf(o, "\n  entries  level  gpa         before              "
		"qemu after          walker after\n");
	for (unsigned i = 0; i < c->n; i++) {
		const struct log_entry *e = &c->e[i];
		bool differs = rp->walked && !(e->flags & LOG_E_HARNESS) &&
			       rp->after[i] != e->after;

		fprintf(o, "    %s L%u  %#-10llx  %016llx    %016llx    ",
			differs ? "=>" : "  ", e->level,
			(unsigned long long)e->gpa,
			(unsigned long long)e->before,
			(unsigned long long)e->after);
		if (rp->walked)
			fprintf(o, "%016llx", (unsigned long long)rp->after[i]);
		fprintf(o, "  ");
		print_entry_flags(o, e->before, e->level, wide,
				  i == c->n - 1 && h->mode >= UMBRA_MODE_LONG4);
		if (e->flags & LOG_E_HARNESS)
			fprintf(o, "  [harness]");
		fprintf(o, "\n");
	}
	for (unsigned i = 0; i < rp->n_diffs; i++) {
		const struct diff *d = &rp->diffs[i];

		fprintf(o, "  diff     %s", diff_kind_name(d->kind));
		if (d->kind == DIFF_COPIES_DEVIATION) {
			fprintf(o, ": %s (%s)\n", deviations[d->entry]->name,
				deviations[d->entry]->summary);
			continue;
		}
		if (d->kind == DIFF_AFTER)
			fprintf(o, " (entry %u)", d->entry);
		fprintf(o, ": qemu %#llx, walker %#llx",
			(unsigned long long)d->observed,
			(unsigned long long)d->expected);
		if (d->explained_by)
			fprintf(o, "  [documented: %s]", d->explained_by->name);
		fprintf(o, "\n");
	}
}

struct mode_result {
	unsigned long cases, disagree, documented;
	unsigned long per_dev[16];
	unsigned coverage_gaps;
	bool broken;
};

static void run_log(const char *path, struct testmem *m, bool show_cov,
		    struct mode_result *mr)
{
	struct log_reader r;
	struct log_case *c = malloc(sizeof(*c));
	struct replay *rp = malloc(sizeof(*rp));
	struct coverage *cv = calloc(1, sizeof(*cv));
	enum log_item it;

	memset(mr, 0, sizeof(*mr));
	if (!c || !rp || !cv || !log_open(&r, path)) {
		mr->broken = true;
		goto out;
	}
	while ((it = log_next(&r, c)) == LOG_CASE) {
		bool documented;

		mr->cases++;
		cov_add(cv, &r.hdr, c);
		replay_case(rp, &r.hdr, c, m);
		documented = classify_diffs(rp);
		if (!rp->n_diffs)
			continue;
		for (unsigned i = 0; i < rp->n_diffs; i++)
			if (rp->diffs[i].kind == DIFF_HARNESS) {
				fprintf(stderr, "%s:%u: case %u cannot be "
					"replayed (walker status/load %llu, "
					"gpa %#llx)\n", path, c->line, c->idx,
					(unsigned long long)rp->diffs[i].expected,
					(unsigned long long)rp->diffs[i].observed);
				mr->broken = true;
			}
		mr->disagree++;
		if (documented) {
			mr->documented++;
			for (unsigned k = 0; k < n_deviations; k++)
				for (unsigned i = 0; i < rp->n_diffs; i++)
					if (rp->diffs[i].explained_by ==
					    deviations[k]) {
						mr->per_dev[k]++;
						break;
					}
		} else if (details_shown < details_max) {
			details_shown++;
			print_details(rp);
		}
	}
	if (it == LOG_ERROR)
		mr->broken = true;
	if (r.have_header && mr->broken) {
		printf("conformance %s: LOG ERROR after %lu cases (see above)\n",
		       r.hdr.mode_name, mr->cases);
	} else if (r.have_header) {
		printf("conformance %s: %lu cases, %lu disagreements "
		       "(%lu documented deviations)\n", r.hdr.mode_name,
		       mr->cases, mr->disagree, mr->documented);
		for (unsigned k = 0; k < n_deviations; k++)
			if (mr->per_dev[k])
				printf("  documented %-28s %lu cases: %s\n",
				       deviations[k]->name, mr->per_dev[k],
				       deviations[k]->summary);
		char gaps[2048];
		unsigned checked;

		mr->coverage_gaps = cov_report(cv, &r.hdr, show_cov ? stdout : NULL,
					       &checked, gaps, sizeof(gaps));
		if (mr->coverage_gaps)
			printf("  COVERAGE GAP: never seen both ways:%s\n", gaps);
		else
			printf("  coverage: all %u required flags and outcomes "
			       "seen both ways\n", checked);
	} else {
		printf("conformance %s: unreadable log\n", path);
	}
out:
	log_close(&r);
	free(c);
	free(rp);
	free(cv);
}

static void usage(void)
{
	fprintf(stderr, "usage: compare [--details N] [--no-coverage] LOG...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct testmem m;
	bool show_cov = true, broken = false;
	unsigned long cases = 0, disagree = 0, documented = 0, gaps = 0;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--details") && i + 1 < argc)
			details_max = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--no-coverage"))
			show_cov = false;
		else
			usage();
	}
	if (i == argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	testmem_init(&m, GUEST_MEM_BYTES, 0);
	for (; i < argc; i++) {
		struct mode_result mr;

		run_log(argv[i], &m, show_cov, &mr);
		cases += mr.cases;
		disagree += mr.disagree;
		documented += mr.documented;
		gaps += mr.coverage_gaps;
		broken = broken || mr.broken;
	}
	testmem_free(&m);
	printf("conformance total: %lu cases, %lu disagreements (%lu documented "
	       "deviations), %lu undocumented%s%s\n",
	       cases, disagree, documented, disagree - documented,
	       gaps ? ", coverage gaps" : "",
	       broken ? ", LOG OR REPLAY ERRORS" : "");
	if (broken)
		return 2;
	return disagree != documented || gaps ? 1 : 0;
}
