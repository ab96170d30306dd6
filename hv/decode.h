/*
 * The x86 instruction decoder.
 *
 * QEMU's SVM gives the hypervisor no next-RIP and no decode assists: at a CR
 * access, INVLPG, string I/O or an emulated page-table write, RIP points at
 * the instruction and nothing else is known.  This decoder turns the bytes
 * at RIP into
 *
 *   - the exact length of every valid instruction in 16-, 32- and 64-bit
 *     code (legacy, 0F, 0F38, 0F3A, 3DNow!, x87, VEX, XOP and EVEX
 *     encodings), so that RIP can always be advanced;
 *   - the raw fields of the encoding (prefixes, REX/VEX/EVEX payload, opcode
 *     map and byte, ModRM, SIB, displacement, immediates) and the effective
 *     operand and address sizes;
 *   - the ModRM memory operand of any instruction that has one, so that its
 *     effective address can be computed (x86_effective_address);
 *   - for the instructions the emulator handles and a few more that exits
 *     meet (CPUID, HLT, RDMSR, ...): a mnemonic and the operands.
 *
 * Freestanding C11: stdint/stddef/stdbool only, no mutable globals; the
 * tables are const.  The length rules follow the Intel SDM vol. 2 (ch. 2
 * and appendix A, the opcode maps) and the AMD APM vol. 3 (ch. 1, appendix
 * A).  Where the vendors differ, the decoder follows AMD, the hardware the
 * hypervisor runs on: in 64-bit mode an operand-size prefix shortens the
 * displacement of near CALL/JMP/Jcc to 16 bits.
 */
#ifndef UMBRA_HV_DECODE_H
#define UMBRA_HV_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The architectural limit: longer encodings raise #GP. */
#define X86_MAX_INSN_LEN 15

/* The code size the instruction is decoded for: CS.D / CS.L / CR0.PE. */
enum x86_cpu_mode {
	X86_MODE_16 = 16,
	X86_MODE_32 = 32,
	X86_MODE_64 = 64,
};

/* x86_decode's results. */
enum x86_decode_status {
	X86_DECODE_OK = 0,
	/* `avail` ended inside the instruction: fetch more bytes.  (The
	 * instruction may still turn out invalid once they are there.) */
	X86_DECODE_TRUNCATED = -1,
	/* An undefined opcode, an encoding the CPU rejects with #UD (a LOCK
	 * prefix on an instruction that cannot be locked, a REX or legacy
	 * prefix before VEX/EVEX/XOP, a register operand where only memory is
	 * allowed, ...), or an opcode in a mode where it does not exist. */
	X86_DECODE_INVALID = -2,
	/* More than 15 bytes: the CPU raises #GP(0). */
	X86_DECODE_TOO_LONG = -3,
	/* mode is not 16, 32 or 64. */
	X86_DECODE_BAD_MODE = -4,
};

/* Human-readable name of a status ("ok", "truncated", ...). */
const char *x86_decode_status_name(int status);

/* ---- registers -------------------------------------------------------------- */

/* General-purpose registers in encoding order (REX extends to 8-15). */
enum x86_gpr {
	X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
};
/* Segment registers in encoding order (ModRM.reg of MOV Sreg). */
enum x86_sreg {
	X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS,
};

/* A memory operand's base: a GPR number, or one of these. */
#define X86_REG_NONE 0xff
#define X86_REG_RIP  0x10   /* RIP-relative (EIP-relative with 0x67) */

/* Register classes of a register operand. */
enum x86_reg_class {
	X86_RC_GPR,   /* num 0-15; with size 1, 4-7 are SPL..DIL (a REX exists) */
	X86_RC_GPR8H, /* AH, CH, DH, BH: num 0-3 (size 1, no REX) */
	X86_RC_SEG,   /* enum x86_sreg */
	X86_RC_CR,    /* CR0-CR15 */
	X86_RC_DR,    /* DR0-DR15 */
};

