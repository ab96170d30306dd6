/*
 * The end of a run: panic, hv_exit, and the isa-debug-exit write.
 */
#include "panic.h"

#include <stdarg.h>
#include <stdbool.h>

#include "console.h"
#include "cpu.h"

static panic_context_fn context_fn;
static exit_report_fn report_fn;
static bool panicking;

void panic_set_context(panic_context_fn fn)
{
	context_fn = fn;
}

void hv_set_exit_report(exit_report_fn fn)
{
	report_fn = fn;
}

void debug_exit(uint8_t code)
{
	outb(DEBUG_EXIT_IOBASE, code);
	/* No isa-debug-exit device (real hardware): stop here. */
	kprintf("umbra: halted (exit code %#x; no isa-debug-exit device)\n",
		code);
	cpu_halt_forever();
}

void panic_begin(void)
{
	if (panicking) {
		kprintf("umbra: PANIC while panicking\n");
		debug_exit(UMBRA_EXIT_PANIC);
	}
	panicking = true;
	/* Everything a panic prints is shown, whatever the log level. */
	if (log_level < LOG_INFO)
		log_level = LOG_INFO;
}

void panic_end(void)
{
	kprintf("umbra:   host cr0 %llx cr2 %llx cr3 %llx cr4 %llx efer %llx\n",
		(unsigned long long)read_cr0(), (unsigned long long)read_cr2(),
		(unsigned long long)read_cr3(), (unsigned long long)read_cr4(),
		(unsigned long long)rdmsr(MSR_EFER));
	if (context_fn)
		context_fn();
	kprintf("umbra: exiting with code %#x (QEMU status %d)\n",
		UMBRA_EXIT_PANIC, DEBUG_EXIT_STATUS(UMBRA_EXIT_PANIC));
	debug_exit(UMBRA_EXIT_PANIC);
}

void panic(const char *fmt, ...)
{
	va_list ap;

	panic_begin();
	kprintf("umbra: PANIC: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	kprintf("umbra:   called from %p, stack %p\n",
		__builtin_return_address(0), __builtin_frame_address(0));
	panic_end();
}

void hv_exit(uint8_t code)
{
	if (report_fn) {
		exit_report_fn fn = report_fn;

		report_fn = NULL; /* a failure while reporting must not loop */
		fn();
	}
	debug_exit(code);
}
