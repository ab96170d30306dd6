/*
 * The virtual CPU: VMCB setup, the run loop, and the helpers exit handlers
 * share (decoding at RIP, skipping, injecting, paging register writes,
 * reading guest memory, reports).
 */
#include "vcpu.h"

#include <stdarg.h>

#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "debug_exit.h"
#include "hostmap.h"
#include "intercepts.h"
#include "loader.h"
#include "panic.h"
#include "pmm.h"
#include "string.h"
#include "svm.h"
#include "umbra/stats.h"

#define GUEST_ASID   1
#define DR6_INIT     0xFFFF0FF0ull
#define DR7_INIT     0x400ull
#define PAGE_OFFSET_MASK (PAGE_SIZE - 1)

/* Exceptions whose delivery pushes an error code. */
#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_AC 17
#define VEC_CP 21
#define VEC_VC 29
#define VEC_SX 30

/* ---- setup ------------------------------------------------------------------ */

static void set_seg(struct vmcb_seg *dst, const struct loader_seg_reg *src)
{
	dst->selector = src->selector;
	dst->attrib = src->attrib;
	dst->limit = src->limit;
	dst->base = src->base;
}

void vcpu_init(struct vcpu *v, struct guest_memory *mem, struct umbra_mmu *mmu,
	       const struct loader_cpu_state *s)
{
	struct vmcb *vmcb;
	uint64_t pa = page_alloc_zeroed(1, PMM_NO_LIMIT);
	uint64_t host_pa = page_alloc_zeroed(1, PMM_NO_LIMIT);

	if (pa == PMM_NONE || host_pa == PMM_NONE)
		panic("no memory for the VMCB");
	memset(v, 0, sizeof(*v));
	v->vmcb_pa = pa;
	v->host_vmcb_pa = host_pa;
	v->vmcb = vmcb = phys_to_virt(pa);
	v->mem = mem;
	v->mmu = mmu;
	v->audit_every = hv_opt.audit_every;
	v->host_pke = (read_cr4() & X86_CR4_PKE) != 0;
	v->maxphyaddr = cpuid(CPUID_LEAF_ADDR_SIZES, 0).eax & CPUID_88_EAX_PHYS_BITS;

	intercepts_init(vmcb);
	vmcb->guest_asid = GUEST_ASID;
	vmcb->tlb_control = TLB_CONTROL_FLUSH_ALL;
	/* V_INTR_MASKING stays 0: physical interrupts reach the guest
	 * directly, masked by the guest's own RFLAGS.IF (pass-through). */
	vmcb->vintr = 0;

	set_seg(&vmcb->cs, &s->cs);
	set_seg(&vmcb->ds, &s->ds);
	set_seg(&vmcb->es, &s->es);
	set_seg(&vmcb->fs, &s->fs);
	set_seg(&vmcb->gs, &s->gs);
	set_seg(&vmcb->ss, &s->ss);
	set_seg(&vmcb->tr, &s->tr);
	set_seg(&vmcb->ldtr, &s->ldtr);
	vmcb->gdtr.base = s->gdtr_base;
	vmcb->gdtr.limit = s->gdtr_limit;
	vmcb->idtr.base = s->idtr_base;
	vmcb->idtr.limit = s->idtr_limit;
	vmcb->cpl = 0;
	vmcb->dr6 = s->dr6 ? s->dr6 : DR6_INIT;
	vmcb->dr7 = s->dr7 ? s->dr7 : DR7_INIT;
	vmcb->rflags = s->eflags | RFLAGS_RESERVED;
	vmcb->rip = s->eip;
	vmcb->g_pat = rdmsr(MSR_PAT);

	v->gpr[X86_RAX] = s->eax;
	v->gpr[X86_RBX] = s->ebx;
	v->gpr[X86_RCX] = s->ecx;
	v->gpr[X86_RDX] = s->edx;
	v->gpr[X86_RSI] = s->esi;
	v->gpr[X86_RDI] = s->edi;
	v->gpr[X86_RBP] = s->ebp;
	v->gpr[X86_RSP] = s->esp;

	v->cr = (struct umbra_paging_regs){
		.cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4, .efer = s->efer,
	};
	if (v->host_pke)
		v->cr.pkru = rdpkru();
	if (umbra_set_paging(mmu, &v->cr, UMBRA_WROTE_ALL) != UMBRA_OK)
		panic("the engine refuses the guest's initial paging registers: %s",
		      umbra_mmu_last_error(mmu));
	vcpu_load_shadow_regs(v);
}

