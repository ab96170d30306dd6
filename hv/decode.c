/*
 * The x86 instruction decoder (see decode.h).
 *
 * An x86 instruction is, in order:
 *
 *   legacy prefixes   0-14 bytes: F0 F2 F3, 26 2E 36 3E 64 65, 66, 67
 *   REX               64-bit mode, 40-4F, only right before the opcode
 *   opcode            1-3 bytes (0F, 0F 38, 0F 3A escapes), or a VEX
 *                     (C4/C5), XOP (8F) or EVEX (62) payload and one byte
 *   ModRM             when the opcode has operands it encodes
 *   SIB               ModRM.rm = 100 with a memory operand, 32/64-bit
 *                     addressing only
 *   displacement      0, 1, 2 or 4 bytes by ModRM.mod/rm and address size
 *   immediates        0-8 bytes by opcode, operand size and address size
 *
 * and never longer than 15 bytes.  Decoding is therefore: consume
 * prefixes, find the opcode and its map, then let a per-opcode table say
 * whether a ModRM byte follows and how large the immediate is.  Validity
 * (#UD encodings) is checked where it is cheap and matters: undefined
 * opcodes, group encodings with undefined ModRM.reg values, LOCK on
 * instructions that cannot be locked, prefixes forbidden before VEX-like
 * payloads, opcodes removed from 64-bit mode.
 *
 * After the length, a second pass (decode_semantics) names the
 * instructions the emulator handles and lists their operands.
 */
#include "decode.h"

/* ---- opcode tables --------------------------------------------------------- */

/*
 * What follows an opcode byte.  Immediate sizes:
 *   IB  1 byte
 *   IW  2 bytes
 *   IZ  2 or 4 bytes: the operand size, capped at 4 (64-bit operations
 *       sign-extend a 32-bit immediate)
 *   IV  2, 4 or 8 bytes: the full operand size (MOV reg, imm only)
 *   AO  the address size: the moffs of MOV A0-A3
 *   JZ  a relative branch displacement of IZ bytes, where in 64-bit mode
 *       the operand size is 64 unless 66 (AMD: then 16)
 * Several may add up: ENTER is IW+IB, far pointers are IZ+IW.
 */
enum {
	MR   = 1u << 0,  /* ModRM follows */
	IB   = 1u << 1,
	IW   = 1u << 2,
	IZ   = 1u << 3,
	IV   = 1u << 4,
	AO   = 1u << 5,
	JZ   = 1u << 6,
	I64  = 1u << 7,  /* invalid in 64-bit mode */
	UD   = 1u << 8,  /* undefined opcode */
	ESC  = 1u << 9,  /* a prefix or escape, never looked up */
	GRP  = 1u << 10, /* validity depends on ModRM: see group_valid() */
	O64  = 1u << 11, /* valid only in 64-bit mode */
	JB   = 1u << 12, /* rel8 branch (length as IB) */
	I2B  = 1u << 13, /* two imm8 (EXTRQ/INSERTQ) */
};

/* The one-byte opcode map (SDM vol. 2 table A-2, APM vol. 3 table A-1). */
static const uint16_t map_one[256] = {
/*        0       1       2       3       4       5       6       7
 *        8       9       A       B       C       D       E       F */
/* 0 */	MR,     MR,     MR,     MR,     IB,     IZ,     I64,    I64,
	MR,     MR,     MR,     MR,     IB,     IZ,     I64,    ESC,
/* 1 */	MR,     MR,     MR,     MR,     IB,     IZ,     I64,    I64,
	MR,     MR,     MR,     MR,     IB,     IZ,     I64,    I64,
/* 2 */	MR,     MR,     MR,     MR,     IB,     IZ,     ESC,    I64,
	MR,     MR,     MR,     MR,     IB,     IZ,     ESC,    I64,
/* 3 */	MR,     MR,     MR,     MR,     IB,     IZ,     ESC,    I64,
	MR,     MR,     MR,     MR,     IB,     IZ,     ESC,    I64,
/* 4 */	0,      0,      0,      0,      0,      0,      0,      0,
	0,      0,      0,      0,      0,      0,      0,      0,
/* 5 */	0,      0,      0,      0,      0,      0,      0,      0,
	0,      0,      0,      0,      0,      0,      0,      0,
/* 6 */	I64,    I64,    MR|I64|GRP, MR, ESC,    ESC,    ESC,    ESC,
	IZ,     MR|IZ,  IB,     MR|IB,  0,      0,      0,      0,
/* 7 */	JB,     JB,     JB,     JB,     JB,     JB,     JB,     JB,
	JB,     JB,     JB,     JB,     JB,     JB,     JB,     JB,
/* 8 */	MR|IB,  MR|IZ,  MR|IB|I64, MR|IB, MR,   MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR|GRP, MR|GRP, MR|GRP, MR|GRP,
/* 9 */	0,      0,      0,      0,      0,      0,      0,      0,
	0,      0,      IZ|IW|I64, 0,   0,      0,      0,      0,
/* A */	AO,     AO,     AO,     AO,     0,      0,      0,      0,
	IB,     IZ,     0,      0,      0,      0,      0,      0,
/* B */	IB,     IB,     IB,     IB,     IB,     IB,     IB,     IB,
	IV,     IV,     IV,     IV,     IV,     IV,     IV,     IV,
/* C */	MR|IB,  MR|IB,  IW,     0,      MR|I64|GRP, MR|I64|GRP, MR|IB|GRP, MR|IZ|GRP,
	IW|IB,  0,      IW,     0,      0,      IB,     I64,    0,
/* D */	MR,     MR,     MR,     MR,     IB|I64, IB|I64, I64,    0,
	MR|GRP, MR|GRP, MR|GRP, MR|GRP, MR|GRP, MR|GRP, MR|GRP, MR|GRP,
/* E */	JB,     JB,     JB,     JB,     IB,     IB,     IB,     IB,
	JZ,     JZ,     IZ|IW|I64, JB,  0,      0,      0,      0,
/* F */	ESC,    0,      ESC,    ESC,    0,      0,      MR|GRP, MR|GRP,
	0,      0,      0,      0,      0,      0,      MR|GRP, MR|GRP,
};

/* The two-byte map, 0F xx (SDM table A-3, APM table A-4..A-6). */
static const uint16_t map_0f[256] = {
/* 0 */	MR|GRP, MR|GRP, MR,     MR,     UD,     0,      0,      0,
	0,      0,      UD,     0,      UD,     MR,     0,      ESC,
/* 1 */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* 2 */	MR|GRP, MR|GRP, MR|GRP, MR|GRP, UD,     UD,     UD,     UD,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* 3 */	0,      0,      0,      0,      0,      0,      UD,     GRP,
	ESC,    UD,     ESC,    UD,     UD,     UD,     UD,     UD,
/* 4 */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* 5 */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* 6 */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* 7 */	MR|IB,  MR|IB|GRP, MR|IB|GRP, MR|IB|GRP, MR, MR,    MR,     0,
	MR|GRP, MR|GRP, UD,     UD,     MR,     MR,     MR,     MR,
/* 8 */	JZ,     JZ,     JZ,     JZ,     JZ,     JZ,     JZ,     JZ,
	JZ,     JZ,     JZ,     JZ,     JZ,     JZ,     JZ,     JZ,
/* 9 */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* A */	0,      0,      0,      MR,     MR|IB,  MR,     MR|GRP, MR|GRP,
	0,      0,      0,      MR,     MR|IB,  MR,     MR|GRP, MR,
/* B */	MR,     MR,     MR|GRP, MR,     MR|GRP, MR|GRP, MR,     MR,
	MR|GRP, MR,     MR|IB|GRP, MR,  MR,     MR,     MR,     MR,
/* C */	MR,     MR,     MR|IB,  MR,     MR|IB,  MR|IB,  MR|IB,  MR|GRP,
	0,      0,      0,      0,      0,      0,      0,      0,
/* D */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* E */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
/* F */	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
	MR,     MR,     MR,     MR,     MR,     MR,     MR,     MR,
};

/*
 * Mandatory prefixes.  In the 0F, 0F38 and 0F3A maps most SSE opcodes mean
 * different instructions with no prefix, 66, F3 or F2 (the last F2/F3
 * wins over 66), and the CPU raises #UD for the combinations it does not
 * define.  Each entry is the set of selectors that are defined; an opcode
 * without an entry takes any prefix (66 is its operand size, F2/F3 REP
 * or ignored).  From the SDM's opcode maps (tables ).
 */
enum {
	PN = 1, /* no prefix */
	PP = 2, /* 66 */
	PS = 4, /* F3 */
	PD = 8, /* F2 */
	PALL = PN | PP | PS | PD,
};

static const uint8_t simd_0f[256] = {
	[0x10] = PALL, [0x11] = PALL, [0x12] = PALL, [0x13] = PN | PP,
	[0x14] = PN | PP, [0x15] = PN | PP, [0x16] = PN | PP | PS,
	[0x17] = PN | PP,
	[0x28] = PN | PP, [0x29] = PN | PP, [0x2A] = PALL, [0x2B] = PALL,
	[0x2C] = PALL, [0x2D] = PALL, [0x2E] = PN | PP, [0x2F] = PN | PP,
	[0x50] = PN | PP, [0x51] = PALL, [0x52] = PN | PS, [0x53] = PN | PS,
	[0x54] = PN | PP, [0x55] = PN | PP, [0x56] = PN | PP, [0x57] = PN | PP,
	[0x58] = PALL, [0x59] = PALL, [0x5A] = PALL, [0x5B] = PN | PP | PS,
	[0x5C] = PALL, [0x5D] = PALL, [0x5E] = PALL, [0x5F] = PALL,
	[0x60] = PN | PP, [0x61] = PN | PP, [0x62] = PN | PP, [0x63] = PN | PP,
	[0x64] = PN | PP, [0x65] = PN | PP, [0x66] = PN | PP, [0x67] = PN | PP,
	[0x68] = PN | PP, [0x69] = PN | PP, [0x6A] = PN | PP, [0x6B] = PN | PP,
	[0x6C] = PP, [0x6D] = PP, [0x6E] = PN | PP, [0x6F] = PN | PP | PS,
	[0x70] = PALL, [0x71] = PN | PP, [0x72] = PN | PP, [0x73] = PN | PP,
	[0x74] = PN | PP, [0x75] = PN | PP, [0x76] = PN | PP, [0x77] = PN,
	[0x78] = PN | PP | PD, [0x79] = PN | PP | PD,
	[0x7C] = PP | PD, [0x7D] = PP | PD, [0x7E] = PN | PP | PS,
	[0x7F] = PN | PP | PS,
	[0xB8] = PS,
	[0xC2] = PALL, [0xC3] = PN, [0xC4] = PN | PP, [0xC5] = PN | PP,
	[0xC6] = PN | PP,
	[0xD0] = PP | PD, [0xD1] = PN | PP, [0xD2] = PN | PP, [0xD3] = PN | PP,
	[0xD4] = PN | PP, [0xD5] = PN | PP, [0xD6] = PP | PS | PD,
	[0xD7] = PN | PP,
	[0xD8] = PN | PP, [0xD9] = PN | PP, [0xDA] = PN | PP, [0xDB] = PN | PP,
	[0xDC] = PN | PP, [0xDD] = PN | PP, [0xDE] = PN | PP, [0xDF] = PN | PP,
	[0xE0] = PN | PP, [0xE1] = PN | PP, [0xE2] = PN | PP, [0xE3] = PN | PP,
	[0xE4] = PN | PP, [0xE5] = PN | PP, [0xE6] = PP | PS | PD,
	[0xE7] = PN | PP,
	[0xE8] = PN | PP, [0xE9] = PN | PP, [0xEA] = PN | PP, [0xEB] = PN | PP,
	[0xEC] = PN | PP, [0xED] = PN | PP, [0xEE] = PN | PP, [0xEF] = PN | PP,
	[0xF0] = PD, [0xF1] = PN | PP, [0xF2] = PN | PP, [0xF3] = PN | PP,
	[0xF4] = PN | PP, [0xF5] = PN | PP, [0xF6] = PN | PP, [0xF7] = PN | PP,
	[0xF8] = PN | PP, [0xF9] = PN | PP, [0xFA] = PN | PP, [0xFB] = PN | PP,
	[0xFC] = PN | PP, [0xFD] = PN | PP, [0xFE] = PN | PP,
};

