/*
 * What the guest may do without Umbra, and what exits: the VMCB intercept
 * vectors, the I/O permission map and the MSR permission map.  This file
 * and its .c are the platform policy in one place; hv/README.md lists the
 * same choices with their reasons.
 */
#ifndef HV_INTERCEPTS_H
#define HV_INTERCEPTS_H

#include <stdint.h>

#include "vmcb.h"

/* Fill the intercept vectors and point the VMCB at the permission maps
 * (allocated on first use, shared by every VMCB). */
void intercepts_init(struct vmcb *vmcb);

/* The ports and MSRs Umbra virtualizes. */
#define PORT_DEBUG_EXIT 0xf4 /* isa-debug-exit: the guest's exit status */

#endif
