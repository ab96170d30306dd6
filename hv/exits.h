/*
 * #VMEXIT codes (AMD APM vol. 2, appendix C), their names, the dispatch
 * table, and the per-reason statistics.
 *
 * Every exit is counted under its reason with the TSC ticks Umbra spent
 * handling it (from #VMEXIT to the next VMRUN); the guest's own run time
 * is counted apart.  The report at the end of a run is a table and one
 * JSON line (exit_stats_print_*).
 */
#ifndef HV_EXITS_H
#define HV_EXITS_H

#include <stdbool.h>
#include <stdint.h>

#include "umbra/stats.h"

#define VMEXIT_CR_READ(n)   (0x00u + (n))
#define VMEXIT_CR_WRITE(n)  (0x10u + (n))
#define VMEXIT_EXCEPTION(v) (0x40u + (v))
#define VMEXIT_INTR         0x60u
#define VMEXIT_NMI          0x61u
#define VMEXIT_SMI          0x62u
#define VMEXIT_INIT         0x63u
#define VMEXIT_VINTR        0x64u
#define VMEXIT_CR0_SEL_WRITE 0x65u
#define VMEXIT_RDTSC        0x6Eu
#define VMEXIT_CPUID        0x72u
#define VMEXIT_RSM          0x73u
#define VMEXIT_IRET         0x74u
#define VMEXIT_SWINT        0x75u
#define VMEXIT_INVD         0x76u
#define VMEXIT_PAUSE        0x77u
#define VMEXIT_HLT          0x78u
#define VMEXIT_INVLPG       0x79u
#define VMEXIT_INVLPGA      0x7Au
#define VMEXIT_IOIO         0x7Bu
#define VMEXIT_MSR          0x7Cu
#define VMEXIT_TASK_SWITCH  0x7Du
#define VMEXIT_FERR_FREEZE  0x7Eu
#define VMEXIT_SHUTDOWN     0x7Fu
#define VMEXIT_VMRUN        0x80u
#define VMEXIT_VMMCALL      0x81u
#define VMEXIT_VMLOAD       0x82u
#define VMEXIT_VMSAVE       0x83u
#define VMEXIT_STGI         0x84u
#define VMEXIT_CLGI         0x85u
#define VMEXIT_SKINIT       0x86u
#define VMEXIT_RDTSCP       0x87u
#define VMEXIT_ICEBP        0x88u
#define VMEXIT_WBINVD       0x89u
#define VMEXIT_MONITOR      0x8Au
#define VMEXIT_MWAIT        0x8Bu
#define VMEXIT_XSETBV       0x8Du
#define VMEXIT_INVPCID      0xA2u
#define VMEXIT_NPF          0x400u
/* VMRUN failed its consistency checks: written as 64-bit -1 (QEMU) or
 * 32-bit -1; compare the low 32 bits. */
#define VMEXIT_INVALID      0xFFFFFFFFu

/* Exit codes below this index the dispatch table and the statistics;
 * everything else (NPF, AVIC, INVALID) is counted as "other". */
#define EXIT_TABLE_SIZE 0xA3u
#define EXIT_STATS_OTHER EXIT_TABLE_SIZE

struct vcpu;
typedef void exit_handler_fn(struct vcpu *v);

/* The handler of an exit code, or NULL when Umbra has none. */
exit_handler_fn *exit_handler(uint64_t code);
/* "cpuid", "cr0_write", "exception_14_pf", ... or "unknown". */
const char *exit_name(uint64_t code);

/* The handlers, one file per family (exit_*.c). */
exit_handler_fn exit_cr_read, exit_cr_write, exit_invlpg, exit_invpcid;
exit_handler_fn exit_invalid_opcode;
exit_handler_fn exit_page_fault;
exit_handler_fn exit_ioio;
exit_handler_fn exit_msr;
exit_handler_fn exit_cpuid;
exit_handler_fn exit_hlt, exit_intr, exit_vmmcall, exit_svm_insn, exit_shutdown;
exit_handler_fn exit_invd, exit_task_switch;

/* ---- statistics ---- */

struct exit_counter {
	uint64_t count;
	uint64_t ticks; /* handling time, TSC */
	uint64_t max;
};

struct exit_stats {
	struct exit_counter reason[EXIT_TABLE_SIZE + 1]; /* + other */
	uint64_t guest_ticks;  /* time in the guest (VMRUN to #VMEXIT) */
	uint64_t exits;
	uint64_t start_tsc;
};

static inline unsigned exit_stats_index(uint64_t code)
{
	return code < EXIT_TABLE_SIZE ? (unsigned)code : EXIT_STATS_OTHER;
}

void exit_stats_reset(struct exit_stats *s, uint64_t now);
void exit_stats_print_table(const struct exit_stats *s, uint64_t now,
			    umbra_out_fn out, void *ctx);
void exit_stats_print_json(const struct exit_stats *s, uint64_t now,
			   umbra_out_fn out, void *ctx);

#endif
