/*
 * The hostile guest: page tables that point where a shadow MMU would rather
 * they did not (beyond RAM, at the host's memory, at MMIO, at themselves),
 * a storm of writes to live tables, and thousands of address spaces.
 * Every phase prints what the CPU let it see; the lines must be the same
 * natively and under Umbra, and each phase checks what the architecture
 * requires.
 */
#ifndef HOSTILE_H
#define HOSTILE_H

#include "guest.h"
#include "mm.h"

/* Virtual layout, the same in every mode (all below 4 GiB except where
 * long mode says otherwise): the identity map of RAM from 0, a window of
 * hand-written 4 KiB PTEs, a large leaf (procs.c places the processes). */
#define WINDOW_VA     0xC0000000u /* one level-1 table of hostile PTEs */
#define WINDOW_SLOTS  256u        /* slots used (fits every table size) */
#define LARGE_VA      0xD0000000u /* one large leaf to a hostile address */

#define PAGE_WORDS (PAGE_SIZE / sizeof(uint32_t))
#define MAX_LEVELS 5u /* 5-level paging */

/* One paging mode's run. */
struct hctx {
	struct pt pt;        /* the kernel's address space in this mode */
	const char *name;    /* "32-bit", "PAE", "4-level", "5-level" */
	uint64_t ram_end;    /* end of the identity map (large-page aligned) */
	uint64_t phys_limit; /* 1 << MAXPHYADDR */
	uint32_t checks, failed;
};

/* ---- checks and output (main.c) ----------------------------------------- */
/* Count one check; print it with the phase's name when it fails (the
 * first few failures of a mode). */
bool check(struct hctx *h, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- address space helpers (space.c) ------------------------------------ */
/* Build the kernel address space of `mode` (identity map of RAM, the
 * window's table) and switch to it; false when the CPU lacks the mode. */
bool space_enter(struct hctx *h, enum pt_mode mode);
/* The level-1 entry of window slot `slot`. */
void *window_pte(struct hctx *h, unsigned slot);
uintptr_t window_va(unsigned slot);
/* Point window slot `slot` at pa with flags (P added), flush it, and
 * return its address. */
uintptr_t window_map(struct hctx *h, unsigned slot, uint64_t pa,
		     uint64_t flags);
/* The virtual address whose index at each level is idx[level] (idx[0]:
 * the byte offset; idx has MAX_LEVELS + 1 entries), sign-extended in long
 * mode. */
uint64_t va_from_indexes(enum pt_mode mode, const unsigned *idx);
/* The index va selects at `level`. */
unsigned va_index(enum pt_mode mode, uint64_t va, unsigned level);
/* The physical address of the table at `level` that maps va (created if
 * missing). */
uint64_t table_of(struct hctx *h, uint64_t va, unsigned level);
/* The memory map says nothing is at [pa, pa + len): no RAM, no ROM. */
bool phys_unlisted(uint64_t pa, uint64_t len);
/* Reload CR3 (flushes every non-global translation). */
void flush_all(void);

/* ---- accesses that may fault (space.c) ----------------------------------- */
struct outcome {
	uint32_t vector; /* TRAP_NONE, or the exception */
	uint32_t error;  /* #PF error code (P dropped on RSVD: see space.c) */
	uint32_t value;  /* what a read returned */
	bool cr2_ok;     /* a #PF reported the accessed address in CR2 */
};
struct outcome load32(uintptr_t va);
struct outcome store32(uintptr_t va, uint32_t value);
/* Print "ok <value>", "#PF <error code>" or "exception <vector>". */
void outcome_print(const struct outcome *o);

/* ---- the fill pattern (ram.c) -------------------------------------------- */
/* The word the fill puts at pa (4-byte aligned). */
uint32_t pattern_word(uint64_t pa);
/* Frames phase_ram leaves filled for the later phases of its mode. */
#define PATTERN_FRAMES 64u
extern uint64_t pattern_frame[PATTERN_FRAMES];

/* ---- the hypervisor's audit (audit.c) ------------------------------------ */
/* Ask Umbra to audit its shadow now (it logs the result on its console);
 * true when there is no hypervisor or it found no violation. */
bool hv_audit_clean(void);

/* ---- phases -------------------------------------------------------------- */
void phase_ram(struct hctx *h);      /* RAM and the host's addresses */
void phase_outside(struct hctx *h);  /* beyond RAM, beyond MAXPHYADDR */
void phase_mmio(struct hctx *h);     /* LAPIC, IOAPIC, VGA, BIOS ROM */
void phase_loops(struct hctx *h);    /* self-maps and table cycles */
void phase_storm(struct hctx *h);    /* writes to live tables */
void phase_procs(struct hctx *h);    /* thousands of address spaces */

/* A deterministic generator for the storm and the process order. */
uint32_t rng_next(uint32_t *state);

#endif
