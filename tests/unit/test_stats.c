/*
 * The engine's statistics (include/umbra/stats.h, engine/stats.c) and the
 * tiny formatter under them (engine/fmt.c).
 *
 * The formatter is checked digit for digit at its extremes (0, UINT64_MAX,
 * every power of ten) and for padding on both sides.  The table is parsed
 * back line by line: every statistic has exactly one row in its section,
 * the row carries its values and description, and the columns line up.  The
 * JSON is parsed back by a small strict JSON checker written here (RFC 8259
 * grammar, UTF-8 validated, duplicate keys rejected), itself tested on
 * valid and invalid samples, and every value must round-trip.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umbra/stats.h"
#include "../../engine/fmt.h"

/* ======================================================================== */
/* An output sink: collects everything printed, NUL-terminated.            */
/* ======================================================================== */

#define SINK_CAP 65536

struct sink {
	char buf[SINK_CAP];
	size_t len;
	unsigned calls;
	bool empty_call; /* the callback was handed zero bytes */
	bool overflow;
};

static void sink_out(void *ctx, const char *s, size_t len)
{
	struct sink *k = ctx;

	k->calls++;
	if (len == 0)
		k->empty_call = true;
	if (len >= SINK_CAP - k->len) {
		k->overflow = true;
		return;
	}
	memcpy(k->buf + k->len, s, len);
	k->len += len;
	k->buf[k->len] = '\0';
}

static struct sink *sink_new(void)
{
	struct sink *k = test_calloc(1, sizeof *k);

	assert_non_null(k);
	return k;
}

static struct umbra_fmt sink_fmt(struct sink *k)
{
	return (struct umbra_fmt){ sink_out, k };
}

/* Everything was delivered, with no empty callback. */
static void assert_sink_clean(const struct sink *k)
{
	assert_false(k->overflow);
	assert_false(k->empty_call);
	assert_int_equal(strlen(k->buf), k->len);
}

/* ======================================================================== */
/* The formatter                                                           */
/* ======================================================================== */

static void assert_dec(uint64_t v, const char *want)
{
	char buf[UMBRA_FMT_DEC_MAX];
	size_t n = umbra_fmt_dec_digits(buf, v);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	assert_int_equal(umbra_fmt_dec_width(v), n);
}

static void fmt_dec_extremes(void **state)
{
	(void)state;
	assert_dec(0, "0");
	assert_dec(1, "1");
	assert_dec(9, "9");
	assert_dec(10, "10");
	assert_dec(4294967295u, "4294967295");
	assert_dec(4294967296u, "4294967296");
	assert_dec(9223372036854775807u, "9223372036854775807");
	assert_dec(9223372036854775808u, "9223372036854775808");
	assert_dec(UINT64_MAX, "18446744073709551615");
}

/* Around every power of ten the digit count changes: 10^k - 1 has k
 * digits, 10^k has k + 1.  Compared with the C library's own conversion. */
static void fmt_dec_powers_of_ten(void **state)
{
	(void)state;
	uint64_t p = 1;

	for (unsigned k = 0; k < 20; k++) {
		char want[32];

		snprintf(want, sizeof want, "%llu", (unsigned long long)p);
		assert_dec(p, want);
		snprintf(want, sizeof want, "%llu", (unsigned long long)(p - 1));
		assert_dec(p - 1, want);
		snprintf(want, sizeof want, "%llu", (unsigned long long)(p + 1));
		assert_dec(p + 1, want);
		if (k < 19)
			p *= 10;
	}
	assert_int_equal(umbra_fmt_dec_width(p), 20);
}

static void assert_hex(uint64_t v, size_t min_digits, const char *want)
{
	char buf[UMBRA_FMT_HEX_MAX];
	size_t n = umbra_fmt_hex_digits(buf, v, min_digits);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
}

static void fmt_hex_digits(void **state)
{
	(void)state;
	assert_hex(0, 0, "0");
	assert_hex(0, 1, "0");
	assert_hex(0, 4, "0000");
	assert_hex(0x1f, 4, "001f");
	assert_hex(0xabcdef, 0, "abcdef");
	assert_hex(0x8000000000000000u, 0, "8000000000000000");
	assert_hex(UINT64_MAX, 0, "ffffffffffffffff");
	/* More digits than a uint64 has: clamped, never past the buffer. */
	assert_hex(0x12, 100, "0000000000000012");
	assert_hex(UINT64_MAX, 100, "ffffffffffffffff");
}

static void fmt_hex_prefixed(void **state)
{
	(void)state;
	struct sink *k = sink_new();
	struct umbra_fmt f = sink_fmt(k);

	umbra_fmt_hex(&f, 0, 0);
	umbra_fmt_str(&f, " ");
	umbra_fmt_hex(&f, 0xfee00000, 16);
	umbra_fmt_str(&f, " ");
	umbra_fmt_hex(&f, UINT64_MAX, 0);
	assert_string_equal(k->buf, "0x0 0x00000000fee00000 0xffffffffffffffff");
	assert_sink_clean(k);
	test_free(k);
}

/* One padded field, printed alone and compared exactly. */
static void assert_field(const char *s, size_t width,
			 enum umbra_fmt_align align, const char *want)
{
	struct sink *k = sink_new();
	struct umbra_fmt f = sink_fmt(k);

	umbra_fmt_str_w(&f, s, width, align);
	assert_string_equal(k->buf, want);
	assert_sink_clean(k);
	test_free(k);
}

static void fmt_padding(void **state)
{
	(void)state;
	assert_field("ab", 5, UMBRA_FMT_LEFT, "ab   ");
	assert_field("ab", 5, UMBRA_FMT_RIGHT, "   ab");
	assert_field("ab", 2, UMBRA_FMT_LEFT, "ab");
	assert_field("ab", 2, UMBRA_FMT_RIGHT, "ab");
	/* Too long for the field: printed whole, never truncated. */
	assert_field("abcdef", 3, UMBRA_FMT_LEFT, "abcdef");
	assert_field("abcdef", 3, UMBRA_FMT_RIGHT, "abcdef");
	assert_field("", 3, UMBRA_FMT_RIGHT, "   ");
	assert_field("", 0, UMBRA_FMT_LEFT, "");
}

/* Padding wider than the formatter's internal chunk, and numbers in
 * fields. */
static void fmt_padding_wide_and_numbers(void **state)
{
	(void)state;
	struct sink *k = sink_new();
	struct umbra_fmt f = sink_fmt(k);
	char want[256];

	umbra_fmt_dec(&f, 42, 100, UMBRA_FMT_RIGHT);
	memset(want, ' ', 98);
	memcpy(want + 98, "42", 3);
	assert_string_equal(k->buf, want);

	k->len = 0;
	umbra_fmt_dec(&f, 7, 70, UMBRA_FMT_LEFT);
	umbra_fmt_str(&f, "|");
	want[0] = '7';
	memset(want + 1, ' ', 69);
	memcpy(want + 70, "|", 2);
	assert_string_equal(k->buf, want);

	k->len = 0;
	umbra_fmt_dec(&f, UINT64_MAX, 25, UMBRA_FMT_RIGHT);
	umbra_fmt_str(&f, "|");
	umbra_fmt_dec(&f, 0, 3, UMBRA_FMT_LEFT);
	umbra_fmt_str(&f, "|");
	umbra_fmt_dec(&f, 0, 0, UMBRA_FMT_RIGHT);
	assert_string_equal(k->buf, "     18446744073709551615|0  |0");

	k->len = 0;
	k->calls = 0;
	umbra_fmt_fill(&f, '-', 0);
	umbra_fmt_put(&f, "xyz", 0);
	assert_int_equal(k->calls, 0);
	umbra_fmt_fill(&f, '-', 65);
	assert_int_equal(k->len, 65);
	assert_int_equal(strspn(k->buf, "-"), 65);
	assert_sink_clean(k);
	test_free(k);
}

