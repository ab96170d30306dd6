#include "testmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umbra/x86.h"

void testmem_init(struct testmem *m, uint64_t size, uint64_t alloc_base)
{
	m->bytes = calloc(1, size);
	if (!m->bytes) {
		fprintf(stderr, "testmem: cannot allocate %llu bytes\n",
			(unsigned long long)size);
		abort();
	}
	m->size = size;
	m->next_free = alloc_base;
	m->writes = 0;
}

void testmem_free(struct testmem *m)
{
	free(m->bytes);
	m->bytes = NULL;
	m->size = 0;
}

void testmem_reset(struct testmem *m, uint64_t alloc_base)
{
	memset(m->bytes, 0, m->size);
	m->next_free = alloc_base;
	m->writes = 0;
}

uint64_t testmem_alloc_page(struct testmem *m)
{
	uint64_t gpa = m->next_free;

	if (gpa + X86_PAGE_SIZE_4K > m->size) {
		fprintf(stderr, "testmem: out of guest memory at %#llx\n",
			(unsigned long long)gpa);
		abort();
	}
	m->next_free += X86_PAGE_SIZE_4K;
	memset(m->bytes + gpa, 0, X86_PAGE_SIZE_4K);
	return gpa;
}

static bool in_range(const struct testmem *m, uint64_t gpa, unsigned size)
{
	return gpa < m->size && size <= m->size - gpa;
}

uint64_t testmem_read(const struct testmem *m, uint64_t gpa, unsigned size)
{
	uint64_t val = 0;

	if (!in_range(m, gpa, size)) {
		fprintf(stderr, "testmem: read outside memory at %#llx\n",
			(unsigned long long)gpa);
		abort();
	}
	memcpy(&val, m->bytes + gpa, size); /* little-endian host */
	return val;
}

void testmem_write(struct testmem *m, uint64_t gpa, unsigned size,
		   uint64_t val)
{
	if (!in_range(m, gpa, size)) {
		fprintf(stderr, "testmem: write outside memory at %#llx\n",
			(unsigned long long)gpa);
		abort();
	}
	memcpy(m->bytes + gpa, &val, size);
}

void testmem_set_entry(struct testmem *m, uint64_t table_gpa, unsigned index,
		       unsigned size, uint64_t val)
{
	testmem_write(m, table_gpa + (uint64_t)index * size, size, val);
}

uint64_t testmem_get_entry(const struct testmem *m, uint64_t table_gpa,
			   unsigned index, unsigned size)
{
	return testmem_read(m, table_gpa + (uint64_t)index * size, size);
}

static bool gmem_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	const struct testmem *m = ctx;

	if (!in_range(m, gpa, size))
		return false;
	*val = 0;
	memcpy(val, m->bytes + gpa, size);
	return true;
}

static bool gmem_cmpxchg(void *ctx, uint64_t gpa, unsigned size, uint64_t old,
			 uint64_t new_val)
{
	struct testmem *m = ctx;
	uint64_t cur;

	if (!gmem_read(ctx, gpa, size, &cur) || cur != old)
		return false;
	memcpy(m->bytes + gpa, &new_val, size);
	m->writes++;
	return true;
}

struct umbra_gmem testmem_gmem(struct testmem *m)
{
	struct umbra_gmem g = {
		.read = gmem_read, .cmpxchg = gmem_cmpxchg, .ctx = m,
	};
	return g;
}