void vcpu_load_shadow_regs(struct vcpu *v)
{
	struct umbra_shadow_regs s;

	umbra_get_shadow_regs(v->mmu, &s);
	v->vmcb->cr0 = s.cr0;
	v->vmcb->cr3 = s.cr3;
	v->vmcb->cr4 = s.cr4;
	/* VMRUN refuses a guest without EFER.SVME; the guest never sees it
	 * (RDMSR EFER is intercepted). */
	v->vmcb->efer = s.efer | EFER_SVME;
}

/* ---- the run loop ------------------------------------------------------------ */

uint32_t vcpu_audit(struct vcpu *v)
{
	struct umbra_audit_violation viol[VCPU_AUDIT_SHOWN];
	uint32_t n = umbra_audit(v->mmu, viol, VCPU_AUDIT_SHOWN);

	for (uint32_t i = 0; i < n && i < VCPU_AUDIT_SHOWN; i++)
		log_error("audit: %s: kind %u sp %u level %u index %u gfn %#llx spte %#llx expected %#llx",
			  viol[i].what ? viol[i].what : "", viol[i].kind,
			  viol[i].sp, viol[i].level, viol[i].index,
			  (unsigned long long)viol[i].gfn,
			  (unsigned long long)viol[i].spte,
			  (unsigned long long)viol[i].expected);
	return n;
}

static void audit_now(struct vcpu *v, const char *when)
{
	uint32_t n = vcpu_audit(v);

	if (n)
		panic("the engine's audit found %u violations (%s)", n, when);
}

/*
 * An event whose delivery the exit interrupted (EXITINTINFO) is delivered
 * again on the next VMRUN, unless a handler replaces it.  A software
 * interrupt (INT n, INT3, INTO) is not re-injected: RIP still points at the
 * instruction, which simply runs again (QEMU, like CPUs without next-RIP
 * save, would push the wrong return address for an injected one).
 */
static void requeue_interrupted_event(struct vcpu *v)
{
	uint64_t info = v->vmcb->exit_int_info;

	v->vmcb->event_inj = 0;
	if (!(info & EVENT_VALID))
		return;
	if ((info & EVENT_TYPE_MASK) == EVENT_TYPE_SOFT_INT)
		return;
	v->vmcb->event_inj = info;
}

void vcpu_run(struct vcpu *v)
{
	struct vmcb *vmcb = v->vmcb;

	exit_stats_reset(&v->stats, rdtsc());
	for (;;) {
		uint64_t t_entry, t_exit, ticks;
		exit_handler_fn *fn;
		unsigned idx;

		if (v->hlt_passthrough) {
			vmcb->intercept_misc1 &= ~INTERCEPT1_HLT;
			vmcb->intercept_misc1 |= INTERCEPT1_INTR;
		}
		vmcb->rax = v->gpr[X86_RAX];
		vmcb->rsp = v->gpr[X86_RSP];
		t_entry = rdtsc();
		svm_vmrun(v->vmcb_pa, v->gpr, v->host_vmcb_pa);
		t_exit = rdtsc();
		v->gpr[X86_RAX] = vmcb->rax;
		v->gpr[X86_RSP] = vmcb->rsp;
		vmcb->tlb_control = TLB_CONTROL_NOTHING;
		if (v->hlt_passthrough) {
			vmcb->intercept_misc1 |= INTERCEPT1_HLT;
			vmcb->intercept_misc1 &= ~INTERCEPT1_INTR;
			v->hlt_passthrough = false;
		}

		v->stats.exits++;
		v->stats.guest_ticks += t_exit - t_entry;
		v->last = (struct exit_record){
			.code = vmcb->exit_code, .info1 = vmcb->exit_info1,
			.info2 = vmcb->exit_info2,
			.int_info = vmcb->exit_int_info, .rip = vmcb->rip,
			.number = v->stats.exits,
		};
		log_trace("exit %llu: %s info1 %#llx info2 %#llx intinfo %#llx rip %#llx",
			  (unsigned long long)v->last.number,
			  exit_name(v->last.code),
			  (unsigned long long)v->last.info1,
			  (unsigned long long)v->last.info2,
			  (unsigned long long)v->last.int_info,
			  (unsigned long long)v->last.rip);
		requeue_interrupted_event(v);
		/* Counted now, so that an exit that ends the run is in the
		 * report; its handling time is added below. */
		idx = exit_stats_index(v->last.code);
		v->stats.reason[idx].count++;

		if ((uint32_t)vmcb->exit_code == VMEXIT_INVALID)
			vcpu_fatal(v, UMBRA_EXIT_PANIC,
				   "VMRUN refused the guest state (VMEXIT_INVALID)");
		fn = exit_handler(vmcb->exit_code);
		if (!fn)
			vcpu_fatal(v, UMBRA_EXIT_UNHANDLED,
				   "unhandled exit %#llx (%s)",
				   (unsigned long long)vmcb->exit_code,
				   exit_name(vmcb->exit_code));
		fn(v);

		if (v->audit_every && v->stats.exits % v->audit_every == 0)
			audit_now(v, "periodic");
		ticks = rdtsc() - t_exit;
		v->stats.reason[idx].ticks += ticks;
		if (ticks > v->stats.reason[idx].max)
			v->stats.reason[idx].max = ticks;
	}
}

