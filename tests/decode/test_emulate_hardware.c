/*
 * The emulator against the CPU it runs on: random instructions from the
 * emulated set (ALU ops in every form and size, with and without LOCK,
 * INC/DEC/NOT/NEG, TEST, XCHG, XADD, CMPXCHG, CMPXCHG8B/16B, BT/BTS/BTR/BTC
 * with register and immediate offsets, MOV/MOVZX/MOVSX/MOVSXD/MOVNTI/LEA,
 * STOS/LODS/MOVS with and without REP and in both directions) with random
 * register values, flags and memory are executed natively, in a small
 * generated harness, and by the emulator; every general register (but
 * RSP), the six arithmetic flags, DF and the memory must come out the
 * same.  This is what "flags exactly like hardware" is measured against
 * (the host is x86-64; the flags the manuals leave undefined are compared
 * too, and the emulator follows the hardware there).
 *
 *   test_emulate_hardware [--count N] [--seed S]
 *
 * N instructions (default 300,000; 100,000 under the sanitizers).
 */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "emutest.h"

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_COUNT 100000ull
#else
#define DEFAULT_COUNT 300000ull
#endif

static uint64_t opt_count = DEFAULT_COUNT;
static uint64_t opt_seed = 0x4a17u;

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* ---- the native harness ------------------------------------------------------------- */

struct cpu_state {
	uint64_t gpr[16];
	uint64_t rflags;
};

struct jit {
	uint8_t *code;     /* RWX page */
	size_t insn_at;    /* where the instruction under test goes */
	size_t len;
};

static void put(uint8_t *c, size_t *n, const uint8_t *b, size_t k)
{
	memcpy(c + *n, b, k);
	*n += k;
}
#define PUT(...) put(c, &n, (const uint8_t[]){ __VA_ARGS__ }, \
		     sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* rel32 from the end of a 7-byte rip-relative instruction at `at` to `to` */
static void put_riprel(uint8_t *c, size_t *n, uint8_t rex, uint8_t op,
		       uint8_t modrm, size_t to)
{
	int32_t rel = (int32_t)((int64_t)to - (int64_t)(*n + 7));
	uint8_t b[7] = { rex, op, modrm };
	memcpy(b + 3, &rel, 4);
	put(c, n, b, 7);
}

/*
 * void run(struct cpu_state *s): load every GPR but RSP and the flags from
 * *s, execute the instruction, store them back.  Two quadwords after the
 * code keep the state pointer and the guest RDI.
 */
static void jit_build(struct jit *j, const uint8_t *insn, size_t len)
{
	uint8_t *c = j->code;
	size_t n = 0;
	const size_t slot_state = 1024, slot_rdi = 1032;
	PUT(0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57);
	put_riprel(c, &n, 0x48, 0x89, 0x3D, slot_state);      /* mov [state], rdi */
	PUT(0xFF, 0xB7, 0x80, 0x00, 0x00, 0x00);               /* push [rdi+128] */
	PUT(0x9D);                                             /* popfq */
	static const uint8_t loads[][4] = {
		{ 0x48, 0x8B, 0x07, 0x00 }, { 0x48, 0x8B, 0x4F, 0x08 },
		{ 0x48, 0x8B, 0x57, 0x10 }, { 0x48, 0x8B, 0x5F, 0x18 },
		{ 0x48, 0x8B, 0x6F, 0x28 }, { 0x48, 0x8B, 0x77, 0x30 },
		{ 0x4C, 0x8B, 0x47, 0x40 }, { 0x4C, 0x8B, 0x4F, 0x48 },
		{ 0x4C, 0x8B, 0x57, 0x50 }, { 0x4C, 0x8B, 0x5F, 0x58 },
		{ 0x4C, 0x8B, 0x67, 0x60 }, { 0x4C, 0x8B, 0x6F, 0x68 },
		{ 0x4C, 0x8B, 0x77, 0x70 }, { 0x4C, 0x8B, 0x7F, 0x78 },
		{ 0x48, 0x8B, 0x7F, 0x38 }, /* rdi last */
	};
	for (unsigned i = 0; i < 15; i++)
		put(c, &n, loads[i], loads[i][2] == 0x07 ? 3 : 4);
	j->insn_at = n;
	put(c, &n, insn, len);
	PUT(0x9C);                                             /* pushfq */
	put_riprel(c, &n, 0x48, 0x89, 0x3D, slot_rdi);        /* mov [rdi_slot], rdi */
	put_riprel(c, &n, 0x48, 0x8B, 0x3D, slot_state);      /* mov rdi, [state] */
	for (unsigned i = 0; i < 14; i++) {
		uint8_t b[4];
		memcpy(b, loads[i], 4);
		b[1] = 0x89; /* the same forms, stores */
		put(c, &n, b, b[2] == 0x07 ? 3 : 4);
	}
	put_riprel(c, &n, 0x48, 0x8B, 0x05, slot_rdi);        /* mov rax, [rdi_slot] */
	PUT(0x48, 0x89, 0x47, 0x38);                           /* mov [rdi+56], rax */
	PUT(0x58);                                             /* pop rax (flags) */
	PUT(0x48, 0x89, 0x87, 0x80, 0x00, 0x00, 0x00);         /* mov [rdi+128], rax */
	PUT(0xFC);                                             /* cld */
	PUT(0x41, 0x5F, 0x41, 0x5E, 0x41, 0x5D, 0x41, 0x5C, 0x5D, 0x5B, 0xC3);
	j->len = n;
}

