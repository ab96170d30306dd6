/*
 * Building guest page tables in the harness's guest memory, for any mode.
 */
#ifndef UMBRA_TEST_GUESTPT_H
#define UMBRA_TEST_GUESTPT_H

#include <stdint.h>

#include "harness.h"
#include "umbra/walk.h"

struct gpt {
	struct hw *hw;
	enum umbra_mode mode;
	unsigned levels;     /* 2, 3 (PAE, top = PDPTE) , 4 or 5 */
	unsigned esize;      /* 4 or 8 */
	unsigned bits;       /* index bits per level */
	uint64_t root;       /* gpa of the top table (PAE: the PDPT) */
};

/* Entry flags a directory gets when the builder creates it. */
#define GPT_DIR_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A)

void gpt_init(struct gpt *g, struct hw *hw, enum umbra_mode mode);
/* The gpa of the entry for va at `level`, creating missing tables above it
 * with GPT_DIR_FLAGS (written raw: call before the guest uses the tables). */
uint64_t gpt_entry_gpa(struct gpt *g, uint64_t va, unsigned level);
/* Raw setup write of an entry. */
void gpt_set_raw(struct gpt *g, uint64_t va, unsigned level, uint64_t val);
/* The value of the CR3 this address space needs. */
uint64_t gpt_cr3(const struct gpt *g);
/* Paging registers for the mode with the given extra CR0/CR4/EFER bits. */
struct umbra_paging_regs gpt_regs(const struct gpt *g, uint64_t cr0_extra,
				  uint64_t cr4_extra, uint64_t efer_extra);

#endif
