/*
 * The freestanding guest library: what every Umbra test guest shares.
 *
 * Two flavours are built from the same sources: a 32-bit one (boot32.S,
 * protected mode, paging off at entry) and a 64-bit one (boot64.S: 32-bit
 * multiboot entry, identity-mapped first GiB with 2 MiB pages, long mode).
 * Both are loaded by QEMU's multiboot v1 loader (`-kernel`, ELF32 images).
 *
 * A guest provides `int guest_main(void)`; returning 0 exits QEMU with
 * GUEST_STATUS_PASS, anything else with GUEST_STATUS_FAIL.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "umbra/hypercall.h"

/* ---- segment selectors (the same GDT layout in both flavours) ---------- */
#define SEL_KCODE   0x08 /* ring-0 code: 32-bit, or 64-bit in the 64 flavour */
#define SEL_KDATA   0x10
#define SEL_UCODE   0x1b /* ring-3 code (RPL 3) */
#define SEL_UDATA   0x23 /* ring-3 data and stack (RPL 3) */
#define SEL_TSS     0x28
#define SEL_KCODE32 0x38 /* ring-0 32-bit code (compatibility mode) */

#define EFLAGS_RESERVED1 0x2ul
#define EFLAGS_AC        (1ul << 18)

/* ---- exit through isa-debug-exit (iobase 0xf4): QEMU exits (v<<1)|1 ----- */
#define GUEST_EXIT_PORT  0xf4
#define GUEST_EXIT_PASS  0x10 /* QEMU exit status 33 */
#define GUEST_EXIT_FAIL  0x11 /* QEMU exit status 35 */
#define GUEST_STATUS_PASS ((GUEST_EXIT_PASS << 1) | 1)
#define GUEST_STATUS_FAIL ((GUEST_EXIT_FAIL << 1) | 1)
__attribute__((noreturn)) void guest_exit(uint8_t code);

/* ---- serial console (COM1) and formatted output ------------------------ */
/* kprintf understands %c %s %d %i %u %x %X %p and %%, with an optional '0'
 * flag, a field width and the length modifiers l, ll and z. */
void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* ---- the few libc routines a freestanding compiler may call ------------ */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* FNV-1a, 32 bits: h = FNV1A_INIT, then fold in any number of buffers.
 * Inline, so that USER_TEXT code can checksum too (on x86 a word folded
 * in is its bytes in memory order: fnv1a(h, &w, sizeof(w))). */
#define FNV1A_INIT  0x811c9dc5u
#define FNV1A_PRIME 0x01000193u
static inline __attribute__((always_inline)) uint32_t
fnv1a(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV1A_PRIME;
	return h;
}

/* ---- the multiboot information (physical address, from EBX at entry) ---- */
extern uint32_t mb_info_addr;

/* ---- the multiboot command line ---------------------------------------- */
/* The whole line as QEMU passed it: the kernel file name, then -append. */
const char *cmdline(void);
/* The value of the first `key=value` word, copied into buf (NUL-terminated);
 * false when absent. */
bool cmdline_get(const char *key, char *buf, size_t n);
/* The value parsed as a number (0x prefix: hex, else decimal), or def. */
uint64_t cmdline_get_u64(const char *key, uint64_t def);
/* Parse a number the same way; sets *ok when the whole string parsed. */
uint64_t parse_u64(const char *s, bool *ok);

/* ---- traps -------------------------------------------------------------- */
#define TRAP_NONE    0xffffffffu /* no exception happened */
#define TRAP_SYSCALL 0x80        /* the DPL-3 gate: user code is done */

/* The registers the stubs save, lowest address first. */
#ifdef __x86_64__
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
#else
struct trap_frame {
	uint32_t es, ds;
	uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
	uint32_t vector, error;
	uint32_t rip, cs, rflags; /* pushed by the CPU */
	uint32_t rsp, ss;         /* only from CPL 3 */
};
#endif

/* What one exception looked like. */
struct trap_info {
	uint32_t vector;  /* TRAP_NONE when nothing happened */
	uint32_t error;   /* error code (0 for vectors without one) */
	uint64_t cr2;     /* CR2 read on entry to the handler */
	uint64_t rip;     /* faulting (or next, for traps) instruction */
	uint16_t cs;
};

/*
 * A hook consulted for every trap before the default handling; return true
 * to resume the interrupted code (the frame may be edited).  NULL by
 * default.  The default handling resumes at the innermost try_call(),
 * run_user() or uctx_run() (user.h), and panics when there is none.  IRQs
 * (irq.h) never reach the hook.
 */
extern bool (*trap_hook)(struct trap_frame *tf);

/* Call fn(arg) so that any exception it raises returns here instead: the
 * result is TRAP_NONE when fn returned normally, else the vector (and *info,
 * when not NULL, describes the exception). */
uint32_t try_call(void (*fn)(void *arg), void *arg, struct trap_info *info);

/*
 * Run code at CPL 3: iret to `entry` with stack `user_sp` and EFLAGS `flags`
 * (IF stays clear; pass EFLAGS_AC to set AC), with a0 and a1 in the first
 * two argument registers (64-bit: rdi, rsi; 32-bit: eax, edx).  Returns when
 * the user code raises an exception or executes `int $0x80` (TRAP_SYSCALL).
 * The code and stack must be on user pages (U/S = 1 at every level).
 */
uint32_t run_user(uintptr_t entry, uintptr_t user_sp, unsigned long flags,
		  uintptr_t a0, uintptr_t a1, struct trap_info *info);

/* setjmp/longjmp for ring 0: callee-saved registers, stack, return
 * address and EFLAGS (so a recovery never leaks e.g. EFLAGS.AC from the
 * code that trapped: interrupt gates clear IF and TF but not AC). */
struct jmp_ctx {
	unsigned long r[10];
};
__attribute__((returns_twice)) int lib_setjmp(struct jmp_ctx *c);
__attribute__((noreturn)) void lib_longjmp(struct jmp_ctx *c, int val);

/* ---- Umbra's hypercalls (umbra/hypercall.h) ------------------------------- */
/* VMMCALL function fn with the magic; returns EAX and stores EBX and ECX
 * (when not NULL).  Without Umbra VMMCALL raises #UD: call it from
 * try_call() unless Umbra is known to be there. */
static inline uint32_t umbra_hypercall(uint32_t fn, uint32_t *ebx,
				       uint32_t *ecx)
{
	uint32_t a = HYPERCALL_MAGIC, b = fn, c = 0;

	__asm__ volatile("vmmcall" : "+a"(a), "+b"(b), "+c"(c) : : "memory");
	if (ebx)
		*ebx = b;
	if (ecx)
		*ecx = c;
	return a;
}

/* ---- descriptors ---------------------------------------------------------- */
/* The ring-0 stack the CPU switches to on a trap from CPL 3 (TSS). */
void set_kernel_stack(uintptr_t top);

#ifdef __x86_64__
/* Leave long mode, load CR3 and CR4 with paging off, re-enter long mode:
 * the only way to toggle CR4.LA57.  Code, stack and the new tables must be
 * identity-mapped below 4 GiB in both the old and the new address space. */
void paging_reenter(uint64_t cr3, uint64_t cr4);
#endif

/* ---- image layout (linker script) ---------------------------------------- */
/* The user pages: code in USER_TEXT, data/stack in USER_DATA. */
extern char __image_start[], __image_end[];
extern char __user_start[], __user_end[];
#define USER_TEXT __attribute__((section(".user.text")))
#define USER_DATA __attribute__((section(".user.data"), aligned(16)))

/* ---- provided by the guest ---------------------------------------------- */
int guest_main(void);

#endif
