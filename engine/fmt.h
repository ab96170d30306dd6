/*
 * A tiny freestanding text formatter: decimal and hexadecimal integers,
 * strings, padding to a column width, and JSON string literals, all written
 * through the embedder's output callback (umbra_out_fn).
 *
 * There is no printf here on purpose: a format string is a small program
 * the compiler cannot check in a freestanding build, and the engine prints
 * little enough that a handful of typed calls reads just as well.
 *
 * Nothing is buffered and nothing is allocated: each call hands its bytes to
 * the callback at once (numbers are converted in a small stack buffer
 * first).  A writer with a NULL callback discards everything.
 */
#ifndef UMBRA_ENGINE_FMT_H
#define UMBRA_ENGINE_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "umbra/stats.h" /* umbra_out_fn */

/* Digits needed for any uint64: 18446744073709551615 and ffffffffffffffff. */
#define UMBRA_FMT_DEC_MAX 20
#define UMBRA_FMT_HEX_MAX 16

/* Where the text goes: the callback and its context, passed around as one. */
struct umbra_fmt {
	umbra_out_fn out;
	void *ctx;
};

enum umbra_fmt_align {
	UMBRA_FMT_LEFT,  /* text first, padding after:  "ab   " */
	UMBRA_FMT_RIGHT, /* padding first, text after:  "   ab" */
};

/* ---- pure conversions (no output) ---------------------------------------- */

/* The length of a NUL-terminated string. */
size_t umbra_fmt_strlen(const char *s);

/* Write the decimal digits of v to buf (no sign, no NUL); return how many.
 * buf must hold UMBRA_FMT_DEC_MAX characters. */
size_t umbra_fmt_dec_digits(char *buf, uint64_t v);

/* Write the lowercase hexadecimal digits of v to buf (no "0x", no NUL),
 * zero-extended to at least min_digits (at most UMBRA_FMT_HEX_MAX); return
 * how many.  buf must hold UMBRA_FMT_HEX_MAX characters. */
size_t umbra_fmt_hex_digits(char *buf, uint64_t v, size_t min_digits);

/* How many characters umbra_fmt_dec would print for v without padding. */
size_t umbra_fmt_dec_width(uint64_t v);

/* ---- output ---------------------------------------------------------------- */

/* `len` bytes as they are. */
void umbra_fmt_put(const struct umbra_fmt *f, const char *s, size_t len);
/* A NUL-terminated string. */
void umbra_fmt_str(const struct umbra_fmt *f, const char *s);
/* `count` copies of the character c. */
void umbra_fmt_fill(const struct umbra_fmt *f, char c, size_t count);

/* `len` bytes padded with spaces to at least `width` characters, on the side
 * `align` says.  Longer text is printed whole, never truncated. */
void umbra_fmt_field(const struct umbra_fmt *f, const char *s, size_t len,
		     size_t width, enum umbra_fmt_align align);
/* A NUL-terminated string in a field of `width`. */
void umbra_fmt_str_w(const struct umbra_fmt *f, const char *s, size_t width,
		     enum umbra_fmt_align align);

/* v in decimal, in a field of `width` (0: no padding). */
void umbra_fmt_dec(const struct umbra_fmt *f, uint64_t v, size_t width,
		   enum umbra_fmt_align align);
/* v in lowercase hexadecimal with a "0x" prefix, its digits zero-extended to
 * at least min_digits: umbra_fmt_hex(f, 0x1f, 4) prints "0x001f". */
void umbra_fmt_hex(const struct umbra_fmt *f, uint64_t v, size_t min_digits);

/* A JSON string literal: s between double quotes, with '"', '\\' and every
 * control character (below 0x20, and DEL) escaped, so that the result is
 * valid JSON whatever s holds.  Bytes from 0x80 up pass through unchanged
 * (valid UTF-8 stays valid). */
void umbra_fmt_json_str(const struct umbra_fmt *f, const char *s);

#endif /* UMBRA_ENGINE_FMT_H */
