/*
 * Timer wheel: never early and at most one tick late, tick order, exactly
 * once, cancel and re-arm from inside a callback, long timers across every
 * level and past the wheel's span, huge clock jumps, and 100k random timers
 * against a reference model.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/tcp/timer_wheel.h"

#define MS   1000000ull
#define SEC  (1000 * MS)
#define BASE (1000 * SEC) /* a clock that does not start at 0 */
#define NT   1024

/* splitmix64: a seeded PRNG, the same on every run */
static uint64_t rng_state;

static uint64_t rnd(void)
{
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

struct rec {
        struct timer_wheel w;
        struct timer t[NT];
        uint64_t expires[NT]; /* as armed */
        uint64_t fired_at[NT];
        uint32_t fired[NT]; /* times fired */
        uint32_t order[NT * 4];
        uint32_t nfired;
        /* behaviour of the callback, by timer */
        int cancel_other[NT];     /* -1: none */
        uint64_t rearm_after[NT]; /* 0: none */
        uint32_t rearm_left[NT];
        int rearm_from_expiry; /* period from the last expiry, not from now */
};

static void rec__init(struct rec *r, uint64_t tick)
{
        memset(r, 0, sizeof(*r));
        assert_int_equal(timer_wheel__init(&r->w, tick, BASE), 0);
        for (int i = 0; i < NT; i++)
                r->cancel_other[i] = -1;
}

static void rec__arm(struct rec *r, uint32_t i, uint64_t expires)
{
        r->expires[i] = expires;
        timer__arm(&r->w, &r->t[i], expires, i);
}

static void on_fire(void *ctx, struct timer *t, uint32_t id, uint64_t now)
{
        struct rec *r = ctx;

        assert_ptr_equal(t, &r->t[id]);
        assert_false(timer__armed(t));
        r->fired[id]++;
        r->fired_at[id] = now;
        if (r->nfired < NT * 4)
                r->order[r->nfired] = id;
        r->nfired++;
        if (r->cancel_other[id] >= 0)
                timer__cancel(&r->w, &r->t[r->cancel_other[id]]);
        if (r->rearm_left[id]) {
                r->rearm_left[id]--;
                rec__arm(r, id, (r->rearm_from_expiry ? r->expires[id] : now) + r->rearm_after[id]);
        }
}

static void test_init(void **state)
{
        struct timer_wheel w;
        struct timer t = {0};

        assert_int_equal(timer_wheel__init(&w, 0, 0), -EINVAL);
        assert_int_equal(timer_wheel__init(&w, MS, BASE), 0);
        assert_int_equal(timer_wheel__advance(&w, BASE + 10 * SEC, on_fire, NULL), 0);
        assert_int_equal(timer_wheel__next_ns(&w), UINT64_MAX);
        assert_false(timer__armed(&t));
        timer__cancel(&w, &t); /* idle: nothing */
        timer__arm(&w, &t, BASE + 20 * SEC, 7);
        timer__arm(&w, &t, BASE + 30 * SEC, 8); /* re-arm: still one timer */
        assert_true(timer__armed(&t));
        assert_int_equal(timer_wheel__count(&w), 1);
        timer__cancel(&w, &t);
        timer__cancel(&w, &t);
        assert_int_equal(timer_wheel__count(&w), 0);
        assert_int_equal(timer_wheel__advance(&w, BASE + 60 * SEC, on_fire, NULL), 0);
}

/* Timers between 0 and ~70 s (levels 0 to 2), expiring anywhere inside a
 * tick, the clock advanced tick by tick: each fires at the end of its tick,
 * less than a tick after its expiry, in tick order. */
static void test_order_and_exactness(void **state)
{
        struct rec *r = malloc(sizeof(*r));
        uint64_t now = BASE, step = MS, last_due = 0;

        rec__init(r, MS);
        rng_state = 1;
        for (uint32_t i = 0; i < NT; i++)
                rec__arm(r, i, BASE + rnd() % (70 * SEC));
        while (r->nfired < NT) {
                uint32_t before = r->nfired;

                now += step;
                timer_wheel__advance(&r->w, now, on_fire, r);
                for (uint32_t k = before; k < r->nfired; k++) {
                        uint32_t id = r->order[k];

                        uint64_t due = (r->expires[id] - BASE + MS - 1) / MS;

                        assert_true(r->fired_at[id] >= r->expires[id]);     /* never early */
                        assert_true(r->fired_at[id] < r->expires[id] + MS); /* < 1 tick late */
                        assert_true(due >= last_due);                       /* tick order */
                        last_due = due;
                }
        }
        for (uint32_t i = 0; i < NT; i++)
                assert_int_equal(r->fired[i], 1);
        assert_int_equal(timer_wheel__count(&r->w), 0);
        free(r);
}

/* Exactly on tick boundaries: a timer due at k ticks fires at k ticks. */
static void test_boundaries(void **state)
{
        struct rec *r = malloc(sizeof(*r));

        rec__init(r, MS);
        rec__arm(r, 0, BASE + 64 * MS);   /* the first level-1 slot */
        rec__arm(r, 1, BASE + 4096 * MS); /* the first level-2 slot */
        rec__arm(r, 2, BASE + 4097 * MS);
        rec__arm(r, 3, BASE + 1);       /* inside tick 1 */
        rec__arm(r, 4, BASE);           /* now: the next tick */
        rec__arm(r, 5, BASE - 5 * SEC); /* past: the next tick */
        for (uint64_t k = 1; k <= 4097; k++) {
                timer_wheel__advance(&r->w, BASE + k * MS - 1, on_fire, r);
                timer_wheel__advance(&r->w, BASE + k * MS, on_fire, r);
                if (k == 1) {
                        assert_int_equal(r->fired[3] + r->fired[4] + r->fired[5], 3);
                        assert_int_equal(r->fired_at[3], BASE + MS);
                }
                assert_int_equal(r->fired[0], k >= 64);
                assert_int_equal(r->fired[1], k >= 4096);
                assert_int_equal(r->fired[2], k >= 4097);
        }
        assert_int_equal(r->fired_at[0], BASE + 64 * MS);
        assert_int_equal(r->fired_at[1], BASE + 4096 * MS);
        assert_int_equal(r->fired_at[2], BASE + 4097 * MS);
        free(r);
}

static void test_cancel_in_callback(void **state)
{
        struct rec *r = malloc(sizeof(*r));

        rec__init(r, MS);
        /* 0 and 1 in the same tick: whichever fires first cancels the other */
        rec__arm(r, 0, BASE + 5 * MS);
        rec__arm(r, 1, BASE + 5 * MS);
        r->cancel_other[0] = 1;
        r->cancel_other[1] = 0;
        /* 2 cancels 3, due later; 4 cancels itself (already disarmed: nothing) */
        rec__arm(r, 2, BASE + 7 * MS);
        rec__arm(r, 3, BASE + 9 * SEC);
        r->cancel_other[2] = 3;
        rec__arm(r, 4, BASE + 8 * MS);
        r->cancel_other[4] = 4;
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 20 * SEC, on_fire, r), 3);
        assert_int_equal(r->fired[0] + r->fired[1], 1);
        assert_int_equal(r->fired[2], 1);
        assert_int_equal(r->fired[3], 0);
        assert_int_equal(r->fired[4], 1);
        assert_int_equal(timer_wheel__count(&r->w), 0);
        free(r);
}

