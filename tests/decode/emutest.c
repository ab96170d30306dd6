/* The emulator test machine (see emutest.h). */
#include "emutest.h"

#include <string.h>

static struct emt_page *page_of(struct emt *m, uint64_t la)
{
	uint64_t pa = la & ~4095ull;
	for (unsigned i = 0; i < EMT_PAGES; i++)
		if (m->pages[i].la == pa)
			return &m->pages[i];
	return NULL;
}

uint8_t *emt_map(struct emt *m, uint64_t la, bool readonly)
{
	struct emt_page *p = page_of(m, la);
	for (unsigned i = 0; !p && i < EMT_PAGES; i++)
		if (m->pages[i].la == ~0ull)
			p = &m->pages[i];
	if (!p)
		return NULL;
	p->la = la & ~4095ull;
	p->readonly = readonly;
	memset(p->data, 0, sizeof(p->data));
	return p->data;
}

void emt_unmap(struct emt *m, uint64_t la)
{
	struct emt_page *p = page_of(m, la);
	if (p)
		p->la = ~0ull;
}

static void log_access(struct emt *m, char kind, uint64_t la, unsigned size)
{
	if (m->n_log < EMT_LOG)
		m->log[m->n_log++] = (struct emt_access){ kind, la, size };
}

/*
 * Check every byte of [la, la + size) is mapped (and writable for writes)
 * before touching any, as the CPU does; fill a #PF for the first byte that
 * is not: P when the page is present, W for writes, U at CPL 3.
 */
static int check(struct emt *m, uint64_t la, unsigned size, bool write,
		 bool fetch, struct x86_fault *f)
{
	for (unsigned i = 0; i < size; i++) {
		struct emt_page *p = page_of(m, la + i);
		if (p && !(write && p->readonly))
			continue;
		f->vector = X86_EMU_VEC_PF;
		f->has_error_code = true;
		f->error_code = (p ? 1u : 0u) | (write ? 2u : 0u) |
				(m->regs.cpl == 3 ? 4u : 0u) | (fetch ? 16u : 0u);
		f->cr2 = la + i;
		return X86_EMU_FAULT;
	}
	return X86_EMU_DONE;
}

/* Copy page by page (unmapped bytes: writes dropped, reads 0xEE). */
void emt_poke(struct emt *m, uint64_t la, const void *buf, size_t n)
{
	const uint8_t *b = buf;
	while (n) {
		size_t off = la & 4095, k = 4096 - off < n ? 4096 - off : n;
		struct emt_page *p = page_of(m, la);
		if (p)
			memcpy(p->data + off, b, k);
		la += k;
		b += k;
		n -= k;
	}
}

void emt_peek(struct emt *m, uint64_t la, void *buf, size_t n)
{
	uint8_t *b = buf;
	while (n) {
		size_t off = la & 4095, k = 4096 - off < n ? 4096 - off : n;
		struct emt_page *p = page_of(m, la);
		if (p)
			memcpy(b, p->data + off, k);
		else
			memset(b, 0xEE, k);
		la += k;
		b += k;
		n -= k;
	}
}

