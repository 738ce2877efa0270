/*
 * rng.h - random numbers (rng.c): xoshiro256** seeded by splitmix64, and the
 * splitmix64 finaliser as a stateless hash. Our own, so results never depend
 * on libc's rand(). Includes nothing of the model (kernels.h uses it).
 */
#ifndef CNN_RNG_H
#define CNN_RNG_H

#include <stdint.h>

/* results never depend on libc's rand().                                   */

typedef struct cnn_rng {
	uint64_t s[4];
} cnn_rng;

void cnn_rng_seed(cnn_rng *r, uint64_t seed);
uint64_t cnn_rng_next(cnn_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double cnn_rng_uniform(cnn_rng *r);
/* Standard normal (Box-Muller, both values drawn fresh each call). */
double cnn_rng_normal(cnn_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t cnn_rng_below(cnn_rng *r, uint64_t n);

/* The splitmix64 finaliser: a bijection of 64-bit words that mixes every
 * input bit into every output bit. */
static inline uint64_t cnn_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A counter-based hash: the finaliser applied to the seed, plus the counter
 * times the golden-ratio increment, finalised again. The same (seed,
 * counter) always gives the same 64 bits; nearby counters give unrelated
 * ones. */
static inline uint64_t cnn_hash64(uint64_t seed, uint64_t counter)
{
	return cnn_mix64(cnn_mix64(seed) +
	                 (counter + 1) * UINT64_C(0x9e3779b97f4a7c15));
}

#endif /* CNN_RNG_H */
