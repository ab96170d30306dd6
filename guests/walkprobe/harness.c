/*
 * The harness address space: identity map of the first 16 MiB with 4 KiB
 * pages, supervisor except the user pages (linker section .user), no NX
 * and no protection key, so that the harness keeps working under any
 * combination of CR0.WP, CR4.PSE/SMEP/SMAP/PKE, EFER.NXE and PKRU a case
 * selects.  The root table has one extra slot for the test tables.
 */
#include "probe.h"

struct probe_env env;

#define POOL_PAGES 24
static uint8_t pool[POOL_PAGES][4096] __attribute__((aligned(4096)));
static unsigned pool_used;

static uintptr_t alloc_table(void)
{
	if (pool_used == POOL_PAGES)
		panic("walkprobe: out of table pages");
	return (uintptr_t)pool[pool_used++];
}

uint64_t entry_read(uint64_t gpa)
{
	if (env.esize == 4)
		return *(volatile uint32_t *)(uintptr_t)gpa;
	return *(volatile uint64_t *)(uintptr_t)gpa;
}

void entry_write(uint64_t gpa, uint64_t val)
{
	if (env.esize == 4)
		*(volatile uint32_t *)(uintptr_t)gpa = (uint32_t)val;
	else
		*(volatile uint64_t *)(uintptr_t)gpa = val;
}

static void set(uintptr_t table, unsigned idx, uint64_t val)
{
	entry_write(table + (uint64_t)idx * env.esize, val);
}

static bool is_user_page(uintptr_t pa)
{
	return pa >= (uintptr_t)__user_start && pa < (uintptr_t)__user_end;
}

/* Map [0, HARNESS_MAP_BYTES) below `dir` (a page directory) with 4 KiB
 * pages; `first` is the directory index of physical address 0. */
static void map_low(uintptr_t dir, unsigned per_table)
{
	uint64_t dir_flags = X86_PTE_P | X86_PTE_RW | X86_PTE_US;
	unsigned pt_count = HARNESS_MAP_BYTES / (per_table * 4096u);

	for (unsigned t = 0; t < pt_count; t++) {
		uintptr_t pt = alloc_table();

		set(dir, t, pt | dir_flags);
		for (unsigned i = 0; i < per_table; i++) {
			uintptr_t pa = (t * per_table + i) * 4096u;
			uint64_t f = X86_PTE_P | X86_PTE_RW;

			if (pa == 0)
				continue; /* catch null pointers */
			if (is_user_page(pa))
				f |= X86_PTE_US;
			set(pt, i, pa | f);
		}
	}
}

static void read_cpu(struct probe_cpu *cpu)
{
	struct cpuid_regs r1 = cpuid(1, 0), r7 = { 0, 0, 0, 0 }, rx = { 0, 0, 0, 0 };
	uint32_t max = cpuid(0, 0).eax, xmax = cpuid(0x80000000u, 0).eax;

	if (max >= 7)
		r7 = cpuid(7, 0);
	if (xmax >= 0x80000001u)
		rx = cpuid(0x80000001u, 0);
	cpu->pse = r1.edx >> 3 & 1;
	cpu->pae = r1.edx >> 6 & 1;
	cpu->pse36 = r1.edx >> 17 & 1;
	cpu->nx = rx.edx >> 20 & 1;
	cpu->gbpages = rx.edx >> 26 & 1;
	cpu->lm = rx.edx >> 29 & 1;
	cpu->smep = r7.ebx >> 7 & 1;
	cpu->smap = r7.ebx >> 20 & 1;
	cpu->pku = r7.ecx >> 3 & 1;
	cpu->la57 = r7.ecx >> 16 & 1;
	if (xmax >= 0x80000008u)
		cpu->maxphy = cpuid(0x80000008u, 0).eax & 0xff;
	else
		cpu->maxphy = cpu->pae ? 36 : 32;
}

void harness_setup(void)
{
	uint64_t up = X86_PTE_P | X86_PTE_RW | X86_PTE_US;
	unsigned long cr0 = read_cr0();

	read_cpu(&env.cpu);
	if (DATA_BASE + DATA_SIZE > HARNESS_MAP_BYTES ||
	    (uintptr_t)__image_end > DATA_BASE)
		panic("walkprobe: image overlaps the data region");
	memset((void *)(uintptr_t)DATA_BASE, 0xC3, DATA_SIZE);

	cr0 &= ~(1ul << 18); /* AM: EFLAGS.AC must never mean alignment checks */
	env.base_cr0 = cr0 | X86_CR0_PE | X86_CR0_PG;
	env.base_efer = 0;
	switch (env.mode) {
	case PM_32:
		env.top = 2;
		env.esize = 4;
		env.root = alloc_table();
		map_low(env.root, 1024);
		env.slot = 0x300; /* VA 0xC0000000 */
		env.test_tab[1] = alloc_table();
		env.base_cr4 = 0;
		write_cr4(0);
		write_cr3(env.root);
		write_cr0(env.base_cr0);
		break;
	case PM_PAE: {
		uintptr_t pd;

		env.top = 3;
		env.esize = 8;
		env.root = alloc_table();
		pd = alloc_table();
		map_low(pd, 512);
		env.harness_pdpte0 = pd | X86_PTE_P;
		set(env.root, 0, env.harness_pdpte0);
		env.slot = 3; /* VA 0xC0000000 */
		env.test_tab[2] = alloc_table();
		env.test_tab[1] = alloc_table();
		env.base_cr4 = X86_CR4_PAE;
		write_cr4(env.base_cr4);
		write_cr3(env.root);
		write_cr0(env.base_cr0);
		break;
	}
	case PM_LONG4:
	case PM_LONG5: {
		uintptr_t pml4 = alloc_table(), pdpt = alloc_table();
		uintptr_t pd = alloc_table();

		env.top = env.mode == PM_LONG5 ? 5 : 4;
		env.esize = 8;
		map_low(pd, 512);
		set(pdpt, 0, pd | up);
		set(pml4, 0, pdpt | up);
		env.slot = 0x1F0; /* a slot in the upper half: sign extension */
		for (unsigned l = 1; l < env.top; l++)
			env.test_tab[l] = alloc_table();
		env.base_efer = rdmsr(X86_MSR_EFER) & (X86_EFER_LME | X86_EFER_LMA);
		env.base_cr4 = X86_CR4_PAE;
		if (env.mode == PM_LONG4) {
			env.root = pml4;
			write_cr4(env.base_cr4);
			write_cr3(env.root);
		} else {
#ifdef __x86_64__
			if (!env.cpu.la57)
				panic("walkprobe: mode=long5 but no LA57");
			env.root = alloc_table();
			set(env.root, 0, pml4 | up);
			env.base_cr4 |= X86_CR4_LA57;
			paging_reenter(env.root, env.base_cr4);
#endif
		}
		break;
	}
	}
}
