/*
 * Differential checking of hv/decode.c against Zydis (libzydis-dev, 4.x),
 * an independent decoder.  For one byte string and mode, both decode; the
 * comparison classifies the outcome and, when both accept, checks:
 *   - the length;
 *   - the ModRM/moffs memory operand (segment, base, index, scale,
 *     displacement) and its effective address under random registers;
 *   - for semantically decoded instructions, the mnemonic and every
 *     operand (registers, memory, immediate values).
 */
#ifndef UMBRA_TESTS_DECODE_ZYDIS_COMPARE_H
#define UMBRA_TESTS_DECODE_ZYDIS_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "decode.h"

enum zc_outcome {
	ZC_BOTH_REJECT,
	ZC_AGREE,           /* both accept, everything compared agrees */
	ZC_LEN_MISMATCH,
	ZC_MEM_MISMATCH,    /* memory operand fields or effective address */
	ZC_SEM_MISMATCH,    /* mnemonic or operands */
	ZC_ONLY_ZYDIS,      /* Zydis accepts, we reject */
	/* Zydis decodes Knights Corner (Xeon Phi) MVEX and KNC VEX
	 * instructions, which raise #UD on every other CPU; we reject them. */
	ZC_ONLY_ZYDIS_KNC,
	ZC_ONLY_US,         /* we accept, Zydis rejects */
	/* A known Zydis 4.0 error: with 67 and REX.B (or VEX/XOP/EVEX B)
	 * in 64-bit mode, SIB base 101 with mod 00 is reported as
	 * [r13d + ...] without the disp32 (the CPU, and the length both
	 * compute, use no base + disp32). */
	ZC_ZYDIS_BUG,
	ZC_OUTCOMES
};

struct zc_stats {
	uint64_t outcome[ZC_OUTCOMES];
	uint64_t strings;
	uint64_t mem_checked;    /* memory operands compared */
	uint64_t ea_checked;     /* effective addresses compared */
	uint64_t sem_checked;    /* semantically decoded instructions */
	uint64_t known_only_us;  /* ONLY_US cases that are deliberate */
	/* Histograms of disagreements by encoding key, to find table bugs. */
	uint32_t by_key[ZC_OUTCOMES][4096];
};

struct zc;

/* A comparer for `mode` (16, 32, 64); randomness for register values from
 * `seed`.  Prints up to `max_examples` examples per disagreement kind. */
struct zc *zc_create(enum x86_cpu_mode mode, uint64_t seed,
		     unsigned max_examples);
void zc_destroy(struct zc *zc);

/* Compare on code[0..n); returns the outcome and, for accepted strings,
 * the length both agree on in *len (Zydis's when they differ). */
enum zc_outcome zc_compare(struct zc *zc, const uint8_t *code, size_t n,
			   unsigned *len);

struct zc_stats *zc_stats(struct zc *zc);

/* Print the statistics (and the top keys per disagreement) to f. */
void zc_report(struct zc *zc, FILE *f, const char *title);

/* Number of real disagreements: length, memory, semantic and ONLY_ZYDIS
 * (ONLY_US is reported but not counted: Zydis is stricter about some
 * encodings the decoder accepts as the CPU would decode their length). */
uint64_t zc_failures(const struct zc *zc);

const char *zc_outcome_name(enum zc_outcome o);

/* xorshift64* */
static inline uint64_t zc_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif
