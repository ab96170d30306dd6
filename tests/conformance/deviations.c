/*
 * Documented deviations of QEMU 7.2 TCG from the architecture manuals, one
 * narrow predicate each.  DEVIATIONS.md gives the rule, what QEMU does and
 * the manual sections.  A predicate must match only the exact pattern the
 * deviation produces: everything else about the case is still compared.
 */
#include "replay.h"

#include "umbra/x86.h"

#define PAE_PDPTE_A X86_PTE_A /* bit 5: reserved in a PAE PDPTE */

/* 1. PAE: MOV CR3 does not load the PDPTEs, so a reserved bit in one does
 *    not raise #GP there (QEMU reads PDPTEs from memory on every walk). */
static bool pdpte_no_load(const struct replay *rp, const struct diff *d)
{
	return d->kind == DIFF_CR3_VEC && rp->h->mode == UMBRA_MODE_PAE &&
	       rp->load == UMBRA_LOAD_GP && d->expected == X86_VEC_GP &&
	       d->observed == LOG_NONE;
}

/* 2. PAE: the walk sets bit 5 (A) of the PDPTE in memory. */
static bool pdpte_accessed(const struct replay *rp, const struct diff *d)
{
	const struct log_case *c = rp->c;
	const struct log_entry *e;
	uint64_t used_gpa;

	if (d->kind != DIFF_AFTER || rp->h->mode != UMBRA_MODE_PAE)
		return false;
	e = &c->e[d->entry];
	used_gpa = (c->cr3 & X86_CR3_ADDR_PAE) + 8 * ((c->va >> 30) & 3);
	return e->level == 3 && e->gpa == used_gpa &&
	       d->expected == e->before && !(e->before & PAE_PDPTE_A) &&
	       d->observed == (e->before | PAE_PDPTE_A);
}

/* 3. A reserved-bit #PF reports RSVD without P. */
static bool rsvd_without_p(const struct replay *rp, const struct diff *d)
{
	(void)rp;
	return d->kind == DIFF_ERR &&
	       (d->expected & (X86_PFEC_RSVD | X86_PFEC_P)) ==
		       (X86_PFEC_RSVD | X86_PFEC_P) &&
	       d->observed == (d->expected & ~X86_PFEC_P);
}

/* 4. A non-canonical stack (SS) access raises #GP(0), not #SS(0). */
static bool noncanonical_stack_gp(const struct replay *rp,
				  const struct diff *d)
{
	return d->kind == DIFF_VEC && rp->c->stack &&
	       d->expected == X86_VEC_SS && d->observed == X86_VEC_GP &&
	       rp->c->err == 0;
}

/* 5. Long mode, 1 GiB leaf: the walk sets A in the PDPTE before it looks at
 *    PS, the permissions and the 1 GiB reserved bits 29:13, so a faulting
 *    access marks the leaf accessed.  (Reserved bits above MAXPHYADDR and
 *    NX without NXE are checked before, and then A stays clear.) */
static bool gbpage_accessed_on_fault(const struct replay *rp,
				     const struct diff *d)
{
	const struct log_case *c = rp->c;
	const struct log_entry *e;
	uint64_t early_rsvd = UMBRA_BITS(51, rp->h->caps.maxphyaddr);

	if (d->kind != DIFF_AFTER || !rp->walked ||
	    (rp->h->mode != UMBRA_MODE_LONG4 &&
	     rp->h->mode != UMBRA_MODE_LONG5) || !rp->h->caps.gbpages)
		return false;
	e = &c->e[d->entry];
	if (!(c->efer & X86_EFER_NXE))
		early_rsvd |= X86_PTE_NX;
	return e->level == 3 && (e->before & X86_PTE_PS) &&
	       (e->before & X86_PTE_P) && !(e->before & early_rsvd) &&
	       rp->res.status == UMBRA_WALK_PF && rp->res.level == 3 &&
	       c->vec == X86_VEC_PF && !(e->before & X86_PTE_A) &&
	       d->expected == e->before &&
	       d->observed == (e->before | X86_PTE_A);
}

/* ---- what QEMU's observations look like when it deviates ---------------- */

static bool is_long(const struct replay *rp)
{
	return rp->h->mode == UMBRA_MODE_LONG4 || rp->h->mode == UMBRA_MODE_LONG5;
}

/* The recorded entry the access used at `level` (the last one recorded at
 * that level on the path), or NULL. */
