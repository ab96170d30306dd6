/*
 * Running one guest instruction in the emulator (hv/emulate.h) on behalf of
 * an exit: control register and INVLPG intercepts, string I/O, and #PF
 * exits the shadow cannot resolve (writes to monitored page tables, MMIO,
 * access handlers).
 *
 * The emulator sees the guest's own registers (its CR0/CR3/CR4/EFER, not
 * the shadow's); its memory accesses are translated through the guest's
 * page tables (umbra_translate) and reach guest RAM through the engine
 * (umbra_emulated_write for every write, so monitored tables and dirty
 * logs stay exact); control register writes go to the engine
 * (umbra_set_paging), INVLPG to umbra_invlpg, port I/O to the real ports
 * (except the isa-debug-exit port, which ends the run).
 */
#ifndef HV_VCPU_EMULATE_H
#define HV_VCPU_EMULATE_H

struct vcpu;

/*
 * Fetch, decode and emulate the instruction at the guest's RIP, then apply
 * the outcome: registers and RIP updated, or the exception it raises
 * injected.  `why` names the exit for the report if the instruction cannot
 * be emulated (the run then ends with UMBRA_EXIT_UNHANDLED).
 */
void vcpu_emulate(struct vcpu *v, const char *why);

#endif
