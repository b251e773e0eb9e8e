/*
 * The log-linear histogram (hist.h). Bucket of v:
 *   v < 128:  v itself;
 *   else:     with s = floor(log2 v) - 6 (so v >> s is 64..127),
 *             128 + (s - 1) * 64 + (v >> s) - 64.
 * The highest value of a bucket is ((v >> s) + 1) << s, minus one.
 */
#include "bench/mqttload/hist.h"

#include <math.h>

static uint32_t bucket_of(uint64_t v)
{
        uint32_t s;

        if (v < (2u << HIST_SUB_BITS))
                return (uint32_t)v;
        s = (uint32_t)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
        if (s > HIST_GROUPS)
                return HIST_BUCKETS - 1;
        return (2u << HIST_SUB_BITS) + (s - 1) * (1u << HIST_SUB_BITS) + (uint32_t)(v >> s) -
               (1u << HIST_SUB_BITS);
}

static uint64_t bucket_top(uint32_t b)
{
        uint32_t s, m;

        if (b < (2u << HIST_SUB_BITS))
                return b;
        b -= 2u << HIST_SUB_BITS;
        s = b / (1u << HIST_SUB_BITS) + 1;
        m = b % (1u << HIST_SUB_BITS) + (1u << HIST_SUB_BITS);
        return (((uint64_t)m + 1) << s) - 1;
}

void hist__add(struct hist *h, uint64_t v)
{
        h->b[bucket_of(v)]++;
        h->count++;
        h->sum += v;
        if (v > h->max)
                h->max = v;
}

void hist__merge(struct hist *dst, const struct hist *src)
{
        for (uint32_t i = 0; i < HIST_BUCKETS; i++)
                dst->b[i] += src->b[i];
        dst->count += src->count;
        dst->sum += src->sum;
        if (src->max > dst->max)
                dst->max = src->max;
}

uint64_t hist__percentile(const struct hist *h, double p)
{
        uint64_t rank, seen = 0;

        if (!h->count)
                return 0;
        rank = (uint64_t)ceil(p * (double)h->count);
        if (rank < 1)
                rank = 1;
        for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
                seen += h->b[i];
                if (seen >= rank) {
                        uint64_t top = bucket_top(i);

                        return top < h->max ? top : h->max;
                }
        }
        return h->max;
}
