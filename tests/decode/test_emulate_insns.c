/*
 * The emulator, instruction by instruction, against results worked out
 * from the manuals: memory, registers, RIP, flags (exactly), REP
 * semantics with DF, chunking and faults, CMPXCHG success and failure,
 * CMPXCHG8B/16B, BT* with register and memory bit offsets, XCHG, MOVNTI,
 * MOV CR, INVLPG, IN/OUT/INS/OUTS, segment and canonical checks, and the
 * refusal message of what is not emulated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emutest.h"

#define DATA 0x10000ull   /* a mapped data page (two: 0x10000, 0x11000) */

static int setup64(void **state)
{
	struct emt *m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	emt_init64(m);
	emt_map(m, DATA, false);
	emt_map(m, DATA + 4096, false);
	m->regs.gpr[X86_RBX] = DATA + 0x100;
	*state = m;
	return 0;
}

static int setup32(void **state)
{
	struct emt *m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	emt_init32(m);
	emt_map(m, DATA, false);
	emt_map(m, DATA + 4096, false);
	m->regs.gpr[X86_RBX] = DATA + 0x100;
	*state = m;
	return 0;
}

static int setup16(void **state)
{
	struct emt *m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	emt_init16(m);
	emt_map(m, 0x0000, false);
	emt_map(m, DATA, false);
	emt_map(m, DATA + 4096, false);
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

#define ARITH X86_FLAGS_ARITH
#define CF X86_FLAG_CF
#define PF X86_FLAG_PF
#define AF X86_FLAG_AF
#define ZF X86_FLAG_ZF
#define SF X86_FLAG_SF
#define OF X86_FLAG_OF

/* RIP moved past an instruction of `len` bytes. */
static void assert_advanced(struct emt *m, uint64_t rip0)
{
	assert_int_equal(m->regs.rip, rip0 + m->insn.length);
}

/* ---- MOV ----------------------------------------------------------------------- */

static void mov_store_sizes(void **state)
{
	struct emt *m = *state;
	uint64_t rip0 = m->regs.rip;
	m->regs.gpr[X86_RAX] = 0x1122334455667788ull;
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x03), X86_EMU_DONE); /* mov [rbx], rax */
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x1122334455667788ull);
	assert_advanced(m, rip0);
	/* A page-table entry is written in one 8-byte access. */
	assert_int_equal(m->n_log, 1);
	assert_int_equal(m->log[0].kind, 'w');
	assert_int_equal(m->log[0].size, 8);

	m->regs.gpr[X86_RCX] = 0xAABBCCDD;
	assert_int_equal(EMT_RUN(m, 0x89, 0x4B, 0x08), X86_EMU_DONE); /* mov [rbx+8], ecx */
	assert_int_equal(emt_peek64(m, DATA + 0x108, 4), 0xAABBCCDD);
	m->regs.gpr[X86_RDX] = 0x1234;
	assert_int_equal(EMT_RUN(m, 0x66, 0x89, 0x53, 0x10), X86_EMU_DONE); /* mov [rbx+16], dx */
	assert_int_equal(emt_peek64(m, DATA + 0x110, 2), 0x1234);
	m->regs.gpr[X86_RAX] = 0xBEEF;
	assert_int_equal(EMT_RUN(m, 0x88, 0x63, 0x18), X86_EMU_DONE); /* mov [rbx+24], ah */
	assert_int_equal(emt_peek64(m, DATA + 0x118, 1), 0xBE);
	m->regs.gpr[X86_RSI] = 0x77;
	assert_int_equal(EMT_RUN(m, 0x40, 0x88, 0x73, 0x19), X86_EMU_DONE); /* mov [rbx+25], sil */
	assert_int_equal(emt_peek64(m, DATA + 0x119, 1), 0x77);
	/* mov qword [rbx+32], -16: the imm32 is sign-extended */
	assert_int_equal(EMT_RUN(m, 0x48, 0xC7, 0x43, 0x20, 0xF0, 0xFF, 0xFF, 0xFF),
			 X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x120, 8), 0xFFFFFFFFFFFFFFF0ull);
	/* mov byte [rbx+40], 0x5a */
	assert_int_equal(EMT_RUN(m, 0xC6, 0x43, 0x28, 0x5A), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x128, 1), 0x5A);
}

static void mov_load_sizes(void **state)
{
	struct emt *m = *state;
	emt_poke64(m, DATA + 0x100, 0x8877665544332211ull, 8);
	m->regs.gpr[X86_RAX] = ~0ull;
	assert_int_equal(EMT_RUN(m, 0x8B, 0x03), X86_EMU_DONE); /* mov eax, [rbx]: zero-extends */
	assert_int_equal(m->regs.gpr[X86_RAX], 0x44332211ull);
	m->regs.gpr[X86_RAX] = ~0ull;
	assert_int_equal(EMT_RUN(m, 0x8A, 0x03), X86_EMU_DONE); /* mov al, [rbx]: merges */
	assert_int_equal(m->regs.gpr[X86_RAX], 0xFFFFFFFFFFFFFF11ull);
	m->regs.gpr[X86_RAX] = ~0ull;
	assert_int_equal(EMT_RUN(m, 0x66, 0x8B, 0x03), X86_EMU_DONE); /* mov ax, [rbx] */
	assert_int_equal(m->regs.gpr[X86_RAX], 0xFFFFFFFFFFFF2211ull);
	assert_int_equal(EMT_RUN(m, 0x0F, 0xB6, 0x43, 0x07), X86_EMU_DONE); /* movzx eax, byte [rbx+7] */
	assert_int_equal(m->regs.gpr[X86_RAX], 0x88);
	assert_int_equal(EMT_RUN(m, 0x48, 0x0F, 0xBF, 0x43, 0x06), X86_EMU_DONE); /* movsx rax, word [rbx+6] */
	assert_int_equal(m->regs.gpr[X86_RAX], 0xFFFFFFFFFFFF8877ull);
	assert_int_equal(EMT_RUN(m, 0x48, 0x63, 0x43, 0x04), X86_EMU_DONE); /* movsxd rax, [rbx+4] */
	assert_int_equal(m->regs.gpr[X86_RAX], 0xFFFFFFFF88776655ull);
}

static void mov_moffs_and_imm64(void **state)
{
	struct emt *m = *state;
	m->regs.gpr[X86_RAX] = 0xCAFEF00DDEADBEEFull;
	/* mov [DATA+0x200], rax with a 64-bit moffs */
	assert_int_equal(EMT_RUN(m, 0x48, 0xA3, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0),
			 X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x200, 8), 0xCAFEF00DDEADBEEFull);
	assert_int_equal(m->insn.length, 10);
	/* mov r8, imm64 */
	assert_int_equal(EMT_RUN(m, 0x49, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_R8], 0x0807060504030201ull);
}

static void mov_rip_relative(void **state)
{
	struct emt *m = *state;
	m->regs.rip = DATA + 0x300;
	m->regs.gpr[X86_RCX] = 0x4242;
	/* mov [rip + 0x10], ecx: 6 bytes, so the target is rip + 6 + 0x10 */
	assert_int_equal(EMT_RUN(m, 0x89, 0x0D, 0x10, 0, 0, 0), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x316, 4), 0x4242);
	assert_int_equal(m->regs.rip, DATA + 0x306);
}