/* A periodic timer re-arms itself; one re-armed "now" fires the next tick,
 * in the same advance when that tick is due too, never in the same tick. */
static void test_rearm_in_callback(void **state)
{
        struct rec *r = malloc(sizeof(*r));

        rec__init(r, MS);
        rec__arm(r, 0, BASE + 10 * MS);
        r->rearm_after[0] = 250 * MS;
        r->rearm_left[0] = 99;
        for (uint64_t now = BASE; now <= BASE + 30 * SEC; now += MS)
                timer_wheel__advance(&r->w, now, on_fire, r);
        assert_int_equal(r->fired[0], 100);
        assert_int_equal(r->fired_at[0], BASE + 10 * MS + 99 * 250 * MS);

        rec__init(r, MS);
        rec__arm(r, 1, BASE + 3 * MS);
        r->rearm_after[1] = 0; /* due at once: goes to the next tick */
        r->rearm_left[1] = 5;
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 3 * MS, on_fire, r), 1);
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 5 * MS, on_fire, r), 2);
        /* the callback's clock is the advance's: "now" is 100 ms, tick 100 */
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 100 * MS, on_fire, r), 2);
        assert_int_equal(r->fired_at[1], BASE + 100 * MS);
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 200 * MS, on_fire, r), 1);
        assert_int_equal(r->fired_at[1], BASE + 200 * MS);
        assert_int_equal(r->fired[1], 6);
        assert_int_equal(timer_wheel__count(&r->w), 0);
        free(r);
}

/* Re-arming a timer that is due in the same tick but has not fired yet moves
 * it: it fires once, at its new time. */
static void rearm_other(void *ctx, struct timer *t, uint32_t id, uint64_t now)
{
        struct rec *r = ctx;

        r->fired[id]++;
        r->fired_at[id] = now;
        if (r->nfired++ == 0)
                for (uint32_t j = 0; j < 8; j++)
                        if (j != id && !r->fired[j])
                                timer__arm(&r->w, &r->t[j], now + 2 * SEC, j);
}

static void test_rearm_pending_in_callback(void **state)
{
        struct rec *r = malloc(sizeof(*r));

        rec__init(r, MS);
        for (uint32_t j = 0; j < 8; j++)
                rec__arm(r, j, BASE + 40 * MS);
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 40 * MS, rearm_other, r), 1);
        assert_int_equal(timer_wheel__count(&r->w), 7);
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 2040 * MS - 1, rearm_other, r), 0);
        assert_int_equal(timer_wheel__advance(&r->w, BASE + 2040 * MS, rearm_other, r), 7);
        for (uint32_t j = 0; j < 8; j++)
                assert_int_equal(r->fired[j], 1);
        free(r);
}

/* Idle timeouts of minutes and hours, days: every level, stepping 1 ms
 * around each expiry and leaping in between. */
static void test_long_timers(void **state)
{
        static const uint64_t after[] = {
            90 * SEC,         /* keepalive 60 s x 1.5 */
            27 * 60 * SEC,    /* 18 min x 1.5 */
            5 * 3600 * SEC,   /* level 4 */
            40 * 86400 * SEC, /* level 5 */
            300 * 86400 * SEC,
        };
        const uint32_t n = sizeof(after) / sizeof(after[0]);
        struct rec *r = malloc(sizeof(*r));

        rec__init(r, MS);
        for (uint32_t i = 0; i < n; i++)
                rec__arm(r, i, BASE + after[i] + 123456); /* mid-tick */
        for (uint32_t i = 0; i < n; i++) {
                uint64_t due = BASE + after[i] + MS; /* the tick after 123456 ns */

                timer_wheel__advance(&r->w, due - 3 * MS, on_fire, r);
                assert_int_equal(r->fired[i], 0);
                for (uint64_t now = due - 2 * MS; now <= due + 2 * MS; now += MS / 2) {
                        timer_wheel__advance(&r->w, now, on_fire, r);
                        assert_int_equal(r->fired[i], now >= due);
                }
                assert_int_equal(r->fired_at[i], due);
        }
        assert_int_equal(timer_wheel__count(&r->w), 0);
        free(r);
}

/* Farther than the wheel's span (64^6 ticks: 68.7 s at 1 ns a tick). */
static void test_beyond_span(void **state)
{
        struct rec *r = malloc(sizeof(*r));
        const uint64_t span = 1ull << 36;

        rec__init(r, 1);
        rec__arm(r, 0, BASE + 3 * span + 17);
        rec__arm(r, 1, BASE + span);
        rec__arm(r, 2, BASE + 1000 * span);
        for (uint64_t now = BASE; now < BASE + 3 * span; now += span / 7) {
                timer_wheel__advance(&r->w, now, on_fire, r);
                assert_int_equal(r->fired[0], 0);
                assert_int_equal(r->fired[1], now >= BASE + span);
        }
        timer_wheel__advance(&r->w, BASE + 3 * span + 16, on_fire, r);
        assert_int_equal(r->fired[0], 0);
        timer_wheel__advance(&r->w, BASE + 3 * span + 17, on_fire, r);
        assert_int_equal(r->fired[0], 1);
        timer_wheel__advance(&r->w, BASE + 1000 * span - 1, on_fire, r);
        assert_int_equal(r->fired[2], 0);
        timer_wheel__advance(&r->w, BASE + 1000 * span, on_fire, r);
        assert_int_equal(r->fired[2], 1);
        free(r);
}

/* Stopped for two days: one advance fires everything due, once, in tick
 * order, and leaves the rest. */
