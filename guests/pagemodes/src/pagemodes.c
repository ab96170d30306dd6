/*
 * pagemodes: one deterministic paging workload, run in every paging mode of
 * the flavour with page tables the guest builds itself.
 *
 *   32-bit flavour: 32-bit paging (CR4.PSE: 4 KiB and 4 MiB pages), then
 *                   PAE (4 KiB and 2 MiB pages, EFER.NXE)
 *   64-bit flavour: 4-level paging, then 5-level (paging_reenter with
 *                   CR4.LA57) when CPUID 7.ECX[16] offers it
 *
 * Per mode: a few hundred 4 KiB pages with varied R/W, U/S, NX plus two
 * large pages; patterns written through one mapping and read back through
 * an alias; PTEs changed in place (remap, write-protect, unmap) with INVLPG
 * and with CR3 reloads; a second address space; CR0.WP; #PF vector, error
 * code and CR2 for not-present, write-protect, user-to-supervisor and NX
 * fetches (CPL 3 through run_user); A and D bits of leaf entries; a
 * checksum of the data.  One line per check; nothing printed depends on the
 * QEMU deviations in tests/conformance/DEVIATIONS.md (no reserved-bit
 * faults, no PDPTE values, no 1 GiB pages, no non-canonical accesses).
 *
 * With the argument pcid=1, PCID checks (pcid_checks): the 32-bit flavour
 * that CR4.PCIDE needs long mode, the 64-bit one (after 4-level paging)
 * CR3 with PCIDs and bit 63 and INVPCID.  They print different lines where
 * CPUID offers PCID (Umbra, which virtualizes it) and where it does not
 * (QEMU's TCG), so they are not part of the default, compared output.
 */
#include "guest.h"

#define PF_P   0x1u
#define PF_W   0x2u
#define PF_U   0x4u
#define PF_I   0x10u

#define E_P    0x1ull
#define E_RW   0x2ull
#define E_US   0x4ull
#define E_A    0x20ull
#define E_D    0x40ull
#define E_PS   0x80ull
#define E_NX   (1ull << 63)

#define CR0_WP (1ul << 16)
#define CR0_PG (1ul << 31)
#define CR4_PSE  (1ul << 4)
#define CR4_PAE  (1ul << 5)
#define CR4_LA57 (1ul << 12)
#define CR4_SMEP (1ul << 20)
#define CR4_SMAP (1ul << 21)
#define CR4_PKE  (1ul << 22)
#define CR4_PCIDE (1ul << 17)
#define MSR_EFER 0xC0000080u
#define EFER_NXE (1ull << 11)

#define PG      4096u
#define NPAGES  300u                  /* 4 KiB pages in region A and B */
#define IDMAP   (32u << 20)           /* identity-mapped low memory */

/* The data every mapping points into: 4 KiB pages from the start, large
 * pages from +4 MiB (4 MiB aligned for 32-bit paging). */
#define POOL_SIZE (12u << 20)
static uint8_t pool[POOL_SIZE] __attribute__((aligned(4 << 20)));
/* Page-table pages, handed out in order (never reused: the previous
 * mode's tables stay live while the next mode's are built). */
#define NTABLES 96
static uint8_t tables[NTABLES][PG] __attribute__((aligned(PG)));
static unsigned ntables;

static uint8_t user_stack[4096] USER_DATA;

/* The current mode. */
static const char *mname;
static int levels, esz, bits;
static bool pae_pdpt, nx;
static uint64_t lsz;                  /* large page size */
static uint64_t VA_A, VA_B, VA_K, VA_L, VA_H;
static uint32_t salt;
static unsigned checks, failures;

/* ---- output --------------------------------------------------------------- */
__attribute__((format(printf, 2, 3))) static void chk(bool ok, const char *fmt, ...)
{
	va_list ap;

	checks++;
	if (!ok)
		failures++;
	kprintf("pagemodes: %s: ", mname);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf(": %s\n", ok ? "ok" : "FAIL");
}

/* ---- page tables ---------------------------------------------------------- */
static uintptr_t tbl_alloc(void)
{
	if (ntables >= NTABLES)
		panic("pagemodes: out of page-table pages");
	memset(tables[ntables], 0, PG);
	return (uintptr_t)tables[ntables++];
}

static uint64_t eget(uintptr_t a)
{
	return esz == 4 ? *(volatile uint32_t *)a : *(volatile uint64_t *)a;
}

