/*
 * The exit dispatch table, exit names, and the exit statistics report.
 */
#include "exits.h"

#include "console.h"
#include "string.h"
#include "umbra/x86.h"

#define N16(prefix, suffix) \
	prefix "0" suffix, prefix "1" suffix, prefix "2" suffix, prefix "3" suffix, \
	prefix "4" suffix, prefix "5" suffix, prefix "6" suffix, prefix "7" suffix, \
	prefix "8" suffix, prefix "9" suffix, prefix "10" suffix, prefix "11" suffix, \
	prefix "12" suffix, prefix "13" suffix, prefix "14" suffix, prefix "15" suffix

static const char *const names[EXIT_TABLE_SIZE + 1] = {
	N16("cr", "_read"), N16("cr", "_write"),
	N16("dr", "_read"), N16("dr", "_write"),
	"exc_de", "exc_db", "exc_nmi", "exc_bp", "exc_of", "exc_br", "exc_ud",
	"exc_nm", "exc_df", "exc_9", "exc_ts", "exc_np", "exc_ss", "exc_gp",
	"exc_pf", "exc_15", "exc_mf", "exc_ac", "exc_mc", "exc_xm", "exc_ve",
	"exc_cp", "exc_22", "exc_23", "exc_24", "exc_25", "exc_26", "exc_27",
	"exc_hv", "exc_vc", "exc_sx", "exc_31",
	[VMEXIT_INTR] = "intr", [VMEXIT_NMI] = "nmi", [VMEXIT_SMI] = "smi",
	[VMEXIT_INIT] = "init", [VMEXIT_VINTR] = "vintr",
	[VMEXIT_CR0_SEL_WRITE] = "cr0_sel_write",
	[0x66] = "idtr_read", [0x67] = "gdtr_read", [0x68] = "ldtr_read",
	[0x69] = "tr_read", [0x6A] = "idtr_write", [0x6B] = "gdtr_write",
	[0x6C] = "ldtr_write", [0x6D] = "tr_write",
	[VMEXIT_RDTSC] = "rdtsc", [0x6F] = "rdpmc", [0x70] = "pushf",
	[0x71] = "popf", [VMEXIT_CPUID] = "cpuid", [VMEXIT_RSM] = "rsm",
	[VMEXIT_IRET] = "iret", [VMEXIT_SWINT] = "swint",
	[VMEXIT_INVD] = "invd", [VMEXIT_PAUSE] = "pause",
	[VMEXIT_HLT] = "hlt", [VMEXIT_INVLPG] = "invlpg",
	[VMEXIT_INVLPGA] = "invlpga", [VMEXIT_IOIO] = "ioio",
	[VMEXIT_MSR] = "msr", [VMEXIT_TASK_SWITCH] = "task_switch",
	[VMEXIT_FERR_FREEZE] = "ferr_freeze", [VMEXIT_SHUTDOWN] = "shutdown",
	[VMEXIT_VMRUN] = "vmrun", [VMEXIT_VMMCALL] = "vmmcall",
	[VMEXIT_VMLOAD] = "vmload", [VMEXIT_VMSAVE] = "vmsave",
	[VMEXIT_STGI] = "stgi", [VMEXIT_CLGI] = "clgi",
	[VMEXIT_SKINIT] = "skinit", [VMEXIT_RDTSCP] = "rdtscp",
	[VMEXIT_ICEBP] = "icebp", [VMEXIT_WBINVD] = "wbinvd",
	[VMEXIT_MONITOR] = "monitor", [VMEXIT_MWAIT] = "mwait",
	[0x8C] = "mwait_armed", [VMEXIT_XSETBV] = "xsetbv", [0x8E] = "rdpru",
	[0x8F] = "efer_write_trap", [VMEXIT_INVPCID] = "invpcid",
	[EXIT_STATS_OTHER] = "other",
};

const char *exit_name(uint64_t code)
{
	if ((uint32_t)code == VMEXIT_INVALID)
		return "invalid (VMRUN failed its checks)";
	if (code == VMEXIT_NPF)
		return "npf";
	if (code < EXIT_TABLE_SIZE && names[code])
		return names[code];
	return "unknown";
}

/*
 * What Umbra does for each exit it asks for (intercepts.c chooses which).
 * An exit with no entry ends the run with a report: either the CPU
 * reported something Umbra never asked for, or a handler is missing.
 */
