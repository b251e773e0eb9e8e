/*
 * A log-linear histogram of nanosecond values in the spirit of HdrHistogram:
 * values below 128 have a bucket each, above that every power of two is cut
 * into 64 buckets, so a percentile is off by less than 1/64 (1.6 %) of its
 * value. Fixed size, no allocation: adding a value is a few instructions.
 * Values from 2^41 ns (about 36 minutes) on land in the last bucket; the
 * maximum is kept exactly.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_HIST_H
#define MQTTLB_BENCH_MQTTLOAD_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6u  /* 64 buckets per power of two */
#define HIST_GROUPS   34u /* powers of two above 128: up to 2^41 ns */
#define HIST_BUCKETS  ((2u + HIST_GROUPS) << HIST_SUB_BITS)

struct hist {
        uint64_t count, max, sum;
        uint64_t b[HIST_BUCKETS];
};

void hist__add(struct hist *h, uint64_t v);
void hist__merge(struct hist *dst, const struct hist *src);
/* The value at or below which a fraction p (0..1) of the values lie: the
 * highest value of that bucket, never above the maximum; 0 when empty. */
uint64_t hist__percentile(const struct hist *h, double p);

#endif
