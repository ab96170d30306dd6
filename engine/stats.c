/*
 * Statistics: the name and description tables generated from the X-macro
 * lists of umbra/stats.h, and the two printers (an aligned table, one JSON
 * line).
 *
 * Both printers walk the same description of the output: three sections
 * (counters, timers, gauges), each a list of named rows, each row a few
 * numbers ("fields").  A field says how the table titles it and under which
 * key the JSON holds it, so the two outputs cannot drift apart: a new
 * statistic, or a new field, shows up in both.
 */
#include "umbra/stats.h"

#include "fmt.h"

/* ---- names and descriptions ---------------------------------------------- */

#define STAT_NAME(name, desc) #name,
#define STAT_DESC(name, desc) desc,

static const char *const counter_names[] = { UMBRA_STAT_COUNTERS(STAT_NAME) };
static const char *const counter_descs[] = { UMBRA_STAT_COUNTERS(STAT_DESC) };
static const char *const timer_names[] = { UMBRA_STAT_TIMERS(STAT_NAME) };
static const char *const timer_descs[] = { UMBRA_STAT_TIMERS(STAT_DESC) };
static const char *const gauge_names[] = { UMBRA_STAT_GAUGES(STAT_NAME) };
static const char *const gauge_descs[] = { UMBRA_STAT_GAUGES(STAT_DESC) };

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(ARRAY_LEN(counter_names) == UMBRA_CTR_COUNT, "counter names");
_Static_assert(ARRAY_LEN(timer_names) == UMBRA_TMR_COUNT, "timer names");
_Static_assert(ARRAY_LEN(gauge_names) == UMBRA_GAUGE_COUNT, "gauge names");

/* table[i], or NULL when i is outside the table. */
static const char *lookup(const char *const *table, unsigned count, unsigned i)
{
	return i < count ? table[i] : NULL;
}

const char *umbra_counter_name(enum umbra_counter_id c)
{
	return lookup(counter_names, UMBRA_CTR_COUNT, (unsigned)c);
}

const char *umbra_counter_desc(enum umbra_counter_id c)
{
	return lookup(counter_descs, UMBRA_CTR_COUNT, (unsigned)c);
}

const char *umbra_timer_name(enum umbra_timer_id t)
{
	return lookup(timer_names, UMBRA_TMR_COUNT, (unsigned)t);
}

const char *umbra_timer_desc(enum umbra_timer_id t)
{
	return lookup(timer_descs, UMBRA_TMR_COUNT, (unsigned)t);
}

const char *umbra_gauge_name(enum umbra_gauge_id g)
{
	return lookup(gauge_names, UMBRA_GAUGE_COUNT, (unsigned)g);
}

const char *umbra_gauge_desc(enum umbra_gauge_id g)
{
	return lookup(gauge_descs, UMBRA_GAUGE_COUNT, (unsigned)g);
}

/* ---- what is printed ------------------------------------------------------ */

/* One number of a row: its table column title and its JSON key (NULL: left
 * out of that output), and how to read it for row i. */
struct field {
	const char *title;
	const char *key;
	uint64_t (*get)(const struct umbra_stats *s, unsigned i);
};

static uint64_t counter_value(const struct umbra_stats *s, unsigned i)
{
	return s->counter[i];
}

static uint64_t timer_count(const struct umbra_stats *s, unsigned i)
{
	return s->timer[i].count;
}

static uint64_t timer_ticks(const struct umbra_stats *s, unsigned i)
{
	return s->timer[i].ticks;
}

static uint64_t timer_avg(const struct umbra_stats *s, unsigned i)
{
	return umbra_timer_average(&s->timer[i]);
}

static uint64_t timer_max(const struct umbra_stats *s, unsigned i)
{
	return s->timer[i].max;
}

static uint64_t gauge_value(const struct umbra_stats *s, unsigned i)
{
	return s->gauge[i].value;
}

static uint64_t gauge_high(const struct umbra_stats *s, unsigned i)
{
	return s->gauge[i].high;
}

#define MAX_FIELDS 4

/* A section: a title (also its JSON key), its rows, and their fields.  A
 * section whose rows are single numbers is printed in JSON as
 * "name":number rather than "name":{"key":number}. */
struct section {
	const char *title;
	const char *const *names;
	const char *const *descs;
	unsigned rows;
	bool json_scalar;
	unsigned nfields;
	struct field fields[MAX_FIELDS];
};

static const struct section sections[] = {
	{
		.title = "counters",
		.names = counter_names,
		.descs = counter_descs,
		.rows = UMBRA_CTR_COUNT,
		.json_scalar = true,
		.nfields = 1,
		.fields = { { "value", "value", counter_value } },
	},
	{
		.title = "timers",
		.names = timer_names,
		.descs = timer_descs,
		.rows = UMBRA_TMR_COUNT,
		.nfields = 4,
		.fields = {
			{ "count", "count", timer_count },
			{ "ticks", "ticks", timer_ticks },
			{ "avg", NULL, timer_avg }, /* JSON readers divide */
			{ "max", "max", timer_max },
		},
	},
	{
		.title = "gauges",
		.names = gauge_names,
		.descs = gauge_descs,
		.rows = UMBRA_GAUGE_COUNT,
		.nfields = 2,
		.fields = {
			{ "value", "value", gauge_value },
			{ "high", "high", gauge_high },
		},
	},
};

/* ---- the table ------------------------------------------------------------ */

/*
 * Layout of every line:
 *
 *   <title or indent+name, padded to the name column> (GAP <field>)* GAP <desc>
 *
 * The name column is as wide as the longest name (plus the indent) in any
 * section, so the sections line up; each field column is as wide as its
 * title or its widest value in that section.
 */
