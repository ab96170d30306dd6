/*
 * The x86 instruction emulator (see emulate.h).
 *
 * Structure: an instruction's operands are first resolved to locations
 * (a register, or a checked linear address), then read, computed and
 * committed.  Memory writes of read-modify-write instructions go through
 * the cmpxchg callback when the instruction is atomic (LOCK, XCHG), so
 * that a concurrent change of guest memory makes the emulator recompute
 * rather than overwrite it.  Registers and flags are updated only after
 * every memory access of the instruction succeeded, so a fault leaves the
 * guest as the CPU would (string instructions commit per iteration).
 */
#include "emulate.h"

/* ---- messages (no libc: a tiny formatter) ------------------------------------ */

struct msg {
	char *buf;
	unsigned size, len;
};

static void msg_char(struct msg *m, char c)
{
	if (m->len + 1 < m->size) {
		m->buf[m->len++] = c;
		m->buf[m->len] = 0;
	}
}

static void msg_str(struct msg *m, const char *s)
{
	while (*s)
		msg_char(m, *s++);
}

static void msg_hex(struct msg *m, uint64_t v, unsigned min_digits)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	unsigned n = 0;
	do {
		tmp[n++] = digits[v & 15];
		v >>= 4;
	} while (v && n < 16);
	while (n < min_digits && n < 16)
		tmp[n++] = '0';
	while (n)
		msg_char(m, tmp[--n]);
}

/* "<what>: <mnemonic> at rip 0x...: bytes 0f 01 f8" */
static void describe(struct x86_emu_ctx *ctx, const struct x86_insn *in,
		     uint64_t rip, const char *what)
{
	struct msg m = { ctx->message, sizeof(ctx->message), 0 };
	ctx->message[0] = 0;
	msg_str(&m, what);
	msg_str(&m, ": ");
	msg_str(&m, x86_mnemonic_name(in->mnemonic));
	msg_str(&m, " at rip 0x");
	msg_hex(&m, rip, 1);
	msg_str(&m, ": bytes");
	for (unsigned i = 0; i < in->length && i < X86_MAX_INSN_LEN; i++) {
		msg_char(&m, ' ');
		msg_hex(&m, in->bytes[i], 2);
	}
}

/* ---- the emulation state -------------------------------------------------------- */

struct emu {
	const struct x86_insn *in;
	struct x86_regs *regs;
	const struct x86_emu_ops *ops;
	struct x86_emu_ctx *ctx;
	enum x86_cpu_mode mode;
	uint64_t next_rip;
};

static enum x86_emu_result unsupported(struct emu *e, const char *what)
{
	describe(e->ctx, e->in, e->regs->rip, what);
	return X86_EMU_UNSUPPORTED;
}

static enum x86_emu_result raise(struct emu *e, uint8_t vector,
				 bool has_error_code, uint32_t error_code,
				 const char *why)
{
	struct x86_fault *f = &e->ctx->fault;
	f->vector = vector;
	f->has_error_code = has_error_code;
	f->error_code = error_code;
	f->cr2 = 0;
	describe(e->ctx, e->in, e->regs->rip, why);
	return X86_EMU_FAULT;
}

static enum x86_emu_result raise_gp0(struct emu *e, const char *why)
{
	return raise(e, X86_EMU_VEC_GP, true, 0, why);
}

static enum x86_emu_result raise_ud(struct emu *e, const char *why)
{
	return raise(e, X86_EMU_VEC_UD, false, 0, why);
}

/* #SS(0) for the stack segment, #GP(0) for the others. */
static enum x86_emu_result raise_seg(struct emu *e, unsigned seg,
				     const char *why)
{
	return raise(e, seg == X86_SS ? X86_EMU_VEC_SS : X86_EMU_VEC_GP, true, 0,
		     why);
}

static uint64_t mask_of(unsigned size)
{
	return x86_size_mask(size);
}

static uint64_t sign_bit(unsigned size)
{
	return 1ull << (size * 8 - 1);
}

static int64_t sext(uint64_t v, unsigned size)
{
	if (size >= 8)
		return (int64_t)v;
	unsigned shift = 64 - size * 8;
	return (int64_t)(v << shift) >> shift;
}

static void copy_bytes(void *dst, const void *src, unsigned n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
}

/* Little-endian value <-> bytes (the host is little-endian x86 too, but
 * spelling it out keeps the emulator portable and UB-free). */
static void to_bytes(uint8_t *buf, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size && i < 8; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t from_bytes(const uint8_t *buf, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size && i < 8; i++)
		v |= (uint64_t)buf[i] << (8 * i);
	return v;
}

/* ---- registers ---------------------------------------------------------------------- */

/* Write `size` bytes of a GPR the way the CPU does: 8- and 16-bit writes
 * keep the other bits, 32-bit writes zero-extend, 64-bit writes replace. */
static void gpr_write(struct x86_regs *r, unsigned num, unsigned size,
		      uint64_t v)
{
	uint64_t *g = &r->gpr[num & 15];
	switch (size) {
	case 1: *g = (*g & ~0xFFull) | (v & 0xFF); break;
	case 2: *g = (*g & ~0xFFFFull) | (v & 0xFFFF); break;
	case 4: *g = v & 0xFFFFFFFFull; break;
	default: *g = v; break;
	}
}

static uint64_t gpr_read(const struct x86_regs *r, unsigned num, unsigned size)
{
	return r->gpr[num & 15] & mask_of(size);
}

/* ---- linear addresses ---------------------------------------------------------------- */

static bool canonical(const struct x86_regs *r, uint64_t la)
{
	unsigned bits = (r->cr4 & X86_EMU_CR4_LA57) ? 57 : 48;
	int64_t s = (int64_t)(la << (64 - bits)) >> (64 - bits);
	return (uint64_t)s == la;
}

static bool real_or_v86(const struct x86_regs *r)
{
	return !(r->cr0 & X86_EMU_CR0_PE) || (r->rflags & X86_FLAG_VM);
}

/* The segment checks of a data access (SDM vol. 3 5.3-5.5): usable,
 * the right type, inside the limit (expand-up or expand-down). */
static enum x86_emu_result check_segment(struct emu *e, unsigned seg,
					 uint64_t off, unsigned size, bool write)
{
	const struct x86_segment *s = &e->regs->seg[seg];
	bool real = real_or_v86(e->regs);
	bool expand_down = false;
	if (!real) {
		if (!(s->attr & X86_SEG_P))
			return raise_seg(e, seg, "unusable segment");
		if (!(s->attr & X86_SEG_S))
			return raise_seg(e, seg, "system segment as data");
		if (s->attr & 8) { /* code: never writable, readable if R */
			if (write || !(s->attr & 2))
				return raise_seg(e, seg, "code segment access");
		} else {
			if (write && !(s->attr & 2))
				return raise_seg(e, seg, "read-only segment");
			expand_down = s->attr & 4;
		}
	}
	uint64_t last = off + size - 1;
	if (!expand_down) {
		if (off > s->limit || last > s->limit)
			return raise_seg(e, seg, "segment limit");
	} else {
		uint64_t upper = (s->attr & X86_SEG_DB) ? 0xFFFFFFFFull : 0xFFFFull;
		if (off <= s->limit || last > upper)
			return raise_seg(e, seg, "expand-down segment limit");
	}
	return X86_EMU_DONE;
}