static exit_handler_fn *const dispatch[EXIT_TABLE_SIZE] = {
	[VMEXIT_CR_READ(0)] = exit_cr_read,
	[VMEXIT_CR_READ(3)] = exit_cr_read,
	[VMEXIT_CR_READ(4)] = exit_cr_read,
	[VMEXIT_CR_WRITE(0)] = exit_cr_write,
	[VMEXIT_CR_WRITE(3)] = exit_cr_write,
	[VMEXIT_CR_WRITE(4)] = exit_cr_write,
	[VMEXIT_EXCEPTION(X86_VEC_UD)] = exit_invalid_opcode,
	[VMEXIT_EXCEPTION(X86_VEC_PF)] = exit_page_fault,
	[VMEXIT_CPUID] = exit_cpuid,
	[VMEXIT_INVD] = exit_invd,
	[VMEXIT_HLT] = exit_hlt,
	[VMEXIT_INTR] = exit_intr,
	[VMEXIT_INVLPG] = exit_invlpg,
	[VMEXIT_INVLPGA] = exit_svm_insn,
	[VMEXIT_INVPCID] = exit_invpcid,
	[VMEXIT_IOIO] = exit_ioio,
	[VMEXIT_MSR] = exit_msr,
	[VMEXIT_TASK_SWITCH] = exit_task_switch,
	[VMEXIT_SHUTDOWN] = exit_shutdown,
	[VMEXIT_VMRUN] = exit_svm_insn,
	[VMEXIT_VMMCALL] = exit_vmmcall,
	[VMEXIT_VMLOAD] = exit_svm_insn,
	[VMEXIT_VMSAVE] = exit_svm_insn,
	[VMEXIT_STGI] = exit_svm_insn,
	[VMEXIT_CLGI] = exit_svm_insn,
	[VMEXIT_SKINIT] = exit_svm_insn,
};

exit_handler_fn *exit_handler(uint64_t code)
{
	return code < EXIT_TABLE_SIZE ? dispatch[code] : NULL;
}

/* ---- statistics ---- */

void exit_stats_reset(struct exit_stats *s, uint64_t now)
{
	memset(s, 0, sizeof(*s));
	s->start_tsc = now;
}

static void out_str(umbra_out_fn out, void *ctx, const char *s)
{
	out(ctx, s, strlen(s));
}

#define LINE_MAX 160

void exit_stats_print_table(const struct exit_stats *s, uint64_t now,
			    umbra_out_fn out, void *ctx)
{
	char line[LINE_MAX];
	uint64_t handled = 0;

	out_str(out, ctx, "exit statistics (handling time in TSC ticks, #VMEXIT to VMRUN)\n");
	ksnprintf(line, sizeof(line), "  %-18s %12s %16s %12s %12s\n", "reason",
		  "count", "ticks", "average", "max");
	out_str(out, ctx, line);
	for (unsigned i = 0; i <= EXIT_TABLE_SIZE; i++) {
		const struct exit_counter *c = &s->reason[i];

		if (!c->count)
			continue;
		handled += c->ticks;
		ksnprintf(line, sizeof(line),
			  "  %-18s %12llu %16llu %12llu %12llu\n", names[i],
			  (unsigned long long)c->count,
			  (unsigned long long)c->ticks,
			  (unsigned long long)(c->ticks / c->count),
			  (unsigned long long)c->max);
		out_str(out, ctx, line);
	}
	ksnprintf(line, sizeof(line), "  %-18s %12llu %16llu   (in Umbra)\n",
		  "total", (unsigned long long)s->exits,
		  (unsigned long long)handled);
	out_str(out, ctx, line);
	ksnprintf(line, sizeof(line), "  %-18s %12s %16llu   (in the guest)\n",
		  "guest", "", (unsigned long long)s->guest_ticks);
	out_str(out, ctx, line);
	ksnprintf(line, sizeof(line),
		  "  %-18s %12s %16llu   (since the guest started)\n", "wall",
		  "", (unsigned long long)(now - s->start_tsc));
	out_str(out, ctx, line);
}

void exit_stats_print_json(const struct exit_stats *s, uint64_t now,
			   umbra_out_fn out, void *ctx)
{
	char buf[LINE_MAX];
	bool first = true;

	out_str(out, ctx, "{\"exits\":{");
	for (unsigned i = 0; i <= EXIT_TABLE_SIZE; i++) {
		const struct exit_counter *c = &s->reason[i];

		if (!c->count)
			continue;
		ksnprintf(buf, sizeof(buf),
			  "%s\"%s\":{\"count\":%llu,\"ticks\":%llu,\"max\":%llu}",
			  first ? "" : ",", names[i],
			  (unsigned long long)c->count,
			  (unsigned long long)c->ticks,
			  (unsigned long long)c->max);
		out_str(out, ctx, buf);
		first = false;
	}
	ksnprintf(buf, sizeof(buf),
		  "},\"total\":%llu,\"guest_ticks\":%llu,\"wall_ticks\":%llu}\n",
		  (unsigned long long)s->exits,
		  (unsigned long long)s->guest_ticks,
		  (unsigned long long)(now - s->start_tsc));
	out_str(out, ctx, buf);
}