/*
 * The 0F 38 and 0F 3A maps hold only SSE-era instructions, so one grid per
 * map says both which opcodes exist and with which prefixes: a hex digit
 * per opcode (row = high nibble, column = low nibble), the set of
 * selectors that define an instruction, 1 = none, 2 = 66, 4 = F3, 8 = F2;
 * 0 = undefined.  Every 0F 38 opcode takes ModRM and no immediate, every
 * 0F 3A one ModRM and an imm8.  (The VEX, XOP and EVEX grids below work
 * the same way.)
 */
static const char legacy_0f38[257] =
	/*0123456789ABCDEF */
	"3333333333330000" /* 0 SSSE3 pshufb ... pmulhrsw (MMX and 66) */
	"2000220200003330" /* 1 pblendvb blendvps/pd ptest pabs* */
	"2222220022220000" /* 2 pmovsx* pmuldq pcmpeqq movntdqa packusdw */
	"2222220222222222" /* 3 pmovzx* pcmpgtq pmin* pmax* pmulld */
	"2200000000000000" /* 4 pmulld phminposuw */
	"0000000000000000" /* 5 */
	"0000000000000000" /* 6 */
	"0000000000000000" /* 7 */
	"2220000000000000" /* 8 invept invvpid invpcid */
	"0000000000000000" /* 9 */
	"0000000000000000" /* A */
	"0000000000000000" /* B */
	"0000000011111102" /* C SHA gf2p8mulb */
	"0000000040026666" /* D Key Locker aesimc aesenc/dec (KL with F3) */
	"0000000000000000" /* E */
	"BB000270E1440000"; /* F movbe/crc32 wrss/wruss adcx/adox movdir* enqcmd encodekey */

static const char legacy_0f3a[257] =
	"0000000022222223" /* 0 round* blend* pblendw palignr */
	"0000222200000000" /* 1 pextr* extractps */
	"2220000000000000" /* 2 pinsrb insertps pinsrd/q */
	"0000000000000000" /* 3 */
	"2220200000000000" /* 4 dpps dppd mpsadbw pclmulqdq */
	"0000000000000000" /* 5 */
	"2222000000000000" /* 6 pcmpestrm/i pcmpistrm/i */
	"0000000000000000" /* 7 */
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000"
	"0000000000001022" /* C sha1rnds4 gf2p8affine(inv)qb */
	"0000000000000002" /* D aeskeygenassist */
	"0000000000000000" /* E */
	"4000000000000000"; /* F hreset */

static unsigned hex_digit(char c)
{
	return c >= 'A' ? (unsigned)(c - 'A' + 10) : (unsigned)(c - '0');
}

static unsigned simd_bit(uint8_t simd_prefix)
{
	switch (simd_prefix) {
	case 0x66: return PP;
	case 0xF3: return PS;
	case 0xF2: return PD;
	}
	return PN;
}

/*
 * Operand forms the CPU rejects for an SSE-era opcode: +1 memory only,
 * -1 register only, 0 either, 2 neither (an undefined ModRM.reg).
 */
static int simd_form(const struct x86_insn *in)
{
	uint8_t op = in->opcode;
	uint8_t pfx = in->simd_prefix;
	if (in->map == X86_MAP_0F) {
		switch (op) {
		case 0x13: case 0x17: case 0x2B: case 0xE7: case 0xF0:
		case 0xC3:
			return 1;
		case 0x12: case 0x16:
			return pfx == 0x66 ? 1 : 0;
		case 0x50: case 0xC5: case 0xD7: case 0xF7:
			return -1;
		case 0xD6:
			return pfx == 0x66 ? 0 : -1;
		}
	} else if (in->map == X86_MAP_0F38) {
		switch (op) {
		case 0x2A: case 0x80: case 0x81: case 0x82: case 0xF5:
		case 0xF8: case 0xF9:
			return 1;
		case 0xD8: /* AES{ENC,DEC}WIDE{128,256}KL: /0-/3, memory */
			return ((in->modrm >> 3) & 7) <= 3 ? 1 : 2;
		case 0xF0: case 0xF1:
			return pfx == 0xF2 ? 0 : 1;  /* MOVBE memory, CRC32 any */
		case 0xF6:
			return pfx == 0 ? 1 : 0;     /* WRSS memory */
		case 0xFA: case 0xFB:
			return -1;
		case 0xDD: case 0xDE: case 0xDF:
			return pfx == 0xF3 ? 1 : 0;  /* Key Locker: memory */
		}
	}
	return 0;
}

/* Is the mandatory prefix (and the operand form it allows) defined? */
static bool simd_valid(const struct x86_insn *in)
{
	uint8_t allowed;
	switch (in->map) {
	case X86_MAP_0F: allowed = simd_0f[in->opcode]; break;
	case X86_MAP_0F38: allowed = (uint8_t)hex_digit(legacy_0f38[in->opcode]); break;
	case X86_MAP_0F3A: allowed = (uint8_t)hex_digit(legacy_0f3a[in->opcode]); break;
	default: return true;
	}
	if (allowed && !(allowed & simd_bit(in->simd_prefix)))
		return false;
	int form = simd_form(in);
	if (form > 1)
		return false;
	if (form > 0 && in->mod == 3)
		return false;
	if (form < 0 && in->mod != 3)
		return false;
	return true;
}

/* The 3DNow! operations (the byte after 0F 0F ModRM [SIB] [disp]). */
static bool amd3dnow_defined(uint8_t op)
{
	switch (op) {
	case 0x0C: case 0x0D: case 0x1C: case 0x1D:
	case 0x8A: case 0x8E: case 0x90: case 0x94: case 0x96: case 0x97:
	case 0x9A: case 0x9E: case 0xA0: case 0xA4: case 0xA6: case 0xA7:
	case 0xAA: case 0xAE: case 0xB0: case 0xB4: case 0xB6: case 0xB7:
	case 0xBB: case 0xBF:
		return true;
	}
	return false;
}

/* ---- decoder state ----------------------------------------------------------- */

struct dec {
	const uint8_t *code;
	size_t avail;
	unsigned pos;
	struct x86_insn *in;
	/* Register-number extensions from REX, VEX, XOP or EVEX. */
	uint8_t r, x, b, w; /* 0 or 1 (r: with EVEX R' it is 0..3) */
	uint8_t evex_x4;    /* EVEX.X as bit 4 of a register rm */
};

/* Read the next byte: truncation and the 15-byte limit end decoding. */
static int next_byte(struct dec *d, uint8_t *out)
{
	if (d->pos >= X86_MAX_INSN_LEN)
		return X86_DECODE_TOO_LONG;
	if (d->pos >= d->avail)
		return X86_DECODE_TRUNCATED;
	*out = d->code[d->pos++];
	return X86_DECODE_OK;
}

/* Look at the byte `ahead` positions on without consuming it. */
static int peek_byte(const struct dec *d, unsigned ahead, uint8_t *out)
{
	if (d->pos + ahead >= X86_MAX_INSN_LEN)
		return X86_DECODE_TOO_LONG;
	if (d->pos + ahead >= d->avail)
		return X86_DECODE_TRUNCATED;
	*out = d->code[d->pos + ahead];
	return X86_DECODE_OK;
}

/* Read `size` (0-8) bytes little-endian. */
static int next_le(struct dec *d, unsigned size, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		uint8_t b;
		int rc = next_byte(d, &b);
		if (rc)
			return rc;
		v |= (uint64_t)b << (8 * i);
	}
	*out = v;
	return X86_DECODE_OK;
}

static int64_t sign_extend(uint64_t v, unsigned bytes)
{
	if (bytes >= 8 || bytes == 0)
		return (int64_t)v;
	unsigned shift = 64 - 8 * bytes;
	return (int64_t)(v << shift) >> shift;
}

/* ---- prefixes ----------------------------------------------------------------- */

/* Segment override prefix byte -> register, or X86_REG_NONE. */
static uint8_t segment_prefix(uint8_t b)
{
	switch (b) {
	case 0x26: return X86_ES;
	case 0x2E: return X86_CS;
	case 0x36: return X86_SS;
	case 0x3E: return X86_DS;
	case 0x64: return X86_FS;
	case 0x65: return X86_GS;
	}
	return X86_REG_NONE;
}

/*
 * Consume legacy prefixes and REX.  A REX counts only when the opcode (or
 * an escape) follows it directly: a legacy prefix after a REX cancels it.
 */
static int decode_prefixes(struct dec *d)
{
	struct x86_insn *in = d->in;
	for (;;) {
		uint8_t b;
		int rc = peek_byte(d, 0, &b);
		if (rc)
			return rc;
		uint8_t seg = segment_prefix(b);
		if (seg != X86_REG_NONE) {
			/* In 64-bit mode CS, DS, ES and SS overrides are
			 * ignored altogether: the last FS or GS one counts. */
			in->prefixes |= X86_PFX_SEG;
			if (in->mode != X86_MODE_64 || seg >= X86_FS)
				in->seg_override = seg;
		} else if (b == 0xF0) {
			in->prefixes |= X86_PFX_LOCK;
		} else if (b == 0xF2) {
			in->prefixes |= X86_PFX_REPNE;
			in->last_rep = b;
		} else if (b == 0xF3) {
			in->prefixes |= X86_PFX_REP;
			in->last_rep = b;
		} else if (b == 0x66) {
			in->prefixes |= X86_PFX_OPSZ;
		} else if (b == 0x67) {
			in->prefixes |= X86_PFX_ADSZ;
		} else if (in->mode == X86_MODE_64 && (b & 0xF0) == 0x40) {
			d->pos++;
			in->rex = b;
			continue;
		} else {
			break;
		}
		in->rex = 0; /* a legacy prefix after REX cancels it */
		d->pos++;
	}
	in->n_prefix_bytes = (uint8_t)d->pos;
	if (in->rex) {
		d->w = (in->rex >> 3) & 1;
		d->r = (in->rex >> 2) & 1;
		d->x = (in->rex >> 1) & 1;
		d->b = in->rex & 1;
	}
	return X86_DECODE_OK;
}

