/*
 * Guest memory management: a physical page allocator and page-table
 * builders for every x86 paging mode.
 *
 * Frames are addressed by their physical address and reached through the
 * identity map the guest runs on (32-bit flavour: paging off, or tables
 * that identity-map the RAM in use; 64-bit flavour: the boot tables
 * identity-map the first GiB, so the allocator never hands out frames
 * above 1 GiB there).  Page-table entries are kept as uint64_t in this
 * API whatever their width in memory; 32-bit paging stores the low half.
 */
#ifndef GUEST_MM_H
#define GUEST_MM_H

#include <stdbool.h>
#include <stdint.h>

#include "umbra/x86.h"

#define PAGE_SIZE 4096u
#define SIZE_4K   0x1000ull
#define SIZE_2M   0x200000ull
#define SIZE_4M   0x400000ull
#define SIZE_1G   0x40000000ull

/* ---- physical pages --------------------------------------------------- */

/* Collect the free RAM from the multiboot memory map (or mem_upper): usable
 * ranges above the first MiB, minus the image, the multiboot information
 * (with its command line, memory map and modules), below the identity-map
 * limit (64-bit flavour: 1 GiB; 32-bit: 4 GiB).  Called once, before any
 * other page_* call (a second call panics).  Once a guest enables its own
 * paging it must identity-map [0, page_ram_end()): frames are zeroed, and
 * tables built, through their physical addresses. */
void page_init(void);
/* A zeroed frame, or 0 when memory is exhausted. */
uint64_t page_try_alloc(void);
/* A zeroed frame; panics (with the count in use) when memory is exhausted. */
uint64_t page_alloc(void);
/* Panics unless pa is a frame page_alloc handed out and not freed since. */
void page_free(uint64_t pa);
/* Frames free now / handed out now. */
uint64_t page_free_count(void);
uint64_t page_used_count(void);
/* The highest physical address + 1 of the RAM the allocator manages. */
uint64_t page_ram_end(void);

static inline void *page_ptr(uint64_t pa)
{
	return (void *)(uintptr_t)pa;
}

/* ---- page tables -------------------------------------------------------- */

enum pt_mode {
	PT_MODE_32,    /* 4-byte entries, 2 levels, 4 MiB pages with CR4.PSE */
	PT_MODE_PAE,   /* 8-byte entries, PDPT + 2 levels, 2 MiB pages */
	PT_MODE_LONG4, /* 4 levels, 2 MiB and 1 GiB pages */
	PT_MODE_LONG5, /* 5 levels (CR4.LA57) */
};

/* Levels are numbered as the walker does: 1 = the 4 KiB page table, 2 =
 * the directory, up to pt_levels(mode) = the root (PAE: 3 = the PDPT). */
struct pt {
	enum pt_mode mode;
	uint64_t root; /* physical address of the root table: CR3's address */
};

unsigned pt_levels(enum pt_mode mode);
/* Bytes per entry (4 or 8) and entries per table (1024, 512; PAE PDPT 4). */
unsigned pt_entry_size(enum pt_mode mode);
unsigned pt_entries(enum pt_mode mode, unsigned level);
/* Bytes one entry at this level covers (level 1: 4 KiB). */
uint64_t pt_level_span(enum pt_mode mode, unsigned level);

/* Allocate an empty root; false when out of memory. */
bool pt_init(struct pt *pt, enum pt_mode mode);

/*
 * Map [va, va + size) to pa with one leaf of that size (4 KiB, 2 MiB, 4 MiB
 * or 1 GiB, as the mode allows; va and pa aligned to it).  flags are the
 * leaf's X86_PTE_* bits besides the address, X86_PTE_P included (PS is
 * added for large leaves); they must not touch the address bits.  Missing
 * tables on the way are allocated, and their entries get P | RW | US so
 * the leaf decides the access; PAE PDPTEs get P only.  Returns false when
 * out of memory, when a large leaf already covers va at a higher level, or
 * when the arguments do not fit the mode (size, alignment, va beyond 4 GiB
 * or non-canonical, pa beyond 4 GiB for a 32-bit 4 KiB leaf or 1 TiB for a
 * PSE-36 one, 1 GiB without cpu_has_1g()).  An existing leaf at the same
 * place is replaced; a table there is freed (its tables, not the frames).
 */
