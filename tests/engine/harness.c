#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umbra/x86.h"

/* Host memory layout: a first megabyte nobody maps, then the pool, then
 * guest RAM at GUEST_HPA_BASE so that no guest-physical address equals its
 * host address. */
#define POOL_HPA       0x100000ull
#define GUEST_HPA_BASE 0x4000000ull /* 64 MiB */
#define MAX_TRIES      8            /* #PF exits one access may take */
#define AUDIT_MAX      8

static struct hw *hw_of(void *ctx) { return ctx; }

static void *env_hpa_to_ptr(void *ctx, uint64_t hpa)
{
	struct hw *hw = hw_of(ctx);

	return hpa < hw->host.size ? hw->host.bytes + hpa : NULL;
}

static void *env_alloc_meta(void *ctx, size_t size)
{
	(void)ctx;
	return calloc(1, size);
}

static void env_free_meta(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	free(ptr);
}

static void env_flush_va(void *ctx, uint64_t va)
{
	(void)va;
	hw_of(ctx)->flush_va++;
}

static void env_flush_all(void *ctx)
{
	hw_of(ctx)->flush_all++;
}

/* The guest's own view of its memory: RAM at gpa 0; the rest reads as zero
 * (QEMU's unassigned memory), matching what the engine assumes. */
static bool guest_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	const struct hw *hw = ctx;

	*val = 0;
	if (gpa < hw->guest_size && size <= hw->guest_size - gpa)
		memcpy(val, hw->host.bytes + hw->guest_hpa + gpa, size);
	return true;
}

static bool guest_cmpxchg(void *ctx, uint64_t gpa, unsigned size,
			  uint64_t old, uint64_t new_val)
{
	(void)ctx; (void)gpa; (void)size; (void)old; (void)new_val;
	return false; /* the reference walk never commits */
}

static struct umbra_gmem guest_gmem(struct hw *hw)
{
	struct umbra_gmem g = {
		.read = guest_read, .cmpxchg = guest_cmpxchg, .ctx = hw,
	};
	return g;
}

static void die(const char *what, const struct hw *hw)
{
	fprintf(stderr, "harness: %s: %s\n", what,
		hw->mmu ? umbra_mmu_last_error(hw->mmu) : "(no engine)");
	abort();
}

void hw_init(struct hw *hw, unsigned guest_mb, uint32_t pool_pages)
{
	struct umbra_env env = {
		.ctx = hw, .hpa_to_ptr = env_hpa_to_ptr,
		.alloc_meta = env_alloc_meta, .free_meta = env_free_meta,
		.flush_tlb_va = env_flush_va, .flush_tlb_all = env_flush_all,
	};
	struct umbra_config cfg = {
		.pool_hpa = POOL_HPA, .pool_pages = pool_pages,
		.ref_extents = pool_pages * 8 > UMBRA_MIN_REF_EXTENTS
				       ? pool_pages * 8
				       : UMBRA_MIN_REF_EXTENTS,
		.caps = { .maxphyaddr = 40, .gbpages = true, .pse36 = true },
	};
	struct umbra_paging_regs off = { .cr0 = X86_CR0_PE };

	memset(hw, 0, sizeof(*hw));
	hw->guest_size = (uint64_t)guest_mb << 20;
	hw->guest_hpa = GUEST_HPA_BASE;
	if (POOL_HPA + (uint64_t)pool_pages * X86_PAGE_SIZE_4K > GUEST_HPA_BASE) {
		fprintf(stderr, "harness: pool too large for the layout\n");
		abort();
	}
	testmem_init(&hw->host, hw->guest_hpa + hw->guest_size, 0);
	hw->pool_hpa = POOL_HPA;
	hw->pool_pages = pool_pages;
	hw->caps = cfg.caps;
	hw->next_table_gpa = HW_TABLE_BASE;
	hw->audit_each = true;
	if (umbra_mmu_create(&hw->mmu, &env, &cfg) != UMBRA_OK)
		die("umbra_mmu_create", hw);
	if (umbra_slot_add(hw->mmu, 0, hw->guest_size, hw->guest_hpa,
			   UMBRA_SLOT_RAM) != UMBRA_OK)
		die("umbra_slot_add", hw);
	if (hw_set_paging(hw, &off, UMBRA_WROTE_ALL) != UMBRA_OK)
		die("hw_set_paging(paging off)", hw);
}

void hw_fini(struct hw *hw)
{
	umbra_mmu_destroy(hw->mmu);
	testmem_free(&hw->host);
}

uint64_t hw_gread(const struct hw *hw, uint64_t gpa, unsigned size)
{
	uint64_t val;

	guest_read((void *)hw, gpa, size, &val);
	return val;
}