/* Publish the register-number extensions in effect. */
static void publish_ext(const struct dec *d)
{
	d->in->ext_w = d->w;
	d->in->ext_r = d->r;
	d->in->ext_x = d->x;
	d->in->ext_b = d->b;
}

/* Operand and address sizes from the mode, 66, 67 and REX.W / VEX.W. */
static void set_sizes(struct dec *d)
{
	struct x86_insn *in = d->in;
	bool opsz = in->prefixes & X86_PFX_OPSZ;
	bool adsz = in->prefixes & X86_PFX_ADSZ;
	switch (in->mode) {
	case X86_MODE_16:
		in->opsize = opsz ? 4 : 2;
		in->addrsize = adsz ? 4 : 2;
		break;
	case X86_MODE_32:
		in->opsize = opsz ? 2 : 4;
		in->addrsize = adsz ? 2 : 4;
		break;
	default:
		/* REX.W wins over 66; VEX.W selects element sizes instead. */
		if (in->encoding == X86_ENC_LEGACY && d->w)
			in->opsize = 8;
		else
			in->opsize = opsz ? 2 : 4;
		in->addrsize = adsz ? 4 : 8;
		break;
	}
}

/* ---- ModRM, SIB and displacement ------------------------------------------------ */

static int decode_modrm_16(struct dec *d)
{
	struct x86_insn *in = d->in;
	/* [BX+SI] [BX+DI] [BP+SI] [BP+DI] [SI] [DI] [BP] [BX] */
	static const uint8_t base16[8] = { X86_RBX, X86_RBX, X86_RBP, X86_RBP,
					   X86_RSI, X86_RDI, X86_RBP, X86_RBX };
	static const uint8_t index16[8] = { X86_RSI, X86_RDI, X86_RSI, X86_RDI,
					    X86_REG_NONE, X86_REG_NONE,
					    X86_REG_NONE, X86_REG_NONE };
	unsigned rm = in->modrm & 7;
	struct x86_mem *m = &in->mem;
	m->base = base16[rm];
	m->index = index16[rm];
	m->scale = m->index == X86_REG_NONE ? 0 : 1;
	if (in->mod == 0 && rm == 6) {
		m->base = X86_REG_NONE; /* [disp16] */
		in->disp_size = 2;
	} else if (in->mod == 1) {
		in->disp_size = 1;
	} else if (in->mod == 2) {
		in->disp_size = 2;
	}
	m->seg = m->base == X86_RBP ? X86_SS : X86_DS;
	return X86_DECODE_OK;
}

static int decode_modrm_32_64(struct dec *d)
{
	struct x86_insn *in = d->in;
	struct x86_mem *m = &in->mem;
	unsigned rm = in->modrm & 7;
	unsigned base_low;
	if (rm == 4) {
		int rc = next_byte(d, &in->sib);
		if (rc)
			return rc;
		in->has_sib = true;
		unsigned index = ((in->sib >> 3) & 7) | (d->x << 3);
		base_low = in->sib & 7;
		m->base = (uint8_t)(base_low | (d->b << 3));
		/* index 100 without REX.X means none (VSIB: always an index). */
		if (index == 4 && !m->vsib) {
			m->index = X86_REG_NONE;
			m->scale = 0;
		} else {
			m->index = (uint8_t)index;
			m->scale = (uint8_t)(1u << (in->sib >> 6));
		}
		if (base_low == 5 && in->mod == 0) {
			m->base = X86_REG_NONE; /* [index*scale + disp32] */
			in->disp_size = 4;
		}
	} else {
		base_low = rm;
		m->base = (uint8_t)(rm | (d->b << 3));
		m->index = X86_REG_NONE;
		m->scale = 0;
		if (rm == 5 && in->mod == 0) {
			/* [disp32]; in 64-bit mode [rip + disp32]. */
			m->base = in->mode == X86_MODE_64 ? X86_REG_RIP
							  : X86_REG_NONE;
			in->disp_size = 4;
		}
	}
	if (in->mod == 1)
		in->disp_size = 1;
	else if (in->mod == 2)
		in->disp_size = 4;
	/* Only rSP and rBP themselves (not r12, r13) default to SS. */
	m->seg = (m->base == X86_RSP || m->base == X86_RBP) ? X86_SS : X86_DS;
	return X86_DECODE_OK;
}

/* ModRM, then SIB and displacement for memory forms. */
static int decode_modrm(struct dec *d)
{
	struct x86_insn *in = d->in;
	int rc = next_byte(d, &in->modrm);
	if (rc)
		return rc;
	in->has_modrm = true;
	in->mod = in->modrm >> 6;
	in->reg = (uint8_t)(((in->modrm >> 3) & 7) | (d->r << 3));
	in->rm = (uint8_t)((in->modrm & 7) | (d->b << 3) | (d->evex_x4 << 4));
	if (in->mod == 3)
		return X86_DECODE_OK;
	in->has_mem = true;
	rc = in->addrsize == 2 ? decode_modrm_16(d) : decode_modrm_32_64(d);
	if (rc)
		return rc;
	if (in->seg_override != X86_REG_NONE)
		in->mem.seg = in->seg_override;
	in->disp_offset = (uint8_t)d->pos;
	uint64_t raw;
	rc = next_le(d, in->disp_size, &raw);
	if (rc)
		return rc;
	in->mem.disp = sign_extend(raw, in->disp_size);
	if (in->encoding == X86_ENC_EVEX && in->disp_size == 1)
		in->mem.disp8_scaled = true;
	return X86_DECODE_OK;
}

/* ---- immediates -------------------------------------------------------------------- */

/* Bytes of an IZ immediate: the operand size capped at 4. */
static unsigned iz_size(const struct x86_insn *in)
{
	return in->opsize == 2 ? 2 : 4;
}

/* Bytes of a JZ branch displacement.  Near branches use a 64-bit operand
 * size in 64-bit mode; AMD honours 66 there (16-bit displacement and IP),
 * Intel ignores it.  REX.W overrides 66. */
static unsigned jz_size(const struct dec *d)
{
	const struct x86_insn *in = d->in;
	if (in->mode == X86_MODE_64)
		return ((in->prefixes & X86_PFX_OPSZ) && !d->w) ? 2 : 4;
	return iz_size(in);
}

/* Read the immediates `flags` asks for. */
static int decode_immediates(struct dec *d, unsigned flags)
{
	struct x86_insn *in = d->in;
	unsigned first = 0, second = 0;
	if (flags & IZ)
		first = iz_size(in);
	else if (flags & IV)
		first = in->opsize;
	else if (flags & AO)
		first = in->addrsize;
	else if (flags & JZ)
		first = jz_size(d);
	else if (flags & IW)
		first = 2;
	else if (flags & (IB | JB | I2B))
		first = 1;
	/* The second immediate: ENTER iw,ib; far pointer z:16. */
	if ((flags & IW) && (flags & IB))
		second = 1;
	else if ((flags & IZ) && (flags & IW))
		second = 2;
	else if (flags & I2B)
		second = 1;
	in->imm_offset = (uint8_t)d->pos;
	in->imm_size = (uint8_t)first;
	in->imm2_size = (uint8_t)second;
	int rc = next_le(d, first, &in->imm_raw);
	if (rc)
		return rc;
	rc = next_le(d, second, &in->imm2_raw);
	if (rc)
		return rc;
	if (flags & (JZ | JB)) {
		in->has_rel = true;
		in->rel = sign_extend(in->imm_raw, first);
	}
	return X86_DECODE_OK;
}

/* ---- validity of group encodings ------------------------------------------------- */

/* x87 (D8-DF): the register forms that are undefined. */
static bool x87_valid(uint8_t op, uint8_t modrm)
{
	unsigned reg = (modrm >> 3) & 7;
	if (modrm < 0xC0) {
		/* Memory forms: D9 /1, DB /4, DB /6, DD /5 are undefined. */
		return !((op == 0xD9 && reg == 1) ||
			 (op == 0xDB && (reg == 4 || reg == 6)) ||
			 (op == 0xDD && reg == 5));
	}
	switch (op) {
	case 0xD9:
		/* D9 D0 FNOP; D1-D7 undefined; E2 E3 E6 E7 undefined; the
		 * constants E8-EE and EF undefined. */
		if (modrm >= 0xD1 && modrm <= 0xD7)
			return false;
		return !(modrm == 0xE2 || modrm == 0xE3 || modrm == 0xE6 ||
			 modrm == 0xE7 || modrm == 0xEF);
	case 0xDA:
		/* DA C0-DF FCMOVcc, E9 FUCOMPP; the rest undefined. */
		return modrm < 0xE0 || modrm == 0xE9;
	case 0xDB:
		/* DB E0-E7: FNENI FNDISI FNCLEX FNINIT FNSETPM, then
		 * undefined; F8-FF undefined. */
		if (modrm >= 0xE0 && modrm <= 0xE7)
			return modrm <= 0xE4;
		return modrm < 0xF8;
	case 0xDD:
		/* DD F0-FF undefined. */
		return modrm < 0xF0;
	case 0xDE:
		/* DE D8-DF: only D9 (FCOMPP). */
		if (modrm >= 0xD8 && modrm <= 0xDF)
			return modrm == 0xD9;
		return true;
	case 0xDF:
		/* DF E0 FNSTSW AX; E1-E7 undefined; F8-FF undefined. */
		if (modrm >= 0xE1 && modrm <= 0xE7)
			return false;
		return modrm < 0xF8;
	}
	return true;
}

/* 0F 01 register forms (ModRM C0-FF) that are defined. */
static bool grp7_reg_valid(const struct x86_insn *in)
{
	uint8_t m = in->modrm;
	unsigned reg = (m >> 3) & 7;
	if (reg == 4 || reg == 6) /* SMSW r, LMSW r */
		return true;
	switch (m) {
	case 0xC0: /* ENCLV */ case 0xC1: /* VMCALL */ case 0xC2: /* VMLAUNCH */
	case 0xC3: /* VMRESUME */ case 0xC4: /* VMXOFF */ case 0xC5: /* PCONFIG */
	case 0xC8: /* MONITOR */ case 0xC9: /* MWAIT */ case 0xCA: /* CLAC */
	case 0xCB: /* STAC */
	case 0xD0: /* XGETBV */ case 0xD1: /* XSETBV */ case 0xD4: /* VMFUNC */
	case 0xD5: /* XEND */ case 0xD6: /* XTEST */ case 0xD7: /* ENCLU */
	case 0xD8: /* VMRUN */ case 0xD9: /* VMMCALL */ case 0xDA: /* VMLOAD */
	case 0xDB: /* VMSAVE */ case 0xDC: /* STGI */ case 0xDD: /* CLGI */
	case 0xDE: /* SKINIT */ case 0xDF: /* INVLPGA */
	case 0xE8: /* SERIALIZE, F3: SETSSBSY, F2: XSUSLDTRK */
	case 0xEE: /* RDPKRU */ case 0xEF: /* WRPKRU */
	case 0xF9: /* RDTSCP */ case 0xFA: /* MONITORX */ case 0xFB: /* MWAITX */
	case 0xFC: /* CLZERO */ case 0xFD: /* RDPRU */
	case 0xFE: /* INVLPGB, F3: RMPADJUST, F2: RMPUPDATE */
	case 0xFF: /* TLBSYNC, F3: PSMASH, F2: PVALIDATE */
		return true;
	case 0xCC: /* TDCALL */ case 0xCD: /* SEAMRET */
	case 0xCE: /* SEAMOPS */ case 0xCF: /* ENCLS, SEAMCALL */
	case 0xEC: /* F3: UIRET */ case 0xED: /* F3: TESTUI */
		return true;
	case 0xEA: /* F3: SAVEPREVSSP */
		return in->last_rep == 0xF3;
	case 0xE9: /* F2: XRESLDTRK */
		return in->last_rep == 0xF2;
	case 0xF8: /* SWAPGS */
		return in->mode == X86_MODE_64;
	}
	return false;
}

