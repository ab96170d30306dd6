/*
 * Replaying one walkprobe case with Umbra's walker, and the differences
 * between what QEMU did and what the walker says the CPU does.
 */
#ifndef CONFORMANCE_REPLAY_H
#define CONFORMANCE_REPLAY_H

#include "log.h"
#include "testmem.h"

enum diff_kind {
	DIFF_CR3_VEC,    /* MOV CR3 (PAE PDPTE load) fault or not */
	DIFF_VEC,        /* exception vector of the access, or none */
	DIFF_ERR,        /* error code */
	DIFF_CR2,        /* CR2 after the access */
	DIFF_GPA,        /* the walker's translation is not the planned one */
	DIFF_QEMU_GPA,   /* QEMU accessed another byte than the planned one */
	DIFF_AFTER,      /* an entry's value after the access */
	DIFF_UNRECORDED, /* the walker read an entry the guest did not write */
	DIFF_HARNESS,    /* the case cannot be replayed (BADMEM, bad mode...) */
	/* QEMU showed a documented deviation and the walker agreed with QEMU:
	 * the walker copies QEMU's departure from the manuals.  `entry` is
	 * the index of the deviation. */
	DIFF_COPIES_DEVIATION,
};

struct diff {
	enum diff_kind kind;
	unsigned entry; /* DIFF_AFTER: index into the case's entries */
	uint64_t expected, observed;
	const struct deviation *explained_by; /* NULL: undocumented */
};

#define MAX_DIFFS (LOG_MAX_ENTRIES + 8)

struct replay {
	const struct log_header *h;
	const struct log_case *c;
	enum umbra_load_status load;
	struct umbra_walker w;
	struct umbra_walk_result res;
	bool walked;         /* the access was replayed (load succeeded) */
	/* What the walker says should have been observed. */
	uint32_t cr3_vec, vec, err;
	uint64_t cr2;
	uint64_t after[LOG_MAX_ENTRIES];
	/* Differences. */
	unsigned n_diffs;
	struct diff diffs[MAX_DIFFS];
};

/* A documented QEMU deviation from the architecture (DEVIATIONS.md). */
struct deviation {
	const char *name;
	const char *summary;
	/* True when this deviation accounts for the difference exactly. */
	bool (*explains)(const struct replay *rp, const struct diff *d);
	/* True when QEMU's observed behaviour shows this deviation, whatever
	 * the walker says: then some difference must be explained by it,
	 * or else the walker reproduces QEMU's departure from the manuals. */
	bool (*seen)(const struct replay *rp);
};

extern const struct deviation *const deviations[];
extern const unsigned n_deviations;

/* Replay case c in memory m (which must be all zeroes; it is left so). */
void replay_case(struct replay *rp, const struct log_header *h,
		 const struct log_case *c, struct testmem *m);

/* Attach the documented deviation (if any) to each difference, and add a
 * DIFF_COPIES_DEVIATION for a deviation QEMU showed that no difference
 * accounts for; true when every difference is documented. */
bool classify_diffs(struct replay *rp);

const char *diff_kind_name(enum diff_kind k);

#endif