void emt_poke64(struct emt *m, uint64_t la, uint64_t v, unsigned size)
{
	uint8_t b[8];
	for (unsigned i = 0; i < size; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	emt_poke(m, la, b, size);
}

uint64_t emt_peek64(struct emt *m, uint64_t la, unsigned size)
{
	uint8_t b[8];
	uint64_t v = 0;
	emt_peek(m, la, b, size);
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static int cb_read(void *opaque, uint64_t la, void *buf, unsigned size,
		   struct x86_fault *f)
{
	struct emt *m = opaque;
	log_access(m, 'r', la, size);
	int rc = check(m, la, size, false, false, f);
	if (!rc)
		emt_peek(m, la, buf, size);
	return rc;
}

static int cb_fetch(void *opaque, uint64_t la, void *buf, unsigned size,
		    struct x86_fault *f)
{
	struct emt *m = opaque;
	log_access(m, 'f', la, size);
	int rc = check(m, la, size, false, true, f);
	if (!rc)
		emt_peek(m, la, buf, size);
	return rc;
}

static int cb_write(void *opaque, uint64_t la, const void *buf, unsigned size,
		    struct x86_fault *f)
{
	struct emt *m = opaque;
	log_access(m, 'w', la, size);
	int rc = check(m, la, size, true, false, f);
	if (rc)
		return rc;
	emt_poke(m, la, buf, size);
	if (++m->n_writes == m->rep_stop_at)
		m->ctx.rep_stop = true;
	return rc;
}

static int cb_cmpxchg(void *opaque, uint64_t la, void *expected,
		      const void *desired, unsigned size, bool *swapped,
		      struct x86_fault *f)
{
	struct emt *m = opaque;
	log_access(m, 'x', la, size);
	int rc = check(m, la, size, true, false, f);
	if (rc)
		return rc;
	uint8_t cur[16] = { 0 };
	if (size > sizeof(cur))
		return X86_EMU_UNSUPPORTED;
	emt_peek(m, la, cur, size);
	if (m->interfere) {
		/* Someone else changed the memory since the emulator read it. */
		m->interfere--;
		cur[0] ^= 0x5A;
		emt_poke(m, la, cur, size);
	}
	*swapped = memcmp(cur, expected, size) == 0;
	if (*swapped)
		emt_poke(m, la, desired, size);
	memcpy(expected, cur, size);
	return X86_EMU_DONE;
}

static int cb_in(void *opaque, uint16_t port, unsigned size, uint32_t *value)
{
	struct emt *m = opaque;
	uint64_t mask = size == 4 ? 0xFFFFFFFFull : (1ull << (8 * size)) - 1;
	*value = (uint32_t)(m->port_in[port] & mask);
	m->port_in[port]++;
	return X86_EMU_DONE;
}

static int cb_out(void *opaque, uint16_t port, unsigned size, uint32_t value)
{
	struct emt *m = opaque;
	if (m->n_outs < EMT_LOG) {
		m->outs[m->n_outs].port = port;
		m->outs[m->n_outs].size = size;
		m->outs[m->n_outs].value = value;
		m->n_outs++;
	}
	return X86_EMU_DONE;
}

static int cb_write_cr(void *opaque, unsigned cr, uint64_t *value,
		       struct x86_fault *f)
{
	struct emt *m = opaque;
	if (m->cr_refuse) {
		f->vector = X86_EMU_VEC_GP;
		f->has_error_code = true;
		f->error_code = 0;
		return X86_EMU_FAULT;
	}
	*value |= m->cr_force_set;
	m->n_cr_writes++;
	m->last_cr = cr;
	m->last_cr_value = *value;
	return X86_EMU_DONE;
}

static void cb_invlpg(void *opaque, uint64_t la)
{
	struct emt *m = opaque;
	if (m->n_invlpg < EMT_LOG)
		m->invlpg[m->n_invlpg++] = la;
}

const struct x86_emu_ops emt_ops = {
	.read = cb_read, .write = cb_write, .cmpxchg = cb_cmpxchg,
	.fetch = cb_fetch, .io_in = cb_in, .io_out = cb_out,
	.write_cr = cb_write_cr, .invlpg = cb_invlpg,
};

const struct x86_emu_ops emt_ops_no_cmpxchg = {
	.read = cb_read, .write = cb_write, .cmpxchg = NULL,
	.fetch = cb_fetch, .io_in = cb_in, .io_out = cb_out,
	.write_cr = cb_write_cr, .invlpg = cb_invlpg,
};

static void init_common(struct emt *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < EMT_PAGES; i++)
		m->pages[i].la = ~0ull;
	m->use_cmpxchg = true;
	m->regs.rflags = 0x2;
}

/* A flat data segment: present, writable, accessed, S, 32-bit, 4 GiB. */
static struct x86_segment flat(uint16_t type, uint16_t extra)
{
	return (struct x86_segment){
		.selector = 0x10,
		.attr = (uint16_t)(type | X86_SEG_S | X86_SEG_P | extra),
		.limit = 0xFFFFFFFFu, .base = 0 };
}

void emt_init64(struct emt *m)
{
	init_common(m);
	emt_regs64(m);
}

void emt_regs64(struct emt *m)
{
	memset(&m->regs, 0, sizeof(m->regs));
	m->regs.rflags = 0x2;
	m->regs.cr0 = 0x80050033; /* PG WP NE ET MP PE */
	m->regs.cr4 = 0x20;       /* PAE */
	m->regs.efer = 0xD00;     /* NXE LMA LME */
	for (unsigned s = 0; s < 6; s++)
		m->regs.seg[s] = flat(3, X86_SEG_DB | X86_SEG_G);
	m->regs.seg[X86_CS] = flat(0xB, X86_SEG_L | X86_SEG_G);
	m->regs.rip = 0x400000;
}

void emt_init32(struct emt *m)
{
	init_common(m);
	m->regs.cr0 = 0x80000011; /* PG ET PE */
	for (unsigned s = 0; s < 6; s++)
		m->regs.seg[s] = flat(3, X86_SEG_DB | X86_SEG_G);
	m->regs.seg[X86_CS] = flat(0xB, X86_SEG_DB | X86_SEG_G);
	m->regs.rip = 0x400000;
}

void emt_init16(struct emt *m)
{
	init_common(m);
	m->regs.cr0 = 0x10;       /* real mode */
	for (unsigned s = 0; s < 6; s++) {
		m->regs.seg[s] = flat(3, 0);
		m->regs.seg[s].limit = 0xFFFF;
		m->regs.seg[s].selector = 0;
	}
	m->regs.seg[X86_CS].attr = X86_SEG_S | X86_SEG_P | 0xB;
	m->regs.rip = 0x7C00;
}

int emt_rerun(struct emt *m)
{
	return x86_emulate(&m->insn, &m->regs,
			   m->use_cmpxchg ? &emt_ops : &emt_ops_no_cmpxchg,
			   &m->ctx);
}

int emt_run(struct emt *m, const uint8_t *code, size_t len)
{
	m->decode_rc = x86_decode(code, len, x86_regs_mode(&m->regs), &m->insn);
	if (m->decode_rc)
		return -1;
	void *keep = m->ctx.opaque;
	uint64_t limit = m->ctx.rep_limit;
	bool chunks = m->ctx.rep_page_chunks;
	memset(&m->ctx, 0, sizeof(m->ctx));
	m->ctx.opaque = keep ? keep : m;
	m->ctx.rep_limit = limit;
	m->ctx.rep_page_chunks = chunks;
	m->n_log = 0;
	return emt_rerun(m);
}
