/*
 * How a run ends.
 *
 * panic(): Umbra itself failed.  It prints the message, the host's control
 * registers, then whatever the registered context printer adds (the vCPU:
 * guest registers, the last exit, exit and engine statistics), and exits
 * QEMU with UMBRA_EXIT_PANIC (debug_exit.h).  A panic inside a panic exits
 * at once.
 *
 * hv_exit(): the run is over for a reason that is not a bug (the guest
 * exited, triple-faulted, or asked for something unsupported); it prints
 * the statistics and exits with `code`.
 */
#ifndef HV_PANIC_H
#define HV_PANIC_H

#include <stdint.h>

#include "debug_exit.h"

__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* The pieces of panic(), for the host exception handler (traps.c). */
void panic_begin(void);
__attribute__((noreturn)) void panic_end(void);

/* What panic prints after the host state; set by the vCPU once it runs. */
typedef void (*panic_context_fn)(void);
void panic_set_context(panic_context_fn fn);

/* What a normal end prints before exiting (the statistics). */
typedef void (*exit_report_fn)(void);
void hv_set_exit_report(exit_report_fn fn);
__attribute__((noreturn)) void hv_exit(uint8_t code);

#endif
