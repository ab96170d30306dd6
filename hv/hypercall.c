/*
 * The hypercalls (the interface: include/umbra/hypercall.h).
 */
#include "hypercall.h"

#include "console.h"
#include "cpu.h"
#include "vcpu.h"


/*
 * Run the engine's audit for the guest and say so on Umbra's console: the
 * guest's own output must stay the same natively and under Umbra, so a
 * test reads the verdict here ("umbra: audit: 0 violations ...").
 */
static uint32_t audit_for_guest(struct vcpu *v)
{
	uint32_t n = vcpu_audit(v);
	const struct umbra_stats *es = umbra_mmu_stats(v->mmu);

	log_info("audit: %u violations (%llu live shadow pages checked, %llu roots, after %llu exits)",
		 n,
		 (unsigned long long)es->gauge[UMBRA_GAUGE_pool_pages_in_use].value,
		 (unsigned long long)es->gauge[UMBRA_GAUGE_shadow_roots].value,
		 (unsigned long long)v->stats.exits);
	return n;
}

void hypercall(struct vcpu *v)
{
	uint64_t *g = v->gpr;
	uint32_t status = HC_DONE;

	if ((uint32_t)g[X86_RAX] != HYPERCALL_MAGIC) {
		vcpu_inject_ud(v);
		return;
	}
	switch ((uint32_t)g[X86_RBX]) {
	case HC_PROBE:
		g[X86_RBX] = HYPERCALL_VERSION;
		break;
	case HC_STATS_PRINT:
		vcpu_print_stats(v);
		break;
	case HC_STATS_RESET:
		exit_stats_reset(&v->stats, rdtsc());
		/* The engine's own counters live in the engine; a window
		 * starts from its current values (see umbra_stats_reset). */
		umbra_mmu_stats_reset(v->mmu);
		break;
	case HC_AUDIT:
		g[X86_RBX] = audit_for_guest(v);
		break;
	case HC_EXIT_COUNT:
		g[X86_RBX] = (uint32_t)v->stats.exits;
		g[X86_RCX] = (uint32_t)(v->stats.exits >> 32);
		break;
	default:
		status = HC_UNKNOWN;
		break;
	}
	g[X86_RAX] = status;
	vcpu_skip_insn(v);
}
