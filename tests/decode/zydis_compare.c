/*
 * The decoder against Zydis (see zydis_compare.h).  Zydis is configured
 * for AMD branch semantics (a 66 prefix shortens near branches in 64-bit
 * mode), like the decoder, since the hypervisor runs on AMD hardware.
 */
#include "zydis_compare.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <Zydis/Zydis.h>

struct zc {
	enum x86_cpu_mode mode;
	ZydisDecoder decoder;
	uint64_t rng;
	unsigned max_examples;
	unsigned examples[ZC_OUTCOMES];
	struct zc_stats stats;
	ZydisRegisterContext regctx;
	char cur_key[16];
	uint64_t gpr[16];
};

static const char *const outcome_names[ZC_OUTCOMES] = {
	[ZC_BOTH_REJECT] = "both reject",
	[ZC_AGREE] = "agree",
	[ZC_LEN_MISMATCH] = "LENGTH MISMATCH",
	[ZC_MEM_MISMATCH] = "MEMORY OPERAND MISMATCH",
	[ZC_SEM_MISMATCH] = "OPERAND MISMATCH",
	[ZC_ONLY_ZYDIS] = "only Zydis accepts",
	[ZC_ONLY_ZYDIS_KNC] = "only Zydis (Knights Corner)",
	[ZC_ONLY_US] = "only we accept",
	[ZC_ZYDIS_BUG] = "Zydis r13d-disp32 bug",
};

const char *zc_outcome_name(enum zc_outcome o)
{
	return o < ZC_OUTCOMES ? outcome_names[o] : "?";
}

struct zc *zc_create(enum x86_cpu_mode mode, uint64_t seed,
		     unsigned max_examples)
{
	struct zc *zc = calloc(1, sizeof(*zc));
	if (!zc)
		return NULL;
	ZydisMachineMode mm = mode == X86_MODE_64 ? ZYDIS_MACHINE_MODE_LONG_64
			    : mode == X86_MODE_32 ? ZYDIS_MACHINE_MODE_LEGACY_32
						  : ZYDIS_MACHINE_MODE_LEGACY_16;
	ZydisStackWidth sw = mode == X86_MODE_64 ? ZYDIS_STACK_WIDTH_64
			   : mode == X86_MODE_32 ? ZYDIS_STACK_WIDTH_32
						 : ZYDIS_STACK_WIDTH_16;
	if (!ZYAN_SUCCESS(ZydisDecoderInit(&zc->decoder, mm, sw)) ||
	    !ZYAN_SUCCESS(ZydisDecoderEnableMode(
		    &zc->decoder, ZYDIS_DECODER_MODE_AMD_BRANCHES, ZYAN_TRUE))) {
		free(zc);
		return NULL;
	}
	zc->mode = mode;
	zc->rng = seed ? seed : 1;
	zc->max_examples = max_examples;
	return zc;
}

void zc_destroy(struct zc *zc)
{
	free(zc);
}

struct zc_stats *zc_stats(struct zc *zc)
{
	return &zc->stats;
}

/* ---- names of our registers, as Zydis spells them ---------------------------- */