static void eset(uintptr_t a, uint64_t v)
{
	if (esz == 4) {
		*(volatile uint32_t *)a = (uint32_t)v;
	} else {
		/* Low half first: in the 32-bit flavour this is two stores. */
		*(volatile uint64_t *)a = v;
	}
}

static uint64_t addr_mask(void)
{
	return esz == 4 ? 0xfffff000ull : 0x000ffffffffff000ull;
}

static unsigned idx_at(uint64_t va, int level)
{
	if (pae_pdpt && level == 3)
		return (unsigned)(va >> 30) & 3;
	return (unsigned)(va >> (12 + (level - 1) * bits)) & ((1u << bits) - 1);
}

/* The address of the entry for va at level `leaf` (1: 4 KiB, 2: large),
 * creating the tables above it (permissive: leaves decide). */
static uintptr_t slot(uintptr_t root, uint64_t va, int leaf)
{
	uintptr_t t = root;

	for (int l = levels; l > leaf; l--) {
		uintptr_t a = t + idx_at(va, l) * esz;
		uint64_t e = eget(a);

		if (!(e & E_P)) {
			e = tbl_alloc() | E_P | ((pae_pdpt && l == 3) ? 0 : E_RW | E_US);
			eset(a, e);
		}
		t = (uintptr_t)(e & addr_mask());
	}
	return t + idx_at(va, leaf) * esz;
}

static void map4k(uintptr_t root, uint64_t va, uintptr_t pa, uint64_t fl)
{
	eset(slot(root, va, 1), pa | fl | E_P);
}

static void mapl(uintptr_t root, uint64_t va, uintptr_t pa, uint64_t fl)
{
	eset(slot(root, va, 2), pa | fl | E_P | E_PS);
}

static uint64_t page_flags(unsigned i)
{
	uint64_t f = 0;

	if (i % 3 != 2)
		f |= E_RW;
	if (i % 4 != 3)
		f |= E_US;
	if (nx && i % 5 == 4)
		f |= E_NX;
	return f;
}

static uintptr_t pool_page(unsigned i)
{
	return (uintptr_t)pool + (uintptr_t)i * PG;
}

#define LARGE0 ((uintptr_t)pool + (4u << 20))

/* variant 2: region A's first page maps pool page 402 instead. */
static uintptr_t build_as(int variant)
{
	uintptr_t root = tbl_alloc();

	for (uintptr_t pa = 0; pa < IDMAP; pa += (uintptr_t)lsz)
		mapl(root, pa, pa, E_RW | E_US);
	for (unsigned i = 0; i < NPAGES; i++)
		map4k(root, VA_A + (uint64_t)i * PG, pool_page(i), page_flags(i));
	for (unsigned j = 0; j < NPAGES; j++)
		map4k(root, VA_B + (uint64_t)j * PG, pool_page(NPAGES - 1 - j), E_RW);
	map4k(root, VA_K, LARGE0 + 0x3000, E_RW);
	mapl(root, VA_L, LARGE0, E_RW | E_US);
	mapl(root, VA_L + lsz, LARGE0 + (uintptr_t)lsz, E_US | (nx ? E_NX : 0));
	if (VA_H)
		map4k(root, VA_H, pool_page(0), E_RW);
	if (variant == 2)
		map4k(root, VA_A, pool_page(402), page_flags(0));
	return root;
}

/* ---- CR3 ------------------------------------------------------------------ */
static uintptr_t cur_root, as1, as2;
static uint64_t pdpte_copy[2][4];

static void save_pdptes(void)
{
	for (int i = 0; i < 4; i++) {
		pdpte_copy[0][i] = ((volatile uint64_t *)as1)[i];
		pdpte_copy[1][i] = ((volatile uint64_t *)as2)[i];
	}
}

/* PAE: QEMU sets bit 5 of the PDPTEs it walks; they are written back clean
 * before every CR3 load (tests/conformance/DEVIATIONS.md). */
static void switch_to(uintptr_t root)
{
	if (pae_pdpt) {
		int k = root == as1 ? 0 : 1;
		for (int i = 0; i < 4; i++)
			((volatile uint64_t *)root)[i] = pdpte_copy[k][i];
	}
	cur_root = root;
	write_cr3(root);
}

static void reload_cr3(void)
{
	switch_to(cur_root);
}

/* ---- accesses that may fault ---------------------------------------------- */
struct acc {
	uintptr_t va;
	uint32_t val;
	int op; /* 0 read, 1 write, 2 call */
};