/* A writer without a callback discards everything, quietly. */
static void fmt_null_callback(void **state)
{
	(void)state;
	struct umbra_fmt f = { NULL, NULL };
	struct umbra_stats s;

	umbra_fmt_str(&f, "nothing");
	umbra_fmt_dec(&f, 12345, 40, UMBRA_FMT_RIGHT);
	umbra_fmt_hex(&f, 0xff, 4);
	umbra_fmt_json_str(&f, "a\"b");
	umbra_stats_init(&s);
	umbra_stats_print_table(&s, NULL, NULL);
	umbra_stats_print_json(&s, NULL, NULL);
}

/* ======================================================================== */
/* A small strict JSON checker (RFC 8259), hosted, for the tests only.      */
/*                                                                          */
/* It parses one JSON text and records every value it meets as a node with */
/* its path ("timers.fault.count"; array elements as "[i]"): containers,   */
/* strings (decoded), literals, and numbers (with their uint64 value when  */
/* they are non-negative integers that fit).  A member whose path was      */
/* already recorded is a duplicate key, rejected.  Object keys containing  */
/* '.' would make paths ambiguous; the texts checked here have none.       */
/* ======================================================================== */

#define JC_MAX_NODES 512
#define JC_PATH_MAX 128
#define JC_STR_MAX 256
#define JC_DEPTH_MAX 16

enum jkind { J_OBJECT, J_ARRAY, J_STRING, J_NUMBER, J_LITERAL };

struct jnode {
	enum jkind kind;
	char path[JC_PATH_MAX];
	bool is_u64;            /* J_NUMBER: a non-negative integer < 2^64 */
	uint64_t u64;
	char str[JC_STR_MAX];   /* J_STRING: the decoded UTF-8 */
	size_t str_len;
};

struct jcheck {
	const char *p, *end;
	const char *error; /* the first error, or NULL */
	unsigned depth;
	size_t nnodes;
	struct jnode nodes[JC_MAX_NODES];
};

static bool jc_fail(struct jcheck *jc, const char *why)
{
	if (jc->error == NULL)
		jc->error = why;
	return false;
}

static bool jc_at_end(const struct jcheck *jc)
{
	return jc->p >= jc->end;
}

static int jc_peek(const struct jcheck *jc)
{
	return jc_at_end(jc) ? -1 : (unsigned char)*jc->p;
}

static void jc_skip_ws(struct jcheck *jc)
{
	while (!jc_at_end(jc) && (*jc->p == ' ' || *jc->p == '\t' ||
				  *jc->p == '\n' || *jc->p == '\r'))
		jc->p++;
}

static bool jc_expect(struct jcheck *jc, char c)
{
	if (jc_peek(jc) != (unsigned char)c)
		return jc_fail(jc, "unexpected character");
	jc->p++;
	return true;
}

static struct jnode *jc_node(struct jcheck *jc, const char *path,
			     enum jkind kind)
{
	for (size_t i = 0; i < jc->nnodes; i++)
		if (strcmp(jc->nodes[i].path, path) == 0) {
			jc_fail(jc, "duplicate key");
			return NULL;
		}
	if (jc->nnodes == JC_MAX_NODES) {
		jc_fail(jc, "too many values for the checker");
		return NULL;
	}
	struct jnode *n = &jc->nodes[jc->nnodes++];
	memset(n, 0, sizeof *n);
	n->kind = kind;
	snprintf(n->path, sizeof n->path, "%s", path);
	return n;
}

/* Append code point cp to out as UTF-8. */
static bool jc_put_utf8(struct jcheck *jc, char *out, size_t *len,
			uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*len + n >= JC_STR_MAX)
		return jc_fail(jc, "string too long for the checker");
	memcpy(out + *len, b, n);
	*len += n;
	out[*len] = '\0';
	return true;
}

/* Decode one raw UTF-8 sequence (first byte >= 0x80) by computing its code
 * point, then rejecting overlong forms, surrogates and values past
 * U+10FFFF. */