static void test_huge_jump(void **state)
{
        struct rec *r = malloc(sizeof(*r));
        uint64_t last = 0, now = BASE + 2 * 86400 * SEC;
        uint32_t due = 0;

        rec__init(r, MS);
        rng_state = 2;
        for (uint32_t i = 0; i < NT; i++) {
                rec__arm(r, i, BASE + rnd() % (3 * 86400 * SEC));
                due += r->expires[i] <= now;
        }
        assert_int_equal(timer_wheel__advance(&r->w, now, on_fire, r), due);
        for (uint32_t k = 0; k < r->nfired; k++) {
                uint64_t e = r->expires[r->order[k]];

                assert_true(e <= now);
                assert_true((e - BASE + MS - 1) / MS >= last); /* tick order */
                last = (e - BASE + MS - 1) / MS;
        }
        for (uint32_t i = 0; i < NT; i++)
                assert_int_equal(r->fired[i], r->expires[i] <= now);
        assert_int_equal(timer_wheel__count(&r->w), NT - due);
        /* and the rest still fire on time */
        timer_wheel__advance(&r->w, BASE + 3 * 86400 * SEC, on_fire, r);
        for (uint32_t i = 0; i < NT; i++)
                assert_int_equal(r->fired[i], 1);
        /* A periodic timer that re-arms from its last expiry catches up
         * through a jump: every period fires, once, in order, in one advance
         * (re-armed from a callback into every level on the way). */
        rec__init(r, MS);
        r->rearm_from_expiry = 1;
        rec__arm(r, 7, BASE + 90 * SEC + 5);
        r->rearm_after[7] = 90 * SEC;
        r->rearm_left[7] = 1000000;
        now = BASE + 2 * 86400 * SEC;
        assert_int_equal(timer_wheel__advance(&r->w, now, on_fire, r), 1919);
        assert_int_equal(r->expires[7], now + 5); /* the 1920th: 5 ns too late */
        assert_int_equal(timer_wheel__count(&r->w), 1);
        rec__arm(r, 8, BASE + 200 * SEC); /* past by now: the next tick */
        assert_int_equal(timer_wheel__advance(&r->w, now + MS, on_fire, r), 2);
        assert_int_equal(r->fired_at[8], now + MS);
        assert_int_equal(r->fired[7], 1920);
        /* a clock that goes back fires nothing */
        rec__arm(r, 0, BASE + 4 * 86400 * SEC);
        assert_int_equal(timer_wheel__advance(&r->w, BASE, on_fire, r), 0);
        free(r);
}

static void test_next_ns(void **state)
{
        struct timer_wheel w;
        struct timer a = {0}, b = {0};

        assert_int_equal(timer_wheel__init(&w, MS, BASE), 0);
        timer__arm(&w, &a, BASE + 10 * MS + 1, 0);
        assert_int_equal(timer_wheel__next_ns(&w), BASE + 11 * MS);
        timer__arm(&w, &b, BASE + 3600 * SEC, 1);
        assert_int_equal(timer_wheel__next_ns(&w), BASE + 11 * MS);
        timer__cancel(&w, &a);
        /* a cascade comes before b: a lower bound, never after b */
        assert_true(timer_wheel__next_ns(&w) <= BASE + 3600 * SEC);
        assert_true(timer_wheel__next_ns(&w) > BASE);
        timer__cancel(&w, &b);
        assert_int_equal(timer_wheel__next_ns(&w), UINT64_MAX);
}

/*
 * 100k operations: arm (future, past, re-arm), cancel, advance by random
 * steps from sub-tick to hours, callbacks that re-arm. The reference says
 * when each timer is due: ceil to a tick, and not before the tick after the
 * last advance (what "past times fire on the next tick" means).
 */
#define RN 4096

struct model {
        struct timer_wheel w;
        struct timer t[RN];
        uint64_t due[RN]; /* 0: not armed */
        uint64_t expires[RN];
        uint64_t last_now, prev_now, fired_total;
        uint64_t fired_tick_max;
        uint64_t tick;
        int no_rearm;
};

/* The wheel's private invariants: a slot's bit is set iff it has timers, each
 * timer's links agree, and the count is the number of timers in the slots. */
static void wheel__check(const struct timer_wheel *w)
{
        uint64_t n = 0;

        assert_null(w->firing);
        for (unsigned b = 0; b < TIMER_WHEEL_BUCKETS; b++) {
                struct timer *const *pp = &w->slot[b];
                int bit = (int)(w->bitmap[b / TIMER_WHEEL_SLOTS] >> (b % TIMER_WHEEL_SLOTS) & 1);

                assert_int_equal(bit, w->slot[b] != NULL);
                for (const struct timer *t = w->slot[b]; t; t = t->next) {
                        assert_ptr_equal(t->pprev, pp);
                        assert_int_equal(t->bucket, b);
                        assert_true(t->expires >= w->next);
                        pp = &t->next;
                        n++;
                }
        }
        assert_int_equal(n, w->count);
}