/* 0F AE (group 15) by prefix, ModRM.reg and form. */
static bool grp15_valid(const struct x86_insn *in)
{
	unsigned reg = (in->modrm >> 3) & 7;
	bool mem = in->mod != 3;
	switch (in->simd_prefix) {
	case 0:
		/* FXSAVE FXRSTOR LDMXCSR STMXCSR XSAVE XRSTOR XSAVEOPT
		 * CLFLUSH; registers: LFENCE MFENCE SFENCE */
		return mem || reg >= 5;
	case 0x66:
		/* CLWB CLFLUSHOPT; register: TPAUSE */
		return mem ? reg >= 6 : reg == 6;
	case 0xF3:
		/* PTWRITE CLRSSBSY; registers: RD/WR FS/GS BASE (64-bit
		 * mode), PTWRITE, INCSSP, UMONITOR */
		if (mem)
			return reg == 4 || reg == 6;
		if (reg <= 3)
			return in->mode == X86_MODE_64;
		return reg <= 6;
	case 0xF2: /* UMWAIT */
		return !mem && reg == 6;
	}
	return false;
}

/* 0F C7 (group 9) by prefix, ModRM.reg and form. */
static bool grp9_valid(const struct x86_insn *in)
{
	unsigned reg = (in->modrm >> 3) & 7;
	uint8_t pfx = in->simd_prefix;
	if (in->mod != 3) {
		switch (reg) {
		case 1: /* CMPXCHG8B/16B */
			return true;
		case 3: case 4: case 5: /* XRSTORS XSAVEC XSAVES */
		case 7:                 /* VMPTRST */
			return pfx == 0;
		case 6: /* VMPTRLD, 66: VMCLEAR, F3: VMXON */
			return pfx != 0xF2;
		}
		return false;
	}
	/* RDRAND / RDSEED (66: 16-bit), F3: SENDUIPI / RDPID */
	return reg >= 6 && pfx != 0xF2;
}

/*
 * Opcodes marked GRP: the encodings, by ModRM (and mandatory prefix), that
 * the CPU defines.
 */
static bool group_valid(const struct dec *d)
{
	const struct x86_insn *in = d->in;
	unsigned reg = (in->modrm >> 3) & 7;
	bool mem = in->mod != 3;
	uint8_t op = in->opcode;
	if (in->map == X86_MAP_ONE) {
		switch (op) {
		case 0x62: /* BOUND: memory only (register forms are EVEX) */
		case 0x8D: /* LEA */
		case 0xC4: /* LES */
		case 0xC5: /* LDS */
			return mem;
		case 0x8C: /* MOV Ev, Sreg: ES CS SS DS FS GS */
			return reg <= 5;
		case 0x8E: /* MOV Sreg, Ew: not CS */
			return reg <= 5 && reg != X86_CS;
		case 0x8F: /* POP Ev */
			return reg == 0;
		case 0xC6: /* MOV Eb, Ib; XABORT */
			return reg == 0 || in->modrm == 0xF8;
		case 0xC7: /* MOV Ev, Iz; XBEGIN */
			return reg == 0 || in->modrm == 0xF8;
		case 0xFE: /* INC/DEC Eb */
			return reg <= 1;
		case 0xFF:
			/* far CALL/JMP need memory; /7 is undefined */
			if (reg == 3 || reg == 5)
				return mem;
			return reg != 7;
		case 0xF6:
		case 0xF7:
			return true;
		}
		if (op >= 0xD8 && op <= 0xDF)
			return x87_valid(op, in->modrm);
		return true;
	}
	/* Map 0F. */
	switch (op) {
	case 0x00: /* SLDT STR LLDT LTR VERR VERW */
		return reg <= 5;
	case 0x01:
		if (mem)
			return reg != 5 || in->last_rep == 0xF3; /* RSTORSSP */
		return grp7_reg_valid(in);
	case 0x20: case 0x22: { /* MOV CR: CR0 CR2 CR3 CR4 CR8 */
		unsigned cr = in->reg;
		if (in->prefixes & X86_PFX_LOCK)
			cr |= 8; /* AMD: LOCK MOV CR0 is CR8 */
		return cr == 0 || cr == 2 || cr == 3 || cr == 4 || cr == 8;
	}
	case 0x21: case 0x23: /* MOV DR: DR0-DR7 */
		return in->reg <= 7;
	case 0x71: case 0x72: /* shifts by imm8: /2 /4 /6, registers only */
		return !mem && (reg == 2 || reg == 4 || reg == 6);
	case 0x73: /* /2 /6, and (66 only) /3 /7 */
		if (mem)
			return false;
		if (reg == 3 || reg == 7)
			return in->simd_prefix == 0x66;
		return reg == 2 || reg == 6;
	case 0x78: /* VMREAD; 66: EXTRQ /0 (register); F2: INSERTQ (register) */
		if (in->simd_prefix == 0x66)
			return !mem && reg == 0;
		if (in->simd_prefix == 0xF2)
			return !mem;
		return in->simd_prefix == 0;
	case 0x79: /* VMWRITE; 66 EXTRQ, F2 INSERTQ (registers) */
		if (in->simd_prefix == 0x66 || in->simd_prefix == 0xF2)
			return !mem;
		return in->simd_prefix == 0;
	case 0xB2: case 0xB4: case 0xB5: /* LSS LFS LGS: a far pointer */
		return mem;
	case 0x37: /* GETSEC */
		return in->simd_prefix == 0;
	case 0xA6: /* VIA PadLock: MONTMUL XSHA1 XSHA256 */
		return in->modrm == 0xC0 || in->modrm == 0xC8 || in->modrm == 0xD0;
	case 0xA7: /* VIA PadLock: XSTORE XCRYPT{ECB,CBC,CTR,CFB,OFB} */
		return in->modrm == 0xC0 || in->modrm == 0xC8 || in->modrm == 0xD0 ||
		       in->modrm == 0xD8 || in->modrm == 0xE0 || in->modrm == 0xE8;
	case 0xAE:
		return grp15_valid(in);
	case 0xB8: /* POPCNT: F3 (simd_0f); without it IA-64's JMPE */
		return true;
	case 0xBA: /* BT BTS BTR BTC Ev, Ib */
		return reg >= 4;
	case 0xC7:
		return grp9_valid(in);
	}
	return true;
}

/*
 * LOCK is allowed only on the read-modify-write instructions below, and
 * only with a memory destination (SDM vol. 2, LOCK).  AMD also accepts
 * LOCK MOV CR0 as an access to CR8.
 */
static bool lock_allowed(const struct x86_insn *in)
{
	uint8_t op = in->opcode;
	unsigned reg = (in->modrm >> 3) & 7;
	if (in->encoding != X86_ENC_LEGACY)
		return false;
	if (in->map == X86_MAP_0F && (op == 0x20 || op == 0x22))
		return true;
	if (!in->has_modrm || in->mod == 3)
		return false;
	if (in->map == X86_MAP_ONE) {
		/* ADD OR ADC SBB AND SUB XOR with a memory destination (not
		 * CMP): 00 01 08 09 ... 30 31. */
		if (op < 0x38 && (op & 7) <= 1)
			return true;
		switch (op) {
		case 0x80: case 0x81: case 0x82: case 0x83:
			return reg != 7;
		case 0x86: case 0x87:           /* XCHG */
			return true;
		case 0xF6: case 0xF7:           /* NOT NEG */
			return reg == 2 || reg == 3;
		case 0xFE: case 0xFF:           /* INC DEC */
			return reg <= 1;
		}
		return false;
	}
	if (in->map == X86_MAP_0F) {
		switch (op) {
		case 0xAB: case 0xB3: case 0xBB: /* BTS BTR BTC */
		case 0xB0: case 0xB1:            /* CMPXCHG */
		case 0xC0: case 0xC1:            /* XADD */
			return true;
		case 0xBA:
			return reg >= 5;
		case 0xC7:                       /* CMPXCHG8B/16B */
			return reg == 1;
		}
	}
	return false;
}

/* ---- legacy opcodes --------------------------------------------------------------- */

/* Flags of an opcode in the legacy maps, with the per-prefix special cases
 * that change the length. */
static unsigned legacy_flags(const struct dec *d)
{
	const struct x86_insn *in = d->in;
	switch (in->map) {
	case X86_MAP_ONE:
		return map_one[in->opcode];
	case X86_MAP_0F:
		if (in->opcode == 0x78 &&
		    (in->simd_prefix == 0x66 || in->simd_prefix == 0xF2))
			return MR | GRP | I2B; /* EXTRQ/INSERTQ ib, ib */
		return map_0f[in->opcode];
	case X86_MAP_0F38:
		return legacy_0f38[in->opcode] != '0' ? MR : UD;
	case X86_MAP_0F3A:
		return legacy_0f3a[in->opcode] != '0' ? (MR | IB) : UD;
	}
	return UD;
}

/* The opcode byte(s) of a legacy encoding; 0F 0F is 3DNow!. */
static int decode_legacy_opcode(struct dec *d, uint8_t first)
{
	struct x86_insn *in = d->in;
	int rc;
	in->encoding = X86_ENC_LEGACY;
	in->map = X86_MAP_ONE;
	in->opcode = first;
	if (first != 0x0F)
		return X86_DECODE_OK;
	uint8_t b;
	if ((rc = next_byte(d, &b)))
		return rc;
	if (b == 0x38 || b == 0x3A) {
		in->map = b == 0x38 ? X86_MAP_0F38 : X86_MAP_0F3A;
		return next_byte(d, &in->opcode);
	}
	in->map = X86_MAP_0F;
	in->opcode = b;
	if (b == 0x0F)
		in->encoding = X86_ENC_3DNOW;
	return X86_DECODE_OK;
}

/* SSE's mandatory prefix: the last F2/F3, else 66 (SDM 2.1.2). */
static uint8_t legacy_simd_prefix(const struct x86_insn *in)
{
	if (in->last_rep)
		return in->last_rep;
	return (in->prefixes & X86_PFX_OPSZ) ? 0x66 : 0;
}