static bool jc_utf8(struct jcheck *jc, uint32_t *cp)
{
	static const uint32_t min_for_len[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned char c = (unsigned char)*jc->p++;
	size_t len;

	if ((c & 0xe0) == 0xc0) {
		len = 2;
		*cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		*cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		*cp = c & 0x07;
	} else {
		return jc_fail(jc, "invalid UTF-8 lead byte");
	}
	for (size_t i = 1; i < len; i++) {
		int d = jc_peek(jc);

		if (d < 0 || (d & 0xc0) != 0x80)
			return jc_fail(jc, "invalid UTF-8 continuation");
		*cp = *cp << 6 | (uint32_t)(d & 0x3f);
		jc->p++;
	}
	if (*cp < min_for_len[len])
		return jc_fail(jc, "overlong UTF-8");
	if ((*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff)
		return jc_fail(jc, "UTF-8 encodes no character");
	return true;
}

static bool jc_hex4(struct jcheck *jc, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int c = jc_peek(jc);
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return jc_fail(jc, "bad \\u escape");
		*v = *v << 4 | d;
		jc->p++;
	}
	return true;
}

/* After "\u": one code point, joining a surrogate pair. */
static bool jc_unicode_escape(struct jcheck *jc, uint32_t *cp)
{
	uint32_t lo;

	if (!jc_hex4(jc, cp))
		return false;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return jc_fail(jc, "lone low surrogate");
	if (*cp < 0xd800 || *cp > 0xdbff)
		return true;
	if (!jc_expect(jc, '\\') || !jc_expect(jc, 'u') || !jc_hex4(jc, &lo))
		return jc_fail(jc, "high surrogate without low");
	if (lo < 0xdc00 || lo > 0xdfff)
		return jc_fail(jc, "high surrogate without low");
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return true;
}

static bool jc_escape(struct jcheck *jc, uint32_t *cp)
{
	static const char from[] = "\"\\/bfnrt";
	static const char to[] = "\"\\/\b\f\n\r\t";
	int c = jc_peek(jc);
	const char *hit;

	if (c < 0)
		return jc_fail(jc, "unterminated escape");
	jc->p++;
	if (c == 'u')
		return jc_unicode_escape(jc, cp);
	hit = c != 0 ? strchr(from, c) : NULL;
	if (hit == NULL)
		return jc_fail(jc, "bad escape");
	*cp = (unsigned char)to[hit - from];
	return true;
}

/* A string literal, decoded into out (JC_STR_MAX bytes). */
static bool jc_string(struct jcheck *jc, char *out, size_t *len)
{
	*len = 0;
	out[0] = '\0';
	if (!jc_expect(jc, '"'))
		return false;
	for (;;) {
		int c = jc_peek(jc);
		uint32_t cp;

		if (c < 0)
			return jc_fail(jc, "unterminated string");
		if (c == '"') {
			jc->p++;
			return true;
		}
		if (c < 0x20)
			return jc_fail(jc, "control character in string");
		if (c == '\\') {
			jc->p++;
			if (!jc_escape(jc, &cp))
				return false;
		} else if (c >= 0x80) {
			if (!jc_utf8(jc, &cp))
				return false;
		} else {
			cp = (uint32_t)c;
			jc->p++;
		}
		if (!jc_put_utf8(jc, out, len, cp))
			return false;
	}
}

static bool jc_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* At least one digit; with u64 non-NULL, accumulate them (clearing *fits on
 * overflow). */
static bool jc_digits(struct jcheck *jc, uint64_t *u64, bool *fits)
{
	if (!jc_is_digit(jc_peek(jc)))
		return jc_fail(jc, "digit expected");
	while (jc_is_digit(jc_peek(jc))) {
		unsigned d = (unsigned)(*jc->p++ - '0');

		if (u64 == NULL)
			continue;
		if (*u64 > (UINT64_MAX - d) / 10)
			*fits = false;
		*u64 = *u64 * 10 + d;
	}
	return true;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool jc_number(struct jcheck *jc, struct jnode *n)
{
	bool negative = false, fits = true, integer = true;
	uint64_t v = 0;

	if (jc_peek(jc) == '-') {
		negative = true;
		jc->p++;
	}
	if (jc_peek(jc) == '0') {
		jc->p++;
		if (jc_is_digit(jc_peek(jc)))
			return jc_fail(jc, "leading zero");
	} else if (!jc_digits(jc, &v, &fits)) {
		return false;
	}
	if (jc_peek(jc) == '.') {
		jc->p++;
		integer = false;
		if (!jc_digits(jc, NULL, NULL))
			return false;
	}
	if (jc_peek(jc) == 'e' || jc_peek(jc) == 'E') {
		jc->p++;
		integer = false;
		if (jc_peek(jc) == '+' || jc_peek(jc) == '-')
			jc->p++;
		if (!jc_digits(jc, NULL, NULL))
			return false;
	}
	n->is_u64 = integer && fits && (!negative || v == 0);
	n->u64 = n->is_u64 ? v : 0;
	return true;
}

static bool jc_literal(struct jcheck *jc)
{
	static const char *const words[] = { "true", "false", "null" };

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(jc->end - jc->p) >= n &&
		    memcmp(jc->p, words[i], n) == 0) {
			jc->p += n;
			return true;
		}
	}
	return jc_fail(jc, "unexpected character");
}

static bool jc_value(struct jcheck *jc, const char *path);

static bool jc_object(struct jcheck *jc, const char *path)
{
	if (!jc_node(jc, path, J_OBJECT) || !jc_expect(jc, '{'))
		return false;
	jc_skip_ws(jc);
	if (jc_peek(jc) == '}') {
		jc->p++;
		return true;
	}
	for (;;) {
		char key[JC_STR_MAX], member[JC_PATH_MAX];
		size_t key_len;

		jc_skip_ws(jc);
		if (!jc_string(jc, key, &key_len))
			return false;
		if (strlen(key) != key_len)
			return jc_fail(jc, "NUL in a key");
		if ((size_t)snprintf(member, sizeof member, "%s%s%s", path,
				     path[0] ? "." : "", key) >= sizeof member)
			return jc_fail(jc, "path too long for the checker");
		jc_skip_ws(jc);
		if (!jc_expect(jc, ':') || !jc_value(jc, member))
			return false;
		jc_skip_ws(jc);
		if (jc_peek(jc) == '}') {
			jc->p++;
			return true;
		}
		if (!jc_expect(jc, ','))
			return false;
	}
}

static bool jc_array(struct jcheck *jc, const char *path)
{
	if (!jc_node(jc, path, J_ARRAY) || !jc_expect(jc, '['))
		return false;
	jc_skip_ws(jc);
	if (jc_peek(jc) == ']') {
		jc->p++;
		return true;
	}
	for (unsigned i = 0;; i++) {
		char element[JC_PATH_MAX];

		if ((size_t)snprintf(element, sizeof element, "%s[%u]", path,
				     i) >= sizeof element)
			return jc_fail(jc, "path too long for the checker");
		if (!jc_value(jc, element))
			return false;
		jc_skip_ws(jc);
		if (jc_peek(jc) == ']') {
			jc->p++;
			return true;
		}
		if (!jc_expect(jc, ','))
			return false;
	}
}

static bool jc_value(struct jcheck *jc, const char *path)
{
	struct jnode *n;
	int c;
	bool ok;

	if (++jc->depth > JC_DEPTH_MAX)
		return jc_fail(jc, "nested too deeply for the checker");
	jc_skip_ws(jc);
	c = jc_peek(jc);
	if (c == '{') {
		ok = jc_object(jc, path);
	} else if (c == '[') {
		ok = jc_array(jc, path);
	} else if (c == '"') {
		n = jc_node(jc, path, J_STRING);
		ok = n != NULL && jc_string(jc, n->str, &n->str_len);
	} else if (c == '-' || jc_is_digit(c)) {
		n = jc_node(jc, path, J_NUMBER);
		ok = n != NULL && jc_number(jc, n);
	} else {
		ok = jc_node(jc, path, J_LITERAL) != NULL && jc_literal(jc);
	}
	jc->depth--;
	return ok;
}

/* Parse `len` bytes as one JSON text.  On failure jc->error says why. */
static bool jc_parse(struct jcheck *jc, const char *text, size_t len)
{
	memset(jc, 0, sizeof *jc);
	jc->p = text;
	jc->end = text + len;
	if (!jc_value(jc, ""))
		return false;
	jc_skip_ws(jc);
	if (!jc_at_end(jc))
		return jc_fail(jc, "text after the value");
	return true;
}

static const struct jnode *jc_find(const struct jcheck *jc, const char *path)
{
	for (size_t i = 0; i < jc->nnodes; i++)
		if (strcmp(jc->nodes[i].path, path) == 0)
			return &jc->nodes[i];
	return NULL;
}

static struct jcheck *jc_new(void)
{
	struct jcheck *jc = test_calloc(1, sizeof *jc);

	assert_non_null(jc);
	return jc;
}

static bool jc_accepts(struct jcheck *jc, const char *text)
{
	return jc_parse(jc, text, strlen(text));
}

/* ---- the checker itself ---------------------------------------------- */

