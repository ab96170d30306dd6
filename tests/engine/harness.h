/*
 * A hosted machine for engine tests: host-physical memory is one array,
 * guest RAM lives inside it at an offset (so gpa != hpa), the shadow pool
 * lives elsewhere in it, and a software "hardware" performs guest accesses
 * by walking the shadow tables with the architectural walker under the
 * shadow control registers, taking every fault into the engine exactly as
 * a hypervisor would: fixed -> retry, reflect -> the guest's fault,
 * emulate -> umbra_emulated_write.
 *
 * Every access is also checked against the guest's own tables (the guest
 * walker on guest memory, computed before the access): the outcome, the
 * translation, the fault and error code, and the guest A/D bits afterwards
 * must all be what a CPU running the guest natively would produce.
 */
#ifndef UMBRA_TEST_HARNESS_H
#define UMBRA_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "testmem.h"
#include "umbra/mmu.h"
#include "umbra/walk.h"

struct hw {
	struct testmem host;      /* all of host-physical memory */
	struct umbra_mmu *mmu;
	uint64_t guest_hpa;       /* guest RAM is host [guest_hpa, +guest_size) */
	uint64_t guest_size;
	uint64_t pool_hpa;
	uint32_t pool_pages;
	uint64_t next_table_gpa;  /* bump allocator for guest tables */
	struct umbra_paging_regs regs;
	uint64_t pdpte[4];        /* the guest's PAE PDPTE registers */
	struct umbra_cpu_caps caps;
	uint64_t flush_all, flush_va;
	uint64_t accesses, hw_faults, emulated;
	uint64_t handled, plain;  /* accesses claimed by a handler; emulated
				     plainly in a claimed page */
	bool audit_each;          /* run the audit after every access */
	char last_problem[512];   /* why the last check failed */
};

/* Outcome of one guest access. */
enum hw_outcome {
	HW_OK,        /* the access completed (directly or emulated) */
	HW_FAULT,     /* the guest took an exception: see vector/error */
	HW_MMIO,      /* the access went to the embedder as MMIO */
	HW_HANDLER,   /* an access handler claimed it: its callback ran */
	HW_BROKEN,    /* a check failed: hw->last_problem says why */
};

struct hw_result {
	enum hw_outcome outcome;
	uint8_t vector;
	uint32_t error_code;
	uint64_t cr2;
	uint64_t gpa;
	unsigned hw_faults; /* #PF exits this access took */
	/* HW_HANDLER: the handler and the address it was given. */
	const struct umbra_handler *handler;
	uint64_t addr;
	/* Reads and fetches that completed (HW_OK, HW_HANDLER): the value
	 * read, from guest memory or from the handler. */
	uint64_t value;
};

#define HW_TABLE_BASE 0x100000ull /* guest tables allocated from 1 MiB up */

/* guest_mb of guest RAM at gpa 0 (host address guest_hpa), pool_pages of
 * shadow pool.  Fails the test program on error. */
void hw_init(struct hw *hw, unsigned guest_mb, uint32_t pool_pages);
void hw_fini(struct hw *hw);

/* Guest memory by guest-physical address (the guest's own view). */
uint64_t hw_gread(const struct hw *hw, uint64_t gpa, unsigned size);
void hw_gwrite_raw(struct hw *hw, uint64_t gpa, unsigned size, uint64_t val);
uint64_t hw_alloc_table(struct hw *hw); /* zeroed guest page */

/* The guest loads paging registers (MOV CR*, WRMSR EFER). */
enum umbra_status hw_set_paging(struct hw *hw,
				const struct umbra_paging_regs *regs,
				unsigned wrote);

/* One guest access.  For writes, `value` (size bytes) is stored.  An
 * access a handler claims runs its callback through umbra_handler_invoke;
 * one emulated plainly (a NULL handler) reads guest memory or goes through
 * umbra_emulated_write, as an embedder would. */
struct hw_result hw_access(struct hw *hw, const struct umbra_access *acc,
			   unsigned size, uint64_t value);

/* Convenience: a guest store through its own page tables (used to edit
 * page tables the way a guest kernel does, through a mapping). */
struct hw_result hw_store(struct hw *hw, uint64_t va, unsigned size,
			  uint64_t value, uint8_t cpl);

/* Run the audit; false (with last_problem set) on any violation. */
bool hw_audit(struct hw *hw);

#endif