/* ---- modes, guest memory, decoding ------------------------------------------ */

unsigned vcpu_code_mode(const struct vcpu *v)
{
	const struct vmcb *vmcb = v->vmcb;

	if ((vmcb->efer & X86_EFER_LMA) && (vmcb->cs.attrib & SEG_ATTR_L))
		return X86_MODE_64;
	return (vmcb->cs.attrib & SEG_ATTR_DB) ? X86_MODE_32 : X86_MODE_16;
}

unsigned vcpu_read_virt(struct vcpu *v, uint64_t va, void *buf, unsigned len,
			enum umbra_access_kind kind,
			struct umbra_walk_result *res)
{
	uint8_t *out = buf;
	unsigned done = 0;

	while (done < len) {
		struct umbra_access acc = {
			.va = va + done, .kind = (uint8_t)kind,
			.cpl = v->vmcb->cpl,
			.ac = (v->vmcb->rflags & X86_RFLAGS_AC) != 0,
		};
		unsigned chunk = PAGE_SIZE - (acc.va & PAGE_OFFSET_MASK);
		const void *src;

		if (!(v->vmcb->efer & X86_EFER_LMA))
			acc.va &= UINT32_MAX;
		if (chunk > len - done)
			chunk = len - done;
		umbra_translate(v->mmu, &acc, res);
		if (res->status != UMBRA_WALK_OK)
			break;
		src = guestmem_ptr(v->mem, res->gpa, chunk);
		if (!src)
			break;
		memcpy(out + done, src, chunk);
		done += chunk;
	}
	return done;
}

void vcpu_decode_at_rip(struct vcpu *v, struct x86_insn *insn)
{
	uint8_t code[X86_MAX_INSN_LEN];
	struct umbra_walk_result res;
	uint64_t la = v->vmcb->cs.base + v->vmcb->rip;
	unsigned got;
	int st;

	if (!vcpu_64bit(v))
		la &= UINT32_MAX;
	got = vcpu_read_virt(v, la, code, sizeof(code), UMBRA_ACCESS_FETCH,
			     &res);
	st = x86_decode(code, got, vcpu_code_mode(v), insn);
	if (st != X86_DECODE_OK) {
		char hex[3 * X86_MAX_INSN_LEN + 1];

		for (unsigned i = 0; i < got; i++)
			ksnprintf(hex + 3 * i, 4, "%02x ", code[i]);
		hex[got ? 3 * got - 1 : 0] = '\0';
		vcpu_fatal(v, UMBRA_EXIT_GUEST_ERROR,
			   "cannot decode the guest instruction at %#llx (%s; %u bytes readable: %s)",
			   (unsigned long long)la, x86_decode_status_name(st),
			   got, hex);
	}
}

void vcpu_skip(struct vcpu *v, unsigned len)
{
	uint64_t rip = v->vmcb->rip + len;

	if (!vcpu_64bit(v))
		rip &= UINT32_MAX;
	v->vmcb->rip = rip;
	v->vmcb->interrupt_shadow = 0;
}

void vcpu_skip_insn(struct vcpu *v)
{
	struct x86_insn insn;

	vcpu_decode_at_rip(v, &insn);
	vcpu_skip(v, insn.length);
}

/* ---- events ---------------------------------------------------------------------- */

static bool pushes_error_code(uint8_t vector)
{
	switch (vector) {
	case VEC_DF: case VEC_TS: case VEC_NP: case VEC_SS: case VEC_GP:
	case VEC_PF: case VEC_AC: case VEC_CP: case VEC_VC: case VEC_SX:
		return true;
	default:
		return false;
	}
}

/* SDM vol. 3 table 6-4: #DE, #TS, #NP, #SS, #GP are contributory. */
static bool contributory(uint8_t vector)
{
	return vector == VEC_DE || (vector >= VEC_TS && vector <= VEC_GP);
}