static void checker_accepts_valid_json(void **state)
{
	(void)state;
	static const char *const valid[] = {
		"0", "-0", "12", "-1.5e+10", "1E3", "0.25", "\"\"", "true",
		"false", "null", "[]", "{}", " { } ", "[1,[2,[3]],{}]",
		"{\"a\":{\"b\":[true,false,null]},\"c\":\"x\"}",
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\ud83d\\ude00\"",
		"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
		"\n{\"k\" : 1 ,\t\"l\":2}\r\n",
	};
	struct jcheck *jc = jc_new();

	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
		if (!jc_accepts(jc, valid[i]))
			fail_msg("checker rejected valid %s: %s", valid[i],
				 jc->error);
	}
	test_free(jc);
}

static void checker_rejects_invalid_json(void **state)
{
	(void)state;
	static const char *const invalid[] = {
		"", " ", "01", "-", "1.", ".5", "1e", "+1", "0x10", "NaN",
		"tru", "nul", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}",
		"{a:1}", "{'a':1}", "{\"a\":1}}", "[1 2]", "\"abc",
		"\"a\x01\"", "\"a\nb\"", "\"\\x\"", "\"\\u12g4\"",
		"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
		"\"\x80\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
		"\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"", "{\"a\":1,\"a\":2}",
		"{\"a\":{},\"a\":{}}", "1 2", "{} x", "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]",
	};
	struct jcheck *jc = jc_new();

	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		if (jc_accepts(jc, invalid[i]))
			fail_msg("checker accepted invalid JSON #%zu: %s", i,
				 invalid[i]);
		assert_non_null(jc->error);
	}
	test_free(jc);
}

static void checker_records_values(void **state)
{
	(void)state;
	struct jcheck *jc = jc_new();
	const struct jnode *n;

	assert_true(jc_accepts(jc, "{\"a\":{\"b\":18446744073709551615,"
				   "\"c\":18446744073709551616,\"d\":-3,"
				   "\"e\":1.0,\"f\":0},\"s\":[\"x\\u00e9\"]}"));
	n = jc_find(jc, "a.b");
	assert_non_null(n);
	assert_true(n->is_u64);
	assert_true(n->u64 == UINT64_MAX);
	assert_false(jc_find(jc, "a.c")->is_u64); /* one past UINT64_MAX */
	assert_false(jc_find(jc, "a.d")->is_u64);
	assert_false(jc_find(jc, "a.e")->is_u64);
	assert_true(jc_find(jc, "a.f")->is_u64);
	assert_int_equal(jc_find(jc, "a")->kind, J_OBJECT);
	n = jc_find(jc, "s[0]");
	assert_non_null(n);
	assert_string_equal(n->str, "x\xc3\xa9");
	assert_null(jc_find(jc, "a.g"));
	test_free(jc);
}

/* ======================================================================== */
/* JSON strings from the formatter                                          */
/* ======================================================================== */

/* Print s as a JSON string; the exact text must be `want` and the checker
 * must decode it to `decoded`. */
static void assert_json_str(const char *s, const char *want,
			    const char *decoded)
{
	struct sink *k = sink_new();
	struct umbra_fmt f = sink_fmt(k);
	struct jcheck *jc = jc_new();
	const struct jnode *n;

	umbra_fmt_json_str(&f, s);
	assert_sink_clean(k);
	assert_string_equal(k->buf, want);
	if (!jc_parse(jc, k->buf, k->len))
		fail_msg("invalid JSON string %s: %s", k->buf, jc->error);
	n = jc_find(jc, "");
	assert_non_null(n);
	assert_int_equal(n->kind, J_STRING);
	assert_string_equal(n->str, decoded);
	test_free(jc);
	test_free(k);
}

