/*
 * accmatrix: the access-matrix correctness guest (see main.c for what it
 * covers).  Shared declarations of its parts:
 *   tables.c   the address space of each paging mode and its test path
 *   config.c   control-register settings (CR0.WP, EFER.NXE, CR4.SMEP/SMAP/
 *              PKE, PKRU) and the walker that predicts under them
 *   combo.c    the table-entry combinations and their entry values
 *   check.c    one access: prediction, real execution, comparison
 *   coverage.c which pairs of dimension values a strided run covered
 *   oracle.c   Umbra's architectural walker, compiled into the guest
 */
#ifndef ACCMATRIX_H
#define ACCMATRIX_H

#include "guest.h"
#include "umbra/walk.h"
#include "umbra/x86.h"

enum am_mode { AM_32, AM_PAE, AM_LONG4, AM_LONG5, AM_MODES };

static inline bool am_mode_long(enum am_mode m)
{
	return m == AM_LONG4 || m == AM_LONG5;
}

/* What the CPU offers (CPUID), read once. */
struct am_cpu {
	uint8_t maxphy;
	bool nx, pse36, gbpages, la57, smep, smap, pku;
};

/* Physical layout: the harness identity-maps HARNESS_MAP_BYTES with 4 KiB
 * pages; the test leaves point into the data region, filled with 0xC3
 * (`ret`) so that a fetch from any of its bytes returns. */
#define HARNESS_MAP_BYTES (16u << 20)
#define DATA_BASE         0x800000u /* 4 MiB aligned: a 4 MiB leaf fits */
#define DATA_SIZE         0x400000u
#define DATA_FILL         0xC3u
#define DATA_4K_FRAME     (DATA_BASE + 0x1000u) /* not the large frame's start */

/* The one protection key test leaves carry in long mode (bits 62:59). */
#define TEST_PKEY 1u

/* The address space of the mode being tested. */
struct am_env {
	enum am_mode mode;
	const char *name;
	unsigned top;        /* levels: 2, 3, 4 or 5 */
	unsigned esize;      /* bytes per entry: 4 or 8 */
	uint64_t va;         /* the test linear address */
	uintptr_t root;      /* CR3's table */
	/* Where each level's entry for va lives (1..top).  PAE level 3 is
	 * the PDPTE: it has no permission bits and is never varied. */
	uint64_t entry_gpa[UMBRA_LEVELS_MAX + 1];
	uint64_t table_of[UMBRA_LEVELS_MAX + 1]; /* table a level points at */
	uint64_t harness_pdpte0, test_pdpte; /* PAE only */
	/* The reserved bit each leaf size can carry (0: none exists). */
	uint64_t rsv_4k, rsv_large;
	uint64_t base_cr0, base_cr4, base_efer;
};

extern struct am_cpu cpu;
extern struct am_env env;

/* tables.c */
void cpu_read(void);
bool mode_offered(enum am_mode m);
void mode_enter(enum am_mode m);
uint64_t entry_read(uint64_t gpa);
void entry_write(uint64_t gpa, uint64_t val);
bool mode_is_long(void);

/* config.c: one control-register setting.  pk: 0 = CR4.PKE off, else
 * PKE on with PKRU = pk_pkru[pk] for TEST_PKEY. */
#define PK_VALUES 5
struct am_cfg {
	bool wp, nxe, smep, smap;
	uint8_t pk;
};
bool cfg_valid(const struct am_cfg *c);
void cfg_from_index(unsigned i, struct am_cfg *c);
unsigned cfg_count(void); /* of the whole product, valid or not */
void cfg_apply(const struct am_cfg *c);
const struct umbra_walker *cfg_walker(void);
void cfg_describe(const struct am_cfg *c);

/* combo.c: one combination of test entries.  Leaf bits LB_*; dir is
 * DIR_RW|DIR_US|DIR_NX (a directory entry pointing at the page table),
 * DIR_PS (the directory entry is itself the leaf, 2 or 4 MiB) or DIR_1G
 * (long mode with 1 GiB pages: the PDPTE is the leaf); upper says which
 * level above the directory, if any, has R/W = 0 or PS = 1. */
enum { LB_P, LB_RW, LB_US, LB_A, LB_D, LB_NX, LB_RSV, LB_COUNT };
#define DIR_RW 1u
#define DIR_US 2u
#define DIR_NX 4u
#define DIR_PS 8u
#define DIR_1G 9u
#define DIR_VALUES 10u
#define UPPER_VALUES_MAX 6u /* long5: none, R/W = 0 at 3, 4, 5, PS at 4, 5 */
struct am_combo {
	uint8_t leaf;     /* bit LB_x set: that leaf bit is set */
	uint8_t dir;
	uint8_t upper;    /* index: 0 = nothing special */
	uint8_t ro_level; /* level with R/W = 0, or 0 */
	uint8_t ps_level; /* level with PS = 1 (reserved there), or 0 */
};
unsigned combo_count(void); /* of the whole product, valid or not */
bool combo_from_index(unsigned i, struct am_combo *c); /* false: invalid */
/* The value every test level (1..top) should hold for the combination;
 * want[l] == 0 for a level that is not reachable (below a large leaf) or
 * not varied (PAE PDPTE). */
void combo_entries(const struct am_combo *c, uint64_t want[]);
unsigned combo_leaf_level(const struct am_combo *c);
void combo_describe(const struct am_combo *c);

/* check.c */
#define ACCESSES 12 /* CPL {0,3} x {read, write, fetch} x EFLAGS.AC {0,1} */
struct am_access {
	uint8_t cpl, kind, ac;
};
/* Counts of a run: cases, failures, and the predicted outcomes. */
struct am_stats {
	uint64_t cases, failed;
	uint64_t no_fault, not_present, protection, pkey, reserved;
};
void access_from_index(unsigned i, struct am_access *a);
/* Bring the test entries to want[] (invalidating the TLB entry for va
 * when one was written), run one access, compare it with the walker's
 * prediction, and count the case in *st. */
void check_access(const struct am_cfg *cfg, const struct am_combo *combo,
		  const uint64_t want[], const struct am_access *a,
		  struct am_stats *st);

/* coverage.c: dimension values of one (setting, combination). */
void coverage_reset(void);
void coverage_note(const struct am_cfg *cfg, const struct am_combo *combo,
		   bool executed);
/* Number of (dimension value, dimension value) pairs present in the full
 * matrix but not executed; prints the first few. */
unsigned coverage_missing(void);

/* access32.S / access64.S */
void am_kernel_access(uintptr_t va, uintptr_t kind, uintptr_t ac);
void am_user_entry(void);

#endif
