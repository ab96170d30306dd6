/*
 * Reference model of x86 paging permissions: the rules of
 * docs/paging-rules.md, one predicate per rule.  Section numbers are Intel
 * SDM vol. 3A ch. 4; the AMD APM vol. 2 ch. 5 agrees on everything used here.
 */
#include "refmodel.h"

#include "umbra/x86.h"

/* Reserved ranges the manual tables name and x86.h does not.
 * PAE PDPTE (SDM 4.4.1, Table 4-8): bits 2:1 and 8:5. */
#define REF_RSVD_PDPTE_LOW (UMBRA_BITS(2, 1) | UMBRA_BITS(8, 5))
/* 2 MiB page PDE, PAE and long mode (Tables 4-9, 4-18): bits 20:13 lie
 * between PAT (bit 12) and the frame address. */
#define REF_RSVD_2M_LOW UMBRA_BITS(20, 13)
/* 1 GiB page PDPTE (Table 4-16): bits 29:13. */
#define REF_RSVD_1G_LOW UMBRA_BITS(29, 13)
/* A 32-bit 4 MiB PDE's bits 20:13 hold physical address bits 39:32
 * (PSE-36, Table 4-5); without PSE-36 physical addresses have 32 bits. */
#define REF_PSE36_ADDR_LO 32u
#define REF_32BIT_PHYS_BITS 32u

static bool bit_in(unsigned bit, uint64_t mask)
{
	return bit < 64 && (UMBRA_BIT(bit) & mask) != 0;
}

static unsigned bit_index(uint64_t single_bit_mask)
{
	return (unsigned)__builtin_ctzll(single_bit_mask);
}

unsigned ref_top_level(enum ref_mode mode)
{
	switch (mode) {
	case REF_MODE_32:
		return 2;
	case REF_MODE_PAE:
		return 3;
	case REF_MODE_LONG4:
		return 4;
	case REF_MODE_LONG5:
		return 5;
	}
	return 0;
}

static bool is_long_mode(enum ref_mode mode)
{
	return mode == REF_MODE_LONG4 || mode == REF_MODE_LONG5;
}

/* SDM 4.4.1: the PDPTE registers have no A bit (bit 5 is reserved). */
bool ref_has_accessed_flag(enum ref_mode mode, unsigned level)
{
	return !(mode == REF_MODE_PAE && level == 3);
}

/* ---- reserved bits (SDM 4.3, 4.4, 4.5 tables; paging-rules.md) --------- */

/* 32-bit paging: 4 KiB PDEs and PTEs have no reserved bits; a 4 MiB PDE
 * reserves bit 21 and the PSE-36 bits that encode address bits >= M. */
static bool reserved_32(unsigned level, bool maps_page, unsigned bit,
			const struct ref_caps *caps)
{
	unsigned phys_bits = caps->pse36 ? caps->maxphyaddr : REF_32BIT_PHYS_BITS;
	unsigned addr_bit;

	if (level != 2 || !maps_page)
		return false;
	if (bit_in(bit, X86_PTE32_4M_RSVD_BIT))
		return true;
	if (!bit_in(bit, X86_PTE32_PSE36_MASK))
		return false;
	addr_bit = REF_PSE36_ADDR_LO + (bit - X86_PTE32_PSE36_SHIFT);
	return addr_bit >= phys_bits;
}

/* PAE paging: the PDPTE reserves 2:1, 8:5 and 63:M (a violation is a #GP
 * when the PDPTEs are loaded, SDM 4.4.1); PDEs and PTEs reserve 62:M, 63
 * without EFER.NXE, and a 2 MiB PDE also 20:13. */
static bool reserved_pae(unsigned level, bool maps_page, unsigned bit,
			 bool nxe, const struct ref_caps *caps)
{
	if (level == 3)
		return bit_in(bit, REF_RSVD_PDPTE_LOW) || bit >= caps->maxphyaddr;
	if (bit_in(bit, X86_PTE_NX))
		return !nxe;
	if (bit >= caps->maxphyaddr)
		return true;
	return maps_page && bit_in(bit, REF_RSVD_2M_LOW);
}