static const char *const gpr64[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
static const char *const gpr32[16] = {
	"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
	"r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d" };
static const char *const gpr16[16] = {
	"ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
	"r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w" };
static const char *const gpr8[16] = {
	"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
	"r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b" };
static const char *const gpr8h[4] = { "ah", "ch", "dh", "bh" };
static const char *const sregs[6] = { "es", "cs", "ss", "ds", "fs", "gs" };

static const char *gpr_name(unsigned num, unsigned size)
{
	if (num >= 16)
		return "?";
	switch (size) {
	case 1: return gpr8[num];
	case 2: return gpr16[num];
	case 4: return gpr32[num];
	}
	return gpr64[num];
}

static void reg_name(const struct x86_operand *op, char *buf, size_t n)
{
	switch (op->reg.cls) {
	case X86_RC_GPR:
		snprintf(buf, n, "%s", gpr_name(op->reg.num, op->size));
		return;
	case X86_RC_GPR8H:
		snprintf(buf, n, "%s", op->reg.num < 4 ? gpr8h[op->reg.num] : "?");
		return;
	case X86_RC_SEG:
		snprintf(buf, n, "%s", op->reg.num < 6 ? sregs[op->reg.num] : "?");
		return;
	case X86_RC_CR:
		snprintf(buf, n, "cr%u", op->reg.num);
		return;
	case X86_RC_DR:
		snprintf(buf, n, "dr%u", op->reg.num);
		return;
	}
	snprintf(buf, n, "?");
}

/* A memory operand's base or index register as Zydis names it. */
static const char *addr_reg_name(unsigned reg, unsigned addrsize)
{
	if (reg == X86_REG_NONE)
		return "none";
	if (reg == X86_REG_RIP)
		return addrsize == 8 ? "rip" : "eip";
	return gpr_name(reg, addrsize);
}

static const char *zname(ZydisRegister r)
{
	const char *s = ZydisRegisterGetString(r);
	return s ? s : "none";
}

/* ---- reporting -------------------------------------------------------------------- */

static void hex(const uint8_t *code, size_t n, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && o + 3 < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%02x", code[i]);
}

static void example(struct zc *zc, enum zc_outcome o, const uint8_t *code,
		    size_t n, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void example(struct zc *zc, enum zc_outcome o, const uint8_t *code,
		    size_t n, const char *fmt, ...)
{
	/* ZC_FILTER=<class>:<opcode>, e.g. VEX1:24, prints only that key. */
	const char *filter = getenv("ZC_FILTER");
	if (filter && strcmp(filter, zc->cur_key))
		return;
	if (zc->examples[o] >= zc->max_examples)
		return;
	zc->examples[o]++;
	char h[64], msg[512];
	hex(code, n, h, sizeof(h));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("  [%d-bit] %s: %s: %s\n", zc->mode, outcome_names[o], h, msg);
}

/*
 * A 12-bit key for the disagreement histograms: a class in bits 11-8 (the
 * legacy maps 0-3, 3DNow! 4, XOP 5-7, VEX 8-10, EVEX 11-15) and the opcode.
 */
static unsigned key_class(unsigned enc, unsigned map)
{
	switch (enc) {
	case X86_ENC_3DNOW: return 4;
	case X86_ENC_XOP: return 5 + ((map - 8) & 3);
	case X86_ENC_VEX: return 8 + ((map - 1) % 3);
	case X86_ENC_EVEX: return map <= 3 ? 10 + map : map + 9;
	}
	return map & 3;
}

static unsigned key_of_zydis(const ZydisDecodedInstruction *zi)
{
	unsigned enc, map = zi->opcode_map;
	switch (zi->encoding) {
	case ZYDIS_INSTRUCTION_ENCODING_3DNOW: enc = X86_ENC_3DNOW; break;
	case ZYDIS_INSTRUCTION_ENCODING_XOP:
		enc = X86_ENC_XOP;
		map = map - ZYDIS_OPCODE_MAP_XOP8 + 8;
		break;
	case ZYDIS_INSTRUCTION_ENCODING_VEX: enc = X86_ENC_VEX; break;
	case ZYDIS_INSTRUCTION_ENCODING_EVEX: enc = X86_ENC_EVEX; break;
	default: enc = X86_ENC_LEGACY; break;
	}
	return key_class(enc, map) << 8 | zi->opcode;
}

static unsigned key_of_ours(const struct x86_insn *in)
{
	return key_class(in->encoding, in->map) << 8 | in->opcode;
}

static const char *key_class_name(unsigned key);

/* ---- register values ------------------------------------------------------------------ */

static void random_registers(struct zc *zc, uint64_t rip)
{
	for (unsigned i = 0; i < 16; i++) {
		uint64_t v = zc_rand(&zc->rng);
		/* Mix in small and boundary values: wrap-around matters. */
		switch (zc_rand(&zc->rng) & 7) {
		case 0: v &= 0xFFFF; break;
		case 1: v |= 0xFFFFFFFFFFFF0000ull; break;
		case 2: v &= 0xFFFFFFFF; break;
		}
		zc->gpr[i] = v;
		ZydisRegister r64 = ZydisRegisterEncode(ZYDIS_REGCLASS_GPR64, (ZyanU8)i);
		ZydisRegister r32 = ZydisRegisterEncode(ZYDIS_REGCLASS_GPR32, (ZyanU8)i);
		ZydisRegister r16 = ZydisRegisterEncode(ZYDIS_REGCLASS_GPR16, (ZyanU8)i);
		zc->regctx.values[r64] = v;
		zc->regctx.values[r32] = v & 0xFFFFFFFFu;
		zc->regctx.values[r16] = v & 0xFFFFu;
	}
	zc->regctx.values[ZYDIS_REGISTER_RIP] = rip;
	zc->regctx.values[ZYDIS_REGISTER_EIP] = rip & 0xFFFFFFFFu;
	zc->regctx.values[ZYDIS_REGISTER_IP] = rip & 0xFFFFu;
}

/* ---- the checks ---------------------------------------------------------------------- */

static bool mem_fields_equal(const struct x86_insn *in, const struct x86_mem *m,
			     const ZydisDecodedOperand *zo, bool check_seg,
			     char *why, size_t n)
{
	const char *base = addr_reg_name(m->base, in->addrsize);
	const char *index = m->vsib ? zname(zo->mem.index)
				    : addr_reg_name(m->index, in->addrsize);
	const char *seg = m->seg < 6 ? sregs[m->seg] : "?";
	/* Zydis keeps the scale of a SIB without index out (0). */
	unsigned scale = m->index == X86_REG_NONE ? 0 : m->scale;
	int64_t zdisp = zo->mem.disp.value;
	int64_t disp = m->disp;
	uint64_t mask = x86_size_mask(in->addrsize);
	bool disp_ok = ((uint64_t)(zdisp ^ disp) & mask) == 0;
	if (strcmp(base, zname(zo->mem.base)) || strcmp(index, zname(zo->mem.index)) ||
	    scale != zo->mem.scale ||
	    (check_seg && strcmp(seg, zname(zo->mem.segment))) ||
	    !disp_ok) {
		snprintf(why, n,
			 "mem ours %s:[%s + %s*%u + %" PRId64 "] zydis %s:[%s + %s*%u + %" PRId64 "]",
			 seg, base, index, scale, disp, zname(zo->mem.segment),
			 zname(zo->mem.base), zname(zo->mem.index), zo->mem.scale,
			 zdisp);
		return false;
	}
	return true;
}

/* The explicit ModRM/moffs memory operand of a Zydis decode, if any. */
static const ZydisDecodedOperand *zydis_explicit_mem(
	const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zops)
{
	for (unsigned i = 0; i < zi->operand_count; i++) {
		if (zops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    zops[i].visibility != ZYDIS_OPERAND_VISIBILITY_HIDDEN)
			return &zops[i];
	}
	return NULL;
}

/* Compare the ModRM memory operand and its effective address. */
static bool check_memory(struct zc *zc, const struct x86_insn *in,
			 const ZydisDecodedInstruction *zi,
			 const ZydisDecodedOperand *zops, char *why, size_t n)
{
	const ZydisDecodedOperand *zm = zydis_explicit_mem(zi, zops);
	if (!in->has_mem) {
		if (zm && zm->mem.type != ZYDIS_MEMOP_TYPE_INVALID) {
			snprintf(why, n, "zydis has a memory operand, we do not");
			return false;
		}
		return true;
	}
	if (!zm) {
		snprintf(why, n, "we have a memory operand, zydis does not");
		return false;
	}
	zc->stats.mem_checked++;
	/* Zydis reports no segment for address generation (LEA, NOP Ev, ...)
	 * and takes 3E on indirect branches as NOTRACK, not DS. */
	bool check_seg = zm->mem.type != ZYDIS_MEMOP_TYPE_AGEN &&
			 !(zi->attributes & ZYDIS_ATTRIB_HAS_NOTRACK);
	if (!in->mem.disp8_scaled && zm->mem.type != ZYDIS_MEMOP_TYPE_MIB &&
	    !mem_fields_equal(in, &in->mem, zm, check_seg, why, n))
		return false;
	if (in->mem.vsib || in->mem.disp8_scaled ||
	    zm->mem.type == ZYDIS_MEMOP_TYPE_MIB ||
	    zm->mem.type == ZYDIS_MEMOP_TYPE_VSIB)
		return true;
	uint64_t rip = zc_rand(&zc->rng);
	if (zc->mode != X86_MODE_64)
		rip &= 0xFFFFFFFFu;
	random_registers(zc, rip);
	ZyanU64 zea;
	if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddressEx(zi, zm, rip, &zc->regctx,
						     &zea))) {
		snprintf(why, n, "zydis cannot compute the address");
		return false;
	}
	uint64_t ea = x86_effective_address(in, zc->gpr, rip + in->length);
	uint64_t mask = x86_size_mask(in->addrsize);
	zc->stats.ea_checked++;
	if ((ea & mask) != (zea & mask)) {
		snprintf(why, n, "effective address ours %#" PRIx64 " zydis %#" PRIx64,
			 ea, (uint64_t)zea);
		return false;
	}
	return true;
}