static void movnti_store(void **state)
{
	struct emt *m = *state;
	m->regs.gpr[X86_RAX] = 0x0123456789ABCDEFull;
	assert_int_equal(EMT_RUN(m, 0x48, 0x0F, 0xC3, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x0123456789ABCDEFull);
	assert_int_equal(m->insn.mnemonic, X86_INSN_MOVNTI);
}

/* ---- faults ---------------------------------------------------------------------- */

static void store_to_readonly_page_faults(void **state)
{
	struct emt *m = *state;
	emt_map(m, 0x20000, true);
	m->regs.gpr[X86_RBX] = 0x20010;
	uint64_t rip0 = m->regs.rip;
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x03), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_PF);
	assert_int_equal(m->ctx.fault.error_code, 3); /* P | W */
	assert_int_equal(m->ctx.fault.cr2, 0x20010);
	assert_int_equal(m->regs.rip, rip0);
}

static void store_across_pages_faults_at_second(void **state)
{
	struct emt *m = *state;
	m->regs.gpr[X86_RBX] = DATA + 2 * 4096 - 4; /* 4 bytes mapped, 4 not */
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x03), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.error_code, 2); /* not present, W */
	assert_int_equal(m->ctx.fault.cr2, DATA + 2 * 4096);
}

static void non_canonical_is_gp_or_ss(void **state)
{
	struct emt *m = *state;
	m->regs.gpr[X86_RBX] = 0x0000800000000000ull;
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x03), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_GP);
	assert_int_equal(m->ctx.fault.error_code, 0);
	m->regs.gpr[X86_RBP] = 0x0000800000000000ull;
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x45, 0x00), X86_EMU_FAULT); /* [rbp] */
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_SS);
	/* With LA57 the address is canonical. */
	m->regs.cr4 |= X86_EMU_CR4_LA57;
	m->regs.gpr[X86_RBX] = 0x0000800000000000ull;
	emt_map(m, 0x0000800000000000ull, false);
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x03), X86_EMU_DONE);
}

static void fs_base_applies_in_64bit_mode(void **state)
{
	struct emt *m = *state;
	m->regs.seg[X86_FS].base = 0x1000;
	m->regs.seg[X86_ES].base = 0x5000; /* ignored in 64-bit mode */
	m->regs.gpr[X86_RBX] = DATA - 0x1000 + 0x40;
	m->regs.gpr[X86_RAX] = 0x99;
	assert_int_equal(EMT_RUN(m, 0x64, 0x88, 0x03), X86_EMU_DONE); /* mov fs:[rbx], al */
	assert_int_equal(emt_peek64(m, DATA + 0x40, 1), 0x99);
	m->regs.gpr[X86_RBX] = DATA + 0x41;
	assert_int_equal(EMT_RUN(m, 0x26, 0x88, 0x03), X86_EMU_DONE); /* es: ignored */
	assert_int_equal(emt_peek64(m, DATA + 0x41, 1), 0x99);
}

static void segment_limit_and_type_32(void **state)
{
	struct emt *m = *state;
	m->regs.seg[X86_DS].limit = DATA + 0x103; /* last valid byte */
	m->regs.gpr[X86_RAX] = 1;
	assert_int_equal(EMT_RUN(m, 0x89, 0x03), X86_EMU_DONE);       /* [DATA+0x100..0x103] */
	assert_int_equal(EMT_RUN(m, 0x89, 0x43, 0x01), X86_EMU_FAULT); /* one byte over */
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_GP);
	/* A read-only data segment refuses writes, allows reads. */
	m->regs.seg[X86_DS].limit = 0xFFFFFFFF;
	m->regs.seg[X86_DS].attr &= (uint16_t)~2u;
	assert_int_equal(EMT_RUN(m, 0x89, 0x03), X86_EMU_FAULT);
	assert_int_equal(EMT_RUN(m, 0x8B, 0x03), X86_EMU_DONE);
	/* Stack-segment faults are #SS. */
	m->regs.seg[X86_SS].limit = 0xFFF;
	m->regs.gpr[X86_RBP] = DATA;
	assert_int_equal(EMT_RUN(m, 0x89, 0x45, 0x00), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_SS);
	/* An expand-down segment allows only offsets above its limit. */
	m->regs.seg[X86_ES] = m->regs.seg[X86_DS];
	m->regs.seg[X86_ES].attr |= 2 | 4;
	m->regs.seg[X86_ES].limit = DATA + 0x0FF;
	assert_int_equal(EMT_RUN(m, 0x26, 0x89, 0x03), X86_EMU_DONE);       /* DATA+0x100 */
	assert_int_equal(EMT_RUN(m, 0x26, 0x89, 0x43, 0xFF), X86_EMU_FAULT); /* DATA+0xFF */
	/* Segment bases are added (and wrap at 4 GiB). */
	m->regs.seg[X86_FS] = m->regs.seg[X86_ES];
	m->regs.seg[X86_FS].attr = (uint16_t)(m->regs.seg[X86_FS].attr & ~4u);
	m->regs.seg[X86_FS].limit = 0xFFFFFFFF;
	m->regs.seg[X86_FS].base = 0xFFFFF000;
	m->regs.gpr[X86_RBX] = DATA + 0x1000 + 0x20; /* wraps to DATA + 0x20 */
	m->regs.gpr[X86_RAX] = 0xA5A5;
	assert_int_equal(EMT_RUN(m, 0x64, 0x89, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x20, 4), 0xA5A5);
}

static void alignment_check_at_cpl3(void **state)
{
	struct emt *m = *state;
	m->regs.cr0 |= X86_EMU_CR0_AM;
	m->regs.rflags |= X86_FLAG_AC;
	m->regs.cpl = 3;
	m->regs.gpr[X86_RBX] = DATA + 0x101;
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x03), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_AC);
	m->regs.cpl = 0;
	assert_int_equal(EMT_RUN(m, 0x48, 0x89, 0x03), X86_EMU_DONE);
}

/* ---- arithmetic and logic ---------------------------------------------------------- */

