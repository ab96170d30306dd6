/*
 * Shared helpers of the walker unit tests: build the guest page tables of one
 * mapping in any paging mode, and run one table row ("case") through
 * umbra_walk_init / umbra_walk / umbra_walk_commit, checking every field the
 * row predicts.  A failing check names the row's rule.
 *
 * A row describes its mapping relative to a permissive default: every entry
 * on the path is P|RW|US (a PAE PDPTE only P, since its RW and US bits are
 * reserved), then the row's set[level] bits are added and clr[level] bits
 * removed.  Expected A/D updates are derived from the row's outcome by the
 * rule of paging-rules.md: on success every entry gains A and a written leaf
 * gains D; on a #PF the entries above the level where the walk stopped gain
 * A and nothing else changes; #GP/#SS change nothing.
 */
#ifndef UMBRA_UNIT_WALKTEST_H
#define UMBRA_UNIT_WALKTEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testmem.h"
#include "umbra/walk.h"
#include "umbra/x86.h"

/* Levels by their manual names, for indexing set[] / clr[]. */
enum {
	WT_PT = 1,
	WT_PD = 2,
	WT_PDPT = 3,
	WT_PML4 = 4,
	WT_PML5 = 5,
};

#define WT_READ  UMBRA_ACCESS_READ
#define WT_WRITE UMBRA_ACCESS_WRITE
#define WT_FETCH UMBRA_ACCESS_FETCH

/* Guest memory of every test: small, so addresses at or above it are
 * "outside guest memory" for the BADMEM rules. */
#define WT_MEM_SIZE   (1ull << 20)
#define WT_ALLOC_BASE 0x1000ull

/* The CPU of a row unless it says otherwise. */
#define WT_DEFAULT_MAXPHYADDR 46

/* Default data frames, one per page size; all lie outside guest memory
 * (the walker never reads the data page) and below 2^36, so they are valid
 * for every MAXPHYADDR the tests use; 4 KiB and 4 MiB ones also below 4 GiB
 * for 32-bit paging. */
#define WT_FRAME_4K 0x76543000ull
#define WT_FRAME_2M 0x76600000ull
#define WT_FRAME_4M 0x76800000ull
#define WT_FRAME_1G 0x8c0000000ull

/* Default linear addresses: every level's index and the page offset are
 * non-zero and distinct, so an index taken from the wrong bits shows. */
#define WT_VA_32    0x5a5a5a5aull
#define WT_VA_LONG4 0x00005a5a5a5a5a5aull
#define WT_VA_LONG5 0x005a5a5a5a5a5a5aull

struct wt_case {
	const char *rule;
	uint8_t mode; /* enum umbra_mode */

	/* Registers beyond the mode's base (CR0.PE|PG|WP; CR4.PAE, LA57;
	 * EFER.LME|LMA as the mode needs). */
	uint64_t cr4, efer;
	bool wp_off; /* clear CR0.WP */
	uint32_t pkru;

	/* CPU capabilities: 0 = WT_DEFAULT_MAXPHYADDR; 1 GiB pages and PSE-36
	 * are supported unless the row says no. */
	uint8_t maxphyaddr;
	bool no_gbpages, no_pse36;

	/* The mapping. */
	uint8_t leaf;   /* leaf level: 0 or 1 = 4 KiB, 2 = 2/4 MiB, 3 = 1 GiB */
	uint64_t va;    /* 0 = the mode's default address */
	uint64_t frame; /* 0 = the default frame for the page size */
	uint64_t set[UMBRA_LEVELS_MAX + 1];
	uint64_t clr[UMBRA_LEVELS_MAX + 1];

	/* The access. */
	uint8_t kind; /* WT_READ, WT_WRITE, WT_FETCH */
	uint8_t cpl;
	bool ac, implicit, stack;

	/* Expectations. */
	uint8_t load;   /* enum umbra_load_status of umbra_walk_init */
	uint8_t status; /* enum umbra_walk_status */
	uint32_t ec;    /* #PF error code */
	uint8_t stop;   /* level where a #PF walk stopped; 0 = the leaf */
	bool check_perm;
	uint8_t perm;
	bool check_pkey;
	uint8_t pkey;
};