/* #AC: CR0.AM, RFLAGS.AC, CPL 3 and a misaligned operand. */
static bool alignment_fault(const struct emu *e, uint64_t la, unsigned size)
{
	const struct x86_regs *r = e->regs;
	return (r->cr0 & X86_EMU_CR0_AM) && (r->rflags & X86_FLAG_AC) &&
	       r->cpl == 3 && size > 1 && (la & (size - 1));
}

/* segment:offset -> checked linear address, for an access of `size`. */
static enum x86_emu_result linear(struct emu *e, unsigned seg, uint64_t off,
				  unsigned size, bool write, uint64_t *la)
{
	const struct x86_regs *r = e->regs;
	enum x86_emu_result rc;
	if (e->mode == X86_MODE_64) {
		uint64_t base = (seg == X86_FS || seg == X86_GS) ? r->seg[seg].base : 0;
		*la = base + off;
		if (!canonical(r, *la) || !canonical(r, *la + size - 1))
			return raise_seg(e, seg, "non-canonical address");
	} else {
		if ((rc = check_segment(e, seg, off, size, write)))
			return rc;
		*la = (r->seg[seg].base + off) & 0xFFFFFFFFull;
	}
	if (alignment_fault(e, *la, size))
		return raise(e, X86_EMU_VEC_AC, true, 0, "alignment check");
	return X86_EMU_DONE;
}

/* ---- memory through the callbacks --------------------------------------------------- */

static enum x86_emu_result cb_result(struct emu *e, int rc, const char *what)
{
	if (rc == X86_EMU_DONE || rc == X86_EMU_FAULT)
		return (enum x86_emu_result)rc;
	if (!e->ctx->message[0])
		describe(e->ctx, e->in, e->regs->rip, what);
	return X86_EMU_UNSUPPORTED;
}

static enum x86_emu_result mem_read(struct emu *e, uint64_t la, void *buf,
				    unsigned size)
{
	if (!e->ops->read)
		return unsupported(e, "no memory read callback");
	return cb_result(e, e->ops->read(e->ctx->opaque, la, buf, size,
					 &e->ctx->fault), "memory read refused");
}

static enum x86_emu_result mem_write(struct emu *e, uint64_t la,
				     const void *buf, unsigned size)
{
	if (!e->ops->write)
		return unsupported(e, "no memory write callback");
	return cb_result(e, e->ops->write(e->ctx->opaque, la, buf, size,
					  &e->ctx->fault), "memory write refused");
}

/*
 * Compare-and-exchange `size` bytes at la: *expected holds the bytes the
 * caller read, desired the new ones.  Without a cmpxchg callback, a read
 * and a write (the CPU writes even when the comparison fails).
 */
static enum x86_emu_result mem_cmpxchg(struct emu *e, uint64_t la,
				       uint8_t *expected, const uint8_t *desired,
				       unsigned size, bool *swapped)
{
	if (e->ops->cmpxchg)
		return cb_result(e, e->ops->cmpxchg(e->ctx->opaque, la, expected,
						    desired, size, swapped,
						    &e->ctx->fault),
				 "cmpxchg refused");
	uint8_t cur[16];
	enum x86_emu_result rc = mem_read(e, la, cur, size);
	if (rc)
		return rc;
	*swapped = true;
	for (unsigned i = 0; i < size; i++)
		if (cur[i] != expected[i])
			*swapped = false;
	copy_bytes(expected, cur, size);
	return mem_write(e, la, *swapped ? desired : cur, size);
}

/* ---- operand locations ---------------------------------------------------------------- */

struct loc {
	bool mem;
	uint8_t size;
	/* register */
	uint8_t cls, num;
	/* memory */
	uint64_t la;
};

/* Resolve a register or memory operand; memory gets its linear address,
 * checked for a read (or a write, which implies read for data). */
static enum x86_emu_result resolve(struct emu *e, const struct x86_operand *op,
				   bool write, struct loc *l)
{
	l->size = op->size;
	if (op->kind == X86_OP_REG) {
		l->mem = false;
		l->cls = op->reg.cls;
		l->num = op->reg.num;
		return X86_EMU_DONE;
	}
	if (op->kind != X86_OP_MEM)
		return unsupported(e, "operand is not a location");
	l->mem = true;
	uint64_t ea = x86_operand_address(e->in, &op->mem, e->regs->gpr,
					  e->next_rip);
	return linear(e, op->mem.seg, ea, op->size, write, &l->la);
}

static uint64_t reg_value(const struct x86_regs *r, const struct loc *l)
{
	switch (l->cls) {
	case X86_RC_GPR:
		return gpr_read(r, l->num, l->size);
	case X86_RC_GPR8H:
		return (r->gpr[l->num & 3] >> 8) & 0xFF;
	case X86_RC_SEG:
		return r->seg[l->num % 6].selector;
	}
	return 0;
}

static void reg_store(struct x86_regs *r, const struct loc *l, uint64_t v)
{
	if (l->cls == X86_RC_GPR8H) {
		uint64_t *g = &r->gpr[l->num & 3];
		*g = (*g & ~0xFF00ull) | ((v & 0xFF) << 8);
	} else {
		gpr_write(r, l->num, l->size, v);
	}
}

static enum x86_emu_result loc_read(struct emu *e, const struct loc *l,
				    uint64_t *v)
{
	if (!l->mem) {
		*v = reg_value(e->regs, l);
		return X86_EMU_DONE;
	}
	uint8_t buf[8];
	enum x86_emu_result rc = mem_read(e, l->la, buf, l->size);
	if (rc)
		return rc;
	*v = from_bytes(buf, l->size);
	return X86_EMU_DONE;
}

/* Read an operand of any kind (immediates included). */
static enum x86_emu_result operand_read(struct emu *e,
					const struct x86_operand *op,
					uint64_t *v)
{
	if (op->kind == X86_OP_IMM) {
		*v = op->imm & mask_of(op->size);
		return X86_EMU_DONE;
	}
	struct loc l;
	enum x86_emu_result rc = resolve(e, op, false, &l);
	if (rc)
		return rc;
	return loc_read(e, &l, v);
}

/*
 * Commit the new value of a read-modify-write destination.  Registers
 * simply take it; memory takes it through cmpxchg when `atomic` (and
 * *swapped says whether memory still held `old`), through a write
 * otherwise.  The caller retries when !*swapped.
 */
static enum x86_emu_result loc_commit(struct emu *e, const struct loc *l,
				      uint64_t old, uint64_t v, bool atomic,
				      bool *swapped)
{
	*swapped = true;
	if (!l->mem) {
		reg_store(e->regs, l, v);
		return X86_EMU_DONE;
	}
	uint8_t nb[8];
	to_bytes(nb, v, l->size);
	if (!atomic)
		return mem_write(e, l->la, nb, l->size);
	uint8_t ob[8];
	to_bytes(ob, old, l->size);
	return mem_cmpxchg(e, l->la, ob, nb, l->size, swapped);
}

