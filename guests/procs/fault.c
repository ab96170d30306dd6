/*
 * Page faults from processes: the two the kernel resolves (demand-zero on
 * an anonymous page, copy-on-write on a write to a COW page) and the ones
 * a user probe expects (resumed with the error code in the result).
 */
#include "kernel.h"

/* After a PTE changed: the alias VMA's pages are also reachable through
 * the read-only directory entry, whose TLB entries INVLPG of the writable
 * address does not touch. */
void flush_page(uint64_t va)
{
	va &= ~(SIZE_4K - 1);
	invlpg((unsigned long)va);
	if (vma_of(va) == VMA_ALIAS)
		invlpg((unsigned long)(va - lay.vma[VMA_ALIAS].start + lay.alias_ro));
}

/* A not-present fault on an anonymous page that was never unmapped: map
 * a zeroed frame.  The read-only alias view faults in its twin's page. */
static bool demand_zero(struct proc *p, uint64_t va)
{
	int k;
	uint64_t page;
	void *e;

	if (va >= lay.alias_ro && va < lay.alias_ro + lay.dir_span)
		va -= lay.alias_ro - lay.vma[VMA_ALIAS].start;
	k = vma_of(va);
	if (k < 0 || !lay.vma[k].anon)
		return false;
	page = (va - lay.vma[k].start) / SIZE_4K;
	if (p->holes[k] >> page & 1)
		return false;
	e = pt_entry(&p->pt, va, 1, true);
	if (!e || (pte_read(&p->pt, e) & X86_PTE_P))
		return false;
	pte_write(&p->pt, e, frame_alloc_data() | PTE_USER_RW);
	st.faults_zero++;
	return true;
}

/* A write to a COW page through a writable path: the last owner regains
 * write access, anyone else gets a copy. */
static bool copy_on_write(struct proc *p, uint64_t va)
{
	void *e;
	uint64_t pte, pa;

	if (vma_of(va) < 0)
		return false; /* e.g. the read-only alias: no write through it */
	e = pt_entry(&p->pt, va, 1, false);
	if (!e)
		return false;
	pte = pte_read(&p->pt, e);
	if ((pte & (X86_PTE_P | PTE_COW)) != (X86_PTE_P | PTE_COW))
		return false;
	pa = pte_addr(&p->pt, pte, 1);
	if (frame_refs(pa) == 1) {
		pte_write(&p->pt, e, (pte & ~PTE_COW) | X86_PTE_RW);
		st.cow_regains++;
	} else {
		uint64_t copy = frame_alloc_data();

		memcpy(page_ptr(copy), page_ptr(pa), PAGE_SIZE);
		pte_write(&p->pt, e, copy | PTE_USER_RW);
		frame_unref(pa);
		st.cow_copies++;
	}
	flush_page(va);
	st.faults_cow++;
	return true;
}

bool fault_fix(struct proc *p, uint64_t va, uint32_t err)
{
	if (!(err & X86_PFEC_U) || (err & (X86_PFEC_RSVD | X86_PFEC_ID)))
		return false;
	if (!(err & X86_PFEC_P))
		return demand_zero(p, va);
	return (err & X86_PFEC_W) && copy_on_write(p, va);
}

bool probe_fixup(struct proc *p, uint32_t err)
{
	static const struct {
		const char *insn, *ret;
	} probes[] = {
		{ uprobe_load_insn, uprobe_load_ret },
		{ uprobe_store_insn, uprobe_store_ret },
	};

	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (p->u.tf.rip == (uintptr_t)probes[i].insn) {
			p->u.tf.rip = (uintptr_t)probes[i].ret;
			uctx_set_ret(&p->u, PROBE_FAULT | err);
			st.faults_probe++;
			return true;
		}
	}
	return false;
}