static void do_acc(void *p)
{
	struct acc *a = p;

	if (a->op == 0)
		a->val = *(volatile uint32_t *)a->va;
	else if (a->op == 1)
		*(volatile uint32_t *)a->va = a->val;
	else
		((void (*)(void))a->va)();
}

static uint32_t sup(int op, uint64_t va, uint32_t *val, struct trap_info *ti)
{
	struct acc a = { (uintptr_t)va, val ? *val : 0, op };
	uint32_t v = try_call(do_acc, &a, ti);

	if (val)
		*val = a.val;
	return v;
}

/* CPL 3: a0 = op (0 read, 1 write, 2 call), a1 = address. */
USER_TEXT __attribute__((used, naked)) static void user_op(void)
{
	__asm__ volatile(
#ifdef __x86_64__
		"cmp $0, %rdi\n\t"
		"je 1f\n\t"
		"cmp $1, %rdi\n\t"
		"je 2f\n\t"
		"call *%rsi\n\t"
		"int $0x80\n\t"
		"1: mov (%rsi), %eax\n\t"
		"int $0x80\n\t"
		"2: movl $0x5eed, (%rsi)\n\t"
		"int $0x80\n\t"
#else
		"cmp $0, %eax\n\t"
		"je 1f\n\t"
		"cmp $1, %eax\n\t"
		"je 2f\n\t"
		"call *%edx\n\t"
		"int $0x80\n\t"
		"1: mov (%edx), %eax\n\t"
		"int $0x80\n\t"
		"2: movl $0x5eed, (%edx)\n\t"
		"int $0x80\n\t"
#endif
		"ud2");
}

static uint32_t usr(int op, uint64_t va, struct trap_info *ti)
{
	return run_user((uintptr_t)user_op, (uintptr_t)user_stack + sizeof(user_stack),
			0, (uintptr_t)op, (uintptr_t)va, ti);
}

/* Expect #PF with this error code at this address. */
static void expect_pf(const char *what, uint32_t v, const struct trap_info *ti,
		      uint32_t err, uint64_t va)
{
	chk(v == 14 && ti->error == err && ti->cr2 == va,
	    "%s: vector %u error %#x cr2 %#llx", what, v == TRAP_NONE ? 0xffu : v,
	    v == TRAP_NONE ? 0u : ti->error, v == TRAP_NONE ? 0ull : (unsigned long long)ti->cr2);
}

static uint32_t rd(uint64_t va) { return *(volatile uint32_t *)(uintptr_t)va; }
static void wr(uint64_t va, uint32_t v) { *(volatile uint32_t *)(uintptr_t)va = v; }

static uint32_t pat(unsigned page, unsigned word)
{
	return (page * 0x9e3779b1u) ^ (word * 0x85ebca77u) ^ salt;
}

static unsigned ad(uintptr_t e_addr)
{
	uint64_t e = eget(e_addr);
	return (unsigned)((e >> 5) & 3); /* bit 0: A, bit 1: D */
}

/* ---- the workload ------------------------------------------------------------ */
static void workload(void)
{
	memset(pool, 0, POOL_SIZE);
	for (unsigned k = 400; k < 403; k++)
		for (unsigned w = 0; w < PG / 4; w++)
			((volatile uint32_t *)pool_page(k))[w] = pat(k, w) ^ 0xa5a5a5a5u;
	as1 = build_as(1);
	as2 = build_as(2);
	save_pdptes();
	kprintf("pagemodes: %s: %u table pages, %u 4k pages per region, large pages of %u KiB\n",
		mname, ntables, NPAGES, (unsigned)(lsz >> 10));
}