/* Plain write of a destination. */
static enum x86_emu_result loc_write(struct emu *e, const struct loc *l,
				     uint64_t v)
{
	bool swapped;
	return loc_commit(e, l, 0, v, false, &swapped);
}

/* How often an atomic update is retried while memory keeps changing. */
#define RMW_RETRIES 1000

/* ---- flags ------------------------------------------------------------------------------- */

/* PF: set when the low byte of the result has an even number of ones. */
static uint64_t parity_flag(uint64_t r)
{
	unsigned b = (unsigned)(r & 0xFF);
	b ^= b >> 4;
	b ^= b >> 2;
	b ^= b >> 1;
	return (b & 1) ? 0 : X86_FLAG_PF;
}

/* ZF, SF, PF of a result of `size` bytes. */
static uint64_t flags_szp(uint64_t r, unsigned size)
{
	uint64_t f = parity_flag(r);
	r &= mask_of(size);
	if (r == 0)
		f |= X86_FLAG_ZF;
	if (r & sign_bit(size))
		f |= X86_FLAG_SF;
	return f;
}

/*
 * a + b + carry = r.  The carry out of the top bit is the majority of a,
 * b and NOT r at that bit; the auxiliary carry is bit 4 of a ^ b ^ r (the
 * carry into bit 4); overflow is both inputs having one sign and the
 * result the other.
 */
static uint64_t flags_add(uint64_t a, uint64_t b, uint64_t r, unsigned size)
{
	uint64_t top = sign_bit(size);
	uint64_t f = flags_szp(r, size);
	if (((a & b) | ((a | b) & ~r)) & top)
		f |= X86_FLAG_CF;
	if ((a ^ b ^ r) & 0x10)
		f |= X86_FLAG_AF;
	if ((a ^ r) & (b ^ r) & top)
		f |= X86_FLAG_OF;
	return f;
}

/* a - b - borrow = r: the borrow out of the top bit, the borrow into bit 4,
 * and overflow when a and b differ in sign and r's sign differs from a's. */
static uint64_t flags_sub(uint64_t a, uint64_t b, uint64_t r, unsigned size)
{
	uint64_t top = sign_bit(size);
	uint64_t f = flags_szp(r, size);
	if (((~a & b) | ((~a | b) & r)) & top)
		f |= X86_FLAG_CF;
	if ((a ^ b ^ r) & 0x10)
		f |= X86_FLAG_AF;
	if ((a ^ b) & (a ^ r) & top)
		f |= X86_FLAG_OF;
	return f;
}

/* AND, OR, XOR, TEST: CF = OF = 0, AF cleared (undefined in the manuals,
 * cleared by the CPUs), ZF SF PF from the result. */
static uint64_t flags_logic(uint64_t r, unsigned size)
{
	return flags_szp(r, size);
}

static void set_flags(struct x86_regs *r, uint64_t which, uint64_t values)
{
	r->rflags = (r->rflags & ~which) | (values & which);
}

/* ---- ALU operations ----------------------------------------------------------------------- */

struct alu_result {
	uint64_t value;
	uint64_t flags;     /* new values of `affected` */
	uint64_t affected;  /* which flags change */
	bool write;         /* CMP and TEST do not write */
};

static struct alu_result alu(uint8_t mnemonic, uint64_t a, uint64_t b,
			     unsigned size, uint64_t rflags)
{
	struct alu_result res = { .affected = X86_FLAGS_ARITH, .write = true };
	uint64_t m = mask_of(size);
	uint64_t cf = rflags & X86_FLAG_CF;
	a &= m;
	b &= m;
	switch (mnemonic) {
	case X86_INSN_ADD:
		res.value = (a + b) & m;
		res.flags = flags_add(a, b, res.value, size);
		break;
	case X86_INSN_ADC:
		res.value = (a + b + cf) & m;
		res.flags = flags_add(a, b, res.value, size);
		break;
	case X86_INSN_SUB:
	case X86_INSN_CMP:
		res.value = (a - b) & m;
		res.flags = flags_sub(a, b, res.value, size);
		res.write = mnemonic == X86_INSN_SUB;
		break;
	case X86_INSN_SBB:
		res.value = (a - b - cf) & m;
		res.flags = flags_sub(a, b, res.value, size);
		break;
	case X86_INSN_AND:
	case X86_INSN_TEST:
		res.value = a & b;
		res.flags = flags_logic(res.value, size);
		res.write = mnemonic == X86_INSN_AND;
		break;
	case X86_INSN_OR:
		res.value = a | b;
		res.flags = flags_logic(res.value, size);
		break;
	case X86_INSN_XOR:
		res.value = a ^ b;
		res.flags = flags_logic(res.value, size);
		break;
	case X86_INSN_INC: /* CF is kept */
		res.value = (a + 1) & m;
		res.flags = flags_add(a, 1, res.value, size);
		res.affected &= ~(uint64_t)X86_FLAG_CF;
		break;
	case X86_INSN_DEC:
		res.value = (a - 1) & m;
		res.flags = flags_sub(a, 1, res.value, size);
		res.affected &= ~(uint64_t)X86_FLAG_CF;
		break;
	case X86_INSN_NEG: /* 0 - a; CF = (a != 0) */
		res.value = (0 - a) & m;
		res.flags = flags_sub(0, a, res.value, size);
		break;
	case X86_INSN_NOT:
		res.value = ~a & m;
		res.affected = 0;
		break;
	}
	return res;
}

/* LOCK applies only to these read-modify-write instructions with a
 * memory destination (the decoder already refuses the others). */
static bool lockable(const struct x86_insn *in)
{
	switch (in->mnemonic) {
	case X86_INSN_ADD: case X86_INSN_OR: case X86_INSN_ADC: case X86_INSN_SBB:
	case X86_INSN_AND: case X86_INSN_SUB: case X86_INSN_XOR:
	case X86_INSN_INC: case X86_INSN_DEC: case X86_INSN_NOT: case X86_INSN_NEG:
	case X86_INSN_XCHG: case X86_INSN_XADD: case X86_INSN_CMPXCHG:
	case X86_INSN_CMPXCHG8B: case X86_INSN_CMPXCHG16B:
	case X86_INSN_BTS: case X86_INSN_BTR: case X86_INSN_BTC:
		return in->n_operands > 0 && in->op[0].kind == X86_OP_MEM;
	}
	return false;
}

static bool is_locked(const struct x86_insn *in)
{
	return in->prefixes & X86_PFX_LOCK;
}

/* ADD OR ADC SBB AND SUB XOR CMP TEST INC DEC NOT NEG: dst op0, src op1. */
static enum x86_emu_result emulate_alu(struct emu *e)
{
	const struct x86_insn *in = e->in;
	struct loc dst;
	uint64_t src = 0, old;
	bool unary = in->n_operands == 1;
	bool atomic = is_locked(in);
	enum x86_emu_result rc;
	struct alu_result res;

