/*
 * A small machine for emulator tests: sparse guest-linear memory in 4 KiB
 * pages (absent pages fault with #PF, read-only pages fault on writes),
 * ports, control-register and INVLPG hooks, all recorded, behind the
 * x86_emu_ops callbacks.
 */
#ifndef UMBRA_TESTS_DECODE_EMUTEST_H
#define UMBRA_TESTS_DECODE_EMUTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emulate.h"

#define EMT_PAGES 64
#define EMT_LOG 64

struct emt_page {
	uint64_t la;          /* page address, or ~0 when free */
	bool readonly;
	uint8_t data[4096];
};

struct emt_access {
	char kind;            /* 'r', 'w', 'x' (cmpxchg), 'f' (fetch) */
	uint64_t la;
	unsigned size;
};

struct emt {
	struct x86_regs regs;
	struct emt_page pages[EMT_PAGES];
	/* Every memory callback, in order. */
	struct emt_access log[EMT_LOG];
	unsigned n_log;
	/* Ports: the value IN returns for each port (incremented after each
	 * read, so that string input is observable), OUT's log. */
	uint32_t port_in[65536];
	struct { uint16_t port; unsigned size; uint32_t value; } outs[EMT_LOG];
	unsigned n_outs;
	/* Control registers and INVLPG. */
	unsigned n_cr_writes;
	unsigned last_cr;
	uint64_t last_cr_value;
	bool cr_refuse;           /* write_cr raises #GP */
	uint64_t cr_force_set;    /* bits write_cr adds to the value */
	uint64_t invlpg[EMT_LOG];
	unsigned n_invlpg;
	/* cmpxchg: change memory under the emulator's feet this many times
	 * (the callback then reports a failed comparison). */
	unsigned interfere;
	bool use_cmpxchg;         /* offer the cmpxchg callback (default) */
	/* The write callback sets ctx.rep_stop at its write number
	 * rep_stop_at (counted from 1 over the machine's life; 0: never), as
	 * a hypervisor does when a write unshadows the page. */
	unsigned rep_stop_at;
	unsigned n_writes;
	/* The last run. */
	struct x86_insn insn;
	struct x86_emu_ctx ctx;
	int decode_rc;
};

extern const struct x86_emu_ops emt_ops;
extern const struct x86_emu_ops emt_ops_no_cmpxchg;

/* A machine in 64-bit mode (CPL 0, paging on, flat segments, EFER.LMA),
 * 32-bit protected mode (flat 4 GiB segments) or real mode. */
void emt_init64(struct emt *m);
void emt_init32(struct emt *m);
void emt_init16(struct emt *m);
/* Only the registers of a 64-bit machine (memory and logs kept). */
void emt_regs64(struct emt *m);

/* Map a zeroed page at `la` (page aligned); returns its bytes. */
uint8_t *emt_map(struct emt *m, uint64_t la, bool readonly);
void emt_unmap(struct emt *m, uint64_t la);

/* Memory as the guest sees it (the pages must be mapped). */
void emt_poke(struct emt *m, uint64_t la, const void *buf, size_t n);
void emt_peek(struct emt *m, uint64_t la, void *buf, size_t n);
void emt_poke64(struct emt *m, uint64_t la, uint64_t v, unsigned size);
uint64_t emt_peek64(struct emt *m, uint64_t la, unsigned size);

/* Decode `code` for the machine's mode and emulate it at regs.rip.
 * Returns the emulator's result, or -1 when decoding failed. */
int emt_run(struct emt *m, const uint8_t *code, size_t len);
#define EMT_RUN(m, ...) \
	emt_run((m), (const uint8_t[]){ __VA_ARGS__ }, \
		sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* Run again the same instruction (REP chunks). */
int emt_rerun(struct emt *m);

#endif