static void lock_add_sub_flags(void **state)
{
	struct emt *m = *state;
	/* lock add dword [rbx], eax: 0x7fffffff + 1 = 0x80000000: OF SF AF PF */
	emt_poke64(m, DATA + 0x100, 0x7FFFFFFF, 4);
	m->regs.gpr[X86_RAX] = 1;
	m->regs.rflags = 0x2 | CF;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x01, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 4), 0x80000000);
	assert_int_equal(m->regs.rflags & ARITH, OF | SF | AF | PF);
	assert_int_equal(m->log[m->n_log - 1].kind, 'x'); /* atomic commit */
	/* lock sub byte [rbx], 1: 0x00 - 1 = 0xff: CF SF AF PF */
	emt_poke64(m, DATA + 0x100, 0, 1);
	assert_int_equal(EMT_RUN(m, 0xF0, 0x80, 0x2B, 0x01), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 1), 0xFF);
	assert_int_equal(m->regs.rflags & ARITH, CF | SF | AF | PF);
	/* add qword [rbx], -1 with the value 1: result 0, CF ZF AF PF */
	emt_poke64(m, DATA + 0x100, 1, 8);
	assert_int_equal(EMT_RUN(m, 0x48, 0x83, 0x03, 0xFF), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0);
	assert_int_equal(m->regs.rflags & ARITH, CF | ZF | AF | PF);
	/* adc with CF set: 5 + 3 + 1 = 9 */
	emt_poke64(m, DATA + 0x100, 5, 4);
	m->regs.gpr[X86_RCX] = 3;
	m->regs.rflags |= CF;
	assert_int_equal(EMT_RUN(m, 0x11, 0x0B), X86_EMU_DONE); /* adc [rbx], ecx */
	assert_int_equal(emt_peek64(m, DATA + 0x100, 4), 9);
	assert_int_equal(m->regs.rflags & ARITH, PF); /* no carry out of bit 3 */
	/* sbb with CF set: 5 - 5 - 1 = -1: CF SF AF PF */
	emt_poke64(m, DATA + 0x100, 5, 4);
	m->regs.gpr[X86_RCX] = 5;
	m->regs.rflags |= CF;
	assert_int_equal(EMT_RUN(m, 0x19, 0x0B), X86_EMU_DONE); /* sbb [rbx], ecx */
	assert_int_equal(emt_peek64(m, DATA + 0x100, 4), 0xFFFFFFFF);
	assert_int_equal(m->regs.rflags & ARITH, CF | SF | AF | PF);
	/* cmp [rbx], ecx does not write */
	m->n_log = 0;
	assert_int_equal(EMT_RUN(m, 0x39, 0x0B), X86_EMU_DONE);
	for (unsigned i = 0; i < m->n_log; i++)
		assert_int_equal(m->log[i].kind, 'r');
}

static void lock_or_and_xor_flags(void **state)
{
	struct emt *m = *state;
	/* lock or qword [rbx], 1: a PTE gets its present bit; CF OF AF cleared */
	emt_poke64(m, DATA + 0x100, 0x8000000000123000ull, 8);
	m->regs.rflags = 0x2 | CF | OF | AF | ZF;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x83, 0x0B, 0x01), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x8000000000123001ull);
	assert_int_equal(m->regs.rflags & ARITH, SF);
	/* lock and dword [rbx], 0xfffffffd (clear RW) */
	emt_poke64(m, DATA + 0x100, 0x00123067, 4);
	assert_int_equal(EMT_RUN(m, 0xF0, 0x81, 0x23, 0xFD, 0xFF, 0xFF, 0xFF), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 4), 0x00123065);
	assert_int_equal(m->regs.rflags & ARITH, PF); /* 0x65 has four ones */
}

static void logic_parity(void **state)
{
	struct emt *m = *state;
	/* xor [rbx], rax leaving 0x03: two ones in the low byte: PF */
	emt_poke64(m, DATA + 0x100, 0xF0, 8);
	m->regs.gpr[X86_RAX] = 0xF3;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x31, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x03);
	assert_int_equal(m->regs.rflags & ARITH, PF);
	/* xor leaving 0: ZF PF */
	m->regs.gpr[X86_RAX] = 0x03;
	assert_int_equal(EMT_RUN(m, 0x48, 0x31, 0x03), X86_EMU_DONE);
	assert_int_equal(m->regs.rflags & ARITH, ZF | PF);
	/* test does not write */
	emt_poke64(m, DATA + 0x100, 0x80, 1);
	assert_int_equal(EMT_RUN(m, 0xF6, 0x03, 0x80), X86_EMU_DONE); /* test byte [rbx], 0x80 */
	assert_int_equal(m->regs.rflags & ARITH, SF);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 1), 0x80);
}

static void inc_dec_neg_not(void **state)
{
	struct emt *m = *state;
	/* inc keeps CF */
	emt_poke64(m, DATA + 0x100, 0xFF, 1);
	m->regs.rflags = 0x2 | CF;
	assert_int_equal(EMT_RUN(m, 0xF0, 0xFE, 0x03), X86_EMU_DONE); /* lock inc byte [rbx] */
	assert_int_equal(emt_peek64(m, DATA + 0x100, 1), 0);
	assert_int_equal(m->regs.rflags & ARITH, CF | ZF | AF | PF);
	/* dec dword: 0x80000000 - 1: OF AF PF, CF kept (clear) */
	emt_poke64(m, DATA + 0x100, 0x80000000, 4);
	m->regs.rflags = 0x2;
	assert_int_equal(EMT_RUN(m, 0xFF, 0x0B), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 4), 0x7FFFFFFF);
	assert_int_equal(m->regs.rflags & ARITH, OF | AF | PF);
	/* neg 0: CF = 0, ZF */
	emt_poke64(m, DATA + 0x100, 0, 8);
	assert_int_equal(EMT_RUN(m, 0x48, 0xF7, 0x1B), X86_EMU_DONE);
	assert_int_equal(m->regs.rflags & ARITH, ZF | PF);
	/* neg 1 = -1: CF SF AF PF */
	emt_poke64(m, DATA + 0x100, 1, 8);
	assert_int_equal(EMT_RUN(m, 0x48, 0xF7, 0x1B), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), ~0ull);
	assert_int_equal(m->regs.rflags & ARITH, CF | SF | AF | PF);
	/* not: no flags */
	m->regs.rflags = 0x2 | OF | CF;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0xF7, 0x13), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0);
	assert_int_equal(m->regs.rflags & ARITH, OF | CF);
}

static void locked_update_retries_when_memory_changes(void **state)
{
	struct emt *m = *state;
	emt_poke64(m, DATA + 0x100, 0x10, 8);
	m->interfere = 2; /* two other writers get in between */
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x83, 0x03, 0x01), X86_EMU_DONE);
	/* 0x10 ^ 0x5a ^ 0x5a + 1: the final value builds on what was there */
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x11);
	unsigned x = 0;
	for (unsigned i = 0; i < m->n_log; i++)
		x += m->log[i].kind == 'x';
	assert_int_equal(x, 3);
}

/* ---- exchange instructions ---------------------------------------------------------- */

static void xchg_memory_and_registers(void **state)
{
	struct emt *m = *state;
	emt_poke64(m, DATA + 0x100, 0x1111, 8);
	m->regs.gpr[X86_RAX] = 0x2222;
	assert_int_equal(EMT_RUN(m, 0x48, 0x87, 0x03), X86_EMU_DONE); /* xchg [rbx], rax */
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x2222);
	assert_int_equal(m->regs.gpr[X86_RAX], 0x1111);
	assert_int_equal(m->log[m->n_log - 1].kind, 'x'); /* implicitly locked */
	m->regs.gpr[X86_RCX] = 0x3333;
	assert_int_equal(EMT_RUN(m, 0x48, 0x91), X86_EMU_DONE); /* xchg rcx, rax */
	assert_int_equal(m->regs.gpr[X86_RAX], 0x3333);
	assert_int_equal(m->regs.gpr[X86_RCX], 0x1111);
	/* xchg eax, eax (87 c0) zero-extends; 90 is NOP */
	m->regs.gpr[X86_RAX] = 0xFFFFFFFF00000001ull;
	assert_int_equal(EMT_RUN(m, 0x90), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RAX], 0xFFFFFFFF00000001ull);
	assert_int_equal(EMT_RUN(m, 0x87, 0xC0), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RAX], 1);
}

static void xadd_memory(void **state)
{
	struct emt *m = *state;
	emt_poke64(m, DATA + 0x100, 0xFFFFFFFF, 4);
	m->regs.gpr[X86_RAX] = 1;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x0F, 0xC1, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 4), 0);
	assert_int_equal(m->regs.gpr[X86_RAX], 0xFFFFFFFF);
	assert_int_equal(m->regs.rflags & ARITH, CF | ZF | AF | PF);
}

