/* libcheck's parts: each checks one area of the guest library and counts
 * its failures in `failures`; the output is the same on every run. */
#ifndef LIBCHECK_H
#define LIBCHECK_H

#include "guest.h"

extern int failures;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			kprintf("libcheck: FAIL %s:%d: ", __FILE__, __LINE__); \
			kprintf(__VA_ARGS__);                               \
			kprintf("\n");                                      \
			failures++;                                         \
		}                                                           \
	} while (0)

/* "ok" when no check failed since `before` failures. */
static inline const char *verdict(int before)
{
	return failures == before ? "ok" : "FAILED";
}

void check_pages(void);       /* check_page.c */
void check_page_tables(void); /* check_pt.c: builders in every mode, and
				 activation of the flavour's modes */
void check_uctx(void);        /* check_uctx.c: system calls, #PF, preemption */
/* Leave the tables under test for the boot state: the boot tables (64-bit)
 * or paging off (32-bit); check_pt.c. */
void back_to_boot(uint64_t boot_cr3);

#endif
