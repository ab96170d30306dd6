/*
 * The polled UART console and the formatter behind kprintf.
 */
#include "console.h"

#include <stdbool.h>

#include "cpu.h"

/* 16550 registers, as offsets from the base port. */
#define UART_DATA    0 /* THR on write; divisor low with DLAB */
#define UART_IER     1 /* interrupt enable; divisor high with DLAB */
#define UART_FCR     2
#define UART_LCR     3
#define UART_MCR     4
#define UART_LSR     5
#define LCR_8N1      0x03
#define LCR_DLAB     0x80
#define FCR_ENABLE_CLEAR 0xC7 /* FIFOs on and cleared, 14-byte trigger */
#define MCR_DTR_RTS  0x03
#define LSR_THR_EMPTY 0x20
#define BAUD_DIVISOR_115200 1
/* Give up on a UART that never drains (none present on real hardware). */
#define UART_SPIN_LIMIT 100000

enum log_level log_level = LOG_INFO;
static uint16_t console_port;

void console_init(uint16_t port)
{
	console_port = port;
	if (!port)
		return;
	outb(port + UART_IER, 0x00);
	outb(port + UART_LCR, LCR_DLAB);
	outb(port + UART_DATA, BAUD_DIVISOR_115200);
	outb(port + UART_IER, 0x00);
	outb(port + UART_LCR, LCR_8N1);
	outb(port + UART_FCR, FCR_ENABLE_CLEAR);
	outb(port + UART_MCR, MCR_DTR_RTS);
}

static void uart_putc(char c)
{
	for (unsigned spin = 0; spin < UART_SPIN_LIMIT; spin++)
		if (inb(console_port + UART_LSR) & LSR_THR_EMPTY)
			break;
	outb(console_port + UART_DATA, (uint8_t)c);
}

