/* Coverage of the walkprobe sample (see coverage.h). */
#include "coverage.h"

#include <stdarg.h>
#include <string.h>

#include "umbra/x86.h"

static const char *const cat_names[N_CATS] = {
	"PML5E", "PML4E", "PDPTE", "PDE", "PAE PDPTE",
	"4K leaf", "2M leaf", "4M leaf", "1G leaf",
};
static const char *const flag_names[N_FLAGS] = {
	"P", "RW", "US", "A", "D", "PS", "NX", "rsvd",
};
static const char *const misc_names[N_MISC] = {
	"CR0.WP", "EFER.NXE", "CR4.PSE", "CR4.SMEP", "CR4.SMAP", "CR4.PKE",
	"CPL3", "read", "write", "fetch", "EFLAGS.AC", "stack", "non-canonical",
	"key!=0", "PKRU.AD", "PKRU.WD",
	"ok", "ok+PA checked", "#PF", "#GP", "#SS", "P", "W", "U", "RSVD", "I/D", "PK",
};

/* fprintf to `out`, or nothing when it is NULL. */
__attribute__((format(printf, 2, 3))) static void pr(FILE *out,
						     const char *fmt, ...)
{
	va_list ap;

	if (!out)
		return;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}

static void bump(struct cov_bin *b, bool set)
{
	if (set)
		b->set++;
	else
		b->clear++;
}

static bool is_long(const struct log_header *h)
{
	return h->mode == UMBRA_MODE_LONG4 || h->mode == UMBRA_MODE_LONG5;
}

static enum cov_cat category(const struct log_header *h,
			     const struct log_case *c, unsigned i)
{
	const struct log_entry *e = &c->e[i];
	bool leaf = i == c->n - 1;

	if (h->mode == UMBRA_MODE_PAE && e->level == 3)
		return CAT_PDPTE;
	if (!leaf)
		return (enum cov_cat)(CAT_L5 + (5 - e->level));
	switch (e->level) {
	case 1: return CAT_4K;
	case 2: return h->mode == UMBRA_MODE_32 ? CAT_4M : CAT_2M;
	default: return CAT_1G;
	}
}

