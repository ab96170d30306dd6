/*
 * Umbra's hypercalls: the interface is include/umbra/hypercall.h.
 */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H

#include "umbra/hypercall.h"

struct vcpu;
void hypercall(struct vcpu *v);

#endif