	if (!unary && (rc = operand_read(e, &in->op[1], &src)))
		return rc;
	bool writes = in->mnemonic != X86_INSN_CMP && in->mnemonic != X86_INSN_TEST;
	if ((rc = resolve(e, &in->op[0], writes, &dst)))
		return rc;
	for (unsigned tries = 0;; tries++) {
		bool swapped = true;
		if ((rc = loc_read(e, &dst, &old)))
			return rc;
		res = alu(in->mnemonic, old, src, dst.size, e->regs->rflags);
		if (res.write &&
		    (rc = loc_commit(e, &dst, old, res.value, atomic, &swapped)))
			return rc;
		if (swapped)
			break;
		if (tries >= RMW_RETRIES)
			return unsupported(e, "memory keeps changing under a locked update");
	}
	set_flags(e->regs, res.affected, res.flags);
	return X86_EMU_DONE;
}

/* ---- moves ---------------------------------------------------------------------------------- */

static enum x86_emu_result emulate_mov(struct emu *e)
{
	const struct x86_insn *in = e->in;
	const struct x86_operand *d = &in->op[0], *s = &in->op[1];
	struct loc dst;
	uint64_t v;
	enum x86_emu_result rc;
	if (d->kind == X86_OP_REG && d->reg.cls == X86_RC_SEG)
		return unsupported(e, "MOV to a segment register is not emulated");
	if ((rc = operand_read(e, s, &v)))
		return rc;
	if ((rc = resolve(e, d, true, &dst)))
		return rc;
	/* MOV r32/r64, Sreg zero-extends the selector. */
	return loc_write(e, &dst, v);
}

/* MOVZX MOVSX MOVSXD: read op1 at its size, extend to op0's. */
static enum x86_emu_result emulate_movx(struct emu *e)
{
	const struct x86_insn *in = e->in;
	struct loc dst;
	uint64_t v;
	enum x86_emu_result rc;
	if ((rc = operand_read(e, &in->op[1], &v)))
		return rc;
	if (in->mnemonic != X86_INSN_MOVZX)
		v = (uint64_t)sext(v, in->op[1].size);
	if ((rc = resolve(e, &in->op[0], true, &dst)))
		return rc;
	return loc_write(e, &dst, v & mask_of(dst.size));
}

static enum x86_emu_result emulate_lea(struct emu *e)
{
	const struct x86_insn *in = e->in;
	if (in->op[1].kind != X86_OP_MEM)
		return raise_ud(e, "LEA with a register source");
	uint64_t ea = x86_operand_address(in, &in->op[1].mem, e->regs->gpr,
					  e->next_rip);
	gpr_write(e->regs, in->op[0].reg.num, in->op[0].size, ea);
	return X86_EMU_DONE;
}

/* XCHG: memory forms are atomic with or without LOCK. */
static enum x86_emu_result emulate_xchg(struct emu *e)
{
	const struct x86_insn *in = e->in;
	struct loc a, b;
	uint64_t va, vb;
	enum x86_emu_result rc;
	if ((rc = resolve(e, &in->op[0], true, &a)) ||
	    (rc = resolve(e, &in->op[1], true, &b)))
		return rc;
	if ((rc = loc_read(e, &b, &vb)))
		return rc;
	for (unsigned tries = 0;; tries++) {
		bool swapped;
		if ((rc = loc_read(e, &a, &va)))
			return rc;
		if ((rc = loc_commit(e, &a, va, vb, a.mem, &swapped)))
			return rc;
		if (swapped)
			break;
		if (tries >= RMW_RETRIES)
			return unsupported(e, "memory keeps changing under XCHG");
	}
	return loc_write(e, &b, va);
}

/* XADD: TEMP = DEST + SRC; SRC = DEST; DEST = TEMP. */
static enum x86_emu_result emulate_xadd(struct emu *e)
{
	const struct x86_insn *in = e->in;
	struct loc dst, src;
	uint64_t d, s;
	struct alu_result res;
	enum x86_emu_result rc;
	if ((rc = resolve(e, &in->op[0], true, &dst)) ||
	    (rc = resolve(e, &in->op[1], true, &src)) ||
	    (rc = loc_read(e, &src, &s)))
		return rc;
	for (unsigned tries = 0;; tries++) {
		bool swapped;
		if ((rc = loc_read(e, &dst, &d)))
			return rc;
		res = alu(X86_INSN_ADD, d, s, dst.size, e->regs->rflags);
		if (dst.mem) {
			if ((rc = loc_commit(e, &dst, d, res.value, is_locked(in),
					     &swapped)))
				return rc;
			if (!swapped) {
				if (tries >= RMW_RETRIES)
					return unsupported(e, "memory keeps changing under XADD");
				continue;
			}
		}
		break;
	}
	loc_write(e, &src, d);
	if (!dst.mem)
		loc_write(e, &dst, res.value);
	set_flags(e->regs, res.affected, res.flags);
	return X86_EMU_DONE;
}

/*
 * CMPXCHG: compare the accumulator with the destination; equal: ZF = 1
 * and DEST = SRC; else ZF = 0 and the accumulator = DEST.  The flags are
 * those of CMP accumulator, DEST.  A memory destination is always written
 * (with its own value on failure), so its access is a write either way;
 * a register destination is left alone on failure.
 */
static enum x86_emu_result emulate_cmpxchg(struct emu *e)
{
	const struct x86_insn *in = e->in;
	struct loc dst, src;
	uint64_t s, d;
	unsigned size = in->op[0].size;
	uint64_t acc = gpr_read(e->regs, X86_RAX, size);
	enum x86_emu_result rc;
	if ((rc = resolve(e, &in->op[0], true, &dst)) ||
	    (rc = resolve(e, &in->op[1], false, &src)) ||
	    (rc = loc_read(e, &src, &s)))
		return rc;
	bool equal;
	if (dst.mem) {
		uint8_t expected[8], desired[8];
		to_bytes(expected, acc, size);
		to_bytes(desired, s, size);
		if ((rc = mem_cmpxchg(e, dst.la, expected, desired, size, &equal)))
			return rc;
		d = from_bytes(expected, size);
	} else {
		/* The SDM's pseudo-code writes DEST back on failure, which for
		 * a 32-bit register would clear its upper half; the CPU does
		 * not write it (test_emulate_hardware checks this). */
		d = reg_value(e->regs, &dst);
		equal = d == acc;
		if (equal)
			reg_store(e->regs, &dst, s);
	}
	struct alu_result res = alu(X86_INSN_CMP, acc, d, size, e->regs->rflags);
	if (!equal)
		gpr_write(e->regs, X86_RAX, size, d);
	set_flags(e->regs, res.affected, res.flags);
	return X86_EMU_DONE;
}

/* CMPXCHG8B / CMPXCHG16B m: EDX:EAX (RDX:RAX) against memory; equal:
 * memory = ECX:EBX (RCX:RBX), ZF = 1; else EDX:EAX = memory, ZF = 0.
 * The other flags are kept. */
