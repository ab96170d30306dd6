/*
 * The emulator's callbacks in the hypervisor (see vcpu_emulate.h).
 */
#include "vcpu_emulate.h"

#include "console.h"
#include "cpu.h"
#include "emulate.h"
#include "intercepts.h"
#include "string.h"
#include "vcpu.h"

#define VEC_DB          1
#define DR6_BS          UMBRA_BIT(14) /* single-step */
#define CR0_DEFINED (X86_CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | \
		     CR0_NE | X86_CR0_WP | CR0_AM | X86_CR0_NW | X86_CR0_CD | \
		     X86_CR0_PG)
#define PAGE_BYTES      4096u
#define MAX_ACCESS      16u   /* the emulator's largest access (CMPXCHG16B) */
/* A read of a guest-physical address with no memory behind it: QEMU
 * serves addresses no device claims from its "unassigned" region, whose
 * reads return 0 and whose writes vanish.  The engine's walker reads page
 * tables there as zero too (engine/slots.c).  (The VGA window, which
 * natively reads all-ones, is memory of its own: guestmem.c.) */
#define UNASSIGNED_BYTE 0x00
#define MMIO_WARN_LIMIT 8
/* With CR4.PCIDE: CR3 bits 11-0 are the PCID, and bit 63 of a value moved
 * to CR3 asks not to flush that PCID's translations (never stored). */
#define CR3_PCID_MASK   0xFFFull
#define CR3_NO_FLUSH    UMBRA_BIT(63)

/* What one call knows beyond the vCPU. */
struct emu_call {
	struct vcpu *v;
	const struct x86_insn *insn;
	struct x86_emu_ctx *ctx;
	char note[160]; /* why a callback refused */
};

/* ---- translation --------------------------------------------------------- */

static int fault_from_walk(const struct umbra_walk_result *res,
			   struct x86_fault *fault)
{
	*fault = (struct x86_fault){ .has_error_code = true };
	switch (res->status) {
	case UMBRA_WALK_PF:
		fault->vector = X86_EMU_VEC_PF;
		fault->error_code = res->error_code;
		fault->cr2 = res->fault_addr;
		return X86_EMU_FAULT;
	case UMBRA_WALK_SS:
		fault->vector = X86_EMU_VEC_SS;
		return X86_EMU_FAULT;
	default:
		fault->vector = X86_EMU_VEC_GP;
		return X86_EMU_FAULT;
	}
}

/* One page's part of an access: linear -> guest-physical. */
static int translate(struct emu_call *c, uint64_t la,
		     enum umbra_access_kind kind, uint64_t *gpa,
		     struct x86_fault *fault)
{
	struct vcpu *v = c->v;
	struct umbra_access acc = {
		.va = la, .kind = (uint8_t)kind, .cpl = v->vmcb->cpl,
		.ac = (v->vmcb->rflags & X86_RFLAGS_AC) != 0,
	};
	struct umbra_walk_result res;

	if (!(v->cr.efer & X86_EFER_LMA))
		acc.va &= UINT32_MAX;
	umbra_translate(v->mmu, &acc, &res);
	if (res.status == UMBRA_WALK_OK) {
		*gpa = res.gpa;
		return X86_EMU_DONE;
	}
	if (res.status == UMBRA_WALK_BADMEM) {
		ksnprintf(c->note, sizeof(c->note),
			  "a guest page-table entry for %#llx lies outside guest memory (gpa %#llx)",
			  (unsigned long long)la,
			  (unsigned long long)res.bad_gpa);
		return X86_EMU_UNSUPPORTED;
	}
	return fault_from_walk(&res, fault);
}

/* Split [la, la + size) at page boundaries: at most two pieces. */
struct pieces {
	unsigned n;
	uint64_t la[2], gpa[2];
	unsigned len[2];
};

static int translate_all(struct emu_call *c, uint64_t la, unsigned size,
			 enum umbra_access_kind kind, struct pieces *p,
			 struct x86_fault *fault)
{
	unsigned first = PAGE_BYTES - (unsigned)(la & (PAGE_BYTES - 1));
	int rc;

