/*
 * UDP listeners (core/lb/lb_udp.c) through the real balancer on the offline
 * harness (tests/lib lb_harness): datagrams injected from clients and
 * backends, the datagrams the balancer sends parsed and checked field by
 * field (both checksums on every one).
 *
 * Checked: every datagram of a client address reaches one backend of the
 * pool whatever its port, from a source address and a port of its range,
 * payload byte-exact (0 and 1400 bytes too), spread over every backend;
 * replies reach the client from the listener's address and port, with the
 * VLAN tags of its frames; IPv6 clients to IPv4 backends and back, IPv4
 * clients to IPv6 backends; replies and ICMP errors to no flow are dropped
 * and counted; flows end after udp_idle_timeout; udp_max_flows caps new
 * flows and only new ones; an ICMP port unreachable marks its backend and
 * ends the flow; a plan without a backend moves only that backend's flows
 * (and the plan with it back moves them back); a datagram that would not
 * fit its frame once rewritten is dropped; an MQTT listener beside the UDP
 * ones still splices, and TCP to the UDP port or UDP to the MQTT port is
 * dropped; with the local ports of the source range spent (a port per
 * backend) a new client is dropped (ports_exhausted) and the port comes back
 * when a flow idles out. Every case ends with the frame ledger balanced.
 *
 * Two regressions: a datagram with a wrong UDP checksum never reaches the
 * backend with a right one (it did), and a flow follows its listener to another
 * pool after a reload (it kept its old pool's backend).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lb_harness.h"

#define MS 1000000ull
#define S  (1000 * MS)

static const char HEAD[] =
    "interfaces: [{name: lb0}]\n"
    "listeners:\n"
    "  - {address: 10.10.0.100, port: 5000, protocol: udp, pool: collectors}\n"
    "  - {address: \"fd00:10::100\", port: 5000, protocol: udp, pool: collectors}\n"
    "  - {address: 10.10.0.100, port: 5001, protocol: udp, pool: collectors6}\n"
    "  - {address: \"fd00:10::100\", port: 5001, protocol: udp, pool: collectors6}\n"
    "  - {address: 10.10.0.100, port: 1883}\n"
    "source_addresses: [\"10.20.0.1:20000-29999\", \"10.20.0.2:30000-39999\",\n"
    "                   \"[fd00:20::1]:40000-49999\"]\n"
    "workers: 1\n"
    "pools:\n"
    "  - name: collectors\n"
    "    brokers: [\"10.20.0.11:9000\", \"10.20.0.12:9000\", \"10.20.0.13:9000\"]\n"
    "    balance: source-ip\n"
    "  - name: collectors6\n"
    "    brokers: [\"[fd00:20::11]:9000\", \"[fd00:20::12]:9000\"]\n"
    "    balance: source-ip\n"
    "  - name: apples\n"
    "    brokers: [\"10.20.0.21:1883\"]\n"
    "default_pool: apples\n";

#define IDLE_S 30 /* udp_idle_timeout in the configurations here */

/* The pools' backends, as the balancer names them (index = pool index). */
static const char *const COLLECTORS[3] = {"10.20.0.11:9000", "10.20.0.12:9000", "10.20.0.13:9000"};
static const char *const COLLECTORS6[2] = {"[fd00:20::11]:9000", "[fd00:20::12]:9000"};
static const uint8_t B4[3][16] = {{10, 20, 0, 11}, {10, 20, 0, 12}, {10, 20, 0, 13}};
static const uint8_t B6[2][16] = {{0xfd, 0, 0, 0x20, [15] = 0x11}, {0xfd, 0, 0, 0x20, [15] = 0x12}};
static const uint8_t VIP6[16] = {0xfd, 0, 0, 0x10, [14] = 0x01, [15] = 0x00};
static const uint8_t SRC4A[16] = {10, 20, 0, 1}, SRC4B[16] = {10, 20, 0, 2};
static const uint8_t SRC6[16] = {0xfd, 0, 0, 0x20, [15] = 1};
static const uint8_t MQTT_BROKER[16] = {10, 20, 0, 21};

struct ut {
        struct lbh *h;
        uint64_t t;
        char yaml[4096];
};

/* A flow as both ends see it. */
struct rec {
        struct lbh_peer cli; /* the client (its address:port, to the listener) */
        const struct lbh_vlans *vlans;
        int bi;            /* the backend's index in its pool */
        uint8_t bfamily;   /* the backend's family */
        uint8_t baddr[16]; /* the backend */
        uint8_t saddr[16]; /* the source address:port the backend sees */
        uint16_t sport;
};

static void yaml_of(char *buf, size_t n, uint32_t max_flows)
{
        snprintf(buf, n, "%sconnections: {udp_idle_timeout: %us, udp_max_flows: %u}\n", HEAD,
                 IDLE_S, max_flows);
}

/* The harness on yaml (NULL: HEAD with udp_max_flows max_flows). */
static void ut_open_yaml(struct ut *u, const char *yaml, uint32_t max_flows)
{
        char err[256];

        memset(u, 0, sizeof(*u));
        if (yaml)
                snprintf(u->yaml, sizeof(u->yaml), "%s", yaml);
        else
                yaml_of(u->yaml, sizeof(u->yaml), max_flows);
        if (lbh__open(&u->h, &(struct lbh_cfg){.yaml = u->yaml}, err, sizeof(err)))
                fail_msg("harness: %s", err);
        u->t = 1000 * MS;
}

static void ut_open(struct ut *u, uint32_t max_flows)
{
        ut_open_yaml(u, NULL, max_flows);
}

static void ut_close(struct ut *u)
{
        assert_int_equal(u->h->out_lost, 0);
        assert_int_equal(lbh__close(u->h), 0); /* every frame back in the pool */
}

static void run(struct ut *u, uint64_t dt)
{
        lbh__clear(u->h);
        u->t += dt;
        lbh__run(u->h, u->t);
}

static struct lb_stats stats(const struct ut *u)
{
        struct lb_stats s;

        lbh__stats(u->h, &s);
        return s;
}

/* The counters of the broker named name. */
static struct lb_broker_stats bstats(const struct ut *u, const char *name)
{
        const struct plan *p = lb__plan(u->h->lb);
        struct lb_broker_stats *all = calloc(p->nbrokers, sizeof(*all)), r = {0};
        bool found = false;

        assert_non_null(all);
        lb_worker__broker_stats(u->h->lw, all, p->nbrokers);
        for (uint32_t i = 0; i < p->npools; i++)
                for (uint32_t b = 0; b < p->pools[i].nbrokers; b++)
                        if (!strcmp(p->pools[i].brokers[b].name, name)) {
                                r = all[p->pools[i].brokers[b].gid];
                                found = true;
                        }
        free(all);
        assert_true(found);
        return r;
}

static struct lbh_peer client4(uint32_t i, uint16_t port, uint16_t vip_port)
{
        return (struct lbh_peer){.family = 4,
                                 .addr = {10, 30, (uint8_t)(i >> 8), (uint8_t)i},
                                 .to = {10, 10, 0, 100},
                                 .port = port,
                                 .to_port = vip_port};
}

static struct lbh_peer client6(uint32_t i, uint16_t port, uint16_t vip_port)
{
        struct lbh_peer p = {.family = 6, .port = port, .to_port = vip_port};