void console_write(const char *s, size_t len)
{
	if (!console_port)
		return;
	/* A guest that shares the port may have left the divisor latch
	 * selected; data written then would change the baud rate. */
	uint8_t lcr = inb(console_port + UART_LCR);
	if (lcr & LCR_DLAB)
		outb(console_port + UART_LCR, lcr & ~LCR_DLAB);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

void console_out(void *ctx, const char *s, size_t len)
{
	(void)ctx;
	console_write(s, len);
}

/* ---- the formatter ------------------------------------------------------ */

/* Output goes through a sink: the console, or a buffer. */
struct sink {
	char *buf;   /* NULL: console */
	size_t size; /* buffer capacity */
	size_t len;  /* characters produced so far (even if truncated) */
};

static void sink_put(struct sink *k, const char *s, size_t n)
{
	if (!k->buf) {
		console_write(s, n);
	} else {
		for (size_t i = 0; i < n; i++)
			if (k->len + i + 1 < k->size)
				k->buf[k->len + i] = s[i];
	}
	k->len += n;
}

static void sink_pad(struct sink *k, char c, int n)
{
	while (n-- > 0)
		sink_put(k, &c, 1);
}

struct spec {
	bool left, zero, alt; /* '-', '0', '#' (0x before hex) */
	int width;
	int precision; /* %.Ns: at most N characters; -1: none */
};

/* One string field: padded to the width, left or right aligned. */
static void put_field(struct sink *k, const struct spec *sp, const char *s,
		      size_t n)
{
	int pad = sp->width > (int)n ? sp->width - (int)n : 0;

	if (!sp->left)
		sink_pad(k, ' ', pad);
	sink_put(k, s, n);
	if (sp->left)
		sink_pad(k, ' ', pad);
}

static void put_number(struct sink *k, const struct spec *sp, uint64_t v,
		       unsigned base, bool upper, bool negative,
		       const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, plen = 0, pad;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (negative)
		prefix = "-";
	while (prefix && prefix[plen])
		plen++;
	pad = sp->width - n - plen;
	if (!sp->left && !sp->zero)
		sink_pad(k, ' ', pad);
	sink_put(k, prefix ? prefix : "", (size_t)plen);
	if (!sp->left && sp->zero)
		sink_pad(k, '0', pad);
	while (n)
		sink_put(k, &tmp[--n], 1);
	if (sp->left)
		sink_pad(k, ' ', pad);
}

/* Read an integer argument of the given length modifier. */
enum len_mod { LEN_INT, LEN_LONG, LEN_LLONG, LEN_SIZE };

static uint64_t arg_unsigned(va_list *ap, enum len_mod l)
{
	switch (l) {
	case LEN_LONG:
		return va_arg(*ap, unsigned long);
	case LEN_LLONG:
		return va_arg(*ap, unsigned long long);
	case LEN_SIZE:
		return va_arg(*ap, size_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

static int64_t arg_signed(va_list *ap, enum len_mod l)
{
	switch (l) {
	case LEN_LONG:
		return va_arg(*ap, long);
	case LEN_LLONG:
		return va_arg(*ap, long long);
	case LEN_SIZE:
		return (int64_t)va_arg(*ap, size_t);
	default:
		return va_arg(*ap, int);
	}
}

static void format(struct sink *k, const char *fmt, va_list ap_in)
{
	va_list ap;

	va_copy(ap, ap_in);
	while (*fmt) {
		const char *start = fmt;
		struct spec sp = { .width = 0, .precision = -1 };
		enum len_mod l = LEN_INT;

		while (*fmt && *fmt != '%')
			fmt++;
		sink_put(k, start, (size_t)(fmt - start));
		if (!*fmt)
			break;
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				sp.left = true;
			else if (*fmt == '0')
				sp.zero = true;
			else if (*fmt == '#')
				sp.alt = true;
			else
				break;
		}
		if (*fmt == '*') {
			sp.width = va_arg(ap, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			sp.width = sp.width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			fmt++;
			sp.precision = 0;
			if (*fmt == '*') {
				sp.precision = va_arg(ap, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				sp.precision = sp.precision * 10 + (*fmt++ - '0');
		}
		while (*fmt == 'h')
			fmt++; /* promoted to int anyway */
		if (*fmt == 'z') {
			l = LEN_SIZE;
			fmt++;
		}
		while (*fmt == 'l') {
			l = l == LEN_LONG ? LEN_LLONG : LEN_LONG;
			fmt++;
		}
		switch (*fmt) {
		case 'c': {
			char c = (char)va_arg(ap, int);
			put_field(k, &sp, &c, 1);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n = 0;

			if (!s)
				s = "(null)";
			while (s[n] && (sp.precision < 0 ||
					n < (size_t)sp.precision))
				n++;
			put_field(k, &sp, s, n);
			break;
		}
		case 'd':
		case 'i': {
			int64_t v = arg_signed(&ap, l);
			put_number(k, &sp, v < 0 ? -(uint64_t)v : (uint64_t)v,
				   10, false, v < 0, NULL);
			break;
		}
		case 'u':
			put_number(k, &sp, arg_unsigned(&ap, l), 10, false,
				   false, NULL);
			break;
		case 'x':
		case 'X':
			put_number(k, &sp, arg_unsigned(&ap, l), 16,
				   *fmt == 'X', false, sp.alt ? "0x" : NULL);
			break;
		case 'p':
			put_number(k, &sp, (uintptr_t)va_arg(ap, void *), 16,
				   false, false, "0x");
			break;
		case '%':
			sink_put(k, "%", 1);
			break;
		default:
			/* Unknown conversion: show it rather than guess. */
			sink_put(k, "%?", 2);
			if (!*fmt)
				goto out;
			break;
		}
		fmt++;
	}
out:
	va_end(ap);
}

int kvprintf(const char *fmt, va_list ap)
{
	struct sink k = { .buf = NULL };

	format(&k, fmt, ap);
	return (int)k.len;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	struct sink k = { .buf = buf, .size = size };
	va_list ap;

	va_start(ap, fmt);
	format(&k, fmt, ap);
	va_end(ap);
	if (size)
		buf[k.len < size ? k.len : size - 1] = '\0';
	return (int)k.len;
}

static const char *const level_tag[] = {
	[LOG_ERROR] = "error: ", [LOG_WARN] = "warning: ",
	[LOG_INFO] = "", [LOG_DEBUG] = "", [LOG_TRACE] = "",
};

void klog(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	kprintf("umbra: %s", level_tag[level]);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
}
