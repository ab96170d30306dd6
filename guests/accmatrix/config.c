/*
 * Control-register settings: CR0.WP, EFER.NXE, CR4.SMEP, CR4.SMAP and
 * CR4.PKE with four PKRU values for the test key.  A setting that the CPU
 * or the mode does not offer is skipped (NXE without NX, SMEP/SMAP/PKU
 * without CPUID support, PKE outside long mode).  Applying a setting also
 * prepares the walker that predicts every access under it.
 */
#include "accmatrix.h"

/* Index bits of a setting; pk takes the rest of the index. */
enum { CFG_WP, CFG_NXE, CFG_SMEP, CFG_SMAP, CFG_BITS };

/* PKRU for each pk value (pk 0: PKE off, PKRU unused). */
static const uint32_t pk_pkru[PK_VALUES] = {
	0, 0, X86_PKRU_AD(TEST_PKEY), X86_PKRU_WD(TEST_PKEY),
	X86_PKRU_AD(TEST_PKEY) | X86_PKRU_WD(TEST_PKEY),
};
static const char *const pk_names[PK_VALUES] = {
	"off", "on pkru=0", "on pkru=AD", "on pkru=WD", "on pkru=AD|WD",
};

static struct umbra_walker walker;

unsigned cfg_count(void)
{
	return (1u << CFG_BITS) * PK_VALUES;
}

void cfg_from_index(unsigned i, struct am_cfg *c)
{
	c->wp = i >> CFG_WP & 1;
	c->nxe = i >> CFG_NXE & 1;
	c->smep = i >> CFG_SMEP & 1;
	c->smap = i >> CFG_SMAP & 1;
	c->pk = (uint8_t)(i >> CFG_BITS);
}

bool cfg_valid(const struct am_cfg *c)
{
	return (!c->nxe || cpu.nx) && (!c->smep || cpu.smep) &&
	       (!c->smap || cpu.smap) &&
	       (c->pk == 0 || (cpu.pku && mode_is_long()));
}

/* The bytes of the PAE PDPT that the PDPTE load reads. */
#define PAE_PDPT_BYTES 32u

/* The walker reads guest memory through the identity map.  It never
 * commits: check.c applies its A/D updates to the expected values. */
static bool mem_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	(void)ctx;
	if (gpa + size > HARNESS_MAP_BYTES)
		return false;
	*val = size == 4 ? *(volatile uint32_t *)(uintptr_t)gpa
			 : *(volatile uint64_t *)(uintptr_t)gpa;
	/* qemu-pae-pdpte-accessed (DEVIATIONS.md): natively QEMU sets bit 5
	 * of the PDPTEs in memory on every walk, even between cfg_apply's
	 * restore and the walker's PDPTE load.  The CPU's PDPTE registers
	 * hold what the guest wrote, so the load must not see that bit. */
	if (env.mode == AM_PAE && gpa >= env.root &&
	    gpa < env.root + PAE_PDPT_BYTES)
		*val &= ~X86_PTE_A;
	return true;
}

static void walker_init(const struct umbra_paging_regs *regs)
{
	const struct umbra_cpu_caps caps = {
		.maxphyaddr = cpu.maxphy,
		.gbpages = cpu.gbpages,
		.pse36 = cpu.pse36,
	};
	const struct umbra_gmem mem = { .read = mem_read, .cmpxchg = NULL };
	enum umbra_load_status s = umbra_walk_init(&walker, regs, &caps, &mem);

	if (s != UMBRA_LOAD_OK)
		panic("accmatrix: %s: the walker refuses the registers (%u)",
		      env.name, (unsigned)s);
}

void cfg_apply(const struct am_cfg *c)
{
	struct umbra_paging_regs regs = {
		.cr0 = env.base_cr0 | (c->wp ? X86_CR0_WP : 0),
		.cr3 = env.root,
		.cr4 = env.base_cr4 | (c->smep ? X86_CR4_SMEP : 0) |
		       (c->smap ? X86_CR4_SMAP : 0) |
		       (c->pk ? X86_CR4_PKE : 0),
		.efer = env.base_efer | (c->nxe ? X86_EFER_NXE : 0),
		.pkru = pk_pkru[c->pk],
	};

	/* Natively QEMU sets bit 5 in the PDPTEs a walk uses (DEVIATIONS.md,
	 * qemu-pae-pdpte-accessed), which makes them invalid for the next
	 * PDPTE load (CR3, and CR4 in PAE mode): put them back first. */
	if (env.mode == AM_PAE) {
		entry_write(env.root, env.harness_pdpte0);
		entry_write(env.entry_gpa[3], env.test_pdpte);
	}
	if (cpu.nx)
		wrmsr(X86_MSR_EFER, regs.efer);
	write_cr4((unsigned long)regs.cr4);
	if (c->pk)
		wrpkru(regs.pkru);
	write_cr0((unsigned long)regs.cr0);
	/* A clean TLB for the new setting. */
	write_cr3((unsigned long)regs.cr3);
	walker_init(&regs);
}

const struct umbra_walker *cfg_walker(void)
{
	return &walker;
}

void cfg_describe(const struct am_cfg *c)
{
	kprintf("wp=%u nxe=%u smep=%u smap=%u pke=%s", c->wp, c->nxe,
		c->smep, c->smap, pk_names[c->pk]);
}
