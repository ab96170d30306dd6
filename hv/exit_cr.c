/*
 * Control register and INVLPG exits.
 *
 * QEMU's SVM reports these before the instruction runs, with no operand
 * information (no decode assists), so the instruction at RIP is emulated:
 * MOV to/from CR0/CR3/CR4, CLTS, LMSW, SMSW, INVLPG.  The emulator checks
 * what the architecture fixes (CPL 0, reserved CR0 bits, PG without PE,
 * NW without CD, ...); vcpu_emulate.c adds what depends on the virtual CPU
 * (CR4 bits CPUID hides, CR3 above MAXPHYADDR, entering and leaving long
 * mode) and hands the new registers to the engine, which may refuse too
 * (a PAE PDPTE with reserved bits: #GP).  Reads return the guest's values.
 */
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