        memcpy(p.addr, (uint8_t[16]){0xfd, 0, 0, 0x30, [14] = (uint8_t)(i >> 8), (uint8_t)i}, 16);
        memcpy(p.to, VIP6, 16);
        return p;
}

/* A payload of n bytes that says who sent it. */
static void fill(uint8_t *b, uint32_t n, uint32_t seed)
{
        for (uint32_t i = 0; i < n; i++)
                b[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

/* The only frame out of the last run, a UDP datagram with right checksums. */
static struct lbh_udp only_out(const struct ut *u)
{
        struct lbh_udp d;

        assert_int_equal(u->h->nout, 1);
        assert_true(lbh_udp__parse(&d, u->h->out[0].bytes, u->h->out[0].len));
        assert_int_equal(u->h->out[0].len, u->h->out[0].wire_len);
        assert_true(d.ok);
        return d;
}

/* The source address:port the backend sees is one of source_addresses,
 * its port in that address's range. */
static void check_source(const struct lbh_udp *d)
{
        if (d->family == 4) {
                if (!memcmp(d->saddr, SRC4A, 4)) {
                        assert_in_range(d->sport, 20000, 29999);
                } else {
                        assert_memory_equal(d->saddr, SRC4B, 4);
                        assert_in_range(d->sport, 30000, 39999);
                }
        } else {
                assert_memory_equal(d->saddr, SRC6, 16);
                assert_in_range(d->sport, 40000, 49999);
        }
}

/* Which backend d went to: its pool by the listener's port (5000:
 * collectors, IPv4; 5001: collectors6, IPv6). */
static int backend_of(const struct lbh_udp *d, uint16_t vip_port)
{
        assert_int_equal(d->dport, 9000);
        if (vip_port == 5000) {
                assert_int_equal(d->family, 4);
                for (int i = 0; i < 3; i++)
                        if (!memcmp(d->daddr, B4[i], 4))
                                return i;
        } else {
                assert_int_equal(d->family, 6);
                for (int i = 0; i < 2; i++)
                        if (!memcmp(d->daddr, B6[i], 16))
                                return i;
        }
        fail_msg("a datagram to no backend of the pool");
        return -1;
}

/* The client of r sends data: one datagram goes to a backend of the pool,
 * from a source address:port, payload exact; r takes where it went. */
static void c2b(struct ut *u, struct rec *r, const void *data, uint32_t len)
{
        struct lbh_udp d;

        assert_int_equal(lbh__send_udp(u->h, &r->cli, r->vlans, data, len), 0);
        run(u, MS);
        d = only_out(u);
        r->bi = backend_of(&d, r->cli.to_port);
        check_source(&d);
        assert_memory_equal(d.smac, LBH_LB_MAC, 6);
        assert_memory_equal(d.dmac, LBH_BROKER_MAC, 6);
        assert_int_equal(d.vlans.n, 0); /* the backends' side is untagged */
        assert_int_equal(d.plen, len);
        if (len)
                assert_memory_equal(d.payload, data, len);
        r->bfamily = d.family;
        memcpy(r->baddr, d.daddr, 16);
        memcpy(r->saddr, d.saddr, 16);
        r->sport = d.sport;
}

/* The peer of r's backend, answering the source address:port it saw. */
static struct lbh_peer backend_peer(const struct rec *r)
{
        struct lbh_peer b = {.family = r->bfamily,
                             .port = 9000,
                             .to_port = r->sport,
                             .mac = LBH_BROKER_MAC,
                             .to_mac = LBH_LB_MAC};

        memcpy(b.addr, r->baddr, 16);
        memcpy(b.to, r->saddr, 16);
        return b;
}

/* r's backend answers: the client gets it from the listener's address and
 * port, to its own address:port, with its VLAN tags, payload exact. */
static void b2c(struct ut *u, const struct rec *r, const void *data, uint32_t len)
{
        struct lbh_peer b = backend_peer(r);
        uint32_t alen = r->cli.family == 4 ? 4 : 16;
        struct lbh_udp d;

        assert_int_equal(lbh__send_udp(u->h, &b, NULL, data, len), 0);
        run(u, MS);
        d = only_out(u);
        assert_int_equal(d.family, r->cli.family);
        assert_memory_equal(d.saddr, r->cli.to, alen);
        assert_memory_equal(d.daddr, r->cli.addr, alen);
        assert_int_equal(d.sport, r->cli.to_port);
        assert_int_equal(d.dport, r->cli.port);
        assert_memory_equal(d.smac, LBH_LB_MAC, 6);     /* what the client sent to */
        assert_memory_equal(d.dmac, LBH_CLIENT_MAC, 6); /* the client */
        assert_int_equal(d.vlans.n, r->vlans ? r->vlans->n : 0);
        for (unsigned i = 0; i < d.vlans.n; i++) {
                assert_int_equal(d.vlans.tpid[i], r->vlans->tpid[i]);
                assert_int_equal(d.vlans.tci[i], r->vlans->tci[i]);
        }
        assert_int_equal(d.plen, len);
        if (len)
                assert_memory_equal(d.payload, data, len);
}

/* Nothing came out of the last run. */
static void nothing_out(const struct ut *u)
{
        assert_int_equal(u->h->nout, 0);
}

/* ---- 1. spread: one backend per client address, all used, exact ---------- */

#define NADDR 40
#define NPORT 3

static void test_spread(void **state)
{
        static struct rec r[NADDR][NPORT];
        static uint8_t buf[1400];
        struct ut u;
        int used[3] = {0};
        bool src_a = false, src_b = false;
        uint64_t bytes = 0, dgrams = 0;
        struct lb_stats s;

        (void)state;
        ut_open(&u, 16384);
        for (uint32_t a = 0; a < NADDR; a++)
                for (uint32_t k = 0; k < NPORT; k++) {
                        uint32_t len = a == 0 && k == 0   ? 0
                                       : a == 1 && k == 0 ? 1400
                                                          : 1 + (a * NPORT + k) * 17 % 300;

                        r[a][k].cli = client4(a + 1, (uint16_t)(40000 + 100 * k + a), 5000);
                        fill(buf, len, a * NPORT + k);
                        c2b(&u, &r[a][k], buf, len);
                        bytes += len;
                        dgrams++;
                        /* every port of one address: one backend */
                        assert_int_equal(r[a][k].bi, r[a][0].bi);
                        src_a |= !memcmp(r[a][k].saddr, SRC4A, 4);
                        src_b |= !memcmp(r[a][k].saddr, SRC4B, 4);
                }
        for (uint32_t a = 0; a < NADDR; a++)
                used[r[a][0].bi]++;
        print_message("spread: %d %d %d client addresses per backend\n", used[0], used[1], used[2]);
        assert_true(used[0] && used[1] && used[2]); /* every backend */
        assert_true(src_a && src_b);                /* both IPv4 source addresses */
        /* one source address:port per flow */
        for (uint32_t i = 0; i < NADDR * NPORT; i++)
                for (uint32_t j = i + 1; j < NADDR * NPORT; j++) {
                        const struct rec *x = &r[i / NPORT][i % NPORT];
                        const struct rec *y = &r[j / NPORT][j % NPORT];

                        assert_false(x->sport == y->sport && !memcmp(x->saddr, y->saddr, 4));
                }
        s = stats(&u);
        assert_int_equal(s.udp_flows_active, NADDR * NPORT);
        assert_int_equal(s.udp_flows_total, NADDR * NPORT);
        assert_int_equal(s.udp_to_backends, NADDR * NPORT);
        assert_int_equal(lbh__connections(u.h), NADDR * NPORT);
        /* a second datagram of each flow: the same flow (backend, source:port) */
        for (uint32_t a = 0; a < NADDR; a++)
                for (uint32_t k = 0; k < NPORT; k++) {
                        struct rec again = r[a][k];

                        fill(buf, 64, 1000 + a);
                        c2b(&u, &again, buf, 64);
                        bytes += 64;
                        dgrams++;
                        assert_int_equal(again.bi, r[a][k].bi);
                        assert_int_equal(again.sport, r[a][k].sport);
                        assert_memory_equal(again.saddr, r[a][k].saddr, 4);
                }
        s = stats(&u);
        assert_int_equal(s.udp_flows_total, NADDR * NPORT);
        assert_int_equal(s.udp_to_backends, 2 * NADDR * NPORT);
        assert_int_equal(s.udp_stray, 0);
        /* the per-backend counters add up */
        {
                uint64_t d = 0, b = 0;

                for (int i = 0; i < 3; i++) {
                        struct lb_broker_stats bs = bstats(&u, COLLECTORS[i]);

                        assert_int_equal(bs.datagrams_to, 2 * NPORT * used[i]);
                        d += bs.datagrams_to;
                        b += bs.bytes_to;
                }
                assert_int_equal(d, dgrams);
                assert_int_equal(b, bytes);
        }
        /* and a burst: all datagrams of one round, in order, each to its flow */
        for (uint32_t a = 0; a < NADDR; a++)
                assert_int_equal(lbh__send_udp(u.h, &r[a][2].cli, NULL, &a, sizeof(a)), 0);
        run(&u, MS);
        assert_int_equal(u.h->nout, NADDR);
        for (uint32_t a = 0; a < NADDR; a++) {
                struct lbh_udp d;

                assert_true(lbh_udp__parse(&d, u.h->out[a].bytes, u.h->out[a].len));
                assert_true(d.ok);
                assert_int_equal(backend_of(&d, 5000), r[a][2].bi);
                assert_int_equal(d.sport, r[a][2].sport);
                assert_int_equal(d.plen, sizeof(a));
                assert_memory_equal(d.payload, &a, sizeof(a));
        }
        ut_close(&u);
}

/* ---- 2. replies ------------------------------------------------------------ */

static void test_replies(void **state)
{
        static struct rec r[10][NPORT];
        static uint8_t buf[1400];
        struct ut u;
        struct lb_stats s;
        uint64_t from = 0, bytes = 0;

        (void)state;
        ut_open(&u, 16384);
        for (uint32_t a = 0; a < 10; a++)
                for (uint32_t k = 0; k < NPORT; k++) {
                        r[a][k].cli = client4(a + 1, (uint16_t)(41000 + 10 * a + k), 5000);
                        fill(buf, 20, a * 10 + k);
                        c2b(&u, &r[a][k], buf, 20);
                }
        for (uint32_t a = 0; a < 10; a++)
                for (uint32_t k = 0; k < NPORT; k++) {
                        uint32_t len = a == 0 && k == 0 ? 0 : a == 0 && k == 1 ? 1400 : 33 + a;

                        fill(buf, len, 7000 + a * 10 + k);
                        b2c(&u, &r[a][k], buf, len);
                        from++;
                        bytes += len;
                }
        s = stats(&u);
        assert_int_equal(s.udp_to_clients, from);
        assert_int_equal(s.udp_stray, 0);
        {
                uint64_t d = 0, b = 0;

                for (int i = 0; i < 3; i++) {
                        struct lb_broker_stats bs = bstats(&u, COLLECTORS[i]);

                        d += bs.datagrams_from;
                        b += bs.bytes_from;
                }
                assert_int_equal(d, from);
                assert_int_equal(b, bytes);
        }
        /* a reply to a source port no flow holds: dropped, counted */
        {
                struct rec ghost = r[0][0];
                struct lbh_peer b;
                bool taken;

                do { /* a port of the same range no flow took */
                        ghost.sport++;
                        taken = false;
                        for (uint32_t i = 0; i < 10 * NPORT; i++)
                                taken |= r[i / NPORT][i % NPORT].sport == ghost.sport &&
                                         !memcmp(r[i / NPORT][i % NPORT].saddr, ghost.saddr, 4);
                } while (taken);
                b = backend_peer(&ghost);
                assert_int_equal(lbh__send_udp(u.h, &b, NULL, "stray", 5), 0);
                run(&u, MS);
                nothing_out(&u);
                assert_int_equal(stats(&u).udp_stray, 1);
                /* the flow's source port, but from another port of the backend */
                b = backend_peer(&r[0][0]);
                b.port = 9001;
                assert_int_equal(lbh__send_udp(u.h, &b, NULL, "stray", 5), 0);
                /* and from another backend */
                b = backend_peer(&r[0][0]);
                memcpy(b.addr, B4[(r[0][0].bi + 1) % 3], 4);
                assert_int_equal(lbh__send_udp(u.h, &b, NULL, "stray", 5), 0);
                run(&u, MS);
                nothing_out(&u);
                assert_int_equal(stats(&u).udp_stray, 3);
                assert_int_equal(stats(&u).udp_to_clients, from);
        }
        ut_close(&u);
}

/* ---- 3. IPv6 and VLAN tags ------------------------------------------------- */

static void test_v6_and_vlans(void **state)
{
        static const struct lbh_vlans qinq = {2, {0x88a8, 0x8100}, {100, 200}};
        static const struct lbh_vlans dot1q = {1, {0x8100}, {42}};
        static uint8_t buf[1400];
        struct rec r;
        struct ut u;
        int seen4[3] = {0}, seen6[2] = {0};

        (void)state;
        ut_open(&u, 16384);
        /* IPv6 clients (two tags) to the IPv4 pool: to IPv4 backends, from
         * an IPv4 source; the replies back as IPv6 with the tags */
        for (uint32_t i = 1; i <= 12; i++) {
                struct rec r2;

                r = (struct rec){.cli = client6(i, 50000, 5000), .vlans = &qinq};
                fill(buf, 1400, i);
                c2b(&u, &r, buf, i == 1 ? 0 : 1400);
                assert_int_equal(r.bfamily, 4);
                seen4[r.bi]++;
                fill(buf, 1400, 100 + i);
                b2c(&u, &r, buf, i == 2 ? 0 : 1400);
                /* another port of the same address: the same backend */
                r2 = (struct rec){.cli = client6(i, 50001, 5000), .vlans = &qinq};
                c2b(&u, &r2, "x", 1);
                assert_int_equal(r2.bi, r.bi);
                b2c(&u, &r2, "y", 1);
        }
        print_message("v6 clients -> v4 backends: %d %d %d\n", seen4[0], seen4[1], seen4[2]);
        /* IPv6 clients to the IPv6 pool: from fd00:20::1 */
        for (uint32_t i = 1; i <= 12; i++) {
                r = (struct rec){.cli = client6(i, 50002, 5001), .vlans = &qinq};
                fill(buf, 1400, 200 + i);
                c2b(&u, &r, buf, 1400);
                assert_memory_equal(r.saddr, SRC6, 16);
                seen6[r.bi]++;
                b2c(&u, &r, buf, 1400);
        }
        print_message("v6 clients -> v6 backends: %d %d\n", seen6[0], seen6[1]);
        assert_true(seen6[0] && seen6[1]);
        /* IPv4 clients (one tag) to the IPv6 pool: the frame grows by 20
         * bytes toward the backend, by the tag toward the client */
        for (uint32_t i = 1; i <= 6; i++) {
                r = (struct rec){.cli = client4(i, 50003, 5001), .vlans = &dot1q};
                fill(buf, 1400, 300 + i);
                c2b(&u, &r, buf, 1400);
                assert_int_equal(r.bfamily, 6);
                b2c(&u, &r, buf, 1400);
                b2c(&u, &r, NULL, 0);
        }
        /* an IPv4 client with two tags to the IPv4 pool */
        r = (struct rec){.cli = client4(77, 50004, 5000), .vlans = &qinq};
        c2b(&u, &r, "ping", 4);
        b2c(&u, &r, "pong", 4);
        {
                struct lb_stats s = stats(&u);

                assert_int_equal(s.udp_flows_active, 12 * 2 + 12 + 6 + 1);
                assert_int_equal(s.udp_stray, 0);
                assert_int_equal(s.udp_too_big, 0);
        }
        ut_close(&u);
}

/* ---- 4. idle timeout ----------------------------------------------------- */

static void test_idle_timeout(void **state)
{
        struct ut u;
        struct rec r = {.cli = client4(1, 40000, 5000)}, r2, old;
        struct lb_stats s;
        uint64_t t0;

        (void)state;
        ut_open(&u, 16384);
        c2b(&u, &r, "one", 3);
        t0 = u.t;
        /* a reply 20 s later keeps it alive */
        run(&u, 20 * S);
        b2c(&u, &r, "reply", 5);
        /* just short of the idle timeout after the reply: still there */
        run(&u, IDLE_S * S - 10 * MS);
        assert_int_equal(stats(&u).udp_flows_active, 1);
        assert_int_equal(stats(&u).udp_idle_expired, 0);
        b2c(&u, &r, "still", 5);
        /* and the client's datagram keeps it alive too */
        run(&u, 20 * S);
        r2 = r;
        c2b(&u, &r2, "two", 3);
        assert_int_equal(r2.sport, r.sport);
        assert_int_equal(stats(&u).udp_flows_total, 1);
        /* then nothing for the idle timeout: gone */
        run(&u, IDLE_S * S + 50 * MS);
        nothing_out(&u);
        s = stats(&u);
        assert_int_equal(s.udp_idle_expired, 1);
        assert_int_equal(s.udp_flows_active, 0);
        assert_int_equal(lbh__connections(u.h), 0);
        assert_true(u.t - t0 > 2 * IDLE_S * S);
        /* the backend's reply finds no flow */
        {
                struct lbh_peer b = backend_peer(&r);

                assert_int_equal(lbh__send_udp(u.h, &b, NULL, "late", 4), 0);
                run(&u, MS);
                nothing_out(&u);
                assert_int_equal(stats(&u).udp_stray, 1);
        }
        /* a new datagram makes a new flow, to the same backend */
        old = r;
        c2b(&u, &r, "three", 5);
        assert_int_equal(r.bi, old.bi);
        s = stats(&u);
        assert_int_equal(s.udp_flows_total, 2);
        assert_int_equal(s.udp_flows_active, 1);
        print_message("idle: local port %u, then %u\n", old.sport, r.sport);
        b2c(&u, &r, "four", 4);
        ut_close(&u);
}

/* ---- 5. udp_max_flows ------------------------------------------------------ */

static void test_max_flows(void **state)
{
        struct ut u;
        struct rec r[9];
        struct lb_stats s;

        (void)state;
        ut_open(&u, 8);
        for (uint32_t i = 0; i < 8; i++) {
                r[i] = (struct rec){.cli = client4(i + 1, 40000, 5000)};
                c2b(&u, &r[i], "in", 2);
        }
        /* the 9th client: dropped, counted, every time */
        r[8] = (struct rec){.cli = client4(9, 40000, 5000)};
        for (int k = 0; k < 3; k++) {
                assert_int_equal(lbh__send_udp(u.h, &r[8].cli, NULL, "out", 3), 0);
                run(&u, MS);
                nothing_out(&u);
        }
        /* another port of a client already in is a new flow too */
        {
                struct lbh_peer p = client4(1, 40001, 5000);

                assert_int_equal(lbh__send_udp(u.h, &p, NULL, "out", 3), 0);
                run(&u, MS);
                nothing_out(&u);
        }
        s = stats(&u);
        assert_int_equal(s.udp_flows_full, 4);
        assert_int_equal(s.udp_flows_active, 8);
        assert_int_equal(s.udp_flows_total, 8);
        /* the first 8 still work, both ways */
        for (uint32_t i = 0; i < 8; i++) {
                struct rec again = r[i];

                c2b(&u, &again, "more", 4);
                assert_int_equal(again.sport, r[i].sport);
                b2c(&u, &r[i], "back", 4);
        }
        /* once they have gone idle, the 9th gets in */
        run(&u, IDLE_S * S + 50 * MS);
        assert_int_equal(stats(&u).udp_flows_active, 0);
        c2b(&u, &r[8], "now", 3);
        b2c(&u, &r[8], "yes", 3);
        s = stats(&u);
        assert_int_equal(s.udp_flows_full, 4);
        assert_int_equal(s.udp_flows_total, 9);
        ut_close(&u);
}

/* ---- 6. ICMP destination unreachable ------------------------------------- */

/* The datagram the last run sent (one), copied: its IP header and what
 * follows, qlen bytes of it (0: the whole IP datagram). */
static uint32_t quote_of(const struct ut *u, uint8_t *q, uint32_t qlen)
{
        struct lbh_udp d = only_out(u);
        uint32_t all = d.l4 + 8 + d.plen - d.l3;

        if (!qlen || qlen > all)
                qlen = all;
        memcpy(q, u->h->out[0].bytes + d.l3, qlen);
        return qlen;
}

static void test_icmp_unreachable(void **state)
{
        struct ut u;
        struct rec r[12], r6;
        uint8_t q[12][1600], q6[1600], qx[1600];
        uint32_t qn[12], q6n;
        struct lb_stats s;
        uint64_t t_icmp;
        struct lbh_peer b;
        int x = -1, y = -1;

        (void)state;
        ut_open(&u, 16384);
        for (uint32_t i = 0; i < 12; i++) {
                r[i] = (struct rec){.cli = client4(i + 1, 40000, 5000)};
                c2b(&u, &r[i], "data", 4);
                qn[i] = quote_of(&u, q[i], 20 + 8); /* RFC 792: the header and 8 bytes */
        }
        r6 = (struct rec){.cli = client6(1, 40000, 5001)};
        c2b(&u, &r6, "data6", 5);
        q6n = quote_of(&u, q6, 0); /* the whole datagram, as Linux quotes it */
        /* two flows on two different backends */
        x = 0;
        for (int i = 1; i < 12 && y < 0; i++)
                if (r[i].bi != r[x].bi)
                        y = i;
        assert_true(y > 0);
        /* port unreachable from x's backend, quoting x's datagram */
        b = backend_peer(&r[x]);
        assert_int_equal(lbh__send_icmp_unreach(u.h, &b, 3, q[x], qn[x]), 0);
        run(&u, MS);
        nothing_out(&u);
        t_icmp = u.t;
        s = stats(&u);
        assert_int_equal(s.udp_icmp_unreachable, 1);
        assert_int_equal(s.udp_flows_active, 12);
        assert_int_equal(s.udp_stray, 0);
        assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS[r[x].bi]), t_icmp);
        for (int i = 0; i < 3; i++)
                if (i != r[x].bi)
                        assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS[i]), 0);
        /* x's flow is gone: its backend's reply finds nothing */
        assert_int_equal(lbh__send_udp(u.h, &b, NULL, "late", 4), 0);
        run(&u, MS);
        nothing_out(&u);
        assert_int_equal(stats(&u).udp_stray, 1);
        /* the same ICMP again: no flow any more, nothing marked again */
        assert_int_equal(lbh__send_icmp_unreach(u.h, &b, 3, q[x], qn[x]), 0);
        run(&u, 5 * MS);
        assert_int_equal(stats(&u).udp_stray, 2);
        assert_int_equal(stats(&u).udp_icmp_unreachable, 1);
        assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS[r[x].bi]), t_icmp);
        /* an ICMP quoting no flow (y's datagram, another local port) */
        memcpy(qx, q[y], qn[y]);
        qx[20] ^= 0x40; /* the quoted source port: 16384 off, in no range here */
        b = backend_peer(&r[y]);
        assert_int_equal(lbh__send_icmp_unreach(u.h, &b, 3, qx, qn[y]), 0);
        /* one quoting y's datagram with another backend port */
        memcpy(qx, q[y], qn[y]);
        qx[23] ^= 1;
        assert_int_equal(lbh__send_icmp_unreach(u.h, &b, 3, qx, qn[y]), 0);
        run(&u, MS);
        nothing_out(&u);
        s = stats(&u);
        assert_int_equal(s.udp_stray, 4);
        assert_int_equal(s.udp_icmp_unreachable, 1);
        assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS[r[y].bi]), 0);
        assert_int_equal(s.udp_flows_active, 12);
        /* forged: y's exact quote, but the port unreachable comes from
         * another host (a client's address: only the backend's own host
         * sends one), or a host unreachable (a router's) on the clients'
         * port in this one-armed set-up: neither is believed */
        {
                struct lbh_peer forger = backend_peer(&r[y]);

                memcpy(forger.addr, r[x].cli.addr, 16);
                assert_int_equal(lbh__send_icmp_unreach(u.h, &forger, 3, q[y], qn[y]), 0);
                forger = backend_peer(&r[y]);
                assert_int_equal(lbh__send_icmp_unreach(u.h, &forger, 1, q[y], qn[y]), 0);
                run(&u, MS);
                nothing_out(&u);
                s = stats(&u);
                assert_int_equal(s.udp_stray, 6);
                assert_int_equal(s.udp_icmp_unreachable, 1);
                assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS[r[y].bi]), 0);
                assert_int_equal(s.udp_flows_active, 12);
        }
        /* y still works */
        b2c(&u, &r[y], "ok", 2);
        /* ICMPv6 port unreachable (type 1 code 4) quoting a whole v6 datagram */
        b = backend_peer(&r6);
        assert_int_equal(lbh__send_icmp_unreach(u.h, &b, 4, q6, q6n), 0);
        run(&u, MS);
        nothing_out(&u);
        s = stats(&u);
        assert_int_equal(s.udp_icmp_unreachable, 2);
        assert_int_equal(s.udp_flows_active, 11);
        assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS6[r6.bi]), u.t);
        assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS6[1 - r6.bi]), 0);
        /* the client's host answers y's reply with port unreachable: it
         * quotes VIP:5000 -> client, the client's own key: not a backend's,
         * nothing marked, y's flow stays */
        {
                struct lbh_peer by = backend_peer(&r[y]);
                struct lbh_udp d;
                uint8_t qc[28];

                assert_int_equal(lbh__send_udp(u.h, &by, NULL, "to you", 6), 0);
                run(&u, MS);
                d = only_out(&u);
                memcpy(qc, u.h->out[0].bytes + d.l3, sizeof(qc));
                assert_int_equal(lbh__send_icmp_unreach(u.h, &r[y].cli, 3, qc, sizeof(qc)), 0);
                run(&u, MS);
                nothing_out(&u);
                s = stats(&u);
                assert_int_equal(s.udp_stray, 7);
                assert_int_equal(s.udp_icmp_unreachable, 2);
                assert_int_equal(s.udp_flows_active, 11);
                assert_int_equal(lb__udp_down_ns(u.h->lb, COLLECTORS[r[y].bi]), 0);
                b2c(&u, &r[y], "still", 5);
        }
        /* x's next datagram makes a new flow (the plan is unchanged here:
         * taking the backend out is the control thread's) */
        {
                struct rec again = r[x];

                c2b(&u, &again, "again", 5);
                assert_int_equal(stats(&u).udp_flows_total, 12 + 1 + 1);
                b2c(&u, &again, "back", 4);
        }
        ut_close(&u);
}