/* ---- operands ------------------------------------------------------------ */

enum x86_operand_kind {
	X86_OP_NONE,
	X86_OP_REG,
	X86_OP_MEM,
	X86_OP_IMM,
};

/*
 * A memory operand: segment:[base + index * scale + disp].  The offset is
 * computed in the address size and wraps there.  In 64-bit mode a CS, DS,
 * ES or SS override is ignored and seg stays the default (only FS and GS
 * have bases there).
 */
struct x86_mem {
	uint8_t seg;      /* enum x86_sreg (default DS, SS for [rBP]/[rSP]) */
	uint8_t base;     /* GPR, X86_REG_RIP or X86_REG_NONE */
	uint8_t index;    /* GPR or X86_REG_NONE (vector register for VSIB) */
	uint8_t scale;    /* 1, 2, 4, 8; 0 without an index */
	bool vsib;        /* index is a vector register (gathers/scatters) */
	/* EVEX: the encoded 8-bit displacement is multiplied by an operand-
	 * dependent factor N the decoder does not know; disp holds the raw
	 * disp8 and disp8_scaled says the true displacement is disp * N. */
	bool disp8_scaled;
	int64_t disp;     /* sign-extended (moffs: zero-extended) */
};

struct x86_operand {
	uint8_t kind;     /* enum x86_operand_kind */
	uint8_t size;     /* bytes accessed or held (1, 2, 4, 8, 16) */
	/* Implied by the opcode and not written in assembly (the memory
	 * operands of string instructions). */
	bool implicit;
	union {
		struct {
			uint8_t cls; /* enum x86_reg_class */
			uint8_t num;
		} reg;
		struct x86_mem mem;
		/* The value the instruction uses: sign- or zero-extended to
		 * 64 bits as the instruction extends it to its operand size. */
		uint64_t imm;
	};
};

/* ---- mnemonics ------------------------------------------------------------ */

/*
 * The instructions decoded semantically (mnemonic and operands).  Every
 * other valid instruction decodes with mnemonic X86_INSN_OTHER: length and
 * raw fields only.  The names (x86_mnemonic_name) are the usual Intel ones.
 */
#define X86_MNEMONICS(M) \
	M(OTHER, "(other)") \
	M(MOV, "mov") M(MOVZX, "movzx") M(MOVSX, "movsx") M(MOVSXD, "movsxd") \
	M(MOVNTI, "movnti") M(LEA, "lea") \
	M(ADD, "add") M(OR, "or") M(ADC, "adc") M(SBB, "sbb") \
	M(AND, "and") M(SUB, "sub") M(XOR, "xor") M(CMP, "cmp") \
	M(TEST, "test") M(INC, "inc") M(DEC, "dec") M(NOT, "not") \
	M(NEG, "neg") \
	M(XCHG, "xchg") M(XADD, "xadd") M(CMPXCHG, "cmpxchg") \
	M(CMPXCHG8B, "cmpxchg8b") M(CMPXCHG16B, "cmpxchg16b") \
	M(BT, "bt") M(BTS, "bts") M(BTR, "btr") M(BTC, "btc") \
	M(MOVSB, "movsb") M(MOVSW, "movsw") M(MOVSD, "movsd") \
	M(MOVSQ, "movsq") \
	M(STOSB, "stosb") M(STOSW, "stosw") M(STOSD, "stosd") \
	M(STOSQ, "stosq") \
	M(LODSB, "lodsb") M(LODSW, "lodsw") M(LODSD, "lodsd") \
	M(LODSQ, "lodsq") \
	M(INSB, "insb") M(INSW, "insw") M(INSD, "insd") \
	M(OUTSB, "outsb") M(OUTSW, "outsw") M(OUTSD, "outsd") \
	M(IN, "in") M(OUT, "out") \
	M(INVLPG, "invlpg") M(CLTS, "clts") M(LMSW, "lmsw") M(SMSW, "smsw") \
	M(CPUID, "cpuid") M(HLT, "hlt") M(RDMSR, "rdmsr") M(WRMSR, "wrmsr") \
	M(RDTSC, "rdtsc") M(RDTSCP, "rdtscp") M(RDPMC, "rdpmc") \
	M(VMMCALL, "vmmcall") M(VMCALL, "vmcall") M(WBINVD, "wbinvd") \
	M(INVD, "invd") M(XSETBV, "xsetbv") M(XGETBV, "xgetbv") \
	M(PAUSE, "pause") M(NOP, "nop") M(INT3, "int3") M(INT, "int") \
	M(INT1, "int1") M(IRET, "iret") M(IRETD, "iretd") M(IRETQ, "iretq") \
	M(UD2, "ud2") M(MONITOR, "monitor") M(MWAIT, "mwait") \
	M(SWAPGS, "swapgs") M(SYSCALL, "syscall") M(SYSRET, "sysret") \
	M(INVLPGA, "invlpga") M(STGI, "stgi") M(CLGI, "clgi") \
	M(SKINIT, "skinit") M(VMRUN, "vmrun") M(VMLOAD, "vmload") \
	M(VMSAVE, "vmsave") M(CLI, "cli") M(STI, "sti") \
	M(INVPCID, "invpcid")