static void run_checks(void)
{
	struct trap_info ti;
	uint32_t v, val;
	unsigned bad, n;

	/* 1. Write through B (all writable), read back through A. */
	for (unsigned j = 0; j < NPAGES; j++)
		for (unsigned w = 0; w < PG / 4; w += 7)
			wr(VA_B + (uint64_t)j * PG + w * 4, pat(NPAGES - 1 - j, w));
	bad = 0;
	for (unsigned i = 0; i < NPAGES; i++)
		for (unsigned w = 0; w < PG / 4; w += 7)
			bad += rd(VA_A + (uint64_t)i * PG + w * 4) != pat(i, w);
	chk(bad == 0, "write B, read alias A: %u pages, %u mismatches", NPAGES, bad);

	/* 2. Write through A's writable pages, read back through B. */
	n = bad = 0;
	for (unsigned i = 0; i < NPAGES; i++) {
		if (!(page_flags(i) & E_RW))
			continue;
		n++;
		for (unsigned w = 3; w < PG / 4; w += 11)
			wr(VA_A + (uint64_t)i * PG + w * 4, ~pat(i, w));
	}
	for (unsigned j = 0; j < NPAGES; j++) {
		unsigned i = NPAGES - 1 - j;
		if (!(page_flags(i) & E_RW))
			continue;
		for (unsigned w = 3; w < PG / 4; w += 11)
			bad += rd(VA_B + (uint64_t)j * PG + w * 4) != ~pat(i, w);
	}
	chk(bad == 0, "write A (%u writable pages), read alias B: %u mismatches", n, bad);

	/* 3. Large pages: write through the large mapping, read through a
	 * 4 KiB alias; read-only large page; write to it faults. */
	for (unsigned w = 0; w < PG / 4; w++)
		wr(VA_L + 0x3000 + w * 4, pat(1000, w));
	bad = 0;
	for (unsigned w = 0; w < PG / 4; w++)
		bad += rd(VA_K + w * 4) != pat(1000, w);
	chk(bad == 0, "write large page, read 4k alias: %u mismatches", bad);
	for (unsigned w = 0; w < 64; w++)
		((volatile uint32_t *)(LARGE0 + (uintptr_t)lsz + 0x10000))[w] = pat(1001, w);
	bad = 0;
	for (unsigned w = 0; w < 64; w++)
		bad += rd(VA_L + lsz + 0x10000 + w * 4) != pat(1001, w);
	chk(bad == 0, "read-only large page reads identity-written data: %u mismatches", bad);
	val = 1;
	v = sup(1, VA_L + lsz + 0x20, &val, &ti);
	expect_pf("supervisor write to read-only large page", v, &ti, PF_P | PF_W, VA_L + lsz + 0x20);

	/* 4. A and D bits of leaf entries after accesses. */
	{
		uintptr_t e0 = slot(as1, VA_A, 1), e1 = slot(as1, VA_A + PG, 1);
		uintptr_t e3 = slot(as1, VA_A + 3 * PG, 1);
		uintptr_t l0 = slot(as1, VA_L, 2), l1 = slot(as1, VA_L + lsz, 2);
		uintptr_t es[5] = { e0, e1, e3, l0, l1 };
		uint64_t vs[5] = { VA_A, VA_A + PG, VA_A + 3 * PG, VA_L, VA_L + lsz };

		for (int k = 0; k < 5; k++) {
			eset(es[k], eget(es[k]) & ~(E_A | E_D));
			invlpg((uintptr_t)vs[k]);
		}
		(void)rd(VA_A + 8);
		wr(VA_A + PG + 8, 0x11);
		wr(VA_L + 0x40, 0x22);
		(void)rd(VA_L + lsz + 0x40);
		chk(ad(e0) == 1, "4k leaf after read: A=%u D=%u", ad(e0) & 1, ad(e0) >> 1);
		chk(ad(e1) == 3, "4k leaf after write: A=%u D=%u", ad(e1) & 1, ad(e1) >> 1);
		chk(ad(e3) == 0, "4k leaf untouched: A=%u D=%u", ad(e3) & 1, ad(e3) >> 1);
		chk(ad(l0) == 3, "large leaf after write: A=%u D=%u", ad(l0) & 1, ad(l0) >> 1);
		chk(ad(l1) == 1, "large leaf after read: A=%u D=%u", ad(l1) & 1, ad(l1) >> 1);
		/* Clear D only, in place, with a CR3 reload: a write sets it again. */
		eset(e1, eget(e1) & ~E_D);
		reload_cr3();
		wr(VA_A + PG + 12, 0x33);
		chk(ad(e1) == 3, "4k leaf D cleared, CR3 reload, write: A=%u D=%u",
		    ad(e1) & 1, ad(e1) >> 1);
	}

	/* 5. Remap in place: INVLPG, then CR3 reload. */
	{
		uintptr_t e = slot(as1, VA_A + 10 * PG, 1);
		uint32_t before = rd(VA_A + 10 * PG);

		eset(e, pool_page(400) | (eget(e) & 0xfffull) | (eget(e) & E_NX));
		invlpg((uintptr_t)(VA_A + 10 * PG));
		v = rd(VA_A + 10 * PG);
		chk(before == pat(10, 0) && v == (pat(400, 0) ^ 0xa5a5a5a5u),
		    "remap with invlpg: %#x -> %#x", before, v);
		e = slot(as1, VA_A + 11 * PG, 1);
		before = rd(VA_A + 11 * PG);
		eset(e, pool_page(401) | (eget(e) & 0xfffull) | (eget(e) & E_NX));
		reload_cr3();
		v = rd(VA_A + 11 * PG);
		chk(before == pat(11, 0) && v == (pat(401, 0) ^ 0xa5a5a5a5u),
		    "remap with CR3 reload: %#x -> %#x", before, v);
	}

	/* 6. Write-protect in place. */
	{
		uint64_t va = VA_A + 13 * PG + 0x24;
		uintptr_t e = slot(as1, va, 1);

		wr(va, 0x1313);
		eset(e, eget(e) & ~E_RW);
		invlpg((uintptr_t)va);
		val = 0x1414;
		v = sup(1, va, &val, &ti);
		expect_pf("write-protect with invlpg, write", v, &ti, PF_P | PF_W, va);
		chk(rd(va) == 0x1313, "write-protected page kept %#x", rd(va));
		va = VA_A + 16 * PG + 0x28;
		e = slot(as1, va, 1);
		wr(va, 0x1616);
		eset(e, eget(e) & ~E_RW);
		reload_cr3();
		val = 0x1717;
		v = sup(1, va, &val, &ti);
		expect_pf("write-protect with CR3 reload, write", v, &ti, PF_P | PF_W, va);
	}

	/* 7. Unmap in place. */
	{
		uint64_t va = VA_A + 19 * PG + 0x30;
		uintptr_t e = slot(as1, va, 1);

		(void)rd(va);
		eset(e, eget(e) & ~E_P);
		invlpg((uintptr_t)va);
		v = sup(0, va, NULL, &ti);
		expect_pf("unmap with invlpg, read", v, &ti, 0, va);
		va = VA_A + 22 * PG + 0x34;
		e = slot(as1, va, 1);
		(void)rd(va);
		eset(e, eget(e) & ~E_P);
		reload_cr3();
		val = 5;
		v = sup(1, va, &val, &ti);
		expect_pf("unmap with CR3 reload, write", v, &ti, PF_W, va);
	}

	/* 8. Two address spaces. */
	{
		uint32_t a1 = rd(VA_A + 64), a2, a3;

		switch_to(as2);
		a2 = rd(VA_A + 64);
		wr(VA_A + 68, 0xa5a5);
		switch_to(as1);
		a3 = rd(VA_A + 64);
		chk(a1 == a3 && a2 == (pat(402, 16) ^ 0xa5a5a5a5u) &&
		    ((volatile uint32_t *)pool_page(402))[17] == 0xa5a5,
		    "two address spaces: as1 %#x, as2 %#x, as1 again %#x", a1, a2, a3);
	}

	/* 9. CR0.WP: supervisor write to a read-only page. */
	{
		uint64_t va = VA_A + 2 * PG + 0x50;

		write_cr0(read_cr0() & ~CR0_WP);
		val = 0x7777;
		v = sup(1, va, &val, &ti);
		chk(v == TRAP_NONE && rd(va) == 0x7777,
		    "WP=0: supervisor write to read-only page: %s, reads %#x",
		    v == TRAP_NONE ? "no fault" : "fault", rd(va));
		write_cr0(read_cr0() | CR0_WP);
		val = 0x8888;
		v = sup(1, va, &val, &ti);
		expect_pf("WP=1: supervisor write to read-only page", v, &ti, PF_P | PF_W, va);
	}

	/* 10. Page faults from CPL 0 and CPL 3. */
	v = sup(0, VA_A + 350 * PG + 0x8, NULL, &ti);
	expect_pf("supervisor read, not-present PTE", v, &ti, 0, VA_A + 350 * PG + 0x8);
	v = sup(0, VA_A + 0xc00000 + 0x10, NULL, &ti);
	expect_pf("supervisor read, not-present table", v, &ti, 0, VA_A + 0xc00000 + 0x10);
	v = usr(0, VA_A + 8, &ti);
	chk(v == TRAP_SYSCALL, "user read of user page: %s", v == TRAP_SYSCALL ? "no fault" : "fault");
	v = usr(0, VA_A + 3 * PG + 0x10, &ti);
	expect_pf("user read of supervisor page", v, &ti, PF_P | PF_U, VA_A + 3 * PG + 0x10);
	v = usr(1, VA_A + 2 * PG + 0x14, &ti);
	expect_pf("user write to read-only user page", v, &ti, PF_P | PF_W | PF_U,
		  VA_A + 2 * PG + 0x14);
	v = usr(1, VA_A + 351 * PG + 0x18, &ti);
	expect_pf("user write, not-present", v, &ti, PF_W | PF_U, VA_A + 351 * PG + 0x18);
	v = usr(1, VA_L + 0x1000, &ti);
	chk(v == TRAP_SYSCALL && rd(VA_L + 0x1000) == 0x5eed,
	    "user write to writable large page: reads %#x", rd(VA_L + 0x1000));
	if (nx) {
		v = usr(2, VA_A + 4 * PG + 0x20, &ti);
		expect_pf("user fetch from NX page", v, &ti, PF_P | PF_U | PF_I, VA_A + 4 * PG + 0x20);
		v = sup(2, VA_A + 9 * PG + 0x30, NULL, &ti);
		expect_pf("supervisor fetch from NX page", v, &ti, PF_P | PF_I, VA_A + 9 * PG + 0x30);
		v = sup(2, VA_L + lsz + 0x40, NULL, &ti);
		expect_pf("supervisor fetch from NX large page", v, &ti, PF_P | PF_I, VA_L + lsz + 0x40);
	} else {
		kprintf("pagemodes: %s: nx: not available in this mode\n", mname);
	}

	/* 11. The upper half of the address space (long modes). */
	if (VA_H) {
		wr(VA_H + 0x100, 0xcafe0000u ^ salt);
		chk(((volatile uint32_t *)pool_page(0))[0x40] == (0xcafe0000u ^ salt),
		    "upper-half page %#llx writes pool page 0", (unsigned long long)VA_H);
		v = sup(0, VA_H + PG + 0x8, NULL, &ti);
		expect_pf("upper half, not-present", v, &ti, 0, VA_H + PG + 0x8);
	}

	/* 12. Checksum of all data (FNV-1a over the pool's words). */
	{
		uint32_t h = 0x811c9dc5u;
		const volatile uint32_t *p = (const volatile uint32_t *)pool;

		for (unsigned w = 0; w < POOL_SIZE / 4; w++) {
			h ^= p[w];
			h *= 0x01000193u;
		}
		kprintf("pagemodes: %s: checksum %08x\n", mname, h);
	}
}