/* ---- 7. a plan without a backend, and with it back ------------------------ */

/* A new plan from u's configuration with broker down of pool collectors
 * marked down (-1: all up), published. */
static void publish(struct ut *u, int down)
{
        struct plan *p;
        char err[256];

        if (lbh__plan(&p, u->yaml, err, sizeof(err)))
                fail_msg("plan: %s", err);
        if (down >= 0) {
                bool found = false;

                for (uint32_t i = 0; i < p->npools; i++)
                        if (!strcmp(p->pools[i].name, "collectors")) {
                                assert_string_equal(p->pools[i].brokers[down].name,
                                                    COLLECTORS[down]);
                                assert_int_equal(
                                    pool__set_up(p->pools[i].pool, (uint32_t)down, false), 1);
                                found = true;
                        }
                assert_true(found);
        }
        assert_int_equal(lbh__set_plan(u->h, p), 0);
}

#define MADDR 60

/* Every flow of r sends a datagram; where each went, in r. Returns how many
 * flows and how many client addresses went to another backend than before. */
static void send_all(struct ut *u, struct rec (*r)[NPORT], uint32_t *flows_moved,
                     uint32_t *addrs_moved, int down)
{
        *flows_moved = *addrs_moved = 0;
        for (uint32_t a = 0; a < MADDR; a++) {
                bool moved = false;

                for (uint32_t k = 0; k < NPORT; k++) {
                        struct rec before = r[a][k];

                        c2b(u, &r[a][k], &a, sizeof(a));
                        assert_true(r[a][k].bi != down);
                        assert_int_equal(r[a][k].bi, r[a][0].bi); /* still one per address */
                        if (r[a][k].bi != before.bi) {
                                struct lbh_peer b = backend_peer(&before);

                                (*flows_moved)++;
                                moved = true;
                                /* the old backend's reply to the old flow: gone */
                                assert_int_equal(lbh__send_udp(u->h, &b, NULL, "old", 3), 0);
                                run(u, MS);
                                nothing_out(u);
                        } else {
                                /* the same flow carried on */
                                assert_int_equal(r[a][k].sport, before.sport);
                                assert_memory_equal(r[a][k].saddr, before.saddr, 4);
                        }
                        b2c(u, &r[a][k], "reply", 5);
                }
                *addrs_moved += moved;
        }
}