enum x86_mnemonic {
#define X86_MNEMONIC_ENUM(id, name) X86_INSN_##id,
	X86_MNEMONICS(X86_MNEMONIC_ENUM)
#undef X86_MNEMONIC_ENUM
	X86_INSN_COUNT
};

const char *x86_mnemonic_name(enum x86_mnemonic m);

/* ---- the decoded instruction ------------------------------------------------ */

/* Which encoding introduced the opcode. */
enum x86_encoding {
	X86_ENC_LEGACY, /* one-byte, 0F, 0F38, 0F3A maps */
	X86_ENC_3DNOW,  /* 0F 0F ModRM [..] suffix: opcode is the suffix */
	X86_ENC_VEX,    /* C4 / C5 */
	X86_ENC_XOP,    /* 8F with map 8-10 */
	X86_ENC_EVEX,   /* 62 */
};

/* Opcode maps of legacy encodings (VEX, XOP and EVEX store their own map
 * number: 1 = 0F, 2 = 0F38, 3 = 0F3A, 5, 6 (EVEX), 8-10 (XOP)). */
enum x86_map {
	X86_MAP_ONE = 0,
	X86_MAP_0F = 1,
	X86_MAP_0F38 = 2,
	X86_MAP_0F3A = 3,
};

/* Legacy prefixes present (any order, any repetition). */
#define X86_PFX_LOCK  0x01u
#define X86_PFX_REP   0x02u /* F3 */
#define X86_PFX_REPNE 0x04u /* F2 */
#define X86_PFX_OPSZ  0x08u /* 66 */
#define X86_PFX_ADSZ  0x10u /* 67 */
#define X86_PFX_SEG   0x20u /* a segment override (seg_override says which) */

struct x86_insn {
	uint8_t length;
	uint8_t mode;         /* enum x86_cpu_mode decoded for */
	uint8_t bytes[X86_MAX_INSN_LEN]; /* the instruction's bytes */

	/* Prefixes. */
	uint8_t prefixes;     /* X86_PFX_* */
	/* The last of F2/F3 (0 if none): what REP/REPNE means for string
	 * instructions, and the mandatory prefix of legacy SSE encodings. */
	uint8_t last_rep;
	/* The segment override in effect, enum x86_sreg, or X86_REG_NONE:
	 * the last segment prefix; in 64-bit mode the last FS or GS prefix
	 * (the others are ignored there). */
	uint8_t seg_override;
	uint8_t rex;          /* the REX byte (0x40-0x4F) in effect, else 0 */
	/* The operand-size and register extensions in effect, from REX or
	 * the VEX/XOP/EVEX payload (0 or 1; ext_r is 0-3 with EVEX.R'). */
	uint8_t ext_w, ext_r, ext_x, ext_b;
	uint8_t n_prefix_bytes;

