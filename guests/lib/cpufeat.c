/* CPU feature checks by CPUID (mm.h): the paging features guests test. */
#include "guest.h"
#include "mm.h"

#define CPUID_FEATURES      0x1u
#define CPUID_EXT_FEATURES  0x7u
#define CPUID_EXT_BASE      0x80000000u
#define CPUID_EXT_INFO      0x80000001u

#define CPUID_1_ECX_PCID    (1u << 17)
#define CPUID_7_EBX_SMEP    (1u << 7)
#define CPUID_7_EBX_SMAP    (1u << 20)
#define CPUID_7_ECX_PKU     (1u << 3)
#define CPUID_7_ECX_LA57    (1u << 16)
#define CPUID_81_EDX_NX     (1u << 20)
#define CPUID_81_EDX_PAGE1G (1u << 26)

/* Leaf `leaf` (subleaf 0), or all zeroes when the CPU does not have it. */
static struct cpuid_regs cpuid_leaf(uint32_t leaf)
{
	uint32_t max = cpuid(leaf & CPUID_EXT_BASE, 0).eax;
	struct cpuid_regs none = { 0, 0, 0, 0 };

	return leaf <= max ? cpuid(leaf, 0) : none;
}

/* The three leaves these checks read, fetched once: CPUID is an exit under
 * a hypervisor, and page-table builders ask on every large mapping. */
struct feature_leaves {
	struct cpuid_regs basic, ext, ext_info;
};

static const struct feature_leaves *features(void)
{
	static struct feature_leaves leaves;
	static bool read;

	if (!read) {
		leaves.basic = cpuid_leaf(CPUID_FEATURES);
		leaves.ext = cpuid_leaf(CPUID_EXT_FEATURES);
		leaves.ext_info = cpuid_leaf(CPUID_EXT_INFO);
		read = true;
	}
	return &leaves;
}

bool cpu_has_la57(void)
{
	return features()->ext.ecx & CPUID_7_ECX_LA57;
}

bool cpu_has_pcid(void)
{
	return features()->basic.ecx & CPUID_1_ECX_PCID;
}

bool cpu_has_pku(void)
{
	return features()->ext.ecx & CPUID_7_ECX_PKU;
}

bool cpu_has_smep(void)
{
	return features()->ext.ebx & CPUID_7_EBX_SMEP;
}

bool cpu_has_smap(void)
{
	return features()->ext.ebx & CPUID_7_EBX_SMAP;
}

bool cpu_has_1g(void)
{
	return features()->ext_info.edx & CPUID_81_EDX_PAGE1G;
}

bool cpu_has_nx(void)
{
	return features()->ext_info.edx & CPUID_81_EDX_NX;
}
