/*
 * An independent reference model of x86 paging permissions (docs/paging-rules.md).
 *
 * This is deliberately not a page-table walker.  A test describes one case
 * abstractly: the paging mode, the control-register bits that matter, the
 * access, and for every level of the translation path the flags of its entry
 * as booleans.  The model then applies the manual's rules, each as its own
 * small predicate, to say what the CPU must do: fault or not, the #PF error
 * code, the translation, and the A/D bits of every entry afterwards.
 *
 * It depends on nothing in engine/ and on nothing in include/umbra/walk.h;
 * only the architectural constants of include/umbra/x86.h.
 */
#ifndef UMBRA_REFMODEL_H
#define UMBRA_REFMODEL_H

#include <stdbool.h>
#include <stdint.h>

/* Levels as the manuals number them: 1 = PT, 2 = PD, 3 = PDPT, 4 = PML4,
 * 5 = PML5.  Arrays by level have REF_LEVELS_MAX + 1 slots; slot 0 unused. */
#define REF_LEVELS_MAX 5

enum ref_mode {
	REF_MODE_32,    /* CR0.PG, !CR4.PAE */
	REF_MODE_PAE,   /* CR4.PAE, !EFER.LMA */
	REF_MODE_LONG4, /* EFER.LMA, !CR4.LA57 */
	REF_MODE_LONG5, /* EFER.LMA, CR4.LA57 */
};

enum ref_kind { REF_READ, REF_WRITE, REF_FETCH };

/* What the CPU implements. */
struct ref_caps {
	uint8_t maxphyaddr; /* M */
	bool gbpages;       /* 1 GiB pages */
	bool pse36;         /* 32-bit 4 MiB pages reach address bits 39:32 */
};

/* One paging-structure entry, as the flags the rules talk about. */
struct ref_entry {
	bool present;  /* P */
	bool rw;       /* R/W */
	bool us;       /* U/S */
	bool nx;       /* XD (bit 63); always false in 32-bit paging */
	bool ps;       /* PS (bit 7 of a PDE, PDPTE, PML4E or PML5E) */
	bool accessed; /* A */
	bool dirty;    /* D */
	/* Some bit other than PS and XD that is reserved for this entry is set;
	 * callers decide with ref_bit_reserved(). */
	bool rsvd;
	uint8_t pkey;  /* bits 62:59 (used only in a long-mode leaf) */
	uint64_t frame; /* the physical address the entry designates: the next
			   table, or the base of the page it maps */
};

struct ref_case {
	enum ref_mode mode;
	struct ref_caps caps;
	/* Control-register bits. */
	bool wp;   /* CR0.WP */
	bool pse;  /* CR4.PSE */
	bool nxe;  /* EFER.NXE */
	bool smep; /* CR4.SMEP */
	bool smap; /* CR4.SMAP */
	bool pke;  /* CR4.PKE */
	uint32_t pkru;
	/* The access. */
	enum ref_kind kind;
	uint8_t cpl;
	bool ac;                  /* EFLAGS.AC */
	bool implicit_supervisor; /* descriptor-table/TSS/event-delivery access */
	uint64_t va;
	/* Every level from ref_top_level(mode) down to 1.  Entries below the
	 * level that maps the page are ignored.  PAE level 3 is the PDPTE
	 * register (its rw/us/nx/accessed are ignored: the PDPTE has none). */
	struct ref_entry e[REF_LEVELS_MAX + 1];
};

struct ref_outcome {
	bool fault;            /* #PF; otherwise the access completes */
	uint32_t error_code;   /* X86_PFEC_* when fault */
	/* The level where the translation ends: the faulting not-present or
	 * reserved entry, otherwise the entry that maps the page. */
	uint8_t stop_level;
	bool walk_complete;    /* stop_level maps a page (no P/RSVD fault) */
	/* When walk_complete: */
	uint8_t page_shift;
	uint64_t gpa;          /* valid when !fault */
	bool user_address;     /* U/S = 1 at every level */
	bool writable;         /* R/W = 1 at every level */
	bool executable;       /* no level has XD (or XD not in force) */
	uint8_t pkey;          /* the leaf's key (long mode), else 0 */
	/* Each entry's A and D after the access. */
	bool accessed[REF_LEVELS_MAX + 1];
	bool dirty[REF_LEVELS_MAX + 1];
};

/* The level the translation starts at (PAE: 3, the PDPTE registers). */
unsigned ref_top_level(enum ref_mode mode);

/* Whether an entry of this level has an accessed flag (the PAE PDPTEs have
 * none). */
bool ref_has_accessed_flag(enum ref_mode mode, unsigned level);

/*
 * Whether setting bit `bit` (0..63) in a present entry of `level` is a
 * reserved-bit violation.  `maps_page` says the entry has PS = 1 and PS is
 * honoured there (a 4 MiB, 2 MiB or 1 GiB page).  Bit 7 is reserved where PS
 * is not architected.  32-bit entries have only bits 31:0.
 */
bool ref_bit_reserved(enum ref_mode mode, unsigned level, bool maps_page,
		      unsigned bit, bool nxe, const struct ref_caps *caps);

/* Whether PS = 1 at `level` makes the entry map a page (rather than being
 * reserved, or ignored as in 32-bit paging without CR4.PSE). */
bool ref_ps_maps_page(const struct ref_case *c, unsigned level);

/* Apply the rules to one case. */
void ref_evaluate(const struct ref_case *c, struct ref_outcome *out);

const char *ref_mode_name(enum ref_mode mode);

#endif