	if (size > MAX_ACCESS) {
		ksnprintf(c->note, sizeof(c->note), "a %u-byte access", size);
		return X86_EMU_UNSUPPORTED;
	}
	p->n = size > first ? 2 : 1;
	p->la[0] = la;
	p->len[0] = size > first ? first : size;
	p->la[1] = la + p->len[0];
	p->len[1] = size - p->len[0];
	for (unsigned i = 0; i < p->n; i++)
		if ((rc = translate(c, p->la[i], kind, &p->gpa[i], fault)))
			return rc;
	return X86_EMU_DONE;
}

static void mmio_warn(struct emu_call *c, const char *what, uint64_t gpa,
		      unsigned len)
{
	static unsigned warned;

	if (warned++ < MMIO_WARN_LIMIT)
		log_warn("%s of %u bytes at gpa %#llx (rip %#llx): no memory or device there",
			 what, len, (unsigned long long)gpa,
			 (unsigned long long)c->v->vmcb->rip);
}

/* ---- memory callbacks ----------------------------------------------------- */

static int mem_read(struct emu_call *c, uint64_t la, void *buf, unsigned size,
		    enum umbra_access_kind kind, struct x86_fault *fault)
{
	struct pieces p;
	uint8_t *out = buf;
	int rc;

	if ((rc = translate_all(c, la, size, kind, &p, fault)))
		return rc;
	for (unsigned i = 0; i < p.n; i++) {
		const void *src = guestmem_ptr(c->v->mem, p.gpa[i], p.len[i]);

		if (src) {
			memcpy(out, src, p.len[i]);
		} else {
			mmio_warn(c, "read", p.gpa[i], p.len[i]);
			memset(out, UNASSIGNED_BYTE, p.len[i]);
		}
		out += p.len[i];
	}
	return X86_EMU_DONE;
}

static int emu_read(void *opaque, uint64_t la, void *buf, unsigned size,
		    struct x86_fault *fault)
{
	return mem_read(opaque, la, buf, size, UMBRA_ACCESS_READ, fault);
}

static int emu_fetch(void *opaque, uint64_t la, void *buf, unsigned size,
		     struct x86_fault *fault)
{
	return mem_read(opaque, la, buf, size, UMBRA_ACCESS_FETCH, fault);
}

/* Is this write one step of a REP STOS/MOVS (a hint for the engine's
 * flood and fork detection)?  F2 repeats them just as F3 does. */
static unsigned write_flags(const struct x86_insn *in)
{
	bool rep = in->prefixes & (X86_PFX_REP | X86_PFX_REPNE);

	switch (in->mnemonic) {
	case X86_INSN_STOSB: case X86_INSN_STOSW: case X86_INSN_STOSD:
	case X86_INSN_STOSQ: case X86_INSN_MOVSB: case X86_INSN_MOVSW:
	case X86_INSN_MOVSD: case X86_INSN_MOVSQ:
		return rep ? UMBRA_WRITE_REP : 0;
	default:
		return 0;
	}
}

static int emu_write(void *opaque, uint64_t la, const void *buf,
		     unsigned size, struct x86_fault *fault)
{
	struct emu_call *c = opaque;
	const uint8_t *in = buf;
	const unsigned flags = write_flags(c->insn);
	struct pieces p;
	int rc;

	if ((rc = translate_all(c, la, size, UMBRA_ACCESS_WRITE, &p, fault)))
		return rc;
	for (unsigned i = 0; i < p.n; i++) {
		enum umbra_status st;
		bool monitored = false;

		if (!guestmem_wptr(c->v->mem, p.gpa[i], p.len[i])) {
			mmio_warn(c, "write", p.gpa[i], p.len[i]);
			in += p.len[i];
			continue;
		}
		/* Only a REP string instruction can stop early (below). */
		if (flags & UMBRA_WRITE_REP)
			monitored = umbra_frame_monitored(c->v->mmu, p.gpa[i]);
		st = umbra_emulated_write(c->v->mmu, p.gpa[i], in, p.len[i],
					  flags);
		if (st != UMBRA_OK) {
			ksnprintf(c->note, sizeof(c->note),
				  "the engine refused a write to gpa %#llx: %s",
				  (unsigned long long)p.gpa[i],
				  umbra_mmu_last_error(c->v->mmu));
			return X86_EMU_UNSUPPORTED;
		}
		/* The engine unshadowed the table this REP is overwriting
		 * (clear_page, memset on a recycled table): the guest's own
		 * stores no longer exit, so the CPU does the rest far faster
		 * than one emulated element at a time.  Only that change
		 * stops the REP: a write emulated for another reason (CR0.WP
		 * = 0 under SMEP/SMAP) would exit again at once. */
		if (monitored && !umbra_frame_monitored(c->v->mmu, p.gpa[i]))
			c->ctx->rep_stop = true;
		in += p.len[i];
	}
	return X86_EMU_DONE;
}

