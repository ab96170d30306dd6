/*
 * libcheck: a test of the guest library itself.  Checks serial output,
 * try_call() recovery from #UD and #PF/#GP, a trip to CPL 3 and back
 * through the int 0x80 gate, a fault at CPL 3, (64-bit) leaving and
 * re-entering long mode with paging_reenter(); then, unless `smoke=1` is
 * on the command line, the page allocator, the page-table builders and
 * user contexts (check_*.c).
 */
#include "libcheck.h"

int failures;

static void do_ud2(void *arg)
{
	(void)arg;
	__asm__ volatile("ud2");
}

static void do_nothing(void *arg)
{
	*(int *)arg = 42;
}

static void do_bad_read(void *arg)
{
	(void)arg;
#ifdef __x86_64__
	/* Non-canonical: #GP(0). */
	*(volatile uint8_t *)0x8000000000000000ull;
#else
	/* Beyond the 4 GiB segment limit?  No: flat.  Use a #GP from a bad
	 * segment load instead. */
	__asm__ volatile("mov %0, %%ds" : : "r"(0x1234) : "memory");
#endif
}

static uint8_t user_stack[4096] USER_DATA;
static volatile uint32_t user_counter USER_DATA;

USER_TEXT __attribute__((used, naked)) static void user_entry(void)
{
	__asm__ volatile(
#ifdef __x86_64__
		"incl user_counter(%rip)\n\t"
		"cmp $1, %rdi\n\t"
#else
		"incl user_counter\n\t"
		"cmp $1, %eax\n\t"
#endif
		"jne 1f\n\t"
		"cli\n\t" /* privileged at CPL 3: #GP */
		"1: int $0x80\n\t"
		"ud2");
}

int guest_main(void)
{
	struct trap_info ti;
	int x = 0;
	uint32_t v;
	uintptr_t usp = (uintptr_t)user_stack + sizeof(user_stack);

	kprintf("libcheck: %s flavour, cmdline \"%s\"\n",
		sizeof(long) == 8 ? "64-bit" : "32-bit", cmdline());
	kprintf("libcheck: printf %d %u %x %#llx %s %c %05d\n", -5, 17u, 0xbeefu,
		0x123456789abcdefull, "str", 'c', 42);
	CHECK(cmdline_get_u64("libcheck_num", 7) == 7, "default");

	v = try_call(do_ud2, NULL, &ti);
	CHECK(v == 6, "ud2 gave vector %#x", v);
	v = try_call(do_nothing, &x, &ti);
	CHECK(v == TRAP_NONE && x == 42, "plain call: %#x %d", v, x);
	v = try_call(do_bad_read, NULL, &ti);
	CHECK(v == 13, "bad access gave vector %#x error %#x", v, ti.error);

	v = run_user((uintptr_t)user_entry, usp, 0, 0, 0, &ti);
	CHECK(v == TRAP_SYSCALL && user_counter == 1,
	      "user trip: vector %#x counter %u", v, user_counter);
	CHECK((ti.cs & 3) == 3, "syscall from cs %#x", ti.cs);
	v = run_user((uintptr_t)user_entry, usp, EFLAGS_AC, 1, 0, &ti);
	CHECK(v == 13 && user_counter == 2, "user cli: vector %#x", v);
	v = try_call(do_ud2, NULL, &ti);
	CHECK(v == 6, "ud2 after user trips gave vector %#x", v);

#ifdef __x86_64__
	paging_reenter(read_cr3(), read_cr4());
	CHECK(rdmsr(0xC0000080) & (1u << 10), "LMA after paging_reenter");
	v = run_user((uintptr_t)user_entry, usp, 0, 0, 0, &ti);
	CHECK(v == TRAP_SYSCALL, "user trip after reenter: vector %#x", v);
#endif
	if (!cmdline_get_u64("smoke", 0)) {
		check_pages();
		check_page_tables();
		check_uctx();
	}
	kprintf("libcheck: %s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