	/* Opcode. */
	uint8_t encoding;     /* enum x86_encoding */
	uint8_t map;          /* enum x86_map, or VEX/XOP/EVEX map number */
	uint8_t opcode;       /* the opcode byte (3DNow!: the suffix byte) */
	/* Mandatory-prefix selector of SSE/VEX/EVEX/XOP encodings: 0 (none),
	 * 0x66, 0xF3, 0xF2 (VEX/EVEX: from pp). */
	uint8_t simd_prefix;

	/* VEX / XOP / EVEX payload. */
	struct {
		bool w;
		uint8_t l;    /* vector length: 0 (128), 1 (256), 2 (512) */
		uint8_t vvvv; /* the extra register operand, not inverted
				 (EVEX: 5 bits with V') */
		uint8_t aaa;  /* EVEX opmask register */
		bool z;       /* EVEX zeroing */
		bool b;       /* EVEX broadcast / rounding / SAE */
	} vex;

	/* ModRM and SIB. */
	bool has_modrm;
	bool has_sib;
	uint8_t modrm, sib;
	uint8_t mod;          /* 0-3 */
	uint8_t reg;          /* ModRM.reg extended by REX.R (and EVEX R') */
	uint8_t rm;           /* ModRM.rm extended by REX.B (register forms) */

	/* Displacement and immediates as encoded (offsets from the start). */
	uint8_t disp_size, disp_offset;
	uint8_t imm_size, imm_offset;   /* the first immediate */
	uint8_t imm2_size;              /* ENTER, EXTRQ/INSERTQ, far pointers */
	uint64_t imm_raw;               /* zero-extended as encoded */
	uint64_t imm2_raw;

	/* Effective sizes in bytes.  opsize is 2, 4 or 8 from the mode, 66
	 * and REX.W (VEX.W does not count); semantically decoded instructions
	 * refine it (1 for byte forms, 8 for the 64-bit defaults of 64-bit
	 * mode). */
	uint8_t opsize;
	uint8_t addrsize;

	/* The ModRM memory operand (or moffs), when there is one. */
	bool has_mem;
	struct x86_mem mem;

	/* Relative branch target displacement (sign-extended), when the
	 * instruction is a relative branch. */
	bool has_rel;
	int64_t rel;

	/* Semantic decoding. */
	uint8_t mnemonic;     /* enum x86_mnemonic */
	uint8_t n_operands;
	struct x86_operand op[4];
};

/*
 * Decode one instruction from code[0 .. avail) for `mode`.  Returns
 * X86_DECODE_OK and fills *out (always completely: everything it does not
 * set is zero), or a negative enum x86_decode_status.
 */
int x86_decode(const uint8_t *code, size_t avail, enum x86_cpu_mode mode,
	       struct x86_insn *out);

/*
 * The effective address (the offset in the segment, before the segment base)
 * of the memory operand `mem` of `insn`: base + index * scale + disp in the
 * instruction's address size, or next_rip + disp when RIP-relative.  gpr[]
 * holds the 16 general-purpose registers.  For an EVEX compressed disp8
 * (mem->disp8_scaled) the caller must scale the displacement itself.
 */
uint64_t x86_operand_address(const struct x86_insn *insn,
			     const struct x86_mem *mem, const uint64_t gpr[16],
			     uint64_t next_rip);

/* The same for the instruction's ModRM (or moffs) memory operand; 0 when it
 * has none. */
uint64_t x86_effective_address(const struct x86_insn *insn,
			       const uint64_t gpr[16], uint64_t next_rip);

/* Mask of an address size in bytes (2, 4, 8). */
static inline uint64_t x86_size_mask(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (bytes * 8)) - 1;
}

#endif
