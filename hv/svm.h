/*
 * AMD SVM on the host: detection, enabling, and the instructions around a
 * world switch.
 *
 * svm_init() checks CPUID 0x80000001 ECX.SVM and the VM_CR MSR (firmware
 * may disable and lock SVM), sets EFER.SVME, and gives VMRUN its host
 * save area (VM_HSAVE_PA).  svm_vmrun() is the world switch (svm_run.S).
 */
#ifndef HV_SVM_H
#define HV_SVM_H

#include <stdbool.h>
#include <stdint.h>

struct svm_caps {
	uint32_t revision;  /* CPUID 0x8000000A EAX */
	uint32_t n_asids;   /* EBX */
	uint32_t features;  /* EDX */
	bool nrip_save;     /* next-RIP is written at #VMEXIT */
	bool flush_by_asid;
	bool decode_assists;
};

#define SVM_FEATURE_NPT           (1u << 0)
#define SVM_FEATURE_NRIP_SAVE     (1u << 3)
#define SVM_FEATURE_FLUSH_BY_ASID (1u << 6)
#define SVM_FEATURE_DECODE_ASSISTS (1u << 7)

/* Returns false with *why when SVM is missing or disabled. */
bool svm_init(struct svm_caps *caps, const char **why);

/*
 * Run the guest of the VMCB at guest_vmcb_pa until the next #VMEXIT.
 * gpr[16] holds the guest's general-purpose registers in encoding order
 * (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15); RAX and RSP are not
 * touched (the VMCB holds them).  The host's FS, GS, TR, LDTR and system-
 * call MSRs are saved to and restored from the VMCB at host_vmcb_pa.
 */
void svm_vmrun(uint64_t guest_vmcb_pa, uint64_t gpr[16],
	       uint64_t host_vmcb_pa);

/* INVLPGA: drop the translation of va for ASID asid. */
static inline void svm_invlpga(uint64_t va, uint32_t asid)
{
	__asm__ volatile("invlpga %%rax, %%ecx" : : "a"(va), "c"(asid) : "memory");
}

#endif
