/*
 * Umbra's console: a polled 16550 UART (COM1 by default), a small printf,
 * and log levels.
 *
 * Guests usually talk to the same UART (it is passed through), so every
 * line Umbra logs starts with "umbra: " and Umbra prints only at boot, at
 * exit, on errors, or when asked for debug output (log=debug / log=trace).
 * `console=com2` moves Umbra's output off the guest's port; `console=none`
 * silences it.
 */
#ifndef HV_CONSOLE_H
#define HV_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define COM1_PORT 0x3f8
#define COM2_PORT 0x2f8

enum log_level {
	LOG_ERROR, /* Umbra or the guest cannot go on */
	LOG_WARN,  /* something is emulated incompletely */
	LOG_INFO,  /* boot summary, guest exit, statistics (the default) */
	LOG_DEBUG, /* every paging register change, every reflected fault */
	LOG_TRACE, /* every exit */
};

extern enum log_level log_level;

/* Program the UART at `port` (0: no output at all). */
void console_init(uint16_t port);
void console_write(const char *s, size_t len);

/* printf subset: %c %s %d %i %u %x %X %p %%, flags '-', '0' and '#', a width
 * (or '*'), a precision for %s (%.*s), lengths hh h l ll z. */
int kvprintf(const char *fmt, va_list ap);
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Into a buffer, always NUL-terminated; returns the untruncated length. */
int ksnprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A "umbra: "-prefixed line (the format has no newline) at a level. */
void klog(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_error(...) klog(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  klog(LOG_WARN, __VA_ARGS__)
#define log_info(...)  klog(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_level >= LOG_DEBUG) klog(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_trace(...) do { if (log_level >= LOG_TRACE) klog(LOG_TRACE, __VA_ARGS__); } while (0)

/* An umbra_out_fn (umbra/stats.h) writing to the console. */
void console_out(void *ctx, const char *s, size_t len);

#endif
