/*
 * accmatrix: the access matrix (issue 5, correctness guest 1).
 *
 * Every combination of
 *   - control registers: CR0.WP, EFER.NXE, CR4.SMEP, CR4.SMAP, and (long
 *     mode) CR4.PKE off, or on with PKRU 0, AD, WD or AD|WD for the test
 *     leaf's key (settings the CPU does not offer are skipped);
 *   - the leaf: P, R/W, U/S, A, D, NX (PAE, long mode), one reserved bit
 *     (4 KiB leaf: bit MAXPHYADDR, none in 32-bit paging; 2 MiB and 1 GiB
 *     leaf: bit 13; 4 MiB leaf: bit 21);
 *   - the directory: R/W, U/S, NX (PAE, long mode) pointing at the page
 *     table; or PS, the directory entry being the leaf; or (long mode with
 *     1 GiB pages) the PDPTE being the leaf;
 *   - long mode, above the directory: nothing special, R/W = 0 at one
 *     level (3..top), or PS = 1 at one level where it is reserved (4..top);
 *   - the access: CPL 0 / 3 x read / write / fetch x EFLAGS.AC 0 / 1,
 * is executed for real, with #PF delivered to the guest's own handler, and
 * compared with Umbra's architectural walker (engine/walk.c) run inside the
 * guest on the same tables: vector, error code, CR2 and every test entry
 * (A and D at every level) after the access.  The test entries are
 * rewritten in place (INVLPG after each rewrite), never freshly allocated,
 * so a shadow MMU's stale state would show.  A case is one access.
 *
 * Modes: 32-bit paging and PAE (32-bit image), 4-level and 5-level when
 * CPUID offers LA57 (64-bit image).  Options (-append):
 *   mode=32|pae|long4|long5   one mode only (default: all of the image's)
 *   stride=N                  run 1 in N (setting, combination) of the
 *                             matrix, each with all twelve accesses
 * Default: the full matrix in 32-bit paging (36,864 cases) and PAE
 * (221,184); 1 in DEFAULT_STRIDE_LONG in long mode, whose full matrices
 * (4.8 M and 7.2 M cases with QEMU's CPUID) take minutes under Umbra.  With
 * a stride > 1 the guest checks that every pair of dimension values that
 * occurs in the full matrix ran at least once (and fails otherwise), so
 * the default still covers every value of every dimension, every pair,
 * and all twelve accesses for each.  stride=1 runs everything.
 *
 * Output per mode: the matrix's size, the coverage check (stride > 1), the
 * predicted outcomes, then `accmatrix: <mode>: N cases, F failed`; at the
 * end `accmatrix: summary: N cases, F failed: ok` (or FAILED).  The first
 * failures are printed with the whole case.
 */
#include "accmatrix.h"

/* Long mode: 1 in 7 (setting, combination); prime, so the selection does
 * not fall into step with the power-of-two leaf bits or the directory and
 * upper-level values (10, 4 or 6). */
#define DEFAULT_STRIDE_LONG 7

static const char *const mode_args[AM_MODES] = { "32", "pae", "long4",
						  "long5" };

/* Number of valid settings and combinations of the mode just entered. */
static void matrix_size(unsigned *settings, unsigned *combos)
{
	struct am_cfg cfg;
	struct am_combo combo;

	*settings = *combos = 0;
	for (unsigned i = 0; i < cfg_count(); i++) {
		cfg_from_index(i, &cfg);
		*settings += cfg_valid(&cfg);
	}
	for (unsigned i = 0; i < combo_count(); i++)
		*combos += combo_from_index(i, &combo);
}

/* Run the twelve accesses of one (setting, combination). */
static void run_combo(const struct am_cfg *cfg, const struct am_combo *combo,
		      struct am_stats *st)
{
	uint64_t want[UMBRA_LEVELS_MAX + 1];
	struct am_access a;

	combo_entries(combo, want);
	for (unsigned i = 0; i < ACCESSES; i++) {
		access_from_index(i, &a);
		check_access(cfg, combo, want, &a, st);
	}
}

