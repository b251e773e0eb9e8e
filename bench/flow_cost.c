/*
 * Cost of a flow table lookup with many live connections: each connection
 * has both legs in the table (two keys), lookups come in random order, one
 * at a time or as bursts of 64 (flow_table__lookup_burst), hitting live
 * keys or missing (a SYN, a stray segment). Also the cost of a connection's
 * life in the table (free, alloc, two inserts) and of per-connection timers.
 *
 *   flow_cost [CASE [LOOKUPS [FLOWS]]]
 *     all (default)  every case below, with nanoseconds per operation
 *     hit | miss | burst-hit | burst-miss   LOOKUPS lookups of that kind only
 *                    (for callgrind: --toggle-collect=flow_table__lookup for
 *                    hit/miss, --toggle-collect=flow_table__lookup_burst for
 *                    the bursts)
 *
 * A benchmark, not a test: it prints numbers and asserts nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tcp/flow.h"
#include "core/tcp/timer_wheel.h"

#define ENTRY_SIZE 512 /* what the TCP code is expected to need */

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Connection i's keys: the client leg from 198.18.x.y:port to the VIP, the
 * broker leg from a broker to one of our source ports. miss: a client that
 * has no connection (another port). */
static void key_client(struct flow_key *k, uint32_t i, int miss)
{
        uint8_t s[16] = {198, 18, (uint8_t)(i >> 8), (uint8_t)i}, d[16] = {192, 0, 2, 1};

        flow_key__init(k, 4, s, (uint16_t)(1024 + (i >> 16) * 2 + (miss ? 1 : 0)), d, 1883);
}

static void key_broker(struct flow_key *k, uint32_t i)
{
        /* one of our source addresses per 60000 ports */
        uint8_t s[16] = {10, 1, 0, (uint8_t)(1 + i % 8)},
                d[16] = {10, 1, 0, (uint8_t)(200 + i / 60000)};

        flow_key__init(k, 4, s, 1883, d, (uint16_t)(1024 + i % 60000));
}

static volatile uint64_t sink;

/* n single lookups over keys[0..nk) (nk a power of two), in that order. */
static __attribute__((noinline)) uint64_t
lookup_single(struct flow_table *t, const struct flow_key *keys, uint32_t nk, uint64_t n)
{
        uint64_t found = 0;

        for (uint64_t i = 0; i < n; i++) {
                struct flow *f = flow_table__lookup(t, &keys[i & (nk - 1)], NULL);

                found += f != NULL;
        }
        return found;
}

static uint64_t lookup_bursts(struct flow_table *t, const struct flow_key *keys, uint32_t nk,
                              uint64_t n)
{
        struct flow *out[FLOW_BURST_MAX];
        uint64_t found = 0;

        for (uint64_t i = 0; i < n; i += FLOW_BURST_MAX)
                found +=
                    flow_table__lookup_burst(t, &keys[i & (nk - 1)], FLOW_BURST_MAX, out, NULL);
        return found;
}

static void shuffle(struct flow_key *k, uint32_t n)
{
        for (uint32_t i = n - 1; i > 0; i--) {
                uint32_t j = (uint32_t)(rnd() % (i + 1));
                struct flow_key x = k[i];

                k[i] = k[j];
                k[j] = x;
        }
}

static void on_timer(void *ctx, struct timer *t, uint32_t id, uint64_t now)
{
        (*(uint64_t *)ctx)++;
}

/* Timers: one idle timer per connection, re-armed by a fraction of them on
 * every tick (the activity of an established connection), over 2 minutes. */
static void bench_timers(uint32_t flows)
{
        struct timer_wheel w;
        struct timer *tm = calloc(flows, sizeof(*tm));
        uint64_t t0, arm_ns, adv_ns, fired = 0, rearms = 0, base = 1000000000ull;

        if (!tm)
                return;
        timer_wheel__init(&w, TIMER_WHEEL_TICK_NS_DEFAULT, base);
        t0 = now_ns();
        for (uint32_t i = 0; i < flows; i++)
                timer__arm(&w, &tm[i], base + 1000000ull * (rnd() % 120000), i);
        arm_ns = now_ns() - t0;
        t0 = now_ns();
        for (uint64_t ms = 1; ms <= 121000; ms++) {
                for (int j = 0; j < 8; j++) {
                        uint32_t i = (uint32_t)(rnd() % flows);

                        if (timer__armed(&tm[i])) {
                                timer__arm(&w, &tm[i], base + (ms + 90000) * 1000000ull, i);
                                rearms++;
                        }
                }
                timer_wheel__advance(&w, base + ms * 1000000ull, on_timer, &fired);
        }
        adv_ns = now_ns() - t0;
        printf("%-11s %10u timers armed: %.1f ns/arm; 121000 ticks, %llu re-arms, %llu fired: "
               "%.1f ns/tick\n",
               "timers", flows, (double)arm_ns / flows, (unsigned long long)rearms,
               (unsigned long long)fired, (double)adv_ns / 121000);
        free(tm);
}