bool pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size,
	    uint64_t flags);
/* Map [va, va + len) to [pa, pa + len) with the largest leaves that fit
 * (all 4 KiB aligned); on false, what was mapped before the failure stays. */
bool pt_map_range(struct pt *pt, uint64_t va, uint64_t pa, uint64_t len,
		  uint64_t flags);

/*
 * The entry for va at `level`, or NULL when a table on the way is missing
 * (not present) or a large leaf ends the walk above `level`.  With create,
 * missing tables are allocated as pt_map does (NULL only when out of
 * memory or blocked by a large leaf).  The pointer is to the entry in
 * memory: 4 bytes wide in PT_MODE_32, 8 otherwise; use pte_read/pte_write.
 */
void *pt_entry(struct pt *pt, uint64_t va, unsigned level, bool create);
uint64_t pte_read(const struct pt *pt, const void *entry);
void pte_write(const struct pt *pt, void *entry, uint64_t value);

/* Entry `index` of the table at physical address `table` (a pointer for
 * pte_read/pte_write). */
void *pt_slot(const struct pt *pt, uint64_t table, unsigned index);
/* Does this present entry at `level` map a page (level 1, or PS where the
 * mode allows a large leaf) rather than point at a table? */
bool pte_is_leaf(const struct pt *pt, uint64_t entry, unsigned level);

/* Physical address an entry points to (table or frame; large leaves
 * included, PSE-36 decoded in PT_MODE_32). */
uint64_t pte_addr(const struct pt *pt, uint64_t entry, unsigned level);

/* Translate va like the CPU would ignoring permissions: *pa and the leaf's
 * level; false when not mapped. */
bool pt_translate(struct pt *pt, uint64_t va, uint64_t *pa, unsigned *level);

/* Remove the leaf mapping va (any size); false if none.  The caller
 * flushes the TLB (invlpg or CR3). */
bool pt_unmap(struct pt *pt, uint64_t va);

/*
 * Free every table page of the tree below the root and the root itself
 * (never the frames the leaves map).  Entries in `shared_from`..`shared_to`
 * of the root (inclusive, root indexes) are tables shared with other trees
 * (e.g. the kernel half) and are left alone; pass an empty range (from >
 * to) to free everything.
 */
void pt_free(struct pt *pt, unsigned shared_from, unsigned shared_to);

/* Make pt the current address space: the CR3 value for it (PCD/PWT clear;
 * pcid in bits 11:0 when CR4.PCIDE is in use). */
uint64_t pt_cr3(const struct pt *pt, uint16_t pcid);

/*
 * Enter the paging mode of pt with pt as the address space, from any
 * state this library boots in: 32-bit flavour from paging off (or from
 * another 32-bit/PAE mode: paging is turned off and on again); 64-bit
 * flavour from long mode with 4 or 5 levels (paging_reenter when LA57
 * changes).  CR4's mode bits (PSE, PAE, LA57) are set for the mode, the
 * others kept, and cr4_extra bits (PGE, SMEP, ...) are ORed in; EFER.NXE
 * is set when the CPU has NX (so X86_PTE_NX works).  The code, stack,
 * descriptor tables and pt's own tables must be identity-mapped by pt
 * (LA57 changes: below 4 GiB).  Returns false
 * when the CPU lacks the mode (PT_MODE_LONG5 without LA57, or a 64-bit mode
 * in the 32-bit flavour and vice versa).
 */
bool pt_activate(const struct pt *pt, unsigned long cr4_extra);

/* Does this CPU offer 5-level paging / PCID / protection keys / SMEP /
 * SMAP / 1 GiB pages / NX (CPUID)? */
bool cpu_has_la57(void);
bool cpu_has_pcid(void);
bool cpu_has_pku(void);
bool cpu_has_smep(void);
bool cpu_has_smap(void);
bool cpu_has_1g(void);
bool cpu_has_nx(void);

#endif