/* 4- and 5-level paging: address bits 51:M everywhere, 63 without NXE; PS
 * in a PML5E/PML4E, and in a PDPTE without 1 GiB pages; the low frame bits
 * of 1 GiB and 2 MiB pages.  Bits 62:52 are ignored. */
static bool reserved_long(unsigned level, bool maps_page, unsigned bit,
			  bool nxe, const struct ref_caps *caps)
{
	if (bit_in(bit, X86_PTE_NX))
		return !nxe;
	if (bit_in(bit, X86_PTE_ADDR_4K) && bit >= caps->maxphyaddr)
		return true;
	if (bit_in(bit, X86_PTE_PS))
		return level >= 4 || (level == 3 && !caps->gbpages);
	if (maps_page && level == 3)
		return bit_in(bit, REF_RSVD_1G_LOW);
	if (maps_page && level == 2)
		return bit_in(bit, REF_RSVD_2M_LOW);
	return false;
}

bool ref_bit_reserved(enum ref_mode mode, unsigned level, bool maps_page,
		      unsigned bit, bool nxe, const struct ref_caps *caps)
{
	switch (mode) {
	case REF_MODE_32:
		return reserved_32(level, maps_page, bit, caps);
	case REF_MODE_PAE:
		return reserved_pae(level, maps_page, bit, nxe, caps);
	case REF_MODE_LONG4:
	case REF_MODE_LONG5:
		return reserved_long(level, maps_page, bit, nxe, caps);
	}
	return false;
}

/* SDM 4.3: PS maps a 4 MiB page only with CR4.PSE (else it is ignored);
 * 4.4.2: a PAE PDE maps 2 MiB; 4.5.4: a long-mode PDE maps 2 MiB, a PDPTE
 * 1 GiB where supported.  A PTE's bit 7 is PAT, never PS. */
bool ref_ps_maps_page(const struct ref_case *c, unsigned level)
{
	switch (c->mode) {
	case REF_MODE_32:
		return level == 2 && c->pse;
	case REF_MODE_PAE:
		return level == 2;
	case REF_MODE_LONG4:
	case REF_MODE_LONG5:
		return level == 2 || (level == 3 && c->caps.gbpages);
	}
	return false;
}

/* The abstract entry has a reserved bit set: one of its other reserved
 * bits, or XD / PS where those bits are reserved. */
static bool entry_has_reserved_bit(const struct ref_case *c, unsigned level)
{
	const struct ref_entry *e = &c->e[level];

	if (e->rsvd)
		return true;
	if (e->nx && c->mode != REF_MODE_32 &&
	    ref_bit_reserved(c->mode, level, false, bit_index(X86_PTE_NX),
			     c->nxe, &c->caps))
		return true;
	return level > 1 && e->ps && !ref_ps_maps_page(c, level) &&
	       ref_bit_reserved(c->mode, level, false, bit_index(X86_PTE_PS),
				c->nxe, &c->caps);
}

/* ---- the translation path -------------------------------------------- */

/* SDM 4.3-4.5: translation uses entries from the top level down and ends at
 * the first entry that is not present or has a reserved bit set (SDM 4.7:
 * a fault), or that maps the page (PS honoured, or a PTE). */
static unsigned stop_level(const struct ref_case *c)
{
	unsigned level;

	for (level = ref_top_level(c->mode); level > 1; level--) {
		const struct ref_entry *e = &c->e[level];

		if (!e->present || entry_has_reserved_bit(c, level) ||
		    (e->ps && ref_ps_maps_page(c, level)))
			return level;
	}
	return 1;
}

/* The PDPTE registers have no R/W, U/S or XD (SDM 4.4.1): they restrict
 * nothing.  32-bit entries have no XD at all. */
static bool is_pae_pdpte(const struct ref_case *c, unsigned level)
{
	return c->mode == REF_MODE_PAE && level == 3;
}

/* SDM 4.6: a user-mode address has U/S = 1 at every level. */
static bool user_address(const struct ref_case *c, unsigned stop)
{
	for (unsigned l = ref_top_level(c->mode); l >= stop; l--)
		if (!is_pae_pdpte(c, l) && !c->e[l].us)
			return false;
	return true;
}

