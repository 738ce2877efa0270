/*
 * rng.c - libcnn's own pseudo-random numbers: xoshiro256** (Blackman and
 * Vigna) seeded by splitmix64.
 *
 * Invariants
 *  - The whole state is the four words of cnn_rng, so a checkpoint can save
 *    and restore it exactly; nothing depends on libc's rand() or on the
 *    platform beyond IEEE double arithmetic and the libm functions used by
 *    the normal distribution (log, sqrt, cos).
 *  - Every derived draw consumes a fixed number of words, except below(),
 *    which rejects (rarely) to stay unbiased: the stream is a pure function
 *    of the seed and the sequence of calls.
 */
#include "rng.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* One step of splitmix64: advances *x and returns the next output. */
static uint64_t splitmix64(uint64_t *x)
{
	return cnn_mix64(*x += UINT64_C(0x9e3779b97f4a7c15));
}

/* Fills the four state words from splitmix64 started at seed. splitmix64 is
 * a bijection of its counter, so the state is never all zero (which would
 * make xoshiro emit zeros forever). */
void cnn_rng_seed(cnn_rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

/* xoshiro256**: the next 64 random bits. */
uint64_t cnn_rng_next(cnn_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* The top 53 bits as a multiple of 2^-53: uniform in [0, 1), exact. */
double cnn_rng_uniform(cnn_rng *r)
{
	return (double)(cnn_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller with two fresh uniforms per call (the second value of the pair
 * is discarded, so the stream does not depend on hidden cached state). The
 * radius uses 1 - u, which lies in (0, 1], so log never sees 0. */
double cnn_rng_normal(cnn_rng *r)
{
	double u1 = 1.0 - cnn_rng_uniform(r); /* (0, 1] */
	double u2 = cnn_rng_uniform(r);       /* [0, 1) */
	const double two_pi = 6.283185307179586476925286766559;

	return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

/* Uniform integer in [0, n) by rejection: draws below 2^64 mod n are thrown
 * away so that every residue has exactly the same number of preimages.
 * n == 0 (a caller's bug) returns 0 without drawing. */
uint64_t cnn_rng_below(cnn_rng *r, uint64_t n)
{
	uint64_t threshold, x;

	if (n == 0)
		return 0;
	threshold = (UINT64_C(0) - n) % n; /* 2^64 mod n */
	do
		x = cnn_rng_next(r);
	while (x < threshold);
	return x % n;
}