void vcpu_inject_exception(struct vcpu *v, uint8_t vector, bool has_error,
			   uint32_t error_code)
{
	uint64_t pending = v->vmcb->event_inj;

	if (has_error != pushes_error_code(vector))
		panic("injecting vector %u with%s an error code", vector,
		      has_error ? "" : "out");
	if ((pending & EVENT_VALID) &&
	    (pending & EVENT_TYPE_MASK) == EVENT_TYPE_EXCEPTION) {
		uint8_t first = pending & EVENT_VECTOR_MASK;

		/* SDM vol. 3 table 6-5: conditions for a double fault. */
		if (first == VEC_DF)
			vcpu_fatal(v, UMBRA_EXIT_SHUTDOWN,
				   "triple fault: vector %u while delivering #DF",
				   vector);
		if ((first == VEC_PF && (vector == VEC_PF || contributory(vector))) ||
		    (contributory(first) && contributory(vector))) {
			vector = VEC_DF;
			has_error = true;
			error_code = 0;
		}
	} else if (pending & EVENT_VALID) {
		log_warn("exception %u replaces an interrupted event %#llx",
			 vector, (unsigned long long)pending);
	}
	v->vmcb->event_inj = vector | EVENT_TYPE_EXCEPTION | EVENT_VALID |
			     (has_error ? EVENT_ERROR_VALID |
						  (uint64_t)error_code << EVENT_ERROR_SHIFT
					: 0);
}

/* ---- paging registers -------------------------------------------------------------- */

bool vcpu_try_set_paging(struct vcpu *v, const struct umbra_paging_regs *next,
			 unsigned wrote)
{
	enum umbra_status st = umbra_set_paging(v->mmu, next, wrote);

	if (st == UMBRA_ERR_GP) {
		log_debug("paging write refused (#GP): %s",
			  umbra_mmu_last_error(v->mmu));
		return false;
	}
	if (st != UMBRA_OK)
		vcpu_fatal(v, UMBRA_EXIT_GUEST_ERROR,
			   "the engine failed a paging register write: %s",
			   umbra_mmu_last_error(v->mmu));
	log_debug("paging: cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx (%s)",
		  (unsigned long long)next->cr0, (unsigned long long)next->cr3,
		  (unsigned long long)next->cr4, (unsigned long long)next->efer,
		  umbra_mode_name(umbra_paging_mode(next)));
	v->cr = *next;
	vcpu_load_shadow_regs(v);
	return true;
}

bool vcpu_set_paging(struct vcpu *v, const struct umbra_paging_regs *next,
		     unsigned wrote)
{
	if (vcpu_try_set_paging(v, next, wrote))
		return true;
	vcpu_inject_gp0(v);
	return false;
}

/* ---- reports ------------------------------------------------------------------------ */

static void print_seg(const char *name, const struct vmcb_seg *s)
{
	kprintf("umbra:   %-4s sel %04x attr %03x limit %08x base %016llx\n",
		name, s->selector, s->attrib, s->limit,
		(unsigned long long)s->base);
}

