/*
 * Umbra's command line (the multiboot command line, e.g. QEMU's -append):
 * space-separated key=value options.  A first word without '=' is the
 * image's path, which loaders put there, and is skipped.
 *
 *   mem=SIZE       guest RAM (default 64M; 2M..4G, a multiple of 4K).
 *                  SIZE is a number with an optional K, M or G suffix.
 *   pool=N|SIZE    shadow page pool: N pages, or SIZE bytes with a
 *                  suffix (default 2048 pages = 8M)
 *   log=LEVEL      error, warn, info (default), debug or trace
 *   stats=FORMAT   statistics printed when the guest ends: table, json,
 *                  both (default) or none
 *   console=PORT   com1 (default), com2 or none: where Umbra's own output
 *                  goes (the guest keeps whatever UART it uses)
 *   audit=N        run the engine's audit every N exits (default 0: only
 *                  when the guest ends)
 *   selftest=WHAT  prove the failure paths (tests/hv): panic (a C panic),
 *                  fault (a host page fault on NULL), stack (a host stack
 *                  overflow into the guard page)
 *   invlpg=HOW     native (default): the guest's INVLPG runs without an
 *                  exit; exit: intercept it and hand it to the engine (the
 *                  old path, for comparisons)
 *
 * An unknown option or a malformed value is an error that names the option
 * and the accepted values.
 */
#ifndef HV_CMDLINE_H
#define HV_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

enum stats_format {
	STATS_NONE = 0,
	STATS_TABLE = 1,
	STATS_JSON = 2,
	STATS_BOTH = STATS_TABLE | STATS_JSON,
};

struct hv_options {
	uint64_t guest_mem;   /* bytes */
	uint32_t pool_pages;
	uint8_t log_level;    /* enum log_level */
	uint8_t stats;        /* enum stats_format */
	uint16_t console_port; /* 0: none */
	uint64_t audit_every; /* exits; 0: at the end only */
	uint8_t selftest;     /* enum selftest */
	bool invlpg_exit;     /* intercept INVLPG (default: runs natively) */
};

enum selftest {
	SELFTEST_NONE,
	SELFTEST_PANIC,
	SELFTEST_FAULT,
	SELFTEST_STACK,
};

#define DEFAULT_GUEST_MEM   (64ull << 20)
#define MIN_GUEST_MEM       (2ull << 20)
#define MAX_GUEST_MEM       (4ull << 30)
#define DEFAULT_POOL_PAGES  2048u
#define MIN_POOL_PAGES      16u
#define MAX_POOL_PAGES      (1u << 20)

/* The options of this run (main.c). */
extern struct hv_options hv_opt;

/* Parse `line` into *opt (defaults first).  On error returns false and
 * writes a one-line explanation into why[why_size]. */
bool cmdline_parse(const char *line, struct hv_options *opt, char *why,
		   unsigned why_size);

#endif