static void test_plan_moves(void **state)
{
        static struct rec r[MADDR][NPORT], orig[MADDR][NPORT];
        struct ut u;
        uint32_t on_b = 0, addrs_on_b = 0, out_f, out_a, back_f, back_a;
        uint64_t stray0;
        struct lb_stats s;
        const int B = 1;

        (void)state;
        ut_open(&u, 16384);
        for (uint32_t a = 0; a < MADDR; a++) {
                for (uint32_t k = 0; k < NPORT; k++) {
                        r[a][k].cli = client4(a + 1, (uint16_t)(42000 + k), 5000);
                        c2b(&u, &r[a][k], &a, sizeof(a));
                        on_b += r[a][k].bi == B;
                }
                addrs_on_b += r[a][0].bi == B;
        }
        memcpy(orig, r, sizeof(r));
        assert_true(addrs_on_b > 0);
        /* B down */
        publish(&u, B);
        stray0 = stats(&u).udp_stray;
        send_all(&u, r, &out_f, &out_a, B);
        s = stats(&u);
        print_message("backend %s down: %u flows (%u sources) were on it; %u flows (%u sources) "
                      "moved; udp_flows_moved %llu\n",
                      COLLECTORS[B], on_b, addrs_on_b, out_f, out_a,
                      (unsigned long long)s.udp_flows_moved);
        assert_int_equal(s.udp_flows_moved, on_b);
        assert_int_equal(out_f, on_b);
        assert_int_equal(out_a, addrs_on_b);
        assert_int_equal(s.udp_flows_total, MADDR * NPORT + on_b);
        assert_int_equal(s.udp_flows_active, MADDR * NPORT);
        assert_int_equal(s.udp_stray - stray0, on_b); /* the old flows' replies */
        for (uint32_t a = 0; a < MADDR; a++)
                if (orig[a][0].bi != B)
                        assert_int_equal(r[a][0].bi, orig[a][0].bi);
        /* B back up */
        publish(&u, -1);
        send_all(&u, r, &back_f, &back_a, -1);
        s = stats(&u);
        print_message("backend %s back: %u flows (%u sources) moved back; udp_flows_moved %llu\n",
                      COLLECTORS[B], back_f, back_a, (unsigned long long)s.udp_flows_moved);
        assert_int_equal(back_f, on_b);
        assert_int_equal(back_a, addrs_on_b);
        assert_int_equal(s.udp_flows_moved, 2 * on_b);
        for (uint32_t a = 0; a < MADDR; a++)
                assert_int_equal(r[a][0].bi, orig[a][0].bi); /* where they were */
        /* every backend down: each flow ends at its next datagram, which is
         * dropped (udp_no_backend) */
        {
                struct plan *p;
                char err[256];
                struct lb_stats s0 = stats(&u);

                if (lbh__plan(&p, u.yaml, err, sizeof(err)))
                        fail_msg("plan: %s", err);
                for (uint32_t i = 0; i < 3; i++)
                        assert_true(pool__set_up(p->pools[0].pool, i, false) >= 0);
                assert_string_equal(p->pools[0].name, "collectors");
                assert_int_equal(lbh__set_plan(u.h, p), 0);
                for (uint32_t a = 0; a < MADDR; a++)
                        assert_int_equal(lbh__send_udp(u.h, &r[a][0].cli, NULL, "x", 1), 0);
                run(&u, MS);
                nothing_out(&u);
                s = stats(&u);
                assert_int_equal(s.udp_no_backend - s0.udp_no_backend, MADDR);
                assert_int_equal(s.udp_flows_active, MADDR * (NPORT - 1));
                assert_int_equal(s.udp_to_backends, s0.udp_to_backends);
                /* back up: the flows are made again, each where it was */
                publish(&u, -1);
                for (uint32_t a = 0; a < MADDR; a++) {
                        c2b(&u, &r[a][0], "y", 1);
                        assert_int_equal(r[a][0].bi, orig[a][0].bi);
                }
                assert_int_equal(stats(&u).udp_flows_active, MADDR * NPORT);
        }
        ut_close(&u);
}

