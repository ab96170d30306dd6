/*
 * Port I/O exits.  Only the ports intercepts.c marks in the I/O permission
 * map exit; everything else reaches the real device.
 *
 * Port 0xf4 (isa-debug-exit): the guest's exit status.  Umbra prints its
 * report, then writes the same byte to the real port, so QEMU exits with
 * the status the guest chose, exactly as without Umbra.  Reads return 0.
 */
#include "exits.h"
#include "vcpu.h"

#include "console.h"
#include "intercepts.h"
#include "vcpu_emulate.h"

static unsigned io_size(uint64_t info)
{
	if (info & IOIO_SIZE8)
		return 1;
	if (info & IOIO_SIZE16)
		return 2;
	return 4;
}

void exit_ioio(struct vcpu *v)
{
	const uint64_t info = v->last.info1;
	const uint16_t port = (uint16_t)(info >> IOIO_PORT_SHIFT);
	const bool in = info & IOIO_IN;
	const unsigned size = io_size(info);

	if (info & IOIO_STRING) {
		/* INS/OUTS: QEMU gives no address size; the emulator uses the
		 * guest's own, and its memory accesses go through the guest's
		 * tables. */
		vcpu_emulate(v, "string I/O");
		return;
	}
	if (port == PORT_DEBUG_EXIT) {
		if (!in)
			vcpu_guest_exit(v, (uint8_t)v->gpr[X86_RAX]);
		/* IN: zero, at the access size (upper RAX bits kept for 8/16,
		 * cleared for a 32-bit read as the CPU does). */
		if (size == 4)
			v->gpr[X86_RAX] = 0;
		else
			v->gpr[X86_RAX] &= ~((1ull << (size * 8)) - 1);
		v->vmcb->rip = v->last.info2; /* EXITINFO2: the next RIP */
		return;
	}
	vcpu_fatal(v, UMBRA_EXIT_UNHANDLED,
		   "I/O exit for port %#x, which Umbra does not intercept", port);
}
