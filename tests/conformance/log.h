/*
 * The walkprobe serial log (PROTOCOL.md): a header line describing the CPU,
 * one record line per case, a trailer.  Parsed into plain structures.
 */
#ifndef CONFORMANCE_LOG_H
#define CONFORMANCE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "umbra/walk.h"

#define LOG_NONE      0xffffffffu /* vector field: no exception */
#define LOG_NO_RSV    0xffu
#define LOG_MAX_ENTRIES 8
#define LOG_E_HARNESS 1u /* entry flag: owned by the harness */
#define LOG_PA_UNCHECKED 0 /* fault, fetch, or no RAM at pa */
#define LOG_PA_MATCH     1 /* QEMU read/wrote the byte at pa */
#define LOG_PA_MISMATCH  2 /* QEMU read/wrote some other byte */

struct log_header {
	char mode_name[16];
	enum umbra_mode mode;
	uint64_t seed;
	unsigned cases;
	struct umbra_cpu_caps caps;
	bool pse, pae, nx, lm, la57, pku, smep, smap;
	uint64_t cr2_sentinel;
};

struct log_entry {
	unsigned level, flags;
	uint64_t gpa, before, after;
};

struct log_case {
	unsigned idx;
	uint64_t cr0, cr3, cr4, efer;
	uint32_t pkru;
	uint64_t va;
	unsigned kind, cpl, ac, stack;
	unsigned rsv_level, rsv_bit;
	uint32_t cr3_vec, vec, err;
	uint64_t cr2;
	uint64_t pa;       /* where the guest's tables translate va */
	unsigned pa_check; /* LOG_PA_* */
	unsigned n;
	struct log_entry e[LOG_MAX_ENTRIES];
	unsigned line; /* line number in the log */
};

struct log_reader {
	FILE *f;
	const char *path;
	unsigned line;
	bool have_header, have_trailer;
	struct log_header hdr;
	unsigned trailer_cases;
	unsigned records;
	char *buf;
	size_t cap;
	char panic_msg[256]; /* a guest "PANIC:" line, if any */
};

enum log_item { LOG_EOF, LOG_CASE, LOG_ERROR };

bool log_open(struct log_reader *r, const char *path);
void log_close(struct log_reader *r);
/* The next case; LOG_ERROR prints the problem to stderr. */
enum log_item log_next(struct log_reader *r, struct log_case *c);

#endif
