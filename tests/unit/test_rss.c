/*
 * RSS-aware source ports: the Toeplitz hash against Microsoft's published
 * vectors, the picker against a brute-force oracle built on the plain hash,
 * and rss__read on a veth in a private network namespace (needs root; sends
 * nothing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/datapath/rss.h"

/*
 * Microsoft, "Verifying the RSS Hash Calculation" (Windows driver docs,
 * https://learn.microsoft.com/windows-hardware/drivers/network/verifying-the-rss-hash-calculation,
 * source MicrosoftDocs/windows-driver-docs
 * windows-driver-docs-pr/network/verifying-the-rss-hash-calculation.md):
 * the secret key and, per row, the received packet's destination and source
 * address:port with the expected "only addresses" and "with TCP" hashes.
 */
static const uint8_t ms_key[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct ms_vector {
        const char *dst;
        uint16_t dport;
        const char *src;
        uint16_t sport;
        uint32_t hash_ip;
        uint32_t hash_tcp;
};

static const struct ms_vector ms_v4[] = {
    {"161.142.100.80", 1766, "66.9.149.187", 2794, 0x323e8fc2, 0x51ccc178},
    {"65.69.140.83", 4739, "199.92.111.2", 14230, 0xd718262a, 0xc626b0ea},
    {"12.22.207.184", 38024, "24.19.198.95", 12898, 0xd2d0a5de, 0x5c2b394a},
    {"209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xafc7327f},
    {"202.188.127.2", 1303, "153.39.163.191", 44251, 0x5d1809c5, 0x10e828a2},
};

static const struct ms_vector ms_v6[] = {
    {"3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d},
    {"ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf},
    {"fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4b61e985,
     0x02d1feef},
};

static void addr(uint8_t family, const char *text, uint8_t out[16])
{
        memset(out, 0, 16);
        if (inet_pton(family == 4 ? AF_INET : AF_INET6, text, out) != 1)
                fail_msg("bad address %s in the test", text);
}

static struct rss *new_rss(const uint8_t *key, uint32_t key_size, const uint32_t *indir,
                           uint32_t indir_size, bool ports)
{
        struct rss_config cfg = {
            .key = key,
            .key_size = key_size,
            .indir = indir,
            .indir_size = indir_size,
            .ports_v4 = ports,
            .ports_v6 = ports,
        };
        struct rss *r = NULL;

        assert_int_equal(rss__new(&r, &cfg), 0);
        assert_non_null(r);
        return r;
}

static void check_vectors(uint8_t family, const struct ms_vector *v, size_t n)
{
        uint32_t indir[1] = {0};
        struct rss *r = new_rss(ms_key, sizeof(ms_key), indir, 1, true);
        size_t alen = family == 4 ? 4 : 16;

        for (size_t i = 0; i < n; i++) {
                uint8_t src[16], dst[16], in[RSS_TUPLE_MAX];
                struct rss_leg leg = {.family = family, .broker_port = v[i].sport};
                size_t len;
                uint32_t h;

                addr(family, v[i].src, src);
                addr(family, v[i].dst, dst);
                /* Addresses only: source then destination. */
                memcpy(in, src, alen);
                memcpy(in + alen, dst, alen);
                h = rss__toeplitz(ms_key, sizeof(ms_key), in, 2 * alen);
                if (h != v[i].hash_ip)
                        fail_msg("%s -> %s: hash 0x%08x, expected 0x%08x", v[i].src, v[i].dst, h,
                                 v[i].hash_ip);
                /* With TCP: the received segment's 4-tuple. */
                len = rss__tuple(in, family, src, dst, v[i].sport, v[i].dport);
                assert_int_equal(len, 2 * alen + 4);
                h = rss__toeplitz(ms_key, sizeof(ms_key), in, len);
                if (h != v[i].hash_tcp)
                        fail_msg("%s:%u -> %s:%u: hash 0x%08x, expected 0x%08x", v[i].src,
                                 v[i].sport, v[i].dst, v[i].dport, h, v[i].hash_tcp);
                /*
                 * The same row seen as a broker leg: the broker sends from
                 * src:sport to our dst:dport, dport being the port we pick.
                 * This goes through the precomputed port tables.
                 */
                memcpy(leg.broker, src, 16);
                memcpy(leg.local, dst, 16);
                h = rss__leg_hash(r, &leg, v[i].dport);
                if (h != v[i].hash_tcp)
                        fail_msg("leg %s:%u -> %s port %u: hash 0x%08x, expected 0x%08x", v[i].src,
                                 v[i].sport, v[i].dst, v[i].dport, h, v[i].hash_tcp);
        }
        rss__free(r);
}

static void test_microsoft_ipv4(void **state)
{
        check_vectors(4, ms_v4, sizeof(ms_v4) / sizeof(ms_v4[0]));
}

static void test_microsoft_ipv6(void **state)
{
        check_vectors(6, ms_v6, sizeof(ms_v6) / sizeof(ms_v6[0]));
}

static void test_toeplitz_edges(void **state)
{
        uint8_t in[RSS_TUPLE_MAX] = {0}, a[4] = {10, 0, 0, 1};

        assert_int_equal(rss__toeplitz(ms_key, sizeof(ms_key), in, 0), 0);
        assert_int_equal(rss__toeplitz(ms_key, sizeof(ms_key), in, 36), 0);
        /* The first input bit set selects the first 32 key bits. */
        in[0] = 0x80;
        assert_int_equal(rss__toeplitz(ms_key, sizeof(ms_key), in, 1), 0x6d5a56da);
        /* The last bit of a 36-byte input selects key bits 287..318. */
        in[0] = 0;
        in[35] = 0x01;
        assert_int_equal(rss__toeplitz(ms_key, sizeof(ms_key), in, 36),
                         (uint32_t)(0x3bbeac01faULL >> 1));
        /* Past the key, bits count as zero. */
        in[35] = 0;
        in[0] = 0x01;
        assert_int_equal(rss__toeplitz(ms_key, 2, in, 1), 0x6d5a0000u << 7);
        assert_int_equal(rss__tuple(in, 5, a, a, 1, 2), 0);
}

/* A fixed pseudo-random key, not the Microsoft one: nothing may depend on it. */
static void synthetic_key(uint8_t key[40])
{
        uint64_t x = 0x9e3779b97f4a7c15ULL;

        for (int i = 0; i < 40; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                key[i] = (uint8_t)(x >> 32);
        }
}

#define NQ    4u
#define TABLE 128u
#define PORTS 65536u

struct used {
        uint8_t bit[PORTS / 8];
        uint32_t asked;
};

static bool used__test(void *ctx, uint16_t port)
{
        struct used *u = ctx;

        u->asked++;
        return u->bit[port / 8] >> (port % 8) & 1;
}

static void used__set(struct used *u, uint16_t port, bool on)
{
        if (on)
                u->bit[port / 8] |= (uint8_t)(1u << (port % 8));
        else
                u->bit[port / 8] &= (uint8_t) ~(1u << (port % 8));
}

/* The oracle: does port qualify, by the plain hash of the full received tuple? */
static bool qualifies(const struct rss *r, const struct rss_leg *leg, uint32_t worker,
                      uint32_t nworkers, uint32_t queue, uint16_t port)
{
        uint8_t in[RSS_TUPLE_MAX];
        size_t len;

        if (port % nworkers != worker)
                return false;
        if (!r)
                return true;
        len = rss__tuple(in, leg->family, leg->broker, leg->local, leg->broker_port, port);
        return rss__queue(r, rss__toeplitz(r->key, r->key_size, in, len)) == queue;
}

static void leg_init(struct rss_leg *leg, uint8_t family)
{
        memset(leg, 0, sizeof(*leg));
        leg->family = family;
        if (family == 4) {
                addr(4, "192.0.2.10", leg->broker);
                addr(4, "198.51.100.7", leg->local);
        } else {
                addr(6, "2001:db8::10", leg->broker);
                addr(6, "2001:db8:1::7", leg->local);
        }
        leg->broker_port = 1883;
}

/*
 * Every port the picker returns qualifies, it cycles through exactly the
 * qualifying ports of the range, and it runs dry with -EADDRNOTAVAIL.
 */
static void check_picker(const struct rss *r, uint8_t family, uint32_t worker, uint32_t nworkers,
                         uint32_t queue, uint16_t lo, uint16_t hi)
{
        static struct used u;
        struct rss_picker p;
        struct rss_leg leg;
        uint32_t want = 0, got = 0, ncand = 0;
        uint16_t port, first = 0;

        leg_init(&leg, family);
        memset(&u, 0, sizeof(u));
        for (uint32_t q = lo; q <= hi; q++) {
                ncand += q % nworkers == worker;
                want += qualifies(r, &leg, worker, nworkers, queue, (uint16_t)q);
        }
        assert_true(want > 0);
        assert_int_equal(rss_picker__init(&p, r, worker, nworkers, queue, lo, hi, 12345), 0);
        assert_int_equal(rss_picker__steers(&p, family), r != NULL);

        /* Nothing marked in use: one lap gives each qualifying port once. */
        for (uint32_t i = 0; i < want; i++) {
                assert_int_equal(rss__pick_port(&p, &leg, NULL, NULL, &port), 0);
                if (!qualifies(r, &leg, worker, nworkers, queue, port))
                        fail_msg("worker %u: port %u does not qualify", worker, port);
                assert_int_equal(rss__owner_of_port(port, nworkers), worker);
                assert_true(port >= lo && port <= hi);
                if (u.bit[port / 8] >> (port % 8) & 1)
                        fail_msg("worker %u: port %u twice in one lap", worker, port);
                used__set(&u, port, true);
                if (i == 0)
                        first = port;
        }
        /* ... and the next lap starts over. */
        assert_int_equal(rss__pick_port(&p, &leg, NULL, NULL, &port), 0);
        assert_int_equal(port, first);

        /* Marking each pick in use runs the range dry. */
        memset(&u, 0, sizeof(u));
        for (;;) {
                int rc;

                u.asked = 0;
                rc = rss__pick_port(&p, &leg, used__test, &u, &port);
                /* The callback is asked only about steering candidates, at most all. */
                assert_true(u.asked <= ncand);
                if (rc == -EADDRNOTAVAIL)
                        break;
                assert_int_equal(rc, 0);
                assert_true(qualifies(r, &leg, worker, nworkers, queue, port));
                used__set(&u, port, true);
                got++;
                assert_true(got <= want);
        }
        assert_int_equal(got, want);
        assert_int_equal(u.asked, want); /* one pass: every steering port asked once */

        /* A port freed is found again. */
        used__set(&u, first, false);
        assert_int_equal(rss__pick_port(&p, &leg, used__test, &u, &port), 0);
        assert_int_equal(port, first);
}

static void test_picker_rss(void **state)
{
        uint8_t key[40];
        uint32_t indir[TABLE];
        struct rss *r;

        synthetic_key(key);
        for (uint32_t i = 0; i < TABLE; i++)
                indir[i] = i % NQ;
        r = new_rss(key, sizeof(key), indir, TABLE, true);
        assert_true(r->steer_v4 && r->steer_v6);
        assert_int_equal(r->nqueues, NQ);
        /* One worker per queue, the full range and a narrow odd one. */
        for (uint32_t w = 0; w < NQ; w++) {
                check_picker(r, 4, w, NQ, w, 1024, 65535);
                check_picker(r, 6, w, NQ, w, 1024, 65535);
                check_picker(r, 4, w, NQ, w, 40001, 40999);
        }
        /* More workers than queues: worker 5 of 8 on queue 1. */
        check_picker(r, 4, 5, 8, 1, 10000, 30000);
        rss__free(r);

        /* The Microsoft key with an uneven table: queue 2 gets 1/8 of it. */
        for (uint32_t i = 0; i < TABLE; i++)
                indir[i] = i % 8 == 0 ? 2 : i % 2;
        r = new_rss(ms_key, sizeof(ms_key), indir, TABLE, true);
        assert_int_equal(r->nqueues, 3);
        check_picker(r, 4, 2, 3, 2, 1024, 65535);
        check_picker(r, 6, 0, 3, 0, 1024, 65535);
        rss__free(r);
}

/*
 * The share of a worker's candidates that steer is about the table share of
 * its queue: the scan length rss.h promises (about Q candidates per pick).
 */
static void test_picker_share(void **state)
{
        uint8_t key[40];
        uint32_t indir[TABLE];
        struct rss_leg leg;
        struct rss *r;

        synthetic_key(key);
        for (uint32_t i = 0; i < TABLE; i++)
                indir[i] = i % NQ;
        r = new_rss(key, sizeof(key), indir, TABLE, true);
        for (uint8_t fam = 4; fam <= 6; fam += 2) {
                leg_init(&leg, fam);
                for (uint32_t w = 0; w < NQ; w++) {
                        uint32_t cand = 0, hit = 0;

                        for (uint32_t port = 1024; port <= 65535; port++) {
                                if (port % NQ != w)
                                        continue;
                                cand++;
                                hit += qualifies(r, &leg, w, NQ, w, (uint16_t)port);
                        }
                        /* 16128 candidates, 4032 expected; allow +-15 % */
                        if (hit < cand / NQ * 85 / 100 || hit > cand / NQ * 115 / 100)
                                fail_msg("IPv%u worker %u: %u of %u candidates steer", fam, w, hit,
                                         cand);
                }
        }
        rss__free(r);
}

static void test_picker_fallback(void **state)
{
        uint8_t key[40];
        uint32_t indir[TABLE];
        struct rss_picker p;
        struct rss_leg leg;
        struct rss *r;
        uint16_t port;

        for (uint32_t w = 0; w < 3; w++)
                check_picker(NULL, 4, w, 3, 0, 1024, 2047);
        check_picker(NULL, 6, 6, 7, 0, 1, 65535);

        /* Without RSS the cursor walks the candidates in order and wraps. */
        leg_init(&leg, 4);
        assert_int_equal(rss_picker__init(&p, NULL, 1, 4, 0, 100, 115, 0), 0);
        for (uint16_t want = 101; want <= 113; want += 4) {
                assert_int_equal(rss__pick_port(&p, &leg, NULL, NULL, &port), 0);
                assert_int_equal(port, want);
        }
        assert_int_equal(rss__pick_port(&p, &leg, NULL, NULL, &port), 0);
        assert_int_equal(port, 101);

        /* A NIC that does not hash the ports: owner encoding only. */
        synthetic_key(key);
        for (uint32_t i = 0; i < TABLE; i++)
                indir[i] = i % NQ;
        r = new_rss(key, sizeof(key), indir, TABLE, false);
        assert_false(r->steer_v4 || r->steer_v6);
        assert_int_equal(rss_picker__init(&p, r, 2, NQ, 2, 2000, 2100, 0), 0);
        assert_false(rss_picker__steers(&p, 4));
        for (uint32_t i = 0; i < 25; i++) {
                assert_int_equal(rss__pick_port(&p, &leg, NULL, NULL, &port), 0);
                assert_int_equal(port, 2002 + 4 * i);
        }
        rss__free(r);
}

static void test_picker_rejects(void **state)
{
        uint32_t indir[4] = {0, 1, 0, 1};
        struct rss_picker p;
        struct rss_leg leg;
        struct rss *r = new_rss(ms_key, sizeof(ms_key), indir, 4, true);
        uint16_t port;

        assert_int_equal(rss_picker__init(&p, NULL, 4, 4, 0, 1024, 2047, 0), -EINVAL);
        assert_int_equal(rss_picker__init(&p, NULL, 0, 0, 0, 1024, 2047, 0), -EINVAL);
        assert_int_equal(rss_picker__init(&p, NULL, 0, 70000, 0, 1024, 2047, 0), -EINVAL);
        assert_int_equal(rss_picker__init(&p, NULL, 0, 4, 0, 0, 2047, 0), -EINVAL);
        assert_int_equal(rss_picker__init(&p, NULL, 0, 4, 0, 2048, 2047, 0), -EINVAL);
        /* 1001..1003 holds no multiple of 4 */
        assert_int_equal(rss_picker__init(&p, NULL, 0, 4, 0, 1001, 1003, 0), -EINVAL);
        assert_int_equal(rss_picker__init(&p, NULL, 1, 4, 0, 1001, 1001, 0), 0);
        /* queue 2 is nowhere in the table */
        assert_int_equal(rss_picker__init(&p, r, 0, 2, 2, 1024, 2047, 0), -ENOENT);
        assert_int_equal(rss_picker__init(&p, r, 0, 2, 1, 1024, 2047, 0), 0);
        leg_init(&leg, 4);
        leg.family = 5;
        assert_int_equal(rss__pick_port(&p, &leg, NULL, NULL, &port), -EINVAL);
        rss__free(r);
}

static void test_new_rejects(void **state)
{
        uint32_t indir[2] = {0, 3};
        struct rss_config cfg = {
            .key = ms_key, .key_size = 40, .indir = indir, .indir_size = 2, .nqueues = 3};
        struct rss *r = (struct rss *)&cfg;

        assert_int_equal(rss__new(&r, &cfg), -EINVAL); /* entry 3 >= 3 queues */
        assert_null(r);
        cfg.nqueues = 0;
        assert_int_equal(rss__new(&r, &cfg), 0);
        assert_int_equal(r->nqueues, 4);
        rss__free(r);
        cfg.key_size = RSS_KEY_MAX + 1;
        assert_int_equal(rss__new(&r, &cfg), -EINVAL);
        cfg.key_size = 0;
        assert_int_equal(rss__new(&r, &cfg), -EINVAL);
        cfg.key_size = 40;
        cfg.indir_size = 0;
        assert_int_equal(rss__new(&r, &cfg), -EINVAL);
        /* A 16-byte key covers TCP/IPv4 (12 bytes + 4) but not IPv6 (36 + 4). */
        cfg.indir_size = 2;
        cfg.key_size = 16;
        cfg.ports_v4 = cfg.ports_v6 = true;
        assert_int_equal(rss__new(&r, &cfg), 0);
        assert_true(r->steer_v4);
        assert_false(r->steer_v6);
        rss__free(r);
}

static void test_owner_of_port(void **state)
{
        assert_int_equal(rss__owner_of_port(40000, 1), 0);
        assert_int_equal(rss__owner_of_port(40001, 4), 1);
        assert_int_equal(rss__owner_of_port(65535, 7), 65535 % 7);
}

/*
 * veth has no RSS key or table: rss__read must say so, naming the interface,
 * so that the caller falls back. In a private network namespace; root only.
 */
static void test_read_veth(void **state)
{
        char err[512];
        struct rss *r = (struct rss *)err;
        int rc;

        if (geteuid() != 0)
                fail_msg("test_read_veth needs root (a veth in a private network namespace)");
        if (unshare(CLONE_NEWNET) < 0)
                fail_msg("unshare(CLONE_NEWNET): %s", strerror(errno));
        rc = system("ip link add va type veth peer name vb");
        if (rc != 0)
                fail_msg("ip link add va type veth peer name vb: status %d", rc);

        rc = rss__read("va", &r, err, sizeof(err));
        print_message("rss__read(va) = %d (%s): %s\n", rc, strerror(-rc), err);
        assert_int_equal(rc, -EOPNOTSUPP);
        assert_null(r);
        assert_non_null(strstr(err, "va"));
        assert_non_null(strstr(err, "ETHTOOL_GRSSH"));

        rc = rss__read("lo", &r, err, sizeof(err));
        print_message("rss__read(lo) = %d (%s): %s\n", rc, strerror(-rc), err);
        assert_int_equal(rc, -EOPNOTSUPP);
        assert_non_null(strstr(err, "lo"));

        rc = rss__read("nosuch0", &r, err, sizeof(err));
        assert_int_equal(rc, -ENODEV);
        assert_non_null(strstr(err, "nosuch0"));

        rc = rss__read("a-name-far-too-long-for-linux", &r, err, sizeof(err));
        assert_int_equal(rc, -EINVAL);
        assert_non_null(strstr(err, "a-name-far-too-long-for-linux"));

        /* A message longer than the buffer is cut, never overrun. */
        rc = rss__read("va", &r, err, 8);
        assert_int_equal(rc, -EOPNOTSUPP);
        assert_true(strlen(err) < 8);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_microsoft_ipv4), cmocka_unit_test(test_microsoft_ipv6),
            cmocka_unit_test(test_toeplitz_edges), cmocka_unit_test(test_picker_rss),
            cmocka_unit_test(test_picker_share),   cmocka_unit_test(test_picker_fallback),
            cmocka_unit_test(test_picker_rejects), cmocka_unit_test(test_new_rejects),
            cmocka_unit_test(test_owner_of_port),  cmocka_unit_test(test_read_veth),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