/* SDM 4.6.1: writable only if R/W = 1 at every level. */
static bool writable_address(const struct ref_case *c, unsigned stop)
{
	for (unsigned l = ref_top_level(c->mode); l >= stop; l--)
		if (!is_pae_pdpte(c, l) && !c->e[l].rw)
			return false;
	return true;
}

/* SDM 4.6.1: XD restricts fetches only with EFER.NXE, and only in PAE and
 * long mode (32-bit entries have no XD bit). */
static bool executable_address(const struct ref_case *c, unsigned stop)
{
	if (c->mode == REF_MODE_32 || !c->nxe)
		return true;
	for (unsigned l = ref_top_level(c->mode); l >= stop; l--)
		if (!is_pae_pdpte(c, l) && c->e[l].nx)
			return false;
	return true;
}

/* SDM 4.6: user-mode access = CPL 3 and not an implicit supervisor access. */
static bool user_mode_access(const struct ref_case *c)
{
	return c->cpl == 3 && !c->implicit_supervisor;
}

static bool data_access(const struct ref_case *c)
{
	return c->kind != REF_FETCH;
}

/* ---- the fault rules --------------------------------------------------- */

/* SDM 4.7 (P = 0): an entry on the path is not present. */
static bool not_present_rule(const struct ref_case *c, unsigned stop)
{
	return !c->e[stop].present;
}

/* SDM 4.7 (RSVD = 1): a present entry on the path has a reserved bit. */
static bool reserved_rule(const struct ref_case *c, unsigned stop)
{
	return c->e[stop].present && entry_has_reserved_bit(c, stop);
}

/* SDM 4.6.1: user-mode accesses may touch only user-mode addresses. */
static bool user_supervisor_rule(const struct ref_case *c, unsigned stop)
{
	return user_mode_access(c) && !user_address(c, stop);
}

/* SDM 4.6.1: a write to a read-only address faults for user-mode accesses,
 * and for supervisor-mode accesses when CR0.WP = 1. */
static bool write_rule(const struct ref_case *c, unsigned stop)
{
	return c->kind == REF_WRITE && !writable_address(c, stop) &&
	       (user_mode_access(c) || c->wp);
}

/* SDM 4.6.1: with CR4.SMEP, supervisor-mode fetches from user-mode
 * addresses fault. */
static bool smep_rule(const struct ref_case *c, unsigned stop)
{
	return c->smep && c->kind == REF_FETCH && !user_mode_access(c) &&
	       user_address(c, stop);
}

/* SDM 4.6.1: with CR4.SMAP, supervisor-mode data accesses to user-mode
 * addresses fault, unless explicit with CPL < 3 and EFLAGS.AC = 1. */
static bool smap_rule(const struct ref_case *c, unsigned stop)
{
	bool ac_override = !c->implicit_supervisor && c->cpl < 3 && c->ac;

	return c->smap && data_access(c) && !user_mode_access(c) &&
	       user_address(c, stop) && !ac_override;
}

/* SDM 4.6.1: with XD in force, fetches need XD = 0 at every level. */
static bool nx_rule(const struct ref_case *c, unsigned stop)
{
	return c->kind == REF_FETCH && !executable_address(c, stop);
}

/* SDM 4.6.2: protection keys (long mode with CR4.PKE) restrict data
 * accesses to user-mode addresses: AD forbids all, WD forbids writes by
 * user-mode accesses, and by supervisor-mode ones when CR0.WP = 1. */
static bool pk_rule(const struct ref_case *c, unsigned stop)
{
	uint8_t key = c->e[stop].pkey;
	bool ad = (c->pkru & X86_PKRU_AD(key)) != 0;
	bool wd = (c->pkru & X86_PKRU_WD(key)) != 0;

	if (!is_long_mode(c->mode) || !c->pke || !data_access(c) ||
	    !user_address(c, stop))
		return false;
	return ad || (wd && c->kind == REF_WRITE &&
		      (user_mode_access(c) || c->wp));
}