static void cmpxchg_success_and_failure(void **state)
{
	struct emt *m = *state;
	/* success: [rbx] == rax: ZF, [rbx] = rcx */
	emt_poke64(m, DATA + 0x100, 0x1000, 8);
	m->regs.gpr[X86_RAX] = 0x1000;
	m->regs.gpr[X86_RCX] = 0x2003;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x0F, 0xB1, 0x0B), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x2003);
	assert_int_equal(m->regs.gpr[X86_RAX], 0x1000);
	assert_int_equal(m->regs.rflags & ARITH, ZF | PF);
	/* failure: rax = [rbx], flags of cmp rax, [rbx] (0x1000 - 0x2003) */
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x0F, 0xB1, 0x0B), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x2003);
	assert_int_equal(m->regs.gpr[X86_RAX], 0x2003);
	assert_int_equal(m->regs.rflags & ARITH, CF | SF | AF);
	/* 32-bit failure writes EAX: the upper half of RAX is cleared */
	emt_poke64(m, DATA + 0x100, 7, 4);
	m->regs.gpr[X86_RAX] = 0xFFFFFFFF00000006ull;
	assert_int_equal(EMT_RUN(m, 0x0F, 0xB1, 0x0B), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RAX], 7);
	/* without a cmpxchg callback: read + write, same results */
	m->use_cmpxchg = false;
	emt_poke64(m, DATA + 0x100, 0x55, 1);
	m->regs.gpr[X86_RAX] = 0x55;
	m->regs.gpr[X86_RCX] = 0x66;
	assert_int_equal(EMT_RUN(m, 0x0F, 0xB0, 0x0B), X86_EMU_DONE); /* cmpxchg [rbx], cl */
	assert_int_equal(emt_peek64(m, DATA + 0x100, 1), 0x66);
	assert_true(m->regs.rflags & ZF);
	m->use_cmpxchg = true;
	/* register destination: cmpxchg ecx, edx */
	m->regs.gpr[X86_RAX] = 5;
	m->regs.gpr[X86_RCX] = 5;
	m->regs.gpr[X86_RDX] = 9;
	assert_int_equal(EMT_RUN(m, 0x0F, 0xB1, 0xD1), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RCX], 9);
	assert_true(m->regs.rflags & ZF);
}

static void cmpxchg_faults_as_a_write(void **state)
{
	struct emt *m = *state;
	emt_map(m, 0x30000, true);
	m->regs.gpr[X86_RBX] = 0x30000;
	m->regs.gpr[X86_RAX] = 1; /* differs from memory (0) */
	assert_int_equal(EMT_RUN(m, 0xF0, 0x0F, 0xB1, 0x0B), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.error_code, 3);
	assert_int_equal(m->regs.gpr[X86_RAX], 1);
}

static void cmpxchg8b_16b(void **state)
{
	struct emt *m = *state;
	/* cmpxchg8b success: edx:eax matches, memory = ecx:ebx */
	emt_poke64(m, DATA + 0x100, 0x0000000200000001ull, 8);
	m->regs.gpr[X86_RAX] = 1;
	m->regs.gpr[X86_RDX] = 2;
	m->regs.gpr[X86_RCX] = 0xC;
	uint64_t rbx = m->regs.gpr[X86_RBX];
	m->regs.gpr[X86_RBX] = DATA + 0x100;
	m->regs.rflags = 0x2 | CF | SF;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x0F, 0xC7, 0x0B), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8),
			 0x0000000C00000000ull | (uint32_t)(DATA + 0x100));
	assert_int_equal(m->regs.rflags & ARITH, CF | SF | ZF); /* only ZF changes */
	/* failure: edx:eax = memory */
	assert_int_equal(EMT_RUN(m, 0xF0, 0x0F, 0xC7, 0x0B), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RAX], (uint32_t)(DATA + 0x100));
	assert_int_equal(m->regs.gpr[X86_RDX], 0xC);
	assert_false(m->regs.rflags & ZF);
	m->regs.gpr[X86_RBX] = rbx;

	/* cmpxchg16b: 16-byte compare */
	emt_poke64(m, DATA + 0x200, 0x1111, 8);
	emt_poke64(m, DATA + 0x208, 0x2222, 8);
	m->regs.gpr[X86_RSI] = DATA + 0x200;
	m->regs.gpr[X86_RAX] = 0x1111;
	m->regs.gpr[X86_RDX] = 0x2222;
	m->regs.gpr[X86_RBX] = 0x3333;
	m->regs.gpr[X86_RCX] = 0x4444;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x0F, 0xC7, 0x0E), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x200, 8), 0x3333);
	assert_int_equal(emt_peek64(m, DATA + 0x208, 8), 0x4444);
	assert_true(m->regs.rflags & ZF);
	assert_int_equal(m->log[m->n_log - 1].size, 16);
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x0F, 0xC7, 0x0E), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RAX], 0x3333);
	assert_int_equal(m->regs.gpr[X86_RDX], 0x4444);
	assert_false(m->regs.rflags & ZF);
	/* misaligned: #GP(0) */
	m->regs.gpr[X86_RSI] = DATA + 0x208;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x0F, 0xC7, 0x0E), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_GP);
}

/* ---- bit tests --------------------------------------------------------------------------- */

static void bt_family_memory_register_offset(void **state)
{
	struct emt *m = *state;
	/* lock bts [rbx], rax with rax = 67: bit 3 of the qword at rbx+8 */
	m->regs.gpr[X86_RAX] = 67;
	m->regs.rflags = 0x2 | CF | ZF | OF | SF | AF | PF;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x48, 0x0F, 0xAB, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x108, 8), 8);
	assert_int_equal(m->regs.rflags & ARITH, ZF | OF | SF | AF | PF); /* CF = 0 */
	assert_int_equal(m->log[m->n_log - 1].la, DATA + 0x108);
	/* bt: CF = 1 now, nothing written */
	assert_int_equal(EMT_RUN(m, 0x48, 0x0F, 0xA3, 0x03), X86_EMU_DONE);
	assert_true(m->regs.rflags & CF);
	/* btr with a negative offset: -1 is bit 31 of the dword at rbx-4 */
	emt_poke64(m, DATA + 0xFC, 0x80000001, 4);
	m->regs.gpr[X86_RAX] = (uint64_t)-1;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x0F, 0xB3, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0xFC, 4), 1);
	assert_true(m->regs.rflags & CF);
	/* btc with a 16-bit operand: offset -17 is bit 15 of the word at rbx-4 */
	emt_poke64(m, DATA + 0xFC, 0, 2);
	m->regs.gpr[X86_RAX] = 0xFFEF; /* -17 as a word */
	assert_int_equal(EMT_RUN(m, 0x66, 0x0F, 0xBB, 0x03), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0xFC, 2), 0x8000);
	assert_false(m->regs.rflags & CF);
}