/* ---- PCIDs ------------------------------------------------------------------ */
static void do_write_cr4(void *p)
{
	write_cr4(*(unsigned long *)p);
}

#define CPUID_1_ECX_PCID    (1u << 17)
#define CPUID_7_EBX_INVPCID (1u << 10)

static bool cpu_has_pcid(void)
{
	return cpuid(1, 0).ecx & CPUID_1_ECX_PCID;
}

static bool cpu_has_invpcid(void)
{
	return cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ebx & CPUID_7_EBX_INVPCID);
}

static void print_pcid_offer(void)
{
	kprintf("pagemodes: pcid: %s, invpcid: %s\n",
		cpu_has_pcid() ? "offered" : "not offered",
		cpu_has_invpcid() ? "offered" : "not offered");
}

#ifndef __x86_64__
/* 32-bit: PCIDs offered, CR4.PCIDE still needs long mode.  (Without PCIDs,
 * QEMU's TCG ignores a CR4.PCIDE write instead of raising #GP: not
 * checked.) */
static void pcid_checks(void)
{
	unsigned long cr4 = read_cr4() | CR4_PCIDE;

	print_pcid_offer();
	if (cpu_has_pcid())
		chk(try_call(do_write_cr4, &cr4, NULL) == 13 &&
		    !(read_cr4() & CR4_PCIDE), "CR4.PCIDE outside long mode: #GP");
}
#else
#define CR3_NO_FLUSH (1ull << 63)
#define INVPCID_ADDRESS    0
#define INVPCID_SINGLE     1
#define INVPCID_ALL_GLOBAL 2
#define INVPCID_ALL        3
#define NON_CANONICAL      0x8000000000000000ull

