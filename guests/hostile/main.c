/*
 * The hostile guest's driver: in each paging mode of the flavour, run every
 * phase, with the hypervisor's audit after each (natively there is none).
 *
 * Arguments: procs=N (address spaces in all, default 3000), alive=N (at
 * once, default 400), storm=N (page-table writes, default 6000).
 */
#include "hostile.h"

#define FAIL_LINES 10u /* failures printed per mode */

static uint32_t total_checks, total_failed;
static const char *phase_name = "";

bool check(struct hctx *h, bool ok, const char *fmt, ...)
{
	va_list ap;

	h->checks++;
	if (ok)
		return true;
	if (h->failed++ >= FAIL_LINES)
		return false;
	kprintf("hostile: %s: %s: FAIL: ", h->name, phase_name);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	return false;
}

uint32_t rng_next(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

struct phase {
	const char *name;
	void (*run)(struct hctx *h);
};

static const struct phase phases[] = {
	{ "ram", phase_ram },
	{ "outside", phase_outside },
	{ "mmio", phase_mmio },
	{ "loops", phase_loops },
	{ "storm", phase_storm },
	{ "procs", phase_procs },
};

static void run_mode(enum pt_mode mode, struct pt *previous)
{
	struct hctx h = { .checks = 0 };

	if (!space_enter(&h, mode)) {
		kprintf("hostile: %s: not offered by this CPU\n", h.name);
		return;
	}
	if (previous->root)
		pt_free(previous, 1, 0);
	for (unsigned i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		phase_name = phases[i].name;
		phases[i].run(&h);
		check(&h, hv_audit_clean(), "the hypervisor's audit found violations");
	}
	kprintf("hostile: %s: %u checks, %u failed\n", h.name, h.checks,
		h.failed);
	total_checks += h.checks;
	total_failed += h.failed;
	*previous = h.pt;
}

int guest_main(void)
{
#ifdef __x86_64__
	static const enum pt_mode modes[] = { PT_MODE_LONG4, PT_MODE_LONG5 };
#else
	static const enum pt_mode modes[] = { PT_MODE_32, PT_MODE_PAE };
#endif
	struct pt previous = { .root = 0 };

	page_init();
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		run_mode(modes[i], &previous);
	kprintf("hostile: summary: %u checks, %u failed: %s\n", total_checks,
		total_failed, total_failed ? "FAIL" : "ok");
	return total_failed != 0;
}
