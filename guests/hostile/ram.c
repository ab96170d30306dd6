/*
 * Phase "ram": every free frame gets a known pattern, then window PTEs are
 * pointed at frames all over guest RAM, the guest's image at 1 MiB (where
 * Umbra itself lives in host memory) and the firmware areas included.
 * Whatever a PTE names, the guest must read its own memory: the same words
 * as through the identity map, and the pattern where it wrote one.  A
 * shadow MMU that mapped a guest frame to the wrong host frame (the host's
 * own memory, another guest frame) would show here.
 */
#include "hostile.h"

#define SCAN_STRIDE   4u  /* read every 4th frame of RAM */
#define SCAN_WORDS    4u  /* words compared per frame */
#define GOLDEN        0x9E3779B1u
#define PATTERN_SALT  0xA5C3F00Du
#define SCAN_LIMIT    SIZE_1G /* the 64-bit flavour's allocator limit */
#define FRAME_BITS    32u

uint64_t pattern_frame[PATTERN_FRAMES];
static uint32_t filled[SCAN_LIMIT / SIZE_4K / FRAME_BITS];

uint32_t pattern_word(uint64_t pa)
{
	return (uint32_t)(pa >> 2) * GOLDEN ^ PATTERN_SALT;
}

static void pattern_fill(uint64_t frame)
{
	uint32_t *w = page_ptr(frame);

	for (unsigned i = 0; i < PAGE_WORDS; i++)
		w[i] = pattern_word(frame + i * sizeof(uint32_t));
}

static bool is_filled(uint64_t frame)
{
	uint64_t n = frame / SIZE_4K;

	return n / FRAME_BITS < sizeof(filled) / sizeof(filled[0]) &&
	       (filled[n / FRAME_BITS] >> (n % FRAME_BITS) & 1);
}

static void set_filled(uint64_t frame, bool on)
{
	uint64_t n = frame / SIZE_4K;
	uint32_t bit = 1u << (n % FRAME_BITS);

	if (on)
		filled[n / FRAME_BITS] |= bit;
	else
		filled[n / FRAME_BITS] &= ~bit;
}

/* Take every free frame and fill it; the first PATTERN_FRAMES stay. */
static void fill_free_ram(void)
{
	uint64_t f;
	unsigned kept = 0;

	for (unsigned i = 0; i < PATTERN_FRAMES; i++)
		if (pattern_frame[i])
			page_free(pattern_frame[i]);
	memset(filled, 0, sizeof(filled));
	while ((f = page_try_alloc()) != 0) {
		pattern_fill(f);
		if (f < SCAN_LIMIT)
			set_filled(f, true);
		if (kept < PATTERN_FRAMES)
			pattern_frame[kept++] = f;
	}
	if (kept < PATTERN_FRAMES)
		panic("ram: only %u free frames", kept);
}

/* Give back every filled frame but the pattern frames. */
static void free_filled(uint64_t end)
{
	for (unsigned i = 0; i < PATTERN_FRAMES; i++)
		set_filled(pattern_frame[i], false);
	for (uint64_t f = 0; f < end; f += SIZE_4K)
		if (is_filled(f)) {
			set_filled(f, false);
			page_free(f);
		}
}

/* The word offset read in frame number n, k-th of SCAN_WORDS: spread over
 * the page, different for neighbouring frames. */
static unsigned scan_offset(uint64_t n, unsigned k)
{
	return (unsigned)((k * (PAGE_SIZE / SCAN_WORDS) + n * sizeof(uint32_t)) %
			  PAGE_SIZE);
}

/* Compare the frames the window slots 0..count-1 map (frame[i]). */
static void compare_batch(struct hctx *h, const uint64_t *frame,
			  unsigned count, unsigned *bad)
{
	for (unsigned i = 0; i < count; i++) {
		bool ok = true;

		for (unsigned k = 0; k < SCAN_WORDS; k++) {
			unsigned off = scan_offset(frame[i] / SIZE_4K, k);
			uint32_t got = *(volatile uint32_t *)(window_va(i) + off);
			uint32_t own = *(volatile uint32_t *)page_ptr(frame[i] + off);

			ok &= got == own;
			if (is_filled(frame[i]))
				ok &= got == pattern_word(frame[i] + off);
		}
		if (!check(h, ok, "frame %llx read through a window PTE differs",
			   (unsigned long long)frame[i]))
			(*bad)++;
	}
}

void phase_ram(struct hctx *h)
{
	uint64_t end = h->ram_end < SCAN_LIMIT ? h->ram_end : SCAN_LIMIT;
	uint64_t frame[WINDOW_SLOTS];
	unsigned count = 0, scanned = 0, bad = 0;

	fill_free_ram();
	for (uint64_t f = 0; f < end; f += SCAN_STRIDE * SIZE_4K) {
		/* Rewrite a batch of live PTEs, then one flush for all. */
		pte_write(&h->pt, window_pte(h, count),
			  f | X86_PTE_P | X86_PTE_RW);
		frame[count++] = f;
		if (count == WINDOW_SLOTS || f + SCAN_STRIDE * SIZE_4K >= end) {
			flush_all();
			compare_batch(h, frame, count, &bad);
			scanned += count;
			count = 0;
		}
	}
	free_filled(end);
	kprintf("hostile: %s: ram: %u frames of [0, %llx) read through window PTEs, %u differ\n",
		h->name, scanned, (unsigned long long)end, bad);
}