void hw_gwrite_raw(struct hw *hw, uint64_t gpa, unsigned size, uint64_t val)
{
	if (gpa + size > hw->guest_size) {
		fprintf(stderr, "harness: raw write outside guest RAM\n");
		abort();
	}
	memcpy(hw->host.bytes + hw->guest_hpa + gpa, &val, size);
}

uint64_t hw_alloc_table(struct hw *hw)
{
	uint64_t gpa = hw->next_table_gpa;

	if (gpa + X86_PAGE_SIZE_4K > hw->guest_size) {
		fprintf(stderr, "harness: guest out of table pages\n");
		abort();
	}
	hw->next_table_gpa += X86_PAGE_SIZE_4K;
	memset(hw->host.bytes + hw->guest_hpa + gpa, 0, X86_PAGE_SIZE_4K);
	return gpa;
}

/* When a CPU (re)loads the PAE PDPTE registers, SDM 4.4.1: a CR3 write,
 * entering PAE paging, or a CR0/CR4 write changing PG, CD, NW, PAE, PGE,
 * PSE or SMEP.  Written here independently of the engine's own rule. */
static bool loads_pdptes(const struct umbra_paging_regs *old,
			 const struct umbra_paging_regs *new_regs,
			 unsigned wrote)
{
	const uint64_t cr0_bits = X86_CR0_PG | X86_CR0_CD | X86_CR0_NW;
	const uint64_t cr4_bits = X86_CR4_PAE | X86_CR4_PGE | X86_CR4_PSE |
				  X86_CR4_SMEP;

	return (wrote & UMBRA_WROTE_CR3) ||
	       umbra_paging_mode(old) != UMBRA_MODE_PAE ||
	       ((old->cr0 ^ new_regs->cr0) & cr0_bits) ||
	       ((old->cr4 ^ new_regs->cr4) & cr4_bits);
}

enum umbra_status hw_set_paging(struct hw *hw,
				const struct umbra_paging_regs *regs,
				unsigned wrote)
{
	enum umbra_status st = umbra_set_paging(hw->mmu, regs, wrote);
	struct umbra_gmem g = guest_gmem(hw);
	struct umbra_walker w;
	unsigned i;

	if (st != UMBRA_OK)
		return st;
	if (umbra_paging_mode(regs) == UMBRA_MODE_PAE &&
	    loads_pdptes(&hw->regs, regs, wrote)) {
		umbra_walk_init(&w, regs, &hw->caps, &g);
		for (i = 0; i < 4; i++)
			hw->pdpte[i] = w.pdpte[i];
	}
	hw->regs = *regs;
	return st;
}

/* The hardware walker: the shadow tables under the shadow registers, in
 * host memory, as the CPU walks them. */
static void shadow_walk(struct hw *hw, const struct umbra_access *acc,
			struct umbra_walk_result *res)
{
	struct umbra_shadow_regs sr;
	struct umbra_paging_regs regs;
	struct umbra_cpu_caps host_caps = {
		.maxphyaddr = 52, .gbpages = true, .pse36 = true,
	};
	struct umbra_gmem host = testmem_gmem(&hw->host);
	struct umbra_walker w;

	umbra_get_shadow_regs(hw->mmu, &sr);
	regs.cr0 = sr.cr0;
	regs.cr3 = sr.cr3;
	regs.cr4 = sr.cr4;
	regs.efer = sr.efer;
	regs.pkru = hw->regs.pkru; /* the guest's PKRU is live in hardware */
	if (umbra_walk_init(&w, &regs, &host_caps, &host) != UMBRA_LOAD_OK) {
		res->status = UMBRA_WALK_BADMEM;
		return;
	}
	umbra_walk(&w, acc, res);
}

static struct hw_result broken(struct hw *hw, struct hw_result r,
			       const char *why)
{
	snprintf(hw->last_problem, sizeof(hw->last_problem), "%s", why);
	r.outcome = HW_BROKEN;
	return r;
}

/* What an embedder does with UMBRA_PF_HANDLER: decode the instruction
 * (here: the access itself) and run the handler, or emulate the access
 * plainly against guest memory when no handler's range holds it. */
static struct hw_result handler_access(struct hw *hw,
				       const struct umbra_access *acc,
				       unsigned size, uint64_t value,
				       const struct umbra_pf_result *pf,
				       struct hw_result r)
{
	r.gpa = pf->gpa;
	if (pf->handler) {
		hw->handled++;
		if (umbra_handler_invoke(hw->mmu, pf->handler, pf->addr, size,
					 acc->kind, &value) != UMBRA_OK)
			return broken(hw, r, umbra_mmu_last_error(hw->mmu));
		r.outcome = HW_HANDLER;
		r.handler = pf->handler;
		r.addr = pf->addr;
		if (acc->kind != UMBRA_ACCESS_WRITE)
			r.value = value;
		return r;
	}
	hw->plain++;
	if (acc->kind == UMBRA_ACCESS_WRITE) {
		if (umbra_emulated_write(hw->mmu, pf->gpa, &value, size, 0) !=
		    UMBRA_OK)
			return broken(hw, r, umbra_mmu_last_error(hw->mmu));
	} else {
		r.value = hw_gread(hw, pf->gpa, size);
	}
	r.outcome = HW_OK;
	return r;
}