struct invpcid_desc {
	uint64_t pcid, la;
};

static struct invpcid_desc user_desc USER_DATA;

struct invpcid_call {
	unsigned long type;
	struct invpcid_desc d;
};

static void do_invpcid(void *p)
{
	struct invpcid_call *c = p;

	__asm__ volatile("invpcid %0, %1" : : "m"(c->d), "r"(c->type) : "memory");
}

static void do_write_cr3(void *p)
{
	write_cr3(*(unsigned long *)p);
}

/* The vector INVPCID raises, or TRAP_NONE. */
static uint32_t invpcid(unsigned long type, uint64_t pcid, uint64_t la)
{
	struct invpcid_call c = { type, { pcid, la } };

	return try_call(do_invpcid, &c, NULL);
}

static uint32_t try_cr(void (*fn)(void *), unsigned long v)
{
	return try_call(fn, &v, NULL);
}

/* CPL 3: INVPCID type a0 with the descriptor at a1. */
USER_TEXT __attribute__((used, naked)) static void user_invpcid(void)
{
	__asm__ volatile("invpcid (%rsi), %rdi\n\t"
			 "int $0x80\n\t"
			 "ud2");
}

static const char *vec_name(uint32_t v)
{
	return v == TRAP_NONE ? "none" : v == 6 ? "#UD" : v == 13 ? "#GP" : "other";
}

