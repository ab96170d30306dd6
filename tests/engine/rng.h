/*
 * The engine tests' pseudo-random numbers: xorshift64, so that every run of
 * a seed is the same run.
 */
#ifndef UMBRA_TEST_RNG_H
#define UMBRA_TEST_RNG_H

#include <stdbool.h>
#include <stdint.h>

struct rng {
	uint64_t s; /* never 0 */
};

static inline uint64_t rnd(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

/* True with probability pct percent. */
static inline bool chance(struct rng *r, unsigned pct)
{
	return rnd(r) % 100 < pct;
}

#endif