/* Run the access on the "hardware", taking faults into the engine. */
static struct hw_result run(struct hw *hw, const struct umbra_access *acc,
			    unsigned size, uint64_t value)
{
	struct hw_result r = { .outcome = HW_BROKEN };
	unsigned tries;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		struct umbra_walk_result sw;
		struct umbra_pf_result pf;
		struct umbra_fault f;

		shadow_walk(hw, acc, &sw);
		if (sw.status == UMBRA_WALK_GP || sw.status == UMBRA_WALK_SS) {
			r.outcome = HW_FAULT;
			r.vector = sw.status == UMBRA_WALK_SS ? X86_VEC_SS
							      : X86_VEC_GP;
			return r;
		}
		if (sw.status == UMBRA_WALK_OK) {
			if (sw.n_updates)
				return broken(hw, r, "the CPU would set A/D bits "
						     "in a shadow entry");
			if (sw.gpa < hw->guest_hpa ||
			    sw.gpa >= hw->guest_hpa + hw->guest_size)
				return broken(hw, r, "the shadow maps host memory "
						     "outside guest RAM");
			if (acc->kind == UMBRA_ACCESS_WRITE)
				testmem_write(&hw->host, sw.gpa, size, value);
			else
				r.value = testmem_read(&hw->host, sw.gpa, size);
			r.outcome = HW_OK;
			r.gpa = sw.gpa - hw->guest_hpa;
			return r;
		}
		if (sw.status != UMBRA_WALK_PF)
			return broken(hw, r, "the shadow walk read outside "
					     "host memory");
		r.hw_faults++;
		hw->hw_faults++;
		f.va = acc->va;
		f.error_code = sw.error_code;
		f.cpl = acc->cpl;
		f.ac = acc->ac;
		/* Like an embedder that sees EXITINTINFO for event delivery
		 * and decodes descriptor loads: it knows. */
		f.implicit = acc->implicit_supervisor;
		umbra_page_fault(hw->mmu, &f, &pf);
		switch (pf.action) {
		case UMBRA_PF_FIXED:
			continue;
		case UMBRA_PF_REFLECT:
			r.outcome = HW_FAULT;
			r.vector = pf.vector;
			r.error_code = pf.error_code;
			r.cr2 = pf.fault_addr;
			return r;
		case UMBRA_PF_EMULATE_WRITE:
			if (acc->kind != UMBRA_ACCESS_WRITE)
				return broken(hw, r, "emulation asked for a "
						     "non-write access");
			hw->emulated++;
			if (umbra_emulated_write(hw->mmu, pf.gpa, &value, size,
						 0) != UMBRA_OK)
				return broken(hw, r, umbra_mmu_last_error(hw->mmu));
			r.outcome = HW_OK;
			r.gpa = pf.gpa;
			return r;
		case UMBRA_PF_MMIO:
			r.outcome = HW_MMIO;
			r.gpa = pf.gpa;
			return r;
		case UMBRA_PF_HANDLER:
			return handler_access(hw, acc, size, value, &pf, r);
		default:
			return broken(hw, r, pf.message ? pf.message
							: "engine error");
		}
	}
	{
		struct umbra_walk_result sw;
		char why[400];
		int n;
		unsigned l;

		shadow_walk(hw, acc, &sw);
		n = snprintf(why, sizeof(why), "livelock: the engine keeps "
			     "fixing a fault the shadow still takes (kind %u "
			     "cpl %u ac %d implicit %d; shadow ec %#x at level "
			     "%u:", acc->kind, acc->cpl, acc->ac,
			     acc->implicit_supervisor, sw.error_code, sw.level);
		for (l = sw.top_level; l >= sw.level && l > 0 && n > 0 &&
				       (size_t)n < sizeof(why);
		     l--)
			n += snprintf(why + n, sizeof(why) - (size_t)n,
				      " %#llx",
				      (unsigned long long)sw.entry[l].val);
		return broken(hw, r, why);
	}
}

/* Did the access's own store land on one of the walk's entries?  Then the
 * A/D comparison is meaningless for that entry. */
