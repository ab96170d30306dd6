/*
 * The physical page allocator: two bitmaps over every frame below
 * PAGE_LIMIT, one of the frames free now and one of the frames handed out,
 * so that page_free() catches double frees and frames it never gave.
 * Allocation takes the lowest free frame; a hint (every bitmap word below
 * it is empty) keeps that from rescanning the bottom each time.
 */
#include "guest.h"
#include "mm.h"
#include "multiboot.h"

#ifdef __x86_64__
/* boot64.S identity-maps the first GiB: the kernel reaches nothing above. */
#define PAGE_LIMIT SIZE_1G
#else
/* Paging off: physical = linear, and linear addresses stop at 4 GiB. */
#define PAGE_LIMIT (4 * SIZE_1G)
#endif
#define LOW_MEMORY_END 0x100000ull /* BIOS data, VGA, ROMs: never handed out */
#define NFRAMES        (PAGE_LIMIT / SIZE_4K)
#define WORD_BITS      32u
#define NWORDS         (NFRAMES / WORD_BITS)

static uint32_t free_map[NWORDS];  /* bit set: the frame is free */
static uint32_t alloc_map[NWORDS]; /* bit set: the frame is handed out */
static uint64_t nfree, nused, ram_end;
static uint32_t hint; /* free_map[i] == 0 for every i < hint */
static bool initialized;

static uint64_t align_down(uint64_t a)
{
	return a & ~(SIZE_4K - 1);
}

static uint64_t align_up(uint64_t a)
{
	return align_down(a + SIZE_4K - 1);
}

static uint64_t clip(uint64_t a)
{
	return a < LOW_MEMORY_END ? LOW_MEMORY_END : a > PAGE_LIMIT ? PAGE_LIMIT : a;
}

static bool test_bit(const uint32_t *map, uint64_t frame)
{
	return map[frame / WORD_BITS] >> (frame % WORD_BITS) & 1;
}

static void set_bit(uint32_t *map, uint64_t frame)
{
	map[frame / WORD_BITS] |= 1u << (frame % WORD_BITS);
}

static void clear_bit(uint32_t *map, uint64_t frame)
{
	map[frame / WORD_BITS] &= ~(1u << (frame % WORD_BITS));
}

/* Usable RAM [base, base + len): its whole frames become free. */
static void add_ram(uint64_t base, uint64_t len)
{
	uint64_t start = align_up(clip(base)), end = align_down(clip(base + len));

	for (uint64_t pa = start; pa < end; pa += SIZE_4K) {
		if (!test_bit(free_map, pa / SIZE_4K)) {
			set_bit(free_map, pa / SIZE_4K);
			nfree++;
		}
	}
	if (start < end && end > ram_end)
		ram_end = end;
}

/* [base, base + len) is in use (image, boot information): every frame it
 * touches stops being free. */
static void reserve(uint64_t base, uint64_t len)
{
	uint64_t start = align_down(clip(base)), end = align_up(clip(base + len));

	for (uint64_t pa = start; pa < end; pa += SIZE_4K) {
		if (test_bit(free_map, pa / SIZE_4K)) {
			clear_bit(free_map, pa / SIZE_4K);
			nfree--;
		}
	}
}

static void add_memory_map(const struct mb_info *mb)
{
	if (mb->flags & MB_INFO_MMAP) {
		for (uint32_t off = 0; off < mb->mmap_length;) {
			const struct mb_mmap_entry *e =
				(const void *)(uintptr_t)(mb->mmap_addr + off);

			if (e->type == MB_MMAP_AVAILABLE)
				add_ram(e->base, e->len);
			off += e->size + sizeof(e->size);
		}
	} else if (mb->flags & MB_INFO_MEMORY) {
		add_ram(LOW_MEMORY_END, (uint64_t)mb->mem_upper << 10);
	} else {
		panic("page_init: the multiboot information has no memory size");
	}
}

static void reserve_string(uint32_t pa)
{
	reserve(pa, strlen((const char *)(uintptr_t)pa) + 1);
}

static void reserve_boot_data(const struct mb_info *mb)
{
	reserve((uintptr_t)__image_start,
		(uintptr_t)__image_end - (uintptr_t)__image_start);
	reserve(mb_info_addr, sizeof(*mb));
	if (mb->flags & MB_INFO_CMDLINE)
		reserve_string(mb->cmdline);
	if (mb->flags & MB_INFO_MMAP)
		reserve(mb->mmap_addr, mb->mmap_length);
	if (mb->flags & MB_INFO_MODS) {
		const struct mb_module *m = (const void *)(uintptr_t)mb->mods_addr;

		reserve(mb->mods_addr, mb->mods_count * sizeof(*m));
		for (uint32_t i = 0; i < mb->mods_count; i++) {
			reserve(m[i].start, m[i].end - m[i].start);
			if (m[i].string)
				reserve_string(m[i].string);
		}
	}
}

void page_init(void)
{
	const struct mb_info *mb = (const struct mb_info *)(uintptr_t)mb_info_addr;

	if (initialized)
		panic("page_init called twice");
	initialized = true;
	add_memory_map(mb);
	reserve_boot_data(mb);
}

uint64_t page_try_alloc(void)
{
	uint64_t frame, pa;

	while (hint < NWORDS && free_map[hint] == 0)
		hint++;
	if (hint == NWORDS)
		return 0;
	frame = (uint64_t)hint * WORD_BITS + (unsigned)__builtin_ctz(free_map[hint]);
	clear_bit(free_map, frame);
	set_bit(alloc_map, frame);
	nfree--;
	nused++;
	pa = frame * SIZE_4K;
	memset(page_ptr(pa), 0, PAGE_SIZE);
	return pa;
}

uint64_t page_alloc(void)
{
	uint64_t pa = page_try_alloc();

	if (!pa)
		panic("page_alloc: out of memory, %llu frames in use",
		      (unsigned long long)nused);
	return pa;
}

void page_free(uint64_t pa)
{
	uint64_t frame = pa / SIZE_4K;

	if ((pa & (SIZE_4K - 1)) || pa >= PAGE_LIMIT || !test_bit(alloc_map, frame))
		panic("page_free(%#llx): not a frame page_alloc handed out",
		      (unsigned long long)pa);
	clear_bit(alloc_map, frame);
	set_bit(free_map, frame);
	nused--;
	nfree++;
	if (frame / WORD_BITS < hint)
		hint = (uint32_t)(frame / WORD_BITS);
}

uint64_t page_free_count(void)
{
	return nfree;
}

uint64_t page_used_count(void)
{
	return nused;
}

uint64_t page_ram_end(void)
{
	return ram_end;
}