static bool check_operand(const struct x86_insn *in, const struct x86_operand *op,
			  const ZydisDecodedOperand *zo, char *why, size_t n)
{
	char name[16];
	switch (op->kind) {
	case X86_OP_REG:
		reg_name(op, name, sizeof(name));
		if (zo->type != ZYDIS_OPERAND_TYPE_REGISTER ||
		    strcmp(name, zname(zo->reg.value))) {
			snprintf(why, n, "register ours %s zydis %s (type %d)", name,
				 zo->type == ZYDIS_OPERAND_TYPE_REGISTER
					 ? zname(zo->reg.value) : "-", zo->type);
			return false;
		}
		return true;
	case X86_OP_MEM:
		if (zo->type != ZYDIS_OPERAND_TYPE_MEMORY) {
			snprintf(why, n, "ours memory, zydis type %d", zo->type);
			return false;
		}
		if (!mem_fields_equal(in, &op->mem, zo,
				      zo->mem.type != ZYDIS_MEMOP_TYPE_AGEN, why, n))
			return false;
		if (zo->mem.type != ZYDIS_MEMOP_TYPE_AGEN && op->size * 8u != zo->size) {
			snprintf(why, n, "memory size ours %u zydis %u bits",
				 op->size * 8u, zo->size);
			return false;
		}
		return true;
	case X86_OP_IMM: {
		if (zo->type != ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			snprintf(why, n, "ours immediate, zydis type %d", zo->type);
			return false;
		}
		uint64_t mask = x86_size_mask(op->size);
		if ((op->imm ^ zo->imm.value.u) & mask) {
			snprintf(why, n, "immediate ours %#" PRIx64 " zydis %#" PRIx64,
				 op->imm, zo->imm.value.u);
			return false;
		}
		return true;
	}
	}
	snprintf(why, n, "operand kind %u", op->kind);
	return false;
}