static void bt_family_immediate_and_register(void **state)
{
	struct emt *m = *state;
	/* bts dword [rbx], 37: the immediate is taken modulo 32 -> bit 5 */
	emt_poke64(m, DATA + 0x100, 0, 8);
	assert_int_equal(EMT_RUN(m, 0x0F, 0xBA, 0x2B, 37), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 8), 0x20);
	/* btc rcx, rax with rax = 65: bit 1 of rcx */
	m->regs.gpr[X86_RCX] = 2;
	m->regs.gpr[X86_RAX] = 65;
	assert_int_equal(EMT_RUN(m, 0x48, 0x0F, 0xBB, 0xC1), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RCX], 0);
	assert_true(m->regs.rflags & CF);
}

/* ---- string instructions ----------------------------------------------------------------- */

static void rep_stos_forward_and_backward(void **state)
{
	struct emt *m = *state;
	m->regs.gpr[X86_RDI] = DATA + 0x100;
	m->regs.gpr[X86_RCX] = 4;
	m->regs.gpr[X86_RAX] = 0x0102030405060708ull;
	uint64_t rip0 = m->regs.rip;
	assert_int_equal(EMT_RUN(m, 0xF3, 0x48, 0xAB), X86_EMU_DONE); /* rep stosq */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(emt_peek64(m, DATA + 0x100 + 8 * i, 8), 0x0102030405060708ull);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 0x120);
	assert_int_equal(m->regs.gpr[X86_RCX], 0);
	assert_int_equal(m->ctx.rep_done, 4);
	assert_advanced(m, rip0);
	/* DF = 1: downwards from rdi */
	m->regs.rflags |= X86_FLAG_DF;
	m->regs.gpr[X86_RDI] = DATA + 0x203;
	m->regs.gpr[X86_RCX] = 3;
	m->regs.gpr[X86_RAX] = 0xAB;
	assert_int_equal(EMT_RUN(m, 0xF3, 0xAA), X86_EMU_DONE); /* rep stosb */
	assert_int_equal(emt_peek64(m, DATA + 0x201, 4), 0x00ABABAB);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 0x200);
	/* count 0: nothing happens, RIP moves */
	m->regs.gpr[X86_RCX] = 0;
	m->n_log = 0;
	rip0 = m->regs.rip;
	assert_int_equal(EMT_RUN(m, 0xF3, 0xAA), X86_EMU_DONE);
	assert_int_equal(m->n_log, 0);
	assert_advanced(m, rip0);
	/* without REP: one element, rcx untouched */
	m->regs.rflags &= ~(uint64_t)X86_FLAG_DF;
	m->regs.gpr[X86_RCX] = 77;
	m->regs.gpr[X86_RDI] = DATA + 0x300;
	assert_int_equal(EMT_RUN(m, 0x66, 0xAB), X86_EMU_DONE); /* stosw */
	assert_int_equal(m->regs.gpr[X86_RCX], 77);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 0x302);
	assert_int_equal(emt_peek64(m, DATA + 0x300, 2), 0x00AB);
}

static void rep_stos_address_size_32_in_64bit_mode(void **state)
{
	struct emt *m = *state;
	/* 67 rep stosb: ECX counts, EDI advances, both written as 32-bit
	 * registers (the upper halves are cleared) */
	m->regs.gpr[X86_RDI] = 0xFFFFFFFF00000000ull | (DATA + 0x10);
	m->regs.gpr[X86_RCX] = 0xFFFFFFFF00000002ull;
	m->regs.gpr[X86_RAX] = 0x77;
	assert_int_equal(EMT_RUN(m, 0x67, 0xF3, 0xAA), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x10, 2), 0x7777);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 0x12);
	assert_int_equal(m->regs.gpr[X86_RCX], 0);
}

static void rep_stos_chunks(void **state)
{
	struct emt *m = *state;
	/* 1024 qwords over two pages, 256 at a time */
	m->regs.gpr[X86_RDI] = DATA;
	m->regs.gpr[X86_RCX] = 1024;
	m->regs.gpr[X86_RAX] = 0x5555;
	m->ctx.rep_limit = 256;
	uint64_t rip0 = m->regs.rip;
	assert_int_equal(EMT_RUN(m, 0xF3, 0x48, 0xAB), X86_EMU_REP_PARTIAL);
	assert_int_equal(m->ctx.rep_done, 256);
	assert_int_equal(m->regs.gpr[X86_RCX], 768);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 2048);
	assert_int_equal(m->regs.rip, rip0);
	unsigned calls = 1;
	int rc;
	do
		calls++;
	while ((rc = emt_rerun(m)) == X86_EMU_REP_PARTIAL);
	assert_int_equal(rc, X86_EMU_DONE);
	assert_int_equal(calls, 4); /* 4 chunks of 256 */
	assert_int_equal(m->regs.gpr[X86_RCX], 0);
	assert_int_equal(emt_peek64(m, DATA + 8191 - 7, 8), 0x5555);
	assert_advanced(m, rip0);
	/* one page at a time: starting mid-page, the first chunk ends at the
	 * page boundary */
	m->ctx.rep_limit = 0;
	m->ctx.rep_page_chunks = true;
	m->regs.gpr[X86_RDI] = DATA + 4096 - 64;
	m->regs.gpr[X86_RCX] = 100;
	assert_int_equal(EMT_RUN(m, 0xF3, 0x48, 0xAB), X86_EMU_REP_PARTIAL);
	assert_int_equal(m->ctx.rep_done, 8);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 4096);
	m->ctx.rep_page_chunks = false;
}

static void rep_stos_fault_keeps_completed_iterations(void **state)
{
	struct emt *m = *state;
	/* the third page is absent: the fault comes after 512 + 256 qwords */
	m->regs.gpr[X86_RDI] = DATA + 2048;
	m->regs.gpr[X86_RCX] = 1000;
	uint64_t rip0 = m->regs.rip;
	assert_int_equal(EMT_RUN(m, 0xF3, 0x48, 0xAB), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_PF);
	assert_int_equal(m->ctx.fault.cr2, DATA + 8192);
	assert_int_equal(m->regs.gpr[X86_RCX], 1000 - 768);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 8192);
	assert_int_equal(m->regs.rip, rip0);
}

/* A write callback's ctx.rep_stop ends a REP after the iteration that
 * set it, with the registers of a partial run, unless it was the last. */
