/*
 * The guest memory map (hv/platform_mem.c): the PC layout for assorted
 * sizes, its parameter checks, memmap_set carving and merging, is_ram at
 * every boundary, mem_lower/mem_upper, and a randomised comparison of
 * memmap_set/is_ram against a page-granular reference array.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hv/platform_mem.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

struct want {
	uint64_t base, len;
	uint32_t type;
};

static void expect_map(const struct memmap *m, const struct want *w, uint32_t n)
{
	if (m->count != n) {
		for (uint32_t i = 0; i < m->count; i++)
			print_error("  [%#llx, +%#llx) %u\n",
				    (unsigned long long)m->r[i].base,
				    (unsigned long long)m->r[i].len, m->r[i].type);
	}
	assert_int_equal(m->count, n);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(m->r[i].base, w[i].base);
		assert_int_equal(m->r[i].len, w[i].len);
		assert_int_equal(m->r[i].type, w[i].type);
	}
}

static void test_pc_default_128m(void **state)
{
	struct memmap m;
	struct pc_layout l = { .ram_size = 128 * MIB };
	const struct want w[] = {
		{ 0, 640 * KIB, MEMMAP_RAM },
		{ 640 * KIB, 384 * KIB, MEMMAP_RESERVED },
		{ MIB, 127 * MIB, MEMMAP_RAM },
	};

	(void)state;
	assert_null(memmap_pc(&m, &l));
	expect_map(&m, w, 3);
	assert_int_equal(memmap_mem_lower_kib(&m), 640);
	assert_int_equal(memmap_mem_upper_kib(&m), 127 * 1024);
}

static void test_pc_ebda(void **state)
{
	struct memmap m;
	struct pc_layout l = { .ram_size = 2 * MIB, .low_ram_end = 0x9FC00 };
	const struct want w[] = {
		{ 0, 0x9FC00, MEMMAP_RAM },
		{ 0x9FC00, 0x60400, MEMMAP_RESERVED },
		{ MIB, MIB, MEMMAP_RAM },
	};

	(void)state;
	assert_null(memmap_pc(&m, &l));
	expect_map(&m, w, 3);
	assert_int_equal(memmap_mem_lower_kib(&m), 639);
	assert_int_equal(memmap_mem_upper_kib(&m), 1024);
}

/* 6 GiB with the default 3 GiB hole: 3 GiB of it moves above 4 GiB. */
static void test_pc_above_hole(void **state)
{
	struct memmap m;
	struct pc_layout l = { .ram_size = 6 * GIB };
	const struct want w[] = {
		{ 0, 640 * KIB, MEMMAP_RAM },
		{ 640 * KIB, 384 * KIB, MEMMAP_RESERVED },
		{ MIB, 3 * GIB - MIB, MEMMAP_RAM },
		{ 4 * GIB, 3 * GIB, MEMMAP_RAM },
	};

	(void)state;
	assert_null(memmap_pc(&m, &l));
	expect_map(&m, w, 4);
	assert_int_equal(memmap_mem_upper_kib(&m), (3 * GIB - MIB) / KIB);
	/* Exactly at the hole: no high range. */
	l.ram_size = 3 * GIB;
	assert_null(memmap_pc(&m, &l));
	expect_map(&m, w, 3);
	/* A hole at 4 GiB: everything low. */
	l = (struct pc_layout){ .ram_size = 4 * GIB, .hole_start = 4 * GIB };
	assert_null(memmap_pc(&m, &l));
	assert_int_equal(m.count, 3);
	assert_int_equal(m.r[2].len, 4 * GIB - MIB);
	assert_int_equal(memmap_mem_upper_kib(&m), (4 * GIB - MIB) / KIB);
}

