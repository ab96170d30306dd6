/*
 * The engine's statistics: named counters, time accumulators and gauges for
 * every path the shadow MMU takes, printable as an aligned table (for
 * people) and as one JSON line (for benchmarks and scripts).
 *
 * Every statistic is declared exactly once, in one of the three X-macro
 * lists below, as X(name, "description").  Everything else is generated
 * from those lists: the enumerators (UMBRA_CTR_<name>, UMBRA_TMR_<name>,
 * UMBRA_GAUGE_<name>), the storage in struct umbra_stats, the name and
 * description tables, the table and the JSON.  Adding a statistic is adding
 * one line to a list.
 *
 * The enumerators keep the snake_case name on purpose: the identifier you
 * grep for in the engine (UMBRA_CTR_fault_fixed) is the key you read in the
 * output ("fault_fixed").
 *
 * Names must be C identifiers (they are pasted into enumerators), unique
 * within their list, and are printed as JSON keys.  Descriptions are one
 * short line each.
 *
 * The structure is plain data: the embedder owns one per engine instance (or
 * per virtual CPU, summing them for the report), and nothing here takes a
 * lock.  Ticks are whatever clock the embedder reads (TSC, a monotonic
 * nanosecond clock, ...): the engine never reads a clock, it is handed the
 * elapsed ticks of each timed operation.
 */
#ifndef UMBRA_STATS_H
#define UMBRA_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the statistics ------------------------------------------------------ */

/* Counters: events, each a uint64 that only grows (until reset). */
#define UMBRA_STAT_COUNTERS(X) \
	/* How guest #PF exits ended. */ \
	X(fault_fixed, "guest #PF resolved in the shadow; the guest never sees it") \
	X(fault_reflected, "guest #PF caused by the guest's own tables, injected back") \
	X(fault_handler, "#PF claimed by a registered access handler") \
	X(fault_pt_write, "write to a monitored guest table, handed over for emulation") \
	X(fault_mmio, "#PF on unbacked guest-physical memory (MMIO)") \
	X(fault_error, "#PF the engine could not resolve (error or out of resources)") \
	/* Writes to monitored guest page tables. */ \
	X(pt_write_emulated, "emulated guest writes to monitored page tables") \
	X(pt_write_updated, "shadow entry rebuilt from the new guest entry") \
	X(pt_write_zapped, "shadow entry cleared after a guest table write") \
	X(pt_write_ignored, "table write that left no shadow entry to update") \
	X(pt_write_partial, "misaligned, partial or cross-entry table writes") \
	X(flood_detected, "table written so often that it stopped being shadowed") \
	X(fork_detected, "table write pattern recognised as a fork or teardown") \
	X(reuse_detected, "frame that held a shadowed table reused as plain data") \
	/* The shadow page cache and pool. */ \
	X(cache_hit, "shadow page found in the (gfn, role) cache") \
	X(cache_miss, "shadow page not in the cache, built anew") \
	X(evictions, "shadow pages evicted to make room in the pool") \
	X(zaps, "shadow pages zapped (unlinked and freed)") \
	X(shadow_pages_created, "shadow pages allocated and filled") \
	/* Address-space switches and TLB maintenance. */ \
	X(cr3_switch_hit, "CR3 loads whose shadow root was cached") \
	X(cr3_switch_miss, "CR3 loads that needed a new shadow root") \
	X(invlpg, "guest INVLPG instructions processed") \
	X(tlb_flush_guest, "guest TLB flushes processed (CR3/CR4 loads, INVPCID)") \
	X(tlb_flush_requested_one, "single-address flushes asked of the embedder") \
	X(tlb_flush_requested_all, "full flushes asked of the embedder") \
	X(mode_changes, "guest paging mode or paging control bit changes") \
	X(unshadowed, "guest frames that stopped being shadowed") \
	/* Access handlers, dirty logging, audit. */ \
	X(handler_registered, "access handlers registered") \
	X(handler_removed, "access handlers removed") \
	X(dirty_log_faults, "write faults taken to record a page as dirty") \
	X(audit_runs, "audit passes over every live shadow table") \
	X(audit_violations, "shadow entries the audit found wider than the guest's")

