/*
 * The host's privileged instructions, one small inline wrapper each, and
 * the architectural numbers they take (MSR indices, CPUID bits, control
 * register bits the paging constants of umbra/x86.h do not already name).
 *
 * Umbra runs in 64-bit mode at CPL 0 with interrupts disabled; nothing
 * here saves or restores state for a caller.
 */
#ifndef HV_CPU_H
#define HV_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "umbra/x86.h"

/* ---- control register bits (beyond umbra/x86.h) ------------------------ */
#define CR0_MP  UMBRA_BIT(1)
#define CR0_EM  UMBRA_BIT(2)
#define CR0_TS  UMBRA_BIT(3)
#define CR0_ET  UMBRA_BIT(4)
#define CR0_NE  UMBRA_BIT(5)
#define CR0_AM  UMBRA_BIT(18)

#define CR4_VME        UMBRA_BIT(0)
#define CR4_PVI        UMBRA_BIT(1)
#define CR4_TSD        UMBRA_BIT(2)
#define CR4_DE         UMBRA_BIT(3)
#define CR4_MCE        UMBRA_BIT(6)
#define CR4_PCE        UMBRA_BIT(8)
#define CR4_OSFXSR     UMBRA_BIT(9)
#define CR4_OSXMMEXCPT UMBRA_BIT(10)
#define CR4_UMIP       UMBRA_BIT(11)
#define CR4_FSGSBASE   UMBRA_BIT(16)
#define CR4_OSXSAVE    UMBRA_BIT(18)
#define CR4_CET        UMBRA_BIT(23)

#define EFER_SCE   UMBRA_BIT(0)
#define EFER_SVME  UMBRA_BIT(12)
#define EFER_LMSLE UMBRA_BIT(13)
#define EFER_FFXSR UMBRA_BIT(14)
#define EFER_TCE   UMBRA_BIT(15)

#define RFLAGS_CF       UMBRA_BIT(0)
#define RFLAGS_RESERVED UMBRA_BIT(1) /* always reads 1 */
#define RFLAGS_TF       UMBRA_BIT(8)
#define RFLAGS_IF       UMBRA_BIT(9)
#define RFLAGS_DF       UMBRA_BIT(10)
#define RFLAGS_VM       UMBRA_BIT(17)

/* ---- MSRs --------------------------------------------------------------- */
#define MSR_APIC_BASE     0x0000001Bu
#define MSR_PAT           0x00000277u
#define MSR_EFER          X86_MSR_EFER
#define MSR_STAR          0xC0000081u
#define MSR_LSTAR         0xC0000082u
#define MSR_CSTAR         0xC0000083u
#define MSR_SFMASK        0xC0000084u
#define MSR_FS_BASE       0xC0000100u
#define MSR_GS_BASE       0xC0000101u
#define MSR_KERNEL_GS_BASE 0xC0000102u
#define MSR_VM_CR         0xC0010114u /* SVM lock and disable bits */
#define MSR_VM_HSAVE_PA   0xC0010117u /* where VMRUN saves host state */

#define VM_CR_LOCK   UMBRA_BIT(3) /* SVMDIS is locked */
#define VM_CR_SVMDIS UMBRA_BIT(4) /* EFER.SVME cannot be set */

/* ---- CPUID --------------------------------------------------------------- */
#define CPUID_LEAF_FEATURES     0x00000001u
#define CPUID_LEAF_EXT_FEATURES 0x00000007u
#define CPUID_LEAF_XSAVE        0x0000000Du
#define CPUID_LEAF_HV_BASE      0x40000000u /* hypervisor leaves */
#define CPUID_LEAF_EXT_MAX      0x80000000u
#define CPUID_LEAF_EXT_AMD      0x80000001u
#define CPUID_LEAF_ADDR_SIZES   0x80000008u
#define CPUID_LEAF_SVM          0x8000000Au

#define CPUID_1_ECX_MONITOR    UMBRA_BIT(3)
#define CPUID_1_ECX_VMX        UMBRA_BIT(5)
#define CPUID_1_ECX_PCID       UMBRA_BIT(17)
#define CPUID_1_ECX_X2APIC     UMBRA_BIT(21)
#define CPUID_1_ECX_XSAVE      UMBRA_BIT(26)
#define CPUID_1_ECX_TSC_DEADLINE UMBRA_BIT(24)
#define CPUID_1_ECX_HYPERVISOR UMBRA_BIT(31)
#define CPUID_1_EDX_PSE        UMBRA_BIT(3)
#define CPUID_1_EDX_PAE        UMBRA_BIT(6)
#define CPUID_1_EDX_PSE36      UMBRA_BIT(17)
#define CPUID_7_EBX_FSGSBASE   UMBRA_BIT(0)
#define CPUID_7_EBX_SMEP       UMBRA_BIT(7)
#define CPUID_7_EBX_INVPCID    UMBRA_BIT(10)
#define CPUID_7_EBX_SMAP       UMBRA_BIT(20)
#define CPUID_7_ECX_UMIP       UMBRA_BIT(2)
#define CPUID_7_ECX_PKU        UMBRA_BIT(3)
#define CPUID_7_ECX_OSPKE      UMBRA_BIT(4)
#define CPUID_7_ECX_LA57       UMBRA_BIT(16)
#define CPUID_81_ECX_SVM       UMBRA_BIT(2)
#define CPUID_81_ECX_SKINIT    UMBRA_BIT(12)
#define CPUID_81_EDX_NX        UMBRA_BIT(20)
#define CPUID_81_EDX_GBPAGES   UMBRA_BIT(26)
#define CPUID_81_EDX_LM        UMBRA_BIT(29)
#define CPUID_88_EAX_PHYS_BITS 0xFFu

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;

	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

/* ---- port I/O ------------------------------------------------------------ */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* ---- MSRs and control registers ------------------------------------------- */
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr"
			 :
			 : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
}

#define HV_DEFINE_CR(n)                                                     \
	static inline uint64_t read_cr##n(void)                             \
	{                                                                   \
		uint64_t v;                                                 \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));          \
		return v;                                                   \
	}                                                                   \
	static inline void write_cr##n(uint64_t v)                          \
	{                                                                   \
		__asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); \
	}
HV_DEFINE_CR(0)
HV_DEFINE_CR(2)
HV_DEFINE_CR(3)
HV_DEFINE_CR(4)
HV_DEFINE_CR(8)
#undef HV_DEFINE_CR

static inline uint64_t read_rflags(void)
{
	uint64_t v;

	__asm__ volatile("pushfq; popq %0" : "=r"(v));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* RDPKRU needs CR4.PKE in the host; PKRU only governs user pages, and the
 * host maps none, so the guest's PKRU can stay live while Umbra runs. */
static inline uint32_t rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static inline void invlpg(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline void cpu_pause(void)
{
	__asm__ volatile("pause");
}

__attribute__((noreturn)) static inline void cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif
