/*
 * Per-worker timers: a hierarchical hashed timing wheel (Varghese and Lauck,
 * "Hashed and Hierarchical Timing Wheels", SOSP 1987, scheme 7) with one
 * occupancy bitmap per level so that empty ticks cost nothing.
 *
 * Owns the slots and the order timers fire in; the timers themselves are
 * embedded in their owners (a flow, a leg): arming never allocates, and arm
 * and cancel are O(1). A timer fires on the first advance whose clock has
 * reached its tick, ceil(expires / tick): never early, and at most one tick
 * late when the worker advances the wheel every round. Timers of one tick
 * fire in no particular order; timers of different ticks fire in tick order.
 *
 * Levels: 6 of 64 slots. Level l holds timers 64^l to 64^(l+1) ticks away
 * and is moved down ("cascaded") when the lower levels wrap, so a timer is
 * moved at most 5 times however far away it is. 64^6 ticks is 795 days at
 * 1 ms; a timer farther than that waits in the top level and is placed again
 * when that slot comes round, still never early.
 *
 * Must not be shared: one worker owns a wheel (no lock). Must not be advanced
 * from inside one of its callbacks. Knows nothing of flows or TCP.
 */
#ifndef MQTTLB_CORE_TIMER_WHEEL_H
#define MQTTLB_CORE_TIMER_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_WHEEL_BITS    6
#define TIMER_WHEEL_SLOTS   (1u << TIMER_WHEEL_BITS)
#define TIMER_WHEEL_LEVELS  6
#define TIMER_WHEEL_BUCKETS (TIMER_WHEEL_LEVELS * TIMER_WHEEL_SLOTS)
/*
 * 1 ms: the shortest timer the balancer needs is a retransmission timeout,
 * 200 ms and more on the Internet (RFC 6298 2.4 says 1 s; Linux clamps at
 * 200 ms) and a few ms towards a broker in the same data centre, so 1 ms is
 * fine enough; a tick that finds nothing due costs one comparison.
 */
#define TIMER_WHEEL_TICK_NS_DEFAULT 1000000ull

/* All zeros is a timer that is not armed: a zeroed flow has idle timers. */
struct timer {
        struct timer *next;   /* private: the slot's list */
        struct timer **pprev; /* private: NULL while not armed */
        uint64_t expires;     /* private: the tick it fires at */
        uint32_t cb_id;       /* the caller's: what the timer is for */
        uint16_t bucket;      /* private: level * 64 + slot */
        uint16_t pad;
};

struct timer_wheel {
        uint64_t tick_ns;
        uint64_t base_ns;                    /* time of tick 0 */
        uint64_t next;                       /* the first tick not processed yet */
        uint64_t next_ns;                    /* base_ns + next * tick_ns: nothing is due before */
        uint64_t count;                      /* armed timers */
        struct timer *firing;                /* the slot being fired (detached) */
        uint64_t bitmap[TIMER_WHEEL_LEVELS]; /* bit s of level l: slot non-empty */
        struct timer *slot[TIMER_WHEEL_BUCKETS];
};

/*
 * Called for each due timer, which is no longer armed: it may arm it again,
 * arm or cancel any other timer of the wheel. now_ns is the advance's clock.
 */
typedef void timer_wheel_fn(void *ctx, struct timer *t, uint32_t cb_id, uint64_t now_ns);

/* An empty wheel whose clock starts at now_ns. -EINVAL if tick_ns is 0. */
int timer_wheel__init(struct timer_wheel *w, uint64_t tick_ns, uint64_t now_ns);

/*
 * Arms t (again, if it was armed: the old expiry is forgotten) to fire once
 * the clock reaches expires_ns. A time already past fires on the next tick.
 */
void timer__arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ns, uint32_t cb_id);

/* Disarms t; nothing if it was not armed (or has just fired). */
void timer__cancel(struct timer_wheel *w, struct timer *t);

static inline bool timer__armed(const struct timer *t)
{
        return t->pprev != NULL;
}

/*
 * Fires, in tick order, every timer due at now_ns, each exactly once, however
 * far the clock jumped (a process stopped for hours catches up in time
 * proportional to the timers it fires and cascades, not to the ticks).
 * Returns the number fired. A clock that goes backwards fires nothing.
 */
uint64_t timer_wheel__advance(struct timer_wheel *w, uint64_t now_ns, timer_wheel_fn *fn,
                              void *ctx);

/*
 * A time before which no timer fires (the next tick that has a timer or a
 * cascade due), for an idle worker's sleep; UINT64_MAX with no timer armed.
 */
uint64_t timer_wheel__next_ns(const struct timer_wheel *w);

static inline uint64_t timer_wheel__count(const struct timer_wheel *w)
{
        return w->count;
}

#endif
