/*
 * Coverage of the sample: per mode, how many cases had each flag set and
 * clear, and which flags the mode requires to have been seen both ways.
 */
#ifndef CONFORMANCE_COVERAGE_H
#define CONFORMANCE_COVERAGE_H

#include <stdio.h>

#include "log.h"

/* Entry categories: directory entries by level, leaves by page size. */
enum cov_cat { CAT_L5, CAT_L4, CAT_L3, CAT_L2, CAT_PDPTE,
	       CAT_4K, CAT_2M, CAT_4M, CAT_1G, N_CATS };
enum cov_flag { F_P, F_RW, F_US, F_A, F_D, F_PS, F_NX, F_RSV, N_FLAGS };
enum cov_misc {
	M_WP, M_NXE, M_PSE, M_SMEP, M_SMAP, M_PKE,
	M_CPL3, M_READ, M_WRITE, M_FETCH, M_AC, M_STACK, M_NONCANON,
	M_PK_KEY, M_PK_AD, M_PK_WD,
	M_OK, M_PA, M_PF, M_GP, M_SS, M_EP, M_EW, M_EU, M_ERSVD, M_EID, M_EPK,
	N_MISC
};

struct cov_bin {
	unsigned long set, clear;
};

struct coverage {
	unsigned long cases;
	struct cov_bin misc[N_MISC];
	struct cov_bin ent[N_CATS][N_FLAGS];
};

void cov_add(struct coverage *cv, const struct log_header *h,
	     const struct log_case *c);
/* Print the table (when `out` is not NULL); returns how many required
 * bins were not seen both ways, and sets *checked to how many there are. */
unsigned cov_report(const struct coverage *cv, const struct log_header *h,
		    FILE *out, unsigned *checked, char *gaps, size_t gaps_size);

#endif
