/*
 * A flat, hosted guest-physical memory for tests: a byte array that starts at
 * guest-physical address 0, exposed to the walker as a struct umbra_gmem,
 * with a bump allocator for page-table pages.  Addresses outside the array
 * read as unbacked, so tests can aim entries at missing memory.
 */
#ifndef UMBRA_TESTMEM_H
#define UMBRA_TESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umbra/walk.h"

struct testmem {
	uint8_t *bytes;
	uint64_t size;      /* bytes backed, from gpa 0 */
	uint64_t next_free; /* bump allocator for testmem_alloc_page() */
	uint64_t writes;    /* cmpxchg stores that succeeded */
};

/* Allocate `size` bytes of zeroed guest memory (a multiple of 4 KiB);
 * page allocation starts at `alloc_base`. */
void testmem_init(struct testmem *m, uint64_t size, uint64_t alloc_base);
void testmem_free(struct testmem *m);
/* Zero all memory and restart page allocation at alloc_base. */
void testmem_reset(struct testmem *m, uint64_t alloc_base);

/* A zeroed 4 KiB page; aborts the test program when memory runs out. */
uint64_t testmem_alloc_page(struct testmem *m);

uint64_t testmem_read(const struct testmem *m, uint64_t gpa, unsigned size);
void testmem_write(struct testmem *m, uint64_t gpa, unsigned size,
		   uint64_t val);

/* Entry `index` of the table at `table_gpa`, with entries of `size` bytes. */
void testmem_set_entry(struct testmem *m, uint64_t table_gpa, unsigned index,
		       unsigned size, uint64_t val);
uint64_t testmem_get_entry(const struct testmem *m, uint64_t table_gpa,
			   unsigned index, unsigned size);

/* The walker's view of this memory. */
struct umbra_gmem testmem_gmem(struct testmem *m);

#endif
