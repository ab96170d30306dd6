/*
 * The hypervisor's audit, asked for by hypercall (HC_AUDIT: the violation
 * count comes back in EBX).
 * Umbra logs the result on its own console lines, which the comparison
 * with the native run leaves out; natively VMMCALL raises #UD.
 */
#include "hostile.h"

struct hcall {
	uint32_t status, violations;
};

static void do_audit(void *arg)
{
	struct hcall *c = arg;

	c->status = umbra_hypercall(HC_AUDIT, &c->violations, NULL);
}

bool hv_audit_clean(void)
{
	struct hcall c = { .status = ~0u };

	if (try_call(do_audit, &c, NULL) != TRAP_NONE)
		return true; /* no hypervisor */
	return c.status == HC_DONE && c.violations == 0;
}