/* Timers: a timed operation accumulates count, total ticks and max ticks. */
#define UMBRA_STAT_TIMERS(X) \
	X(fault, "handling one guest #PF exit") \
	X(pt_write, "applying one guest page-table write") \
	X(cr3_switch, "handling one guest CR3 load") \
	X(invlpg, "handling one guest INVLPG") \
	X(audit, "one consistency check of every live shadow table")

/* Gauges: a level that rises and falls, with its high-water mark. */
#define UMBRA_STAT_GAUGES(X) \
	X(pool_pages_in_use, "shadow pool pages in use (high: pool high-water mark)") \
	X(rmap_extents_in_use, "reverse-map extents in use") \
	X(shadow_roots, "shadow root tables live") \
	X(handlers, "access handler ranges registered now")

/* ---- identifiers ---------------------------------------------------------- */

#define UMBRA_STAT_X_CTR(name, desc) UMBRA_CTR_##name,
#define UMBRA_STAT_X_TMR(name, desc) UMBRA_TMR_##name,
#define UMBRA_STAT_X_GAUGE(name, desc) UMBRA_GAUGE_##name,

enum umbra_counter_id {
	UMBRA_STAT_COUNTERS(UMBRA_STAT_X_CTR)
	UMBRA_CTR_COUNT /* how many counters there are */
};

enum umbra_timer_id {
	UMBRA_STAT_TIMERS(UMBRA_STAT_X_TMR)
	UMBRA_TMR_COUNT
};

enum umbra_gauge_id {
	UMBRA_STAT_GAUGES(UMBRA_STAT_X_GAUGE)
	UMBRA_GAUGE_COUNT
};

#undef UMBRA_STAT_X_CTR
#undef UMBRA_STAT_X_TMR
#undef UMBRA_STAT_X_GAUGE

/* ---- storage -------------------------------------------------------------- */

/* One time accumulator.  The average is ticks / count. */
struct umbra_timer {
	uint64_t count; /* timed operations */
	uint64_t ticks; /* their total duration */
	uint64_t max;   /* the longest one */
};

/* One gauge: where a level is now, and the highest it has been. */
struct umbra_gauge {
	uint64_t value;
	uint64_t high;
};

struct umbra_stats {
	uint64_t counter[UMBRA_CTR_COUNT];
	struct umbra_timer timer[UMBRA_TMR_COUNT];
	struct umbra_gauge gauge[UMBRA_GAUGE_COUNT];
};

/* ---- updating ------------------------------------------------------------- */

/*
 * The helpers ignore an identifier outside its list instead of writing past
 * the array: a statistic is never worth corrupting the engine's memory.
 * Counter and tick totals wrap modulo 2^64 (centuries at GHz rates).
 */

static inline void umbra_stat_add(struct umbra_stats *s,
				  enum umbra_counter_id c, uint64_t n)
{
	if ((unsigned)c < UMBRA_CTR_COUNT)
		s->counter[c] += n;
}

static inline void umbra_stat_inc(struct umbra_stats *s,
				  enum umbra_counter_id c)
{
	umbra_stat_add(s, c, 1);
}

/* Account one timed operation that took `ticks`. */
static inline void umbra_timer_add(struct umbra_stats *s,
				   enum umbra_timer_id t, uint64_t ticks)
{
	if ((unsigned)t >= UMBRA_TMR_COUNT)
		return;
	struct umbra_timer *tm = &s->timer[t];
	tm->count++;
	tm->ticks += ticks;
	if (ticks > tm->max)
		tm->max = ticks;
}

/* The mean duration, rounded down; 0 when nothing was timed. */
static inline uint64_t umbra_timer_average(const struct umbra_timer *tm)
{
	return tm->count ? tm->ticks / tm->count : 0;
}

