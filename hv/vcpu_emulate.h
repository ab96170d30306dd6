/*
 * Running one guest instruction in the emulator (hv/emulate.h) on behalf of
 * an exit: control register, INVLPG and INVPCID intercepts, string I/O, #PF
 * exits the shadow cannot resolve (writes to monitored page tables, MMIO,
 * access handlers), and #UD on an instruction Umbra offers the guest but
 * the CPU lacks (INVPCID).
 *
 * The emulator sees the guest's own registers (its CR0/CR3/CR4/EFER, not
 * the shadow's); its memory accesses are translated through the guest's
 * page tables (umbra_translate) and reach guest RAM through the engine
 * (umbra_emulated_write for every write, so monitored tables and dirty
 * logs stay exact); control register writes go to the engine
 * (umbra_set_paging), INVLPG and INVPCID to umbra_invlpg and
 * umbra_flush_guest_tlb, port I/O to the real ports
 * (except the isa-debug-exit port, which ends the run).
 */
#ifndef HV_VCPU_EMULATE_H
#define HV_VCPU_EMULATE_H

#include <stdbool.h>

struct vcpu;

/*
 * Fetch, decode and emulate the instruction at the guest's RIP, then apply
 * the outcome: registers and RIP updated, or the exception it raises
 * injected.  `why` names the exit for the report if the instruction cannot
 * be emulated (the run then ends with UMBRA_EXIT_UNHANDLED).
 */
void vcpu_emulate(struct vcpu *v, const char *why);

/*
 * The same, only if the instruction at RIP decodes as `mnemonic` (an enum
 * x86_mnemonic); otherwise nothing happens and the answer is false.
 */
bool vcpu_emulate_if(struct vcpu *v, unsigned mnemonic, const char *why);

#endif