/* ---- 8. TCP beside it ------------------------------------------------------ */

static const uint8_t CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                  0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};
static const uint8_t PUBLISH[] = {0x30, 0x0f, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e',
                                  's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};

/* The only TCP segment of the last run to daddr (IPv4), every frame out a
 * TCP segment with right checksums. */
static const struct lbh_frame *tcp_to(const struct ut *u, const uint8_t *daddr)
{
        const struct lbh_frame *f = NULL;

        for (uint32_t i = 0; i < u->h->nout; i++) {
                const struct lbh_frame *g = &u->h->out[i];

                assert_int_equal(g->bytes[23], 6); /* IPv4, protocol TCP */
                assert_true(g->ok);
                if (!memcmp(g->daddr, daddr, 4)) {
                        assert_null(f);
                        f = g;
                }
        }
        assert_non_null(f);
        return f;
}

static void tcp_send(struct ut *u, const struct lbh_peer *p, uint8_t flags, uint32_t seq,
                     uint32_t ack, const void *data, uint32_t len)
{
        assert_int_equal(
            lbh__send(
                u->h, p,
                &(struct lbh_seg){
                    .flags = flags, .seq = seq, .ack = ack, .win = 1000, .data = data, .len = len}),
            0);
}

static void test_tcp_beside(void **state)
{
        struct ut u;
        struct rec ur = {.cli = client4(5, 45000, 5000)};
        struct lbh_peer cli = {.family = 4,
                               .addr = {10, 30, 9, 9},
                               .to = {10, 10, 0, 100},
                               .port = 46000,
                               .to_port = 1883};
        struct lbh_peer brk = {.family = 4, .port = 1883, .mac = LBH_BROKER_MAC};
        const struct lbh_frame *f;
        uint32_t c_nxt = 1001, c_rcv, b_isn, b_nxt = 5001;
        struct lb_stats s0, s;

        (void)state;
        ut_open(&u, 16384);
        c2b(&u, &ur, "udp", 3);
        /* the MQTT client: handshake (SYN cookie), CONNECT (answered), PUBLISH
         * (binds: SYN to the broker) */
        tcp_send(&u, &cli, TCP_OUT_SYN, 1000, 0, NULL, 0);
        run(&u, MS);
        f = tcp_to(&u, cli.addr);
        assert_int_equal(f->flags, TCP_OUT_SYN | TCP_OUT_ACK);
        c_rcv = f->seq + 1;
        tcp_send(&u, &cli, TCP_OUT_ACK, c_nxt, c_rcv, CONNECT, sizeof(CONNECT));
        c_nxt += sizeof(CONNECT);
        run(&u, MS);
        f = tcp_to(&u, cli.addr);
        assert_int_equal(f->plen, 4); /* the CONNACK */
        c_rcv += 4;
        c2b(&u, &ur, "udp between", 11);
        b2c(&u, &ur, "udp reply", 9);
        tcp_send(&u, &cli, TCP_OUT_ACK, c_nxt, c_rcv, PUBLISH, sizeof(PUBLISH));
        c_nxt += sizeof(PUBLISH);
        run(&u, MS);
        f = tcp_to(&u, MQTT_BROKER);
        assert_true(f->flags & TCP_OUT_SYN);
        assert_memory_equal(f->daddr, MQTT_BROKER, 4);
        assert_int_equal(f->dport, 1883);
        b_isn = f->seq;
        memcpy(brk.addr, f->daddr, 4);
        memcpy(brk.to, f->saddr, 4);
        brk.to_port = f->sport;
        /* the broker's SYN-ACK: the replay (CONNECT + PUBLISH) */
        tcp_send(&u, &brk, TCP_OUT_SYN | TCP_OUT_ACK, 5000, b_isn + 1, NULL, 0);
        run(&u, MS);
        f = tcp_to(&u, MQTT_BROKER);
        assert_int_equal(f->plen, sizeof(CONNECT) + sizeof(PUBLISH));
        assert_memory_equal(f->payload, CONNECT, sizeof(CONNECT));
        tcp_send(&u, &brk, TCP_OUT_ACK, b_nxt, b_isn + 1 + f->plen, (uint8_t[]){0x20, 2, 0, 0}, 4);
        b_nxt += 4;
        run(&u, MS);
        s = stats(&u);
        assert_int_equal(s.spliced, 1);
        /* spliced: client data reaches the broker */
        tcp_send(&u, &cli, TCP_OUT_ACK, c_nxt, c_rcv, PUBLISH, sizeof(PUBLISH));
        run(&u, MS);
        f = tcp_to(&u, MQTT_BROKER);
        assert_memory_equal(f->daddr, MQTT_BROKER, 4);
        assert_int_equal(f->plen, sizeof(PUBLISH));
        assert_memory_equal(f->payload, PUBLISH, sizeof(PUBLISH));
        c2b(&u, &ur, "udp after", 9);
        b2c(&u, &ur, "udp reply", 9);

        s0 = stats(&u);
        /* a TCP SYN to the UDP port: dropped, stray */
        {
                struct lbh_peer p = cli;

                p.to_port = 5000;
                tcp_send(&u, &p, TCP_OUT_SYN, 1, 0, NULL, 0);
                tcp_send(&u, &p, TCP_OUT_ACK, 1, 1, "x", 1);
        }
        run(&u, MS);
        nothing_out(&u);
        s = stats(&u);
        assert_int_equal(s.stray - s0.stray, 2);
        assert_int_equal(s.syncookies_sent, s0.syncookies_sent);
        /* a UDP datagram to the MQTT port: dropped, udp_stray */
        {
                struct lbh_peer p = cli;

                assert_int_equal(lbh__send_udp(u.h, &p, NULL, "x", 1), 0);
        }
        /* a UDP datagram from the MQTT broker to its leg's source port */
        assert_int_equal(lbh__send_udp(u.h, &brk, NULL, "x", 1), 0);
        run(&u, MS);
        nothing_out(&u);
        s = stats(&u);
        assert_int_equal(s.udp_stray - s0.udp_stray, 2);
        assert_int_equal(s.udp_flows_total, s0.udp_flows_total);
        /* a TCP segment from the UDP backend to the UDP flow's source port:
         * no TCP connection there (stray; answered by an RST as a closed port) */
        {
                struct lbh_peer p = backend_peer(&ur);

                tcp_send(&u, &p, TCP_OUT_ACK, 77, 88, "x", 1);
                run(&u, MS);
                s = stats(&u);
                assert_int_equal(s.stray - s0.stray, 3);
                print_message("TCP to a UDP flow's source port: %u frame(s) out, stray_reset "
                              "%llu\n",
                              u.h->nout, (unsigned long long)(s.stray_reset - s0.stray_reset));
                for (uint32_t i = 0; i < u.h->nout; i++) {
                        assert_true(u.h->out[i].ok);
                        assert_true(u.h->out[i].flags & TCP_OUT_RST);
                }
        }
        /* both still work */
        c2b(&u, &ur, "udp last", 8);
        b2c(&u, &ur, "udp reply", 9);
        tcp_send(&u, &cli, TCP_OUT_ACK, c_nxt + sizeof(PUBLISH), c_rcv, PUBLISH, sizeof(PUBLISH));
        run(&u, MS);
        f = tcp_to(&u, MQTT_BROKER);
        assert_int_equal(f->plen, sizeof(PUBLISH));
        assert_int_equal(stats(&u).conn_active, 1);
        ut_close(&u);
}

/* ---- too big ------------------------------------------------------------- */

static void test_too_big(void **state)
{
        static uint8_t buf[UMEM_FRAME_SIZE];
        struct ut u;
        struct rec r = {.cli = client4(1, 40000, 5001)};
        const uint32_t fits = UMEM_FRAME_SIZE - 14 - 40 - 8; /* as IPv6 */
        struct lb_stats s;

        (void)state;
        ut_open(&u, 16384);
        /* IPv4 to an IPv6 backend: 20 bytes more; a full frame cannot grow */
        fill(buf, fits + 20, 1);
        assert_int_equal(lbh__send_udp(u.h, &r.cli, NULL, buf, fits + 20), 0);
        run(&u, MS);
        nothing_out(&u);
        s = stats(&u);
        assert_int_equal(s.udp_too_big, 1);
        /* one that fits exactly: out, the whole frame */
        assert_int_equal(lbh__send_udp(u.h, &r.cli, NULL, buf, fits), 0);
        run(&u, MS);
        assert_int_equal(u.h->nout, 1);
        assert_int_equal(u.h->out[0].wire_len, UMEM_FRAME_SIZE);
        s = stats(&u);
        assert_int_equal(s.udp_too_big, 1);
        assert_int_equal(s.udp_to_backends, 1);
        ut_close(&u);
}

/* ---- local ports exhausted ---------------------------------------------- */

static const char NARROW[] =
    "interfaces: [{name: lb0}]\n"
    "listeners: [{address: 10.10.0.100, port: 5000, protocol: udp, pool: collectors}]\n"
    "source_addresses: [\"10.20.0.1:20000-20002\"]\n"
    "pools:\n"
    "  - name: collectors\n"
    "    brokers: [\"10.20.0.11:9000\", \"10.20.0.12:9000\", \"10.20.0.13:9000\"]\n"
    "    balance: source-ip\n"
    "connections: {udp_idle_timeout: 30s}\n";

/* Three local ports: a port is taken per backend (the reply key holds the
 * backend), so at most 3 flows per backend; past that a new client's
 * datagram is dropped (ports_exhausted), the others carry on, and a port
 * freed by an idle flow is taken again. */
static void test_ports_exhausted(void **state)
{
        struct ut u;
        struct rec r[30];
        int per[3] = {0}, in = 0, out = 0;
        struct lb_stats s;

        (void)state;
        ut_open_yaml(&u, NARROW, 0);
        for (uint32_t i = 0; i < 30; i++) {
                r[i] = (struct rec){.cli = client4(i + 1, 40000, 5000)};
                assert_int_equal(lbh__send_udp(u.h, &r[i].cli, NULL, "hello", 5), 0);
                run(&u, MS);
                if (u.h->nout) {
                        struct lbh_udp d = only_out(&u);

                        r[i].bi = backend_of(&d, 5000);
                        assert_in_range(d.sport, 20000, 20002);
                        per[r[i].bi]++;
                        r[i].bfamily = 4;
                        memcpy(r[i].baddr, d.daddr, 16);
                        memcpy(r[i].saddr, d.saddr, 16);
                        r[i].sport = d.sport;
                        in++;
                } else {
                        r[i].bi = -1;
                        out++;
                }
        }
        print_message("3 local ports: %d flows (%d %d %d per backend), %d clients refused\n", in,
                      per[0], per[1], per[2], out);
        for (int i = 0; i < 3; i++)
                assert_true(per[i] <= 3);
        s = stats(&u);
        assert_int_equal(s.ports_exhausted, out);
        assert_int_equal(s.udp_flows_active, in);
        assert_int_equal(lbh__connections(u.h), in);
        assert_true(out > 0);
        for (uint32_t i = 0; i < 30; i++)
                if (r[i].bi >= 0)
                        b2c(&u, &r[i], "reply", 5);
        /* idle: every port free again */
        run(&u, IDLE_S * S + 50 * MS);
        assert_int_equal(stats(&u).udp_flows_active, 0);
        for (uint32_t i = 0; i < 30; i++)
                if (r[i].bi < 0) {
                        assert_int_equal(lbh__send_udp(u.h, &r[i].cli, NULL, "again", 5), 0);
                        run(&u, MS);
                        if (u.h->nout)
                                break;
                }
        assert_int_equal(u.h->nout, 1);
        ut_close(&u);
}

/* ---- regressions ----------------------------------------------------------- */

/*
 * A datagram whose UDP checksum is wrong (corrupted on the client's link)
 * must not reach the backend with a right one. Rewritten in place (the same
 * family either side) its checksum is updated incrementally, so it stays
 * wrong and the backend drops it; rebuilt (IPv4 to an IPv6 backend, with a
 * new checksum) it is checked first and dropped (udp_bad_checksum).
 */
static void test_bad_checksum_kept_or_dropped(void **state)
{
        struct ut u;
        struct rec r = {.cli = client4(1, 40000, 5000)}, r6 = {.cli = client4(2, 40000, 5001)};
        uint8_t frame[256];
        struct lbh_udp d;
        struct lb_stats st;
        int n;

        (void)state;
        ut_open(&u, 16384);
        /* in place: forwarded, the checksum still wrong */
        n = lbh__build_udp(frame, sizeof(frame), &r.cli, NULL, "abcd", 4);
        assert_true(n > 0);
        frame[14 + 20 + 8] ^= 0xff; /* the payload's first byte: the checksum is now wrong */
        assert_int_equal(lbh__inject(u.h, frame, (uint32_t)n), 0);
        run(&u, MS);
        assert_int_equal(u.h->nout, 1);
        assert_true(lbh_udp__parse(&d, u.h->out[0].bytes, u.h->out[0].len));
        assert_false(d.ok); /* not sent with a valid checksum */
        assert_int_equal(d.plen, 4);
        /* the same datagram intact: sent with a valid one (the update is right) */
        frame[14 + 20 + 8] ^= 0xff;
        assert_int_equal(lbh__inject(u.h, frame, (uint32_t)n), 0);
        run(&u, MS);
        assert_int_equal(u.h->nout, 1);
        assert_true(lbh_udp__parse(&d, u.h->out[0].bytes, u.h->out[0].len));
        assert_true(d.ok);
        /* rebuilt for an IPv6 backend: checked and dropped */
        n = lbh__build_udp(frame, sizeof(frame), &r6.cli, NULL, "abcd", 4);
        assert_true(n > 0);
        frame[14 + 20 + 8] ^= 0xff;
        assert_int_equal(lbh__inject(u.h, frame, (uint32_t)n), 0);
        run(&u, MS);
        assert_int_equal(u.h->nout, 0);
        lbh__stats(u.h, &st);
        assert_int_equal(st.udp_bad_checksum, 1);
        ut_close(&u);
}

/* A reload that points the udp listener at another pool: new clients go to
 * the new pool, and a flow made before moves there at its next datagram. */
static void test_listener_repointed(void **state)
{
        static const char TWO[] =
            "interfaces: [{name: lb0}]\n"
            "listeners: [{address: 10.10.0.100, port: 5000, protocol: udp, pool: %s}]\n"
            "source_addresses: [\"10.20.0.1:20000-29999\"]\n"
            "pools:\n"
            "  - name: collectors\n"
            "    brokers: [\"10.20.0.11:9000\", \"10.20.0.12:9000\", \"10.20.0.13:9000\"]\n"
            "    balance: source-ip\n"
            "  - name: other\n"
            "    brokers: [\"10.20.0.31:9000\"]\n";
        char yaml[1024], err[256];
        struct ut u;
        struct plan *p;
        struct lbh_peer c1 = client4(1, 40000, 5000), c2 = client4(2, 40000, 5000);
        struct lbh_udp d;

        (void)state;
        snprintf(yaml, sizeof(yaml), TWO, "collectors");
        ut_open_yaml(&u, yaml, 0);
        assert_int_equal(lbh__send_udp(u.h, &c1, NULL, "a", 1), 0);
        run(&u, MS);
        d = only_out(&u);
        assert_int_equal(d.daddr[3] / 10, 1); /* 10.20.0.1x: collectors */
        snprintf(yaml, sizeof(yaml), TWO, "other");
        if (lbh__plan(&p, yaml, err, sizeof(err)))
                fail_msg("plan: %s", err);
        assert_int_equal(lbh__set_plan(u.h, p), 0);
        assert_int_equal(lbh__send_udp(u.h, &c2, NULL, "b", 1), 0);
        run(&u, MS);
        d = only_out(&u);
        assert_int_equal(d.daddr[3], 31); /* a new client: the new pool */
        assert_int_equal(lbh__send_udp(u.h, &c1, NULL, "c", 1), 0);
        run(&u, MS);
        d = only_out(&u);
        assert_int_equal(d.daddr[3], 31); /* moved to other: 10.20.0.31 */
        ut_close(&u);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_spread),
            cmocka_unit_test(test_replies),
            cmocka_unit_test(test_v6_and_vlans),
            cmocka_unit_test(test_idle_timeout),
            cmocka_unit_test(test_max_flows),
            cmocka_unit_test(test_icmp_unreachable),
            cmocka_unit_test(test_plan_moves),
            cmocka_unit_test(test_tcp_beside),
            cmocka_unit_test(test_too_big),
            cmocka_unit_test(test_ports_exhausted),
            cmocka_unit_test(test_bad_checksum_kept_or_dropped),
            cmocka_unit_test(test_listener_repointed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