/* Is a non-explicit Zydis memory operand one of the string operands
 * ([rSI], [rDI]) rather than the stack? */
static bool zydis_string_mem(const ZydisDecodedOperand *zo)
{
	const char *b = zname(zo->mem.base);
	return zo->type == ZYDIS_OPERAND_TYPE_MEMORY &&
	       zo->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN &&
	       (strstr(b, "si") || strstr(b, "di"));
}

static bool check_semantics(const struct x86_insn *in,
			    const ZydisDecodedInstruction *zi,
			    const ZydisDecodedOperand *zops, char *why, size_t n)
{
	const char *ours = x86_mnemonic_name(in->mnemonic);
	const char *theirs = ZydisMnemonicGetString(zi->mnemonic);
	if (!theirs || strcmp(ours, theirs)) {
		snprintf(why, n, "mnemonic ours %s zydis %s", ours,
			 theirs ? theirs : "?");
		return false;
	}
	unsigned zi_explicit = 0, zi_string = 0;
	const ZydisDecodedOperand *zex[ZYDIS_MAX_OPERAND_COUNT];
	const ZydisDecodedOperand *zstr[ZYDIS_MAX_OPERAND_COUNT];
	/* Our written operands are Zydis's visible ones (explicit, and
	 * implicit like AL in `add al, 1`); our implicit string operands
	 * are among its hidden ones. */
	for (unsigned i = 0; i < zi->operand_count; i++) {
		if (zops[i].visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT ||
		    zops[i].visibility == ZYDIS_OPERAND_VISIBILITY_IMPLICIT)
			zex[zi_explicit++] = &zops[i];
		else if (zydis_string_mem(&zops[i]))
			zstr[zi_string++] = &zops[i];
	}
	unsigned ex = 0, st = 0;
	for (unsigned i = 0; i < in->n_operands; i++) {
		const struct x86_operand *op = &in->op[i];
		const ZydisDecodedOperand *zo;
		if (op->implicit) {
			if (st >= zi_string) {
				snprintf(why, n, "zydis lacks implicit operand %u", i);
				return false;
			}
			zo = zstr[st++];
		} else {
			if (ex >= zi_explicit) {
				snprintf(why, n, "zydis has %u explicit operands, we more",
					 zi_explicit);
				return false;
			}
			zo = zex[ex++];
		}
		char sub[256];
		if (!check_operand(in, op, zo, sub, sizeof(sub))) {
			snprintf(why, n, "operand %u: %s", i, sub);
			return false;
		}
	}
	if (ex != zi_explicit || st != zi_string) {
		snprintf(why, n, "operand count ours %u+%u zydis %u+%u", ex, st,
			 zi_explicit, zi_string);
		return false;
	}
	return true;
}