static void jit_run(struct jit *j, struct cpu_state *s)
{
	void (*fn)(struct cpu_state *);
	void *p = j->code;
	memcpy(&fn, &p, sizeof(fn));
	__builtin___clear_cache((char *)j->code, (char *)j->code + j->len);
	fn(s);
}

/* ---- random instructions ----------------------------------------------------------------- */

struct gen {
	uint8_t b[16];
	size_t n;
	uint64_t *rng;
	/* registers the instruction must not use as data (base, index) */
};

static void emit(struct gen *g, uint8_t v)
{
	g->b[g->n++] = v;
}

static unsigned pick(struct gen *g, unsigned n)
{
	return (unsigned)(rnd(g->rng) % n);
}

/* A data register number: any but RSP, RBX (the base) and RSI (the
 * index), so that addresses stay inside the buffer. */
static unsigned data_reg(struct gen *g)
{
	static const unsigned regs[] = { 0, 1, 2, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	return regs[pick(g, sizeof(regs) / sizeof(regs[0]))];
}

enum opsz { SZ8, SZ16, SZ32, SZ64 };

/*
 * Emit prefixes, REX, opcode bytes, ModRM (+SIB, disp) for `reg` (0-15)
 * and either a register rm (`rm_reg` >= 0) or a memory operand based on
 * RBX (optionally with RSI as index).
 */
static void emit_modrm_insn(struct gen *g, bool lock, enum opsz sz,
			    const uint8_t *op, size_t oplen, unsigned reg,
			    int rm_reg, bool byte_regs)
{
	if (lock)
		emit(g, 0xF0);
	if (sz == SZ16)
		emit(g, 0x66);
	uint8_t rex = 0x40;
	if (sz == SZ64)
		rex |= 8;
	if (reg & 8)
		rex |= 4;
	if (rm_reg >= 0 && (rm_reg & 8))
		rex |= 1;
	/* Byte registers 4-7 are SPL..DIL with any REX, AH..BH without. */
	bool want_rex = rex != 0x40 || (byte_regs && pick(g, 2));
	if (want_rex)
		emit(g, rex);
	for (size_t i = 0; i < oplen; i++)
		emit(g, op[i]);
	unsigned r = reg & 7;
	if (rm_reg >= 0) {
		emit(g, (uint8_t)(0xC0 | r << 3 | (rm_reg & 7)));
		return;
	}
	switch (pick(g, 4)) {
	case 0: /* [rbx] */
		emit(g, (uint8_t)(r << 3 | 3));
		break;
	case 1: /* [rbx + disp8] */
		emit(g, (uint8_t)(0x40 | r << 3 | 3));
		emit(g, (uint8_t)pick(g, 256));
		break;
	case 2: /* [rbx + rsi * scale + disp8] */
		emit(g, (uint8_t)(0x40 | r << 3 | 4));
		emit(g, (uint8_t)(pick(g, 4) << 6 | 6 << 3 | 3));
		emit(g, (uint8_t)pick(g, 256));
		break;
	default: { /* [rbx + disp32], a small one either side */
		uint8_t hi = pick(g, 2) ? 0xFF : 0x00;
		emit(g, (uint8_t)(0x80 | r << 3 | 3));
		emit(g, (uint8_t)pick(g, 256));
		emit(g, hi);
		emit(g, hi);
		emit(g, hi);
		break;
	}
	}
}

static unsigned imm_bytes(enum opsz sz)
{
	return sz == SZ8 ? 1 : sz == SZ16 ? 2 : 4;
}

static void emit_imm(struct gen *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		emit(g, (uint8_t)pick(g, 256));
}

/* What kind of state the instruction needs. */
struct needs {
	bool string;      /* RSI/RDI/RCX set up for strings */
	bool bt_offset;   /* the register offset must stay small */
	unsigned bt_reg;
	bool cmpxchg_acc; /* make the accumulator match memory half the time */
	bool wide;        /* CMPXCHG8B/16B */
	bool align16;
};

static void gen_insn(struct gen *g, struct needs *nd)
{
	static const enum opsz sizes[4] = { SZ8, SZ16, SZ32, SZ64 };
	enum opsz sz = sizes[pick(g, 4)];
	enum opsz vsz = sz == SZ8 ? SZ32 : sz; /* for opcodes without a byte form */
	bool mem = pick(g, 3) != 0;
	unsigned reg = data_reg(g);
	int rm = mem ? -1 : (int)data_reg(g);
	memset(nd, 0, sizeof(*nd));
	g->n = 0;

	switch (pick(g, 16)) {
	case 0: case 1: { /* ALU r/m,r / r,r/m */
		unsigned alu = pick(g, 8), form = pick(g, 4);
		if (sz != SZ8)
			form |= 1;
		else
			form &= 2;
		bool lock = mem && form <= 1 && alu != 7 && pick(g, 2);
		uint8_t op = (uint8_t)(alu << 3 | form);
		emit_modrm_insn(g, lock, sz, &op, 1, reg, rm, sz == SZ8);
		break;
	}
	case 2: { /* group 1 with an immediate */
		unsigned alu = pick(g, 8);
		uint8_t op = sz == SZ8 ? 0x80 : pick(g, 2) ? 0x83 : 0x81;
		bool lock = mem && alu != 7 && pick(g, 2);
		emit_modrm_insn(g, lock, sz, &op, 1, alu, rm, sz == SZ8);
		emit_imm(g, op == 0x81 ? imm_bytes(sz) : 1);
		break;
	}
	case 3: { /* accumulator, immediate; TEST forms */
		switch (pick(g, 3)) {
		case 0: {
			unsigned alu = pick(g, 8);
			if (sz == SZ16)
				emit(g, 0x66);
			if (sz == SZ64)
				emit(g, 0x48);
			emit(g, (uint8_t)(alu << 3 | (sz == SZ8 ? 4 : 5)));
			emit_imm(g, imm_bytes(sz));
			break;
		}
		case 1: {
			uint8_t op = sz == SZ8 ? 0x84 : 0x85;
			emit_modrm_insn(g, false, sz, &op, 1, reg, rm, sz == SZ8);
			break;
		}
		default: {
			uint8_t op = sz == SZ8 ? 0xF6 : 0xF7;
			emit_modrm_insn(g, false, sz, &op, 1, 0, rm, sz == SZ8);
			emit_imm(g, imm_bytes(sz));
			break;
		}
		}
		break;
	}
	case 4: { /* INC DEC NOT NEG */
		bool incdec = pick(g, 2);
		unsigned sub = incdec ? pick(g, 2) : 2 + pick(g, 2);
		uint8_t op = incdec ? (sz == SZ8 ? 0xFE : 0xFF) : (sz == SZ8 ? 0xF6 : 0xF7);
		emit_modrm_insn(g, mem && pick(g, 2), sz, &op, 1, sub, rm, sz == SZ8);
		break;
	}
	case 5: { /* XCHG */
		uint8_t op = sz == SZ8 ? 0x86 : 0x87;
		emit_modrm_insn(g, mem && pick(g, 2), sz, &op, 1, reg, rm, sz == SZ8);
		break;
	}
	case 6: { /* XADD */
		uint8_t op[2] = { 0x0F, sz == SZ8 ? 0xC0 : 0xC1 };
		emit_modrm_insn(g, mem && pick(g, 2), sz, op, 2, reg, rm, sz == SZ8);
		break;
	}
	case 7: { /* CMPXCHG */
		uint8_t op[2] = { 0x0F, sz == SZ8 ? 0xB0 : 0xB1 };
		emit_modrm_insn(g, mem && pick(g, 2), sz, op, 2, reg, rm, sz == SZ8);
		nd->cmpxchg_acc = true;
		break;
	}
	case 8: { /* CMPXCHG8B / 16B */
		uint8_t op[2] = { 0x0F, 0xC7 };
		bool b16 = pick(g, 2);
		if (pick(g, 2))
			emit(g, 0xF0);
		if (b16)
			emit(g, 0x48);
		for (unsigned i = 0; i < 2; i++)
			emit(g, op[i]);
		emit(g, 0x0B); /* [rbx], /1 */
		nd->wide = true;
		nd->align16 = b16;
		nd->cmpxchg_acc = true;
		break;
	}
	case 9: case 10: { /* BT BTS BTR BTC */
		unsigned which = pick(g, 4);
		bool lock = mem && which != 0 && pick(g, 2);
		if (pick(g, 2)) {
			uint8_t op[2] = { 0x0F, (uint8_t)(0xA3 + which * 8) };
			emit_modrm_insn(g, lock, vsz, op, 2, reg, rm, false);
			nd->bt_offset = mem;
			nd->bt_reg = reg;
		} else {
			uint8_t op[2] = { 0x0F, 0xBA };
			emit_modrm_insn(g, lock, vsz, op, 2, 4 + which, rm, false);
			emit_imm(g, 1);
		}
		break;
	}
	case 11: { /* MOV forms */
		switch (pick(g, 4)) {
		case 0: {
			uint8_t op = (uint8_t)((sz == SZ8 ? 0x88 : 0x89) + 2 * pick(g, 2));
			emit_modrm_insn(g, false, sz, &op, 1, reg, rm, sz == SZ8);
			break;
		}
		case 1: {
			uint8_t op = sz == SZ8 ? 0xC6 : 0xC7;
			emit_modrm_insn(g, false, sz, &op, 1, 0, rm, sz == SZ8);
			emit_imm(g, imm_bytes(sz));
			break;
		}
		case 2: { /* MOVZX MOVSX */
			uint8_t op[2] = { 0x0F, (uint8_t)(0xB6 + pick(g, 2) + 8 * pick(g, 2)) };
			emit_modrm_insn(g, false, vsz, op, 2, reg, rm, !(op[1] & 1));
			break;
		}
		default: { /* MOVSXD, MOVNTI, LEA */
			unsigned k = pick(g, 3);
			if (k == 0) {
				uint8_t op = 0x63;
				emit_modrm_insn(g, false, SZ64, &op, 1, reg, rm, false);
			} else if (k == 1) {
				uint8_t op[2] = { 0x0F, 0xC3 };
				emit_modrm_insn(g, false, pick(g, 2) ? SZ64 : SZ32, op, 2,
						reg, -1, false);
			} else {
				uint8_t op = 0x8D;
				emit_modrm_insn(g, false, vsz, &op, 1, reg, -1, false);
			}
			break;
		}
		}
		break;
	}
	default: { /* STOS LODS MOVS, REP or not */
		static const uint8_t ops[3] = { 0xAA, 0xAC, 0xA4 };
		if (pick(g, 2))
			emit(g, pick(g, 2) ? 0xF3 : 0xF2);
		if (sz == SZ16)
			emit(g, 0x66);
		if (sz == SZ64)
			emit(g, 0x48);
		emit(g, (uint8_t)(ops[pick(g, 3)] + (sz != SZ8)));
		nd->string = true;
		break;
	}
	}
}

/* ---- the comparison ----------------------------------------------------------------------- */

#define BUF_SIZE 8192

static void run(void **state)
{
	(void)state;
	uint64_t rng = opt_seed;
	struct jit j;
	j.code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(j.code != MAP_FAILED);
	uint8_t *buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	struct emt *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	uint64_t la = (uint64_t)(uintptr_t)buf;
	emt_init64(m);
	emt_map(m, la, false);
	emt_map(m, la + 4096, false);
	uint64_t mismatches = 0, unsupported = 0, faults = 0;
	uint64_t per_opcode_checked = 0;

	for (uint64_t it = 0; it < opt_count; it++) {
		struct gen g = { .rng = &rng };
		struct needs nd;
		gen_insn(&g, &nd);

		/* Random memory and registers. */
		for (size_t i = 0; i < BUF_SIZE; i += 8) {
			uint64_t v = rnd(&rng);
			memcpy(buf + i, &v, 8);
		}
		struct cpu_state cs;
		for (unsigned i = 0; i < 16; i++) {
			uint64_t v = rnd(&rng);
			switch (rnd(&rng) & 7) {
			case 0: v &= 0xFF; break;
			case 1: v = (uint64_t)(int64_t)(int8_t)v; break;
			case 2: v &= 0x80000000FFFFFFFFull; break;
			case 3: v = 0; break;
			}
			cs.gpr[i] = v;
		}
		cs.gpr[X86_RSP] = 0;
		cs.gpr[X86_RBX] = la + 4096 + (nd.align16 ? 0 : (rnd(&rng) & 0xF0));
		cs.gpr[X86_RSI] = rnd(&rng) & 15;
		uint64_t flags = 0x2 | (rnd(&rng) & X86_FLAGS_ARITH);
		if (nd.string) {
			bool down = rnd(&rng) & 1;
			flags |= down ? X86_FLAG_DF : 0;
			cs.gpr[X86_RSI] = la + 2048 + (rnd(&rng) & 1023);
			cs.gpr[X86_RDI] = la + 5120 + (rnd(&rng) & 1023);
			cs.gpr[X86_RCX] = rnd(&rng) % 24;
		}
		if (nd.bt_offset) {
			/* a bit offset within +-1 KiB of the operand */
			int64_t off = (int64_t)(rnd(&rng) % 16384) - 8192;
			cs.gpr[nd.bt_reg] = (uint64_t)off;
		}
		if (nd.cmpxchg_acc && (rnd(&rng) & 1)) {
			/* make the comparison succeed (when the operand is memory
			 * at [rbx]; otherwise it is just another value) */
			memcpy(&cs.gpr[X86_RAX], (uint8_t *)(uintptr_t)cs.gpr[X86_RBX], 8);
			if (nd.wide)
				memcpy(&cs.gpr[X86_RDX],
				       (uint8_t *)(uintptr_t)cs.gpr[X86_RBX] +
					       (nd.align16 ? 8 : 4), 8);
		}
		cs.rflags = flags;

		/* The emulator first, on a copy. */
		emt_regs64(m);
		emt_poke(m, la, buf, BUF_SIZE);
		memcpy(m->regs.gpr, cs.gpr, sizeof(cs.gpr));
		m->regs.rflags = cs.rflags;
		m->regs.cpl = 3;
		int rc = emt_run(m, g.b, g.n);
		if (rc != X86_EMU_DONE) {
			char hex[64] = "";
			for (size_t i = 0; i < g.n; i++)
				sprintf(hex + 2 * i, "%02x", g.b[i]);
			if (rc == X86_EMU_FAULT)
				faults++;
			else
				unsupported++;
			if (faults + unsupported <= 10)
				printf("  emulator %s on %s: %s\n",
				       rc < 0 ? "decode failure" :
				       x86_emu_result_name((enum x86_emu_result)rc), hex,
				       m->ctx.message);
			continue;
		}

		/* Then the CPU. */
		jit_build(&j, g.b, g.n);
		struct cpu_state hw = cs;
		jit_run(&j, &hw);

		uint64_t fmask = X86_FLAGS_ARITH | X86_FLAG_DF;
		bool same = (hw.rflags & fmask) == (m->regs.rflags & fmask);
		for (unsigned i = 0; i < 16; i++)
			if (i != X86_RSP && hw.gpr[i] != m->regs.gpr[i])
				same = false;
		uint8_t ebuf[BUF_SIZE];
		emt_peek(m, la, ebuf, BUF_SIZE);
		if (memcmp(ebuf, buf, BUF_SIZE))
			same = false;
		per_opcode_checked++;
		if (!same) {
			mismatches++;
			if (mismatches <= 10) {
				char hex[64] = "";
				for (size_t i = 0; i < g.n; i++)
					sprintf(hex + 2 * i, "%02x", g.b[i]);
				printf("  MISMATCH %s (%s): flags cpu %#" PRIx64 " emu %#" PRIx64 "\n",
				       hex, x86_mnemonic_name(m->insn.mnemonic),
				       hw.rflags & fmask, m->regs.rflags & fmask);
				for (unsigned i = 0; i < 16; i++)
					if (i != X86_RSP && hw.gpr[i] != m->regs.gpr[i])
						printf("    r%u cpu %#" PRIx64 " emu %#" PRIx64
						       " (before %#" PRIx64 ")\n", i,
						       hw.gpr[i], m->regs.gpr[i], cs.gpr[i]);
				for (size_t i = 0; i < BUF_SIZE; i++)
					if (ebuf[i] != buf[i]) {
						printf("    memory +%zu cpu %02x emu %02x\n", i,
						       buf[i], ebuf[i]);
						break;
					}
			}
		}
	}
	printf("emulator against the CPU, seed %#" PRIx64 ": %" PRIu64
	       " instructions compared, %" PRIu64 " mismatches, %" PRIu64
	       " refused, %" PRIu64 " faulted\n", opt_seed, per_opcode_checked,
	       mismatches, unsupported, faults);
	free(m);
	munmap(buf, BUF_SIZE);
	munmap(j.code, 4096);
	assert_int_equal(mismatches, 0);
	assert_int_equal(unsupported, 0);
	assert_int_equal(faults, 0);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			opt_count = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			opt_seed = strtoull(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--count N] [--seed S]\n", argv[0]);
			return 2;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
