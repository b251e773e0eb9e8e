/*
 * MQTT-SN listeners (core/lb/lb_udp.c, `protocol: mqtt-sn`) through the real
 * balancer on the offline harness (tests/lib lb_harness): datagrams injected
 * from clients and gateways, every datagram the balancer sends parsed and
 * checked (both checksums, addresses, ports, payload byte-exact).
 *
 * The gateway a client id belongs to is computed here apart from the
 * balancer: Maglev's lookup (core/route/maglev.h) of hash__client_id in the
 * pool's table of the plan in force; the gateway of an address likewise
 * with hash__addr.
 *
 * Checked: a CONNECT's flow goes to its client id's gateway, from any
 * address and port, and the flow's PUBLISH and PINGREQ follow it; a
 * datagram without a CONNECT on a new flow goes by the client's address; a
 * flow bound by address moves at a CONNECT whose id maps elsewhere
 * (mqttsn_rebound) and stays at one that maps to its gateway; malformed
 * datagrams are never forwarded, are counted by reason, make no flow and do
 * not disturb the flow they arrive on; an encapsulated CONNECT binds by the
 * inner client id; an ICMP port unreachable ends the flow and marks the
 * gateway, and a plan without that gateway moves only its ids; the
 * gateways' replies reach the client from the listener's address and port.
 * Every case ends with the frame ledger balanced.
 *
 * One regression: a flow bound by its client id that a plan moves (its
 * gateway left) stays bound by that id (test_moved_flow_keeps_its_id); it
 * was made again by the client's address, so it reached the address's
 * gateway and did not return when its gateway came back.
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
#include "core/route/maglev.h"
#include "core/route/pool.h"
#include "core/util/hash.h"
#include "mqttsn/reader.h"

#define MS 1000000ull
#define S  (1000 * MS)

#define SN_PORT 1884
#define GW_PORT 10000
#define NGW     3

static const char YAML[] =
    "interfaces: [{name: lb0}]\n"
    "listeners: [{address: 10.10.0.100, port: 1884, protocol: mqtt-sn, pool: gateways}]\n"
    "source_addresses: [\"10.20.0.1:20000-29999\", \"10.20.0.2:30000-39999\"]\n"
    "workers: 1\n"
    "pools:\n"
    "  - name: gateways\n"
    "    brokers: [\"10.20.0.11:10000\", \"10.20.0.12:10000\", \"10.20.0.13:10000\"]\n"
    "connections: {udp_idle_timeout: 30s}\n";

static const char *const GW[NGW] = {"10.20.0.11:10000", "10.20.0.12:10000", "10.20.0.13:10000"};
static const uint8_t GWA[NGW][4] = {{10, 20, 0, 11}, {10, 20, 0, 12}, {10, 20, 0, 13}};
static const uint8_t VIP[4] = {10, 10, 0, 100};
static const uint8_t SRC4A[4] = {10, 20, 0, 1}, SRC4B[4] = {10, 20, 0, 2};

struct ut {
        struct lbh *h;
        uint64_t t;
};

/* A flow as both ends see it. */
struct rec {
        struct lbh_peer cli; /* the client, to the listener */
        int gi;              /* the gateway it reached (index in GW) */
        uint8_t saddr[4];    /* the source address:port the gateway sees */
        uint16_t sport;
};

