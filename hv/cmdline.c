/*
 * Parsing Umbra's options.
 */
#include "cmdline.h"

#include <stddef.h>

#include "console.h"
#include "string.h"

#define MAX_WORD 128

struct word {
	const char *s;
	size_t len;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool word_is(struct word w, const char *lit)
{
	size_t n = strlen(lit);

	return w.len == n && strncmp(w.s, lit, n) == 0;
}

/* A decimal (or 0x hex) number with an optional K/M/G suffix.  *had_suffix
 * says whether one was given.  False on anything else or overflow. */
static bool parse_size(struct word w, uint64_t *out, bool *had_suffix)
{
	uint64_t v = 0, base = 10, mult = 1;
	size_t i = 0, end = w.len;

	*had_suffix = false;
	if (end > 0) {
		switch (w.s[end - 1]) {
		case 'k': case 'K': mult = 1ull << 10; break;
		case 'm': case 'M': mult = 1ull << 20; break;
		case 'g': case 'G': mult = 1ull << 30; break;
		default: break;
		}
		if (mult != 1) {
			end--;
			*had_suffix = true;
		}
	}
	if (end > 2 && w.s[0] == '0' && (w.s[1] == 'x' || w.s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == end)
		return false;
	for (; i < end; i++) {
		char c = w.s[i];
		uint64_t d;

		if (c >= '0' && c <= '9')
			d = (uint64_t)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (uint64_t)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (uint64_t)(c - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (v > UINT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

/* Fill `why` and return false: one helper so every error looks alike. */
static bool fail(char *why, unsigned size, struct word key, struct word val,
		 const char *expected)
{
	ksnprintf(why, size, "option '%.*s': '%.*s' is not valid; expected %s",
		  (int)key.len, key.s, (int)val.len, val.s, expected);
	return false;
}

static bool parse_option(struct word key, struct word val,
			 struct hv_options *opt, char *why, unsigned size)
{
	uint64_t v;
	bool suffix;

	if (word_is(key, "mem")) {
		if (!parse_size(val, &v, &suffix) || v < MIN_GUEST_MEM ||
		    v > MAX_GUEST_MEM || v % 4096)
			return fail(why, size, key, val,
				    "a size from 2M to 4G, a multiple of 4K (e.g. mem=64M)");
		opt->guest_mem = v;
	} else if (word_is(key, "pool")) {
		if (!parse_size(val, &v, &suffix))
			return fail(why, size, key, val,
				    "a page count (pool=2048) or a size (pool=8M)");
		if (suffix)
			v /= 4096;
		if (v < MIN_POOL_PAGES || v > MAX_POOL_PAGES)
			return fail(why, size, key, val,
				    "16 to 1048576 pages (64K to 4G)");
		opt->pool_pages = (uint32_t)v;
	} else if (word_is(key, "log")) {
		static const char *const names[] = {
			[LOG_ERROR] = "error", [LOG_WARN] = "warn",
			[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
			[LOG_TRACE] = "trace",
		};
		unsigned i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (word_is(val, names[i]))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return fail(why, size, key, val,
				    "error, warn, info, debug or trace");
		opt->log_level = (uint8_t)i;
	} else if (word_is(key, "stats")) {
		if (word_is(val, "table"))
			opt->stats = STATS_TABLE;
		else if (word_is(val, "json"))
			opt->stats = STATS_JSON;
		else if (word_is(val, "both"))
			opt->stats = STATS_BOTH;
		else if (word_is(val, "none"))
			opt->stats = STATS_NONE;
		else
			return fail(why, size, key, val,
				    "table, json, both or none");
	} else if (word_is(key, "console")) {
		if (word_is(val, "com1"))
			opt->console_port = COM1_PORT;
		else if (word_is(val, "com2"))
			opt->console_port = COM2_PORT;
		else if (word_is(val, "none"))
			opt->console_port = 0;
		else
			return fail(why, size, key, val, "com1, com2 or none");
	} else if (word_is(key, "audit")) {
		if (!parse_size(val, &v, &suffix) || suffix)
			return fail(why, size, key, val,
				    "a number of exits (0: only at the end)");
		opt->audit_every = v;
	} else if (word_is(key, "selftest")) {
		if (word_is(val, "panic"))
			opt->selftest = SELFTEST_PANIC;
		else if (word_is(val, "fault"))
			opt->selftest = SELFTEST_FAULT;
		else if (word_is(val, "stack"))
			opt->selftest = SELFTEST_STACK;
		else
			return fail(why, size, key, val, "panic, fault or stack");
	} else if (word_is(key, "invlpg")) {
		if (word_is(val, "native"))
			opt->invlpg_exit = false;
		else if (word_is(val, "exit"))
			opt->invlpg_exit = true;
		else
			return fail(why, size, key, val, "native or exit");
	} else {
		ksnprintf(why, size,
			  "unknown option '%.*s' (known: mem, pool, log, stats, console, audit, selftest, invlpg)",
			  (int)key.len, key.s);
		return false;
	}
	return true;
}

bool cmdline_parse(const char *line, struct hv_options *opt, char *why,
		   unsigned why_size)
{
	const char *p = line;
	bool first = true;

	*opt = (struct hv_options){
		.guest_mem = DEFAULT_GUEST_MEM,
		.pool_pages = DEFAULT_POOL_PAGES,
		.log_level = LOG_INFO,
		.stats = STATS_BOTH,
		.console_port = COM1_PORT,
	};
	for (;;) {
		struct word w, key, val;
		const char *eq = NULL;

		while (is_space(*p))
			p++;
		if (!*p)
			return true;
		w.s = p;
		while (*p && !is_space(*p)) {
			if (*p == '=' && !eq)
				eq = p;
			p++;
		}
		w.len = (size_t)(p - w.s);
		if (!eq) {
			if (first) {
				first = false;
				continue; /* the image path */
			}
			ksnprintf(why, why_size,
				  "'%.*s' is not an option (options are key=value)",
				  (int)w.len, w.s);
			return false;
		}
		first = false;
		key = (struct word){ w.s, (size_t)(eq - w.s) };
		val = (struct word){ eq + 1, (size_t)(p - eq - 1) };
		if (!parse_option(key, val, opt, why, why_size))
			return false;
	}
}
