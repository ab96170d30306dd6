/*
 * Turning SVM on.
 */
#include "svm.h"

#include "console.h"
#include "cpu.h"
#include "hostmap.h"
#include "pmm.h"

bool svm_init(struct svm_caps *caps, const char **why)
{
	struct cpuid_regs r = cpuid(CPUID_LEAF_EXT_MAX, 0);
	uint64_t hsave;

	if (r.eax < CPUID_LEAF_SVM ||
	    !(cpuid(CPUID_LEAF_EXT_AMD, 0).ecx & CPUID_81_ECX_SVM)) {
		*why = "the CPU has no SVM (AMD-V); on QEMU use -cpu max";
		return false;
	}
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS) {
		*why = "SVM is disabled by the firmware (VM_CR.SVMDIS): enable "
		       "virtualization in the BIOS setup";
		return false;
	}
	r = cpuid(CPUID_LEAF_SVM, 0);
	*caps = (struct svm_caps){
		.revision = r.eax & 0xFF,
		.n_asids = r.ebx,
		.features = r.edx,
		.nrip_save = r.edx & SVM_FEATURE_NRIP_SAVE,
		.flush_by_asid = r.edx & SVM_FEATURE_FLUSH_BY_ASID,
		.decode_assists = r.edx & SVM_FEATURE_DECODE_ASSISTS,
	};
	if (caps->n_asids < 2) {
		*why = "SVM offers no ASID for a guest";
		return false;
	}
	/* VMRUN stores the host state it restores at #VMEXIT here. */
	hsave = page_alloc_zeroed(1, PMM_NO_LIMIT);
	if (hsave == PMM_NONE) {
		*why = "no memory for the SVM host save area";
		return false;
	}
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, hsave);
	log_debug("SVM revision %u, %u ASIDs, features %#x", caps->revision,
		  caps->n_asids, caps->features);
	return true;
}
