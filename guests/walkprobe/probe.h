/*
 * walkprobe: ground truth for the guest page-table walker.  For each case
 * it writes the test entries, sets the control registers, performs one
 * access for real at CPL 0 or 3, and prints one record with everything the
 * host needs to replay the case (tests/conformance/PROTOCOL.md).
 */
#ifndef WALKPROBE_H
#define WALKPROBE_H

#include "guest.h"
#include "umbra/walk.h" /* enum umbra_access_kind */
#include "umbra/x86.h"

enum probe_mode { PM_32, PM_PAE, PM_LONG4, PM_LONG5 };

/* What the CPU offers (CPUID). */
struct probe_cpu {
	uint8_t maxphy;
	bool pse, pse36, pae, nx, gbpages, lm, la57, pku, smep, smap;
};

/* Physical layout.  The harness identity-maps HARNESS_MAP_BYTES with 4 KiB
 * pages (page 0 left out); test leaves only ever point into the data region,
 * which is filled with 0xC3 (`ret`) so that any byte can be fetched. */
#define HARNESS_MAP_BYTES (16u << 20)
#define DATA_BASE 0x800000u
#define DATA_SIZE 0x400000u

/* CR2 is set to this before every access. */
#define CR2_SENTINEL_32 0x5a5a5000u
#define CR2_SENTINEL_64 0x5a5a5a5a5a5a5000ull

/* Access operation passed to the access routines. */
#define OP_KIND_MASK 3u  /* enum umbra_access_kind */
#define OP_STACK     4u  /* address through RBP/EBP: an SS access */
#define OP_AC        8u  /* CPL 0: set EFLAGS.AC around the access */

#define PE_HARNESS 1u /* entry owned by the harness: after not compared */

struct probe_entry {
	uint8_t level, flags;
	uint64_t gpa, before, after;
};

#define MAX_ENTRIES 8
#define NO_RSV 0xffu

struct probe_case {
	uint64_t cr0, cr3, cr4, efer;
	uint32_t pkru;
	uint64_t va;
	uint8_t kind, cpl, ac, stack;
	uint8_t rsv_level, rsv_bit; /* injected reserved bit, or NO_RSV */
	uint8_t n;
	struct probe_entry e[MAX_ENTRIES];
	uint64_t pa;        /* the physical address the tables translate va to */
	/* observed */
	uint32_t cr3_vec, vec, err;
	uint64_t cr2;
	uint8_t pa_check;   /* PA_* below */
};

/* Did QEMU access the planned physical address? (successful reads and
 * writes inside RAM only) */
#define PA_UNCHECKED 0
#define PA_MATCH     1
#define PA_MISMATCH  2
#define PA_MARK      0xA5 /* byte placed at pa before a read or write */

struct probe_env {
	enum probe_mode mode;
	struct probe_cpu cpu;
	unsigned top;        /* top level: 2, 3, 4 or 5 */
	unsigned esize;      /* entry size: 4 or 8 */
	uintptr_t root;      /* CR3 table */
	uintptr_t test_tab[6]; /* test tables by level (level < top) */
	unsigned slot;       /* index of the test slot in the root table */
	uint64_t base_cr0, base_cr4, base_efer;
	uint64_t harness_pdpte0; /* PAE: the harness PDPTE[0] value */
};

extern struct probe_env env;

/* harness.c */
void harness_setup(void);
uint64_t entry_read(uint64_t gpa);
void entry_write(uint64_t gpa, uint64_t val);

/* cases.c */
void rng_seed(uint64_t seed);
void case_generate(struct probe_case *c);

/* access32.S / access64.S */
/* Returns the byte read (a read access), else garbage. */
uint32_t probe_kernel_access(uintptr_t va, uintptr_t op);
extern volatile uint8_t probe_user_read_value; /* set by the CPL 3 path */
void probe_user_entry(void);

#endif
