/*
 * The simulation's only source of randomness: xoshiro256** seeded through
 * splitmix64, so a run is a pure function of its seed. Each user (a network,
 * a test's workload) owns its own generator: adding a draw in one place does
 * not shift the draws of another.
 *
 * Test-only; no I/O, no clock.
 */
#ifndef MQTTLB_TESTS_SIM_RNG_H
#define MQTTLB_TESTS_SIM_RNG_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

struct sim_rng {
        uint64_t s[4];
};

static inline uint64_t sim_rng__splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static inline void sim_rng__seed(struct sim_rng *r, uint64_t seed)
{
        for (int i = 0; i < 4; i++)
                r->s[i] = sim_rng__splitmix64(&seed);
}

static inline uint64_t sim_rng__rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman and Vigna). */
static inline uint64_t sim_rng__next(struct sim_rng *r)
{
        uint64_t *s = r->s;
        uint64_t result = sim_rng__rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = sim_rng__rotl(s[3], 45);
        return result;
}

/* Uniform in [0, n); 0 when n is 0. Multiply-shift (Lemire) without the
 * rejection step: the bias is below 2^-32 for the ranges the tests use. */
static inline uint64_t sim_rng__below(struct sim_rng *r, uint64_t n)
{
        return (uint64_t)(((unsigned __int128)sim_rng__next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t sim_rng__range(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
        return lo + sim_rng__below(r, hi - lo + 1);
}

/* Uniform in [0, 1). */
static inline double sim_rng__unit(struct sim_rng *r)
{
        return (double)(sim_rng__next(r) >> 11) * 0x1.0p-53;
}

static inline bool sim_rng__chance(struct sim_rng *r, double p)
{
        return p > 0 && sim_rng__unit(r) < p;
}

/* Exponentially distributed with the given mean. */
static inline double sim_rng__exp(struct sim_rng *r, double mean)
{
        return -mean * log(1.0 - sim_rng__unit(r));
}

#endif