static void rep_stop_from_write_callback(void **state)
{
	struct emt *m = *state;
	uint64_t rip0 = m->regs.rip;

	m->regs.gpr[X86_RDI] = DATA + 0x100;
	m->regs.gpr[X86_RCX] = 100;
	m->regs.gpr[X86_RAX] = 0x1234;
	m->rep_stop_at = m->n_writes + 3;
	assert_int_equal(EMT_RUN(m, 0xF3, 0x48, 0xAB), X86_EMU_REP_PARTIAL);
	assert_int_equal(m->ctx.rep_done, 3);
	assert_int_equal(m->regs.gpr[X86_RCX], 97);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 0x118);
	assert_int_equal(m->regs.rip, rip0);
	assert_int_equal(emt_peek64(m, DATA + 0x110, 8), 0x1234);
	assert_int_equal(emt_peek64(m, DATA + 0x118, 8), 0);
	/* the flag does not outlive the call: the rest completes */
	assert_int_equal(emt_rerun(m), X86_EMU_DONE);
	assert_int_equal(m->ctx.rep_done, 97);
	assert_int_equal(m->regs.gpr[X86_RCX], 0);
	assert_int_equal(emt_peek64(m, DATA + 0x100 + 99 * 8, 8), 0x1234);
	assert_advanced(m, rip0);
	/* a stop at the last iteration: nothing is left, so it completes */
	rip0 = m->regs.rip;
	m->regs.gpr[X86_RDI] = DATA + 0x800;
	m->regs.gpr[X86_RCX] = 2;
	m->rep_stop_at = m->n_writes + 2;
	assert_int_equal(EMT_RUN(m, 0xF3, 0xAA), X86_EMU_DONE); /* rep stosb */
	assert_int_equal(m->regs.gpr[X86_RCX], 0);
	assert_advanced(m, rip0);
	/* without REP the flag means nothing */
	rip0 = m->regs.rip;
	m->rep_stop_at = m->n_writes + 1;
	assert_int_equal(EMT_RUN(m, 0x48, 0xAB), X86_EMU_DONE); /* stosq */
	assert_advanced(m, rip0);
	/* REP MOVS stops the same way, rSI moved with rDI */
	rip0 = m->regs.rip;
	m->regs.gpr[X86_RSI] = DATA + 0x400;
	m->regs.gpr[X86_RDI] = DATA + 0x1400;
	m->regs.gpr[X86_RCX] = 16;
	m->rep_stop_at = m->n_writes + 1;
	assert_int_equal(EMT_RUN(m, 0xF3, 0xA5), X86_EMU_REP_PARTIAL); /* rep movsd */
	assert_int_equal(m->regs.gpr[X86_RCX], 15);
	assert_int_equal(m->regs.gpr[X86_RSI], DATA + 0x404);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 0x1404);
	assert_int_equal(m->regs.rip, rip0);
}

static void rep_movs_both_directions(void **state)
{
	struct emt *m = *state;
	for (unsigned i = 0; i < 16; i++)
		emt_poke64(m, DATA + 0x400 + i, 0xA0 + i, 1);
	m->regs.gpr[X86_RSI] = DATA + 0x400;
	m->regs.gpr[X86_RDI] = DATA + 0x800;
	m->regs.gpr[X86_RCX] = 4;
	assert_int_equal(EMT_RUN(m, 0xF3, 0xA5), X86_EMU_DONE); /* rep movsd */
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(emt_peek64(m, DATA + 0x800 + i, 1), 0xA0 + i);
	assert_int_equal(m->regs.gpr[X86_RSI], DATA + 0x410);
	assert_int_equal(m->regs.gpr[X86_RDI], DATA + 0x810);
	/* backwards, bytes */
	m->regs.rflags |= X86_FLAG_DF;
	m->regs.gpr[X86_RSI] = DATA + 0x40F;
	m->regs.gpr[X86_RDI] = DATA + 0x90F;
	m->regs.gpr[X86_RCX] = 16;
	assert_int_equal(EMT_RUN(m, 0xF3, 0xA4), X86_EMU_DONE); /* rep movsb */
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(emt_peek64(m, DATA + 0x900 + i, 1), 0xA0 + i);
	assert_int_equal(m->regs.gpr[X86_RSI], DATA + 0x3FF);
	/* a source override: fs:rsi */
	m->regs.rflags &= ~(uint64_t)X86_FLAG_DF;
	m->regs.seg[X86_FS].base = 0x100;
	m->regs.gpr[X86_RSI] = DATA + 0x400 - 0x100;
	m->regs.gpr[X86_RDI] = DATA + 0xA00;
	assert_int_equal(EMT_RUN(m, 0x64, 0xA4), X86_EMU_DONE); /* movsb fs: */
	assert_int_equal(emt_peek64(m, DATA + 0xA00, 1), 0xA0);
}

static void lods_loads_accumulator(void **state)
{
	struct emt *m = *state;
	emt_poke64(m, DATA + 0x100, 0xDEADBEEF, 4);
	m->regs.gpr[X86_RSI] = DATA + 0x100;
	m->regs.gpr[X86_RAX] = ~0ull;
	assert_int_equal(EMT_RUN(m, 0xAD), X86_EMU_DONE); /* lodsd */
	assert_int_equal(m->regs.gpr[X86_RAX], 0xDEADBEEF);
	assert_int_equal(m->regs.gpr[X86_RSI], DATA + 0x104);
}

static void string_16bit_addressing_wraps(void **state)
{
	struct emt *m = *state; /* real mode */
	emt_map(m, DATA + 0xF000, false);
	m->regs.seg[X86_ES].base = DATA;
	m->regs.gpr[X86_RDI] = 0xAAAA0000ull | 0xFFFE;
	m->regs.gpr[X86_RCX] = 0xBBBB0000ull | 2;
	m->regs.gpr[X86_RAX] = 0x1234;
	/* rep stosw at es:0xfffe: the limit (0xffff) is hit by the first word? no:
	 * 0xfffe..0xffff fits; the second word wraps DI to 0 */
	assert_int_equal(EMT_RUN(m, 0xF3, 0xAB), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0xFFFE, 2), 0x1234);
	assert_int_equal(emt_peek64(m, DATA, 2), 0x1234);
	assert_int_equal(m->regs.gpr[X86_RDI], 0xAAAA0000ull | 2);
	assert_int_equal(m->regs.gpr[X86_RCX], 0xBBBB0000ull);
}

/* ---- port I/O ------------------------------------------------------------------------------ */

static void in_out(void **state)
{
	struct emt *m = *state;
	m->port_in[0x60] = 0x1AC;
	m->regs.gpr[X86_RAX] = ~0ull;
	assert_int_equal(EMT_RUN(m, 0xE4, 0x60), X86_EMU_DONE); /* in al, 0x60 */
	assert_int_equal(m->regs.gpr[X86_RAX], 0xFFFFFFFFFFFFFFACull);
	m->regs.gpr[X86_RDX] = 0x3F8;
	m->port_in[0x3F8] = 0x12345678;
	assert_int_equal(EMT_RUN(m, 0xED), X86_EMU_DONE); /* in eax, dx: zero-extends */
	assert_int_equal(m->regs.gpr[X86_RAX], 0x12345678);
	assert_int_equal(EMT_RUN(m, 0xE6, 0x80), X86_EMU_DONE); /* out 0x80, al */
	assert_int_equal(m->outs[0].port, 0x80);
	assert_int_equal(m->outs[0].size, 1);
	assert_int_equal(m->outs[0].value, 0x78);
	assert_int_equal(EMT_RUN(m, 0x66, 0xEF), X86_EMU_DONE); /* out dx, ax */
	assert_int_equal(m->outs[1].port, 0x3F8);
	assert_int_equal(m->outs[1].size, 2);
	assert_int_equal(m->outs[1].value, 0x5678);
}

