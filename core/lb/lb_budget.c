/*
 * What clients may make the balancer hold: a memory budget per worker and a
 * limit of open connections per client address (docs/config.md "Limits and
 * protection").
 *
 * The budget (connections.buffer_total) has two halves. One is kept for
 * reserves: every admitted connection is sure of CONN_BUF_RESERVE bytes
 * (a third of it for client bytes, see budget__room: a usual CONNECT and
 * first PUBLISH), and a new connection is refused when no reserve is left. The other is what
 * buffers grow into past their reserve, up to connections.buffer each: when it is spent, a
 * connection's window closes at what it already holds (back-pressure, counted in budget_slowed) and
 * it waits for its broker leg, its bind timeout, or the close. So a flood of connections that fill
 * their buffers and stall can take the growth half, never the reserves of the connections that come
 * after them. A connection is charged what it holds on the heap: its buffer's capacity, its
 * parser's reassembly buffer and alias table, its client id.
 *
 * The per-source limit (connections.per_source_max) counts open connections
 * per client address (IPv6 per /per_source_prefix6) in buckets shared by the
 * workers: 2^20 of them, picked by a keyed hash, so that an attacker cannot
 * aim at a victim's bucket; two addresses sharing one share a limit.
 *
 * Only the worker touches its budget; the buckets are atomics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/lb/lb_conn.h"

/* The client address as the per-source limits count it. */
static uint32_t source_bucket(const struct lb *lb, const struct plan *plan,
                              const struct flow_key *k)
{
        uint8_t key[17] = {k->family};
        uint32_t bits = k->family == 4 ? 32 : plan->per_source_prefix6;

        for (uint32_t i = 0; i < bits / 8; i++)
                key[1 + i] = k->saddr[i];
        if (bits % 8)
                key[1 + bits / 8] = (uint8_t)(k->saddr[bits / 8] & (0xff00u >> (bits % 8)));
        return (uint32_t)XXH3_64bits_withSeed(key, sizeof(key), lb->seed ^ 0x5eedull) &
               (LB_SOURCE_BUCKETS - 1);
}

int budget__admit(struct lb_worker *lw, const struct plan *plan, const struct flow_key *k,
                  uint32_t *bucket)
{
        uint32_t *count, *counts;

        if (lw->budget_reserves + CONN_BUF_RESERVE > plan->buffer_total / 2)
                return -ENOBUFS;
        *bucket = UINT32_MAX;
        counts = __atomic_load_n(&lw->lb->source_counts, __ATOMIC_ACQUIRE);
        if (!plan->per_source_max || !counts)
                return 0;
        *bucket = source_bucket(lw->lb, plan, k);
        count = &counts[*bucket];
        if (__atomic_add_fetch(count, 1, __ATOMIC_RELAXED) > plan->per_source_max) {
                __atomic_sub_fetch(count, 1, __ATOMIC_RELAXED);
                *bucket = UINT32_MAX;
                return -EMFILE;
        }
        return 0;
}

void budget__attach(struct lb_worker *lw, struct conn *c, uint32_t bucket)
{
        c->src_bucket = bucket;
        c->reserved = true;
        lw->budget_reserves += CONN_BUF_RESERVE;
}

void budget__unadmit(struct lb_worker *lw, uint32_t bucket)
{
        if (bucket != UINT32_MAX) /* counted: the counts exist */
                __atomic_sub_fetch(&lw->lb->source_counts[bucket], 1, __ATOMIC_RELAXED);
}

/* What c holds on the heap now. */
static uint32_t held(const struct conn *c)
{
        return c->buf_cap + (uint32_t)conn__binder(c)->mem(c) + c->cid_len;
}

/* The part of a charge beyond the reserve. */
static uint32_t growth_of(const struct conn *c, uint32_t charge)
{
        uint32_t r = c->reserved ? CONN_BUF_RESERVE : 0;

        return charge > r ? charge - r : 0;
}

void budget__charge(struct lb_worker *lw, struct conn *c)
{
        uint32_t now = held(c);

        lw->budget_growth += growth_of(c, now);
        lw->budget_growth -= growth_of(c, c->charged);
        STAT_N(lw, buffer_held, (uint64_t)now - c->charged);
        c->charged = now;
}

uint32_t budget__room(const struct lb_worker *lw, const struct plan *plan, const struct conn *c,
                      bool *slowed)
{
        uint32_t own = plan->buffer_bytes > c->buf_len ? plan->buffer_bytes - c->buf_len : 0;
        uint64_t half = plan->buffer_total / 2, avail = 0;

        if (c->reserved && c->charged < CONN_BUF_RESERVE)
                avail += CONN_BUF_RESERVE - c->charged;
        avail += c->buf_cap - c->buf_len;
        if (lw->budget_growth < half)
                avail += half - lw->budget_growth;
        /* a byte taken in may be held three times: in the buffer, in the
         * parser's copy of a string split across segments, and as the
         * doubling slack of that copy; so that charges never pass the
         * budget, a byte is let in for three of its bytes */
        avail /= 3;
        *slowed = avail < own;
        return avail < own ? (uint32_t)avail : own;
}

void budget__release_reserve(struct lb_worker *lw, struct conn *c)
{
        if (!c->reserved)
                return;
        lw->budget_growth -= growth_of(c, c->charged);
        c->reserved = false;
        lw->budget_reserves -= CONN_BUF_RESERVE;
        lw->budget_growth += growth_of(c, c->charged);
}

void budget__release(struct lb_worker *lw, struct conn *c)
{
        lw->budget_growth -= growth_of(c, c->charged);
        STAT_N(lw, buffer_held, -(uint64_t)c->charged);
        c->charged = 0;
        if (c->reserved) {
                c->reserved = false;
                lw->budget_reserves -= CONN_BUF_RESERVE;
        }
        budget__unadmit(lw, c->src_bucket);
        c->src_bucket = UINT32_MAX;
}