static enum x86_emu_result emulate_cmpxchg_wide(struct emu *e)
{
	const struct x86_insn *in = e->in;
	unsigned size = in->op[0].size;  /* 8 or 16 */
	unsigned half = size / 2;
	struct x86_regs *r = e->regs;
	struct loc dst;
	enum x86_emu_result rc;
	if ((rc = resolve(e, &in->op[0], true, &dst)))
		return rc;
	if (size == 16 && (dst.la & 15))
		return raise_gp0(e, "CMPXCHG16B operand not 16-byte aligned");
	uint8_t expected[16], desired[16];
	to_bytes(expected, r->gpr[X86_RAX], half);
	to_bytes(expected + half, r->gpr[X86_RDX], half);
	to_bytes(desired, r->gpr[X86_RBX], half);
	to_bytes(desired + half, r->gpr[X86_RCX], half);
	bool equal;
	if ((rc = mem_cmpxchg(e, dst.la, expected, desired, size, &equal)))
		return rc;
	if (!equal) {
		gpr_write(r, X86_RAX, half, from_bytes(expected, half));
		gpr_write(r, X86_RDX, half, from_bytes(expected + half, half));
	}
	set_flags(r, X86_FLAG_ZF, equal ? X86_FLAG_ZF : 0);
	return X86_EMU_DONE;
}

/*
 * BT BTS BTR BTC: CF = the selected bit, which BTS/BTR/BTC then set, clear
 * or complement.  An immediate offset is taken modulo the operand width.
 * A register offset into memory is a signed bit index from the operand's
 * address: the operand moves by (offset >> log2(width)) units of its size.
 */
static enum x86_emu_result emulate_bt(struct emu *e)
{
	const struct x86_insn *in = e->in;
	const struct x86_operand *base = &in->op[0];
	unsigned size = base->size, bits = size * 8;
	uint64_t offset;
	enum x86_emu_result rc;
	if ((rc = operand_read(e, &in->op[1], &offset)))
		return rc;
	struct x86_operand op = *base;
	if (in->op[1].kind != X86_OP_IMM && op.kind == X86_OP_MEM) {
		int64_t index = sext(offset, size);
		int64_t units = index >= 0 ? index / (int64_t)bits
					   : -((-(index + 1)) / (int64_t)bits) - 1;
		op.mem.disp = (int64_t)((uint64_t)op.mem.disp +
					(uint64_t)units * size);
	}
	unsigned bit = (unsigned)(offset & (bits - 1));
	bool writes = in->mnemonic != X86_INSN_BT;
	struct loc dst;
	if ((rc = resolve(e, &op, writes, &dst)))
		return rc;
	uint64_t old, v = 0;
	for (unsigned tries = 0;; tries++) {
		bool swapped = true;
		if ((rc = loc_read(e, &dst, &old)))
			return rc;
		switch (in->mnemonic) {
		case X86_INSN_BTS: v = old | (1ull << bit); break;
		case X86_INSN_BTR: v = old & ~(1ull << bit); break;
		case X86_INSN_BTC: v = old ^ (1ull << bit); break;
		}
		if (writes &&
		    (rc = loc_commit(e, &dst, old, v, is_locked(in), &swapped)))
			return rc;
		if (swapped)
			break;
		if (tries >= RMW_RETRIES)
			return unsupported(e, "memory keeps changing under a locked BT*");
	}
	set_flags(e->regs, X86_FLAG_CF, ((old >> bit) & 1) ? X86_FLAG_CF : 0);
	return X86_EMU_DONE;
}

/* ---- string instructions --------------------------------------------------------------- */

/* rSI, rDI, rCX are used and updated in the address size. */
static uint64_t areg(const struct emu *e, unsigned num)
{
	return gpr_read(e->regs, num, e->in->addrsize);
}

static void areg_set(struct emu *e, unsigned num, uint64_t v)
{
	gpr_write(e->regs, num, e->in->addrsize, v);
}

enum string_kind { STR_STOS, STR_LODS, STR_MOVS, STR_INS, STR_OUTS };

static enum string_kind string_kind(uint8_t m)
{
	if (m >= X86_INSN_STOSB && m <= X86_INSN_STOSQ)
		return STR_STOS;
	if (m >= X86_INSN_LODSB && m <= X86_INSN_LODSQ)
		return STR_LODS;
	if (m >= X86_INSN_MOVSB && m <= X86_INSN_MOVSQ)
		return STR_MOVS;
	if (m >= X86_INSN_INSB && m <= X86_INSN_INSD)
		return STR_INS;
	return STR_OUTS;
}

static bool io_ok(struct emu *e, bool out)
{
	return out ? e->ops->io_out != 0 : e->ops->io_in != 0;
}

/* One element of a string instruction at the current rSI/rDI. */
static enum x86_emu_result string_step(struct emu *e, enum string_kind k,
				       unsigned size, uint64_t src_la,
				       uint64_t dst_la)
{
	struct x86_regs *r = e->regs;
	uint8_t buf[8];
	uint32_t io;
	enum x86_emu_result rc;
	switch (k) {
	case STR_STOS:
		to_bytes(buf, r->gpr[X86_RAX], size);
		return mem_write(e, dst_la, buf, size);
	case STR_LODS:
		if ((rc = mem_read(e, src_la, buf, size)))
			return rc;
		gpr_write(r, X86_RAX, size, from_bytes(buf, size));
		return X86_EMU_DONE;
	case STR_MOVS:
		if ((rc = mem_read(e, src_la, buf, size)))
			return rc;
		return mem_write(e, dst_la, buf, size);
	case STR_INS:
		io = 0;
		if ((rc = cb_result(e, e->ops->io_in(e->ctx->opaque,
						      (uint16_t)r->gpr[X86_RDX],
						      size, &io), "port read refused")))
			return rc;
		to_bytes(buf, io, size);
		return mem_write(e, dst_la, buf, size);
	case STR_OUTS:
		if ((rc = mem_read(e, src_la, buf, size)))
			return rc;
		return cb_result(e, e->ops->io_out(e->ctx->opaque,
						   (uint16_t)r->gpr[X86_RDX], size,
						   (uint32_t)from_bytes(buf, size)),
				 "port write refused");
	}
	return X86_EMU_DONE;
}

/*
 * STOS LODS MOVS INS OUTS, with or without REP (F2 and F3 both mean REP
 * for these).  The source is seg:rSI (DS unless overridden), the
 * destination ES:rDI (never overridden); both move by the element size,
 * down when DF is set.  With REP the count is rCX in the address size and
 * each iteration is committed before the next (a fault keeps the work
 * done, as on the CPU).
 */
static enum x86_emu_result emulate_string(struct emu *e)
{
	const struct x86_insn *in = e->in;
	struct x86_regs *r = e->regs;
	struct x86_emu_ctx *ctx = e->ctx;
	enum string_kind k = string_kind(in->mnemonic);
	unsigned size = in->opsize;
	bool rep = in->prefixes & (X86_PFX_REP | X86_PFX_REPNE);
	bool uses_src = k == STR_LODS || k == STR_MOVS || k == STR_OUTS;
	bool uses_dst = k == STR_STOS || k == STR_MOVS || k == STR_INS;
	unsigned src_seg = X86_DS;
	uint64_t first_src_page = 0, first_dst_page = 0;
	enum x86_emu_result rc;

