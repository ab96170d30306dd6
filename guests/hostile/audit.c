/*
 * The hypervisor's audit, asked for by hypercall (hv/hypercall.h: VMMCALL
 * with EAX = "umbr", EBX = 3; the violation count comes back in EBX).
 * Umbra logs the result on its own console lines, which the comparison
 * with the native run leaves out; natively VMMCALL raises #UD.
 */
#include "hostile.h"

#define HYPERCALL_MAGIC 0x756d6272u /* "umbr" */
#define HC_AUDIT        3u
#define HC_DONE         0u

struct hcall {
	uint32_t status, violations;
};

static void do_audit(void *arg)
{
	struct hcall *c = arg;
	uint32_t a = HYPERCALL_MAGIC, b = HC_AUDIT;

	__asm__ volatile("vmmcall" : "+a"(a), "+b"(b) : : "memory");
	c->status = a;
	c->violations = b;
}

bool hv_audit_clean(void)
{
	struct hcall c = { .status = ~0u };

	if (try_call(do_audit, &c, NULL) != TRAP_NONE)
		return true; /* no hypervisor */
	return c.status == HC_DONE && c.violations == 0;
}
