/*
 * The decoder on hand-checked encodings: the length rules that are easy to
 * get wrong (AMD near branches, moffs, far pointers, ENTER, group 3,
 * EXTRQ/INSERTQ, 3DNow!, VEX/XOP/EVEX vs LES/LDS/BOUND/POP, MOV CR),
 * prefix rules (REX cancelled by a later prefix, 15-byte limit, LOCK,
 * prefixes before VEX), truncation, 16-bit addressing, RIP-relative and
 * wrapping effective addresses, and the operands of the instructions the
 * hypervisor meets at its exits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"

static int decode(enum x86_cpu_mode mode, const uint8_t *b, size_t n,
		  struct x86_insn *in)
{
	return x86_decode(b, n, mode, in);
}
#define DEC(mode, in, ...) \
	decode((mode), (const uint8_t[]){ __VA_ARGS__ }, \
	       sizeof((const uint8_t[]){ __VA_ARGS__ }), (in))

/* Decode and return the length (or the negative status). */
static int len_of(enum x86_cpu_mode mode, const uint8_t *b, size_t n)
{
	struct x86_insn in;
	int rc = x86_decode(b, n, mode, &in);
	return rc ? rc : in.length;
}
#define LEN(mode, ...) \
	len_of((mode), (const uint8_t[]){ __VA_ARGS__ }, \
	       sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void branches_follow_amd(void **state)
{
	(void)state;
	/* 64-bit mode: 66 shortens near CALL/JMP/Jcc to rel16 (AMD) */
	assert_int_equal(LEN(64, 0x66, 0xE8, 0, 0, 0, 0), 4);
	assert_int_equal(LEN(64, 0x66, 0x0F, 0x84, 0, 0, 0, 0), 5);
	assert_int_equal(LEN(64, 0xE9, 0, 0, 0, 0), 5);
	/* REX.W wins over 66 */
	assert_int_equal(LEN(64, 0x66, 0x48, 0xE8, 0, 0, 0, 0), 7);
	/* 32-bit mode: 66 gives rel16 as always */
	assert_int_equal(LEN(32, 0x66, 0xE8, 0, 0), 4);
	assert_int_equal(LEN(16, 0xE8, 0, 0), 3);
	struct x86_insn in;
	assert_int_equal(DEC(64, &in, 0xE8, 0xFB, 0xFF, 0xFF, 0xFF), 0);
	assert_true(in.has_rel);
	assert_int_equal(in.rel, -5);
}

static void immediates_by_size(void **state)
{
	(void)state;
	/* moffs: the address size */
	assert_int_equal(LEN(16, 0xA1, 0, 0), 3);
	assert_int_equal(LEN(32, 0xA1, 0, 0, 0, 0), 5);
	assert_int_equal(LEN(64, 0xA1, 0, 0, 0, 0, 0, 0, 0, 0), 9);
	assert_int_equal(LEN(64, 0x67, 0xA1, 0, 0, 0, 0), 6);
	assert_int_equal(LEN(32, 0x67, 0xA1, 0, 0), 4);
	/* MOV r, imm: the full operand size */
	assert_int_equal(LEN(64, 0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8), 10);
	assert_int_equal(LEN(64, 0xB8, 1, 2, 3, 4), 5);
	assert_int_equal(LEN(32, 0x66, 0xB8, 1, 2), 4);
	/* MOV r/m64, imm32 (sign-extended) */
	assert_int_equal(LEN(64, 0x48, 0xC7, 0xC0, 1, 2, 3, 4), 7);
	/* far CALL/JMP ptr16:16/32; invalid in 64-bit mode */
	assert_int_equal(LEN(32, 0x9A, 1, 2, 3, 4, 5, 6), 7);
	assert_int_equal(LEN(16, 0xEA, 1, 2, 3, 4), 5);
	assert_int_equal(LEN(64, 0xEA, 1, 2, 3, 4, 5, 6), X86_DECODE_INVALID);
	/* ENTER iw, ib; RET iw */
	assert_int_equal(LEN(32, 0xC8, 1, 2, 3), 4);
	assert_int_equal(LEN(32, 0xC2, 1, 2), 3);
	/* group 3: TEST has an immediate, NOT does not */
	assert_int_equal(LEN(32, 0xF7, 0xC0, 1, 2, 3, 4), 6);
	assert_int_equal(LEN(32, 0xF7, 0xD0), 2);
	assert_int_equal(LEN(32, 0xF6, 0x00, 1), 3);
	/* EXTRQ/INSERTQ ib, ib; VMREAD without */
	assert_int_equal(LEN(64, 0x66, 0x0F, 0x78, 0xC0, 1, 2), 6);
	assert_int_equal(LEN(64, 0xF2, 0x0F, 0x78, 0xC1, 1, 2), 6);
	assert_int_equal(LEN(64, 0x0F, 0x78, 0xC0), 3);
	/* 3DNow!: the opcode comes after ModRM and displacement */
	assert_int_equal(LEN(32, 0x0F, 0x0F, 0x40, 0x10, 0x9E), 5);
	assert_int_equal(LEN(32, 0x0F, 0x0F, 0x40, 0x10, 0xFF), X86_DECODE_INVALID);
	/* XBEGIN rel16/32 */
	assert_int_equal(LEN(64, 0xC7, 0xF8, 0, 0, 0, 0), 6);
	assert_int_equal(LEN(64, 0x66, 0xC7, 0xF8, 0, 0), 5);
}

static void vex_family_versus_legacy(void **state)
{
	(void)state;
	/* 32-bit mode: C4/C5/62 with mod != 11 are LES/LDS/BOUND */
	assert_int_equal(LEN(32, 0xC4, 0x00), 2);                /* les eax, [eax] */
	assert_int_equal(LEN(32, 0xC5, 0xF8, 0x77), 3);          /* vzeroupper */
	assert_int_equal(LEN(32, 0x62, 0x00), 2);                /* bound */
	assert_int_equal(LEN(64, 0xC5, 0xF8, 0x77), 3);
	assert_int_equal(LEN(64, 0xC4, 0xE3, 0x79, 0x0F, 0xC1, 0x08), 6); /* vpalignr imm8 */
	assert_int_equal(LEN(64, 0xC4, 0xE2, 0x79, 0x00, 0xC1), 5);       /* vpshufb */
	/* EVEX with a disp8 (scaled by N: flagged) */
	struct x86_insn in;
	assert_int_equal(DEC(64, &in, 0x62, 0xF1, 0x7C, 0x48, 0x58, 0x40, 0x01), 0);
	assert_int_equal(in.length, 7);
	assert_int_equal(in.encoding, X86_ENC_EVEX);
	assert_true(in.mem.disp8_scaled);
	/* XOP: 8F with a map >= 8; POP Ev otherwise */
	assert_int_equal(LEN(64, 0x8F, 0xE8, 0x78, 0xC2, 0xC1, 0x05), 6);  /* vprotd imm8 */
	assert_int_equal(LEN(64, 0x8F, 0xEA, 0x78, 0x10, 0xC0, 1, 2, 3, 4), 9); /* bextr imm32 */
	assert_int_equal(LEN(64, 0x8F, 0x00), 2);                /* pop qword [rax] */
	/* prefixes that make VEX #UD */
	assert_int_equal(LEN(64, 0x66, 0xC5, 0xF8, 0x77), X86_DECODE_INVALID);
	assert_int_equal(LEN(64, 0x48, 0xC5, 0xF8, 0x77), X86_DECODE_INVALID);
	assert_int_equal(LEN(64, 0xF0, 0xC5, 0xF8, 0x77), X86_DECODE_INVALID);
	/* removed from 64-bit mode */
	assert_int_equal(LEN(64, 0x06), X86_DECODE_INVALID);     /* push es */
	assert_int_equal(LEN(64, 0xD4, 0x0A), X86_DECODE_INVALID); /* aam */
}

static void prefix_rules(void **state)
{
	(void)state;
	struct x86_insn in;
	/* a REX followed by a legacy prefix is ignored */
	assert_int_equal(DEC(64, &in, 0x48, 0x66, 0x89, 0xC0), 0);
	assert_int_equal(in.rex, 0);
	assert_int_equal(in.opsize, 2);
	/* 14 prefixes + opcode = 15 bytes: fine; one more: #GP */
	uint8_t b[17];
	memset(b, 0x66, sizeof(b));
	b[14] = 0x90;
	assert_int_equal(len_of(32, b, 15), 15);
	b[14] = 0x66;
	b[15] = 0x90;
	assert_int_equal(len_of(32, b, 16), X86_DECODE_TOO_LONG);
	/* an immediate pushing past 15 bytes */
	memset(b, 0x66, 12);
	b[12] = 0x48; b[13] = 0xB8; /* mov rax, imm64 */
	assert_int_equal(len_of(64, b, 17), X86_DECODE_TOO_LONG);
	/* truncation anywhere */
	const uint8_t full[] = { 0xF0, 0x48, 0x0F, 0xC7, 0x8C, 0x24, 1, 2, 3, 4 };
	for (size_t n = 0; n < sizeof(full); n++)
		assert_int_equal(len_of(64, full, n), X86_DECODE_TRUNCATED);
	assert_int_equal(len_of(64, full, sizeof(full)), 10);
	/* LOCK only on read-modify-write memory destinations */
	assert_int_equal(LEN(64, 0xF0, 0x01, 0x00), 3);          /* lock add [rax], eax */
	assert_int_equal(LEN(64, 0xF0, 0x01, 0xC0), X86_DECODE_INVALID); /* register */
	assert_int_equal(LEN(64, 0xF0, 0x39, 0x00), X86_DECODE_INVALID); /* cmp */
	assert_int_equal(LEN(64, 0xF0, 0x89, 0x00), X86_DECODE_INVALID); /* mov */
	assert_int_equal(LEN(64, 0xF0, 0x0F, 0xC7, 0x08), 4);    /* cmpxchg8b */
	/* the segment override in 64-bit mode: only FS/GS count, the last one */
	assert_int_equal(DEC(64, &in, 0x64, 0x26, 0x8B, 0x00), 0);
	assert_int_equal(in.mem.seg, X86_FS);
	assert_int_equal(DEC(32, &in, 0x64, 0x26, 0x8B, 0x00), 0);
	assert_int_equal(in.mem.seg, X86_ES);
	assert_int_equal(x86_decode(b, 4, (enum x86_cpu_mode)48, &in),
			 X86_DECODE_BAD_MODE);
}

static void mov_cr_dr(void **state)
{
	(void)state;
	struct x86_insn in;
	/* mod is ignored: always registers, never a displacement */
	assert_int_equal(DEC(32, &in, 0x0F, 0x22, 0x18), 0);
	assert_int_equal(in.length, 3);
	assert_int_equal(in.mnemonic, X86_INSN_MOV);
	assert_int_equal(in.op[0].reg.cls, X86_RC_CR);
	assert_int_equal(in.op[0].reg.num, 3);
	assert_int_equal(in.op[1].reg.num, X86_RAX);
	assert_int_equal(in.op[1].size, 4);
	/* 64-bit, REX.R: CR8; REX.B: R9; 66 is ignored (always 64 bits) */
	assert_int_equal(DEC(64, &in, 0x66, 0x45, 0x0F, 0x20, 0xC1), 0);
	assert_int_equal(in.op[0].reg.num, X86_R9);
	assert_int_equal(in.op[0].size, 8);
	assert_int_equal(in.op[1].reg.num, 8);
	/* CR1, CR5-7, CR9-15 and DR8-15 are #UD */
	assert_int_equal(LEN(32, 0x0F, 0x20, 0xC8), X86_DECODE_INVALID);
	assert_int_equal(LEN(64, 0x44, 0x0F, 0x20, 0xC8), X86_DECODE_INVALID);
	assert_int_equal(LEN(64, 0x44, 0x0F, 0x21, 0xC0), X86_DECODE_INVALID);
	/* AMD: LOCK MOV CR0 is CR8 */
	assert_int_equal(DEC(32, &in, 0xF0, 0x0F, 0x20, 0xC0), 0);
	assert_int_equal(in.op[1].reg.num, 8);
}

static void addressing_16(void **state)
{
	(void)state;
	struct x86_insn in;
	uint64_t gpr[16] = { 0 };
	/* mov ax, [bp+si+0x10]: SS, 16-bit wrap */
	assert_int_equal(DEC(16, &in, 0x8B, 0x42, 0x10), 0);
	assert_int_equal(in.mem.base, X86_RBP);
	assert_int_equal(in.mem.index, X86_RSI);
	assert_int_equal(in.mem.seg, X86_SS);
	gpr[X86_RBP] = 0xFFF0;
	gpr[X86_RSI] = 0x0008;
	assert_int_equal(x86_effective_address(&in, gpr, 0), 0x0008);
	/* [disp16] */
	assert_int_equal(DEC(16, &in, 0x8B, 0x06, 0x34, 0x12), 0);
	assert_int_equal(in.mem.base, X86_REG_NONE);
	assert_int_equal(x86_effective_address(&in, gpr, 0), 0x1234);
	/* 67 in 16-bit mode: 32-bit addressing with SIB */
	assert_int_equal(DEC(16, &in, 0x67, 0x8B, 0x04, 0x8B), 0); /* [ebx+ecx*4] */
	assert_int_equal(in.addrsize, 4);
	assert_int_equal(in.mem.scale, 4);
}

static void addressing_64(void **state)
{
	(void)state;
	struct x86_insn in;
	uint64_t gpr[16] = { 0 };
	/* RIP-relative: next RIP + disp32 */
	assert_int_equal(DEC(64, &in, 0x8B, 0x05, 0x10, 0, 0, 0), 0);
	assert_int_equal(in.mem.base, X86_REG_RIP);
	assert_int_equal(x86_effective_address(&in, gpr, 0x1000 + in.length), 0x1016);
	/* EIP-relative with 67 wraps at 4 GiB */
	assert_int_equal(DEC(64, &in, 0x67, 0x8B, 0x05, 0x10, 0, 0, 0), 0);
	assert_int_equal(x86_effective_address(&in, gpr, 0xFFFFFFF8), 0x8);
	/* [r13] needs a disp8; [r12] needs a SIB; SIB base 101 mod 00 is disp32 */
	assert_int_equal(DEC(64, &in, 0x41, 0x8B, 0x45, 0x00), 0);
	assert_int_equal(in.mem.base, X86_R13);
	assert_int_equal(in.mem.seg, X86_DS);
	assert_int_equal(DEC(64, &in, 0x41, 0x8B, 0x04, 0x24), 0);
	assert_int_equal(in.mem.base, X86_R12);
	assert_int_equal(in.mem.index, X86_REG_NONE);
	assert_int_equal(DEC(64, &in, 0x41, 0x8B, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12), 0);
	assert_int_equal(in.mem.base, X86_REG_NONE);
	assert_int_equal(x86_effective_address(&in, gpr, 0), 0x12345678);
	/* REX.X extends the index: r12 as an index is real (not "none") */
	assert_int_equal(DEC(64, &in, 0x42, 0x8B, 0x04, 0xA0), 0); /* [rax+r12*4] */
	assert_int_equal(in.mem.index, X86_R12);
	/* 32-bit addressing wraps */
	gpr[X86_RAX] = 0xFFFFFFFF;
	assert_int_equal(DEC(64, &in, 0x67, 0x8B, 0x40, 0x02), 0);
	assert_int_equal(x86_effective_address(&in, gpr, 0), 1);
	/* negative displacements */
	gpr[X86_RBX] = 0x1000;
	assert_int_equal(DEC(64, &in, 0x8B, 0x43, 0xF0), 0);
	assert_int_equal(x86_effective_address(&in, gpr, 0), 0xFF0);
}

static void exit_instructions(void **state)
{
	(void)state;
	struct x86_insn in;
	/* invlpg [rax+8] */
	assert_int_equal(DEC(64, &in, 0x0F, 0x01, 0x78, 0x08), 0);
	assert_int_equal(in.mnemonic, X86_INSN_INVLPG);
	assert_int_equal(in.op[0].kind, X86_OP_MEM);
	assert_int_equal(in.op[0].mem.disp, 8);
	/* invlpg with a register is #UD (0F 01 F8 is SWAPGS) */
	assert_int_equal(DEC(64, &in, 0x0F, 0x01, 0xF8), 0);
	assert_int_equal(in.mnemonic, X86_INSN_SWAPGS);
	assert_int_equal(LEN(32, 0x0F, 0x01, 0xF8), X86_DECODE_INVALID);
	/* rep outsw with an ES override, 16-bit address size in 32-bit mode */
	assert_int_equal(DEC(32, &in, 0xF3, 0x26, 0x67, 0x66, 0x6F), 0);
	assert_int_equal(in.mnemonic, X86_INSN_OUTSW);
	assert_int_equal(in.addrsize, 2);
	assert_int_equal(in.op[0].mem.seg, X86_ES);
	assert_true(in.prefixes & X86_PFX_REP);
	/* rep insd: ES:EDI always */
	assert_int_equal(DEC(32, &in, 0xF3, 0x64, 0x6D), 0);
	assert_int_equal(in.mnemonic, X86_INSN_INSD);
	assert_int_equal(in.op[0].mem.seg, X86_ES);
	assert_int_equal(in.op[0].mem.base, X86_RDI);
	/* in al, 0x71; out dx, eax */
	assert_int_equal(DEC(32, &in, 0xE4, 0x71), 0);
	assert_int_equal(in.mnemonic, X86_INSN_IN);
	assert_int_equal(in.op[1].imm, 0x71);
	assert_int_equal(DEC(32, &in, 0xEF), 0);
	assert_int_equal(in.mnemonic, X86_INSN_OUT);
	assert_int_equal(in.op[1].size, 4);
	/* cpuid, hlt, vmmcall, rdmsr, wrmsr: lengths and names */
	assert_int_equal(DEC(64, &in, 0x0F, 0xA2), 0);
	assert_int_equal(in.mnemonic, X86_INSN_CPUID);
	assert_int_equal(DEC(64, &in, 0xF4), 0);
	assert_int_equal(in.mnemonic, X86_INSN_HLT);
	assert_int_equal(DEC(64, &in, 0x0F, 0x01, 0xD9), 0);
	assert_int_equal(in.mnemonic, X86_INSN_VMMCALL);
	assert_int_equal(in.length, 3);
	assert_int_equal(DEC(64, &in, 0x0F, 0x32), 0);
	assert_int_equal(in.mnemonic, X86_INSN_RDMSR);
	/* lock cmpxchg16b [rdi] */
	assert_int_equal(DEC(64, &in, 0xF0, 0x48, 0x0F, 0xC7, 0x0F), 0);
	assert_int_equal(in.mnemonic, X86_INSN_CMPXCHG16B);
	assert_int_equal(in.op[0].size, 16);
	/* rep stosq */
	assert_int_equal(DEC(64, &in, 0xF3, 0x48, 0xAB), 0);
	assert_int_equal(in.mnemonic, X86_INSN_STOSQ);
	assert_int_equal(in.opsize, 8);
	/* mov [rdi], eax and its bytes kept for messages */
	assert_int_equal(DEC(64, &in, 0x89, 0x07), 0);
	assert_int_equal(in.bytes[0], 0x89);
	assert_int_equal(in.bytes[1], 0x07);
	assert_string_equal(x86_mnemonic_name(in.mnemonic), "mov");
	assert_string_equal(x86_decode_status_name(X86_DECODE_TRUNCATED), "truncated");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(branches_follow_amd),
		cmocka_unit_test(immediates_by_size),
		cmocka_unit_test(vex_family_versus_legacy),
		cmocka_unit_test(prefix_rules),
		cmocka_unit_test(mov_cr_dr),
		cmocka_unit_test(addressing_16),
		cmocka_unit_test(addressing_64),
		cmocka_unit_test(exit_instructions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
