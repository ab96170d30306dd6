/*
 * The intercept policy.
 *
 * Intercepted, because the shadow engine must see every paging event:
 *   CR0, CR3, CR4 reads and writes (the guest sees its own values, the CPU
 *   runs on the shadow's), #PF, EFER reads and writes.
 * Not intercepted unless asked (invlpg=exit): INVLPG.  The shadow never
 *   lags the guest's tables (every write to a shadowed table is applied at
 *   once, with a full TLB flush whenever a present shadow entry changes),
 *   so all a guest INVLPG has left to do is drop the address from the TLB,
 *   which the instruction itself does on the shadow's translation.
 * Intercepted because Umbra virtualizes PCIDs (the shadow runs without
 *   them): INVPCID, by its own intercept when the CPU has the instruction,
 *   else by intercepting #UD (the CPU's answer to it), which exit_cr.c
 *   emulates when it was INVPCID and reflects otherwise.
 * Intercepted, because they would leak or break the host:
 *   CPUID (SVM hidden, hypervisor bit set), every SVM instruction (VMRUN,
 *   VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA: they take host-physical
 *   addresses or change host state; the guest gets #UD), VM_CR and
 *   VM_HSAVE_PA, INVD (would drop the host's dirty cache lines; run as
 *   WBINVD), task switches (they load CR3 behind the engine's back),
 *   shutdown (a triple fault ends the run with a report).
 * Intercepted to give the guest a way out: HLT (reported when it would
 *   halt for good), VMMCALL (Umbra's hypercalls), port 0xf4.
 * Passed through: every other I/O port, every other MSR inside the three
 *   ranges a permission map covers (MSRs outside them always exit and get
 *   #GP), interrupts (the guest's RFLAGS.IF masks them; V_INTR_MASKING = 0),
 *   every other exception, RDTSC, XSETBV, MONITOR/MWAIT, CR8, DRs.
 */
#include "intercepts.h"

#include "cmdline.h"
#include "cpu.h"
#include "hostmap.h"
#include "panic.h"
#include "pmm.h"
#include "umbra/x86.h"

/* The MSR permission map: three 2 KiB blocks, two bits per MSR (read,
 * write), for MSRs 0-0x1FFF, 0xC0000000-0xC0001FFF, 0xC0010000-0xC0011FFF. */
#define MSRPM_BLOCK_BYTES 0x800u
#define MSRPM_BLOCK_MSRS  0x2000u
static const uint32_t msrpm_block_base[] = { 0x00000000u, 0xC0000000u,
					     0xC0010000u };

static uint64_t iopm_pa, msrpm_pa;

static void iopm_intercept(uint8_t *iopm, uint16_t port)
{
	iopm[port / 8] |= (uint8_t)(1u << (port % 8));
}

static void msrpm_intercept(uint8_t *msrpm, uint32_t msr)
{
	for (unsigned b = 0; b < 3; b++) {
		uint32_t off = msr - msrpm_block_base[b];

		if (off < MSRPM_BLOCK_MSRS) {
			uint32_t bit = off * 2; /* read bit; write is bit + 1 */
			uint8_t *p = msrpm + b * MSRPM_BLOCK_BYTES + bit / 8;

			*p |= (uint8_t)(3u << (bit % 8));
			return;
		}
	}
	panic("MSR %#x is outside the permission map (always intercepted)", msr);
}

static void build_maps(void)
{
	uint8_t *iopm, *msrpm;

	iopm_pa = page_alloc_zeroed(pages_for(IOPM_SIZE), PMM_NO_LIMIT);
	msrpm_pa = page_alloc_zeroed(pages_for(MSRPM_SIZE), PMM_NO_LIMIT);
	if (iopm_pa == PMM_NONE || msrpm_pa == PMM_NONE)
		panic("no memory for the permission maps");
	iopm = phys_to_virt(iopm_pa);
	msrpm = phys_to_virt(msrpm_pa);

	iopm_intercept(iopm, PORT_DEBUG_EXIT);

	msrpm_intercept(msrpm, MSR_EFER);
	msrpm_intercept(msrpm, MSR_VM_CR);
	msrpm_intercept(msrpm, MSR_VM_HSAVE_PA);
}

void intercepts_init(struct vmcb *vmcb)
{
	if (!iopm_pa)
		build_maps();
	vmcb->iopm_base_pa = iopm_pa;
	vmcb->msrpm_base_pa = msrpm_pa;

	vmcb->intercept_cr = INTERCEPT_CR_READ(0) | INTERCEPT_CR_READ(3) |
			     INTERCEPT_CR_READ(4) | INTERCEPT_CR_WRITE(0) |
			     INTERCEPT_CR_WRITE(3) | INTERCEPT_CR_WRITE(4);
	vmcb->intercept_exceptions = INTERCEPT_EXC(X86_VEC_PF);
	if (cpuid(CPUID_LEAF_EXT_FEATURES, 0).ebx & CPUID_7_EBX_INVPCID)
		vmcb->intercept_misc3 = INTERCEPT3_INVPCID;
	else
		vmcb->intercept_exceptions |= INTERCEPT_EXC(X86_VEC_UD);
	vmcb->intercept_misc1 = INTERCEPT1_CPUID | INTERCEPT1_INVD |
				INTERCEPT1_HLT | INTERCEPT1_INVLPGA |
				INTERCEPT1_IOIO_PROT | INTERCEPT1_MSR_PROT |
				INTERCEPT1_TASK_SWITCH | INTERCEPT1_SHUTDOWN;
	if (hv_opt.invlpg_exit)
		vmcb->intercept_misc1 |= INTERCEPT1_INVLPG;
	vmcb->intercept_misc2 = INTERCEPT2_VMRUN | INTERCEPT2_VMMCALL |
				INTERCEPT2_VMLOAD | INTERCEPT2_VMSAVE |
				INTERCEPT2_STGI | INTERCEPT2_CLGI |
				INTERCEPT2_SKINIT;
}