static const struct log_entry *path_entry(const struct replay *rp,
					  unsigned level)
{
	const struct log_case *c = rp->c;

	if (rp->h->mode == UMBRA_MODE_PAE && level == 3) {
		uint64_t gpa = (c->cr3 & X86_CR3_ADDR_PAE) + 8 * ((c->va >> 30) & 3);

		for (unsigned i = 0; i < c->n; i++)
			if (c->e[i].level == 3 && c->e[i].gpa == gpa)
				return &c->e[i];
		return NULL;
	}
	for (unsigned i = c->n; i-- > 0;)
		if (c->e[i].level == level && !(c->e[i].flags & LOG_E_HARNESS))
			return &c->e[i];
	return NULL;
}

static bool newly_accessed(const struct log_entry *e)
{
	return e && !(e->before & X86_PTE_A) && (e->after & X86_PTE_A);
}

/* The manual's PDPTE reserved bits (SDM 4.4.1, table 4-8). */
static bool pdpte_has_reserved(const struct replay *rp)
{
	const struct log_case *c = rp->c;
	uint64_t rsvd = UMBRA_BITS(2, 1) | UMBRA_BITS(8, 5) |
			UMBRA_BITS(63, rp->h->caps.maxphyaddr);

	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].level == 3 && (c->e[i].before & X86_PTE_P) &&
		    (c->e[i].before & rsvd))
			return true;
	return false;
}

static bool seen_pdpte_no_load(const struct replay *rp)
{
	return rp->h->mode == UMBRA_MODE_PAE && rp->c->cr3_vec == LOG_NONE &&
	       pdpte_has_reserved(rp);
}

static bool seen_pdpte_accessed(const struct replay *rp)
{
	return rp->h->mode == UMBRA_MODE_PAE && rp->walked &&
	       newly_accessed(path_entry(rp, 3));
}

static bool seen_rsvd_without_p(const struct replay *rp)
{
	return rp->walked && rp->c->vec == X86_VEC_PF &&
	       (rp->c->err & X86_PFEC_RSVD) && !(rp->c->err & X86_PFEC_P);
}

static bool seen_noncanonical_stack_gp(const struct replay *rp)
{
	unsigned sign = rp->h->mode == UMBRA_MODE_LONG5 ? 56 : 47;
	uint64_t hi = rp->c->va >> sign;

	return is_long(rp) && rp->walked && rp->c->stack &&
	       rp->c->vec == X86_VEC_GP && hi != 0 && hi != (~0ull >> sign);
}

static bool seen_gbpage_accessed_on_fault(const struct replay *rp)
{
	const struct log_case *c = rp->c;
	const struct log_entry *leaf = &c->e[c->n - 1];

	return is_long(rp) && rp->walked && c->vec == X86_VEC_PF &&
	       leaf->level == 3 && (leaf->before & X86_PTE_PS) &&
	       newly_accessed(leaf);
}

static const struct deviation dev_pdpte_no_load = {
	"qemu-pae-pdptes-not-loaded",
	"PAE: MOV CR3 does not load the PDPTEs; no #GP for reserved bits",
	pdpte_no_load,
	seen_pdpte_no_load,
};
static const struct deviation dev_pdpte_accessed = {
	"qemu-pae-pdpte-accessed",
	"PAE: the walk sets bit 5 (A) of the PDPTE in memory",
	pdpte_accessed,
	seen_pdpte_accessed,
};
static const struct deviation dev_rsvd_without_p = {
	"qemu-rsvd-without-p",
	"reserved-bit #PF: error code has RSVD but not P",
	rsvd_without_p,
	seen_rsvd_without_p,
};
static const struct deviation dev_noncanonical_stack_gp = {
	"qemu-noncanonical-stack-gp",
	"non-canonical stack access: #GP(0) instead of #SS(0)",
	noncanonical_stack_gp,
	seen_noncanonical_stack_gp,
};

static const struct deviation dev_gbpage_accessed_on_fault = {
	"qemu-1g-leaf-accessed-on-fault",
	"1 GiB page: a faulting access sets A in the leaf PDPTE",
	gbpage_accessed_on_fault,
	seen_gbpage_accessed_on_fault,
};

const struct deviation *const deviations[] = {
	&dev_pdpte_no_load,
	&dev_pdpte_accessed,
	&dev_rsvd_without_p,
	&dev_noncanonical_stack_gp,
	&dev_gbpage_accessed_on_fault,
};
const unsigned n_deviations = sizeof(deviations) / sizeof(deviations[0]);
