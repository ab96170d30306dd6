/*
 * The decoder against Zydis on random byte strings, in 16-, 32- and 64-bit
 * mode.  Half the strings are uniformly random bytes; the other half are
 * shaped so that every part of the encoding space is reached often: random
 * legacy prefixes and REX, then a one-byte opcode, an escape into 0F, 0F38,
 * 0F3A or 3DNow!, or a VEX, XOP or EVEX payload with its fixed bits right,
 * then random bytes.
 *
 *   test_decode_random [--count N] [--seed S] [--examples K]
 *
 * N strings per mode (default 2,000,000; 200,000 under the sanitizers).
 * Every string both decoders accept must agree on the length, the memory
 * operand and its effective address, and (for instructions decoded
 * semantically) the mnemonic and operands; Zydis accepting a string the
 * decoder rejects is a failure too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zydis_compare.h"

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_COUNT 500000ull
#else
#define DEFAULT_COUNT 2000000ull
#endif

static uint64_t opt_count = DEFAULT_COUNT;
static uint64_t opt_seed = 0x5eed0f0decull;
static unsigned opt_examples = 5;

static const uint8_t legacy_prefixes[] = {
	0xF0, 0xF2, 0xF3, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67,
};

/* A shaped random instruction in buf[0..16). */
static void shaped(uint64_t *rng, uint8_t *buf, enum x86_cpu_mode mode)
{
	unsigned pos = 0;
	for (unsigned i = 0; i < 16; i++)
		buf[i] = (uint8_t)zc_rand(rng);
	uint64_t r = zc_rand(rng);
	/* 0-3 legacy prefixes, biased towards none or one. */
	unsigned npfx = (unsigned)(r & 7);
	npfx = npfx >= 4 ? 0 : npfx;
	for (unsigned i = 0; i < npfx; i++)
		buf[pos++] = legacy_prefixes[zc_rand(rng) % sizeof(legacy_prefixes)];
	r >>= 3;
	if (mode == X86_MODE_64 && (r & 1))
		buf[pos++] = (uint8_t)(0x40 | (zc_rand(rng) & 15));
	r >>= 1;
	uint64_t pick = zc_rand(rng);
	switch ((r & 15)) {
	case 0: case 1: case 2: case 3:
		break; /* a random one-byte opcode */
	case 4: case 5: case 6:
		buf[pos++] = 0x0F;
		break;
	case 7:
		buf[pos++] = 0x0F;
		buf[pos++] = 0x38;
		break;
	case 8:
		buf[pos++] = 0x0F;
		buf[pos++] = 0x3A;
		break;
	case 9:
		buf[pos++] = 0x0F;
		buf[pos++] = 0x0F;
		break;
	case 10: /* VEX2 */
		buf[pos++] = 0xC5;
		if (mode != X86_MODE_64)
			buf[pos] |= 0xC0;
		break;
	case 11: case 12: /* VEX3, maps 1-3 */
		buf[pos++] = 0xC4;
		buf[pos] = (uint8_t)((buf[pos] & 0xE0) | (1 + pick % 3));
		if (mode != X86_MODE_64)
			buf[pos] |= 0xC0;
		break;
	case 13: /* XOP, maps 8-10 */
		buf[pos++] = 0x8F;
		buf[pos] = (uint8_t)((buf[pos] & 0xE0) | (8 + pick % 3));
		/* XOP: pp = 00 */
		buf[pos + 1] &= 0xFC;
		break;
	case 14: case 15: { /* EVEX, maps 1 2 3 5 6 */
		static const uint8_t maps[5] = { 1, 2, 3, 5, 6 };
		buf[pos++] = 0x62;
		buf[pos] = (uint8_t)((buf[pos] & 0xF0) | maps[pick % 5]);
		if (mode != X86_MODE_64)
			buf[pos] |= 0xC0;
		buf[pos + 1] |= 0x04;
		break;
	}
	}
}

static void run_mode(enum x86_cpu_mode mode)
{
	struct zc *zc = zc_create(mode, opt_seed ^ (uint64_t)mode, opt_examples);
	assert_non_null(zc);
	uint64_t rng = opt_seed * 0x9E3779B97F4A7C15ull + (uint64_t)mode;
	uint8_t buf[16];
	unsigned len;
	for (uint64_t i = 0; i < opt_count; i++) {
		if (i & 1) {
			shaped(&rng, buf, mode);
		} else {
			uint64_t a = zc_rand(&rng), b = zc_rand(&rng);
			memcpy(buf, &a, 8);
			memcpy(buf + 8, &b, 8);
		}
		zc_compare(zc, buf, sizeof(buf), &len);
	}
	char title[64];
	snprintf(title, sizeof(title), "random strings, seed %#llx",
		 (unsigned long long)opt_seed);
	zc_report(zc, stdout, title);
	uint64_t failures = zc_failures(zc);
	zc_destroy(zc);
	assert_int_equal(failures, 0);
}

static void random_16(void **state) { (void)state; run_mode(X86_MODE_16); }
static void random_32(void **state) { (void)state; run_mode(X86_MODE_32); }
static void random_64(void **state) { (void)state; run_mode(X86_MODE_64); }

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			opt_count = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			opt_seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--examples") && i + 1 < argc)
			opt_examples = (unsigned)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--count N] [--seed S] [--examples K]\n",
				argv[0]);
			return 2;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_16),
		cmocka_unit_test(random_32),
		cmocka_unit_test(random_64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