/* ---- ports ------------------------------------------------------------------ */

static int emu_io_in(void *opaque, uint16_t port, unsigned size,
		     uint32_t *value)
{
	(void)opaque;
	if (port == PORT_DEBUG_EXIT) {
		*value = 0;
		return X86_EMU_DONE;
	}
	switch (size) {
	case 1:
		*value = inb(port);
		break;
	case 2:
		__asm__ volatile("inw %1, %w0" : "=a"(*value) : "Nd"(port));
		*value &= 0xFFFF;
		break;
	default:
		__asm__ volatile("inl %1, %0" : "=a"(*value) : "Nd"(port));
		break;
	}
	return X86_EMU_DONE;
}

static int emu_io_out(void *opaque, uint16_t port, unsigned size,
		      uint32_t value)
{
	struct emu_call *c = opaque;

	if (port == PORT_DEBUG_EXIT)
		vcpu_guest_exit(c->v, (uint8_t)value);
	switch (size) {
	case 1:
		outb(port, (uint8_t)value);
		break;
	case 2:
		__asm__ volatile("outw %w0, %1" : : "a"(value), "Nd"(port));
		break;
	default:
		__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
		break;
	}
	return X86_EMU_DONE;
}

/* ---- control registers --------------------------------------------------------- */

static int gp0(struct x86_fault *fault)
{
	*fault = (struct x86_fault){ .vector = X86_EMU_VEC_GP,
				     .has_error_code = true };
	return X86_EMU_FAULT;
}

/* The CR4 bits the guest's CPUID allows (others raise #GP). */
static uint64_t cr4_allowed(void)
{
	static uint64_t allowed;

	if (!allowed) {
		struct cpuid_regs l1 = cpuid(CPUID_LEAF_FEATURES, 0);
		struct cpuid_regs l7 = cpuid(CPUID_LEAF_EXT_FEATURES, 0);

		allowed = CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | X86_CR4_PSE |
			  X86_CR4_PAE | CR4_MCE | X86_CR4_PGE | CR4_PCE |
			  CR4_OSFXSR | CR4_OSXMMEXCPT;
		if (l1.ecx & CPUID_1_ECX_XSAVE)
			allowed |= CR4_OSXSAVE;
		if (l7.ebx & CPUID_7_EBX_FSGSBASE)
			allowed |= CR4_FSGSBASE;
		if (l7.ebx & CPUID_7_EBX_SMEP)
			allowed |= X86_CR4_SMEP;
		if (l7.ebx & CPUID_7_EBX_SMAP)
			allowed |= X86_CR4_SMAP;
		if (l7.ecx & CPUID_7_ECX_UMIP)
			allowed |= CR4_UMIP;
		if (l7.ecx & CPUID_7_ECX_PKU)
			allowed |= X86_CR4_PKE;
		if (l7.ecx & CPUID_7_ECX_LA57)
			allowed |= X86_CR4_LA57;
		/* PCIDE is Umbra's own (the shadow never uses PCIDs), so
		 * the host need not have it.  CET stays out: CPUID hides it
		 * (exit_cpuid.c). */
		allowed |= X86_CR4_PCIDE;
	}
	return allowed;
}

static int guest_write_cr0(struct emu_call *c, uint64_t *value,
		     struct x86_fault *fault)
{
	struct vcpu *v = c->v;
	struct umbra_paging_regs next = v->cr;
	unsigned wrote = UMBRA_WROTE_CR0;
	uint64_t val = (*value & CR0_DEFINED) | CR0_ET;