/* Set a gauge's current value, raising its high-water mark if exceeded. */
static inline void umbra_gauge_set(struct umbra_stats *s,
				   enum umbra_gauge_id g, uint64_t value)
{
	if ((unsigned)g >= UMBRA_GAUGE_COUNT)
		return;
	s->gauge[g].value = value;
	if (value > s->gauge[g].high)
		s->gauge[g].high = value;
}

static inline void umbra_gauge_inc(struct umbra_stats *s,
				   enum umbra_gauge_id g)
{
	if ((unsigned)g < UMBRA_GAUGE_COUNT)
		umbra_gauge_set(s, g, s->gauge[g].value + 1);
}

/* Lower a gauge by one.  It stops at zero: an unbalanced decrement is a
 * bookkeeping bug, and wrapping would ruin the high-water mark for good. */
static inline void umbra_gauge_dec(struct umbra_stats *s,
				   enum umbra_gauge_id g)
{
	if ((unsigned)g < UMBRA_GAUGE_COUNT && s->gauge[g].value > 0)
		s->gauge[g].value--;
}

/* Zero everything, gauges included: for a fresh engine instance. */
static inline void umbra_stats_init(struct umbra_stats *s)
{
	for (unsigned i = 0; i < UMBRA_CTR_COUNT; i++)
		s->counter[i] = 0;
	for (unsigned i = 0; i < UMBRA_TMR_COUNT; i++)
		s->timer[i] = (struct umbra_timer){ 0 };
	for (unsigned i = 0; i < UMBRA_GAUGE_COUNT; i++)
		s->gauge[i] = (struct umbra_gauge){ 0 };
}

/*
 * Start a new measurement window: counters and timers go to zero.  Gauges
 * describe live state (pages in use now), so their values are kept; their
 * high-water marks restart from those values, so that a later report shows
 * the peak within the window.
 */
static inline void umbra_stats_reset(struct umbra_stats *s)
{
	for (unsigned i = 0; i < UMBRA_CTR_COUNT; i++)
		s->counter[i] = 0;
	for (unsigned i = 0; i < UMBRA_TMR_COUNT; i++)
		s->timer[i] = (struct umbra_timer){ 0 };
	for (unsigned i = 0; i < UMBRA_GAUGE_COUNT; i++)
		s->gauge[i].high = s->gauge[i].value;
}

/* ---- names ---------------------------------------------------------------- */

/* The snake_case name and the one-line description of each statistic, or
 * NULL for an identifier outside its list. */
const char *umbra_counter_name(enum umbra_counter_id c);
const char *umbra_counter_desc(enum umbra_counter_id c);
const char *umbra_timer_name(enum umbra_timer_id t);
const char *umbra_timer_desc(enum umbra_timer_id t);
const char *umbra_gauge_name(enum umbra_gauge_id g);
const char *umbra_gauge_desc(enum umbra_gauge_id g);

/* ---- printing ------------------------------------------------------------- */

/*
 * Where printed text goes: `len` bytes at `s` (not NUL-terminated), in
 * order.  A serial port, a log ring, a buffer in a test.
 */
typedef void (*umbra_out_fn)(void *ctx, const char *s, size_t len);

/*
 * The table, for people: one section each for counters (value), timers
 * (count, total, average and max ticks) and gauges (value and high-water),
 * every statistic on its own line with its description, zeros included, so
 * that a reader sees every path and notices the ones never taken.
 */
void umbra_stats_print_table(const struct umbra_stats *s, umbra_out_fn out,
			     void *ctx);

/*
 * The same numbers as exactly one line of JSON followed by "\n", for
 * scripts:
 *   {"counters":{"fault_fixed":12,...},
 *    "timers":{"fault":{"count":3,"ticks":900,"max":500},...},
 *    "gauges":{"pool_pages_in_use":{"value":10,"high":40},...}}
 * (shown wrapped here; printed without spaces or line breaks).  Every
 * statistic is present; values are unsigned decimal integers.
 */
void umbra_stats_print_json(const struct umbra_stats *s, umbra_out_fn out,
			    void *ctx);

#endif /* UMBRA_STATS_H */
