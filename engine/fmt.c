/*
 * The tiny formatter (see fmt.h).  Numbers are converted right to left into
 * a stack buffer and then handed to the callback in one piece; padding is
 * emitted in chunks from a small stack buffer, so no call ever produces one
 * callback per character except for escapes in JSON strings.
 */
#include "fmt.h"

#define DEC_BASE 10u
#define HEX_BASE 16u
#define HEX_PREFIX "0x"
#define HEX_PREFIX_LEN 2

/* Padding is emitted this many characters per callback. */
#define FILL_CHUNK 32

static const char hex_digit[] = "0123456789abcdef";

/* ---- pure conversions ------------------------------------------------------ */

size_t umbra_fmt_strlen(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

/* Write v in `base` right-aligned in tmp[0..cap), return where it starts. */
static size_t digits_backwards(char *tmp, size_t cap, uint64_t v,
			       unsigned base)
{
	size_t at = cap;

	do {
		tmp[--at] = hex_digit[v % base];
		v /= base;
	} while (v != 0);
	return at;
}

/* Copy tmp[from..cap) to the start of buf; return the length. */
static size_t move_to_front(char *buf, const char *tmp, size_t from,
			    size_t cap)
{
	size_t n = cap - from;

	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[from + i];
	return n;
}

size_t umbra_fmt_dec_digits(char *buf, uint64_t v)
{
	char tmp[UMBRA_FMT_DEC_MAX];
	size_t from = digits_backwards(tmp, sizeof tmp, v, DEC_BASE);

	return move_to_front(buf, tmp, from, sizeof tmp);
}

size_t umbra_fmt_hex_digits(char *buf, uint64_t v, size_t min_digits)
{
	char tmp[UMBRA_FMT_HEX_MAX];
	size_t from = digits_backwards(tmp, sizeof tmp, v, HEX_BASE);

	if (min_digits > UMBRA_FMT_HEX_MAX)
		min_digits = UMBRA_FMT_HEX_MAX;
	while (sizeof tmp - from < min_digits)
		tmp[--from] = '0';
	return move_to_front(buf, tmp, from, sizeof tmp);
}

size_t umbra_fmt_dec_width(uint64_t v)
{
	size_t n = 1;

	while (v >= DEC_BASE) {
		v /= DEC_BASE;
		n++;
	}
	return n;
}

/* ---- output ------------------------------------------------------------------ */

void umbra_fmt_put(const struct umbra_fmt *f, const char *s, size_t len)
{
	if (f->out != NULL && len != 0)
		f->out(f->ctx, s, len);
}

void umbra_fmt_str(const struct umbra_fmt *f, const char *s)
{
	umbra_fmt_put(f, s, umbra_fmt_strlen(s));
}

void umbra_fmt_fill(const struct umbra_fmt *f, char c, size_t count)
{
	char chunk[FILL_CHUNK];
	size_t n = count < FILL_CHUNK ? count : FILL_CHUNK;

	for (size_t i = 0; i < n; i++)
		chunk[i] = c;
	while (count > 0) {
		n = count < FILL_CHUNK ? count : FILL_CHUNK;
		umbra_fmt_put(f, chunk, n);
		count -= n;
	}
}

void umbra_fmt_field(const struct umbra_fmt *f, const char *s, size_t len,
		     size_t width, enum umbra_fmt_align align)
{
	size_t pad = width > len ? width - len : 0;

	if (align == UMBRA_FMT_RIGHT)
		umbra_fmt_fill(f, ' ', pad);
	umbra_fmt_put(f, s, len);
	if (align != UMBRA_FMT_RIGHT)
		umbra_fmt_fill(f, ' ', pad);
}

void umbra_fmt_str_w(const struct umbra_fmt *f, const char *s, size_t width,
		     enum umbra_fmt_align align)
{
	umbra_fmt_field(f, s, umbra_fmt_strlen(s), width, align);
}

void umbra_fmt_dec(const struct umbra_fmt *f, uint64_t v, size_t width,
		   enum umbra_fmt_align align)
{
	char buf[UMBRA_FMT_DEC_MAX];
	size_t len = umbra_fmt_dec_digits(buf, v);

	umbra_fmt_field(f, buf, len, width, align);
}

void umbra_fmt_hex(const struct umbra_fmt *f, uint64_t v, size_t min_digits)
{
	char buf[HEX_PREFIX_LEN + UMBRA_FMT_HEX_MAX] = HEX_PREFIX;
	size_t len = umbra_fmt_hex_digits(buf + HEX_PREFIX_LEN, v, min_digits);

	umbra_fmt_put(f, buf, HEX_PREFIX_LEN + len);
}

/* ---- JSON strings ------------------------------------------------------------ */

/* RFC 8259 section 7: '"', '\\' and U+0000..U+001F must be escaped inside a
 * string.  DEL needs no escape but is escaped too, so the line stays
 * printable. */
#define JSON_FIRST_PLAIN 0x20u
#define JSON_DEL         0x7fu
#define JSON_ESCAPE_MAX  6 /* the longest escape: \u00XX */

/* UTF-8 (RFC 3629 section 4): the lead byte says how many continuation bytes
 * follow; each continuation byte is 10xxxxxx. */
#define UTF8_CONT_MASK   0xc0u
#define UTF8_CONT_TAG    0x80u
#define UTF8_LEAD2_MIN   0xc2u /* 0xc0, 0xc1 could only start overlong forms */
#define UTF8_LEAD3_MIN   0xe0u
#define UTF8_LEAD4_MIN   0xf0u
#define UTF8_LEAD4_MAX   0xf4u /* above: beyond U+10FFFF */
#define UTF8_LEAD_SURROGATES 0xedu /* ed a0..bf xx would encode U+D800.. */
/* The narrower ranges RFC 3629 allows for the second byte after some leads,
 * ruling out overlong forms, surrogates and code points above U+10FFFF. */
#define UTF8_E0_SECOND_MIN 0xa0u
#define UTF8_ED_SECOND_MAX 0x9fu
#define UTF8_F0_SECOND_MIN 0x90u
#define UTF8_F4_SECOND_MAX 0x8fu
#define UTF8_CONT_MIN    0x80u
#define UTF8_CONT_MAX    0xbfu

/* What a byte that is not part of valid UTF-8 is printed as. */
#define JSON_REPLACEMENT "\\ufffd"

/*
 * The length of the well-formed UTF-8 sequence at s (whose first byte is
 * 0x80 or above), or 0 when it is malformed.  Reads no further than the
 * first byte that breaks the sequence, so it never runs past the NUL.
 */
static size_t utf8_sequence_len(const unsigned char *s)
{
	unsigned char lead = s[0];
	unsigned char lo = UTF8_CONT_MIN, hi = UTF8_CONT_MAX;
	size_t len;

	if (lead < UTF8_LEAD2_MIN || lead > UTF8_LEAD4_MAX)
		return 0;
	len = lead < UTF8_LEAD3_MIN ? 2 : lead < UTF8_LEAD4_MIN ? 3 : 4;
	if (lead == UTF8_LEAD3_MIN)
		lo = UTF8_E0_SECOND_MIN;
	else if (lead == UTF8_LEAD_SURROGATES)
		hi = UTF8_ED_SECOND_MAX;
	else if (lead == UTF8_LEAD4_MIN)
		lo = UTF8_F0_SECOND_MIN;
	else if (lead == UTF8_LEAD4_MAX)
		hi = UTF8_F4_SECOND_MAX;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & UTF8_CONT_MASK) != UTF8_CONT_TAG)
			return 0;
	return len;
}