#define TABLE_HEADING   "Umbra statistics (times in embedder clock ticks)\n"
#define ROW_INDENT      "  "
#define ROW_INDENT_LEN  2
#define COLUMN_GAP      2
#define DESC_TITLE      "description"

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* The width of the name column: every name indented, and every title. */
static size_t name_column_width(void)
{
	size_t w = 0;

	for (unsigned k = 0; k < ARRAY_LEN(sections); k++) {
		const struct section *sec = &sections[k];

		w = max_size(w, umbra_fmt_strlen(sec->title));
		for (unsigned i = 0; i < sec->rows; i++)
			w = max_size(w, ROW_INDENT_LEN +
					umbra_fmt_strlen(sec->names[i]));
	}
	return w;
}

/* The width of each field column of a section, for these values. */
static void field_widths(const struct umbra_stats *s,
			 const struct section *sec, size_t width[MAX_FIELDS])
{
	for (unsigned j = 0; j < sec->nfields; j++) {
		const struct field *fld = &sec->fields[j];

		width[j] = umbra_fmt_strlen(fld->title);
		for (unsigned i = 0; i < sec->rows; i++)
			width[j] = max_size(width[j],
					    umbra_fmt_dec_width(fld->get(s, i)));
	}
}

static void section_heading(const struct umbra_fmt *f,
			    const struct section *sec, size_t name_w,
			    const size_t width[MAX_FIELDS])
{
	umbra_fmt_str_w(f, sec->title, name_w, UMBRA_FMT_LEFT);
	for (unsigned j = 0; j < sec->nfields; j++) {
		umbra_fmt_fill(f, ' ', COLUMN_GAP);
		umbra_fmt_str_w(f, sec->fields[j].title, width[j],
				UMBRA_FMT_RIGHT);
	}
	umbra_fmt_fill(f, ' ', COLUMN_GAP);
	umbra_fmt_str(f, DESC_TITLE "\n");
}

static void section_row(const struct umbra_fmt *f, const struct umbra_stats *s,
			const struct section *sec, unsigned i, size_t name_w,
			const size_t width[MAX_FIELDS])
{
	umbra_fmt_str(f, ROW_INDENT);
	umbra_fmt_str_w(f, sec->names[i], name_w - ROW_INDENT_LEN,
			UMBRA_FMT_LEFT);
	for (unsigned j = 0; j < sec->nfields; j++) {
		umbra_fmt_fill(f, ' ', COLUMN_GAP);
		umbra_fmt_dec(f, sec->fields[j].get(s, i), width[j],
			      UMBRA_FMT_RIGHT);
	}
	umbra_fmt_fill(f, ' ', COLUMN_GAP);
	umbra_fmt_str(f, sec->descs[i]);
	umbra_fmt_str(f, "\n");
}

void umbra_stats_print_table(const struct umbra_stats *s, umbra_out_fn out,
			     void *ctx)
{
	const struct umbra_fmt f = { out, ctx };
	size_t name_w = name_column_width();

	umbra_fmt_str(&f, TABLE_HEADING);
	for (unsigned k = 0; k < ARRAY_LEN(sections); k++) {
		const struct section *sec = &sections[k];
		size_t width[MAX_FIELDS];

		field_widths(s, sec, width);
		section_heading(&f, sec, name_w, width);
		for (unsigned i = 0; i < sec->rows; i++)
			section_row(&f, s, sec, i, name_w, width);
	}
}

/* ---- JSON ----------------------------------------------------------------- */

/* Writes `,` before every member but the first of an object. */
static void json_separator(const struct umbra_fmt *f, unsigned index)
{
	if (index != 0)
		umbra_fmt_put(f, ",", 1);
}

/* "key": */
static void json_key(const struct umbra_fmt *f, const char *key)
{
	umbra_fmt_json_str(f, key);
	umbra_fmt_put(f, ":", 1);
}

/* Row i as {"key":n,...}, every field that has a JSON key. */
static void json_row_object(const struct umbra_fmt *f,
			    const struct umbra_stats *s,
			    const struct section *sec, unsigned i)
{
	unsigned written = 0;

	umbra_fmt_put(f, "{", 1);
	for (unsigned j = 0; j < sec->nfields; j++) {
		const struct field *fld = &sec->fields[j];

		if (fld->key == NULL)
			continue;
		json_separator(f, written++);
		json_key(f, fld->key);
		umbra_fmt_dec(f, fld->get(s, i), 0, UMBRA_FMT_LEFT);
	}
	umbra_fmt_put(f, "}", 1);
}

static void json_section(const struct umbra_fmt *f,
			 const struct umbra_stats *s,
			 const struct section *sec)
{
	umbra_fmt_put(f, "{", 1);
	for (unsigned i = 0; i < sec->rows; i++) {
		json_separator(f, i);
		json_key(f, sec->names[i]);
		if (sec->json_scalar)
			umbra_fmt_dec(f, sec->fields[0].get(s, i), 0,
				      UMBRA_FMT_LEFT);
		else
			json_row_object(f, s, sec, i);
	}
	umbra_fmt_put(f, "}", 1);
}

void umbra_stats_print_json(const struct umbra_stats *s, umbra_out_fn out,
			    void *ctx)
{
	const struct umbra_fmt f = { out, ctx };

	umbra_fmt_put(&f, "{", 1);
	for (unsigned k = 0; k < ARRAY_LEN(sections); k++) {
		json_separator(&f, k);
		json_key(&f, sections[k].title);
		json_section(&f, s, &sections[k]);
	}
	umbra_fmt_put(&f, "}\n", 2);
}
