/*
 * The page allocator: frames are page aligned, distinct, zeroed (also
 * when they come back after being dirtied and freed), never inside the
 * image, the multiboot information or the first MiB; allocation runs dry
 * exactly after page_free_count() frames; freeing restores the counts.
 */
#include "libcheck.h"
#include "mm.h"

#define SAMPLE    8
#define DIRT      0xA5
#define FIRST_MIB 0x100000ull

static bool page_is_zero(uint64_t pa)
{
	const uint64_t *p = page_ptr(pa);

	for (unsigned i = 0; i < PAGE_SIZE / sizeof(*p); i++)
		if (p[i])
			return false;
	return true;
}

/* Is the frame somewhere the allocator must never hand out? */
static bool forbidden(uint64_t pa)
{
	uint64_t mb = mb_info_addr & ~(SIZE_4K - 1);

	return pa < FIRST_MIB || pa >= page_ram_end() || (pa & (SIZE_4K - 1)) ||
	       pa == mb || (pa + SIZE_4K > (uintptr_t)__image_start &&
			     pa < (uintptr_t)__image_end);
}

static bool in_sample(const uint64_t *s, uint64_t pa)
{
	for (unsigned i = 0; i < SAMPLE; i++)
		if (s[i] == pa)
			return true;
	return false;
}

/* Allocate every free frame (chained through their first word), check
 * each, free them all; returns how many there were. */
static uint64_t drain(const uint64_t *dirty)
{
	uint64_t head = 0, n = 0, pa, bad_place = 0, not_zero = 0;

	while ((pa = page_try_alloc()) != 0) {
		bad_place += forbidden(pa);
		not_zero += in_sample(dirty, pa) && !page_is_zero(pa);
		*(uint64_t *)page_ptr(pa) = head;
		head = pa;
		n++;
	}
	CHECK(page_free_count() == 0, "free count %llu when dry",
	      (unsigned long long)page_free_count());
	CHECK(page_used_count() == n, "used %llu after %llu allocations",
	      (unsigned long long)page_used_count(), (unsigned long long)n);
	CHECK(bad_place == 0, "%llu frames in forbidden places",
	      (unsigned long long)bad_place);
	CHECK(not_zero == 0, "%llu reused frames not zeroed",
	      (unsigned long long)not_zero);
	while (head) {
		pa = head;
		head = *(uint64_t *)page_ptr(pa);
		page_free(pa);
	}
	return n;
}

void check_pages(void)
{
	int before = failures;
	uint64_t s[SAMPLE], free0;

	page_init();
	free0 = page_free_count();
	CHECK(free0 > SAMPLE && page_used_count() == 0,
	      "after page_init: free %llu used %llu",
	      (unsigned long long)free0, (unsigned long long)page_used_count());
	for (unsigned i = 0; i < SAMPLE; i++) {
		s[i] = page_alloc();
		CHECK(!forbidden(s[i]), "frame %#llx", (unsigned long long)s[i]);
		CHECK(page_is_zero(s[i]), "frame %#llx not zeroed",
		      (unsigned long long)s[i]);
		for (unsigned j = 0; j < i; j++)
			CHECK(s[j] != s[i], "frame %#llx handed out twice",
			      (unsigned long long)s[i]);
		memset(page_ptr(s[i]), DIRT, PAGE_SIZE);
	}
	CHECK(page_free_count() == free0 - SAMPLE && page_used_count() == SAMPLE,
	      "after %u allocations: free %llu used %llu", SAMPLE,
	      (unsigned long long)page_free_count(),
	      (unsigned long long)page_used_count());
	for (unsigned i = 0; i < SAMPLE; i++)
		page_free(s[i]);
	CHECK(page_free_count() == free0 && page_used_count() == 0,
	      "after freeing: free %llu used %llu",
	      (unsigned long long)page_free_count(),
	      (unsigned long long)page_used_count());

	CHECK(drain(s) == free0, "ran dry after a different count than %llu",
	      (unsigned long long)free0);
	CHECK(page_free_count() == free0 && page_used_count() == 0,
	      "after the drain: free %llu used %llu",
	      (unsigned long long)page_free_count(),
	      (unsigned long long)page_used_count());
	kprintf("libcheck: pages: alloc/free counts, zeroed frames, placement, "
		"exhaustion: %s\n", verdict(before));
}
