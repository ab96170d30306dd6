/*
 * The hypercalls (see hypercall.h).
 */
#include "hypercall.h"

#include "console.h"
#include "cpu.h"
#include "vcpu.h"

#define HC_DONE    0u
#define HC_UNKNOWN 0xFFFFFFFFu
#define AUDIT_SHOWN 4u /* violations described in the log, at most */

/*
 * Run the engine's audit for the guest and say so on Umbra's console: the
 * guest's own output must stay the same natively and under Umbra, so a
 * test reads the verdict here ("umbra: audit: 0 violations ...").
 */
static uint32_t audit_for_guest(struct vcpu *v)
{
	struct umbra_audit_violation viol[AUDIT_SHOWN];
	uint32_t n = umbra_audit(v->mmu, viol, AUDIT_SHOWN);
	const struct umbra_stats *es = umbra_mmu_stats(v->mmu);

	log_info("audit: %u violations (%llu live shadow pages checked, %llu roots, after %llu exits)",
		 n,
		 (unsigned long long)es->gauge[UMBRA_GAUGE_pool_pages_in_use].value,
		 (unsigned long long)es->gauge[UMBRA_GAUGE_shadow_roots].value,
		 (unsigned long long)v->stats.exits);
	for (uint32_t i = 0; i < n && i < AUDIT_SHOWN; i++)
		log_error("audit: %s: kind %u sp %u level %u index %u gfn %#llx spte %#llx expected %#llx",
			  viol[i].what ? viol[i].what : "", viol[i].kind,
			  viol[i].sp, viol[i].level, viol[i].index,
			  (unsigned long long)viol[i].gfn,
			  (unsigned long long)viol[i].spte,
			  (unsigned long long)viol[i].expected);
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
