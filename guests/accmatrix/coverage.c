/*
 * Pairwise coverage of a strided run.  Every value of every dimension (the
 * five control settings, the seven leaf bits, the directory, the upper
 * level) is one "feature"; a (setting, combination) has one feature per
 * dimension.  For each feature f, pairs[f] collects the features that
 * occurred together with f: once over the whole matrix (exists), once over
 * what ran (seen).  The access dimensions (CPL, kind, AC) need no tracking:
 * all twelve accesses run for every (setting, combination) that runs.
 */
#include "accmatrix.h"

enum { D_WP, D_NXE, D_SMEP, D_SMAP, D_PK, D_LEAF, D_DIR = D_LEAF + LB_COUNT,
       D_UPPER, D_COUNT };

static const uint8_t dim_values[D_COUNT] = {
	2, 2, 2, 2, PK_VALUES, 2, 2, 2, 2, 2, 2, 2, DIR_VALUES,
	UPPER_VALUES_MAX,
};
static const char *const dim_names[D_COUNT] = {
	"wp", "nxe", "smep", "smap", "pk", "leaf.P", "leaf.RW", "leaf.US",
	"leaf.A", "leaf.D", "leaf.NX", "leaf.RSV", "dir", "upper",
};

#define FEATURES 43 /* the sum of dim_values */
static uint64_t exists[FEATURES], seen[FEATURES];
static uint8_t first_feature[D_COUNT];

void coverage_reset(void)
{
	unsigned f = 0;

	for (unsigned d = 0; d < D_COUNT; d++) {
		first_feature[d] = (uint8_t)f;
		f += dim_values[d];
	}
	if (f != FEATURES)
		panic("accmatrix: coverage has %u features, not %u", f,
		      FEATURES);
	memset(exists, 0, sizeof(exists));
	memset(seen, 0, sizeof(seen));
}

static void features(const struct am_cfg *cfg, const struct am_combo *combo,
		     uint8_t f[D_COUNT])
{
	uint8_t v[D_COUNT] = {
		[D_WP] = cfg->wp, [D_NXE] = cfg->nxe, [D_SMEP] = cfg->smep,
		[D_SMAP] = cfg->smap, [D_PK] = cfg->pk, [D_DIR] = combo->dir,
		[D_UPPER] = combo->upper,
	};

	for (unsigned b = 0; b < LB_COUNT; b++)
		v[D_LEAF + b] = combo->leaf >> b & 1;
	for (unsigned d = 0; d < D_COUNT; d++)
		f[d] = (uint8_t)(first_feature[d] + v[d]);
}

void coverage_note(const struct am_cfg *cfg, const struct am_combo *combo,
		   bool executed)
{
	uint8_t f[D_COUNT];
	uint64_t together = 0;

	features(cfg, combo, f);
	for (unsigned d = 0; d < D_COUNT; d++)
		together |= 1ull << f[d];
	for (unsigned d = 0; d < D_COUNT; d++) {
		exists[f[d]] |= together;
		if (executed)
			seen[f[d]] |= together;
	}
}

static void feature_name(unsigned f)
{
	unsigned d = 0;

	while (d + 1 < D_COUNT && f >= first_feature[d + 1])
		d++;
	kprintf("%s=%u", dim_names[d], f - first_feature[d]);
}

unsigned coverage_missing(void)
{
	unsigned missing = 0;

	for (unsigned f = 0; f < FEATURES; f++) {
		uint64_t lack = exists[f] & ~seen[f];

		for (unsigned g = f + 1; g < FEATURES; g++) {
			if (!(lack >> g & 1))
				continue;
			if (missing++ < 5) {
				kprintf("accmatrix: %s: never ran: ", env.name);
				feature_name(f);
				kprintf(" with ");
				feature_name(g);
				kprintf("\n");
			}
		}
	}
	return missing;
}