static void ut_open(struct ut *u)
{
        char err[256];

        memset(u, 0, sizeof(*u));
        if (lbh__open(&u->h, &(struct lbh_cfg){.yaml = YAML}, err, sizeof(err)))
                fail_msg("harness: %s", err);
        u->t = 1000 * MS;
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

/* The pool "gateways" of the plan in force, its brokers in GW's order. */
static const struct plan_pool *gw_pool(const struct ut *u)
{
        const struct plan *p = lb__plan(u->h->lb);

        assert_int_equal(p->npools, 1);
        assert_string_equal(p->pools[0].name, "gateways");
        assert_int_equal(p->pools[0].nbrokers, NGW);
        for (int i = 0; i < NGW; i++)
                assert_string_equal(p->pools[0].brokers[i].name, GW[i]);
        return &p->pools[0];
}

/* The gateway Maglev gives a client id in the plan in force. */
static int gw_of_id(const struct ut *u, const char *id)
{
        const struct maglev *m = pool__maglev(gw_pool(u)->pool);
        uint16_t i;

        assert_non_null(m);
        i = maglev__lookup(m, hash__client_id((const uint8_t *)id, strlen(id)));
        assert_true(i < NGW);
        return i;
}

/* The gateway Maglev gives a client address (IPv4) in the plan in force. */
static int gw_of_addr(const struct ut *u, const uint8_t *addr)
{
        const struct maglev *m = pool__maglev(gw_pool(u)->pool);
        uint16_t i;

        assert_non_null(m);
        i = maglev__lookup(m, hash__addr(addr, 4));
        assert_true(i < NGW);
        return i;
}

/* The counters of gateway gi. */
static struct lb_broker_stats gstats(const struct ut *u, int gi)
{
        const struct plan *p = lb__plan(u->h->lb);
        struct lb_broker_stats *all = calloc(p->nbrokers, sizeof(*all)), r;

        assert_non_null(all);
        lb_worker__broker_stats(u->h->lw, all, p->nbrokers);
        r = all[gw_pool(u)->brokers[gi].gid];
        free(all);
        return r;
}

static struct lbh_peer client(uint8_t net, uint32_t i, uint16_t port)
{
        return (struct lbh_peer){.family = 4,
                                 .addr = {10, net, (uint8_t)(i >> 8), (uint8_t)i},
                                 .to = {10, 10, 0, 100},
                                 .port = port,
                                 .to_port = SN_PORT};
}

/* ---- MQTT-SN messages (MQTT-SN 1.2 §5.4) ---------------------------------- */

static uint32_t sn_connect(uint8_t *b, const char *id)
{
        uint32_t n = (uint32_t)strlen(id);

        b[0] = (uint8_t)(6 + n);
        b[1] = MQTTSN_CONNECT;
        b[2] = MQTTSN_FLAG_CLEAN_SESSION;
        b[3] = MQTTSN_PROTOCOL_ID;
        b[4] = 0;
        b[5] = 60; /* keep alive */
        memcpy(b + 6, id, n);
        return 6 + n;
}

static uint32_t sn_publish(uint8_t *b, uint16_t topic_id, uint16_t msg_id, const char *data)
{
        uint32_t n = (uint32_t)strlen(data);

        b[0] = (uint8_t)(7 + n);
        b[1] = MQTTSN_PUBLISH;
        b[2] = 1 << MQTTSN_FLAG_QOS_SHIFT; /* QoS 1, a registered topic id */
        b[3] = (uint8_t)(topic_id >> 8);
        b[4] = (uint8_t)topic_id;
        b[5] = (uint8_t)(msg_id >> 8);
        b[6] = (uint8_t)msg_id;
        memcpy(b + 7, data, n);
        return 7 + n;
}

static const uint8_t PINGREQ[] = {0x02, MQTTSN_PINGREQ};
static const uint8_t SEARCHGW[] = {0x03, MQTTSN_SEARCHGW, 0x01};
static const uint8_t CONNACK[] = {0x03, MQTTSN_CONNACK, MQTTSN_RC_ACCEPTED};
static const uint8_t GWINFO[] = {0x03, MQTTSN_GWINFO, 0x07};
static const uint8_t PINGRESP[] = {0x02, MQTTSN_PINGRESP};
static const uint8_t PUBACK[] = {0x07, MQTTSN_PUBACK, 0x00, 0x01, 0x00, 0x01, MQTTSN_RC_ACCEPTED};

/* msg wrapped by a forwarder (§5.5): node id node[0..nlen). */
static uint32_t sn_encap(uint8_t *b, const uint8_t *node, uint32_t nlen, const uint8_t *msg,
                         uint32_t mlen)
{
        b[0] = (uint8_t)(3 + nlen);
        b[1] = MQTTSN_ENCAPSULATED;
        b[2] = 0x00; /* Ctrl: radius 0 */
        memcpy(b + 3, node, nlen);
        memcpy(b + 3 + nlen, msg, mlen);
        return 3 + nlen + mlen;
}

/* ---- sending and checking ----------------------------------------------- */

/* The only frame out of the last run, a UDP datagram with right checksums,
 * its frame whole. */
static struct lbh_udp only_out(const struct ut *u)
{
        struct lbh_udp d;

        assert_int_equal(u->h->nout, 1);
        assert_true(lbh_udp__parse(&d, u->h->out[0].bytes, u->h->out[0].len));
        assert_int_equal(u->h->out[0].len, u->h->out[0].wire_len);
        assert_true(d.ok);
        return d;
}

static void nothing_out(const struct ut *u)
{
        assert_int_equal(u->h->nout, 0);
}

static int gw_index(const struct lbh_udp *d)
{
        assert_int_equal(d->family, 4);
        assert_int_equal(d->dport, GW_PORT);
        for (int i = 0; i < NGW; i++)
                if (!memcmp(d->daddr, GWA[i], 4))
                        return i;
        fail_msg("a datagram to no gateway of the pool");
        return -1;
}

/* The client of r sends data: it reaches one gateway, from a source
 * address:port of source_addresses, payload exact; r takes where it went. */
static void c2g(struct ut *u, struct rec *r, const void *data, uint32_t len)
{
        struct lbh_udp d;

        assert_int_equal(lbh__send_udp(u->h, &r->cli, NULL, data, len), 0);
        run(u, MS);
        d = only_out(u);
        r->gi = gw_index(&d);
        if (!memcmp(d.saddr, SRC4A, 4)) {
                assert_in_range(d.sport, 20000, 29999);
        } else {
                assert_memory_equal(d.saddr, SRC4B, 4);
                assert_in_range(d.sport, 30000, 39999);
        }
        assert_memory_equal(d.smac, LBH_LB_MAC, 6);
        assert_memory_equal(d.dmac, LBH_BROKER_MAC, 6);
        assert_int_equal(d.plen, len);
        assert_memory_equal(d.payload, data, len);
        memcpy(r->saddr, d.saddr, 4);
        r->sport = d.sport;
}

/* As c2g, and the datagram went on r's flow as it was: same gateway, same
 * source address:port. */
static void c2g_same(struct ut *u, struct rec *r, const void *data, uint32_t len)
{
        struct rec before = *r;

        c2g(u, r, data, len);
        assert_int_equal(r->gi, before.gi);
        assert_int_equal(r->sport, before.sport);
        assert_memory_equal(r->saddr, before.saddr, 4);
}

/* The client of r sends data, and nothing goes out. */
static void c2none(struct ut *u, const struct lbh_peer *cli, const void *data, uint32_t len)
{
        assert_int_equal(lbh__send_udp(u->h, cli, NULL, data, len), 0);
        run(u, MS);
        nothing_out(u);
}

/* The gateway of r, answering the source address:port it saw. */
static struct lbh_peer gw_peer(const struct rec *r)
{
        struct lbh_peer g = {.family = 4,
                             .port = GW_PORT,
                             .to_port = r->sport,
                             .mac = LBH_BROKER_MAC,
                             .to_mac = LBH_LB_MAC};

        memcpy(g.addr, GWA[r->gi], 4);
        memcpy(g.to, r->saddr, 4);
        return g;
}

/* r's gateway answers: the client gets it from the listener's address and
 * port, to its own address:port, payload exact. */
static void g2c(struct ut *u, const struct rec *r, const void *data, uint32_t len)
{
        struct lbh_peer g = gw_peer(r);
        struct lbh_udp d;

        assert_int_equal(lbh__send_udp(u->h, &g, NULL, data, len), 0);
        run(u, MS);
        d = only_out(u);
        assert_int_equal(d.family, 4);
        assert_memory_equal(d.saddr, VIP, 4);
        assert_memory_equal(d.daddr, r->cli.addr, 4);
        assert_int_equal(d.sport, SN_PORT);
        assert_int_equal(d.dport, r->cli.port);
        assert_memory_equal(d.smac, LBH_LB_MAC, 6);
        assert_memory_equal(d.dmac, LBH_CLIENT_MAC, 6);
        assert_int_equal(d.vlans.n, 0);
        assert_int_equal(d.plen, len);
        assert_memory_equal(d.payload, data, len);
}

/* r's gateway answers a flow that is gone: nothing out, udp_stray counts it. */
static void g2none(struct ut *u, const struct rec *r)
{
        uint64_t stray = stats(u).udp_stray;
        struct lbh_peer g = gw_peer(r);

        assert_int_equal(lbh__send_udp(u->h, &g, NULL, PINGRESP, sizeof(PINGRESP)), 0);
        run(u, MS);
        nothing_out(u);
        assert_int_equal(stats(u).udp_stray, stray + 1);
}

static void id_of(char *buf, size_t n, uint32_t i)
{
        snprintf(buf, n, "sensor-%u", i);
}

/* The first i >= from whose "sensor-i" Maglev maps to (want) or away from
 * (!want) gateway gi. */
static uint32_t id_where(const struct ut *u, uint32_t from, int gi, bool want)
{
        char id[32];

        for (uint32_t i = from; i < from + 1000; i++) {
                id_of(id, sizeof(id), i);
                if ((gw_of_id(u, id) == gi) == want)
                        return i;
        }
        fail_msg("no such id");
        return 0;
}

/* ---- 1. CONNECT binds by client id -------------------------------------- */

#define NCLI 30

static void test_connect_by_id(void **state)
{
        struct ut u;
        struct rec r[NCLI], again[NCLI];
        uint8_t b[64];
        char id[32];
        int used[NGW] = {0}, by_addr_differs = 0;
        uint64_t to[NGW] = {0};
        struct lb_stats s;

        (void)state;
        ut_open(&u);
        for (uint32_t i = 0; i < NCLI; i++) {
                uint32_t n;

                id_of(id, sizeof(id), i);
                r[i] = (struct rec){.cli = client(30, i + 1, (uint16_t)(40000 + i))};
                n = sn_connect(b, id);
                c2g(&u, &r[i], b, n);
                assert_int_equal(r[i].gi, gw_of_id(&u, id)); /* the id's gateway */
                by_addr_differs += r[i].gi != gw_of_addr(&u, r[i].cli.addr);
                used[r[i].gi]++;
                to[r[i].gi]++;
        }
        print_message("30 ids: %d %d %d per gateway; %d of them not their address's gateway\n",
                      used[0], used[1], used[2], by_addr_differs);
        for (int g = 0; g < NGW; g++)
                assert_true(used[g] > 0); /* every gateway */
        assert_true(by_addr_differs > 0); /* bound by id, not by address */
        s = stats(&u);
        assert_int_equal(s.mqttsn_connects, NCLI);
        assert_int_equal(s.udp_flows_total, NCLI);
        assert_int_equal(s.udp_flows_active, NCLI);
        assert_int_equal(s.mqttsn_rebound, 0);
        assert_int_equal(s.mqttsn_malformed, 0);
        /* the same id later from another address and port: the same gateway */
        for (uint32_t i = 0; i < NCLI; i++) {
                uint32_t n;

                id_of(id, sizeof(id), i);
                again[i] = (struct rec){.cli = client(31, 200 + i, (uint16_t)(50000 + 7 * i))};
                n = sn_connect(b, id);
                c2g(&u, &again[i], b, n);
                assert_int_equal(again[i].gi, r[i].gi);
                to[again[i].gi]++;
        }
        /* PUBLISH and PINGREQ follow each flow: the same gateway, the same
         * source address:port */
        for (uint32_t i = 0; i < NCLI; i++) {
                uint32_t n = sn_publish(b, (uint16_t)(i + 1), 1, "21.5C");

                c2g_same(&u, &r[i], b, n);
                c2g_same(&u, &r[i], PINGREQ, sizeof(PINGREQ));
                c2g_same(&u, &again[i], b, n);
                to[r[i].gi] += 3;
        }
        s = stats(&u);
        assert_int_equal(s.mqttsn_connects, 2 * NCLI);
        assert_int_equal(s.udp_flows_total, 2 * NCLI);
        assert_int_equal(s.udp_flows_active, 2 * NCLI);
        assert_int_equal(s.udp_to_backends, 5 * NCLI);
        assert_int_equal(s.mqttsn_rebound, 0);
        assert_int_equal(s.udp_flows_moved, 0);
        assert_int_equal(lbh__connections(u.h), 2 * NCLI);
        for (int g = 0; g < NGW; g++)
                assert_int_equal(gstats(&u, g).datagrams_to, to[g]);
        ut_close(&u);
}

/* ---- 2. a client that changes its address and port ----------------------- */

static void test_client_moves(void **state)
{
        struct ut u;
        uint8_t b[64];
        char id[32];
        uint32_t n, k;
        int g;
        struct rec a, p2, a2, c;
        struct lb_stats s0, s;
        struct lb_broker_stats bs0;

        (void)state;
        ut_open(&u);
        id_of(id, sizeof(id), 7);
        g = gw_of_id(&u, id);
        n = sn_connect(b, id);
        a = (struct rec){.cli = client(30, 1, 40001)};
        c2g(&u, &a, b, n);
        assert_int_equal(a.gi, g);
        g2c(&u, &a, CONNACK, sizeof(CONNACK));
        /* the same address, another port (a NAT rebinding its port) */
        p2 = (struct rec){.cli = client(30, 1, 40777)};
        c2g(&u, &p2, b, n);
        assert_int_equal(p2.gi, g);
        assert_false(p2.sport == a.sport && !memcmp(p2.saddr, a.saddr, 4)); /* its own flow */
        /* another address and port */
        a2 = (struct rec){.cli = client(30, 2, 40002)};
        c2g(&u, &a2, b, n);
        assert_int_equal(a2.gi, g);
        g2c(&u, &a2, CONNACK, sizeof(CONNACK));
        s = stats(&u);
        assert_int_equal(s.mqttsn_connects, 3);
        assert_int_equal(s.udp_flows_total, 3);
        /* a PUBLISH without a CONNECT from a new address (the NAT mapping
         * changed while the device slept): the flow is bound by the
         * address, so it reaches the address's gateway, here chosen to be
         * another one than the id's. Observed: it is forwarded there and
         * counted; that gateway does not know the client and would answer
         * DISCONNECT, making it CONNECT again (docs/config.md). */
        for (k = 3; k < 1000; k++) {
                uint8_t addr[4] = {10, 30, (uint8_t)(k >> 8), (uint8_t)k};

                if (gw_of_addr(&u, addr) != g)
                        break;
        }
        assert_true(k < 1000);
        c = (struct rec){.cli = client(30, k, 40003)};
        s0 = stats(&u);
        bs0 = gstats(&u, gw_of_addr(&u, c.cli.addr));
        n = sn_publish(b, 1, 2, "on");
        c2g(&u, &c, b, n);
        print_message("PUBLISH without CONNECT from a new address: to %s (the address's), the "
                      "id's is %s\n",
                      GW[c.gi], GW[g]);
        assert_int_equal(c.gi, gw_of_addr(&u, c.cli.addr));
        assert_true(c.gi != g);
        s = stats(&u);
        assert_int_equal(s.udp_to_backends, s0.udp_to_backends + 1);
        assert_int_equal(s.udp_flows_total, s0.udp_flows_total + 1);
        assert_int_equal(s.mqttsn_connects, s0.mqttsn_connects);
        assert_int_equal(s.mqttsn_malformed, 0);
        assert_int_equal(gstats(&u, c.gi).datagrams_to, bs0.datagrams_to + 1);
        assert_int_equal(gstats(&u, c.gi).bytes_to, bs0.bytes_to + n);
        /* that gateway's answer (a DISCONNECT) goes back; the client's
         * CONNECT then moves the flow to the id's gateway */
        {
                static const uint8_t DISCONNECT[] = {0x02, MQTTSN_DISCONNECT};
                struct rec old = c;

                g2c(&u, &c, DISCONNECT, sizeof(DISCONNECT));
                n = sn_connect(b, id);
                c2g(&u, &c, b, n);
                assert_int_equal(c.gi, g);
                assert_int_equal(stats(&u).mqttsn_rebound, 1);
                g2none(&u, &old); /* the old flow is gone */
                g2c(&u, &c, CONNACK, sizeof(CONNACK));
                n = sn_publish(b, 1, 3, "on");
                c2g_same(&u, &c, b, n);
        }
        ut_close(&u);
}

/* ---- 3. bound by address, then a CONNECT --------------------------------- */

static void test_rebind(void **state)
{
        struct ut u;
        uint8_t b[64];
        char id[32];
        uint32_t n, x, y, z;
        struct rec c = {.cli = client(30, 1, 40000)}, d = {.cli = client(30, 2, 40000)}, old;
        int ga, gd;
        struct lb_stats s;

        (void)state;
        ut_open(&u);
        /* c: SEARCHGW first, by address */
        ga = gw_of_addr(&u, c.cli.addr);
        c2g(&u, &c, SEARCHGW, sizeof(SEARCHGW));
        assert_int_equal(c.gi, ga);
        g2c(&u, &c, GWINFO, sizeof(GWINFO));
        s = stats(&u);
        assert_int_equal(s.udp_flows_total, 1);
        assert_int_equal(s.mqttsn_connects, 0);
        /* a CONNECT whose id maps to another gateway: the flow moves */
        x = id_where(&u, 0, ga, false);
        id_of(id, sizeof(id), x);
        old = c;
        n = sn_connect(b, id);
        c2g(&u, &c, b, n);
        assert_int_equal(c.gi, gw_of_id(&u, id));
        assert_true(c.gi != ga);
        s = stats(&u);
        assert_int_equal(s.mqttsn_rebound, 1);
        assert_int_equal(s.mqttsn_connects, 1);
        assert_int_equal(s.udp_flows_moved, 0); /* that one is the plan's */
        assert_int_equal(s.udp_flows_total, 2);
        assert_int_equal(s.udp_flows_active, 1);
        g2none(&u, &old); /* the old gateway's flow is gone */
        g2c(&u, &c, CONNACK, sizeof(CONNACK));
        n = sn_publish(b, 1, 1, "x");
        c2g_same(&u, &c, b, n);
        /* the same CONNECT again (a reconnect): no move */
        n = sn_connect(b, id);
        c2g_same(&u, &c, b, n);
        assert_int_equal(stats(&u).mqttsn_rebound, 1);

        /* d: a PUBLISH first, by address; then a CONNECT whose id maps to the
         * same gateway: no move */
        gd = gw_of_addr(&u, d.cli.addr);
        n = sn_publish(b, 1, 1, "y");
        c2g(&u, &d, b, n);
        assert_int_equal(d.gi, gd);
        y = id_where(&u, 0, gd, true);
        id_of(id, sizeof(id), y);
        n = sn_connect(b, id);
        c2g_same(&u, &d, b, n);
        s = stats(&u);
        assert_int_equal(s.mqttsn_rebound, 1);
        assert_int_equal(s.udp_flows_total, 3);
        assert_int_equal(s.udp_flows_active, 2);
        g2c(&u, &d, CONNACK, sizeof(CONNACK));
        n = sn_publish(b, 1, 2, "y");
        c2g_same(&u, &d, b, n);
        /* bound by id now: a CONNECT with another id of another gateway
         * moves it too */
        z = id_where(&u, 0, gd, false);
        id_of(id, sizeof(id), z);
        old = d;
        n = sn_connect(b, id);
        c2g(&u, &d, b, n);
        assert_int_equal(d.gi, gw_of_id(&u, id));
        assert_true(d.gi != gd);
        s = stats(&u);
        assert_int_equal(s.mqttsn_rebound, 2);
        assert_int_equal(s.udp_flows_total, 4);
        assert_int_equal(s.udp_flows_active, 2);
        g2none(&u, &old);
        g2c(&u, &d, CONNACK, sizeof(CONNACK));
        ut_close(&u);
}

/* ---- 4. malformed datagrams ---------------------------------------------- */

struct bad {
        const char *what;
        uint8_t b[64];
        uint32_t n;
        enum mqttsn_err e;
};

static void test_malformed(void **state)
{
        static const struct bad BAD[] = {
            /* Length says 9, the datagram holds 5 */
            {"length over", {0x09, MQTTSN_PUBLISH, 0x20, 0x00, 0x01}, 5, MQTTSN_ERR_TRUNCATED},
            /* Length says 2, 4 bytes came: bytes after the message */
            {"trailing bytes", {0x02, MQTTSN_PINGREQ, 0xde, 0xad}, 4, MQTTSN_ERR_LENGTH},
            /* a CONNECT and a byte more than its Length */
            {"connect trailing",
             {0x08, MQTTSN_CONNECT, 0x04, 0x01, 0x00, 0x3c, 'a', 'b', 'c'},
             9,
             MQTTSN_ERR_LENGTH},
            {"length 0", {0x00, MQTTSN_PINGREQ}, 2, MQTTSN_ERR_LENGTH},
            {"unknown type", {0x02, 0x03}, 2, MQTTSN_ERR_UNKNOWN_TYPE},
            {"unknown type 0x11", {0x03, 0x11, 0x00}, 3, MQTTSN_ERR_UNKNOWN_TYPE},
            {"protocol id 2",
             {0x08, MQTTSN_CONNECT, 0x04, 0x02, 0x00, 0x3c, 'i', 'd'},
             8,
             MQTTSN_ERR_PROTOCOL_ID},
            {"empty client id",
             {0x06, MQTTSN_CONNECT, 0x04, 0x01, 0x00, 0x3c},
             6,
             MQTTSN_ERR_CLIENT_ID},
            {"client id not UTF-8",
             {0x08, MQTTSN_CONNECT, 0x04, 0x01, 0x00, 0x3c, 0xc3, 0x28},
             8,
             MQTTSN_ERR_UTF8},
            {"empty datagram", {0}, 0, MQTTSN_ERR_TRUNCATED},
            {"encapsulation in an encapsulation",
             {0x04, 0xfe, 0x00, 0x01, 0x04, 0xfe, 0x00, 0x02, 0x02, MQTTSN_PINGREQ},
             10,
             MQTTSN_ERR_ENCAP},
        };
        enum { NBAD = sizeof(BAD) / sizeof(BAD[0]) };
        struct ut u;
        uint64_t by[MQTTSN_ERR__COUNT] = {0}, total = 0;
        uint8_t b[64];
        char id[32];
        uint32_t n, nrand = 0;
        struct rec f = {.cli = client(30, 250, 40000)}, old;
        struct lb_stats s;

        (void)state;
        ut_open(&u);
        /* each from a new client: dropped, counted by reason, no flow */
        for (uint32_t i = 0; i < NBAD; i++) {
                struct lbh_peer cli = client(30, i + 1, 40000);
                struct mqttsn_msg m;

                assert_int_equal(mqttsn__read(BAD[i].b, BAD[i].n, &m), BAD[i].e);
                c2none(&u, &cli, BAD[i].b, BAD[i].n);
                by[BAD[i].e]++;
                total++;
                s = stats(&u);
                if (s.mqttsn_malformed_by[BAD[i].e] != by[BAD[i].e])
                        fail_msg("%s: mqttsn_malformed_by[%s] %llu, want %llu", BAD[i].what,
                                 mqttsn_err__str(BAD[i].e),
                                 (unsigned long long)s.mqttsn_malformed_by[BAD[i].e],
                                 (unsigned long long)by[BAD[i].e]);
                assert_int_equal(s.mqttsn_malformed, total);
                assert_int_equal(s.udp_flows_active, 0);
                assert_int_equal(s.udp_flows_total, 0);
        }
        /* random bytes (a fixed sequence), those the reader refuses */
        {
                uint64_t x = 0x9e3779b97f4a7c15ull;

                for (uint32_t i = 0; nrand < 200 && i < 1000; i++) {
                        struct lbh_peer cli = client(40, i + 1, 40000);
                        struct mqttsn_msg m;
                        enum mqttsn_err e;
                        uint8_t r[64];
                        uint32_t len;

                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        len = (uint32_t)(x % sizeof(r)) + 1;
                        for (uint32_t j = 0; j < len; j++) {
                                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                                r[j] = (uint8_t)x;
                        }
                        e = mqttsn__read(r, len, &m);
                        if (e == MQTTSN_OK)
                                continue;
                        c2none(&u, &cli, r, len);
                        by[e]++;
                        total++;
                        nrand++;
                }
        }
        assert_int_equal(nrand, 200);
        s = stats(&u);
        assert_int_equal(s.mqttsn_malformed, total);
        for (int e = 0; e < MQTTSN_ERR__COUNT; e++)
                assert_int_equal(s.mqttsn_malformed_by[e], by[e]);
        assert_int_equal(s.mqttsn_malformed_by[MQTTSN_OK], 0);
        assert_int_equal(s.udp_flows_total, 0);
        assert_int_equal(s.udp_to_backends, 0);
        assert_int_equal(s.mqttsn_connects, 0);
        assert_int_equal(lbh__connections(u.h), 0);

        /* on a flow: dropped, counted, and the flow goes on as it was */
        id_of(id, sizeof(id), 1);
        n = sn_connect(b, id);
        c2g(&u, &f, b, n);
        assert_int_equal(f.gi, gw_of_id(&u, id));
        old = f;
        for (uint32_t i = 0; i < NBAD; i++) {
                c2none(&u, &f.cli, BAD[i].b, BAD[i].n);
                by[BAD[i].e]++;
                total++;
                n = sn_publish(b, 1, (uint16_t)i, "ok");
                c2g_same(&u, &f, b, n);
        }
        /* a CONNECT of an id on another gateway, with a byte too many: not
         * read, so the flow does not move */
        id_of(id, sizeof(id), id_where(&u, 100, f.gi, false));
        n = sn_connect(b, id);
        b[n] = 0;
        c2none(&u, &f.cli, b, n + 1);
        by[MQTTSN_ERR_LENGTH]++;
        total++;
        c2g_same(&u, &f, PINGREQ, sizeof(PINGREQ));
        g2c(&u, &f, PINGRESP, sizeof(PINGRESP));
        assert_int_equal(f.sport, old.sport);
        s = stats(&u);
        assert_int_equal(s.mqttsn_malformed, total);
        for (int e = 0; e < MQTTSN_ERR__COUNT; e++)
                assert_int_equal(s.mqttsn_malformed_by[e], by[e]);
        assert_int_equal(s.mqttsn_rebound, 0);
        assert_int_equal(s.mqttsn_connects, 1);
        assert_int_equal(s.udp_flows_total, 1);
        assert_int_equal(s.udp_flows_active, 1);
        assert_int_equal(s.udp_to_backends, 1 + NBAD + 1);
        print_message("malformed: %llu dropped (%u random), by reason:", (unsigned long long)total,
                      nrand);
        for (int e = 1; e < MQTTSN_ERR__COUNT; e++)
                if (by[e])
                        print_message(" %s %llu", mqttsn_err__str((enum mqttsn_err)e),
                                      (unsigned long long)by[e]);
        print_message("\n");
        ut_close(&u);
}

/* ---- 5. encapsulated CONNECT ---------------------------------------------- */

static void test_encapsulated(void **state)
{
        static const uint8_t NODE1[] = {0x00, 0x2a}, NODE2[] = {0x00, 0x2b};
        struct ut u;
        uint8_t in[64], b[96];
        char id[32];
        uint32_t k, x, y, n, m;
        struct rec fw;
        int gf;
        struct lb_stats s;

        (void)state;
        ut_open(&u);
        /* a forwarder whose address maps to another gateway than the id's */
        x = 3;
        id_of(id, sizeof(id), x);
        for (k = 1; k < 1000; k++) {
                uint8_t addr[4] = {10, 50, (uint8_t)(k >> 8), (uint8_t)k};

                if (gw_of_addr(&u, addr) != gw_of_id(&u, id))
                        break;
        }
        assert_true(k < 1000);
        fw = (struct rec){.cli = client(50, k, 41000)};
        gf = gw_of_addr(&u, fw.cli.addr);
        m = sn_connect(in, id);
        n = sn_encap(b, NODE1, sizeof(NODE1), in, m);
        c2g(&u, &fw, b, n); /* forwarded whole, the forwarder's header too */
        assert_int_equal(fw.gi, gw_of_id(&u, id));
        assert_true(fw.gi != gf);
        s = stats(&u);
        assert_int_equal(s.mqttsn_connects, 1);
        assert_int_equal(s.udp_flows_total, 1);
        assert_int_equal(s.mqttsn_malformed, 0);
        /* the gateway answers encapsulated; then the node's PUBLISH follows */
        m = (uint32_t)sizeof(CONNACK);
        n = sn_encap(b, NODE1, sizeof(NODE1), CONNACK, m);
        g2c(&u, &fw, b, n);
        m = sn_publish(in, 1, 1, "node1");
        n = sn_encap(b, NODE1, sizeof(NODE1), in, m);
        c2g_same(&u, &fw, b, n);
        /* an encapsulated PUBLISH from a forwarder with no flow: by address */
        {
                struct rec fw2 = {.cli = client(50, k + 1, 41000)};

                c2g(&u, &fw2, b, n);
                assert_int_equal(fw2.gi, gw_of_addr(&u, fw2.cli.addr));
        }
        /* Documents a limit: the flow is the forwarder's address:port, so a
         * second node behind it whose id maps to another gateway moves the
         * whole flow (mqttsn_rebound), and the first node's next datagram
         * reaches the second node's gateway. */
        y = id_where(&u, 0, fw.gi, false);
        id_of(id, sizeof(id), y);
        m = sn_connect(in, id);
        n = sn_encap(b, NODE2, sizeof(NODE2), in, m);
        {
                int g1 = fw.gi;

                c2g(&u, &fw, b, n);
                assert_int_equal(fw.gi, gw_of_id(&u, id));
                assert_true(fw.gi != g1);
                assert_int_equal(stats(&u).mqttsn_rebound, 1);
                m = sn_publish(in, 1, 2, "node1");
                n = sn_encap(b, NODE1, sizeof(NODE1), in, m);
                c2g_same(&u, &fw, b, n);
                print_message("forwarder: node 1 (gateway %s) now reaches %s, node 2's\n", GW[g1],
                              GW[fw.gi]);
        }
        ut_close(&u);
}

/* ---- 6. a gateway that leaves --------------------------------------------- */

/* The ICMP port unreachable of r's gateway quoting r's last datagram (the
 * only frame of the last run): header and 8 bytes. */
static void icmp_of(struct ut *u, const struct rec *r)
{
        struct lbh_udp d = only_out(u);
        struct lbh_peer g = gw_peer(r);
        uint8_t q[28];

        memcpy(q, u->h->out[0].bytes + d.l3, sizeof(q));
        assert_int_equal(lbh__send_icmp_unreach(u->h, &g, 3, q, sizeof(q)), 0);
        run(u, MS);
        nothing_out(u);
}

/* A plan from YAML with gateway down (-1: none) down, published. */
static void publish(struct ut *u, int down)
{
        struct plan *p;
        char err[256];

        if (lbh__plan(&p, YAML, err, sizeof(err)))
                fail_msg("plan: %s", err);
        assert_string_equal(p->pools[0].name, "gateways");
        if (down >= 0) {
                assert_string_equal(p->pools[0].brokers[down].name, GW[down]);
                assert_int_equal(pool__set_up(p->pools[0].pool, (uint32_t)down, false), 1);
        }
        assert_int_equal(lbh__set_plan(u->h, p), 0);
}

/* 30 clients connect as "sensor-i" (r[i]); where each went is checked. */
static void connect_all(struct ut *u, struct rec *r)
{
        uint8_t b[64];
        char id[32];

        for (uint32_t i = 0; i < NCLI; i++) {
                uint32_t n;

                id_of(id, sizeof(id), i);
                r[i] = (struct rec){.cli = client(30, i + 1, (uint16_t)(40000 + i))};
                n = sn_connect(b, id);
                c2g(u, &r[i], b, n);
                assert_int_equal(r[i].gi, gw_of_id(u, id));
        }
}

/* An ICMP port unreachable ends a flow and marks its gateway; in the next
 * plan without it, the flows bound to it move at their next datagram (a
 * PUBLISH here), the others stay on their flow; with it back, its flows
 * move back. */
static void test_gateway_leaves(void **state)
{
        struct ut u;
        struct rec r[NCLI], orig[NCLI];
        uint8_t b[64];
        char id[32];
        uint32_t n, on_x = 0, moved = 0;
        int x;
        uint64_t t_icmp;
        struct lb_stats s0, s;

        (void)state;
        ut_open(&u);
        connect_all(&u, r);
        x = r[0].gi;
        for (uint32_t i = 0; i < NCLI; i++)
                on_x += r[i].gi == x;
        assert_true(on_x > 1);
        memcpy(orig, r, sizeof(r));
        /* client 0's gateway answers its PUBLISH by port unreachable */
        n = sn_publish(b, 1, 1, "x");
        c2g_same(&u, &r[0], b, n);
        icmp_of(&u, &r[0]);
        t_icmp = u.t;
        s = stats(&u);
        assert_int_equal(s.udp_icmp_unreachable, 1);
        assert_int_equal(s.udp_flows_active, NCLI - 1);
        assert_int_equal(s.udp_stray, 0);
        assert_int_equal(lb__udp_down_ns(u.h->lb, GW[x]), t_icmp);
        for (int g = 0; g < NGW; g++)
                if (g != x)
                        assert_int_equal(lb__udp_down_ns(u.h->lb, GW[g]), 0);
        g2none(&u, &r[0]); /* its flow is gone */
        /* the control thread's next plan: x down */
        publish(&u, x);
        s0 = stats(&u);
        /* client 0 connects again: its id's gateway in the new plan */
        id_of(id, sizeof(id), 0);
        n = sn_connect(b, id);
        c2g(&u, &r[0], b, n);
        assert_true(r[0].gi != x);
        assert_int_equal(r[0].gi, gw_of_id(&u, id));
        /* the others' next datagram, a PUBLISH: those of x move off it, the
         * others stay on their flow */
        for (uint32_t i = 1; i < NCLI; i++) {
                struct rec before = r[i];

                n = sn_publish(b, 1, (uint16_t)(i + 100), "x");
                if (before.gi != x) {
                        c2g_same(&u, &r[i], b, n);
                        continue;
                }
                c2g(&u, &r[i], b, n);
                moved++;
                assert_true(r[i].gi != x);
                g2none(&u, &before); /* the old flow is gone */
                g2c(&u, &r[i], PUBACK, sizeof(PUBACK));
        }
        s = stats(&u);
        print_message("gateway %s left: %u of %u ids on it, %u moved (udp_flows_moved %llu)\n",
                      GW[x], on_x, NCLI, moved,
                      (unsigned long long)(s.udp_flows_moved - s0.udp_flows_moved));
        assert_int_equal(moved, on_x - 1);
        assert_int_equal(s.udp_flows_moved - s0.udp_flows_moved, on_x - 1);
        assert_int_equal(s.udp_flows_total - s0.udp_flows_total, on_x);
        assert_int_equal(s.udp_flows_active, NCLI);
        assert_int_equal(s.mqttsn_rebound, 0);
        for (uint32_t i = 0; i < NCLI; i++)
                if (orig[i].gi != x)
                        assert_int_equal(r[i].gi, orig[i].gi);
        /* x back: a CONNECT of each of its ids takes it back there; the
         * others' CONNECT leaves them where they are */
        publish(&u, -1);
        for (uint32_t i = 0; i < NCLI; i++) {
                id_of(id, sizeof(id), i);
                n = sn_connect(b, id);
                if (orig[i].gi != x) {
                        c2g_same(&u, &r[i], b, n);
                        continue;
                }
                c2g(&u, &r[i], b, n);
                assert_int_equal(r[i].gi, x);
        }
        assert_int_equal(stats(&u).udp_flows_active, NCLI);
        ut_close(&u);
}

/*
 * The regression of a flow bound by its client id that a plan moves: it
 * must stay bound by that id. The pool moved it because the id's gateway
 * left; the flow made in its place must go to the id's gateway in the new
 * plan (Maglev on the id), not to the client's address's, and move back
 * when the gateway returns, whatever the datagram that moves it (a PUBLISH
 * or a PINGREQ: a client does not CONNECT again because its gateway left).
 */
static void test_moved_flow_keeps_its_id(void **state)
{
        struct ut u;
        struct rec r[NCLI], orig[NCLI];
        uint8_t b[64];
        char id[32];
        uint32_t n, wrong = 0, on_x = 0;
        int x;

        (void)state;
        ut_open(&u);
        connect_all(&u, r);
        memcpy(orig, r, sizeof(r));
        x = r[0].gi;
        publish(&u, x);
        for (uint32_t i = 0; i < NCLI; i++) {
                if (orig[i].gi != x)
                        continue;
                on_x++;
                id_of(id, sizeof(id), i);
                n = sn_publish(b, 1, (uint16_t)i, "x");
                c2g(&u, &r[i], b, n);
                assert_true(r[i].gi != x);
                if (r[i].gi != gw_of_id(&u, id)) {
                        print_message("sensor-%u: moved off %s by its PUBLISH to %s (its "
                                      "address's), its id's gateway in the new plan is %s\n",
                                      i, GW[x], GW[r[i].gi], GW[gw_of_id(&u, id)]);
                        assert_int_equal(r[i].gi, gw_of_addr(&u, r[i].cli.addr));
                        wrong++;
                }
        }
        print_message("%u of the %u ids of %s moved to another gateway than their id's\n", wrong,
                      on_x, GW[x]);
        /* with x back, each of its ids returns there at its next datagram */
        publish(&u, -1);
        for (uint32_t i = 0; i < NCLI; i++)
                if (orig[i].gi == x) {
                        c2g(&u, &r[i], PINGREQ, sizeof(PINGREQ));
                        if (r[i].gi != x) {
                                print_message("sensor-%u: its PINGREQ reached %s with %s back\n", i,
                                              GW[r[i].gi], GW[x]);
                                wrong++;
                        }
                }
        assert_int_equal(wrong, 0);
        ut_close(&u);
}

/* ---- 7. replies ------------------------------------------------------------ */

static void test_replies(void **state)
{
        struct ut u;
        uint8_t b[64];
        char id[32];
        uint32_t n;
        struct rec a = {.cli = client(30, 1, 40001)}, a2 = {.cli = client(30, 9, 51234)};
        struct lb_stats s;

        (void)state;
        ut_open(&u);
        id_of(id, sizeof(id), 5);
        n = sn_connect(b, id);
        c2g(&u, &a, b, n);
        g2c(&u, &a, CONNACK, sizeof(CONNACK)); /* from 10.10.0.100:1884 */
        n = sn_publish(b, 1, 1, "hi");
        c2g_same(&u, &a, b, n);
        g2c(&u, &a, PUBACK, sizeof(PUBACK));
        c2g_same(&u, &a, PINGREQ, sizeof(PINGREQ));
        g2c(&u, &a, PINGRESP, sizeof(PINGRESP));
        /* the same id from another address: its own flow, its own source
         * port; each reply reaches its own client */
        n = sn_connect(b, id);
        c2g(&u, &a2, b, n);
        assert_int_equal(a2.gi, a.gi);
        assert_false(a2.sport == a.sport && !memcmp(a2.saddr, a.saddr, 4));
        g2c(&u, &a2, CONNACK, sizeof(CONNACK));
        g2c(&u, &a, PINGRESP, sizeof(PINGRESP));
        /* a gateway's datagram to a source port of no flow: dropped */
        {
                struct rec none = a;

                none.sport = (uint16_t)(a.sport == 29999 ? 29998 : a.sport + 1);
                if (none.sport == a2.sport && !memcmp(none.saddr, a2.saddr, 4))
                        none.sport++;
                g2none(&u, &none);
        }
        s = stats(&u);
        assert_int_equal(s.udp_to_clients, 5);
        assert_int_equal(gstats(&u, a.gi).datagrams_from, 5);
        assert_int_equal(gstats(&u, a.gi).bytes_from,
                         2 * sizeof(CONNACK) + sizeof(PUBACK) + 2 * sizeof(PINGRESP));
        ut_close(&u);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_connect_by_id),
            cmocka_unit_test(test_client_moves),
            cmocka_unit_test(test_rebind),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_encapsulated),
            cmocka_unit_test(test_gateway_leaves),
            cmocka_unit_test(test_moved_flow_keeps_its_id),
            cmocka_unit_test(test_replies),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