	/* (The emulator has checked bits 63-32, PG without PE, NW without
	 * CD, clearing PG in 64-bit mode, long mode without PAE.) */
	if (!(val & X86_CR0_PE)) {
		ksnprintf(c->note, sizeof(c->note),
			  "the guest leaves protected mode (CR0.PE = 0): real mode is not supported");
		return X86_EMU_UNSUPPORTED;
	}
	if ((val & X86_CR0_PG) && !(v->cr.cr0 & X86_CR0_PG) &&
	    (v->cr.efer & X86_EFER_LME)) {
		/* Activating long mode (APM 14.6.1): not from a 64-bit CS. */
		if (v->vmcb->cs.attrib & SEG_ATTR_L)
			return gp0(fault);
		next.efer |= X86_EFER_LMA;
		wrote |= UMBRA_WROTE_EFER;
	}
	/* SDM MOV CR0: PG cannot be cleared while PCIDs are on. */
	if (!(val & X86_CR0_PG) && (v->cr.cr4 & X86_CR4_PCIDE))
		return gp0(fault);
	if (!(val & X86_CR0_PG) && (v->cr.efer & X86_EFER_LMA)) {
		next.efer &= ~X86_EFER_LMA; /* leaving long mode */
		wrote |= UMBRA_WROTE_EFER;
	}
	next.cr0 = val;
	if (!vcpu_try_set_paging(v, &next, wrote))
		return gp0(fault);
	*value = val;
	return X86_EMU_DONE;
}

static int emu_write_cr(void *opaque, unsigned cr, uint64_t *value,
			struct x86_fault *fault)
{
	struct emu_call *c = opaque;
	struct vcpu *v = c->v;
	struct umbra_paging_regs next = v->cr;
	const bool lma = v->cr.efer & X86_EFER_LMA;

	switch (cr) {
	case 0:
		return guest_write_cr0(c, value, fault);
	case 3:
		/* The no-flush bit: the engine flushes on every CR3 load
		 * anyway, which the architecture allows. */
		if (v->cr.cr4 & X86_CR4_PCIDE)
			*value &= ~CR3_NO_FLUSH;
		if (lma && (*value >> v->maxphyaddr))
			return gp0(fault);
		next.cr3 = *value;
		return vcpu_try_set_paging(v, &next, UMBRA_WROTE_CR3)
			       ? X86_EMU_DONE : gp0(fault);
	case 4:
		if ((*value & ~cr4_allowed()) ||
		    (lma && ((*value ^ v->cr.cr4) & X86_CR4_LA57)))
			return gp0(fault);
		/* PCIDE turns on only in long mode, with PCID 0 current. */
		if ((*value & ~v->cr.cr4 & X86_CR4_PCIDE) &&
		    (!lma || (v->cr.cr3 & CR3_PCID_MASK)))
			return gp0(fault);
		next.cr4 = *value;
		return vcpu_try_set_paging(v, &next, UMBRA_WROTE_CR4)
			       ? X86_EMU_DONE : gp0(fault);
	case 8:
		/* CR8 (TPR) is not intercepted: the guest owns the real one. */
		__asm__ volatile("mov %0, %%cr8" : : "r"(*value));
		return X86_EMU_DONE;
	default:
		ksnprintf(c->note, sizeof(c->note), "a write to CR%u", cr);
		return X86_EMU_UNSUPPORTED;
	}
}

static void emu_invlpg(void *opaque, uint64_t la)
{
	struct emu_call *c = opaque;

	umbra_invlpg(c->v->mmu, la);
}

/* The shadow runs without PCIDs, so every INVPCID drops at least what was
 * asked: one address from the TLB for type 0 (whatever its PCID), the
 * whole TLB for the others. */
static void emu_invpcid(void *opaque, unsigned type, uint64_t la)
{
	struct emu_call *c = opaque;

	if (type == X86_EMU_INVPCID_ADDRESS)
		umbra_invlpg(c->v->mmu, la);
	else
		umbra_flush_guest_tlb(c->v->mmu,
				      type == X86_EMU_INVPCID_ALL_GLOBAL);
}

static const struct x86_emu_ops ops = {
	.read = emu_read,
	.write = emu_write,
	.cmpxchg = NULL, /* one vCPU: read then write is atomic enough */
	.fetch = emu_fetch,
	.io_in = emu_io_in,
	.io_out = emu_io_out,
	.write_cr = emu_write_cr,
	.invlpg = emu_invlpg,
	.invpcid = emu_invpcid,
};

/* ---- one instruction ------------------------------------------------------------- */

static void seg_in(struct x86_segment *dst, const struct vmcb_seg *src)
{
	*dst = (struct x86_segment){
		.selector = src->selector, .attr = src->attrib,
		.limit = src->limit, .base = src->base,
	};
}