static uint64_t model__due(const struct model *m, uint64_t expires)
{
        uint64_t e = 0, floor_last = (m->last_now - BASE) / m->tick;

        if (expires > BASE)
                e = (expires - BASE + m->tick - 1) / m->tick;
        if (e <= floor_last)
                e = floor_last + 1;
        return BASE + e * m->tick;
}

static void model_fire(void *ctx, struct timer *t, uint32_t id, uint64_t now)
{
        struct model *m = ctx;

        assert_ptr_equal(t, &m->t[id]);
        assert_int_not_equal(m->due[id], 0);          /* armed, once */
        assert_true(m->due[id] <= now);               /* due */
        assert_true(m->due[id] > m->prev_now);        /* not due at the previous advance */
        assert_true(now >= m->expires[id]);           /* never early */
        assert_true(m->due[id] >= m->fired_tick_max); /* tick order */
        m->fired_tick_max = m->due[id];
        m->due[id] = 0;
        m->fired_total++;
        if (!m->no_rearm && rnd() % 4 == 0) { /* re-arm in the future */
                m->expires[id] = now + 1 + rnd() % (120 * SEC);
                m->due[id] = BASE + ((m->expires[id] - BASE + m->tick - 1) / m->tick) * m->tick;
                timer__arm(&m->w, t, m->expires[id], id);
        }
}

static void test_random_vs_reference(void **state)
{
        struct model *m = calloc(1, sizeof(*m));
        uint64_t now = BASE, armed;

        rng_state = 3;
        m->tick = MS;
        m->last_now = m->prev_now = BASE;
        assert_int_equal(timer_wheel__init(&m->w, m->tick, BASE), 0);
        for (uint32_t op = 0; op < 100000; op++) {
                uint32_t i = (uint32_t)(rnd() % RN), kind = (uint32_t)(rnd() % 16);

                if (kind < 9) {
                        uint64_t far = rnd() % 8 == 0 ? 4 * 3600 * SEC : 2 * SEC;
                        uint64_t x = now + rnd() % far;

                        if (kind == 0)
                                x = now - rnd() % (2 * SEC); /* past */
                        m->expires[i] = x;
                        m->due[i] = model__due(m, x);
                        timer__arm(&m->w, &m->t[i], x, i);
                } else if (kind < 12) {
                        m->due[i] = 0;
                        timer__cancel(&m->w, &m->t[i]);
                } else {
                        uint64_t r = rnd() % 100;

                        now += r < 60   ? rnd() % (3 * MS)
                               : r < 95 ? rnd() % (2 * SEC)
                                        : rnd() % (6 * 3600 * SEC);
                        m->prev_now = m->last_now;
                        m->fired_tick_max = 0;
                        timer_wheel__advance(&m->w, now, model_fire, m);
                        m->last_now = now;
                        for (uint32_t j = 0; j < RN; j++) /* nothing due left */
                                assert_true(m->due[j] == 0 || m->due[j] > now);
                }
                armed = 0;
                for (uint32_t j = 0; j < RN; j += 97)
                        assert_int_equal(timer__armed(&m->t[j]), m->due[j] != 0);
                if (op % 1024 == 0) {
                        wheel__check(&m->w);
                        for (uint32_t j = 0; j < RN; j++)
                                armed += m->due[j] != 0;
                        assert_int_equal(timer_wheel__count(&m->w), armed);
                }
        }
        /* drain */
        m->no_rearm = 1;
        m->prev_now = m->last_now;
        m->fired_tick_max = 0;
        now += 7 * 3600 * SEC;
        for (uint32_t j = 0; j < RN; j++)
                if (m->due[j] && !(rnd() % 2))
                        m->due[j] = 0, timer__cancel(&m->w, &m->t[j]);
        timer_wheel__advance(&m->w, now, model_fire, m);
        m->prev_now = now;
        timer_wheel__advance(&m->w, now + 200 * SEC, model_fire, m);
        assert_true(m->fired_total > 10000);
        for (uint32_t j = 0; j < RN; j++)
                assert_int_equal(m->due[j], 0);
        assert_int_equal(timer_wheel__count(&m->w), 0);
        free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_init),
            cmocka_unit_test(test_order_and_exactness),
            cmocka_unit_test(test_boundaries),
            cmocka_unit_test(test_cancel_in_callback),
            cmocka_unit_test(test_rearm_in_callback),
            cmocka_unit_test(test_rearm_pending_in_callback),
            cmocka_unit_test(test_long_timers),
            cmocka_unit_test(test_beyond_span),
            cmocka_unit_test(test_huge_jump),
            cmocka_unit_test(test_next_ns),
            cmocka_unit_test(test_random_vs_reference),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