/*
 * Remap one page of as1 (PCID 1 current) in place, flush it with INVPCID
 * `type`, and read it: the new frame must show.  Then put the old frame
 * back the same way.
 */
static void invpcid_remap(unsigned long type, uint64_t pcid)
{
	const uint64_t va = VA_A + 12 * PG;
	const uintptr_t e = slot(as1, va, 1);
	const uint64_t old = eget(e);
	const uint32_t before = rd(va);
	const uint32_t want = *(volatile uint32_t *)pool_page(402);
	uint32_t after, back, v1, v2;

	eset(e, pool_page(402) | (old & 0xfffull) | (old & E_NX));
	v1 = invpcid(type, pcid, va);
	after = rd(va);
	eset(e, old);
	v2 = invpcid(type, pcid, va);
	back = rd(va);
	chk(v1 == TRAP_NONE && v2 == TRAP_NONE && after == want && back == before,
	    "INVPCID type %lu after an in-place remap: %s, reads %#x, back %#x",
	    type, vec_name(v1), after, back);
}

/* With PCIDs offered: CR3 with PCIDs and bit 63, INVPCID, their #GPs. */
static void pcid_offered(bool has_invpcid)
{
	unsigned long cr4 = read_cr4();
	struct trap_info ti;
	uint32_t v, a, b;

	chk(try_cr(do_write_cr3, as1 | 8) == TRAP_NONE &&
	    try_cr(do_write_cr4, cr4 | CR4_PCIDE) == 13,
	    "CR4.PCIDE with CR3[11:0] = 8: #GP");
	write_cr3(as1);
	chk(try_cr(do_write_cr4, cr4 | CR4_PCIDE) == TRAP_NONE &&
	    (read_cr4() & CR4_PCIDE), "CR4.PCIDE set in long mode with PCID 0");

	write_cr3(as2 | 5);
	a = rd(VA_A + 64);
	chk(read_cr3() == (as2 | 5) && a == *(volatile uint32_t *)(pool_page(402) + 64),
	    "CR3 = as2, PCID 5: reads back PCID %lu, as2's data", read_cr3() & 0xfff);
	write_cr3(as1 | 1 | CR3_NO_FLUSH);
	b = rd(VA_A + 64);
	chk(read_cr3() == (as1 | 1) && b == *(volatile uint32_t *)(pool_page(0) + 64),
	    "CR3 = as1, PCID 1, bit 63: bit 63 not kept, as1's data");
	chk(try_cr(do_write_cr3, as1 | 1 | (1ull << 62)) == 13 && read_cr3() == (as1 | 1),
	    "CR3 bit 62 with PCIDE: #GP");

	if (has_invpcid) {
		invpcid_remap(INVPCID_ADDRESS, 1);
		invpcid_remap(INVPCID_SINGLE, 1);
		invpcid_remap(INVPCID_ALL_GLOBAL, 0);
		invpcid_remap(INVPCID_ALL, 0);
		v = invpcid(INVPCID_ADDRESS, 7, VA_B);
		chk(v == TRAP_NONE, "INVPCID type 0 of another PCID: %s", vec_name(v));
		v = invpcid(4, 0, 0);
		chk(v == 13, "INVPCID type 4: %s", vec_name(v));
		v = invpcid(INVPCID_SINGLE, 0x1000, 0);
		chk(v == 13, "INVPCID descriptor bit 12: %s", vec_name(v));
		v = invpcid(INVPCID_ADDRESS, 1, NON_CANONICAL);
		chk(v == 13, "INVPCID type 0, non-canonical address: %s", vec_name(v));
		user_desc = (struct invpcid_desc){ 1, 0 };
		v = run_user((uintptr_t)user_invpcid, (uintptr_t)user_stack + sizeof(user_stack),
			     0, INVPCID_SINGLE, (uintptr_t)&user_desc, &ti);
		chk(v == 13, "INVPCID at CPL 3: %s", vec_name(v));
	}

	write_cr3(as1 | 1);
	chk(try_cr(do_write_cr4, cr4) == TRAP_NONE && read_cr3() == (as1 | 1),
	    "CR4.PCIDE cleared with PCID 1 current");
	write_cr3(as1);
	chk(try_cr(do_write_cr3, as1 | CR3_NO_FLUSH) == 13,
	    "CR3 bit 63 without PCIDE: #GP");
	if (has_invpcid) {
		v = invpcid(INVPCID_ADDRESS, 1, VA_A);
		chk(v == 13, "INVPCID type 0, PCID 1, PCIDE clear: %s", vec_name(v));
		v = invpcid(INVPCID_SINGLE, 1, 0);
		chk(v == 13, "INVPCID type 1, PCID 1, PCIDE clear: %s", vec_name(v));
		invpcid_remap(INVPCID_ADDRESS, 0);
		invpcid_remap(INVPCID_SINGLE, 0);
	}
}

