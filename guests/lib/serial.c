/* COM1 serial output and a small printf. */
#include "guest.h"

#define COM1 0x3f8

void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xC7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void serial_putc(char c)
{
	if (c == '\n')
		serial_putc('\r');
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

static int put_num(uint64_t v, unsigned base, bool upper, bool neg,
		   unsigned width, char pad)
{
	char buf[24];
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	unsigned n = 0, out = 0;

	do {
		buf[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	for (; n + out < width; out++)
		serial_putc(pad);
	while (n) {
		serial_putc(buf[--n]);
		out++;
	}
	return (int)out;
}

int kvprintf(const char *fmt, va_list ap)
{
	int out = 0;

	for (; *fmt; fmt++) {
		unsigned width = 0, lng = 0;
		char pad = ' ';
		bool alt = false;
		uint64_t v;

		if (*fmt != '%') {
			serial_putc(*fmt);
			out++;
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				pad = '0';
			else if (*fmt == '#')
				alt = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng += *fmt == 'z' ? (sizeof(size_t) == 8 ? 2 : 1) : 1;
		switch (*fmt) {
		case 'c':
			serial_putc((char)va_arg(ap, int));
			out++;
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (*s) {
				serial_putc(*s++);
				out++;
			}
			break;
		}
		case 'd':
		case 'i': {
			int64_t s = lng >= 2   ? va_arg(ap, long long)
				    : lng == 1 ? va_arg(ap, long)
					       : va_arg(ap, int);
			v = s < 0 ? -(uint64_t)s : (uint64_t)s;
			out += put_num(v, 10, false, s < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'p':
			if (*fmt == 'p')
				v = (uintptr_t)va_arg(ap, void *), alt = true;
			else if (lng >= 2)
				v = va_arg(ap, unsigned long long);
			else if (lng == 1)
				v = va_arg(ap, unsigned long);
			else
				v = va_arg(ap, unsigned int);
			if (*fmt == 'u') {
				out += put_num(v, 10, false, false, width, pad);
				break;
			}
			if (alt) {
				serial_puts("0x");
				out += 2;
			}
			out += put_num(v, 16, *fmt == 'X', false, width, pad);
			break;
		case '%':
			serial_putc('%');
			out++;
			break;
		default: /* unknown: print it verbatim */
			serial_putc('%');
			serial_putc(*fmt);
			out += 2;
			if (!*fmt)
				return out;
		}
	}
	return out;
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

void panic(const char *fmt, ...)
{
	va_list ap;

	serial_puts("\nPANIC: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	serial_puts("\n");
	guest_exit(GUEST_EXIT_FAIL);
}

void guest_exit(uint8_t code)
{
	outb(GUEST_EXIT_PORT, code);
	halt_forever();
}
