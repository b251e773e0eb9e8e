/*
 * The per-worker flow table: every connection a worker owns, found from a
 * received segment's 4-tuple by either of its legs.
 *
 * Owns the connection memory (capacity entries of a size the caller chooses,
 * allocated once, recycled through a free list) and the index from keys to
 * entries. One worker owns a table: no lock, no allocation after
 * flow_table__new, lookups in O(1) expected and a bounded number of probes.
 * Knows nothing of TCP: the owner's state lives after the struct flow head.
 *
 * Must not be used from two threads. Must not be seeded with a constant in
 * production: connection keys come from clients, and a known seed lets them
 * pile their keys onto one run of the index (flow_table__random_seed).
 */
#ifndef MQTTLB_CORE_FLOW_H
#define MQTTLB_CORE_FLOW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/tcp/flow-t.h"
#include "core/tcp/packet.h"

#define FLOW_CAPACITY_MAX (1u << 26) /* connections per table */
/*
 * The farthest a key may sit from its home slot in the index. At the load
 * the index is sized for (at most 1/2) the largest distance seen over
 * millions of keys is about 10; an insert that would push any key beyond
 * this fails (-ENOSPC, counted as probe_fail) rather than let lookups slow
 * down, so a lookup never reads more than FLOW_PROBE_MAX + 1 slots.
 */
#define FLOW_PROBE_MAX 32

struct flow_table;

struct flow_table_stats {
        uint32_t capacity;   /* connections */
        uint32_t flows;      /* allocated */
        uint32_t keys;       /* in the index */
        uint32_t slots;      /* index slots (a power of two, >= 4 x capacity) */
        uint32_t max_probe;  /* largest distance from home slot, now */
        double mean_probe;   /* mean distance from home slot, now */
        uint64_t probe_fail; /* inserts refused for FLOW_PROBE_MAX */
        size_t entry_stride; /* bytes per connection (entry_size rounded to 64) */
        size_t bytes;        /* entries and index */
};

/*
 * A table of capacity connections of entry_size bytes each (at least
 * sizeof(struct flow); rounded up to a multiple of 64, entries 64-aligned).
 * The index has at least 2 slots per key, 2 keys per connection, rounded to a
 * power of two. seed keys the hash. -EINVAL, -E2BIG past FLOW_CAPACITY_MAX,
 * -ENOMEM.
 */
int flow_table__new(struct flow_table **out, uint32_t capacity, size_t entry_size, uint64_t seed);
/* Frees the memory whatever is still allocated (walk it first for leaks). */
void flow_table__free(struct flow_table *t);
/* A seed from the kernel's random source: one per process (or per table). */
int flow_table__random_seed(uint64_t *seed);

/*
 * A zeroed connection (idx set, no key, timers idle), or NULL when all
 * capacity connections are in use (the caller counts it). The most recently
 * freed entry comes back first: it is still in cache.
 */
struct flow *flow__alloc(struct flow_table *t);
/*
 * Removes f's keys and returns it to the free list. -EBUSY (and nothing
 * done) while one of f->timer is armed: cancel them first, a freed entry
 * must not stay on a timer wheel. -EINVAL if f is not an allocated entry of t.
 */
int flow__free(struct flow_table *t, struct flow *f);

/*
 * Makes key find f on leg (the key is copied into f). -EEXIST if key is
 * already in the table (any flow, any leg), -EBUSY if f already has that
 * leg, -EINVAL for a key with a family other than 4/6 or non-zero padding,
 * or an f that is not allocated, -ENOSPC if the index could not place it
 * within FLOW_PROBE_MAX.
 */
int flow_table__insert(struct flow_table *t, const struct flow_key *key, struct flow *f,
                       enum flow_leg leg);
/* The connection key belongs to, and on which leg (leg may be NULL); NULL if none. */
struct flow *flow_table__lookup(const struct flow_table *t, const struct flow_key *key,
                                enum flow_leg *leg);
/* Removes key (the broker leg of a failed attempt, say). 0 or -ENOENT. */
int flow_table__remove(struct flow_table *t, const struct flow_key *key);
/* Removes f's key for leg, if it has one. 0 or -ENOENT. */
int flow__remove_leg(struct flow_table *t, struct flow *f, enum flow_leg leg);

/*
 * n lookups, FLOW_BURST_MAX at a time in three passes (hash and prefetch
 * the index lines; prefetch the entries they point to; compare), so that
 * the cache misses of a burst overlap instead of following one another:
 * with 100k connections, about 4x faster per lookup than one at a time
 * (bench/flow_cost.c). out[i] (and legs[i], if legs) as flow_table__lookup
 * gives them; returns how many were found.
 */
#define FLOW_BURST_MAX 64
uint32_t flow_table__lookup_burst(const struct flow_table *t, const struct flow_key *keys,
                                  uint32_t n, struct flow **out, uint8_t *legs);

/*
 * The passes, for a caller that pipelines them with its own work:
 * flow_table__lookup is hash then lookup_hashed; the prefetches are hints.
 */
uint64_t flow_table__hash(const struct flow_table *t, const struct flow_key *key);
void flow_table__prefetch(const struct flow_table *t, uint64_t hash);
void flow_table__prefetch_entry(const struct flow_table *t, uint64_t hash);
struct flow *flow_table__lookup_hashed(const struct flow_table *t, const struct flow_key *key,
                                       uint64_t hash, enum flow_leg *leg);

/* Connections allocated. */
uint32_t flow_table__count(const struct flow_table *t);
/* The allocated connection at idx, or NULL. */
struct flow *flow_table__at(const struct flow_table *t, uint32_t idx);
/*
 * Calls fn on every allocated connection, in idx order, until fn returns
 * non-zero (returned). fn may free the flow it is given (shutdown).
 */
int flow_table__for_each(struct flow_table *t, int (*fn)(void *ctx, struct flow *f), void *ctx);
/* Walks the index (O(slots): the control thread, tests, benchmarks). */
void flow_table__stats(const struct flow_table *t, struct flow_table_stats *st);

static inline const struct flow_key *flow__key(const struct flow *f, enum flow_leg leg)
{
        return leg == FLOW_LEG_BROKER ? &f->broker : &f->client;
}

/* The flow whose f->timer[i] is t (in a timer callback: i from cb_id). */
static inline struct flow *flow__from_timer(struct timer *t, unsigned i)
{
        return (struct flow *)(void *)((uint8_t *)(t - i) - offsetof(struct flow, timer));
}

/* A key with every unused byte zero: family 4 reads 4 bytes of each address. */
static inline void flow_key__init(struct flow_key *k, uint8_t family, const uint8_t *saddr,
                                  uint16_t sport, const uint8_t *daddr, uint16_t dport)
{
        size_t alen = family == 4 ? 4 : 16;

        memset(k, 0, sizeof(*k));
        k->family = family;
        k->sport = sport;
        k->dport = dport;
        memcpy(k->saddr, saddr, alen);
        memcpy(k->daddr, daddr, alen);
}

/* The key of a frame packet__parse accepted. */
static inline void flow_key__from_packet(struct flow_key *k, const uint8_t *d,
                                         const struct packet *m)
{
        const uint8_t *ip = d + m->l3;

        if (m->family == 4)
                flow_key__init(k, 4, ip + 12, m->sport, ip + 16, m->dport);
        else
                flow_key__init(k, 6, ip + 8, m->sport, ip + 24, m->dport);
        if (m->proto == IPPROTO_UDP_)
                k->proto = FLOW_UDP;
}

#endif