void vcpu_print_state(struct vcpu *v)
{
	const struct vmcb *m = v->vmcb;
	const uint64_t *g = v->gpr;
	uint8_t code[X86_MAX_INSN_LEN];
	struct umbra_walk_result res;
	unsigned got;

	kprintf("umbra: last exit #%llu: %s (code %#llx) info1 %#llx info2 %#llx exitintinfo %#llx\n",
		(unsigned long long)v->last.number, exit_name(v->last.code),
		(unsigned long long)v->last.code,
		(unsigned long long)v->last.info1,
		(unsigned long long)v->last.info2,
		(unsigned long long)v->last.int_info);
	kprintf("umbra: guest rip %016llx rflags %08llx cpl %u mode %u-bit, paging %s\n",
		(unsigned long long)m->rip, (unsigned long long)m->rflags,
		m->cpl, vcpu_code_mode(v),
		umbra_mode_name(umbra_paging_mode(&v->cr)));
	kprintf("umbra:   rax %016llx rbx %016llx rcx %016llx rdx %016llx\n",
		(unsigned long long)g[X86_RAX], (unsigned long long)g[X86_RBX],
		(unsigned long long)g[X86_RCX], (unsigned long long)g[X86_RDX]);
	kprintf("umbra:   rsi %016llx rdi %016llx rbp %016llx rsp %016llx\n",
		(unsigned long long)g[X86_RSI], (unsigned long long)g[X86_RDI],
		(unsigned long long)g[X86_RBP], (unsigned long long)g[X86_RSP]);
	kprintf("umbra:   r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n",
		(unsigned long long)g[X86_R8], (unsigned long long)g[X86_R9],
		(unsigned long long)g[X86_R10], (unsigned long long)g[X86_R11]);
	kprintf("umbra:   r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n",
		(unsigned long long)g[X86_R12], (unsigned long long)g[X86_R13],
		(unsigned long long)g[X86_R14], (unsigned long long)g[X86_R15]);
	kprintf("umbra:   guest's cr0 %llx cr3 %llx cr4 %llx efer %llx pkru %x; cr2 %llx\n",
		(unsigned long long)v->cr.cr0, (unsigned long long)v->cr.cr3,
		(unsigned long long)v->cr.cr4, (unsigned long long)v->cr.efer,
		v->cr.pkru, (unsigned long long)m->cr2);
	kprintf("umbra:   shadow  cr0 %llx cr3 %llx cr4 %llx efer %llx; event_inj %llx\n",
		(unsigned long long)m->cr0, (unsigned long long)m->cr3,
		(unsigned long long)m->cr4, (unsigned long long)m->efer,
		(unsigned long long)m->event_inj);
	print_seg("cs", &m->cs);
	print_seg("ss", &m->ss);
	print_seg("ds", &m->ds);
	print_seg("tr", &m->tr);
	kprintf("umbra:   gdtr %016llx/%x idtr %016llx/%x\n",
		(unsigned long long)m->gdtr.base, m->gdtr.limit,
		(unsigned long long)m->idtr.base, m->idtr.limit);
	got = vcpu_read_virt(v, (m->cs.base + m->rip) &
				     (vcpu_64bit(v) ? ~0ull : UINT32_MAX),
			     code, sizeof(code), UMBRA_ACCESS_FETCH, &res);
	kprintf("umbra:   code at rip:");
	for (unsigned i = 0; i < got; i++)
		kprintf(" %02x", code[i]);
	kprintf(got ? "\n" : " (not readable)\n");
}

/* An out function that starts every line with "umbra: ", so that Umbra's
 * report stays separable from the guest's output on a shared UART. */
struct prefixed {
	bool at_line_start;
};

static void prefixed_out(void *ctx, const char *s, size_t len)
{
	struct prefixed *p = ctx;
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (p->at_line_start) {
			console_write("umbra: ", 7);
			p->at_line_start = false;
		}
		if (s[i] == '\n') {
			console_write(s + start, i + 1 - start);
			start = i + 1;
			p->at_line_start = true;
		}
	}
	if (start < len) {
		if (p->at_line_start) {
			console_write("umbra: ", 7);
			p->at_line_start = false;
		}
		console_write(s + start, len - start);
	}
}

void vcpu_print_stats(struct vcpu *v)
{
	const struct umbra_stats *es = umbra_mmu_stats(v->mmu);
	struct prefixed p = { .at_line_start = true };
	uint64_t now = rdtsc();

	if (hv_opt.stats & STATS_TABLE) {
		exit_stats_print_table(&v->stats, now, prefixed_out, &p);
		umbra_stats_print_table(es, prefixed_out, &p);
	}
	if (hv_opt.stats & STATS_JSON) {
		prefixed_out(&p, "exits-json ", 11);
		exit_stats_print_json(&v->stats, now, prefixed_out, &p);
		prefixed_out(&p, "engine-json ", 12);
		umbra_stats_print_json(es, prefixed_out, &p);
	}
}

static void end_report(struct vcpu *v)
{
	struct umbra_audit_violation viol;
	uint32_t n = umbra_audit(v->mmu, &viol, 1);

	if (n)
		log_error("audit at exit: %u violations (first: %s)", n,
			  viol.what ? viol.what : "?");
	vcpu_print_stats(v);
}

void vcpu_fatal(struct vcpu *v, uint8_t code, const char *fmt, ...)
{
	va_list ap;

	kprintf("umbra: error: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	vcpu_print_state(v);
	end_report(v);
	kprintf("umbra: exiting with code %#x (QEMU status %d)\n", code,
		DEBUG_EXIT_STATUS(code));
	debug_exit(code);
}

void vcpu_guest_exit(struct vcpu *v, uint8_t code)
{
	log_info("guest exited with code %#x after %llu exits", code,
		 (unsigned long long)v->stats.exits);
	end_report(v);
	debug_exit(code);
}