static void fmt_json_string_escapes(void **state)
{
	(void)state;
	assert_json_str("", "\"\"", "");
	assert_json_str("fault_fixed", "\"fault_fixed\"", "fault_fixed");
	assert_json_str("a\"b\\c", "\"a\\\"b\\\\c\"", "a\"b\\c");
	assert_json_str("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t");
	assert_json_str("\x01\x1f\x7f/", "\"\\u0001\\u001f\\u007f/\"",
			"\x01\x1f\x7f/");
	/* Valid UTF-8 passes through: 2, 3 and 4 byte sequences. */
	assert_json_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
			"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
			"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

/* Bytes that are not well-formed UTF-8 become U+FFFD, one per byte that
 * cannot start a sequence, so the output is valid JSON whatever the input. */
static void fmt_json_string_invalid_utf8(void **state)
{
	(void)state;
	/* ef bf bd: U+FFFD decoded */
	assert_json_str("a\x80z", "\"a\\ufffdz\"", "a\xef\xbf\xbdz");
	/* overlong "/" */
	assert_json_str("\xc0\xaf", "\"\\ufffd\\ufffd\"",
			"\xef\xbf\xbd\xef\xbf\xbd");
	/* a surrogate, U+D800 */
	assert_json_str("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"",
			"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	/* U+110000, past the last code point */
	assert_json_str("\xf4\x90\x80\x80x",
			"\"\\ufffd\\ufffd\\ufffd\\ufffdx\"",
			"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
	/* truncated by the end of the string */
	assert_json_str("\xe2\x82", "\"\\ufffd\\ufffd\"",
			"\xef\xbf\xbd\xef\xbf\xbd");
	/* truncated by a following ASCII byte */
	assert_json_str("\xe2\x82\"", "\"\\ufffd\\ufffd\\\"\"",
			"\xef\xbf\xbd\xef\xbf\xbd\"");
	/* the highest code point is fine */
	assert_json_str("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"",
			"\xf4\x8f\xbf\xbf");
}

/* ======================================================================== */
/* Names and helpers                                                        */
/* ======================================================================== */

/* The statistics the issue asks for, spelled out independently of the
 * X-macro lists: removing or renaming one fails here. */
static const char *const required_counters[] = {
	"fault_fixed", "fault_reflected", "fault_handler", "fault_pt_write",
	"fault_mmio", "fault_error", "pt_write_emulated", "pt_write_updated",
	"pt_write_zapped", "pt_write_ignored", "pt_write_partial",
	"flood_detected", "fork_detected", "reuse_detected", "cache_hit",
	"cache_miss", "evictions", "zaps", "shadow_pages_created",
	"cr3_switch_hit", "cr3_switch_miss", "invlpg", "tlb_flush_guest",
	"tlb_flush_requested_one", "tlb_flush_requested_all", "mode_changes",
	"unshadowed", "handler_registered", "handler_removed",
	"dirty_log_faults", "audit_runs", "audit_violations",
};
static const char *const required_timers[] = {
	"fault", "pt_write", "cr3_switch", "invlpg", "audit",
};
static const char *const required_gauges[] = {
	"pool_pages_in_use", "rmap_extents_in_use", "shadow_roots", "handlers",
};

/* One of the three lists, seen through its lookup functions. */
struct list {
	const char *title;
	unsigned count;
	const char *(*name)(unsigned i);
	const char *(*desc)(unsigned i);
	const char *const *required;
	size_t nrequired;
};

static const char *ctr_name(unsigned i)
{
	return umbra_counter_name((enum umbra_counter_id)i);
}
static const char *ctr_desc(unsigned i)
{
	return umbra_counter_desc((enum umbra_counter_id)i);
}
static const char *tmr_name(unsigned i)
{
	return umbra_timer_name((enum umbra_timer_id)i);
}
static const char *tmr_desc(unsigned i)
{
	return umbra_timer_desc((enum umbra_timer_id)i);
}
static const char *gauge_name(unsigned i)
{
	return umbra_gauge_name((enum umbra_gauge_id)i);
}
static const char *gauge_desc(unsigned i)
{
	return umbra_gauge_desc((enum umbra_gauge_id)i);
}

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct list lists[] = {
	{ "counters", UMBRA_CTR_COUNT, ctr_name, ctr_desc, required_counters,
	  LEN(required_counters) },
	{ "timers", UMBRA_TMR_COUNT, tmr_name, tmr_desc, required_timers,
	  LEN(required_timers) },
	{ "gauges", UMBRA_GAUGE_COUNT, gauge_name, gauge_desc, required_gauges,
	  LEN(required_gauges) },
};

static bool is_ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* snake_case: lowercase letters, digits and '_', starting with a letter. */
static bool is_snake_case(const char *s)
{
	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (; *s; s++)
		if (!is_ident_char(*s))
			return false;
	return true;
}

static bool list_has(const struct list *l, const char *name)
{
	for (unsigned i = 0; i < l->count; i++)
		if (strcmp(l->name(i), name) == 0)
			return true;
	return false;
}

static void names_are_unique_identifiers(void **state)
{
	(void)state;
	for (size_t k = 0; k < LEN(lists); k++) {
		const struct list *l = &lists[k];

		for (unsigned i = 0; i < l->count; i++) {
			const char *n = l->name(i), *d = l->desc(i);

			assert_non_null(n);
			assert_non_null(d);
			if (!is_snake_case(n))
				fail_msg("%s: \"%s\" is not snake_case",
					 l->title, n);
			assert_true(strlen(d) > 0);
			assert_null(strchr(d, '\n'));
			for (unsigned j = 0; j < i; j++)
				if (strcmp(l->name(j), n) == 0)
					fail_msg("%s: \"%s\" twice", l->title,
						 n);
		}
		assert_null(l->name(l->count));
		assert_null(l->desc(l->count));
		assert_null(l->name(l->count + 1000));
		for (size_t r = 0; r < l->nrequired; r++)
			if (!list_has(l, l->required[r]))
				fail_msg("%s: \"%s\" is missing", l->title,
					 l->required[r]);
	}
}

/* The enumerators are generated with the names: UMBRA_CTR_x is "x". */
static void enumerators_match_names(void **state)
{
	(void)state;
#define CHECK_CTR(name, desc) \
	assert_string_equal(umbra_counter_name(UMBRA_CTR_##name), #name); \
	assert_string_equal(umbra_counter_desc(UMBRA_CTR_##name), desc);
#define CHECK_TMR(name, desc) \
	assert_string_equal(umbra_timer_name(UMBRA_TMR_##name), #name); \
	assert_string_equal(umbra_timer_desc(UMBRA_TMR_##name), desc);
#define CHECK_GAUGE(name, desc) \
	assert_string_equal(umbra_gauge_name(UMBRA_GAUGE_##name), #name); \
	assert_string_equal(umbra_gauge_desc(UMBRA_GAUGE_##name), desc);
	UMBRA_STAT_COUNTERS(CHECK_CTR)
	UMBRA_STAT_TIMERS(CHECK_TMR)
	UMBRA_STAT_GAUGES(CHECK_GAUGE)
#undef CHECK_CTR
#undef CHECK_TMR
#undef CHECK_GAUGE
	assert_string_equal(umbra_counter_name(UMBRA_CTR_fault_fixed),
			    "fault_fixed");
	assert_string_equal(umbra_timer_name(UMBRA_TMR_cr3_switch),
			    "cr3_switch");
	assert_string_equal(umbra_gauge_name(UMBRA_GAUGE_pool_pages_in_use),
			    "pool_pages_in_use");
}

static void counters_count(void **state)
{
	(void)state;
	struct umbra_stats s, before;

	umbra_stats_init(&s);
	for (unsigned i = 0; i < UMBRA_CTR_COUNT; i++)
		assert_true(s.counter[i] == 0);
	umbra_stat_inc(&s, UMBRA_CTR_fault_fixed);
	umbra_stat_inc(&s, UMBRA_CTR_fault_fixed);
	umbra_stat_add(&s, UMBRA_CTR_cache_hit, 40);
	umbra_stat_add(&s, UMBRA_CTR_cache_hit, 2);
	umbra_stat_add(&s, UMBRA_CTR_zaps, 0);
	assert_true(s.counter[UMBRA_CTR_fault_fixed] == 2);
	assert_true(s.counter[UMBRA_CTR_cache_hit] == 42);
	assert_true(s.counter[UMBRA_CTR_zaps] == 0);
	for (unsigned i = 0; i < UMBRA_CTR_COUNT; i++)
		if (i != UMBRA_CTR_fault_fixed && i != UMBRA_CTR_cache_hit)
			assert_true(s.counter[i] == 0);

	/* An identifier past the list changes nothing. */
	before = s;
	umbra_stat_inc(&s, (enum umbra_counter_id)UMBRA_CTR_COUNT);
	umbra_stat_add(&s, (enum umbra_counter_id)(UMBRA_CTR_COUNT + 7), 5);
	umbra_timer_add(&s, (enum umbra_timer_id)UMBRA_TMR_COUNT, 5);
	umbra_gauge_set(&s, (enum umbra_gauge_id)UMBRA_GAUGE_COUNT, 5);
	umbra_gauge_inc(&s, (enum umbra_gauge_id)UMBRA_GAUGE_COUNT);
	umbra_gauge_dec(&s, (enum umbra_gauge_id)UMBRA_GAUGE_COUNT);
	assert_memory_equal(&s, &before, sizeof s);
}

static void timers_accumulate(void **state)
{
	(void)state;
	struct umbra_stats s;
	const struct umbra_timer *t = &s.timer[UMBRA_TMR_fault];

	umbra_stats_init(&s);
	assert_true(umbra_timer_average(t) == 0); /* nothing timed: 0 */
	umbra_timer_add(&s, UMBRA_TMR_fault, 5);
	umbra_timer_add(&s, UMBRA_TMR_fault, 20);
	umbra_timer_add(&s, UMBRA_TMR_fault, 2);
	assert_true(t->count == 3);
	assert_true(t->ticks == 27);
	assert_true(t->max == 20);
	assert_true(umbra_timer_average(t) == 9);
	umbra_timer_add(&s, UMBRA_TMR_fault, 0);
	assert_true(t->count == 4);
	assert_true(umbra_timer_average(t) == 6); /* 27 / 4, rounded down */
	assert_true(t->max == 20);
	/* Other timers untouched. */
	assert_true(s.timer[UMBRA_TMR_audit].count == 0);
	assert_true(s.timer[UMBRA_TMR_audit].max == 0);
	umbra_timer_add(&s, UMBRA_TMR_audit, UINT64_MAX);
	assert_true(s.timer[UMBRA_TMR_audit].max == UINT64_MAX);
	assert_true(umbra_timer_average(&s.timer[UMBRA_TMR_audit]) ==
		    UINT64_MAX);
}

static void gauges_keep_high_water(void **state)
{
	(void)state;
	struct umbra_stats s;
	const struct umbra_gauge *g = &s.gauge[UMBRA_GAUGE_pool_pages_in_use];

	umbra_stats_init(&s);
	umbra_gauge_set(&s, UMBRA_GAUGE_pool_pages_in_use, 5);
	assert_true(g->value == 5 && g->high == 5);
	umbra_gauge_set(&s, UMBRA_GAUGE_pool_pages_in_use, 10);
	umbra_gauge_set(&s, UMBRA_GAUGE_pool_pages_in_use, 3);
	assert_true(g->value == 3);
	assert_true(g->high == 10);
	umbra_gauge_inc(&s, UMBRA_GAUGE_pool_pages_in_use);
	assert_true(g->value == 4 && g->high == 10);
	for (int i = 0; i < 8; i++)
		umbra_gauge_inc(&s, UMBRA_GAUGE_pool_pages_in_use);
	assert_true(g->value == 12 && g->high == 12);
	umbra_gauge_set(&s, UMBRA_GAUGE_pool_pages_in_use, 0);
	assert_true(g->value == 0 && g->high == 12);
	/* Below zero it stops rather than wrapping to 2^64 - 1. */
	umbra_gauge_dec(&s, UMBRA_GAUGE_pool_pages_in_use);
	assert_true(g->value == 0 && g->high == 12);
	assert_true(s.gauge[UMBRA_GAUGE_handlers].value == 0);
	assert_true(s.gauge[UMBRA_GAUGE_handlers].high == 0);
}

static void reset_starts_a_window(void **state)
{
	(void)state;
	struct umbra_stats s;

	umbra_stats_init(&s);
	umbra_stat_add(&s, UMBRA_CTR_evictions, 9);
	umbra_timer_add(&s, UMBRA_TMR_invlpg, 70);
	umbra_gauge_set(&s, UMBRA_GAUGE_shadow_roots, 8);
	umbra_gauge_set(&s, UMBRA_GAUGE_shadow_roots, 3);

	umbra_stats_reset(&s);
	for (unsigned i = 0; i < UMBRA_CTR_COUNT; i++)
		assert_true(s.counter[i] == 0);
	for (unsigned i = 0; i < UMBRA_TMR_COUNT; i++) {
		assert_true(s.timer[i].count == 0);
		assert_true(s.timer[i].ticks == 0);
		assert_true(s.timer[i].max == 0);
	}
	/* The live level stays; the peak restarts from it. */
	assert_true(s.gauge[UMBRA_GAUGE_shadow_roots].value == 3);
	assert_true(s.gauge[UMBRA_GAUGE_shadow_roots].high == 3);
	umbra_gauge_set(&s, UMBRA_GAUGE_shadow_roots, 5);
	assert_true(s.gauge[UMBRA_GAUGE_shadow_roots].high == 5);

	umbra_stats_init(&s);
	assert_true(s.gauge[UMBRA_GAUGE_shadow_roots].value == 0);
	assert_true(s.gauge[UMBRA_GAUGE_shadow_roots].high == 0);
}

/* ======================================================================== */
/* A full set of distinct values, and what every output must show for it.  */
/* ======================================================================== */

/* Counter i: 0 and UINT64_MAX for the first two, then distinct values of
 * growing width. */
static uint64_t want_counter(unsigned i)
{
	if (i == 0)
		return 0;
	if (i == 1)
		return UINT64_MAX;
	return (uint64_t)i * 1000003u + ((uint64_t)i << (i % 48));
}

/* Timer t is given three samples: t*100+1, t*7+2 and t*1000+3 ticks (the
 * last timer a single UINT64_MAX sample). */
static void fill_timer(struct umbra_stats *s, unsigned t)
{
	if (t == UMBRA_TMR_COUNT - 1) {
		umbra_timer_add(s, (enum umbra_timer_id)t, UINT64_MAX);
		return;
	}
	umbra_timer_add(s, (enum umbra_timer_id)t, t * 100u + 1);
	umbra_timer_add(s, (enum umbra_timer_id)t, t * 7u + 2);
	umbra_timer_add(s, (enum umbra_timer_id)t, t * 1000u + 3);
}

static struct umbra_timer want_timer(unsigned t)
{
	if (t == UMBRA_TMR_COUNT - 1)
		return (struct umbra_timer){ 1, UINT64_MAX, UINT64_MAX };
	return (struct umbra_timer){ 3, t * 1107u + 6, t * 1000u + 3 };
}

/* Gauge g rises to its high and falls back to its value; the first one
 * peaks at UINT64_MAX. */
static struct umbra_gauge want_gauge(unsigned g)
{
	if (g == 0)
		return (struct umbra_gauge){ 17, UINT64_MAX };
	return (struct umbra_gauge){ 50u + g, (g + 1) * 1000u };
}

static void fill_stats(struct umbra_stats *s)
{
	umbra_stats_init(s);
	for (unsigned i = 0; i < UMBRA_CTR_COUNT; i++)
		umbra_stat_add(s, (enum umbra_counter_id)i, want_counter(i));
	for (unsigned t = 0; t < UMBRA_TMR_COUNT; t++)
		fill_timer(s, t);
	for (unsigned g = 0; g < UMBRA_GAUGE_COUNT; g++) {
		struct umbra_gauge w = want_gauge(g);

		umbra_gauge_set(s, (enum umbra_gauge_id)g, w.high);
		umbra_gauge_set(s, (enum umbra_gauge_id)g, w.value);
	}
}

static void fill_stats_matches_expectations(void **state)
{
	(void)state;
	struct umbra_stats s;

	fill_stats(&s);
	for (unsigned t = 0; t < UMBRA_TMR_COUNT; t++) {
		struct umbra_timer w = want_timer(t);

		assert_true(s.timer[t].count == w.count);
		assert_true(s.timer[t].ticks == w.ticks);
		assert_true(s.timer[t].max == w.max);
	}
	for (unsigned g = 0; g < UMBRA_GAUGE_COUNT; g++) {
		assert_true(s.gauge[g].value == want_gauge(g).value);
		assert_true(s.gauge[g].high == want_gauge(g).high);
	}
}

/* The numbers a table row shows for statistic i of list k, in column
 * order: counters (value), timers (count, ticks, avg, max), gauges (value,
 * high).  Returns how many. */
static size_t want_row(const struct umbra_stats *s, size_t k, unsigned i,
		       uint64_t v[4])
{
	switch (k) {
	case 0:
		v[0] = s->counter[i];
		return 1;
	case 1:
		v[0] = s->timer[i].count;
		v[1] = s->timer[i].ticks;
		v[2] = s->timer[i].count ? s->timer[i].ticks / s->timer[i].count
					 : 0;
		v[3] = s->timer[i].max;
		return 4;
	default:
		v[0] = s->gauge[i].value;
		v[1] = s->gauge[i].high;
		return 2;
	}
}

/* ======================================================================== */
/* The table                                                                */
/* ======================================================================== */

#define MAX_LINES 256

struct lines {
	size_t n;
	const char *start[MAX_LINES];
	size_t len[MAX_LINES];
};

/* Split text into lines; every line must end with '\n'. */
static void split_lines(const char *text, struct lines *ls)
{
	ls->n = 0;
	while (*text) {
		const char *nl = strchr(text, '\n');

		assert_non_null(nl);
		assert_true(ls->n < MAX_LINES);
		ls->start[ls->n] = text;
		ls->len[ls->n] = (size_t)(nl - text);
		ls->n++;
		text = nl + 1;
	}
}

/* A word: a maximal run of non-spaces; returns its start column and sets
 * *end past it, or returns -1 when the line has no more words. */
static long next_word(const char *line, size_t len, size_t from, size_t *end)
{
	size_t at = from;

	while (at < len && line[at] == ' ')
		at++;
	*end = at;
	if (at == len)
		return -1;
	while (*end < len && line[*end] != ' ')
		(*end)++;
	return (long)at;
}

/* How many times `name` occurs as a whole identifier in the line. */
static unsigned count_word(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	unsigned hits = 0;

	for (size_t at = 0; at + n <= len; at++) {
		if (memcmp(line + at, name, n) != 0)
			continue;
		if (at > 0 && is_ident_char(line[at - 1]))
			continue;
		if (at + n < len && is_ident_char(line[at + n]))
			continue;
		hits++;
	}
	return hits;
}

/* Where a section heading puts its columns. */
struct heading {
	size_t nfields;
	size_t field_end[4]; /* column just past each right-aligned title */
	size_t desc_col;     /* where descriptions start */
};

static void parse_heading(const char *line, size_t len, const char *title,
			  size_t nfields, struct heading *h)
{
	size_t end;
	long at = next_word(line, len, 0, &end);

	assert_int_equal(at, 0);
	assert_int_equal(end, strlen(title));
	assert_memory_equal(line, title, end);
	h->nfields = nfields;
	for (size_t j = 0; j < nfields; j++) {
		assert_true(next_word(line, len, end, &end) > 0);
		h->field_end[j] = end;
	}
	at = next_word(line, len, end, &end);
	assert_true(at > 0);
	assert_int_equal(end - (size_t)at, strlen("description"));
	assert_memory_equal(line + at, "description", end - (size_t)at);
	h->desc_col = (size_t)at;
	assert_int_equal(end, len);
}

/* One row: "  name  n1  n2 ...  description", numbers right-aligned under
 * their titles, the description in its column; returns the row's index in
 * its list. */
static unsigned check_row(const char *line, size_t len, const struct list *l,
			  size_t k, const struct heading *h,
			  const struct umbra_stats *s)
{
	size_t end;
	long at = next_word(line, len, 0, &end);
	uint64_t want[4];
	unsigned i;

	assert_int_equal(at, 2); /* indented under the section title */
	for (i = 0; i < l->count; i++)
		if (strlen(l->name(i)) == end - 2 &&
		    memcmp(line + 2, l->name(i), end - 2) == 0)
			break;
	if (i == l->count)
		fail_msg("%s: unknown row \"%.*s\"", l->title, (int)len, line);
	assert_int_equal(want_row(s, k, i, want), h->nfields);
	for (size_t j = 0; j < h->nfields; j++) {
		char digits[32], *stop;

		at = next_word(line, len, end, &end);
		assert_true(at > 0);
		assert_int_equal(end, h->field_end[j]); /* right-aligned */
		assert_true(end - (size_t)at < sizeof digits);
		memcpy(digits, line + at, end - (size_t)at);
		digits[end - (size_t)at] = '\0';
		assert_true(digits[0] >= '0' && digits[0] <= '9');
		assert_true(strtoull(digits, &stop, 10) == want[j]);
		assert_true(*stop == '\0');
	}
	assert_true(len > h->desc_col);
	assert_true(line[h->desc_col - 1] == ' ');
	assert_int_equal(len - h->desc_col, strlen(l->desc(i)));
	assert_memory_equal(line + h->desc_col, l->desc(i), len - h->desc_col);
	return i;
}

/* Print the table of s and prove it shows every statistic exactly once in
 * its section, with its values, aligned. */
static void check_table(const struct umbra_stats *s)
{
	static const size_t nfields[] = { 1, 4, 2 };
	struct sink *k = sink_new();
	struct lines *ls = test_calloc(1, sizeof *ls);
	size_t at = 1;

	umbra_stats_print_table(s, sink_out, k);
	assert_sink_clean(k);
	split_lines(k->buf, ls);
	assert_true(ls->n > 0);
	assert_true(ls->start[0][0] != ' '); /* a heading line first */

	for (size_t sec = 0; sec < LEN(lists); sec++) {
		const struct list *l = &lists[sec];
		struct heading h;
		unsigned seen[64] = { 0 };

		assert_true(l->count <= 64);
		assert_true(at < ls->n);
		parse_heading(ls->start[at], ls->len[at], l->title,
			      nfields[sec], &h);
		at++;
		for (unsigned r = 0; r < l->count; r++, at++) {
			assert_true(at < ls->n);
			seen[check_row(ls->start[at], ls->len[at], l, sec, &h,
				       s)]++;
		}
		/* Exactly once: one row each, and no other mention of the
		 * name anywhere in the section. */
		for (unsigned i = 0; i < l->count; i++) {
			unsigned words = 0;

			assert_int_equal(seen[i], 1);
			for (size_t x = at - l->count - 1; x < at; x++)
				words += count_word(ls->start[x], ls->len[x],
						    l->name(i));
			if (words != 1)
				fail_msg("%s: \"%s\" appears %u times",
					 l->title, l->name(i), words);
		}
	}
	assert_int_equal(at, ls->n); /* nothing after the gauges */
	test_free(ls);
	test_free(k);
}

static void table_shows_every_value(void **state)
{
	(void)state;
	struct umbra_stats s;

	fill_stats(&s);
	check_table(&s);
}

/* Zeros are shown too: a reader sees every path, taken or not. */
static void table_shows_zeros(void **state)
{
	(void)state;
	struct umbra_stats s;

	umbra_stats_init(&s);
	check_table(&s);
}

/* The name column is shared: in every section, the first number column
 * begins two spaces after the longest name of any section (indented), and
 * nothing of it starts earlier. */
#define NAME_INDENT 2
#define COLUMN_GAP 2

static void check_name_column(const struct umbra_stats *s)
{
	struct sink *k = sink_new();
	struct lines *ls = test_calloc(1, sizeof *ls);
	size_t longest = 0, x = 1;

	for (size_t sec = 0; sec < LEN(lists); sec++)
		for (unsigned i = 0; i < lists[sec].count; i++)
			if (strlen(lists[sec].name(i)) > longest)
				longest = strlen(lists[sec].name(i));
	umbra_stats_print_table(s, sink_out, k);
	split_lines(k->buf, ls);
	for (size_t sec = 0; sec < LEN(lists); sec++) {
		size_t first_column = SIZE_MAX;

		/* The heading and the rows of this section. */
		for (unsigned r = 0; r <= lists[sec].count; r++, x++) {
			size_t end;
			long at;

			assert_true(x < ls->n);
			next_word(ls->start[x], ls->len[x], 0, &end);
			at = next_word(ls->start[x], ls->len[x], end, &end);
			assert_true(at > 0);
			if ((size_t)at < first_column)
				first_column = (size_t)at;
		}
		assert_int_equal(first_column,
				 NAME_INDENT + longest + COLUMN_GAP);
	}
	test_free(ls);
	test_free(k);
}

static void table_sections_share_name_column(void **state)
{
	(void)state;
	struct umbra_stats s;

	umbra_stats_init(&s);
	check_name_column(&s);
	fill_stats(&s);
	check_name_column(&s);
}

/* ======================================================================== */
/* The JSON line                                                            */
/* ======================================================================== */

static void path_of(char *buf, size_t size, const char *section,
		    const char *name, const char *field)
{
	snprintf(buf, size, "%s.%s%s%s", section, name, field ? "." : "",
		 field ? field : "");
}

/* The node at section.name[.field] is a uint64 equal to want. */
static void assert_json_u64(const struct jcheck *jc, const char *section,
			    const char *name, const char *field, uint64_t want)
{
	char path[JC_PATH_MAX];
	const struct jnode *n;

	path_of(path, sizeof path, section, name, field);
	n = jc_find(jc, path);
	if (n == NULL)
		fail_msg("JSON lacks %s", path);
	if (n->kind != J_NUMBER || !n->is_u64)
		fail_msg("JSON %s is not an unsigned integer", path);
	if (n->u64 != want)
		fail_msg("JSON %s = %llu, want %llu", path,
			 (unsigned long long)n->u64, (unsigned long long)want);
}

/* Print the JSON of s, check it is one line of valid JSON holding exactly
 * every statistic, and that every value round-trips. */
static void check_json(const struct umbra_stats *s)
{
	struct sink *k = sink_new();
	struct jcheck *jc = jc_new();
	size_t expected_nodes;

	umbra_stats_print_json(s, sink_out, k);
	assert_sink_clean(k);
	/* Exactly one line: a single '\n', at the very end, and compact. */
	assert_true(k->len > 1);
	assert_true(k->buf[k->len - 1] == '\n');
	assert_ptr_equal(strchr(k->buf, '\n'), k->buf + k->len - 1);
	assert_null(strchr(k->buf, ' '));
	assert_true(k->buf[0] == '{');

	if (!jc_parse(jc, k->buf, k->len))
		fail_msg("invalid JSON (%s): %s", jc->error, k->buf);
	assert_int_equal(jc_find(jc, "")->kind, J_OBJECT);

	for (unsigned i = 0; i < UMBRA_CTR_COUNT; i++)
		assert_json_u64(jc, "counters", ctr_name(i), NULL,
				s->counter[i]);
	for (unsigned t = 0; t < UMBRA_TMR_COUNT; t++) {
		assert_json_u64(jc, "timers", tmr_name(t), "count",
				s->timer[t].count);
		assert_json_u64(jc, "timers", tmr_name(t), "ticks",
				s->timer[t].ticks);
		assert_json_u64(jc, "timers", tmr_name(t), "max",
				s->timer[t].max);
	}
	for (unsigned g = 0; g < UMBRA_GAUGE_COUNT; g++) {
		assert_json_u64(jc, "gauges", gauge_name(g), "value",
				s->gauge[g].value);
		assert_json_u64(jc, "gauges", gauge_name(g), "high",
				s->gauge[g].high);
	}
	/* Nothing else: the root, three section objects, one number per
	 * counter, an object and three numbers per timer, an object and two
	 * numbers per gauge. */
	expected_nodes = 1 + 3 + UMBRA_CTR_COUNT + 4 * UMBRA_TMR_COUNT +
			 3 * UMBRA_GAUGE_COUNT;
	assert_int_equal(jc->nnodes, expected_nodes);
	assert_int_equal(jc_find(jc, "counters")->kind, J_OBJECT);
	assert_int_equal(jc_find(jc, "timers")->kind, J_OBJECT);
	assert_int_equal(jc_find(jc, "gauges")->kind, J_OBJECT);
	test_free(jc);
	test_free(k);
}

static void json_round_trips_every_value(void **state)
{
	(void)state;
	struct umbra_stats s;

	fill_stats(&s);
	check_json(&s);
}

static void json_round_trips_zeros(void **state)
{
	(void)state;
	struct umbra_stats s;

	umbra_stats_init(&s);
	check_json(&s);
}

/* The shape the benchmarks rely on, spelled out for one small case. */
static void json_exact_prefix_and_shape(void **state)
{
	(void)state;
	struct umbra_stats s;
	struct sink *k = sink_new();
	char want[128];

	umbra_stats_init(&s);
	umbra_stat_add(&s, (enum umbra_counter_id)0, 12);
	umbra_timer_add(&s, (enum umbra_timer_id)0, 500);
	umbra_timer_add(&s, (enum umbra_timer_id)0, 400);
	umbra_gauge_set(&s, (enum umbra_gauge_id)0, 40);
	umbra_gauge_set(&s, (enum umbra_gauge_id)0, 10);
	umbra_stats_print_json(&s, sink_out, k);

	snprintf(want, sizeof want, "{\"counters\":{\"%s\":12,", ctr_name(0));
	assert_memory_equal(k->buf, want, strlen(want));
	snprintf(want, sizeof want,
		 "},\"timers\":{\"%s\":{\"count\":2,\"ticks\":900,\"max\":500},",
		 tmr_name(0));
	assert_non_null(strstr(k->buf, want));
	snprintf(want, sizeof want,
		 "},\"gauges\":{\"%s\":{\"value\":10,\"high\":40},",
		 gauge_name(0));
	assert_non_null(strstr(k->buf, want));
	assert_true(k->len >= 4);
	assert_string_equal(k->buf + k->len - 4, "}}}\n");
	test_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fmt_dec_extremes),
		cmocka_unit_test(fmt_dec_powers_of_ten),
		cmocka_unit_test(fmt_hex_digits),
		cmocka_unit_test(fmt_hex_prefixed),
		cmocka_unit_test(fmt_padding),
		cmocka_unit_test(fmt_padding_wide_and_numbers),
		cmocka_unit_test(fmt_null_callback),
		cmocka_unit_test(checker_accepts_valid_json),
		cmocka_unit_test(checker_rejects_invalid_json),
		cmocka_unit_test(checker_records_values),
		cmocka_unit_test(fmt_json_string_escapes),
		cmocka_unit_test(fmt_json_string_invalid_utf8),
		cmocka_unit_test(names_are_unique_identifiers),
		cmocka_unit_test(enumerators_match_names),
		cmocka_unit_test(counters_count),
		cmocka_unit_test(timers_accumulate),
		cmocka_unit_test(gauges_keep_high_water),
		cmocka_unit_test(reset_starts_a_window),
		cmocka_unit_test(fill_stats_matches_expectations),
		cmocka_unit_test(table_shows_every_value),
		cmocka_unit_test(table_shows_zeros),
		cmocka_unit_test(table_sections_share_name_column),
		cmocka_unit_test(json_round_trips_every_value),
		cmocka_unit_test(json_round_trips_zeros),
		cmocka_unit_test(json_exact_prefix_and_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
