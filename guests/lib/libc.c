/* Memory and string routines, and the multiboot command line. */
#include "guest.h"
#include "internal.h"

/* REP STOSB / MOVSB: one instruction per call instead of a loop per byte,
 * which matters for guests that zero and copy whole pages under TCG. */
void *memset(void *d, int c, size_t n)
{
	void *p = d;

	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;

	__asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	if (p < q)
		return memcpy(d, s, n);
	while (n--)
		p[n] = q[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		if (!*a)
			return 0;
	}
	return 0;
}

/* ---- command line --------------------------------------------------------- */
static char cmdline_buf[512];

void cmdline_set(const char *s)
{
	size_t i = 0;

	if (s)
		for (; s[i] && i < sizeof(cmdline_buf) - 1; i++)
			cmdline_buf[i] = s[i];
	cmdline_buf[i] = 0;
}

const char *cmdline(void)
{
	return cmdline_buf;
}

bool cmdline_get(const char *key, char *buf, size_t n)
{
	size_t klen = strlen(key);
	const char *p = cmdline_buf;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t i = 0;

			p += klen + 1;
			while (*p && *p != ' ' && i + 1 < n)
				buf[i++] = *p++;
			if (n)
				buf[i] = 0;
			return true;
		}
		while (*p && *p != ' ')
			p++;
	}
	return false;
}

uint64_t parse_u64(const char *s, bool *ok)
{
	uint64_t v = 0;
	unsigned base = 10;
	bool any = false;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		v = v * base + d;
		any = true;
	}
	if (ok)
		*ok = any && !*s;
	return v;
}

uint64_t cmdline_get_u64(const char *key, uint64_t def)
{
	char buf[32];
	bool ok;
	uint64_t v;

	if (!cmdline_get(key, buf, sizeof(buf)))
		return def;
	v = parse_u64(buf, &ok);
	if (!ok)
		panic("command line: %s=%s is not a number", key, buf);
	return v;
}
