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

static const struct deviation dev_pdpte_no_load = {
	"qemu-pae-pdptes-not-loaded",
	"PAE: MOV CR3 does not load the PDPTEs; no #GP for reserved bits",
	pdpte_no_load,
};
static const struct deviation dev_pdpte_accessed = {
	"qemu-pae-pdpte-accessed",
	"PAE: the walk sets bit 5 (A) of the PDPTE in memory",
	pdpte_accessed,
};
static const struct deviation dev_rsvd_without_p = {
	"qemu-rsvd-without-p",
	"reserved-bit #PF: error code has RSVD but not P",
	rsvd_without_p,
};
static const struct deviation dev_noncanonical_stack_gp = {
	"qemu-noncanonical-stack-gp",
	"non-canonical stack access: #GP(0) instead of #SS(0)",
	noncanonical_stack_gp,
};

static const struct deviation dev_gbpage_accessed_on_fault = {
	"qemu-1g-leaf-accessed-on-fault",
	"1 GiB page: a faulting access sets A in the leaf PDPTE",
	gbpage_accessed_on_fault,
};

const struct deviation *const deviations[] = {
	&dev_pdpte_no_load,
	&dev_pdpte_accessed,
	&dev_rsvd_without_p,
	&dev_noncanonical_stack_gp,
	&dev_gbpage_accessed_on_fault,
};
const unsigned n_deviations = sizeof(deviations) / sizeof(deviations[0]);