void cov_add(struct coverage *cv, const struct log_header *h,
	     const struct log_case *c)
{
	const bool lm = is_long(h);
	const uint64_t sign = h->mode == UMBRA_MODE_LONG5 ? 56 : 47;
	const uint64_t hi = c->va >> sign;
	const struct log_entry *leaf = &c->e[c->n - 1];
	unsigned key = lm ? (unsigned)(leaf->before >> X86_PTE_PK_SHIFT & 15) : 0;
	bool pf = c->vec == X86_VEC_PF;

	cv->cases++;
	bump(&cv->misc[M_WP], c->cr0 & X86_CR0_WP);
	bump(&cv->misc[M_NXE], c->efer & X86_EFER_NXE);
	bump(&cv->misc[M_PSE], c->cr4 & X86_CR4_PSE);
	bump(&cv->misc[M_SMEP], c->cr4 & X86_CR4_SMEP);
	bump(&cv->misc[M_SMAP], c->cr4 & X86_CR4_SMAP);
	bump(&cv->misc[M_PKE], c->cr4 & X86_CR4_PKE);
	bump(&cv->misc[M_CPL3], c->cpl == 3);
	bump(&cv->misc[M_READ], c->kind == UMBRA_ACCESS_READ);
	bump(&cv->misc[M_WRITE], c->kind == UMBRA_ACCESS_WRITE);
	bump(&cv->misc[M_FETCH], c->kind == UMBRA_ACCESS_FETCH);
	bump(&cv->misc[M_AC], c->ac);
	bump(&cv->misc[M_STACK], c->stack);
	bump(&cv->misc[M_NONCANON], lm && hi != 0 && hi != (~0ull >> sign));
	bump(&cv->misc[M_PK_KEY], key != 0);
	bump(&cv->misc[M_PK_AD], c->pkru & X86_PKRU_AD(key));
	bump(&cv->misc[M_PK_WD], c->pkru & X86_PKRU_WD(key));
	bump(&cv->misc[M_OK], c->vec == LOG_NONE);
	bump(&cv->misc[M_PA], c->pa_check == LOG_PA_MATCH);
	bump(&cv->misc[M_PF], pf);
	bump(&cv->misc[M_GP], c->vec == X86_VEC_GP);
	bump(&cv->misc[M_SS], c->vec == X86_VEC_SS);
	if (pf) {
		bump(&cv->misc[M_EP], c->err & X86_PFEC_P);
		bump(&cv->misc[M_EW], c->err & X86_PFEC_W);
		bump(&cv->misc[M_EU], c->err & X86_PFEC_U);
		bump(&cv->misc[M_ERSVD], c->err & X86_PFEC_RSVD);
		bump(&cv->misc[M_EID], c->err & X86_PFEC_ID);
		bump(&cv->misc[M_EPK], c->err & X86_PFEC_PK);
	}
	for (unsigned i = 0; i < c->n; i++) {
		const struct log_entry *e = &c->e[i];
		struct cov_bin *b;
		uint64_t v = e->before;

		if (e->flags & LOG_E_HARNESS)
			continue;
		/* PAE: only the PDPTE the access uses. */
		if (h->mode == UMBRA_MODE_PAE && e->level == 3 &&
		    ((e->gpa >> 3) & 3) != ((c->va >> 30) & 3))
			continue;
		b = cv->ent[category(h, c, i)];
		bump(&b[F_P], v & X86_PTE_P);
		bump(&b[F_RW], v & X86_PTE_RW);
		bump(&b[F_US], v & X86_PTE_US);
		bump(&b[F_A], v & X86_PTE_A);
		bump(&b[F_D], v & X86_PTE_D);
		bump(&b[F_PS], v & X86_PTE_PS);
		bump(&b[F_NX], v & X86_PTE_NX);
		bump(&b[F_RSV], c->rsv_level == e->level);
	}
}

/* Which bins a mode must have seen both ways. */
static bool misc_required(const struct log_header *h, enum cov_misc m)
{
	const bool lm = is_long(h);

	switch (m) {
	case M_WP: case M_CPL3: case M_READ: case M_WRITE: case M_FETCH:
	case M_AC: case M_STACK:
		return true;
	case M_NXE: return h->nx;
	case M_PSE: return h->mode == UMBRA_MODE_32 && h->pse;
	case M_SMEP: return h->smep;
	case M_SMAP: return h->smap;
	case M_PKE: return h->pku;
	case M_NONCANON: return lm;
	case M_PK_KEY: return lm && h->pku;
	/* Outside long mode the leaf key is 0, and key 0 is restricted only
	 * there (PKRU must then have no effect). */
	case M_PK_AD: case M_PK_WD: return h->pku;
	default: return false; /* outcomes: see outcome_required */
	}
}

/* Outcomes only need to have happened. */
static bool outcome_required(const struct log_header *h, enum cov_misc m)
{
	switch (m) {
	case M_OK: case M_PA: case M_PF: case M_EP: case M_EW: case M_EU: case M_ERSVD:
	case M_EID:
		return true;
	case M_GP: return is_long(h);
	case M_EPK: return is_long(h) && h->pku;
	default: return false;
	}
}

static bool cat_used(const struct log_header *h, enum cov_cat cat)
{
	switch (h->mode) {
	case UMBRA_MODE_32:
		return cat == CAT_L2 || cat == CAT_4K || cat == CAT_4M;
	case UMBRA_MODE_PAE:
		return cat == CAT_PDPTE || cat == CAT_L2 || cat == CAT_4K ||
		       cat == CAT_2M;
	case UMBRA_MODE_LONG5:
		if (cat == CAT_L5)
			return true;
		/* fall through */
	case UMBRA_MODE_LONG4:
		return cat == CAT_L4 || cat == CAT_L3 || cat == CAT_L2 ||
		       cat == CAT_4K || cat == CAT_2M ||
		       (cat == CAT_1G && h->caps.gbpages);
	default:
		return false;
	}
}

