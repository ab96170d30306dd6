/*
 * The hypercalls (see hypercall.h).
 */
#include "hypercall.h"

#include "console.h"
#include "cpu.h"
#include "vcpu.h"

#define HC_DONE    0u
#define HC_UNKNOWN 0xFFFFFFFFu

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
		g[X86_RBX] = umbra_audit(v->mmu, NULL, 0);
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
