/*
 * The payload stamp a publisher writes and a subscriber reads: who sent the
 * message, its number, and when (CLOCK_MONOTONIC, which every network
 * namespace of one machine shares, so latency across namespaces is exact).
 * Little-endian, unaligned, written in place into the send buffer.
 *
 *   payload >= 24 bytes: "MQL1" | publisher id u32 | sequence u64 | time ns u64
 *   payload 16..23:              publisher id u32 | sequence u32 | time ns u64
 *   payload < 16:        no stamp (counted, not tracked)
 *
 * The rest of the payload is filled with a fixed pattern by the caller.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_STAMP_H
#define MQTTLB_BENCH_MQTTLOAD_STAMP_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define STAMP_FULL    24u
#define STAMP_COMPACT 16u

static const uint8_t STAMP_MAGIC[4] = {'M', 'Q', 'L', '1'};

struct stamp {
        uint32_t pubid;
        uint64_t seq;
        uint64_t ts_ns;
};

static inline void stamp__put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static inline void stamp__put64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t stamp__get32(const uint8_t *p)
{
        uint32_t v = 0;

        for (int i = 3; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

static inline uint64_t stamp__get64(const uint8_t *p)
{
        uint64_t v = 0;

        for (int i = 7; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

/* Writes the stamp that fits in a payload of len bytes (nothing below 16). */
static inline void stamp__write(uint8_t *p, uint32_t len, const struct stamp *s)
{
        if (len >= STAMP_FULL) {
                memcpy(p, STAMP_MAGIC, 4);
                stamp__put32(p + 4, s->pubid);
                stamp__put64(p + 8, s->seq);
                stamp__put64(p + 16, s->ts_ns);
        } else if (len >= STAMP_COMPACT) {
                stamp__put32(p, s->pubid);
                stamp__put32(p + 4, (uint32_t)s->seq);
                stamp__put64(p + 8, s->ts_ns);
        }
}

/* False when the payload carries no stamp (too short, or not ours). */
static inline bool stamp__read(const uint8_t *p, uint32_t len, struct stamp *s)
{
        if (len >= STAMP_FULL) {
                if (memcmp(p, STAMP_MAGIC, 4))
                        return false;
                s->pubid = stamp__get32(p + 4);
                s->seq = stamp__get64(p + 8);
                s->ts_ns = stamp__get64(p + 16);
                return true;
        }
        if (len >= STAMP_COMPACT) {
                s->pubid = stamp__get32(p);
                s->seq = stamp__get32(p + 4);
                s->ts_ns = stamp__get64(p + 8);
                return true;
        }
        return false;
}

#endif