static void test_pc_bad_parameters(void **state)
{
	static const struct {
		struct pc_layout l;
		const char *msg;
	} bad[] = {
		{ { 0, 0, 0 }, "below 2 MiB" },
		{ { 2 * MIB - 4096, 0, 0 }, "below 2 MiB" },
		{ { 2 * MIB + 1, 0, 0 }, "multiple of 4 KiB" },
		{ { (1ull << 52) + 4096, 0, 0 }, "above 4 PiB" },
		{ { 4 * MIB, 0x400, 0 }, "low RAM end" },
		{ { 4 * MIB, 0xA0400, 0 }, "low RAM end" },
		{ { 4 * MIB, 0x9FC01, 0 }, "low RAM end" },
		{ { 4 * MIB, 0, 16 * MIB - 4096 }, "MMIO hole" },
		{ { 4 * MIB, 0, 4 * GIB + 4096 }, "MMIO hole" },
		{ { 4 * MIB, 0, 16 * MIB + 1 }, "MMIO hole" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct memmap m = { .count = 7 };
		const char *e = memmap_pc(&m, &bad[i].l);

		assert_non_null(e);
		if (!strstr(e, bad[i].msg)) {
			print_error("case %zu: \"%s\", want \"%s\"\n", i, e,
				    bad[i].msg);
			fail();
		}
		assert_int_equal(m.count, 0);
	}
}

static void test_set_carve_split_merge(void **state)
{
	struct memmap m;
	struct pc_layout l = { .ram_size = 128 * MIB };

	(void)state;
	assert_null(memmap_pc(&m, &l));
	/* ACPI tables at the top of RAM, like SeaBIOS puts them. */
	assert_true(memmap_set(&m, 128 * MIB - 128 * KIB, 128 * KIB, MEMMAP_ACPI));
	{
		const struct want w[] = {
			{ 0, 640 * KIB, MEMMAP_RAM },
			{ 640 * KIB, 384 * KIB, MEMMAP_RESERVED },
			{ MIB, 127 * MIB - 128 * KIB, MEMMAP_RAM },
			{ 128 * MIB - 128 * KIB, 128 * KIB, MEMMAP_ACPI },
		};
		expect_map(&m, w, 4);
	}
	/* A hole in the middle splits a range in three. */
	assert_true(memmap_set(&m, 16 * MIB, 4096, MEMMAP_UNUSABLE));
	assert_int_equal(m.count, 6);
	assert_int_equal(memmap_mem_upper_kib(&m), 15 * 1024);
	assert_false(memmap_is_ram(&m, 16 * MIB - 1, 2));
	assert_true(memmap_is_ram(&m, 16 * MIB + 4096, 1));
	/* Setting it back to RAM merges the three again. */
	assert_true(memmap_set(&m, 16 * MIB, 4096, MEMMAP_RAM));
	assert_int_equal(m.count, 4);
	assert_int_equal(m.r[2].len, 127 * MIB - 128 * KIB);
	/* A range spanning several old ones replaces them all. */
	assert_true(memmap_set(&m, 512 * KIB, 2 * MIB, MEMMAP_RESERVED));
	{
		const struct want w[] = {
			{ 0, 512 * KIB, MEMMAP_RAM },
			{ 512 * KIB, 2 * MIB, MEMMAP_RESERVED },
			{ 512 * KIB + 2 * MIB, 128 * MIB - 128 * KIB - 512 * KIB - 2 * MIB, MEMMAP_RAM },
			{ 128 * MIB - 128 * KIB, 128 * KIB, MEMMAP_ACPI },
		};
		expect_map(&m, w, 4);
	}
	/* Touching ranges of the same type merge; len 0 is a no-op. */
	assert_true(memmap_set(&m, 128 * MIB, MIB, MEMMAP_ACPI));
	assert_int_equal(m.count, 4);
	assert_int_equal(m.r[3].len, 128 * KIB + MIB);
	assert_true(memmap_set(&m, 5, 0, MEMMAP_NVS));
	assert_int_equal(m.count, 4);
	/* Refused: wrapping ranges and type 0 (the map is unchanged). */
	assert_false(memmap_set(&m, UINT64_MAX - 10, 20, MEMMAP_RAM));
	assert_false(memmap_set(&m, 0, 4096, 0));
	assert_int_equal(m.count, 4);
}

static void test_set_full_map_refused(void **state)
{
	struct memmap m, before;

	(void)state;
	memmap_init(&m);
	for (uint32_t i = 0; i < MEMMAP_MAX; i++)
		assert_true(memmap_set(&m, i * 2 * 4096ull, 4096, MEMMAP_RAM));
	assert_int_equal(m.count, MEMMAP_MAX);
	before = m;
	/* A new disjoint range needs a 33rd slot. */
	assert_false(memmap_set(&m, 1 * GIB, 4096, MEMMAP_RAM));
	assert_memory_equal(&m, &before, sizeof(m));
	/* Splitting one needs two more: refused too. */
	assert_false(memmap_set(&m, 1024, 1024, MEMMAP_RESERVED));
	assert_memory_equal(&m, &before, sizeof(m));
	/* Filling a gap merges two ranges into one: allowed. */
	assert_true(memmap_set(&m, 4096, 4096, MEMMAP_RAM));
	assert_int_equal(m.count, MEMMAP_MAX - 1);
}

static void test_is_ram_boundaries(void **state)
{
	struct memmap m;
	struct pc_layout l = { .ram_size = 8 * GIB, .low_ram_end = 0x9FC00 };

	(void)state;
	assert_null(memmap_pc(&m, &l));
	assert_true(memmap_is_ram(&m, 0, 0x9FC00));
	assert_false(memmap_is_ram(&m, 0, 0x9FC01));
	assert_true(memmap_is_ram(&m, 0x9FBFF, 1));
	assert_false(memmap_is_ram(&m, 0x9FC00, 1));
	assert_false(memmap_is_ram(&m, 0x9FC00, 0));
	assert_true(memmap_is_ram(&m, 0x9FBFF, 0));
	assert_false(memmap_is_ram(&m, 0xFFFFF, 1));
	assert_true(memmap_is_ram(&m, MIB, 3 * GIB - MIB));
	assert_false(memmap_is_ram(&m, MIB, 3 * GIB - MIB + 1));
	assert_false(memmap_is_ram(&m, 3 * GIB, 1));
	assert_false(memmap_is_ram(&m, 4 * GIB - 1, 2));
	assert_true(memmap_is_ram(&m, 4 * GIB, 5 * GIB));
	assert_false(memmap_is_ram(&m, 4 * GIB, 5 * GIB + 1));
	assert_false(memmap_is_ram(&m, 9 * GIB, 0));
	assert_false(memmap_is_ram(&m, UINT64_MAX, 2));
	/* Adjacent RAM ranges of a hand-built map count as one. */
	m.count = 2;
	m.r[0] = (struct memmap_range){ 0x1000, 0x1000, MEMMAP_RAM };
	m.r[1] = (struct memmap_range){ 0x2000, 0x1000, MEMMAP_RAM };
	assert_true(memmap_is_ram(&m, 0x1800, 0x1000));
	assert_false(memmap_is_ram(&m, 0x800, 0x1000));
	assert_int_equal(memmap_mem_lower_kib(&m), 0);
	assert_int_equal(memmap_mem_upper_kib(&m), 0);
	/* RAM straight through the low MiB: mem_lower stops at 640 KiB. */
	memmap_init(&m);
	assert_true(memmap_set(&m, 0, 3 * MIB, MEMMAP_RAM));
	assert_int_equal(m.count, 1);
	assert_int_equal(memmap_mem_lower_kib(&m), 640);
	assert_int_equal(memmap_mem_upper_kib(&m), 2 * 1024);
	assert_true(memmap_is_ram(&m, 0xA0000, 0x60000));
}

/* Random memmap_set calls on a 256-page space against a page array. */
static void test_set_random_against_reference(void **state)
{
	enum { PAGES = 256, ROUNDS = 4000 };
	uint8_t ref[PAGES];
	struct memmap m;
	uint64_t x = 0x9E3779B97F4A7C15ull;

	(void)state;
	memmap_init(&m);
	memset(ref, 0, sizeof(ref));
	for (int round = 0; round < ROUNDS; round++) {
		uint32_t a, n, type;
		struct memmap before = m;
		bool ok;

		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		a = (uint32_t)(x % PAGES);
		n = (uint32_t)((x >> 16) % 24);
		if (a + n > PAGES)
			n = PAGES - a;
		type = (uint32_t)((x >> 32) % 3) + 1;
		ok = memmap_set(&m, a * 4096ull, n * 4096ull, type);
		if (!ok) {
			assert_memory_equal(&m, &before, sizeof(m));
			continue;
		}
		for (uint32_t p = a; p < a + n; p++)
			ref[p] = (uint8_t)type;

		/* The map is sorted, disjoint, merged, and equals ref. */
		uint8_t got[PAGES];
		memset(got, 0, sizeof(got));
		for (uint32_t i = 0; i < m.count; i++) {
			const struct memmap_range *r = &m.r[i];

			assert_true(r->len > 0);
			assert_int_equal(r->base % 4096, 0);
			assert_int_equal(r->len % 4096, 0);
			if (i > 0) {
				const struct memmap_range *q = &m.r[i - 1];

				assert_true(q->base + q->len <= r->base);
				assert_false(q->base + q->len == r->base &&
					     q->type == r->type);
			}
			for (uint64_t p = r->base / 4096;
			     p < (r->base + r->len) / 4096; p++)
				got[p] = (uint8_t)r->type;
		}
		assert_memory_equal(got, ref, sizeof(ref));

		/* is_ram over a random window. */
		for (int k = 0; k < 8; k++) {
			uint32_t s, len;
			bool want = true;

			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			s = (uint32_t)(x % (PAGES * 4096));
			len = (uint32_t)((x >> 24) % (16 * 4096));
			if (s + len > PAGES * 4096)
				len = PAGES * 4096 - s;
			if (len == 0)
				want = ref[s / 4096] == MEMMAP_RAM;
			for (uint32_t b = s; b < s + len; b += 1) {
				if (ref[b / 4096] != MEMMAP_RAM) {
					want = false;
					break;
				}
				b |= 4095; /* next page */
			}
			assert_int_equal(memmap_is_ram(&m, s, len), want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pc_default_128m),
		cmocka_unit_test(test_pc_ebda),
		cmocka_unit_test(test_pc_above_hole),
		cmocka_unit_test(test_pc_bad_parameters),
		cmocka_unit_test(test_set_carve_split_merge),
		cmocka_unit_test(test_set_full_map_refused),
		cmocka_unit_test(test_is_ram_boundaries),
		cmocka_unit_test(test_set_random_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
