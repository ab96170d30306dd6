/*
 * Control register and TLB instruction exits.
 *
 * QEMU's SVM reports these before the instruction runs, with no operand
 * information (no decode assists), so the instruction at RIP is emulated:
 * MOV to/from CR0/CR3/CR4, CLTS, LMSW, SMSW, INVLPG.  The emulator checks
 * what the architecture fixes (CPL 0, reserved CR0 bits, PG without PE,
 * NW without CD, ...); vcpu_emulate.c adds what depends on the virtual CPU
 * (CR4 bits CPUID hides, CR3 above MAXPHYADDR, entering and leaving long
 * mode) and hands the new registers to the engine, which may refuse too
 * (a PAE PDPTE with reserved bits: #GP).  Reads return the guest's values.
 *
 * INVLPG exits only with invlpg=exit.  INVPCID is offered to the guest
 * whether or not the CPU has it (the shadow never uses PCIDs, so Umbra only
 * has to flush): on a CPU with it, its intercept brings it here; on one
 * without (QEMU's TCG), it raises #UD, which is intercepted for that.
 */
#include "decode.h"
#include "exits.h"
#include "vcpu.h"
#include "vcpu_emulate.h"

void exit_cr_read(struct vcpu *v)
{
	vcpu_emulate(v, exit_name(v->last.code));
}

void exit_cr_write(struct vcpu *v)
{
	vcpu_emulate(v, exit_name(v->last.code));
}

void exit_invlpg(struct vcpu *v)
{
	vcpu_emulate(v, "invlpg");
}

void exit_invpcid(struct vcpu *v)
{
	vcpu_emulate(v, "invpcid");
}

/* Any other #UD is the guest's own. */
void exit_invalid_opcode(struct vcpu *v)
{
	if (!vcpu_emulate_if(v, X86_INSN_INVPCID, "invpcid"))
		vcpu_inject_ud(v);
}