static bool zydis_r13_bug(const struct x86_insn *in)
{
	return in->mode == X86_MODE_64 && in->addrsize == 4 && in->has_sib &&
	       in->mod == 0 && (in->sib & 7) == 5 && in->ext_b;
}

static bool is_knc(const ZydisDecodedInstruction *zi)
{
	if (zi->encoding == ZYDIS_INSTRUCTION_ENCODING_MVEX)
		return true;
	const char *ext = ZydisISAExtGetString(zi->meta.isa_ext);
	return ext && !strncmp(ext, "KNC", 3);
}

enum zc_outcome zc_compare(struct zc *zc, const uint8_t *code, size_t n,
			   unsigned *len)
{
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand zops[ZYDIS_MAX_OPERAND_COUNT];
	struct x86_insn in;
	char why[512];
	enum zc_outcome o;
	unsigned key;

	zc->stats.strings++;
	bool zok = ZYAN_SUCCESS(ZydisDecoderDecodeFull(&zc->decoder, code, n, &zi, zops));
	int rc = x86_decode(code, n, zc->mode, &in);
	bool ok = rc == X86_DECODE_OK;
	*len = 0;

	if (!zok && !ok) {
		zc->stats.outcome[ZC_BOTH_REJECT]++;
		return ZC_BOTH_REJECT;
	}
	key = zok ? key_of_zydis(&zi) : key_of_ours(&in);
	snprintf(zc->cur_key, sizeof(zc->cur_key), "%s:%02x",
		 key_class_name(key), key & 0xFF);
	if (zok && !ok) {
		o = is_knc(&zi) ? ZC_ONLY_ZYDIS_KNC : ZC_ONLY_ZYDIS;
		*len = zi.length;
		example(zc, o, code, zi.length, "ours: %s; zydis: %s (%u bytes)",
			x86_decode_status_name(rc),
			ZydisMnemonicGetString(zi.mnemonic), zi.length);
		goto out;
	}
	if (!zok && ok) {
		o = ZC_ONLY_US;
		*len = in.length;
		/* Deliberate: AMD's LOCK MOV CR0 (= CR8); MPX opcodes with
		 * 16-bit addressing, hint NOPs on CPUs without MPX. */
		if (in.encoding == X86_ENC_LEGACY && in.map == X86_MAP_0F &&
		    (((in.opcode == 0x20 || in.opcode == 0x22) &&
		      (in.prefixes & X86_PFX_LOCK)) ||
		     ((in.opcode == 0x1A || in.opcode == 0x1B) && in.addrsize == 2)))
			zc->stats.known_only_us++;
		example(zc, o, code, in.length, "ours %u bytes (%s)", in.length,
			x86_mnemonic_name(in.mnemonic));
		goto out;
	}
	*len = zi.length;
	if (in.length != zi.length) {
		o = ZC_LEN_MISMATCH;
		example(zc, o, code, zi.length > in.length ? zi.length : in.length,
			"ours %u zydis %u (%s)", in.length, zi.length,
			ZydisMnemonicGetString(zi.mnemonic));
		goto out;
	}
	if (zydis_r13_bug(&in)) {
		o = ZC_ZYDIS_BUG;
		goto out;
	}
	if (!check_memory(zc, &in, &zi, zops, why, sizeof(why))) {
		o = ZC_MEM_MISMATCH;
		example(zc, o, code, in.length, "%s: %s",
			ZydisMnemonicGetString(zi.mnemonic), why);
		goto out;
	}
	if (in.mnemonic != X86_INSN_OTHER) {
		zc->stats.sem_checked++;
		if (!check_semantics(&in, &zi, zops, why, sizeof(why))) {
			o = ZC_SEM_MISMATCH;
			example(zc, o, code, in.length, "%s: %s",
				ZydisMnemonicGetString(zi.mnemonic), why);
			goto out;
		}
	}
	o = ZC_AGREE;
out:
	zc->stats.outcome[o]++;
	if (o != ZC_AGREE)
		zc->stats.by_key[o][key & 4095]++;
	return o;
}