static void rep_ins_outs_16bit_address_size(void **state)
{
	struct emt *m = *state; /* 32-bit mode */
	/* 67 rep insw: DI and CX in 16 bits, the upper halves kept */
	m->regs.seg[X86_ES].base = DATA;
	m->regs.gpr[X86_RDI] = 0x55550100;
	m->regs.gpr[X86_RCX] = 0x66660003;
	m->regs.gpr[X86_RDX] = 0x1F0;
	m->port_in[0x1F0] = 0x4000;
	assert_int_equal(EMT_RUN(m, 0x67, 0xF3, 0x66, 0x6D), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 2), 0x4000);
	assert_int_equal(emt_peek64(m, DATA + 0x102, 2), 0x4001);
	assert_int_equal(emt_peek64(m, DATA + 0x104, 2), 0x4002);
	assert_int_equal(m->regs.gpr[X86_RDI], 0x55550106);
	assert_int_equal(m->regs.gpr[X86_RCX], 0x66660000);
	/* rep outsb with DF = 1 from ds:esi */
	m->regs.seg[X86_ES].base = 0;
	m->regs.rflags |= X86_FLAG_DF;
	m->regs.gpr[X86_RSI] = DATA + 0x102;
	m->regs.gpr[X86_RCX] = 3;
	m->regs.gpr[X86_RDX] = 0xE9;
	assert_int_equal(EMT_RUN(m, 0xF3, 0x6E), X86_EMU_DONE);
	assert_int_equal(m->n_outs, 3);
	assert_int_equal(m->outs[0].value, 0x01); /* high byte of 0x4001 */
	assert_int_equal(m->outs[1].value, 0x40);
	assert_int_equal(m->outs[2].value, 0x00);
	assert_int_equal(m->regs.gpr[X86_RSI], DATA + 0xFF);
}

/* ---- system instructions ---------------------------------------------------------------------- */

static void mov_cr_64(void **state)
{
	struct emt *m = *state;
	m->regs.cr3 = 0x123000;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x20, 0xD9), X86_EMU_DONE); /* mov rcx, cr3 */
	assert_int_equal(m->regs.gpr[X86_RCX], 0x123000);
	m->regs.gpr[X86_RAX] = 0x456000;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xD8), X86_EMU_DONE); /* mov cr3, rax */
	assert_int_equal(m->regs.cr3, 0x456000);
	assert_int_equal(m->last_cr, 3);
	assert_int_equal(m->n_cr_writes, 1);
	/* mov cr8, rax and back */
	m->regs.gpr[X86_RAX] = 0xF;
	assert_int_equal(EMT_RUN(m, 0x44, 0x0F, 0x22, 0xC0), X86_EMU_DONE);
	assert_int_equal(m->regs.cr8, 0xF);
	m->regs.gpr[X86_RAX] = 0x10;
	assert_int_equal(EMT_RUN(m, 0x44, 0x0F, 0x22, 0xC0), X86_EMU_FAULT); /* bits 63-4 */
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_GP);
	/* clearing CR0.PG in 64-bit mode: #GP */
	m->regs.gpr[X86_RAX] = m->regs.cr0 & ~X86_EMU_CR0_PG;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xC0), X86_EMU_FAULT);
	/* clearing CR4.PAE in long mode: #GP */
	m->regs.gpr[X86_RAX] = 0;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xE0), X86_EMU_FAULT);
	/* the callback may refuse (e.g. the engine's UMBRA_ERR_GP) */
	m->cr_refuse = true;
	m->regs.gpr[X86_RAX] = 0x789000;
	uint64_t rip0 = m->regs.rip;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xD8), X86_EMU_FAULT);
	assert_int_equal(m->regs.cr3, 0x456000);
	assert_int_equal(m->regs.rip, rip0);
	m->cr_refuse = false;
	/* and adjust the value stored */
	m->cr_force_set = 0x10; /* ET */
	m->regs.gpr[X86_RAX] = 0x80000021;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xC0), X86_EMU_DONE);
	assert_int_equal(m->regs.cr0, 0x80000031);
	/* PCIDE: bit 63 reaches the callback, not CR3 */
	m->cr_force_set = 0;
	m->regs.cr4 |= X86_EMU_CR4_PCIDE;
	m->regs.gpr[X86_RAX] = 0x8000000000789001ull;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xD8), X86_EMU_DONE);
	assert_int_equal(m->last_cr_value, 0x8000000000789001ull);
	assert_int_equal(m->regs.cr3, 0x789001);
	/* CPL 3: #GP */
	m->regs.cpl = 3;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x20, 0xD8), X86_EMU_FAULT);
	assert_int_equal(m->ctx.fault.vector, X86_EMU_VEC_GP);
}

static void mov_cr_32(void **state)
{
	struct emt *m = *state;
	/* 32-bit mode: 32 bits move; PG without PE and NW without CD fault */
	m->regs.gpr[X86_RAX] = 0x80000000;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xC0), X86_EMU_FAULT);
	m->regs.gpr[X86_RAX] = 0x20000001;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xC0), X86_EMU_FAULT);
	m->regs.gpr[X86_RAX] = 0x60000011;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xC0), X86_EMU_DONE);
	assert_int_equal(m->regs.cr0, 0x60000011);
	/* enabling paging with EFER.LME needs CR4.PAE */
	m->regs.efer = X86_EMU_EFER_LME;
	m->regs.gpr[X86_RAX] = 0x80000011;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xC0), X86_EMU_FAULT);
	m->regs.cr4 = X86_EMU_CR4_PAE;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x22, 0xC0), X86_EMU_DONE);
	/* AMD: LOCK MOV CR0 is CR8 */
	m->regs.gpr[X86_RCX] = 5;
	assert_int_equal(EMT_RUN(m, 0xF0, 0x0F, 0x22, 0xC1), X86_EMU_DONE);
	assert_int_equal(m->regs.cr8, 5);
	assert_int_equal(m->last_cr, 8);
	assert_int_equal(EMT_RUN(m, 0xF0, 0x0F, 0x20, 0xC2), X86_EMU_DONE); /* mov edx, cr8 */
	assert_int_equal(m->regs.gpr[X86_RDX], 5);
	/* mov eax, cr4 */
	assert_int_equal(EMT_RUN(m, 0x0F, 0x20, 0xE0), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RAX], X86_EMU_CR4_PAE);
}

static void clts_lmsw_smsw(void **state)
{
	struct emt *m = *state;
	m->regs.cr0 |= X86_EMU_CR0_TS;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x06), X86_EMU_DONE);
	assert_false(m->regs.cr0 & X86_EMU_CR0_TS);
	assert_int_equal(m->last_cr, 0);
	/* lmsw ax: bits 3-1 taken, PE cannot be cleared */
	m->regs.gpr[X86_RAX] = 0xFFF8; /* TS set, MP EM clear, PE clear */
	assert_int_equal(EMT_RUN(m, 0x0F, 0x01, 0xF0), X86_EMU_DONE);
	assert_int_equal(m->regs.cr0 & 0xF, X86_EMU_CR0_TS | X86_EMU_CR0_PE);
	/* smsw eax, smsw [rbx] */
	assert_int_equal(EMT_RUN(m, 0x0F, 0x01, 0xE0), X86_EMU_DONE);
	assert_int_equal(m->regs.gpr[X86_RAX], m->regs.cr0 & 0xFFFFFFFF);
	assert_int_equal(EMT_RUN(m, 0x0F, 0x01, 0x23), X86_EMU_DONE);
	assert_int_equal(emt_peek64(m, DATA + 0x100, 2), m->regs.cr0 & 0xFFFF);
	assert_int_equal(m->log[0].size, 2);
}

static void invlpg_addresses(void **state)
{
	struct emt *m = *state;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x01, 0x3B), X86_EMU_DONE); /* invlpg [rbx] */
	assert_int_equal(m->invlpg[0], DATA + 0x100);
	m->regs.seg[X86_FS].base = 0xFFFF800000000000ull;
	assert_int_equal(EMT_RUN(m, 0x64, 0x0F, 0x01, 0x7B, 0x10), X86_EMU_DONE);
	assert_int_equal(m->invlpg[1], 0xFFFF800000000000ull + DATA + 0x110);
	assert_int_equal(m->n_log, 0); /* no memory access */
	m->regs.cpl = 3;
	assert_int_equal(EMT_RUN(m, 0x0F, 0x01, 0x3B), X86_EMU_FAULT);
}

