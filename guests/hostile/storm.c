/*
 * Phase "storm": thousands of writes to a live page table (the window's,
 * reachable from CR3) and its directory entry: whole entries, P and RW
 * toggles, single-byte stores to the flags byte, a read-modify-write of the
 * address byte (the entry moves to the neighbouring frame), rewrites of
 * the same value, the directory entry's P bit.  Each write is followed by
 * INVLPG (CR3 reload for the directory), and after every batch the touched
 * slots and a few others are read and written: the result must be what the
 * entries in memory say, nothing older.
 *
 * Argument: storm=N, the number of table writes (default 6000).
 */
#include "hostile.h"

#define STORM_SLOTS   64u
#define STORM_BATCH   8u
#define STORM_EXTRA   2u  /* untouched slots checked per batch */
#define STORM_SEED    0x5eed57u
#define FRAME_BIT_12  0x10u /* bit 12 of an entry, in its second byte */
#define FLAG_BITS     (X86_PTE_P | X86_PTE_RW)

enum storm_op {
	OP_ENTRY,      /* a whole new entry: frame and P/RW at random */
	OP_TOGGLE_P,
	OP_TOGGLE_RW,
	OP_FLAGS_BYTE, /* one byte: the flags */
	OP_FRAME_BYTE, /* XOR on one byte: the frame's bit 12 */
	OP_SAME,       /* the value it already has */
	OP_DIRECTORY,  /* P of the window's directory entry */
	OP_COUNT
};

struct storm {
	struct hctx *h;
	void *pde;
	uint32_t rng;
	unsigned writes, bytes, dirs, reads, faults, stores, wrong;
};

static void *slot_pte(struct storm *st, unsigned slot)
{
	return window_pte(st->h, slot);
}

static uint64_t random_entry(struct storm *st)
{
	uint32_t r = rng_next(&st->rng);
	uint64_t flags = (r & 3u) ? X86_PTE_P : 0; /* present 3 times in 4 */

	if (r & 4u)
		flags |= X86_PTE_RW;
	return pattern_frame[(r >> 8) % PATTERN_FRAMES] | flags;
}

static void storm_write(struct storm *st, unsigned slot, enum storm_op op)
{
	struct pt *pt = &st->h->pt;
	void *e = slot_pte(st, slot);
	uint64_t v = pte_read(pt, e);
	volatile uint8_t *b = e;

	st->writes++;
	switch (op) {
	case OP_ENTRY:
		pte_write(pt, e, random_entry(st));
		break;
	case OP_TOGGLE_P:
		pte_write(pt, e, v ^ X86_PTE_P);
		break;
	case OP_TOGGLE_RW:
		pte_write(pt, e, v ^ X86_PTE_RW);
		break;
	case OP_FLAGS_BYTE:
		b[0] = (uint8_t)((v & ~(uint64_t)FLAG_BITS) |
				 (rng_next(&st->rng) & FLAG_BITS));
		st->bytes++;
		break;
	case OP_FRAME_BYTE:
		b[1] ^= FRAME_BIT_12;
		st->bytes++;
		break;
	case OP_SAME:
		pte_write(pt, e, v);
		break;
	case OP_DIRECTORY:
		pte_write(pt, st->pde, pte_read(pt, st->pde) ^ X86_PTE_P);
		st->dirs++;
		flush_all();
		return;
	case OP_COUNT:
		break;
	}
	invlpg(window_va(slot));
}

static bool is_pattern_frame(uint64_t frame)
{
	for (unsigned i = 0; i < PATTERN_FRAMES; i++)
		if (pattern_frame[i] == frame)
			return true;
	return false;
}

/* Read slot; write it when it maps a pattern frame; compare with memory. */
static void storm_check(struct storm *st, unsigned slot)
{
	struct pt *pt = &st->h->pt;
	uint64_t pte = pte_read(pt, slot_pte(st, slot));
	bool present = (pte_read(pt, st->pde) & X86_PTE_P) && (pte & X86_PTE_P);
	uint64_t frame = pte_addr(pt, pte, 1);
	unsigned off = (slot * sizeof(uint32_t)) % PAGE_SIZE;
	uintptr_t va = window_va(slot) + off;
	volatile uint32_t *own = page_ptr(frame + off);
	struct outcome o = load32(va);
	bool ok;

	if (!present) {
		st->faults++;
		ok = o.vector == X86_VEC_PF && o.cr2_ok && o.error == 0;
	} else {
		st->reads++;
		ok = o.vector == TRAP_NONE && o.value == *own;
	}
	if (present && is_pattern_frame(frame)) {
		uint32_t mark = ~pattern_word(frame + off);

		o = store32(va, mark);
		if (pte & X86_PTE_RW) {
			st->stores++;
			ok &= o.vector == TRAP_NONE && *own == mark;
		} else {
			st->faults++;
			ok &= o.vector == X86_VEC_PF && o.cr2_ok &&
			      o.error == (X86_PFEC_P | X86_PFEC_W);
		}
		*own = pattern_word(frame + off);
	}
	if (!check(st->h, ok, "slot %u (entry %llx) after %u writes", slot,
		   (unsigned long long)pte, st->writes))
		st->wrong++;
}

void phase_storm(struct hctx *h)
{
	struct storm st = { .h = h, .rng = STORM_SEED };
	unsigned total = (unsigned)cmdline_get_u64("storm", 6000);
	unsigned long cr0 = read_cr0();
	unsigned touched[STORM_BATCH];

	/* Supervisor writes must honour RW. */
	write_cr0(cr0 | X86_CR0_WP);
	st.pde = pt_entry(&h->pt, WINDOW_VA, 2, false);
	for (unsigned s = 0; s < STORM_SLOTS; s++)
		pte_write(&h->pt, slot_pte(&st, s),
			  pattern_frame[s % PATTERN_FRAMES] | FLAG_BITS);
	flush_all();
	while (st.writes < total) {
		for (unsigned i = 0; i < STORM_BATCH; i++) {
			uint32_t r = rng_next(&st.rng);

			touched[i] = r % STORM_SLOTS;
			storm_write(&st, touched[i], (enum storm_op)((r >> 8) % OP_COUNT));
		}
		for (unsigned i = 0; i < STORM_BATCH; i++)
			storm_check(&st, touched[i]);
		for (unsigned i = 0; i < STORM_EXTRA; i++)
			storm_check(&st, rng_next(&st.rng) % STORM_SLOTS);
	}
	pte_write(&h->pt, st.pde, pte_read(&h->pt, st.pde) | X86_PTE_P);
	flush_all();
	write_cr0(cr0);
	kprintf("hostile: %s: storm: %u table writes (%u single bytes, %u directory toggles); %u reads gave data, %u accesses faulted, %u writes landed, %u wrong\n",
		h->name, st.writes, st.bytes, st.dirs, st.reads, st.faults,
		st.stores, st.wrong);
}