uint64_t zc_failures(const struct zc *zc)
{
	const struct zc_stats *s = &zc->stats;
	return s->outcome[ZC_LEN_MISMATCH] + s->outcome[ZC_MEM_MISMATCH] +
	       s->outcome[ZC_SEM_MISMATCH] + s->outcome[ZC_ONLY_ZYDIS];
}

static const char *key_class_name(unsigned key)
{
	static const char *const names[16] = {
		"1byte", "0F", "0F38", "0F3A", "3DNow", "XOP8", "XOP9", "XOPA",
		"VEX1", "VEX2", "VEX3", "EVEX1", "EVEX2", "EVEX3", "EVEX5",
		"EVEX6" };
	return names[(key >> 8) & 15];
}

void zc_report(struct zc *zc, FILE *f, const char *title)
{
	const struct zc_stats *s = &zc->stats;
	fprintf(f, "%s (%d-bit): %" PRIu64 " strings\n", title, zc->mode, s->strings);
	for (unsigned o = 0; o < ZC_OUTCOMES; o++)
		fprintf(f, "  %-26s %" PRIu64 "\n", outcome_names[o], s->outcome[o]);
	fprintf(f, "  memory operands compared   %" PRIu64 "\n", s->mem_checked);
	fprintf(f, "  effective addresses        %" PRIu64 "\n", s->ea_checked);
	fprintf(f, "  semantic decodes compared  %" PRIu64 "\n", s->sem_checked);
	fprintf(f, "  of which deliberate (LOCK MOV CR8, MPX NOPs) %" PRIu64 "\n",
		s->known_only_us);
	for (unsigned o = ZC_LEN_MISMATCH; o < ZC_OUTCOMES; o++) {
		if (!s->outcome[o])
			continue;
		fprintf(f, "  by class for %s:", outcome_names[o]);
		for (unsigned c = 0; c < 16; c++) {
			uint64_t sum = 0;
			for (unsigned i = 0; i < 256; i++)
				sum += s->by_key[o][c << 8 | i];
			if (sum)
				fprintf(f, " %s=%" PRIu64, key_class_name(c << 8), sum);
		}
		fprintf(f, "\n");
		/* The most frequent keys. */
		uint32_t copy[4096];
		memcpy(copy, s->by_key[o], sizeof(copy));
		fprintf(f, "  top keys for %s:", outcome_names[o]);
		for (int k = 0; k < 24; k++) {
			unsigned best = 0;
			for (unsigned i = 1; i < 4096; i++)
				if (copy[i] > copy[best])
					best = i;
			if (!copy[best])
				break;
			fprintf(f, " %s:%02x=%u", key_class_name(best), best & 0xFF,
				copy[best]);
			copy[best] = 0;
		}
		fprintf(f, "\n");
	}
}