/* Settings outermost (each change is a few exits under Umbra), the
 * combinations in the middle (a rewritten entry or two), the accesses
 * innermost. */
static void run_matrix(unsigned stride, struct am_stats *st)
{
	struct am_cfg cfg;
	struct am_combo combo;
	uint64_t index = 0;

	for (unsigned ci = 0; ci < cfg_count(); ci++) {
		bool applied = false;

		cfg_from_index(ci, &cfg);
		if (!cfg_valid(&cfg))
			continue;
		for (unsigned k = 0; k < combo_count(); k++) {
			bool run;

			if (!combo_from_index(k, &combo))
				continue;
			run = index++ % stride == 0;
			if (stride > 1)
				coverage_note(&cfg, &combo, run);
			if (!run)
				continue;
			if (!applied) {
				cfg_apply(&cfg);
				applied = true;
			}
			run_combo(&cfg, &combo, st);
		}
	}
}

/* Runs one mode; returns its failures plus its coverage gaps. */
static uint64_t run_mode(enum am_mode m, unsigned stride_arg,
			 struct am_stats *all)
{
	struct am_stats st = { 0, 0, 0, 0, 0, 0, 0 };
	unsigned settings, combos, gaps = 0;
	unsigned stride = stride_arg ? stride_arg
		: am_mode_long(m) ? DEFAULT_STRIDE_LONG : 1;

	if (!mode_offered(m)) {
		kprintf("accmatrix: %s: not offered by this CPU\n", mode_args[m]);
		return 0;
	}
	mode_enter(m);
	coverage_reset();
	matrix_size(&settings, &combos);
	kprintf("accmatrix: %s: matrix: %u settings x %u entry combinations "
		"x %u accesses = %llu cases; running 1 in %u (setting, "
		"combination) with all its accesses\n",
		env.name, settings, combos, ACCESSES,
		(unsigned long long)settings * combos * ACCESSES, stride);
	run_matrix(stride, &st);
	if (stride > 1) {
		gaps = coverage_missing();
		kprintf("accmatrix: %s: pairs of dimension values never run: "
			"%u\n", env.name, gaps);
	}
	kprintf("accmatrix: %s: expected: %llu no fault, %llu #PF not "
		"present, %llu #PF protection, %llu #PF reserved bit; %llu "
		"with PK\n",
		env.name, (unsigned long long)st.no_fault,
		(unsigned long long)st.not_present,
		(unsigned long long)st.protection,
		(unsigned long long)st.reserved, (unsigned long long)st.pkey);
	kprintf("accmatrix: %s: %llu cases, %llu failed\n", env.name,
		(unsigned long long)st.cases, (unsigned long long)st.failed);
	all->cases += st.cases;
	all->failed += st.failed;
	return st.failed + gaps;
}

/* The modes to run: the one mode= names, or all of this image's. */
static bool mode_selected(enum am_mode m, const char *arg)
{
	if (!arg[0])
		return am_mode_long(m) == (sizeof(long) == 8);
	return strlen(arg) == strlen(mode_args[m]) &&
	       !strncmp(arg, mode_args[m], strlen(arg));
}

int guest_main(void)
{
	char mode[8] = "";
	unsigned stride = (unsigned)cmdline_get_u64("stride", 0);
	struct am_stats all = { 0, 0, 0, 0, 0, 0, 0 };
	uint64_t bad = 0;
	bool any = false;

	cmdline_get("mode", mode, sizeof(mode));
	cpu_read();
	for (unsigned m = 0; m < AM_MODES; m++) {
		if (!mode_selected((enum am_mode)m, mode))
			continue;
		if (am_mode_long((enum am_mode)m) != (sizeof(long) == 8))
			panic("accmatrix: mode=%s needs the other image", mode);
		any = true;
		bad += run_mode((enum am_mode)m, stride, &all);
	}
	if (!any)
		panic("accmatrix: unknown mode=%s (32, pae, long4, long5)", mode);
	kprintf("accmatrix: summary: %llu cases, %llu failed: %s\n",
		(unsigned long long)all.cases, (unsigned long long)all.failed,
		bad ? "FAILED" : "ok");
	return bad ? 1 : 0;
}