/* SDM 4.7: the #PF error code. */
static uint32_t error_code(const struct ref_case *c, bool not_present,
			   bool reserved, bool pk)
{
	uint32_t ec = 0;
	bool xd_in_force = c->mode != REF_MODE_32 && c->nxe;

	if (!not_present)
		ec |= X86_PFEC_P;
	if (c->kind == REF_WRITE)
		ec |= X86_PFEC_W;
	if (user_mode_access(c))
		ec |= X86_PFEC_U;
	if (reserved)
		ec |= X86_PFEC_RSVD;
	if (c->kind == REF_FETCH && (c->smep || xd_in_force))
		ec |= X86_PFEC_ID;
	/* PK accompanies protection faults only, even alongside another
	 * violated permission; never P = 0 or RSVD faults. */
	if (pk && !not_present && !reserved)
		ec |= X86_PFEC_PK;
	return ec;
}

/* SDM 4.3-4.5: page size by the level that maps it. */
static uint8_t page_shift(enum ref_mode mode, unsigned level)
{
	if (level == 3)
		return X86_PAGE_SHIFT_1G;
	if (level == 2)
		return mode == REF_MODE_32 ? X86_PAGE_SHIFT_4M : X86_PAGE_SHIFT_2M;
	return X86_PAGE_SHIFT_4K;
}

/* SDM 4.8: the walk sets A in each entry it moves through to the next
 * level (also when a later entry faults); a successful access also sets A
 * in the leaf, and D in the leaf for a write.  A faulting entry, and a leaf
 * whose access faults, are left alone. */
static void accessed_dirty(const struct ref_case *c, unsigned stop,
			   bool fault, struct ref_outcome *o)
{
	for (unsigned l = 1; l <= ref_top_level(c->mode); l++) {
		o->accessed[l] = c->e[l].accessed;
		o->dirty[l] = c->e[l].dirty;
	}
	for (unsigned l = ref_top_level(c->mode); l >= stop; l--) {
		if (!ref_has_accessed_flag(c->mode, l))
			continue;
		if (l > stop || !fault)
			o->accessed[l] = true;
	}
	if (!fault && c->kind == REF_WRITE)
		o->dirty[stop] = true;
}

void ref_evaluate(const struct ref_case *c, struct ref_outcome *o)
{
	unsigned stop = stop_level(c);
	bool np = not_present_rule(c, stop);
	bool rsvd = reserved_rule(c, stop);
	bool complete = !np && !rsvd;
	bool pk = complete && pk_rule(c, stop);
	bool protection = complete &&
		(user_supervisor_rule(c, stop) || write_rule(c, stop) ||
		 smep_rule(c, stop) || smap_rule(c, stop) ||
		 nx_rule(c, stop) || pk);
	/* Outside long mode linear addresses are 32 bits wide. */
	uint64_t linear = is_long_mode(c->mode) ? c->va : (uint32_t)c->va;

	*o = (struct ref_outcome){ 0 };
	o->stop_level = (uint8_t)stop;
	o->walk_complete = complete;
	o->fault = np || rsvd || protection;
	o->error_code = o->fault ? error_code(c, np, rsvd, pk) : 0;
	if (complete) {
		uint64_t size;

		o->page_shift = page_shift(c->mode, stop);
		size = UMBRA_BIT(o->page_shift);
		o->gpa = c->e[stop].frame + (linear & (size - 1));
		o->user_address = user_address(c, stop);
		o->writable = writable_address(c, stop);
		o->executable = executable_address(c, stop);
		o->pkey = is_long_mode(c->mode) ? c->e[stop].pkey : 0;
	}
	accessed_dirty(c, stop, o->fault, o);
}

const char *ref_mode_name(enum ref_mode mode)
{
	switch (mode) {
	case REF_MODE_32:
		return "32-bit";
	case REF_MODE_PAE:
		return "PAE";
	case REF_MODE_LONG4:
		return "4-level";
	case REF_MODE_LONG5:
		return "5-level";
	}
	return "?";
}