/* 64-bit, 4-level paging.  (Without PCIDs, QEMU's TCG ignores a
 * CR4.PCIDE write instead of raising #GP: not checked.) */
static void pcid_checks(void)
{
	const bool inv = cpu_has_invpcid();
	uint32_t v;

	print_pcid_offer();
	if (cpu_has_pcid())
		pcid_offered(inv);
	if (!inv) {
		v = invpcid(INVPCID_ALL, 0, 0);
		chk(v == 6, "INVPCID without CPUID.INVPCID: %s", vec_name(v));
	}
	cur_root = as1;
	write_cr3(as1);
}
#endif

static void set_mode(const char *name, int lv, int es, int b, bool pdpt, bool nxe,
		     uint64_t large, uint64_t base, uint64_t high, uint32_t s)
{
	mname = name;
	levels = lv;
	esz = es;
	bits = b;
	pae_pdpt = pdpt;
	nx = nxe;
	lsz = large;
	VA_A = base;
	VA_B = base + 0x400000;
	VA_K = VA_B + 0x200000;
	VA_L = base + 0x40000000ull;
	VA_H = high;
	salt = s;
}

int guest_main(void)
{
	if ((uintptr_t)__image_end > IDMAP)
		panic("pagemodes: image ends at %p, above the identity map", __image_end);
	write_cr4(read_cr4() & ~(CR4_SMEP | CR4_SMAP | CR4_PKE));
	kprintf("pagemodes: %s flavour\n", sizeof(long) == 8 ? "64-bit" : "32-bit");

#ifdef __x86_64__
	set_mode("long4", 4, 8, 9, false, true, 2u << 20, 0x0000700000000000ull,
		 0xffff800000000000ull, 0x40404040u);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	workload();
	switch_to(as1);
	write_cr0(read_cr0() | CR0_WP);
	run_checks();
	if (cmdline_get_u64("pcid", 0))
		pcid_checks();

	if (cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ecx & (1u << 16))) {
		set_mode("long5", 5, 8, 9, false, true, 2u << 20, 0x00f0000000000000ull,
			 0xff00000000000000ull, 0x50505050u);
		workload();
		/* New tables (the 4-level ones stay live until the switch). */
		cur_root = as1;
		paging_reenter(as1, read_cr4() | CR4_LA57);
		chk((read_cr4() & CR4_LA57) != 0, "CR4.LA57 set after paging_reenter");
		run_checks();
	} else {
		kprintf("la57: not offered\n");
	}
#else
	set_mode("32bit", 2, 4, 10, false, false, 4u << 20, 0x40000000ull, 0, 0x32323232u);
	if (cmdline_get_u64("pcid", 0))
		pcid_checks();
	write_cr4(read_cr4() | CR4_PSE);
	workload();
	switch_to(as1);
	write_cr0(read_cr0() | CR0_PG | CR0_WP);
	run_checks();

	write_cr0(read_cr0() & ~CR0_PG);
	if (!(cpuid(0x80000001u, 0).edx & (1u << 20)))
		panic("pagemodes: no NX");
	set_mode("pae", 3, 8, 9, true, true, 2u << 20, 0x40000000ull, 0, 0xbaebaeu);
	write_cr4(read_cr4() | CR4_PAE);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	workload();
	switch_to(as1);
	write_cr0(read_cr0() | CR0_PG | CR0_WP);
	run_checks();
#endif
	kprintf("pagemodes: summary: %u checks, %u failed: %s\n", checks, failures,
		failures ? "FAILED" : "ok");
	return failures != 0;
}