static bool flag_required(const struct log_header *h, enum cov_cat cat,
			  enum cov_flag f)
{
	const bool wide = h->mode != UMBRA_MODE_32;
	const bool leaf = cat >= CAT_4K;

	if (cat == CAT_PDPTE)
		return f == F_P || f == F_RSV;
	switch (f) {
	case F_P: case F_RW: case F_US: case F_A: case F_D:
		return true;
	case F_NX:
		return wide;
	case F_RSV: /* 32-bit paging has reserved bits only in 4M PDEs */
		return wide ? true : cat == CAT_4M;
	case F_PS: /* where PS set does not make the entry a leaf */
		if (leaf)
			return false;
		if (cat == CAT_L2)
			return h->mode == UMBRA_MODE_32;
		if (cat == CAT_L3)
			return !h->caps.gbpages;
		return true; /* PML4E, PML5E: PS is reserved */
	default:
		return false;
	}
}

unsigned cov_report(const struct coverage *cv, const struct log_header *h,
		    FILE *out, unsigned *checked, char *miss, size_t miss_size)
{
	unsigned missing = 0, n = 0;

#define NOTE_MISSING(fmt, ...)                                              \
	do {                                                                \
		size_t len = strlen(miss);                                  \
		snprintf(miss + len, miss_size - len, " " fmt, __VA_ARGS__); \
		missing++;                                                  \
	} while (0)
#define CHECK(cond, fmt, ...)                 \
	do {                                  \
		n++;                          \
		if (!(cond))                  \
			NOTE_MISSING(fmt, __VA_ARGS__); \
	} while (0)

	miss[0] = 0;

	pr(out, "  coverage, cases with the flag set/clear:\n");
	for (unsigned row = 0; row < 3; row++) {
		static const char *const row_names[] = { "controls", "access",
							 "pkeys" };
		static const unsigned first[] = { M_WP, M_CPL3, M_PK_KEY };
		static const unsigned last[] = { M_PKE, M_NONCANON, M_PK_WD };

		if (row == 2 && !h->pku)
			break;
		pr(out, "    %-10s", row_names[row]);
		for (unsigned m = first[row]; m <= last[row]; m++) {
			const struct cov_bin *b = &cv->misc[m];

			/* Outside long mode: no canonical checks, and the
			 * leaf's key is always 0. */
			if ((m == M_NONCANON || m == M_PK_KEY) && !is_long(h))
				continue;
			pr(out, " %s %lu/%lu", misc_names[m], b->set, b->clear);
			if (misc_required(h, (enum cov_misc)m))
				CHECK(b->set && b->clear, "%s", misc_names[m]);
		}
		pr(out, "\n");
	}
	for (unsigned cat = 0; cat < N_CATS; cat++) {
		if (!cat_used(h, (enum cov_cat)cat))
			continue;
		pr(out, "    %-10s", cat_names[cat]);
		for (unsigned f = 0; f < N_FLAGS; f++) {
			const struct cov_bin *b = &cv->ent[cat][f];

			if (!flag_required(h, (enum cov_cat)cat, (enum cov_flag)f))
				continue;
			pr(out, " %s %lu/%lu", flag_names[f], b->set,
				b->clear);
			CHECK(b->set && b->clear, "%s.%s", cat_names[cat],
			      flag_names[f]);
		}
		pr(out, "\n");
	}
	pr(out, "    %-10s", "outcomes");
	for (unsigned m = M_OK; m < N_MISC; m++) {
		const struct cov_bin *b = &cv->misc[m];

		if (m == M_EP)
			pr(out, "; #PF error code bits:");
		pr(out, " %s %lu", misc_names[m], b->set);
		if (outcome_required(h, (enum cov_misc)m))
			CHECK(b->set, "outcome %s", misc_names[m]);
	}
	pr(out, "\n");
#undef CHECK
#undef NOTE_MISSING
	*checked = n;
	return missing;
}
