/*
 * How Umbra ends a run under QEMU: a byte written to the isa-debug-exit
 * device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`) makes QEMU exit
 * with status (byte << 1) | 1.  On a PC without the device the write does
 * nothing and Umbra halts instead.
 *
 * The guest's own writes to the port are intercepted and replayed by Umbra
 * after it has printed its statistics, so a guest's status is Umbra's.
 * Umbra's own outcomes use bytes the test guests never write (they use
 * 0x10 = pass, 0x11 = fail; see guests/lib/guest.h).  hv/README.md lists
 * them with their QEMU exit statuses.  Assembly includes this file too.
 */
#ifndef HV_DEBUG_EXIT_H
#define HV_DEBUG_EXIT_H

#define DEBUG_EXIT_IOBASE 0xf4

#define UMBRA_EXIT_PANIC      0x70 /* status 225: Umbra failed (a bug) */
#define UMBRA_EXIT_SHUTDOWN   0x71 /* 227: the guest triple-faulted */
#define UMBRA_EXIT_UNHANDLED  0x72 /* 229: an exit Umbra cannot handle yet */
#define UMBRA_EXIT_CONFIG     0x73 /* 231: bad command line or no guest */
#define UMBRA_EXIT_NO_SVM     0x74 /* 233: no long mode or SVM unusable */
#define UMBRA_EXIT_GUEST_HALT 0x75 /* 235: the guest halted for good (HLT
                                      with interrupts off) */
#define UMBRA_EXIT_GUEST_ERROR 0x76 /* 237: the guest did something Umbra
                                       reports as fatal (engine error,
                                       unemulatable instruction) */

/* The QEMU exit status for a byte written to the port. */
#define DEBUG_EXIT_STATUS(code) (((code) << 1) | 1)

#ifndef __ASSEMBLER__
#include <stdint.h>
/* Write the byte; QEMU exits.  Halts if nothing listens. */
__attribute__((noreturn)) void debug_exit(uint8_t code);
#endif

#endif