/* One test environment: guest memory, registers, CPU, walker. */
struct wt_env {
	struct testmem *mem;
	struct umbra_paging_regs regs;
	struct umbra_cpu_caps caps;
	struct umbra_walker w;
	uint8_t mode;
	uint64_t top_table; /* gpa of the top-level table (PAE: the PDPT) */
	/* Of the last wt_map(): where the entry of each level lies, and its
	 * value as written. */
	uint64_t entry_gpa[UMBRA_LEVELS_MAX + 1];
	uint64_t entry_val[UMBRA_LEVELS_MAX + 1];
	uint8_t leaf;
	/* Tables created by wt_map(), so that later mappings share them. */
	unsigned n_links;
	struct {
		uint64_t entry_gpa, table_gpa;
	} links[64];
};

/* Base registers of a mode (CR0.WP set), default CPU, zeroed guest memory
 * with an empty top-level table at CR3.  Memory is shared by every env of
 * the process and reset here. */
void wt_begin(struct wt_env *e, enum umbra_mode mode);

/* Top level walked from CR3 (PAE: 3, the PDPTE level); 0 without paging. */
unsigned wt_top_level(enum umbra_mode mode);
/* Size in bytes of the mode's entries. */
unsigned wt_entry_size(enum umbra_mode mode);
/* Index of `va` in the table of `level`. */
unsigned wt_index(enum umbra_mode mode, unsigned level, uint64_t va);
/* log2 of the page size mapped by a leaf at `level`. */
unsigned wt_page_shift(enum umbra_mode mode, unsigned level);
/* The linear address the CPU uses: 32 bits wide outside long mode. */
uint64_t wt_linear(enum umbra_mode mode, uint64_t va);
/* Default permissive flags of an entry at `level`. */
uint64_t wt_default_flags(enum umbra_mode mode, unsigned level);
/* The address bits of a leaf entry that maps `frame` (PSE-36 encoding for
 * 32-bit 4 MiB pages). */
uint64_t wt_leaf_addr_bits(enum umbra_mode mode, unsigned level,
			   uint64_t frame);

/*
 * Map `va` to `frame` with a leaf at `leaf`, creating (or reusing) tables
 * down from CR3.  Entry of level l = address | ((default | set[l]) &
 * ~clr[l]), plus PS in a large leaf.  set/clr may be NULL.  Records
 * e->entry_gpa/entry_val.  Returns the leaf entry's gpa.
 */
uint64_t wt_map(struct wt_env *e, uint64_t va, unsigned leaf, uint64_t frame,
		const uint64_t *set, const uint64_t *clr);

/* umbra_walk_init on the env's registers, CPU and memory. */
enum umbra_load_status wt_init(struct wt_env *e);

/* An access record. */
struct umbra_access wt_access(uint64_t va, uint8_t kind, uint8_t cpl);

/* Read an entry of the env's memory (size of the mode). */
uint64_t wt_peek(const struct wt_env *e, uint64_t gpa);
void wt_poke(struct wt_env *e, uint64_t gpa, uint64_t val);

/* Run one row / a table of rows; cmocka-fails naming the row's rule. */
void wt_run_case(const struct wt_case *c);
void wt_run_table(const struct wt_case *rows, size_t n);
#define WT_RUN_TABLE(rows) wt_run_table((rows), sizeof(rows) / sizeof((rows)[0]))

/* Readable names for failure messages. */
const char *wt_status_name(unsigned status);
const char *wt_load_name(unsigned load);
/* "P|W|U|RSVD|I/D|PK" rendering of an error code, in a static buffer. */
const char *wt_ec_string(uint32_t ec);

/* Fail the current cmocka test with the row's rule and a message. */
#define WT_FAIL(rule, fmt, ...) \
	fail_msg("rule \"%s\": " fmt, (rule), __VA_ARGS__)
/* Check that got == want (as 64-bit values); name the row on failure. */
#define WT_EQ(rule, what, got, want) do { \
	uint64_t wt_got_ = (uint64_t)(got), wt_want_ = (uint64_t)(want); \
	if (wt_got_ != wt_want_) \
		WT_FAIL((rule), "%s: got %#llx, expected %#llx", (what), \
			(unsigned long long)wt_got_, \
			(unsigned long long)wt_want_); \
} while (0)

#endif