/* The escape for one ASCII byte, written to esc; returns its length, or 0
 * when the byte stands for itself. */
static size_t json_escape(unsigned char c, char esc[JSON_ESCAPE_MAX])
{
	char short_form = 0;

	switch (c) {
	case '"':  short_form = '"'; break;
	case '\\': short_form = '\\'; break;
	case '\b': short_form = 'b'; break;
	case '\f': short_form = 'f'; break;
	case '\n': short_form = 'n'; break;
	case '\r': short_form = 'r'; break;
	case '\t': short_form = 't'; break;
	default:
		break;
	}
	esc[0] = '\\';
	if (short_form != 0) {
		esc[1] = short_form;
		return 2;
	}
	if (c >= JSON_FIRST_PLAIN && c != JSON_DEL)
		return 0;
	esc[1] = 'u'; /* \u00XX */
	esc[2] = '0';
	esc[3] = '0';
	esc[4] = hex_digit[c / HEX_BASE];
	esc[5] = hex_digit[c % HEX_BASE];
	return 6;
}

void umbra_fmt_json_str(const struct umbra_fmt *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0; /* bytes at p that are printed as they are */

	umbra_fmt_put(f, "\"", 1);
	for (;;) {
		const unsigned char *at = p + run;
		char esc[JSON_ESCAPE_MAX];
		size_t n;

		if (*at == '\0')
			break;
		if (*at >= UTF8_CONT_MIN) {
			n = utf8_sequence_len(at);
			if (n != 0) {
				run += n;
				continue;
			}
			umbra_fmt_put(f, (const char *)p, run);
			umbra_fmt_str(f, JSON_REPLACEMENT);
		} else {
			n = json_escape(*at, esc);
			if (n == 0) {
				run++;
				continue;
			}
			umbra_fmt_put(f, (const char *)p, run);
			umbra_fmt_put(f, esc, n);
		}
		p = at + 1;
		run = 0;
	}
	umbra_fmt_put(f, (const char *)p, run);
	umbra_fmt_put(f, "\"", 1);
}