static int decode_legacy_rest(struct dec *d)
{
	struct x86_insn *in = d->in;
	int rc;
	in->simd_prefix = legacy_simd_prefix(in);
	set_sizes(d);
	if (in->encoding == X86_ENC_3DNOW) {
		/* 0F 0F ModRM [SIB] [disp] op: the opcode is the suffix. */
		if ((rc = decode_modrm(d)))
			return rc;
		if ((rc = next_byte(d, &in->opcode)))
			return rc;
		if (in->prefixes & X86_PFX_LOCK)
			return X86_DECODE_INVALID;
		return amd3dnow_defined(in->opcode) ? X86_DECODE_OK
						    : X86_DECODE_INVALID;
	}
	unsigned flags = legacy_flags(d);
	if (flags & UD)
		return X86_DECODE_INVALID;
	/* MPX (0F 1A, 0F 1B) ignores 67 in 64-bit mode. */
	if (in->mode == X86_MODE_64 && in->map == X86_MAP_0F &&
	    (in->opcode == 0x1A || in->opcode == 0x1B))
		in->addrsize = 8;
	if ((flags & I64) && in->mode == X86_MODE_64)
		return X86_DECODE_INVALID;
	if ((flags & O64) && in->mode != X86_MODE_64)
		return X86_DECODE_INVALID;
	if (flags & MR) {
		/* MOV to/from CR/DR: the ModRM always names registers (mod is
		 * ignored), so there is never a SIB or displacement. */
		if (in->map == X86_MAP_0F && in->opcode >= 0x20 &&
		    in->opcode <= 0x23) {
			if ((rc = next_byte(d, &in->modrm)))
				return rc;
			in->has_modrm = true;
			in->mod = 3;
			in->reg = (uint8_t)(((in->modrm >> 3) & 7) | (d->r << 3));
			in->rm = (uint8_t)((in->modrm & 7) | (d->b << 3));
		} else if ((rc = decode_modrm(d))) {
			return rc;
		}
	}
	if ((flags & GRP) && !group_valid(d))
		return X86_DECODE_INVALID;
	if (in->map != X86_MAP_ONE && !simd_valid(in))
		return X86_DECODE_INVALID;
	/* TEST Eb/Ev, imm: group 3 /0 and /1 carry the immediate. */
	if (in->map == X86_MAP_ONE && (in->opcode == 0xF6 || in->opcode == 0xF7) &&
	    ((in->modrm >> 3) & 7) <= 1)
		flags |= in->opcode == 0xF6 ? IB : IZ;
	/* XBEGIN (C7 F8) has a branch displacement where MOV has Iz. */
	if (in->map == X86_MAP_ONE && in->opcode == 0xC7 && in->modrm == 0xF8)
		flags = (flags & ~IZ) | JZ;
	if ((in->prefixes & X86_PFX_LOCK) && !lock_allowed(in))
		return X86_DECODE_INVALID;
	return decode_immediates(d, flags);
}

/* ---- VEX, XOP, EVEX ------------------------------------------------------------------ */

/* Prefixes that make a VEX/XOP/EVEX encoding #UD: 66 F2 F3 F0 and REX. */
static bool vex_prefixes_ok(const struct x86_insn *in)
{
	return !(in->prefixes & (X86_PFX_OPSZ | X86_PFX_REP | X86_PFX_REPNE |
				 X86_PFX_LOCK)) && !in->rex;
}

static const uint8_t pp_prefix[4] = { 0, 0x66, 0xF3, 0xF2 };

/* Does the opcode of this VEX/XOP/EVEX map take an imm8 (or imm32)? */
static unsigned vex_imm_flags(const struct x86_insn *in)
{
	uint8_t op = in->opcode;
	switch (in->map) {
	case 1:
		if ((op >= 0x70 && op <= 0x73) || op == 0xC2 || op == 0xC4 ||
		    op == 0xC5 || op == 0xC6)
			return IB;
		return 0;
	case 3:
		return IB;
	case 8: /* XOP: every map-8 instruction has an imm8 */
		return IB;
	}
	return 0;
}

/* C5: [R vvvv L pp], C4 / 8F: [R X B mmmmm] [W vvvv L pp]. */
static int decode_vex_payload(struct dec *d, uint8_t first)
{
	struct x86_insn *in = d->in;
	uint8_t p0, p1;
	int rc;
	if ((rc = next_byte(d, &p0)))
		return rc;
	if (first == 0xC5) {
		in->map = 1;
		d->r = !(p0 & 0x80);
		p1 = p0;
	} else {
		if ((rc = next_byte(d, &p1)))
			return rc;
		d->r = !(p0 & 0x80);
		d->x = !(p0 & 0x40);
		d->b = !(p0 & 0x20);
		in->map = p0 & 0x1F;
		d->w = p1 >> 7;
	}
	if (in->mode != X86_MODE_64) {
		/* Outside 64-bit mode only 8 registers: R, X (and B) are
		 * ignored, and vvvv's high bit too. */
		d->r = d->x = d->b = 0;
	}
	in->vex.w = d->w;
	in->vex.vvvv = (uint8_t)((~p1 >> 3) & 15);
	if (in->mode != X86_MODE_64)
		in->vex.vvvv &= 7;
	in->vex.l = (p1 >> 2) & 1;
	in->simd_prefix = pp_prefix[p1 & 3];
	if (in->encoding == X86_ENC_VEX) {
		if (in->map < 1 || in->map > 3)
			return X86_DECODE_INVALID;
	} else if (in->map < 8 || in->map > 10) {
		return X86_DECODE_INVALID;
	}
	return X86_DECODE_OK;
}

/* 62 [R X B R' 0 mmm] [W vvvv 1 pp] [z L'L b V' aaa]. */
static int decode_evex_payload(struct dec *d)
{
	struct x86_insn *in = d->in;
	uint8_t p0, p1, p2;
	int rc;
	if ((rc = next_byte(d, &p0)) || (rc = next_byte(d, &p1)) ||
	    (rc = next_byte(d, &p2)))
		return rc;
	if ((p0 & 0x08) || !(p1 & 0x04))
		return X86_DECODE_INVALID;
	in->map = p0 & 7;
	if (in->map == 0 || in->map == 4 || in->map == 7)
		return X86_DECODE_INVALID;
	d->r = (uint8_t)(((p0 & 0x80) ? 0 : 1) | ((p0 & 0x10) ? 0 : 2));
	d->x = !(p0 & 0x40);
	d->b = !(p0 & 0x20);
	d->w = p1 >> 7;
	d->evex_x4 = d->x;
	if (in->mode != X86_MODE_64)
		d->r = d->x = d->b = d->evex_x4 = 0;
	in->vex.w = d->w;
	in->vex.vvvv = (uint8_t)(((~p1 >> 3) & 15) | ((p2 & 0x08) ? 0 : 16));
	if (in->mode != X86_MODE_64)
		in->vex.vvvv &= 7;
	in->vex.l = (p2 >> 5) & 3;
	in->vex.b = (p2 >> 4) & 1;
	in->vex.z = p2 >> 7;
	in->vex.aaa = p2 & 7;
	in->simd_prefix = pp_prefix[p1 & 3];
	return X86_DECODE_OK;
}

/*
 * Defined VEX and XOP opcodes.  Each map is a 16 x 16 grid, one hex digit
 * per opcode (row = high nibble, column = low nibble): the set of
 * prefixes (VEX.pp) that define an instruction there, as in the legacy
 * tables: 1 = none, 2 = 66, 4 = F3, 8 = F2; 0 = undefined.  From the SDM
 * opcode maps (tables A-3..A-5 with their VEX columns) and the AMD APM
 * vol. 4/5 XOP and TBM opcode maps.
 */
static const char vex_map1[257] =
	/*0123456789ABCDEF */
	"0000000000000000" /* 0 */
	"FFF3337300000000" /* 1 movups/ss/lps/hps ... */
	"0000000033C3CC33" /* 2 movaps cvt* ucomis comis */
	"0000000000000000" /* 3 */
	"0330333300330000" /* 4 k-mask logic (kand ... kunpck) */
	"3F553333FFF7FFFF" /* 5 movmsk sqrt rsqrt rcp and/or/xor add ... */
	"2222222222222226" /* 6 punpck pack pcmpgt movd movdqa/u */
	"E22222210000AA66" /* 7 pshuf shifts pcmpeq vzero* hadd hsub movd/q */
	"0000000000000000" /* 8 */
	"33BB000033000000" /* 9 kmov kortest ktest */
	"0000000000000010" /* A ldmxcsr/stmxcsr */
	"0000000000000000" /* B */
	"00F0223000000000" /* C cmpps pinsrw pextrw shufps */
	"A222222222222222" /* D addsub psrl* paddq pmullw movq pmovmskb ... */
	"222222E222222222" /* E pavg pmulh cvt* movntdq psubs ... */
	"8222222222222220"; /* F lddqu psll* pmul psad maskmov psub padd */

static const char vex_map2[257] =
	"2222222222222222" /* 0 pshufb ... phsub permilps/pd testps/pd */
	"0002002222202220" /* 1 cvtph2ps permps ptest broadcast pabs */
	"2222220022222222" /* 2 pmovsx pmuldq pcmpeqq movntdqa packusdw maskmov */
	"2222222222222222" /* 3 pmovzx permd pcmpgtq pmin/pmax pmulld */
	"220002220B0E0000" /* 4 phminposuw psrlv/srav/sllv AMX tile config/zero/load */
	"22220000222040F0" /* 5 VNNI broadcasts AMX dot products */
	"0000000000000000" /* 6 */
	"0000000022000000" /* 7 pbroadcastb/w */
	"0000000000002020" /* 8 pmaskmov */
	"2222002222222222" /* 9 gathers fmadd/sub 132 */
	"0000002222222222" /* A fma 213 */
	"0000002222222222" /* B fma 231 */
	"0000000000000002" /* C gf2p8mulb */
	"0000000000022222" /* D aesimc aesenc/dec */
	"0000000000000000" /* E */
	"00110D8F00000000"; /* F BMI: andn blsr/msk/i bzhi pext pdep mulx bextr shlx sarx shrx */

static const char vex_map3[257] =
	"2220222022222222" /* 0 permq/pd pblendd permil perm2f128 round blend palignr */
	"0000222222000200" /* 1 pextr extractps insertf128 extractf128 cvtps2ph */
	"2220000000000000" /* 2 pinsrb insertps pinsrd/q */
	"2222000022000000" /* 3 kshift inserti128 extracti128 */
	"2220202022222000" /* 4 dpps dppd mpsadbw pclmulqdq perm2i128 permil2 blendv */
	"0000000000002222" /* 5 FMA4 */
	"2222000022222222" /* 6 pcmpestr/istr FMA4 */
	"0000000022222222" /* 7 FMA4 */
	"0000000000000000" /* 8 */
	"0000000000000000" /* 9 */
	"0000000000000000" /* A */
	"0000000000000000" /* B */
	"0000000000000022" /* C gf2p8affine(inv)qb */
	"0000000000000002" /* D aeskeygenassist */
	"0000000000000000" /* E */
	"8000000000000000"; /* F rorx */

/* XOP: every instruction has pp = 00. */
static const char xop_map8[257] =
	"0000000000000000" /* 0 */
	"0000000000000000" /* 1 */
	"0000000000000000" /* 2 */
	"0000000000000000" /* 3 */
	"0000000000000000" /* 4 */
	"0000000000000000" /* 5 */
	"0000000000000000" /* 6 */
	"0000000000000000" /* 7 */
	"0000011100000011" /* 8 vpmacs* */
	"0000011100000011" /* 9 vpmacs* */
	"0011001000000000" /* A vpcmov vpperm vpmadcs* */
	"0000001000000000" /* B vpmadcswd */
	"1111000000001111" /* C vprot* imm, vpcom* */
	"0000000000000000" /* D */
	"0000000000001111" /* E vpcomu* */
	"0000000000000000"; /* F */