static void load_regs(const struct vcpu *v, struct x86_regs *r)
{
	const struct vmcb *m = v->vmcb;

	memcpy(r->gpr, v->gpr, sizeof(r->gpr));
	r->rip = m->rip;
	r->rflags = m->rflags;
	r->cr0 = v->cr.cr0;
	r->cr2 = m->cr2;
	r->cr3 = v->cr.cr3;
	r->cr4 = v->cr.cr4;
	r->cr8 = read_cr8(); /* not intercepted: the guest's TPR is live */
	r->efer = v->cr.efer;
	seg_in(&r->seg[X86_ES], &m->es);
	seg_in(&r->seg[X86_CS], &m->cs);
	seg_in(&r->seg[X86_SS], &m->ss);
	seg_in(&r->seg[X86_DS], &m->ds);
	seg_in(&r->seg[X86_FS], &m->fs);
	seg_in(&r->seg[X86_GS], &m->gs);
	r->cpl = m->cpl;
}

/* Registers the emulator may have changed: GPRs, RIP, RFLAGS.  (Control
 * registers went through emu_write_cr, which updated the vCPU.) */
static void store_regs(struct vcpu *v, const struct x86_regs *r)
{
	memcpy(v->gpr, r->gpr, sizeof(v->gpr));
	v->vmcb->rip = r->rip;
	v->vmcb->rflags = r->rflags;
}

static void inject_fault(struct vcpu *v, const struct x86_fault *f,
			 const char *message)
{
	log_debug("emulation raised vector %u error %#x (%s)", f->vector,
		  f->error_code, message);
	if (f->vector == X86_EMU_VEC_PF)
		v->vmcb->cr2 = f->cr2;
	vcpu_inject_exception(v, f->vector, f->has_error_code, f->error_code);
}

/* Emulate `insn`, decoded at RIP with outcome rc, and apply the result. */
static void emulate_decoded(struct vcpu *v, const char *why,
			    struct x86_regs *regs, struct x86_insn *insn,
			    struct x86_emu_ctx *ctx, enum x86_emu_result rc)
{
	struct emu_call *call = ctx->opaque;
	const bool single_step = regs->rflags & X86_FLAG_TF;

	if (rc == X86_EMU_DONE)
		rc = x86_emulate(insn, regs, &ops, ctx);
	switch (rc) {
	case X86_EMU_DONE:
		store_regs(v, regs);
		v->vmcb->interrupt_shadow = 0;
		if (single_step) {
			v->vmcb->dr6 |= DR6_BS;
			vcpu_inject_exception(v, VEC_DB, false, 0);
		}
		return;
	case X86_EMU_REP_PARTIAL:
		store_regs(v, regs);
		return;
	case X86_EMU_FAULT:
		store_regs(v, regs);
		inject_fault(v, &ctx->fault, ctx->message);
		return;
	default:
		vcpu_fatal(v, UMBRA_EXIT_UNHANDLED, "%s: cannot emulate: %s%s%s",
			   why, ctx->message, call->note[0] ? ": " : "",
			   call->note);
	}
}

/* No instruction's mnemonic: emulate_at_rip() takes whatever is at RIP. */
#define ANY_INSN X86_INSN_COUNT

/*
 * Decode the instruction at RIP and, unless `only` names another
 * instruction (an enum x86_mnemonic; ANY_INSN: any), emulate it and
 * apply the result.  False when it was another instruction.
 */
static bool emulate_at_rip(struct vcpu *v, const char *why, unsigned only)
{
	struct x86_regs regs;
	struct x86_insn insn;
	struct x86_emu_ctx ctx = {
		/* A REP string instruction stops at the end of the page that
		 * made it exit; the guest re-executes the rest natively. */
		.rep_page_chunks = true,
	};
	struct emu_call call = { .v = v, .insn = &insn, .ctx = &ctx };
	enum x86_emu_result rc;

	ctx.opaque = &call;
	load_regs(v, &regs);
	rc = x86_fetch_decode(&regs, &ops, &ctx, &insn);
	if (only != ANY_INSN &&
	    (rc != X86_EMU_DONE || insn.mnemonic != only))
		return false;
	emulate_decoded(v, why, &regs, &insn, &ctx, rc);
	return true;
}

void vcpu_emulate(struct vcpu *v, const char *why)
{
	emulate_at_rip(v, why, ANY_INSN);
}

bool vcpu_emulate_if(struct vcpu *v, unsigned mnemonic, const char *why)
{
	return emulate_at_rip(v, why, mnemonic);
}