static bool store_hits_entry(const struct umbra_access *acc, unsigned size,
			     const struct hw_result *r, uint64_t entry_gpa)
{
	return acc->kind == UMBRA_ACCESS_WRITE && r->gpa < entry_gpa + 8 &&
	       entry_gpa < r->gpa + size;
}

static struct hw_result compare(struct hw *hw, const struct umbra_access *acc,
				unsigned size,
				const struct umbra_walk_result *exp,
				struct hw_result r)
{
	char why[256];
	unsigned i;

	if (exp->status == UMBRA_WALK_OK) {
		if (r.outcome != HW_OK && r.outcome != HW_MMIO &&
		    r.outcome != HW_HANDLER) {
			snprintf(why, sizeof(why), "guest allows the access but "
				 "it faulted (vector %u ec %#x)", r.vector,
				 r.error_code);
			return broken(hw, r, why);
		}
		if (r.gpa != exp->gpa) {
			snprintf(why, sizeof(why), "translated to gpa %#llx, "
				 "guest says %#llx", (unsigned long long)r.gpa,
				 (unsigned long long)exp->gpa);
			return broken(hw, r, why);
		}
	} else if (exp->status == UMBRA_WALK_PF) {
		if (r.outcome != HW_FAULT || r.vector != X86_VEC_PF ||
		    r.error_code != exp->error_code || r.cr2 != exp->fault_addr) {
			snprintf(why, sizeof(why), "guest says #PF ec %#x cr2 "
				 "%#llx; got outcome %d vector %u ec %#x cr2 %#llx",
				 exp->error_code,
				 (unsigned long long)exp->fault_addr, r.outcome,
				 r.vector, r.error_code,
				 (unsigned long long)r.cr2);
			return broken(hw, r, why);
		}
	} else if (r.outcome != HW_FAULT) {
		return broken(hw, r, "guest says #GP/#SS but the access went on");
	}
	for (i = 0; i < exp->n_updates; i++) {
		const struct umbra_ad_update *u = &exp->update[i];
		uint64_t now = hw_gread(hw, u->gpa, u->size);

		if (store_hits_entry(acc, size, &r, u->gpa))
			continue;
		if (now != u->new_val) {
			snprintf(why, sizeof(why), "guest entry at %#llx (level "
				 "%u) is %#llx after the access, the CPU leaves "
				 "%#llx", (unsigned long long)u->gpa, u->level,
				 (unsigned long long)now,
				 (unsigned long long)u->new_val);
			return broken(hw, r, why);
		}
	}
	return r;
}

struct hw_result hw_access(struct hw *hw, const struct umbra_access *acc,
			   unsigned size, uint64_t value)
{
	struct umbra_walk_result exp;
	struct umbra_walker ref;
	struct umbra_gmem g = guest_gmem(hw);
	struct hw_result r;

	/* What a CPU running the guest natively does, computed first. */
	umbra_walk_init(&ref, &hw->regs, &hw->caps, &g);
	if (ref.mode == UMBRA_MODE_PAE) {
		/* Walks use the PDPTE registers, not memory. */
		unsigned i;

		for (i = 0; i < 4; i++)
			ref.pdpte[i] = hw->pdpte[i];
	}
	umbra_walk(&ref, acc, &exp);
	hw->accesses++;
	r = run(hw, acc, size, value);
	if (r.outcome == HW_BROKEN)
		return r;
	r = compare(hw, acc, size, &exp, r);
	if (r.outcome != HW_BROKEN && hw->audit_each && !hw_audit(hw))
		r.outcome = HW_BROKEN;
	return r;
}

struct hw_result hw_store(struct hw *hw, uint64_t va, unsigned size,
			  uint64_t value, uint8_t cpl)
{
	struct umbra_access acc = {
		.va = va, .kind = UMBRA_ACCESS_WRITE, .cpl = cpl,
	};
	return hw_access(hw, &acc, size, value);
}

bool hw_audit(struct hw *hw)
{
	struct umbra_audit_violation v[AUDIT_MAX];
	uint32_t n = umbra_audit(hw->mmu, v, AUDIT_MAX), i;
	size_t used = 0;

	if (n == 0)
		return true;
	used += (size_t)snprintf(hw->last_problem, sizeof(hw->last_problem),
				 "audit: %u violation(s)", n);
	for (i = 0; i < n && i < AUDIT_MAX && used < sizeof(hw->last_problem); i++)
		used += (size_t)snprintf(hw->last_problem + used,
					 sizeof(hw->last_problem) - used,
					 "; [%s] sp %u lvl %u idx %u gfn %#llx "
					 "spte %#llx exp %#llx",
					 v[i].what, v[i].sp, v[i].level,
					 v[i].index,
					 (unsigned long long)v[i].gfn,
					 (unsigned long long)v[i].spte,
					 (unsigned long long)v[i].expected);
	return false;
}