static const char xop_map9[257] =
	"0110000000000000" /* 0 TBM groups */
	"0010000000000000" /* 1 LWP: llwpcb slwpcb */
	"0000000000000000" /* 2 */
	"0000000000000000" /* 3 */
	"0000000000000000" /* 4 */
	"0000000000000000" /* 5 */
	"0000000000000000" /* 6 */
	"0000000000000000" /* 7 */
	"1111000000000000" /* 8 vfrcz */
	"1111111111110000" /* 9 vprot vpshl vpsha */
	"0000000000000000" /* A */
	"0000000000000000" /* B */
	"0111001100010000" /* C vphadd* */
	"0111001100010000" /* D vphaddu* */
	"0111000000000000" /* E vphsub* */
	"0000000000000000"; /* F */

static const char xop_map10[257] =
	"0000000000000000" /* 0 */
	"1010000000000000" /* 1 bextr imm32, lwpins/lwpval */
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000" "0000000000000000";

/*
 * Defined EVEX opcodes (AVX-512 with its extensions, AVX512-FP16 in maps 5
 * and 6), in the same form: the prefixes (EVEX.pp) that define each one.
 */
static const char evex_map1[257] =
	"0000000000000000" /* 0 */
	"FFF3337300000000" /* 1 movups/ss ... movhps */
	"0000000033C3CC33" /* 2 movaps cvt* ucomis comis */
	"0000000000000000" /* 3 */
	"0000000000000000" /* 4 */
	"0F003333FFF7FFFF" /* 5 sqrt and/or/xor add mul cvt sub min div max */
	"222222222222222E" /* 6 punpck pack pcmpgt movd movdqa/u */
	"E2222220FFEE006E" /* 7 pshuf shifts pcmpeq cvt*u* movd/q movdqa/u */
	"0000000000000000" /* 8 */
	"0000000000000000" /* 9 */
	"0000000000000000" /* A */
	"0000000000000000" /* B */
	"00F0223000000000" /* C cmp pinsrw pextrw shufps */
	"0222222022222222" /* D psrl* paddq pmullw movq psubus pminub pand ... */
	"222222E222222222" /* E pavg pmulh cvt* movntdq psubs pmins por ... */
	"0222222022222220"; /* F psll* pmuludq pmaddwd psadbw psub* padd* */

static const char evex_map2[257] =
	"2000200000022200" /* 0 pshufb pmaddubsw pmulhrsw permilps/pd */
	"6666662022222222" /* 1 psrlvw ... pmovus* permps broadcasts pabs */
	"6666666666622200" /* 2 pmovsx pmovs* ptestm pmuldq pmovm2* scalef */
	"6666662266622222" /* 3 pmovzx pmov* permd pcmpgtq pmin/max */
	"2022222200002222" /* 4 pmulld getexp plzcnt psrlv rcp14 rsqrt14 */
	"22EA220022220000" /* 5 VNNI bf16 4VNNIW popcnt broadcasts */
	"0022222080000000" /* 6 pexpand pcompress blendm p2intersect */
	"22E2022222222222" /* 7 pshldv pshrdv cvtne*bf16 permi2 broadcasts permt2 */
	"0002000022220202" /* 8 pmultishiftqb expand compress permb pshufbitqmb */
	"2222002222AA2222" /* 9 gathers fma 132 4FMAPS */
	"2222002222AA2222" /* A scatters fma 213 4FMAPS */
	"0000222222222222" /* B pmadd52 fma 231 */
	"0000202220222202" /* C pconflict gather/scatter prefetch exp2 rcp28 rsqrt28 gf2p8mulb */
	"0000000000002222" /* D aesenc/dec */
	"0000000000000000" /* E */
	"0000000000000000"; /* F */

static const char evex_map3[257] =
	"2202220032320002" /* 0 permq/pd align permil rndscale palignr */
	"0000222222220222" /* 1 pextr insert/extract cvtps2ph pcmp(u) */
	"2222023300000000" /* 2 pinsr insertps shuff ternlog getmant */
	"0000000022220022" /* 3 inserti/extracti pcmp(u)b/w */
	"0022200000000000" /* 4 dbpsadbw shufi pclmulqdq */
	"2200223300000000" /* 5 range fixupimm reduce */
	"0000003300000000" /* 6 fpclass */
	"2222000000000000" /* 7 pshld pshrd */
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000"
	"0050000000000022" /* C cmpph/sh gf2p8affine(inv)qb */
	"0000000000000000" "0000000000000000" "0000000000000000";

static const char evex_map5[257] =
	"0000000000000000" /* 0 */
	"4400000000000300" /* 1 movsh cvtss2sh/ps2phx */
	"0000000000404411" /* 2 cvtsi2sh cvt(t)sh2si (u)comish */
	"0000000000000000" /* 3 */
	"0000000000000000" /* 4 */
	"0500000055F75555" /* 5 sqrt add mul cvt* sub min div max (ph/sh) */
	"0000000000000020" /* 6 movw */
	"0000000077A63F20" /* 7 cvt(t)ph2u* cvt*2ph movw */
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000" "0000000000000000" "0000000000000000"
	"0000000000000000" "0000000000000000";

static const char evex_map6[257] =
	"0000000000000000" /* 0 */
	"0003000000000000" /* 1 cvtph2psx cvtsh2ss */
	"0000000000002200" /* 2 scalefph/sh */
	"0000000000000000" /* 3 */
	"0022000000002222" /* 4 getexp rcp rsqrt (ph/sh) */
	"000000CC00000000" /* 5 f(c)maddc */
	"0000000000000000" /* 6 */
	"0000000000000000" /* 7 */
	"0000000000000000" /* 8 */
	"0000002222222222" /* 9 fma 132 ph/sh */
	"0000002222222222" /* A fma 213 */
	"0000002222222222" /* B fma 231 */
	"0000000000000000" /* C */
	"000000CC00000000" /* D f(c)mulc */
	"0000000000000000" "0000000000000000";

/* Is (map, opcode, pp) a defined VEX, XOP or EVEX instruction? */
static bool vex_defined(const struct x86_insn *in)
{
	const char *grid;
	if (in->encoding == X86_ENC_EVEX) {
		switch (in->map) {
		case 1: grid = evex_map1; break;
		case 2: grid = evex_map2; break;
		case 3: grid = evex_map3; break;
		case 5: grid = evex_map5; break;
		default: grid = evex_map6; break;
		}
	} else if (in->encoding == X86_ENC_XOP) {
		grid = in->map == 8 ? xop_map8 : in->map == 9 ? xop_map9
							      : xop_map10;
	} else {
		grid = in->map == 1 ? vex_map1 : in->map == 2 ? vex_map2
							      : vex_map3;
	}
	return hex_digit(grid[in->opcode]) & simd_bit(in->simd_prefix);
}

/* VSIB: gathers and scatters index with a vector register. */
static bool vex_is_vsib(const struct x86_insn *in)
{
	uint8_t op = in->opcode;
	if (in->map != 2)
		return false;
	if (op >= 0x90 && op <= 0x93)
		return true;
	return in->encoding == X86_ENC_EVEX &&
	       ((op >= 0xA0 && op <= 0xA3) || op == 0xC6 || op == 0xC7);
}

static int decode_vex_like(struct dec *d, uint8_t first)
{
	struct x86_insn *in = d->in;
	int rc;
	if (!vex_prefixes_ok(in))
		return X86_DECODE_INVALID;
	in->encoding = first == 0x62 ? X86_ENC_EVEX
		     : first == 0x8F ? X86_ENC_XOP : X86_ENC_VEX;
	rc = in->encoding == X86_ENC_EVEX ? decode_evex_payload(d)
					  : decode_vex_payload(d, first);
	if (rc)
		return rc;
	set_sizes(d);
	if ((rc = next_byte(d, &in->opcode)))
		return rc;
	/* VEX 0F 74 75 84 85 without prefix are Knights Corner's mask
	 * branches (JKZD, JKNZD), #UD on every other CPU. */
	if (in->encoding == X86_ENC_VEX && in->map == 1 && in->simd_prefix == 0 &&
	    (in->opcode == 0x74 || in->opcode == 0x75 || in->opcode == 0x84 ||
	     in->opcode == 0x85))
		return X86_DECODE_INVALID;
	if (!vex_defined(in))
		return X86_DECODE_INVALID;
	/* VZEROUPPER / VZEROALL (VEX 0F 77) are the only ones without ModRM. */
	if (!(in->encoding == X86_ENC_VEX && in->map == 1 && in->opcode == 0x77)) {
		in->mem.vsib = vex_is_vsib(in);
		if ((rc = decode_modrm(d)))
			return rc;
		if (in->mem.vsib && in->has_mem) {
			/* The index is a vector register (EVEX: V' is its
			 * bit 4), always present. */
			if (!in->has_sib)
				return X86_DECODE_INVALID;
			unsigned index = ((in->sib >> 3) & 7) | (d->x << 3);
			if (in->encoding == X86_ENC_EVEX && in->mode == X86_MODE_64)
				index |= (in->vex.vvvv >> 4) << 4;
			in->mem.index = (uint8_t)index;
		}
	}
	unsigned flags = vex_imm_flags(in);
	/* XOP map 10 (BEXTR, LWPINS, LWPVAL) takes an imm32. */
	if (in->encoding == X86_ENC_XOP && in->map == 10) {
		in->imm_offset = (uint8_t)d->pos;
		in->imm_size = 4;
		return next_le(d, 4, &in->imm_raw);
	}
	return decode_immediates(d, flags);
}

/* ---- semantic decoding --------------------------------------------------------------- */

static struct x86_operand *add_op(struct x86_insn *in, uint8_t kind,
				  uint8_t size)
{
	struct x86_operand *op = &in->op[in->n_operands++];
	op->kind = kind;
	op->size = size;
	return op;
}

/* A general-purpose register by number and size: without REX, byte
 * registers 4-7 are AH CH DH BH. */
static void add_gpr(struct x86_insn *in, unsigned num, unsigned size)
{
	struct x86_operand *op = add_op(in, X86_OP_REG, (uint8_t)size);
	if (size == 1 && !in->rex && num >= 4 && num <= 7) {
		op->reg.cls = X86_RC_GPR8H;
		op->reg.num = (uint8_t)(num - 4);
	} else {
		op->reg.cls = X86_RC_GPR;
		op->reg.num = (uint8_t)num;
	}
}

static void add_reg(struct x86_insn *in, unsigned cls, unsigned num,
		    unsigned size)
{
	struct x86_operand *op = add_op(in, X86_OP_REG, (uint8_t)size);
	op->reg.cls = (uint8_t)cls;
	op->reg.num = (uint8_t)num;
}

/* The ModRM r/m operand: the memory operand or the register rm. */
static void add_rm(struct x86_insn *in, unsigned size)
{
	if (in->mod == 3) {
		add_gpr(in, in->rm, size);
		return;
	}
	struct x86_operand *op = add_op(in, X86_OP_MEM, (uint8_t)size);
	op->mem = in->mem;
}