int main(int argc, char **argv)
{
        const char *what = argc > 1 ? argv[1] : "all";
        uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 0) : 20000000ull;
        uint32_t flows = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 100000;
        uint32_t nk = 1, live;
        struct flow_table *t;
        struct flow_table_stats st;
        struct flow_key *hit, *miss;
        uint64_t seed, t0, dt, found;
        int all = !strcmp(what, "all");

        while (nk < 2 * flows)
                nk <<= 1;
        if (flow_table__random_seed(&seed) || flow_table__new(&t, flows, ENTRY_SIZE, seed)) {
                fprintf(stderr, "flow_cost: cannot make a table of %u flows\n", flows);
                return 1;
        }
        hit = malloc(sizeof(*hit) * nk);
        miss = malloc(sizeof(*miss) * nk);
        if (!hit || !miss)
                return 1;
        for (uint32_t i = 0; i < flows; i++) {
                struct flow *f = flow__alloc(t);

                key_client(&hit[2 * i], i, 0);
                key_broker(&hit[2 * i + 1], i);
                key_client(&miss[2 * i], i, 1);
                key_client(&miss[2 * i + 1], i + flows, 1);
                if (!f || flow_table__insert(t, &hit[2 * i], f, FLOW_LEG_CLIENT) ||
                    flow_table__insert(t, &hit[2 * i + 1], f, FLOW_LEG_BROKER)) {
                        fprintf(stderr, "flow_cost: insert %u failed\n", i);
                        return 1;
                }
        }
        /* fill the power-of-two arrays by repeating the keys, then shuffle */
        for (uint32_t i = 2 * flows; i < nk; i++) {
                hit[i] = hit[i - 2 * flows];
                miss[i] = miss[i - 2 * flows];
        }
        shuffle(hit, nk);
        shuffle(miss, nk);
        flow_table__stats(t, &st);
        if (all)
                printf("%u flows, %u keys in %u slots (load %.2f), entries %zu B, %.1f MiB; "
                       "probe distance mean %.3f max %u\n",
                       st.flows, st.keys, st.slots, (double)st.keys / st.slots, st.entry_stride,
                       st.bytes / 1048576.0, st.mean_probe, st.max_probe);

        struct {
                const char *name;
                int burst;
                struct flow_key *keys;
        } cases[] = {
            {"hit", 0, hit},
            {"miss", 0, miss},
            {"burst-hit", 1, hit},
            {"burst-miss", 1, miss},
        };
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                if (!all && strcmp(what, cases[c].name))
                        continue;
                t0 = now_ns();
                found = cases[c].burst ? lookup_bursts(t, cases[c].keys, nk, n)
                                       : lookup_single(t, cases[c].keys, nk, n);
                dt = now_ns() - t0;
                sink = found;
                printf("%-11s %10llu lookups %10llu found  %6.1f ns/lookup  %6.2f M/s\n",
                       cases[c].name, (unsigned long long)n, (unsigned long long)found,
                       (double)dt / (double)n, (double)n * 1e3 / (double)dt);
        }

        if (all) {
                /* a connection's life in the table: free, alloc, two inserts */
                uint64_t conns = 2000000;

                live = flows;
                t0 = now_ns();
                for (uint64_t i = 0; i < conns; i++) {
                        uint32_t idx = (uint32_t)(rnd() % live);
                        struct flow *f = flow_table__at(t, idx);
                        struct flow_key a = *flow__key(f, FLOW_LEG_CLIENT);
                        struct flow_key b = *flow__key(f, FLOW_LEG_BROKER);

                        flow__free(t, f);
                        f = flow__alloc(t);
                        a.sport ^= 0x8000; /* a new client port each time round */
                        flow_table__insert(t, &a, f, FLOW_LEG_CLIENT);
                        flow_table__insert(t, &b, f, FLOW_LEG_BROKER);
                }
                dt = now_ns() - t0;
                flow_table__stats(t, &st);
                printf("%-11s %10llu connections closed and opened: %.1f ns each "
                       "(probe mean %.3f max %u after)\n",
                       "churn", (unsigned long long)conns, (double)dt / (double)conns,
                       st.mean_probe, st.max_probe);
                bench_timers(flows);
        }
        flow_table__free(t);
        free(hit);
        free(miss);
        return 0;
}