	for (unsigned i = 0; i < in->n_operands; i++)
		if (in->op[i].kind == X86_OP_MEM && in->op[i].mem.base == X86_RSI)
			src_seg = in->op[i].mem.seg;
	if ((k == STR_INS || k == STR_OUTS) && !io_ok(e, k == STR_OUTS))
		return unsupported(e, "no port I/O callback");

	uint64_t count = rep ? areg(e, X86_RCX) : 1;
	uint64_t step = (r->rflags & X86_FLAG_DF) ? (uint64_t)0 - size : size;
	for (uint64_t n = 0; n < count; n++) {
		uint64_t src_la = 0, dst_la = 0;
		if (uses_src &&
		    (rc = linear(e, src_seg, areg(e, X86_RSI), size, false, &src_la)))
			return rc;
		if (uses_dst &&
		    (rc = linear(e, X86_ES, areg(e, X86_RDI), size, true, &dst_la)))
			return rc;
		if (rep && n > 0) {
			bool page_change =
				(uses_src && (src_la >> 12) != first_src_page) ||
				(uses_dst && (dst_la >> 12) != first_dst_page);
			if ((ctx->rep_limit && n >= ctx->rep_limit) ||
			    (ctx->rep_page_chunks && page_change))
				return X86_EMU_REP_PARTIAL;
		}
		if (n == 0) {
			first_src_page = src_la >> 12;
			first_dst_page = dst_la >> 12;
		}
		if ((rc = string_step(e, k, size, src_la, dst_la)))
			return rc;
		if (uses_src)
			areg_set(e, X86_RSI, areg(e, X86_RSI) + step);
		if (uses_dst)
			areg_set(e, X86_RDI, areg(e, X86_RDI) + step);
		if (rep)
			areg_set(e, X86_RCX, areg(e, X86_RCX) - 1);
		ctx->rep_done++;
		if (rep && ctx->rep_stop && n + 1 < count)
			return X86_EMU_REP_PARTIAL;
	}
	return X86_EMU_DONE;
}

/* IN / OUT with the port in an imm8 or DX. */
static enum x86_emu_result emulate_inout(struct emu *e)
{
	const struct x86_insn *in = e->in;
	struct x86_regs *r = e->regs;
	bool out = in->mnemonic == X86_INSN_OUT;
	const struct x86_operand *port_op = &in->op[out ? 0 : 1];
	const struct x86_operand *acc = &in->op[out ? 1 : 0];
	uint16_t port = port_op->kind == X86_OP_IMM ? (uint16_t)port_op->imm
						    : (uint16_t)r->gpr[X86_RDX];
	if (!io_ok(e, out))
		return unsupported(e, "no port I/O callback");
	if (out)
		return cb_result(e, e->ops->io_out(e->ctx->opaque, port, acc->size,
						   (uint32_t)gpr_read(r, X86_RAX,
								      acc->size)),
				 "port write refused");
	uint32_t v = 0;
	enum x86_emu_result rc =
		cb_result(e, e->ops->io_in(e->ctx->opaque, port, acc->size, &v),
			  "port read refused");
	if (rc)
		return rc;
	gpr_write(r, X86_RAX, acc->size, v);
	return X86_EMU_DONE;
}

/* ---- system instructions ------------------------------------------------------------------ */

static bool privileged_ok(const struct emu *e)
{
	const struct x86_regs *r = e->regs;
	if (!(r->cr0 & X86_EMU_CR0_PE))
		return true;             /* real mode runs at CPL 0 */
	if (r->rflags & X86_FLAG_VM)
		return false;            /* virtual-8086 mode: CPL 3 */
	return r->cpl == 0;
}

static uint64_t *cr_slot(struct x86_regs *r, unsigned cr)
{
	switch (cr) {
	case 0: return &r->cr0;
	case 2: return &r->cr2;
	case 3: return &r->cr3;
	case 4: return &r->cr4;
	case 8: return &r->cr8;
	}
	return 0;
}

/* The architecture's fixed rules for a control register write (SDM vol. 3
 * 2.5, vol. 2 MOV CR; APM vol. 2 3.1). */
static enum x86_emu_result check_cr_write(struct emu *e, unsigned cr,
					  uint64_t v)
{
	const struct x86_regs *r = e->regs;
	bool lma = r->efer & X86_EMU_EFER_LMA;
	switch (cr) {
	case 0:
		if (v >> 32)
			return raise_gp0(e, "CR0 bits 63-32 set");
		if ((v & X86_EMU_CR0_PG) && !(v & X86_EMU_CR0_PE))
			return raise_gp0(e, "CR0.PG without CR0.PE");
		if ((v & X86_EMU_CR0_NW) && !(v & X86_EMU_CR0_CD))
			return raise_gp0(e, "CR0.NW without CR0.CD");
		if (e->mode == X86_MODE_64 && !(v & X86_EMU_CR0_PG))
			return raise_gp0(e, "clearing CR0.PG in 64-bit mode");
		if ((v & X86_EMU_CR0_PG) && !(r->cr0 & X86_EMU_CR0_PG) &&
		    (r->efer & X86_EMU_EFER_LME) && !(r->cr4 & X86_EMU_CR4_PAE))
			return raise_gp0(e, "long mode without CR4.PAE");
		break;
	case 4:
		if (v >> 32)
			return raise_gp0(e, "CR4 bits 63-32 set");
		if (lma && !(v & X86_EMU_CR4_PAE))
			return raise_gp0(e, "clearing CR4.PAE in long mode");
		break;
	case 8:
		if (v >> 4)
			return raise_gp0(e, "CR8 bits 63-4 set");
		break;
	}
	return X86_EMU_DONE;
}

/* Write a control register: checks, the hypervisor's callback, store. */
static enum x86_emu_result write_cr(struct emu *e, unsigned cr, uint64_t v)
{
	uint64_t *slot = cr_slot(e->regs, cr);
	enum x86_emu_result rc;
	if (!slot)
		return raise_ud(e, "no such control register");
	if ((rc = check_cr_write(e, cr, v)))
		return rc;
	if (!e->ops->write_cr)
		return unsupported(e, "no control register callback");
	if ((rc = cb_result(e, e->ops->write_cr(e->ctx->opaque, cr, &v,
						&e->ctx->fault),
			    "control register write refused")))
		return rc;
	/* With CR4.PCIDE, bit 63 of the source only says "do not flush"
	 * (the callback saw it); CR3 itself never holds it. */
	if (cr == 3 && (e->regs->cr4 & X86_EMU_CR4_PCIDE))
		v &= ~(1ull << 63);
	*slot = v;
	return X86_EMU_DONE;
}