static void add_imm(struct x86_insn *in, uint64_t value, unsigned size)
{
	struct x86_operand *op = add_op(in, X86_OP_IMM, (uint8_t)size);
	op->imm = value & x86_size_mask(size);
}

/* The immediate sign-extended from its encoded size to `size`. */
static void add_imm_sx(struct x86_insn *in, unsigned size)
{
	add_imm(in, (uint64_t)sign_extend(in->imm_raw, in->imm_size), size);
}

/* Implicit string operands: [seg:rSI] (override allowed) and [ES:rDI]. */
static void add_string_src(struct x86_insn *in, unsigned size)
{
	struct x86_operand *op = add_op(in, X86_OP_MEM, (uint8_t)size);
	op->implicit = true;
	op->mem.base = X86_RSI;
	op->mem.index = X86_REG_NONE;
	op->mem.seg = in->seg_override != X86_REG_NONE ? in->seg_override
						       : X86_DS;
}

static void add_string_dst(struct x86_insn *in, unsigned size)
{
	struct x86_operand *op = add_op(in, X86_OP_MEM, (uint8_t)size);
	op->implicit = true;
	op->mem.base = X86_RDI;
	op->mem.index = X86_REG_NONE;
	op->mem.seg = X86_ES;
}

/* String mnemonics by element size 1, 2, 4, 8. */
static uint8_t string_mnemonic(uint8_t byte_form, unsigned size)
{
	switch (size) {
	case 1: return byte_form;
	case 2: return (uint8_t)(byte_form + 1);
	case 4: return (uint8_t)(byte_form + 2);
	}
	return (uint8_t)(byte_form + 3);
}

/* ALU operations in their encoding order (00-3F, group 1). */
static const uint8_t alu_mnemonic[8] = {
	X86_INSN_ADD, X86_INSN_OR, X86_INSN_ADC, X86_INSN_SBB,
	X86_INSN_AND, X86_INSN_SUB, X86_INSN_XOR, X86_INSN_CMP,
};

/* 00-3F: op Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev / AL,Ib / rAX,Iz. */
static void sem_alu(struct x86_insn *in)
{
	unsigned form = in->opcode & 7;
	unsigned size = (form & 1) ? in->opsize : 1;
	in->mnemonic = alu_mnemonic[in->opcode >> 3];
	switch (form) {
	case 0: case 1:
		add_rm(in, size);
		add_gpr(in, in->reg, size);
		break;
	case 2: case 3:
		add_gpr(in, in->reg, size);
		add_rm(in, size);
		break;
	case 4: case 5:
		add_gpr(in, X86_RAX, size);
		add_imm_sx(in, size);
		break;
	}
	in->opsize = (uint8_t)size;
}