/* ---- refusals, modes, fetching ---------------------------------------------------------------- */

static void unsupported_names_bytes_and_rip(void **state)
{
	struct emt *m = *state;
	m->regs.rip = 0xFFFFFFFF81000000ull;
	/* push qword [rbx]: decodes, not emulated */
	assert_int_equal(EMT_RUN(m, 0xFF, 0x33), X86_EMU_UNSUPPORTED);
	assert_non_null(strstr(m->ctx.message, "ff 33"));
	assert_non_null(strstr(m->ctx.message, "ffffffff81000000"));
	assert_int_equal(m->regs.rip, 0xFFFFFFFF81000000ull);
	/* mov ss, ax: named */
	assert_int_equal(EMT_RUN(m, 0x8E, 0xD0), X86_EMU_UNSUPPORTED);
	assert_non_null(strstr(m->ctx.message, "mov"));
	assert_non_null(strstr(m->ctx.message, "8e d0"));
}

static void rip_wraps_in_16bit_code(void **state)
{
	struct emt *m = *state;
	m->regs.rip = 0xFFFF;
	m->regs.gpr[X86_RBX] = 0x100;
	assert_int_equal(EMT_RUN(m, 0x89, 0x07), X86_EMU_DONE); /* mov [bx], ax */
	assert_int_equal(m->regs.rip, 1);
}

static void fetch_stops_at_the_page_end(void **state)
{
	struct emt *m = *state;
	struct x86_insn insn;
	struct x86_emu_ctx ctx = { .opaque = m };
	/* a 3-byte instruction ending exactly at the end of a mapped page:
	 * the next (unmapped) page must not be touched */
	m->regs.rip = DATA + 4096 * 2 - 3;
	emt_poke(m, m->regs.rip, (const uint8_t[]){ 0x48, 0x89, 0x03 }, 3);
	assert_int_equal(x86_fetch_decode(&m->regs, &emt_ops, &ctx, &insn), X86_EMU_DONE);
	assert_int_equal(insn.length, 3);
	/* one that continues onto the unmapped page: #PF with I/D there */
	m->regs.rip = DATA + 4096 * 2 - 2;
	emt_poke(m, m->regs.rip, (const uint8_t[]){ 0x48, 0x89 }, 2);
	assert_int_equal(x86_fetch_decode(&m->regs, &emt_ops, &ctx, &insn), X86_EMU_FAULT);
	assert_int_equal(ctx.fault.vector, X86_EMU_VEC_PF);
	assert_int_equal(ctx.fault.cr2, DATA + 8192);
	assert_int_equal(ctx.fault.error_code, 16);
	/* across a page boundary between two mapped pages */
	m->regs.rip = DATA + 4096 - 2;
	emt_poke(m, m->regs.rip, (const uint8_t[]){ 0x48, 0x89, 0x03 }, 3);
	assert_int_equal(x86_fetch_decode(&m->regs, &emt_ops, &ctx, &insn), X86_EMU_DONE);
	assert_int_equal(insn.length, 3);
	/* an undefined opcode is #UD */
	m->regs.rip = DATA;
	emt_poke(m, DATA, (const uint8_t[]){ 0x0F, 0x0B }, 2); /* ud2 decodes fine */
	assert_int_equal(x86_fetch_decode(&m->regs, &emt_ops, &ctx, &insn), X86_EMU_DONE);
	emt_poke(m, DATA, (const uint8_t[]){ 0x0F, 0x04 }, 2);
	assert_int_equal(x86_fetch_decode(&m->regs, &emt_ops, &ctx, &insn), X86_EMU_FAULT);
	assert_int_equal(ctx.fault.vector, X86_EMU_VEC_UD);
	/* 15 prefixes and an opcode: longer than 15 bytes, #GP */
	uint8_t longi[16];
	memset(longi, 0x66, 15);
	longi[15] = 0x90;
	emt_poke(m, DATA, longi, 16);
	assert_int_equal(x86_fetch_decode(&m->regs, &emt_ops, &ctx, &insn), X86_EMU_FAULT);
	assert_int_equal(ctx.fault.vector, X86_EMU_VEC_GP);
}

static void regs_mode(void **state)
{
	struct emt *m = *state;
	assert_int_equal(x86_regs_mode(&m->regs), X86_MODE_64);
	m->regs.seg[X86_CS].attr = (uint16_t)((m->regs.seg[X86_CS].attr & ~X86_SEG_L) | X86_SEG_DB);
	assert_int_equal(x86_regs_mode(&m->regs), X86_MODE_32); /* compatibility mode */
	m->regs.seg[X86_CS].attr &= (uint16_t)~X86_SEG_DB;
	assert_int_equal(x86_regs_mode(&m->regs), X86_MODE_16);
	m->regs.cr0 &= ~X86_EMU_CR0_PE;
	assert_int_equal(x86_regs_mode(&m->regs), X86_MODE_16);
}

int main(void)
{
#define T64(f) cmocka_unit_test_setup_teardown(f, setup64, teardown)
#define T32(f) cmocka_unit_test_setup_teardown(f, setup32, teardown)
#define T16(f) cmocka_unit_test_setup_teardown(f, setup16, teardown)
	const struct CMUnitTest tests[] = {
		T64(mov_store_sizes),
		T64(mov_load_sizes),
		T64(mov_moffs_and_imm64),
		T64(mov_rip_relative),
		T64(movnti_store),
		T64(store_to_readonly_page_faults),
		T64(store_across_pages_faults_at_second),
		T64(non_canonical_is_gp_or_ss),
		T64(fs_base_applies_in_64bit_mode),
		T32(segment_limit_and_type_32),
		T64(alignment_check_at_cpl3),
		T64(lock_add_sub_flags),
		T64(lock_or_and_xor_flags),
		T64(logic_parity),
		T64(inc_dec_neg_not),
		T64(locked_update_retries_when_memory_changes),
		T64(xchg_memory_and_registers),
		T64(xadd_memory),
		T64(cmpxchg_success_and_failure),
		T64(cmpxchg_faults_as_a_write),
		T64(cmpxchg8b_16b),
		T64(bt_family_memory_register_offset),
		T64(bt_family_immediate_and_register),
		T64(rep_stos_forward_and_backward),
		T64(rep_stos_address_size_32_in_64bit_mode),
		T64(rep_stos_chunks),
		T64(rep_stos_fault_keeps_completed_iterations),
		T64(rep_stop_from_write_callback),
		T64(rep_movs_both_directions),
		T64(lods_loads_accumulator),
		T16(string_16bit_addressing_wraps),
		T64(in_out),
		T32(rep_ins_outs_16bit_address_size),
		T64(mov_cr_64),
		T32(mov_cr_32),
		T64(clts_lmsw_smsw),
		T64(invlpg_addresses),
		T64(unsupported_names_bytes_and_rip),
		T16(rip_wraps_in_16bit_code),
		T64(fetch_stops_at_the_page_end),
		T64(regs_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
