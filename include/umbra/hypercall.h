/*
 * Umbra's hypercall interface, shared by the hypervisor (hv/hypercall.c)
 * and the guests that call it: VMMCALL with EAX = HYPERCALL_MAGIC and the
 * function number in EBX.  Results come back in EAX (HC_DONE, or
 * HC_UNKNOWN for a function Umbra does not have) and EBX/ECX.  Any other
 * VMMCALL raises #UD, as on a machine without a hypervisor.
 *
 *   0 HC_PROBE        EBX = HYPERCALL_VERSION: Umbra is there
 *   1 HC_STATS_PRINT  print exit and engine statistics now
 *   2 HC_STATS_RESET  start a new measurement window (exit and engine
 *                     counters to zero)
 *   3 HC_AUDIT        run the engine's audit; EBX = violations found
 *   4 HC_EXIT_COUNT   EBX = exits so far (low 32 bits), ECX = high 32
 */
#ifndef UMBRA_HYPERCALL_H
#define UMBRA_HYPERCALL_H

#define HYPERCALL_MAGIC   0x756d6272u /* "umbr" */
#define HYPERCALL_VERSION 1u

#define HC_DONE    0u
#define HC_UNKNOWN 0xFFFFFFFFu

enum hypercall_fn {
	HC_PROBE = 0,
	HC_STATS_PRINT = 1,
	HC_STATS_RESET = 2,
	HC_AUDIT = 3,
	HC_EXIT_COUNT = 4,
};

#endif