/* MOV to/from CRn: op0 <- op1.  Outside 64-bit mode 32 bits move. */
static enum x86_emu_result emulate_mov_cr(struct emu *e)
{
	const struct x86_insn *in = e->in;
	const struct x86_operand *d = &in->op[0], *s = &in->op[1];
	if (!privileged_ok(e))
		return raise_gp0(e, "MOV CR outside CPL 0");
	if (d->reg.cls == X86_RC_CR) {
		uint64_t v = gpr_read(e->regs, s->reg.num, s->size);
		return write_cr(e, d->reg.num, v);
	}
	uint64_t *slot = cr_slot(e->regs, s->reg.num);
	if (!slot)
		return raise_ud(e, "no such control register");
	gpr_write(e->regs, d->reg.num, d->size, *slot);
	return X86_EMU_DONE;
}

/* CLTS: CR0.TS = 0. */
static enum x86_emu_result emulate_clts(struct emu *e)
{
	if (!privileged_ok(e))
		return raise_gp0(e, "CLTS outside CPL 0");
	return write_cr(e, 0, e->regs->cr0 & ~X86_EMU_CR0_TS);
}

/* LMSW: CR0 bits 3-0 (PE MP EM TS) from the source; PE can be set, never
 * cleared. */
static enum x86_emu_result emulate_lmsw(struct emu *e)
{
	uint64_t src;
	enum x86_emu_result rc;
	if (!privileged_ok(e))
		return raise_gp0(e, "LMSW outside CPL 0");
	if ((rc = operand_read(e, &e->in->op[0], &src)))
		return rc;
	uint64_t cr0 = e->regs->cr0;
	uint64_t v = (cr0 & ~0xEull) | (src & 0xE) | ((cr0 | src) & 1);
	return write_cr(e, 0, v);
}

/* SMSW: the low bits of CR0 (16 to memory, the operand size to a
 * register); #GP under CR4.UMIP outside CPL 0. */
static enum x86_emu_result emulate_smsw(struct emu *e)
{
	struct loc dst;
	enum x86_emu_result rc;
	if ((e->regs->cr4 & X86_EMU_CR4_UMIP) && !privileged_ok(e))
		return raise_gp0(e, "SMSW under UMIP");
	if ((rc = resolve(e, &e->in->op[0], true, &dst)))
		return rc;
	return loc_write(e, &dst, e->regs->cr0 & mask_of(dst.size));
}

static enum x86_emu_result emulate_invlpg(struct emu *e)
{
	const struct x86_insn *in = e->in;
	if (!privileged_ok(e))
		return raise_gp0(e, "INVLPG outside CPL 0");
	if (in->op[0].kind != X86_OP_MEM)
		return raise_ud(e, "INVLPG with a register operand");
	uint64_t ea = x86_operand_address(in, &in->op[0].mem, e->regs->gpr,
					  e->next_rip);
	uint64_t la;
	/* No access, so no segment or canonical check: a non-canonical
	 * address invalidates nothing. */
	if (e->mode == X86_MODE_64) {
		unsigned seg = in->op[0].mem.seg;
		la = ea + ((seg == X86_FS || seg == X86_GS) ? e->regs->seg[seg].base : 0);
	} else {
		la = (e->regs->seg[in->op[0].mem.seg].base + ea) & 0xFFFFFFFFull;
	}
	if (!e->ops->invlpg)
		return unsupported(e, "no INVLPG callback");
	e->ops->invlpg(e->ctx->opaque, la);
	return X86_EMU_DONE;
}

/* The INVPCID descriptor: the PCID in bits 11-0 of the low quadword (the
 * rest must be zero), the linear address in the high quadword. */
#define INVPCID_DESC_BYTES 16
#define INVPCID_PCID_MASK  0xFFFull

/*
 * INVPCID r, m128 (SDM vol. 2): #UD in virtual-8086 mode; #GP(0) outside
 * CPL 0, for a type above 3, descriptor bits 63-12 set, a non-zero PCID
 * for types 0 and 1 while CR4.PCIDE = 0, and a non-canonical address for
 * type 0.  The type is checked before the descriptor is read (a bad type
 * never faults on the memory operand).
 */
static enum x86_emu_result emulate_invpcid(struct emu *e)
{
	const struct x86_insn *in = e->in;
	const struct x86_regs *r = e->regs;
	uint8_t desc[INVPCID_DESC_BYTES];
	struct loc src;
	enum x86_emu_result rc;
	if (r->rflags & X86_FLAG_VM)
		return raise_ud(e, "INVPCID in virtual-8086 mode");
	if (!privileged_ok(e))
		return raise_gp0(e, "INVPCID outside CPL 0");
	uint64_t type = gpr_read(r, in->op[0].reg.num, in->op[0].size);
	if (type > X86_EMU_INVPCID_ALL)
		return raise_gp0(e, "INVPCID type above 3");
	if ((rc = resolve(e, &in->op[1], false, &src)) ||
	    (rc = mem_read(e, src.la, desc, sizeof(desc))))
		return rc;
	uint64_t pcid = from_bytes(desc, 8), la = from_bytes(desc + 8, 8);
	if (pcid & ~INVPCID_PCID_MASK)
		return raise_gp0(e, "INVPCID descriptor bits 63-12 set");
	if (type <= X86_EMU_INVPCID_SINGLE && pcid &&
	    !(r->cr4 & X86_EMU_CR4_PCIDE))
		return raise_gp0(e, "INVPCID of a PCID other than 0 with CR4.PCIDE clear");
	if (type == X86_EMU_INVPCID_ADDRESS && !canonical(r, la))
		return raise_gp0(e, "INVPCID of a non-canonical address");
	if (!e->ops->invpcid)
		return unsupported(e, "no INVPCID callback");
	e->ops->invpcid(e->ctx->opaque, (unsigned)type, la);
	return X86_EMU_DONE;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static bool has_reg_class(const struct x86_insn *in, unsigned cls)
{
	for (unsigned i = 0; i < in->n_operands; i++)
		if (in->op[i].kind == X86_OP_REG && in->op[i].reg.cls == cls)
			return true;
	return false;
}

static enum x86_emu_result dispatch(struct emu *e)
{
	const struct x86_insn *in = e->in;
	uint8_t m = in->mnemonic;
	bool mov_cr = m == X86_INSN_MOV && has_reg_class(in, X86_RC_CR);

	/* (AMD's LOCK MOV CR0 is MOV CR8, already renumbered by the decoder.) */
	if (is_locked(in) && !lockable(in) && !mov_cr)
		return raise_ud(e, "LOCK on an instruction that cannot be locked");