static void sem_one_byte(struct x86_insn *in)
{
	uint8_t op = in->opcode;
	unsigned v = in->opsize;
	unsigned reg = (in->modrm >> 3) & 7;

	if (op < 0x40 && (op & 7) <= 5) {
		sem_alu(in);
		return;
	}
	switch (op) {
	case 0x63:
		if (in->mode != X86_MODE_64)
			return; /* ARPL */
		/* MOVSXD: a 32-bit source (AMD), a 16-bit register with 66. */
		in->mnemonic = X86_INSN_MOVSXD;
		add_gpr(in, in->reg, v);
		add_rm(in, (in->mod == 3 && v == 2) ? 2 : 4);
		return;
	case 0x6C: case 0x6D: { /* INS */
		unsigned size = op == 0x6C ? 1 : (v == 2 ? 2 : 4);
		in->mnemonic = string_mnemonic(X86_INSN_INSB, size);
		add_string_dst(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0x6E: case 0x6F: { /* OUTS */
		unsigned size = op == 0x6E ? 1 : (v == 2 ? 2 : 4);
		in->mnemonic = string_mnemonic(X86_INSN_OUTSB, size);
		add_string_src(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0x80: case 0x81: case 0x82: case 0x83: {
		unsigned size = (op & 1) ? v : 1;
		in->mnemonic = alu_mnemonic[reg];
		add_rm(in, size);
		add_imm_sx(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0x84: case 0x85: case 0x86: case 0x87: {
		unsigned size = (op & 1) ? v : 1;
		in->mnemonic = op <= 0x85 ? X86_INSN_TEST : X86_INSN_XCHG;
		add_rm(in, size);
		add_gpr(in, in->reg, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0x88: case 0x89: case 0x8A: case 0x8B: {
		unsigned size = (op & 1) ? v : 1;
		in->mnemonic = X86_INSN_MOV;
		if (op <= 0x89) {
			add_rm(in, size);
			add_gpr(in, in->reg, size);
		} else {
			add_gpr(in, in->reg, size);
			add_rm(in, size);
		}
		in->opsize = (uint8_t)size;
		return;
	}
	case 0x8C: /* MOV Ev, Sreg: 16 bits to memory, opsize to a register */
		in->mnemonic = X86_INSN_MOV;
		add_rm(in, in->mod == 3 ? v : 2);
		add_reg(in, X86_RC_SEG, reg, 2);
		return;
	case 0x8E: /* MOV Sreg, Ew */
		in->mnemonic = X86_INSN_MOV;
		add_reg(in, X86_RC_SEG, reg, 2);
		add_rm(in, 2);
		return;
	case 0x8D:
		in->mnemonic = X86_INSN_LEA;
		add_gpr(in, in->reg, v);
		add_rm(in, v);
		return;
	case 0x90:
		if (in->last_rep == 0xF3) {
			in->mnemonic = X86_INSN_PAUSE;
			return;
		}
		if (in->rex & 1)
			break; /* XCHG r8, rAX */
		in->mnemonic = X86_INSN_NOP;
		return;
	case 0xA0: case 0xA1: case 0xA2: case 0xA3: {
		unsigned size = (op & 1) ? v : 1;
		in->mnemonic = X86_INSN_MOV;
		struct x86_operand mo = { .kind = X86_OP_MEM, .size = (uint8_t)size };
		mo.mem = in->mem;
		if (op <= 0xA1) {
			add_gpr(in, X86_RAX, size);
			in->op[in->n_operands++] = mo;
		} else {
			in->op[in->n_operands++] = mo;
			add_gpr(in, X86_RAX, size);
		}
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xA4: case 0xA5: { /* MOVS */
		unsigned size = op == 0xA4 ? 1 : v;
		in->mnemonic = string_mnemonic(X86_INSN_MOVSB, size);
		add_string_dst(in, size);
		add_string_src(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xA8: case 0xA9: {
		unsigned size = op == 0xA8 ? 1 : v;
		in->mnemonic = X86_INSN_TEST;
		add_gpr(in, X86_RAX, size);
		add_imm_sx(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xAA: case 0xAB: { /* STOS */
		unsigned size = op == 0xAA ? 1 : v;
		in->mnemonic = string_mnemonic(X86_INSN_STOSB, size);
		add_string_dst(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xAC: case 0xAD: { /* LODS */
		unsigned size = op == 0xAC ? 1 : v;
		in->mnemonic = string_mnemonic(X86_INSN_LODSB, size);
		add_string_src(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xC6: case 0xC7: {
		if (reg != 0)
			return; /* XABORT, XBEGIN */
		unsigned size = op == 0xC6 ? 1 : v;
		in->mnemonic = X86_INSN_MOV;
		add_rm(in, size);
		add_imm_sx(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xCC: in->mnemonic = X86_INSN_INT3; return;
	case 0xCD:
		in->mnemonic = X86_INSN_INT;
		add_imm(in, in->imm_raw, 1);
		return;
	case 0xF1: in->mnemonic = X86_INSN_INT1; return;
	case 0xCF:
		in->mnemonic = v == 8 ? X86_INSN_IRETQ
			     : v == 4 ? X86_INSN_IRETD : X86_INSN_IRET;
		return;
	case 0xE4: case 0xE5: case 0xEC: case 0xED: {
		unsigned size = (op & 1) ? (v == 2 ? 2 : 4) : 1;
		in->mnemonic = X86_INSN_IN;
		add_gpr(in, X86_RAX, size);
		if (op <= 0xE5)
			add_imm(in, in->imm_raw, 1);
		else
			add_gpr(in, X86_RDX, 2);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xE6: case 0xE7: case 0xEE: case 0xEF: {
		unsigned size = (op & 1) ? (v == 2 ? 2 : 4) : 1;
		in->mnemonic = X86_INSN_OUT;
		if (op <= 0xE7)
			add_imm(in, in->imm_raw, 1);
		else
			add_gpr(in, X86_RDX, 2);
		add_gpr(in, X86_RAX, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xF4: in->mnemonic = X86_INSN_HLT; return;
	case 0xFA: in->mnemonic = X86_INSN_CLI; return;
	case 0xFB: in->mnemonic = X86_INSN_STI; return;
	case 0xF6: case 0xF7: {
		unsigned size = op == 0xF6 ? 1 : v;
		static const uint8_t grp3[4] = { X86_INSN_TEST, X86_INSN_TEST,
						 X86_INSN_NOT, X86_INSN_NEG };
		if (reg > 3)
			return; /* MUL IMUL DIV IDIV */
		in->mnemonic = grp3[reg];
		add_rm(in, size);
		if (reg <= 1)
			add_imm_sx(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xFE: case 0xFF: {
		unsigned size = op == 0xFE ? 1 : v;
		if (reg > 1)
			return; /* CALL JMP PUSH */
		in->mnemonic = reg == 0 ? X86_INSN_INC : X86_INSN_DEC;
		add_rm(in, size);
		in->opsize = (uint8_t)size;
		return;
	}
	}
	if (op >= 0x90 && op <= 0x97) { /* XCHG r, rAX */
		in->mnemonic = X86_INSN_XCHG;
		add_gpr(in, (op & 7) | ((in->rex & 1) << 3), v);
		add_gpr(in, X86_RAX, v);
		return;
	}
	if (op >= 0xB0 && op <= 0xB7) { /* MOV r8, imm8 */
		in->mnemonic = X86_INSN_MOV;
		add_gpr(in, (op & 7) | ((in->rex & 1) << 3), 1);
		add_imm(in, in->imm_raw, 1);
		in->opsize = 1;
		return;
	}
	if (op >= 0xB8 && op <= 0xBF) { /* MOV r, imm16/32/64 */
		in->mnemonic = X86_INSN_MOV;
		add_gpr(in, (op & 7) | ((in->rex & 1) << 3), v);
		add_imm(in, in->imm_raw, v);
		return;
	}
}

/* 0F 01 register forms without operands, by ModRM. */
static uint8_t grp7_mnemonic(uint8_t modrm)
{
	switch (modrm) {
	case 0xC1: return X86_INSN_VMCALL;
	case 0xC8: return X86_INSN_MONITOR;
	case 0xC9: return X86_INSN_MWAIT;
	case 0xD0: return X86_INSN_XGETBV;
	case 0xD1: return X86_INSN_XSETBV;
	case 0xD8: return X86_INSN_VMRUN;
	case 0xD9: return X86_INSN_VMMCALL;
	case 0xDA: return X86_INSN_VMLOAD;
	case 0xDB: return X86_INSN_VMSAVE;
	case 0xDC: return X86_INSN_STGI;
	case 0xDD: return X86_INSN_CLGI;
	case 0xDE: return X86_INSN_SKINIT;
	case 0xDF: return X86_INSN_INVLPGA;
	case 0xF8: return X86_INSN_SWAPGS;
	case 0xF9: return X86_INSN_RDTSCP;
	}
	return X86_INSN_OTHER;
}

static void sem_0f(struct x86_insn *in)
{
	uint8_t op = in->opcode;
	unsigned v = in->opsize;
	unsigned reg = (in->modrm >> 3) & 7;
	/* Instructions that SSE's mandatory prefixes would turn into others
	 * are named only without F2/F3 (66 is their operand size). */
	bool plain = in->last_rep == 0;

	switch (op) {
	case 0x01:
		if (in->mod != 3) {
			if (reg == 7) {
				in->mnemonic = X86_INSN_INVLPG;
				add_rm(in, 1);
			} else if (reg == 4 || reg == 6) {
				in->mnemonic = reg == 4 ? X86_INSN_SMSW
							: X86_INSN_LMSW;
				add_rm(in, 2);
			}
			return;
		}
		if (reg == 4 || reg == 6) {
			in->mnemonic = reg == 4 ? X86_INSN_SMSW : X86_INSN_LMSW;
			add_rm(in, reg == 4 ? v : 2);
			return;
		}
		if (in->last_rep == 0 || in->modrm != 0xE8)
			in->mnemonic = grp7_mnemonic(in->modrm);
		/* The SVM instructions take their address in rAX (the
		 * address size), INVLPGA its ASID in ECX, SKINIT EAX. */
		switch (in->mnemonic) {
		case X86_INSN_VMRUN: case X86_INSN_VMLOAD: case X86_INSN_VMSAVE:
			add_gpr(in, X86_RAX, in->addrsize);
			break;
		case X86_INSN_INVLPGA:
			add_gpr(in, X86_RAX, in->addrsize);
			add_gpr(in, X86_RCX, 4);
			break;
		case X86_INSN_SKINIT:
			add_gpr(in, X86_RAX, 4);
			break;
		}
		return;
	case 0x05: in->mnemonic = X86_INSN_SYSCALL; return;
	case 0x06: in->mnemonic = X86_INSN_CLTS; return;
	case 0x07: in->mnemonic = X86_INSN_SYSRET; return;
	case 0x08: in->mnemonic = X86_INSN_INVD; return;
	case 0x09: in->mnemonic = plain ? X86_INSN_WBINVD : X86_INSN_OTHER;
		return;
	case 0x0B: in->mnemonic = X86_INSN_UD2; return;
	case 0x20: case 0x22: case 0x21: case 0x23: {
		/* MOV to/from CRn/DRn: always the full register width. */
		unsigned size = in->mode == X86_MODE_64 ? 8 : 4;
		unsigned cls = (op & 1) ? X86_RC_DR : X86_RC_CR;
		unsigned num = in->reg;
		if (cls == X86_RC_CR && (in->prefixes & X86_PFX_LOCK))
			num |= 8;
		in->mnemonic = X86_INSN_MOV;
		in->opsize = (uint8_t)size;
		if (op <= 0x21) {
			add_gpr(in, in->rm, size);
			add_reg(in, cls, num, size);
		} else {
			add_reg(in, cls, num, size);
			add_gpr(in, in->rm, size);
		}
		return;
	}
	case 0x30: in->mnemonic = X86_INSN_WRMSR; return;
	case 0x31: in->mnemonic = X86_INSN_RDTSC; return;
	case 0x32: in->mnemonic = X86_INSN_RDMSR; return;
	case 0x33: in->mnemonic = X86_INSN_RDPMC; return;
	case 0xA2: in->mnemonic = X86_INSN_CPUID; return;
	case 0xA3: case 0xAB: case 0xB3: case 0xBB: {
		static const uint8_t bt[4] = { X86_INSN_BT, X86_INSN_BTS,
					       X86_INSN_BTR, X86_INSN_BTC };
		in->mnemonic = bt[(op >> 3) & 3];
		add_rm(in, v);
		add_gpr(in, in->reg, v);
		return;
	}
	case 0xBA: {
		static const uint8_t bt[4] = { X86_INSN_BT, X86_INSN_BTS,
					       X86_INSN_BTR, X86_INSN_BTC };
		in->mnemonic = bt[reg & 3];
		add_rm(in, v);
		add_imm(in, in->imm_raw, 1);
		return;
	}
	case 0xB0: case 0xB1: case 0xC0: case 0xC1: {
		unsigned size = (op & 1) ? v : 1;
		in->mnemonic = op <= 0xB1 ? X86_INSN_CMPXCHG : X86_INSN_XADD;
		add_rm(in, size);
		add_gpr(in, in->reg, size);
		in->opsize = (uint8_t)size;
		return;
	}
	case 0xB6: case 0xB7: case 0xBE: case 0xBF:
		in->mnemonic = op <= 0xB7 ? X86_INSN_MOVZX : X86_INSN_MOVSX;
		add_gpr(in, in->reg, v);
		add_rm(in, (op & 1) ? 2 : 1);
		return;
	case 0xC3:
		if (in->mod == 3 || in->simd_prefix != 0)
			return;
		in->mnemonic = X86_INSN_MOVNTI;
		add_rm(in, v == 8 ? 8 : 4);
		add_gpr(in, in->reg, v == 8 ? 8 : 4);
		return;
	case 0xC7:
		if (in->mod == 3 || reg != 1)
			return;
		in->mnemonic = v == 8 ? X86_INSN_CMPXCHG16B : X86_INSN_CMPXCHG8B;
		add_rm(in, v == 8 ? 16 : 8);
		return;
	}
}

/* 66 0F 38 82 INVPCID r, m128 (validity, memory only, is checked): the
 * type register is 64-bit in 64-bit mode and 32-bit elsewhere, whatever
 * the operand size says. */
static void sem_0f38(struct x86_insn *in)
{
	if (in->opcode != 0x82 || in->simd_prefix != 0x66)
		return;
	in->mnemonic = X86_INSN_INVPCID;
	add_gpr(in, in->reg, in->mode == X86_MODE_64 ? 8 : 4);
	add_rm(in, 16);
}

/* Name and list the operands of the instructions decoded semantically. */
static void decode_semantics(struct x86_insn *in)
{
	if (in->encoding != X86_ENC_LEGACY)
		return;
	if (in->map == X86_MAP_ONE)
		sem_one_byte(in);
	else if (in->map == X86_MAP_0F)
		sem_0f(in);
	else if (in->map == X86_MAP_0F38)
		sem_0f38(in);
}

/* ---- entry points ----------------------------------------------------------------------- */

/* Is `first` (at d->pos - 1) the start of a VEX, XOP or EVEX payload?
 * Outside 64-bit mode C4/C5/62 are LES/LDS/BOUND unless the next byte's
 * mod field is 11 (which those cannot encode); 8F is POP Ev unless the next
 * byte names an XOP map (8 or above). */
static int is_vex_like(const struct dec *d, uint8_t first, bool *yes)
{
	uint8_t next;
	*yes = false;
	if (first != 0xC4 && first != 0xC5 && first != 0x62 && first != 0x8F)
		return X86_DECODE_OK;
	if (first != 0x8F && d->in->mode == X86_MODE_64) {
		*yes = true;
		return X86_DECODE_OK;
	}
	int rc = peek_byte(d, 0, &next);
	if (rc)
		return rc;
	if (first == 0x8F)
		*yes = (next & 0x1F) >= 8;
	else
		*yes = (next & 0xC0) == 0xC0;
	return X86_DECODE_OK;
}

static void clear_insn(struct x86_insn *in)
{
	unsigned char *p = (unsigned char *)in;
	for (size_t i = 0; i < sizeof(*in); i++)
		p[i] = 0;
}

int x86_decode(const uint8_t *code, size_t avail, enum x86_cpu_mode mode,
	       struct x86_insn *out)
{
	struct dec d = { .code = code, .avail = avail, .in = out };
	uint8_t first;
	bool vex;
	int rc;

	clear_insn(out);
	if (mode != X86_MODE_16 && mode != X86_MODE_32 && mode != X86_MODE_64)
		return X86_DECODE_BAD_MODE;
	out->mode = (uint8_t)mode;
	out->seg_override = X86_REG_NONE;
	out->mem.base = out->mem.index = X86_REG_NONE;

	if ((rc = decode_prefixes(&d)) || (rc = next_byte(&d, &first)) ||
	    (rc = is_vex_like(&d, first, &vex)))
		return rc;
	if (vex)
		rc = decode_vex_like(&d, first);
	else if ((rc = decode_legacy_opcode(&d, first)) == X86_DECODE_OK)
		rc = decode_legacy_rest(&d);
	if (rc)
		return rc;

	publish_ext(&d);
	out->length = (uint8_t)d.pos;
	for (unsigned i = 0; i < d.pos; i++)
		out->bytes[i] = code[i];
	/* moffs (A0-A3) is a memory operand with only a displacement. */
	if (out->encoding == X86_ENC_LEGACY && out->map == X86_MAP_ONE &&
	    out->opcode >= 0xA0 && out->opcode <= 0xA3) {
		out->has_mem = true;
		out->mem.base = out->mem.index = X86_REG_NONE;
		out->mem.scale = 0;
		out->mem.seg = out->seg_override != X86_REG_NONE
				       ? out->seg_override : X86_DS;
		out->mem.disp = (int64_t)out->imm_raw;
	}
	decode_semantics(out);
	return X86_DECODE_OK;
}

uint64_t x86_operand_address(const struct x86_insn *insn,
			     const struct x86_mem *mem, const uint64_t gpr[16],
			     uint64_t next_rip)
{
	uint64_t mask = x86_size_mask(insn->addrsize);
	uint64_t ea = (uint64_t)mem->disp;
	if (mem->base == X86_REG_RIP)
		return (next_rip + ea) & mask;
	if (mem->base < 16)
		ea += gpr[mem->base];
	if (mem->index < 16 && !mem->vsib)
		ea += gpr[mem->index] * mem->scale;
	return ea & mask;
}

uint64_t x86_effective_address(const struct x86_insn *insn,
			       const uint64_t gpr[16], uint64_t next_rip)
{
	if (!insn->has_mem)
		return 0;
	return x86_operand_address(insn, &insn->mem, gpr, next_rip);
}

const char *x86_mnemonic_name(enum x86_mnemonic m)
{
	static const char *const names[X86_INSN_COUNT] = {
#define X86_MNEMONIC_NAME(id, name) name,
		X86_MNEMONICS(X86_MNEMONIC_NAME)
#undef X86_MNEMONIC_NAME
	};
	if ((unsigned)m >= X86_INSN_COUNT)
		return "?";
	return names[m];
}

const char *x86_decode_status_name(int status)
{
	switch (status) {
	case X86_DECODE_OK: return "ok";
	case X86_DECODE_TRUNCATED: return "truncated";
	case X86_DECODE_INVALID: return "invalid opcode";
	case X86_DECODE_TOO_LONG: return "longer than 15 bytes";
	case X86_DECODE_BAD_MODE: return "bad mode";
	}
	return "?";
}
