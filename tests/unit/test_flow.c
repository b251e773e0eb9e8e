/*
 * Flow table: both legs find their connection, errors, a full table, free
 * list reuse, IPv4 and IPv6 keys with the same bytes kept apart, keys from
 * parsed frames, timers that block a free, iteration, hundreds of thousands
 * of random operations against a reference model, deletion that leaves no
 * trace in probe lengths, and the probe cap under keys aimed at one slot.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/tcp/flow.h"
#include "frames.h"

#define SEED 0x0123456789abcdefull

/* What the TCP code will do: its connection starts with the flow head. */
struct conn {
        struct flow f;
        uint8_t user[512 - sizeof(struct flow)];
};
_Static_assert(sizeof(struct conn) % 64 == 0, "a whole number of cache lines");

static uint64_t rng_state;

static uint64_t rnd(void)
{
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static struct flow_table *table(uint32_t capacity)
{
        struct flow_table *t = NULL;

        assert_int_equal(flow_table__new(&t, capacity, sizeof(struct conn), SEED), 0);
        assert_non_null(t);
        return t;
}

/* Key number id: distinct ids give distinct keys, half IPv4, half IPv6. */
static void key_of(struct flow_key *k, uint32_t id)
{
        uint8_t s[16] = {0}, d[16] = {0};
        uint8_t family = id & 1 ? 6 : 4;

        if (family == 4) {
                s[0] = 10, s[1] = (uint8_t)(id >> 16), s[2] = (uint8_t)(id >> 8), s[3] = 1;
                d[0] = 192, d[1] = 0, d[2] = 2, d[3] = (uint8_t)(id >> 24);
        } else {
                s[0] = 0x20, s[1] = 0x01, s[2] = 0x0d, s[3] = 0xb8;
                s[14] = (uint8_t)(id >> 16), s[15] = (uint8_t)(id >> 24);
                d[0] = 0xfd, d[15] = 1;
        }
        /* a few destination ports, shared by many keys: the broker legs' port
         * hint is overwritten, cleared and stale in every way */
        flow_key__init(k, family, s, (uint16_t)(1024 + (id >> 1 & 0x7fff)), d,
                       (uint16_t)(33000 + id % 3));
}

static void key4(struct flow_key *k, const char *src, uint16_t sport, const char *dst,
                 uint16_t dport)
{
        uint8_t s[16], d[16];

        frames_addr(4, src, s);
        frames_addr(4, dst, d);
        flow_key__init(k, 4, s, sport, d, dport);
}

static void test_new(void **state)
{
        struct flow_table *t = NULL;
        struct flow_table_stats st;
        uint64_t seed = 0;

        assert_int_equal(flow_table__new(&t, 0, 512, SEED), -EINVAL);
        assert_int_equal(flow_table__new(&t, 10, sizeof(struct flow) - 1, SEED), -EINVAL);
        assert_int_equal(flow_table__new(&t, 10, 1u << 20, SEED), -EINVAL);
        assert_int_equal(flow_table__new(&t, FLOW_CAPACITY_MAX + 1, 512, SEED), -E2BIG);
        assert_null(t);

        assert_int_equal(flow_table__new(&t, 1000, 200, SEED), 0);
        flow_table__stats(t, &st);
        assert_int_equal(st.capacity, 1000);
        assert_int_equal(st.slots, 4096); /* >= 2 slots x 2 keys x 1000, a power of 2 */
        assert_int_equal(st.entry_stride, 256);
        assert_int_equal(st.flows, 0);
        assert_int_equal(flow_table__count(t), 0);
        flow_table__free(t);
        flow_table__free(NULL);

        assert_int_equal(flow_table__random_seed(&seed), 0);
}

static void test_both_legs(void **state)
{
        struct flow_table *t = table(16);
        struct flow_key client, broker, broker2, other;
        struct flow *f = flow__alloc(t);
        enum flow_leg leg = FLOW_LEGS;

        assert_non_null(f);
        /* client 198.51.100.7:40000 -> VIP 192.0.2.1:1883 */
        key4(&client, "198.51.100.7", 40000, "192.0.2.1", 1883);
        /* broker 10.1.0.5:1883 -> our source 10.1.0.1:33001, as it comes back */
        key4(&broker, "10.1.0.5", 1883, "10.1.0.1", 33001);
        key4(&broker2, "10.1.0.6", 1883, "10.1.0.1", 33003);
        key4(&other, "198.51.100.7", 40001, "192.0.2.1", 1883);

        assert_int_equal(flow_table__insert(t, &client, f, FLOW_LEG_CLIENT), 0);
        assert_ptr_equal(flow_table__lookup(t, &client, &leg), f);
        assert_int_equal(leg, FLOW_LEG_CLIENT);
        assert_null(flow_table__lookup(t, &broker, &leg));
        /* the broker leg comes later */
        assert_int_equal(flow_table__insert(t, &broker, f, FLOW_LEG_BROKER), 0);
        assert_ptr_equal(flow_table__lookup(t, &broker, &leg), f);
        assert_int_equal(leg, FLOW_LEG_BROKER);
        assert_ptr_equal(flow_table__lookup(t, &client, NULL), f);
        assert_null(flow_table__lookup(t, &other, NULL));
        assert_memory_equal(flow__key(f, FLOW_LEG_CLIENT), &client, sizeof(client));
        assert_memory_equal(flow__key(f, FLOW_LEG_BROKER), &broker, sizeof(broker));
        assert_int_equal(f->legs, 3);

        /* fail over: the first broker leg goes, another comes */
        assert_int_equal(flow__remove_leg(t, f, FLOW_LEG_BROKER), 0);
        assert_int_equal(flow__remove_leg(t, f, FLOW_LEG_BROKER), -ENOENT);
        assert_null(flow_table__lookup(t, &broker, NULL));
        assert_ptr_equal(flow_table__lookup(t, &client, NULL), f);
        assert_int_equal(flow_table__insert(t, &broker2, f, FLOW_LEG_BROKER), 0);
        assert_ptr_equal(flow_table__lookup(t, &broker2, &leg), f);
        assert_int_equal(leg, FLOW_LEG_BROKER);

        /* another connection's broker leg on the same local port (another
         * broker): both found, whichever the port hint names */
        struct flow *g = flow__alloc(t);
        struct flow_key shared;

        key4(&shared, "10.1.0.7", 1883, "10.1.0.1", 33003);
        assert_int_equal(flow_table__insert(t, &shared, g, FLOW_LEG_BROKER), 0);
        assert_ptr_equal(flow_table__lookup(t, &shared, &leg), g);
        assert_ptr_equal(flow_table__lookup(t, &broker2, &leg), f);
        assert_int_equal(leg, FLOW_LEG_BROKER);
        assert_int_equal(flow__free(t, g), 0);
        assert_null(flow_table__lookup(t, &shared, NULL));
        assert_ptr_equal(flow_table__lookup(t, &broker2, NULL), f);

        /* remove by key */
        assert_int_equal(flow_table__remove(t, &broker2), 0);
        assert_int_equal(flow_table__remove(t, &broker2), -ENOENT);
        assert_int_equal(f->legs, 1);
        assert_int_equal(flow__free(t, f), 0);
        assert_null(flow_table__lookup(t, &client, NULL));
        flow_table__free(t);
}

static void test_insert_errors(void **state)
{
        struct flow_table *t = table(4);
        struct flow *a = flow__alloc(t), *b = flow__alloc(t);
        struct flow_key k1, k2, bad;
        struct conn stray;

        key4(&k1, "198.51.100.7", 40000, "192.0.2.1", 1883);
        key4(&k2, "198.51.100.8", 40000, "192.0.2.1", 1883);
        assert_int_equal(flow_table__insert(t, &k1, a, FLOW_LEG_CLIENT), 0);
        assert_int_equal(flow_table__insert(t, &k1, b, FLOW_LEG_CLIENT), -EEXIST);
        assert_int_equal(flow_table__insert(t, &k1, a, FLOW_LEG_BROKER), -EEXIST);
        assert_int_equal(flow_table__insert(t, &k2, a, FLOW_LEG_CLIENT), -EBUSY);
        assert_int_equal(flow_table__insert(t, &k2, a, (enum flow_leg)2), -EINVAL);

        bad = k2;
        bad.pad[1] = 1;
        assert_int_equal(flow_table__insert(t, &bad, b, FLOW_LEG_CLIENT), -EINVAL);
        bad = k2;
        bad.saddr[7] = 1; /* past an IPv4 address */
        assert_int_equal(flow_table__insert(t, &bad, b, FLOW_LEG_CLIENT), -EINVAL);
        bad = k2;
        bad.family = 5;
        assert_int_equal(flow_table__insert(t, &bad, b, FLOW_LEG_CLIENT), -EINVAL);

        /* not an entry of the table, or not allocated */
        memset(&stray, 0, sizeof(stray));
        stray.f.live = 1;
        assert_int_equal(flow_table__insert(t, &k2, &stray.f, FLOW_LEG_CLIENT), -EINVAL);
        assert_int_equal(flow__free(t, &stray.f), -EINVAL);
        assert_int_equal(flow__free(t, b), 0);
        assert_int_equal(flow__free(t, b), -EINVAL);
        assert_int_equal(flow_table__insert(t, &k2, b, FLOW_LEG_CLIENT), -EINVAL);
        assert_int_equal(flow_table__count(t), 1);
        flow_table__free(t);
}

static void test_full_and_reuse(void **state)
{
        enum { N = 100 };
        struct flow_table *t = table(N);
        struct flow *f[N];
        struct flow_key k;

        for (uint32_t i = 0; i < N; i++) {
                f[i] = flow__alloc(t);
                assert_non_null(f[i]);
                assert_int_equal(f[i]->idx, i);
                assert_ptr_equal(flow_table__at(t, i), f[i]);
                assert_int_equal((uintptr_t)f[i] % 64, 0);
                key_of(&k, 2 * i);
                assert_int_equal(flow_table__insert(t, &k, f[i], FLOW_LEG_CLIENT), 0);
                key_of(&k, 2 * i + 1);
                assert_int_equal(flow_table__insert(t, &k, f[i], FLOW_LEG_BROKER), 0);
                memset(((struct conn *)f[i])->user, 0xa5, sizeof(((struct conn *)f[i])->user));
                f[i]->state = 7;
        }
        assert_null(flow__alloc(t)); /* full: the caller counts it */
        assert_int_equal(flow_table__count(t), N);

        /* last freed, first reused, zeroed, same slot number */
        assert_int_equal(flow__free(t, f[10]), 0);
        assert_int_equal(flow__free(t, f[20]), 0);
        assert_null(flow_table__at(t, 10));
        assert_ptr_equal(flow__alloc(t), f[20]);
        assert_ptr_equal(flow__alloc(t), f[10]);
        assert_null(flow__alloc(t));
        assert_int_equal(f[10]->idx, 10);
        assert_int_equal(f[10]->legs, 0);
        assert_int_equal(f[10]->state, 0);
        for (size_t i = 0; i < sizeof(((struct conn *)f[10])->user); i++)
                assert_int_equal(((struct conn *)f[10])->user[i], 0);
        /* its old keys are gone, its neighbours' are not */
        key_of(&k, 20);
        assert_null(flow_table__lookup(t, &k, NULL));
        key_of(&k, 23);
        assert_ptr_equal(flow_table__lookup(t, &k, NULL), f[11]);
        assert_int_equal(flow_table__insert(t, &k, f[10], FLOW_LEG_CLIENT), -EEXIST);
        key_of(&k, 21);
        assert_int_equal(flow_table__insert(t, &k, f[10], FLOW_LEG_CLIENT), 0);
        flow_table__free(t);
}

/* 10.0.0.1:1883 -> 10.0.0.2:1883 as IPv4, and an IPv6 key whose address
 * bytes are 0a 00 00 01 then zeros: equal bytes, different keys. */
static void test_families_apart(void **state)
{
        struct flow_table *t = table(4);
        uint8_t s[16] = {10, 0, 0, 1}, d[16] = {10, 0, 0, 2};
        struct flow_key k4, k6;
        struct flow *a = flow__alloc(t), *b = flow__alloc(t);
        enum flow_leg leg;

        flow_key__init(&k4, 4, s, 1883, d, 1883);
        flow_key__init(&k6, 6, s, 1883, d, 1883);
        assert_memory_equal(k4.saddr, k6.saddr, 16);
        assert_int_not_equal(flow_table__hash(t, &k4), flow_table__hash(t, &k6));
        assert_int_equal(flow_table__insert(t, &k4, a, FLOW_LEG_CLIENT), 0);
        assert_null(flow_table__lookup(t, &k6, NULL));
        assert_int_equal(flow_table__insert(t, &k6, b, FLOW_LEG_BROKER), 0);
        assert_ptr_equal(flow_table__lookup(t, &k4, &leg), a);
        assert_int_equal(leg, FLOW_LEG_CLIENT);
        assert_ptr_equal(flow_table__lookup(t, &k6, &leg), b);
        assert_int_equal(leg, FLOW_LEG_BROKER);
        /* ports are not symmetric: the reverse tuple is another key */
        flow_key__init(&k4, 4, d, 1883, s, 1883);
        assert_null(flow_table__lookup(t, &k4, NULL));
        flow_table__free(t);
}

/* Keys read from parsed frames match keys built by hand, whatever the
 * padding of the stack memory they are built in. */
static void test_key_from_packet(void **state)
{
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct flow_key k, want;
        struct fspec s4 = fspec_tcp(4, "198.51.100.7", 40000, "192.0.2.1", 1883);
        struct fspec s6 = fspec_tcp(6, "2001:db8::7", 40000, "2001:db8::1", 8883);
        uint32_t len;

        s4.vlan_tpid[0] = 0x8100;
        s4.vlan_tci[0] = 5;
        len = frame_build(f, &s4);
        assert_int_equal(packet__parse(f, len, &m), PACKET_OK);
        memset(&k, 0xee, sizeof(k));
        flow_key__from_packet(&k, f, &m);
        flow_key__init(&want, 4, s4.saddr, 40000, s4.daddr, 1883);
        assert_memory_equal(&k, &want, sizeof(k));
        assert_int_equal(k.proto | k.pad[0] | k.pad[1] | k.saddr[4] | k.daddr[15], 0);

        len = frame_build(f, &s6);
        assert_int_equal(packet__parse(f, len, &m), PACKET_OK);
        memset(&k, 0x11, sizeof(k));
        flow_key__from_packet(&k, f, &m);
        flow_key__init(&want, 6, s6.saddr, 40000, s6.daddr, 8883);
        assert_memory_equal(&k, &want, sizeof(k));
}

static void test_free_with_timer(void **state)
{
        struct flow_table *t = table(4);
        struct timer_wheel w;
        struct flow *f = flow__alloc(t);

        assert_int_equal(timer_wheel__init(&w, 1000000, 0), 0);
        timer__arm(&w, &f->timer[1], 5000000000ull, 1);
        assert_ptr_equal(flow__from_timer(&f->timer[1], 1), f);
        assert_ptr_equal(flow__from_timer(&f->timer[0], 0), f);
        assert_int_equal(flow__free(t, f), -EBUSY);
        assert_int_equal(flow_table__count(t), 1);
        timer__cancel(&w, &f->timer[1]);
        assert_int_equal(flow__free(t, f), 0);
        assert_int_equal(flow_table__count(t), 0);
        flow_table__free(t);
}

struct walk {
        struct flow_table *t;
        uint32_t seen, stop_at;
        uint32_t last_idx;
};

static int walk_free(void *ctx, struct flow *f)
{
        struct walk *w = ctx;

        assert_true(w->seen == 0 || f->idx > w->last_idx);
        w->last_idx = f->idx;
        w->seen++;
        assert_int_equal(flow__free(w->t, f), 0);
        return 0;
}

static int walk_stop(void *ctx, struct flow *f)
{
        struct walk *w = ctx;

        return ++w->seen == w->stop_at ? 42 : 0;
}

static void test_for_each(void **state)
{
        struct flow_table *t = table(64);
        struct walk w = {.t = t, .stop_at = 5};
        struct flow_key k;

        for (uint32_t i = 0; i < 40; i++) {
                struct flow *f = flow__alloc(t);

                key_of(&k, i);
                assert_int_equal(flow_table__insert(t, &k, f, FLOW_LEG_CLIENT), 0);
        }
        for (uint32_t i = 0; i < 40; i += 3)
                assert_int_equal(flow__free(t, flow_table__at(t, i)), 0);
        assert_int_equal(flow_table__for_each(t, walk_stop, &w), 42);
        assert_int_equal(w.seen, 5);
        w.seen = 0;
        /* shutdown: free everything while walking */
        assert_int_equal(flow_table__for_each(t, walk_free, &w), 0);
        assert_int_equal(w.seen, 40 - 14);
        assert_int_equal(flow_table__count(t), 0);
        for (uint32_t i = 0; i < 40; i++) {
                key_of(&k, i);
                assert_null(flow_table__lookup(t, &k, NULL));
        }
        flow_table__free(t);
}

/*
 * The reference model: key ids 0..NKEYS-1 (key_of), owner[id] = the flow
 * and leg it was inserted for, or none. The table must agree with it after
 * every operation it checks, and on every key every so often.
 */
#define NKEYS 20000u
#define NONE  UINT32_MAX

struct model {
        struct flow_table *t;
        uint32_t capacity;
        uint32_t owner[NKEYS];                /* idx << 1 | leg, or NONE */
        uint32_t leg_key[1 << 14][FLOW_LEGS]; /* by idx: key id on each leg, or NONE */
        uint8_t live[1 << 14];
        uint32_t nlive, nkeys;
};

static void model__check_all(struct model *m)
{
        struct flow_table_stats st;
        enum flow_leg leg;
        struct flow_key k;

        for (uint32_t id = 0; id < NKEYS; id++) {
                struct flow *f;

                key_of(&k, id);
                f = flow_table__lookup(m->t, &k, &leg);
                if (m->owner[id] == NONE) {
                        assert_null(f);
                        continue;
                }
                assert_non_null(f);
                assert_int_equal(f->idx, m->owner[id] >> 1);
                assert_int_equal(leg, m->owner[id] & 1);
        }
        flow_table__stats(m->t, &st);
        assert_int_equal(st.flows, m->nlive);
        assert_int_equal(st.keys, m->nkeys);
        assert_true(st.max_probe <= FLOW_PROBE_MAX);
        assert_int_equal(st.probe_fail, 0);
}

static void model__run(uint32_t capacity, uint32_t ops, uint64_t seed)
{
        struct model *m = calloc(1, sizeof(*m));
        struct flow_key k;

        assert_true(capacity <= (1 << 14));
        rng_state = seed;
        m->capacity = capacity;
        assert_int_equal(flow_table__new(&m->t, capacity, sizeof(struct conn), seed), 0);
        memset(m->owner, 0xff, sizeof(m->owner));
        memset(m->leg_key, 0xff, sizeof(m->leg_key));
        for (uint32_t op = 0; op < ops; op++) {
                uint32_t r = (uint32_t)(rnd() % 100);
                uint32_t idx = (uint32_t)(rnd() % capacity);
                uint32_t id = (uint32_t)(rnd() % NKEYS);
                enum flow_leg leg = (enum flow_leg)(rnd() & 1);
                struct flow *f = flow_table__at(m->t, idx);

                assert_int_equal(f != NULL, m->live[idx]);
                key_of(&k, id);
                if (r < 15) { /* a new connection */
                        f = flow__alloc(m->t);
                        if (m->nlive == capacity) {
                                assert_null(f);
                                continue;
                        }
                        assert_non_null(f);
                        assert_false(m->live[f->idx]);
                        assert_int_equal(f->legs, 0);
                        m->live[f->idx] = 1;
                        m->nlive++;
                } else if (r < 50) { /* a leg */
                        int want = !f                             ? -EINVAL
                                   : m->leg_key[idx][leg] != NONE ? -EBUSY
                                   : m->owner[id] != NONE         ? -EEXIST
                                                                  : 0;

                        if (!f)
                                continue; /* no flow to pass */
                        assert_int_equal(flow_table__insert(m->t, &k, f, leg), want);
                        if (!want) {
                                m->owner[id] = idx << 1 | leg;
                                m->leg_key[idx][leg] = id;
                                m->nkeys++;
                        }
                } else if (r < 60) { /* remove by key */
                        uint32_t o = m->owner[id];

                        assert_int_equal(flow_table__remove(m->t, &k), o == NONE ? -ENOENT : 0);
                        if (o != NONE) {
                                m->leg_key[o >> 1][o & 1] = NONE;
                                m->owner[id] = NONE;
                                m->nkeys--;
                        }
                } else if (r < 65) { /* remove a flow's leg */
                        uint32_t kid;

                        if (!f)
                                continue;
                        kid = m->leg_key[idx][leg];
                        assert_int_equal(flow__remove_leg(m->t, f, leg), kid == NONE ? -ENOENT : 0);
                        if (kid != NONE) {
                                m->owner[kid] = NONE;
                                m->leg_key[idx][leg] = NONE;
                                m->nkeys--;
                        }
                } else if (r < 78) { /* teardown */
                        if (!f)
                                continue;
                        assert_int_equal(flow__free(m->t, f), 0);
                        for (int l = 0; l < FLOW_LEGS; l++) {
                                uint32_t kid = m->leg_key[idx][l];

                                if (kid != NONE) {
                                        m->owner[kid] = NONE;
                                        m->leg_key[idx][l] = NONE;
                                        m->nkeys--;
                                }
                        }
                        m->live[idx] = 0;
                        m->nlive--;
                } else { /* a segment: hit or miss */
                        enum flow_leg got = FLOW_LEGS;
                        uint32_t o = m->owner[id];

                        f = flow_table__lookup(m->t, &k, &got);
                        if (o == NONE) {
                                assert_null(f);
                        } else {
                                assert_non_null(f);
                                assert_int_equal(f->idx, o >> 1);
                                assert_int_equal(got, o & 1);
                                assert_memory_equal(flow__key(f, got), &k, sizeof(k));
                        }
                }
                if (op % 50000 == 0)
                        model__check_all(m);
        }
        model__check_all(m);
        flow_table__free(m->t);
        free(m);
}

/* 300k operations on a table of 4096 connections (index of 16384 slots,
 * keys from a space of 20000 so inserts collide with live keys). */
static void test_random_vs_reference(void **state)
{
        model__run(4096, 300000, 11);
}

/* A table of 16 (64 slots: runs wrap around the end of the index). */
static void test_random_small(void **state)
{
        model__run(16, 200000, 12);
}

static void insert_random(struct flow_table *t, struct flow *f, enum flow_leg leg)
{
        struct flow_key k;
        int err;

        do { /* a rare clash with a live key: draw again */
                key_of(&k, (uint32_t)rnd());
                err = flow_table__insert(t, &k, f, leg);
        } while (err == -EEXIST);
        assert_int_equal(err, 0);
}

/*
 * Churn at full load: a million connections come and go through a table
 * kept full; probe lengths afterwards are what a freshly built table has.
 */
static void test_churn_no_degradation(void **state)
{
        enum { N = 8192 };
        struct flow_table *t = table(N);
        struct flow_table_stats fresh, after;
        struct flow *f[N];

        rng_state = 13;
        for (uint32_t i = 0; i < N; i++) {
                f[i] = flow__alloc(t);
                for (int l = 0; l < FLOW_LEGS; l++)
                        insert_random(t, f[i], (enum flow_leg)l);
        }
        flow_table__stats(t, &fresh);
        assert_int_equal(fresh.keys, 2 * N);
        for (uint32_t n = 0; n < 1000000 / 2; n++) {
                uint32_t i = (uint32_t)(rnd() % N);

                assert_int_equal(flow__free(t, f[i]), 0);
                f[i] = flow__alloc(t);
                for (int l = 0; l < FLOW_LEGS; l++)
                        insert_random(t, f[i], (enum flow_leg)l);
        }
        flow_table__stats(t, &after);
        print_message("probe distance: fresh mean %.3f max %u, after 1M churn mean %.3f max %u\n",
                      fresh.mean_probe, fresh.max_probe, after.mean_probe, after.max_probe);
        assert_int_equal(after.keys, 2 * N);
        assert_true(after.mean_probe < fresh.mean_probe * 1.25 + 0.05);
        assert_true(after.max_probe <= fresh.max_probe + 4);
        assert_true(after.max_probe < FLOW_PROBE_MAX / 2);
        flow_table__free(t);
}

/*
 * Someone who knows the seed aims keys at one home slot: the index places
 * FLOW_PROBE_MAX + 1 of them, refuses the next (-ENOSPC, counted), and every
 * placed key and every miss still ends within the cap.
 */
static void test_probe_cap(void **state)
{
        enum { CAP = 32 };
        struct flow_table *t = table(CAP); /* 128 slots */
        struct flow_table_stats st;
        struct flow_key keys[FLOW_PROBE_MAX + 8], k;
        uint32_t n = 0, id = 0, placed = 0;
        struct flow *f = NULL;
        uint64_t home = flow_table__hash(t, &(struct flow_key){0}) & 127;

        while (n < FLOW_PROBE_MAX + 8) {
                key_of(&k, id++);
                if ((flow_table__hash(t, &k) & 127) == home)
                        keys[n++] = k;
        }
        for (uint32_t i = 0; i < n; i++) {
                int err;

                if (i % 2 == 0)
                        f = flow__alloc(t);
                assert_non_null(f);
                err = flow_table__insert(t, &keys[i], f, (enum flow_leg)(i % 2));
                if (placed < FLOW_PROBE_MAX + 1) {
                        assert_int_equal(err, 0);
                        placed++;
                } else {
                        assert_int_equal(err, -ENOSPC);
                }
        }
        flow_table__stats(t, &st);
        assert_int_equal(st.keys, FLOW_PROBE_MAX + 1);
        assert_int_equal(st.max_probe, FLOW_PROBE_MAX);
        assert_int_equal(st.probe_fail, n - placed);
        for (uint32_t i = 0; i < n; i++) {
                struct flow *got = flow_table__lookup(t, &keys[i], NULL);

                if (i < placed)
                        assert_non_null(got);
                else
                        assert_null(got);
        }
        /* taking one out makes room for one */
        assert_int_equal(flow_table__remove(t, &keys[3]), 0);
        f = flow__alloc(t);
        assert_int_equal(flow_table__insert(t, &keys[placed], f, FLOW_LEG_CLIENT), 0);
        assert_int_equal(flow_table__insert(t, &keys[placed + 1], f, FLOW_LEG_BROKER), -ENOSPC);
        flow_table__free(t);
}

/* The seed changes where keys go (an attacker needs it to aim). */
static void test_seeded(void **state)
{
        struct flow_table *a = NULL, *b = NULL;
        struct flow_key k;
        uint32_t same = 0;

        assert_int_equal(flow_table__new(&a, 64, 256, 1), 0);
        assert_int_equal(flow_table__new(&b, 64, 256, 2), 0);
        for (uint32_t id = 0; id < 1000; id++) {
                key_of(&k, id);
                same += flow_table__hash(a, &k) == flow_table__hash(b, &k);
        }
        assert_int_equal(same, 0);
        flow_table__free(a);
        flow_table__free(b);
}

/* The burst path (more than FLOW_BURST_MAX keys too) and its passes. */
static void test_burst_lookup(void **state)
{
        struct flow_table *t = table(128);
        struct flow_key k[150];
        struct flow *out[150];
        uint8_t legs[150];
        uint64_t h[64];

        for (uint32_t i = 0; i < 150; i++) {
                key_of(&k[i], i);
                if (i % 2)
                        assert_int_equal(flow_table__insert(t, &k[i], flow__alloc(t),
                                                            (enum flow_leg)(i % 4 == 3)),
                                         0);
        }
        assert_int_equal(flow_table__lookup_burst(t, k, 150, out, legs), 75);
        for (uint32_t i = 0; i < 150; i++) {
                enum flow_leg leg;

                assert_ptr_equal(out[i], flow_table__lookup(t, &k[i], &leg));
                if (out[i])
                        assert_int_equal(legs[i], leg);
        }
        assert_int_equal(flow_table__lookup_burst(t, k + 1, 3, out, NULL), 2);
        flow_table__free(t);

        t = table(128);
        for (uint32_t i = 0; i < 64; i++) {
                key_of(&k[i], i);
                if (i % 2)
                        assert_int_equal(
                            flow_table__insert(t, &k[i], flow__alloc(t), FLOW_LEG_CLIENT), 0);
        }
        for (uint32_t i = 0; i < 64; i++) {
                h[i] = flow_table__hash(t, &k[i]);
                flow_table__prefetch(t, h[i]);
        }
        for (uint32_t i = 0; i < 64; i++)
                flow_table__prefetch_entry(t, h[i]);
        for (uint32_t i = 0; i < 64; i++) {
                struct flow *f = flow_table__lookup_hashed(t, &k[i], h[i], NULL);

                assert_true((f != NULL) == (i % 2));
                assert_ptr_equal(f, flow_table__lookup(t, &k[i], NULL));
        }
        flow_table__free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_new),
            cmocka_unit_test(test_both_legs),
            cmocka_unit_test(test_insert_errors),
            cmocka_unit_test(test_full_and_reuse),
            cmocka_unit_test(test_families_apart),
            cmocka_unit_test(test_key_from_packet),
            cmocka_unit_test(test_free_with_timer),
            cmocka_unit_test(test_for_each),
            cmocka_unit_test(test_random_vs_reference),
            cmocka_unit_test(test_random_small),
            cmocka_unit_test(test_churn_no_degradation),
            cmocka_unit_test(test_probe_cap),
            cmocka_unit_test(test_seeded),
            cmocka_unit_test(test_burst_lookup),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