	switch (m) {
	case X86_INSN_MOV:
		if (mov_cr)
			return emulate_mov_cr(e);
		if (has_reg_class(in, X86_RC_DR))
			return unsupported(e, "debug registers are not emulated");
		return emulate_mov(e);
	case X86_INSN_MOVNTI:
		return emulate_mov(e);
	case X86_INSN_MOVZX: case X86_INSN_MOVSX: case X86_INSN_MOVSXD:
		return emulate_movx(e);
	case X86_INSN_LEA:
		return emulate_lea(e);
	case X86_INSN_ADD: case X86_INSN_OR: case X86_INSN_ADC: case X86_INSN_SBB:
	case X86_INSN_AND: case X86_INSN_SUB: case X86_INSN_XOR: case X86_INSN_CMP:
	case X86_INSN_TEST: case X86_INSN_INC: case X86_INSN_DEC:
	case X86_INSN_NOT: case X86_INSN_NEG:
		return emulate_alu(e);
	case X86_INSN_XCHG:
		return emulate_xchg(e);
	case X86_INSN_XADD:
		return emulate_xadd(e);
	case X86_INSN_CMPXCHG:
		return emulate_cmpxchg(e);
	case X86_INSN_CMPXCHG8B: case X86_INSN_CMPXCHG16B:
		return emulate_cmpxchg_wide(e);
	case X86_INSN_BT: case X86_INSN_BTS: case X86_INSN_BTR: case X86_INSN_BTC:
		return emulate_bt(e);
	case X86_INSN_STOSB: case X86_INSN_STOSW: case X86_INSN_STOSD:
	case X86_INSN_STOSQ:
	case X86_INSN_LODSB: case X86_INSN_LODSW: case X86_INSN_LODSD:
	case X86_INSN_LODSQ:
	case X86_INSN_MOVSB: case X86_INSN_MOVSW: case X86_INSN_MOVSD:
	case X86_INSN_MOVSQ:
	case X86_INSN_INSB: case X86_INSN_INSW: case X86_INSN_INSD:
	case X86_INSN_OUTSB: case X86_INSN_OUTSW: case X86_INSN_OUTSD:
		return emulate_string(e);
	case X86_INSN_IN: case X86_INSN_OUT:
		return emulate_inout(e);
	case X86_INSN_INVLPG:
		return emulate_invlpg(e);
	case X86_INSN_INVPCID:
		return emulate_invpcid(e);
	case X86_INSN_CLTS:
		return emulate_clts(e);
	case X86_INSN_LMSW:
		return emulate_lmsw(e);
	case X86_INSN_SMSW:
		return emulate_smsw(e);
	case X86_INSN_NOP: case X86_INSN_PAUSE:
		return X86_EMU_DONE;
	}
	return unsupported(e, "instruction not emulated");
}

enum x86_cpu_mode x86_regs_mode(const struct x86_regs *regs)
{
	const struct x86_segment *cs = &regs->seg[X86_CS];
	if (real_or_v86(regs))
		return X86_MODE_16;
	if ((regs->efer & X86_EMU_EFER_LMA) && (cs->attr & X86_SEG_L))
		return X86_MODE_64;
	return (cs->attr & X86_SEG_DB) ? X86_MODE_32 : X86_MODE_16;
}

/* The instruction pointer wraps at the code size. */
static uint64_t ip_mask(enum x86_cpu_mode mode)
{
	return mode == X86_MODE_64 ? ~0ull : mode == X86_MODE_32 ? 0xFFFFFFFFull
								 : 0xFFFFull;
}

enum x86_emu_result x86_emulate(const struct x86_insn *insn,
				struct x86_regs *regs,
				const struct x86_emu_ops *ops,
				struct x86_emu_ctx *ctx)
{
	struct emu e = {
		.in = insn, .regs = regs, .ops = ops, .ctx = ctx,
		.mode = x86_regs_mode(regs),
	};
	ctx->message[0] = 0;
	ctx->rep_done = 0;
	ctx->rep_stop = false;
	ctx->fault = (struct x86_fault){ 0 };
	e.next_rip = (regs->rip + insn->length) & ip_mask(e.mode);
	if (insn->mode != e.mode)
		return unsupported(&e, "decoded for another mode than the guest's");
	enum x86_emu_result rc = dispatch(&e);
	if (rc == X86_EMU_DONE) {
		regs->rip = e.next_rip;
		regs->rflags &= ~(uint64_t)X86_FLAG_RF;
	}
	return rc;
}

/* Read instruction bytes, through fetch when the hypervisor has it. */
static enum x86_emu_result fetch_bytes(struct emu *e, uint64_t la, uint8_t *buf,
				       unsigned n)
{
	int (*fn)(void *, uint64_t, void *, unsigned, struct x86_fault *) =
		e->ops->fetch ? e->ops->fetch : e->ops->read;
	if (!fn)
		return unsupported(e, "no fetch callback");
	return cb_result(e, fn(e->ctx->opaque, la, buf, n, &e->ctx->fault),
			 "instruction fetch refused");
}

enum x86_emu_result x86_fetch_decode(const struct x86_regs *regs,
				     const struct x86_emu_ops *ops,
				     struct x86_emu_ctx *ctx,
				     struct x86_insn *insn)
{
	static const struct x86_insn none = { .length = 0 };
	struct emu e = { .in = &none, .regs = (struct x86_regs *)regs,
			 .ops = ops, .ctx = ctx, .mode = x86_regs_mode(regs) };
	const struct x86_segment *cs = &regs->seg[X86_CS];
	uint8_t buf[X86_MAX_INSN_LEN];
	uint64_t la;
	unsigned avail = X86_MAX_INSN_LEN;
	enum x86_emu_result rc;

	ctx->message[0] = 0;
	ctx->fault = (struct x86_fault){ 0 };
	if (e.mode == X86_MODE_64) {
		la = regs->rip;
		if (!canonical(regs, la))
			return raise_gp0(&e, "non-canonical RIP");
	} else {
		/* Fetch only up to the CS limit; past it is #GP(0). */
		uint64_t eip = regs->rip & 0xFFFFFFFFull;
		if (eip > cs->limit)
			return raise_gp0(&e, "RIP beyond the CS limit");
		if (cs->limit - eip + 1 < avail)
			avail = (unsigned)(cs->limit - eip + 1);
		la = (cs->base + eip) & 0xFFFFFFFFull;
	}
	/* First the bytes up to the end of RIP's page. */
	unsigned first = (unsigned)(4096 - (la & 4095));
	if (first > avail)
		first = avail;
	if ((rc = fetch_bytes(&e, la, buf, first)))
		return rc;
	int drc = x86_decode(buf, first, e.mode, insn);
	if (drc == X86_DECODE_TRUNCATED && first < avail) {
		uint64_t next = la + first;
		if (e.mode != X86_MODE_64)
			next &= 0xFFFFFFFFull;
		if ((rc = fetch_bytes(&e, next, buf + first, avail - first)))
			return rc;
		drc = x86_decode(buf, avail, e.mode, insn);
	}
	switch (drc) {
	case X86_DECODE_OK:
		return X86_EMU_DONE;
	case X86_DECODE_INVALID:
		return raise_ud(&e, "invalid instruction");
	case X86_DECODE_TOO_LONG:
		return raise_gp0(&e, "instruction longer than 15 bytes");
	case X86_DECODE_TRUNCATED:
		return raise_gp0(&e, "instruction crosses the CS limit");
	}
	return unsupported(&e, "decoder failure");
}

const char *x86_emu_result_name(enum x86_emu_result r)
{
	switch (r) {
	case X86_EMU_DONE: return "done";
	case X86_EMU_FAULT: return "fault";
	case X86_EMU_UNSUPPORTED: return "unsupported";
	case X86_EMU_REP_PARTIAL: return "rep partial";
	}
	return "?";
}
