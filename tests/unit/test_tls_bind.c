/*
 * TLS passthrough (core/lb/lb_tls.c) through the real balancer on the offline
 * harness (tests/lib/lb_harness.h): a client's TCP handshake answered with a
 * SYN cookie, its ClientHello read over any number of segments and records,
 * the connection bound by sni route -> alpn route -> the listener's pool ->
 * default_pool, the broker leg opened, the buffered bytes replayed (after a
 * PROXY v2 header with its ALPN and AUTHORITY TLVs when configured) and the
 * two legs spliced.
 *
 * The ClientHellos are built here (hello_build: record headers, handshake
 * header, version, random, session id, cipher suites, compression,
 * server_name, ALPN, supported_versions), optionally fragmented over several
 * records. Checked: where each one goes and the tls_bound_* counters; that
 * nothing reaches a broker before the hello's last byte; that the broker
 * gets the client's bytes exactly; data both ways after the splice; the
 * PROXY header parsed back; streams that are not a ClientHello closed with
 * a bare FIN (no byte, no broker) and counted by reason; a hello that stops
 * short closed at bind_timeout; a TLS client no broker answers closed with
 * a bare FIN (an MQTT CONNACK would corrupt the stream), also when its SYN
 * retries outnumber the connection's retransmission limit; a broker picked
 * by the client address; the client's FIN before and with its hello; the
 * real clients' hellos of tests/fixtures/tls when they are there; the MQTT
 * listener of the same balancer unchanged; the frame ledger balanced after
 * each case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lb_harness.h"

#define MS 1000000ull

#define PORT_MQTT     1883
#define PORT_TLS      8883 /* pool: dflt-tls */
#define PORT_TLS_BARE 8884 /* no pool: default_pool */

/* The configuration; "%s": the connections line and extra top-level lines
 * (env_open). */
static const char CONFIG_FMT[] =
    "interfaces: [{name: lb0}]\n"
    "listeners:\n"
    "  - {address: 10.10.0.100, port: 1883}\n"
    "  - {address: 10.10.0.100, port: 8883, protocol: tls, pool: dflt-tls}\n"
    "  - {address: 10.10.0.100, port: 8884, protocol: tls}\n"
    "source_addresses: [10.20.0.1]\n"
    "workers: 1\n"
    "pools:\n"
    "  - {name: apples, brokers: [\"10.20.0.11:1883\"]}\n"
    "  - {name: apples-tls, brokers: [\"10.20.1.11:8883\", \"10.20.1.12:8883\"]}\n"
    "  - {name: pears-tls, brokers: [\"10.20.1.21:8883\"]}\n"
    "  - {name: alpn-pool, brokers: [\"10.20.1.31:8883\"]}\n"
    "  - {name: dflt-tls, brokers: [\"10.20.1.41:8883\"]}\n"
    "  - {name: other, brokers: [\"10.20.0.51:1883\"]}\n"
    "routes:\n"
    "  - {topic: \"apples/#\", pool: apples}\n"
    "  - {sni: apples.example.net, pool: apples-tls}\n"
    "  - {sni: \"*.pears.example.net\", pool: pears-tls}\n"
    "  - {alpn: mqtt, pool: alpn-pool}\n"
    "default_pool: other\n"
    "%s";

static const char CONNECTIONS[] = "connections: {bind_timeout: 2s, connect_timeout: 250ms, "
                                  "syn_retries: 2, idle_timeout: 30s}\n";

/* ---- ClientHellos ----------------------------------------------------------- */

struct hello {
        const char *sni;     /* NULL: no server_name extension */
        const char *alpn[4]; /* NULL-terminated; alpn[0] NULL: no ALPN extension */
        unsigned records;    /* records the handshake message is split over (0: 1) */
        bool dup_ext;        /* supported_versions twice (RFC 8446 4.2 forbids it) */
};

static void put16(uint8_t *p, size_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static void put24(uint8_t *p, size_t v)
{
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
}

/* One extension: type, length, body. */
static size_t ext(uint8_t *p, uint16_t type, const uint8_t *body, size_t len)
{
        put16(p, type);
        put16(p + 2, len);
        memcpy(p + 4, body, len);
        return 4 + len;
}

/* A ClientHello as a client sends it: the handshake message in o->records
 * records (as equal as can be). Its length. */
static size_t hello_build(uint8_t *out, size_t cap, const struct hello *o)
{
        static const uint8_t versions[] = {2, 0x03, 0x04}; /* supported_versions: TLS 1.3 */
        uint8_t hs[2048], body[600];
        size_t n = 0, exts, b, records = o->records ? o->records : 1, at = 0, len = 0;

        hs[n++] = 1; /* client_hello */
        n += 3;      /* its length, below */
        put16(hs + n, 0x0303), n += 2;
        for (int i = 0; i < 32; i++) /* random */
                hs[n++] = (uint8_t)(i * 37 + 11);
        hs[n++] = 32; /* legacy_session_id */
        for (int i = 0; i < 32; i++)
                hs[n++] = (uint8_t)(0xa0 + i);
        put16(hs + n, 6), n += 2; /* cipher_suites */
        put16(hs + n, 0x1301), n += 2;
        put16(hs + n, 0x1302), n += 2;
        put16(hs + n, 0xc02f), n += 2;
        hs[n++] = 1; /* legacy_compression_methods: null */
        hs[n++] = 0;
        exts = n;
        n += 2;
        if (o->sni) {
                size_t l = strlen(o->sni);

                put16(body, 3 + l); /* ServerNameList */
                body[2] = 0;        /* host_name */
                put16(body + 3, l);
                memcpy(body + 5, o->sni, l);
                n += ext(hs + n, 0, body, 5 + l);
        }
        if (o->alpn[0]) {
                b = 2;
                for (int i = 0; i < 4 && o->alpn[i]; i++) {
                        size_t l = strlen(o->alpn[i]);

                        body[b++] = (uint8_t)l;
                        memcpy(body + b, o->alpn[i], l);
                        b += l;
                }
                put16(body, b - 2);
                n += ext(hs + n, 16, body, b);
        }
        n += ext(hs + n, 0x002b, versions, sizeof(versions));
        if (o->dup_ext)
                n += ext(hs + n, 0x002b, versions, sizeof(versions));
        put16(hs + exts, n - exts - 2);
        put24(hs + 1, n - 4);
        for (size_t r = 0; r < records; r++) {
                size_t part = n / records + (r < n % records ? 1 : 0);

                assert_true(len + 5 + part <= cap);
                out[len] = 22; /* handshake */
                put16(out + len + 1, 0x0301);
                put16(out + len + 3, part);
                memcpy(out + len + 5, hs + at, part);
                len += 5 + part;
                at += part;
        }
        assert_int_equal(at, n);
        return len;
}

/* Where str is in b[0..n) (it must be). */
static size_t find(const uint8_t *b, size_t n, const char *str)
{
        size_t l = strlen(str);

        for (size_t i = 0; i + l <= n; i++)
                if (!memcmp(b + i, str, l))
                        return i;
        fail_msg("%s not found", str);
        return 0;
}

/* ---- the harness ------------------------------------------------------------ */

/* What the balancer reported of the connections that ended. */
struct rep {
        bool seen;
        enum lb_verdict verdict;
        enum lb_bound_at bound_at;
        enum tls_hello_err tls_err;
        enum mqtt_err err;
        char sni[256], pool[64], broker[64];
        bool has_sni, has_pool;
};

struct env {
        struct lbh *h;
        uint64_t t;
        struct rep rep[16];
        unsigned nrep;
};

static void on_report(void *ctx, const struct lb_report *r)
{
        struct env *e = ctx;
        struct rep *p;

        if (e->nrep == sizeof(e->rep) / sizeof(e->rep[0]))
                return;
        p = &e->rep[e->nrep++];
        p->seen = true;
        p->verdict = r->verdict;
        p->bound_at = r->bound_at;
        p->tls_err = r->tls_err;
        p->err = r->err;
        p->has_sni = r->sni != NULL;
        if (r->sni)
                snprintf(p->sni, sizeof(p->sni), "%s", r->sni);
        p->has_pool = r->pool != NULL;
        if (r->pool)
                snprintf(p->pool, sizeof(p->pool), "%s", r->pool);
        if (r->broker)
                snprintf(p->broker, sizeof(p->broker), "%s", r->broker);
}

/* The harness on CONFIG_FMT with extra lines; extra without a connections
 * line gets CONNECTIONS. */
static void env_open(struct env *e, const char *extra)
{
        char yaml[4096], err[256], tail[512];

        memset(e, 0, sizeof(*e));
        if (!extra)
                extra = "";
        snprintf(tail, sizeof(tail), "%s%s", strstr(extra, "connections:") ? "" : CONNECTIONS,
                 extra);
        snprintf(yaml, sizeof(yaml), CONFIG_FMT, tail);
        if (lbh__open(&e->h, &(struct lbh_cfg){.yaml = yaml, .report = on_report, .report_ctx = e},
                      err, sizeof(err)))
                fail_msg("harness: %s", err);
        e->t = 1000 * MS;
}

static void env_close(struct env *e)
{
        assert_int_equal(e->h->out_lost, 0);
        assert_int_equal(lbh__close(e->h), 0); /* every frame back in the pool */
}

static void run(struct env *e, uint64_t dt)
{
        lbh__clear(e->h);
        e->t += dt;
        lbh__run(e->h, e->t);
}

static uint64_t stat(const struct env *e, size_t off)
{
        struct lb_stats st;

        lbh__stats(e->h, &st);
        return *(const uint64_t *)((const uint8_t *)&st + off);
}
#define STAT_OF(e, name) stat(e, offsetof(struct lb_stats, name))

static uint64_t tls_malformed_by(const struct env *e, enum tls_hello_err err)
{
        struct lb_stats st;

        lbh__stats(e->h, &st);
        return st.tls_malformed_by[err];
}

static bool to_broker(const struct lbh_frame *f)
{
        return f->family == 4 && f->daddr[0] == 10 && f->daddr[1] == 20;
}

/* Frames to brokers in h->out. */
static unsigned broker_frames(const struct env *e)
{
        unsigned n = 0;

        for (uint32_t i = 0; i < e->h->nout; i++)
                n += to_broker(&e->h->out[i]);
        return n;
}

/* One client connection, and its broker leg once there is one. */
struct tc {
        struct env *e;
        struct lbh_peer cli, brk;
        uint32_t c_nxt, c_rcv; /* client: next sequence to send, next expected */
        uint32_t b_nxt, b_rcv; /* broker: the same */
        uint32_t b_isn;        /* the balancer's ISN toward the broker */
        uint8_t broker[4];     /* the broker the SYN went to */
};

static bool to_client(const struct tc *c, const struct lbh_frame *f)
{
        return f->family == 4 && !memcmp(f->daddr, c->cli.addr, 4) && f->dport == c->cli.port;
}

/* The n-th frame of h->out toward this client, or NULL. */
static const struct lbh_frame *client_frame(const struct tc *c, unsigned n)
{
        for (uint32_t i = 0; i < c->e->h->nout; i++) {
                const struct lbh_frame *f = &c->e->h->out[i];

                if (to_client(c, f)) {
                        assert_true(f->ok);
                        if (!n--)
                                return f;
                }
        }
        return NULL;
}

/* The n-th frame of h->out toward a broker, or NULL. */
static const struct lbh_frame *broker_frame(const struct env *e, unsigned n)
{
        for (uint32_t i = 0; i < e->h->nout; i++) {
                const struct lbh_frame *f = &e->h->out[i];

                if (to_broker(f)) {
                        assert_true(f->ok);
                        if (!n--)
                                return f;
                }
        }
        return NULL;
}

static void send_c(struct tc *c, uint8_t flags, uint32_t seq, uint32_t ack, const void *data,
                   uint32_t len)
{
        assert_int_equal(
            lbh__send(
                c->e->h, &c->cli,
                &(struct lbh_seg){
                    .flags = flags, .seq = seq, .ack = ack, .win = 1000, .data = data, .len = len}),
            0);
}

static void send_b(struct tc *c, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
                   const void *data, uint32_t len)
{
        assert_int_equal(
            lbh__send(
                c->e->h, &c->brk,
                &(struct lbh_seg){
                    .flags = flags, .seq = seq, .ack = ack, .win = win, .data = data, .len = len}),
            0);
}

/* Client data at its next sequence number. */
static void client_data(struct tc *c, const void *d, uint32_t n)
{
        send_c(c, TCP_OUT_ACK, c->c_nxt, c->c_rcv, d, n);
        c->c_nxt += n;
}

/* A client at 10.10.0.host:cport to the listener on lport: SYN, the cookie
 * SYN-ACK taken; its first ACK goes with its first bytes. */
static void tc_open_from(struct env *e, struct tc *c, uint16_t lport, uint8_t host, uint16_t cport)
{
        const struct lbh_frame *f;

        memset(c, 0, sizeof(*c));
        c->e = e;
        c->cli = (struct lbh_peer){.family = 4,
                                   .addr = {10, 10, 0, host},
                                   .to = {10, 10, 0, 100},
                                   .port = cport,
                                   .to_port = lport};
        send_c(c, TCP_OUT_SYN, 7000, 0, NULL, 0);
        run(e, MS);
        f = client_frame(c, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_SYN | TCP_OUT_ACK);
        assert_int_equal(f->ack, 7001);
        assert_int_equal(broker_frames(e), 0);
        c->c_nxt = 7001;
        c->c_rcv = f->seq + 1;
}

static void tc_open(struct env *e, struct tc *c, uint16_t lport, uint16_t cport)
{
        tc_open_from(e, c, lport, 1, cport);
}

/* The one SYN to a broker in h->out: the broker leg's peer set from it. */
static void take_syn(struct tc *c)
{
        const struct lbh_frame *f;

        assert_int_equal(broker_frames(c->e), 1);
        f = broker_frame(c->e, 0);
        assert_int_equal(f->flags, TCP_OUT_SYN);
        assert_int_equal(f->plen, 0);
        assert_int_equal(f->dport, f->daddr[2] == 0 ? 1883 : 8883); /* 10.20.0.x: MQTT brokers */
        memcpy(c->broker, f->daddr, 4);
        c->b_isn = f->seq;
        c->brk = (struct lbh_peer){.family = 4,
                                   .to = {10, 20, 0, 1},
                                   .port = f->dport,
                                   .to_port = f->sport,
                                   .mac = LBH_BROKER_MAC};
        memcpy(c->brk.addr, f->daddr, 4);
        assert_memory_equal(f->saddr, c->brk.to, 4); /* from the source address */
}

static bool broker_is(const struct tc *c, uint8_t a, uint8_t b, uint8_t x, uint8_t y)
{
        return c->broker[0] == a && c->broker[1] == b && c->broker[2] == x && c->broker[3] == y;
}

/* The broker's SYN-ACK (ISN 900000): what it then receives, in order, into
 * out; its length. The broker ACKs it all. */
static uint32_t broker_accept(struct tc *c, uint8_t *out, uint32_t cap)
{
        uint32_t n = 0, next;

        send_b(c, TCP_OUT_SYN | TCP_OUT_ACK, 900000, c->b_isn + 1, 65535, NULL, 0);
        run(c->e, MS);
        c->b_nxt = 900001;
        next = c->b_isn + 1;
        for (unsigned i = 0; broker_frame(c->e, i); i++) {
                const struct lbh_frame *f = broker_frame(c->e, i);

                assert_false(f->flags & (TCP_OUT_SYN | TCP_OUT_RST | TCP_OUT_FIN));
                assert_true(f->flags & TCP_OUT_ACK);
                assert_int_equal(f->ack, 900001);
                if (!f->plen)
                        continue;
                assert_int_equal(f->seq, next); /* in order, once each */
                assert_true(n + f->plen <= cap);
                memcpy(out + n, f->payload, f->plen);
                n += f->plen;
                next += f->plen;
        }
        /* nothing of the broker leg reaches the client */
        assert_null(client_frame(c, 0));
        c->b_rcv = next;
        send_b(c, TCP_OUT_ACK, c->b_nxt, c->b_rcv, 1000, NULL, 0);
        run(c->e, MS);
        return n;
}

/* Bytes both ways once spliced, every sequence and ACK number translated. */
static void data_both_ways(struct tc *c)
{
        uint8_t server[80], client[30];
        const struct lbh_frame *f;

        for (size_t i = 0; i < sizeof(server); i++)
                server[i] = (uint8_t)(0x16 + i);
        for (size_t i = 0; i < sizeof(client); i++)
                client[i] = (uint8_t)(0x80 ^ i);
        /* the broker's ServerHello & co: to the client right after the cookie */
        send_b(c, TCP_OUT_ACK, c->b_nxt, c->b_rcv, 1000, server, sizeof(server));
        run(c->e, MS);
        f = client_frame(c, 0);
        assert_non_null(f);
        assert_null(client_frame(c, 1));
        assert_int_equal(f->seq, c->c_rcv);
        assert_int_equal(f->ack, c->c_nxt);
        assert_int_equal(f->plen, sizeof(server));
        assert_memory_equal(f->payload, server, sizeof(server));
        assert_int_equal(broker_frames(c->e), 0);
        c->b_nxt += sizeof(server);
        c->c_rcv += sizeof(server);
        /* the client's Finished: to the broker after the replay, ACKing its bytes */
        client_data(c, client, sizeof(client));
        run(c->e, MS);
        assert_int_equal(broker_frames(c->e), 1);
        f = broker_frame(c->e, 0);
        assert_int_equal(f->seq, c->b_rcv);
        assert_int_equal(f->ack, c->b_nxt);
        assert_int_equal(f->plen, sizeof(client));
        assert_memory_equal(f->payload, client, sizeof(client));
        c->b_rcv += sizeof(client);
        /* the broker's ACK of it reaches the client as an ACK of its bytes */
        send_b(c, TCP_OUT_ACK, c->b_nxt, c->b_rcv, 1000, NULL, 0);
        run(c->e, MS);
        f = client_frame(c, 0);
        assert_non_null(f);
        assert_int_equal(f->ack, c->c_nxt);
        assert_int_equal(f->seq, c->c_rcv);
        assert_int_equal(f->plen, 0);
}

/* The client closes a connection the balancer closed (our FIN ACKed, its
 * own FIN): the connection ends and is reported. */
static void client_finishes(struct tc *c, const struct lbh_frame *our_fin)
{
        send_c(c, TCP_OUT_ACK | TCP_OUT_FIN, c->c_nxt, our_fin->seq + 1, NULL, 0);
        run(c->e, MS);
        assert_int_equal(lbh__connections(c->e->h), 0);
}

/* ---- binding ---------------------------------------------------------------- */

/* An exact server name: a broker of apples-tls, the bytes replayed exactly,
 * then spliced both ways. */
static void test_sni_exact(void **state)
{
        struct env e;
        struct tc c;
        uint8_t hello[1024], got[2048];
        size_t n = hello_build(hello, sizeof(hello),
                               &(struct hello){.sni = "apples.example.net", .alpn = {"mqtt"}});
        uint32_t len;

        (void)state;
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 40000);
        client_data(&c, hello, (uint32_t)n);
        run(&e, MS);
        /* the hello ACKed, nothing written to the client */
        assert_non_null(client_frame(&c, 0));
        assert_int_equal(client_frame(&c, 0)->ack, c.c_nxt);
        assert_int_equal(client_frame(&c, 0)->plen, 0);
        assert_false(client_frame(&c, 0)->flags & (TCP_OUT_FIN | TCP_OUT_RST));
        take_syn(&c);
        assert_true(broker_is(&c, 10, 20, 1, 11) || broker_is(&c, 10, 20, 1, 12));
        assert_int_equal(STAT_OF(&e, tls_hellos), 1);
        assert_int_equal(STAT_OF(&e, tls_bound_sni), 1); /* sni beats the alpn route */
        assert_int_equal(STAT_OF(&e, tls_bound_alpn), 0);
        assert_int_equal(STAT_OF(&e, tls_bound_default), 0);
        assert_int_equal(STAT_OF(&e, self_connack), 0);
        len = broker_accept(&c, got, sizeof(got));
        assert_int_equal(len, n);
        assert_memory_equal(got, hello, n);
        assert_int_equal(STAT_OF(&e, spliced), 1);
        data_both_ways(&c);
        data_both_ways(&c);
        assert_int_equal(lbh__connections(e.h), 1);
        env_close(&e);
        /* closed at the end as open, with what the hello said */
        assert_int_equal(e.nrep, 1);
        assert_int_equal(e.rep[0].verdict, LB_VERDICT_OPEN);
        assert_int_equal(e.rep[0].bound_at, LB_BOUND_CLIENT_HELLO);
        assert_int_equal(e.rep[0].tls_err, TLS_HELLO_OK);
        assert_true(e.rep[0].has_sni);
        assert_string_equal(e.rep[0].sni, "apples.example.net");
        assert_string_equal(e.rep[0].pool, "apples-tls");
}

/* The hello over two records and three TCP segments cut inside a record
 * header and inside the server name: no broker before its last byte. */
static void test_split_hello(void **state)
{
        struct env e;
        struct tc c;
        uint8_t hello[1024], got[2048];
        size_t n = hello_build(
            hello, sizeof(hello),
            &(struct hello){.sni = "apples.example.net", .alpn = {"h2", "mqtt"}, .records = 2});
        size_t rec1 = 5 + (size_t)(hello[3] << 8 | hello[4]), name = find(hello, n, "apples");
        /* cuts: 2 bytes into the second record's header; in the name (in
         * the second record) */
        size_t cuts[4] = {0, rec1 + 2, name + 3, n};

        (void)state;
        assert_true(rec1 + 5 < name && name + 3 < n);
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 40001);
        for (int i = 0; i < 3; i++) {
                client_data(&c, hello + cuts[i], (uint32_t)(cuts[i + 1] - cuts[i]));
                run(&e, MS);
                assert_non_null(client_frame(&c, 0)); /* each segment ACKed */
                assert_int_equal(client_frame(&c, 0)->ack, c.c_nxt);
                assert_int_equal(client_frame(&c, 0)->plen, 0);
                if (i < 2) {
                        assert_int_equal(broker_frames(&e), 0);
                        assert_int_equal(STAT_OF(&e, tls_hellos), 0);
                }
        }
        take_syn(&c);
        assert_true(broker_is(&c, 10, 20, 1, 11) || broker_is(&c, 10, 20, 1, 12));
        assert_int_equal(STAT_OF(&e, tls_hellos), 1);
        assert_int_equal(STAT_OF(&e, tls_bound_sni), 1);
        assert_int_equal(broker_accept(&c, got, sizeof(got)), n);
        assert_memory_equal(got, hello, n);
        data_both_ways(&c);
        env_close(&e);
        assert_string_equal(e.rep[0].sni, "apples.example.net");
}

/* The same hello byte by byte: one segment per byte. */
static void test_byte_by_byte(void **state)
{
        struct env e;
        struct tc c;
        uint8_t hello[1024], got[2048];
        size_t n = hello_build(hello, sizeof(hello),
                               &(struct hello){.sni = "a.pears.example.net", .records = 3});

        (void)state;
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 40002);
        for (size_t i = 0; i < n; i++) {
                client_data(&c, hello + i, 1);
                run(&e, MS);
                if (i + 1 < n)
                        assert_int_equal(broker_frames(&e), 0);
        }
        take_syn(&c);
        assert_true(broker_is(&c, 10, 20, 1, 21));
        assert_int_equal(broker_accept(&c, got, sizeof(got)), n);
        assert_memory_equal(got, hello, n);
        env_close(&e);
}

/* Connects a client with hello on listener lport; returns with the SYN
 * taken (c->broker). */
static void bind_hello(struct env *e, struct tc *c, uint16_t lport, uint16_t cport,
                       const struct hello *o)
{
        uint8_t hello[1024];
        size_t n = hello_build(hello, sizeof(hello), o);

        tc_open(e, c, lport, cport);
        client_data(c, hello, (uint32_t)n);
        run(e, MS);
        take_syn(c);
}

static void test_routes(void **state)
{
        struct env e;
        struct tc c;
        uint8_t got[2048];

        (void)state;
        env_open(&e, NULL);
        /* a wildcard, the name in mixed case with a trailing dot */
        bind_hello(&e, &c, PORT_TLS, 41000,
                   &(struct hello){.sni = "Sensor-7.PEARS.Example.NET.", .alpn = {"mqtt"}});
        assert_true(broker_is(&c, 10, 20, 1, 21));
        assert_int_equal(STAT_OF(&e, tls_bound_sni), 1);
        /* deeper labels */
        bind_hello(&e, &c, PORT_TLS, 41001, &(struct hello){.sni = "a.b.c.pears.example.net"});
        assert_true(broker_is(&c, 10, 20, 1, 21));
        assert_int_equal(STAT_OF(&e, tls_bound_sni), 2);
        /* the bare suffix is no wildcard match: no alpn either, the listener's pool */
        bind_hello(&e, &c, PORT_TLS, 41002, &(struct hello){.sni = "pears.example.net"});
        assert_true(broker_is(&c, 10, 20, 1, 41));
        assert_int_equal(STAT_OF(&e, tls_bound_default), 1);
        /* ALPN only: no server name, mqtt offered after h2 */
        bind_hello(&e, &c, PORT_TLS, 41003, &(struct hello){.alpn = {"h2", "mqtt"}});
        assert_true(broker_is(&c, 10, 20, 1, 31));
        assert_int_equal(STAT_OF(&e, tls_bound_alpn), 1);
        /* a server name no route has, and mqtt */
        bind_hello(&e, &c, PORT_TLS, 41004,
                   &(struct hello){.sni = "unknown.example.org", .alpn = {"mqtt", "h2"}});
        assert_true(broker_is(&c, 10, 20, 1, 31));
        assert_int_equal(STAT_OF(&e, tls_bound_alpn), 2);
        /* neither: the listener's pool */
        bind_hello(&e, &c, PORT_TLS, 41005,
                   &(struct hello){.sni = "unknown.example.org", .alpn = {"h2", "http/1.1"}});
        assert_true(broker_is(&c, 10, 20, 1, 41));
        bind_hello(&e, &c, PORT_TLS, 41006, &(struct hello){0});
        assert_true(broker_is(&c, 10, 20, 1, 41));
        assert_int_equal(STAT_OF(&e, tls_bound_default), 3);
        /* no listener pool: default_pool (and it is spliced like any other) */
        bind_hello(&e, &c, PORT_TLS_BARE, 41007, &(struct hello){.alpn = {"h2"}});
        assert_true(broker_is(&c, 10, 20, 0, 51));
        assert_int_equal(c.brk.port, 1883);
        assert_int_equal(STAT_OF(&e, tls_bound_default), 4);
        {
                uint8_t hello[1024];
                size_t n = hello_build(hello, sizeof(hello), &(struct hello){.alpn = {"h2"}});

                assert_int_equal(broker_accept(&c, got, sizeof(got)), n);
                assert_memory_equal(got, hello, n);
                data_both_ways(&c);
        }
        /* routes apply on the bare listener too */
        bind_hello(&e, &c, PORT_TLS_BARE, 41008, &(struct hello){.sni = "APPLES.example.net"});
        assert_true(broker_is(&c, 10, 20, 1, 11) || broker_is(&c, 10, 20, 1, 12));
        assert_int_equal(STAT_OF(&e, tls_bound_sni), 3);

        assert_int_equal(STAT_OF(&e, tls_hellos), 9);
        assert_int_equal(STAT_OF(&e, tls_bound_sni) + STAT_OF(&e, tls_bound_alpn) +
                             STAT_OF(&e, tls_bound_default),
                         9);
        assert_int_equal(STAT_OF(&e, tls_malformed), 0);
        /* the MQTT counters are not touched by TLS clients */
        assert_int_equal(STAT_OF(&e, bound_connect) + STAT_OF(&e, bound_publish) +
                             STAT_OF(&e, bound_subscribe) + STAT_OF(&e, bound_timeout) +
                             STAT_OF(&e, malformed) + STAT_OF(&e, self_connack),
                         0);
        assert_int_equal(lbh__connections(e.h), 9);
        env_close(&e);
        assert_int_equal(e.nrep, 9);
        for (unsigned i = 0; i < e.nrep; i++)
                assert_int_equal(e.rep[i].bound_at, LB_BOUND_CLIENT_HELLO);
}

/* Bytes after the hello, in its last segment (a ChangeCipherSpec) and while
 * the broker leg opens: replayed too, in order. */
static void test_bytes_after_hello(void **state)
{
        static const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
        static const uint8_t early[] = {23, 3, 3, 0, 3, 'a', 'b', 'c'};
        struct env e;
        struct tc c;
        uint8_t hello[1024], all[2048], got[2048];
        size_t n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "x.pears.example.net"});

        (void)state;
        memcpy(all, hello, n);
        memcpy(all + n, ccs, sizeof(ccs));
        memcpy(all + n + sizeof(ccs), early, sizeof(early));
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 40003);
        client_data(&c, all, (uint32_t)(n + sizeof(ccs)));
        run(&e, MS);
        take_syn(&c);
        client_data(&c, early, sizeof(early)); /* before the broker's SYN-ACK */
        run(&e, MS);
        assert_int_equal(broker_frames(&e), 0);
        assert_int_equal(client_frame(&c, 0)->ack, c.c_nxt);
        assert_int_equal(broker_accept(&c, got, sizeof(got)), n + sizeof(ccs) + sizeof(early));
        assert_memory_equal(got, all, n + sizeof(ccs) + sizeof(early));
        assert_int_equal(STAT_OF(&e, tls_malformed), 0);
        data_both_ways(&c);
        env_close(&e);
}

/* The pool's policy on the client address (no client id in TLS): one
 * address, one broker; many addresses, both brokers of apples-tls. */
static void test_broker_by_address(void **state)
{
        struct env e;
        struct tc c;
        uint8_t first[4], seen = 0;

        (void)state;
        env_open(&e, NULL);
        for (int i = 0; i < 4; i++) {
                bind_hello(&e, &c, PORT_TLS, (uint16_t)(47000 + i),
                           &(struct hello){.sni = "apples.example.net"});
                if (!i)
                        memcpy(first, c.broker, 4);
                assert_memory_equal(c.broker, first, 4); /* same address, same broker */
        }
        for (int i = 0; i < 32; i++) {
                uint8_t hello[1024];
                size_t n =
                    hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});

                tc_open_from(&e, &c, PORT_TLS, (uint8_t)(10 + i), 47100);
                client_data(&c, hello, (uint32_t)n);
                run(&e, MS);
                take_syn(&c);
                assert_true(broker_is(&c, 10, 20, 1, 11) || broker_is(&c, 10, 20, 1, 12));
                seen |= (uint8_t)(1u << (c.broker[3] - 11));
        }
        assert_int_equal(seen, 3);
        env_close(&e);
}

/* The client's FIN before its hello is whole: closed, no broker. */
static void test_fin_before_hello(void **state)
{
        struct env e;
        struct tc c;
        uint8_t hello[1024];
        size_t n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});
        const struct lbh_frame *f;

        (void)state;
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 47200);
        send_c(&c, TCP_OUT_ACK | TCP_OUT_FIN, c.c_nxt, c.c_rcv, hello, (uint32_t)(n / 2));
        c.c_nxt += (uint32_t)(n / 2) + 1;
        run(&e, MS);
        assert_int_equal(broker_frames(&e), 0);
        f = client_frame(&c, 0);
        assert_non_null(f);
        assert_int_equal(f->plen, 0);
        assert_int_equal(f->ack, c.c_nxt); /* its FIN ACKed */
        assert_true(f->flags & TCP_OUT_FIN);
        send_c(&c, TCP_OUT_ACK, c.c_nxt, f->seq + 1, NULL, 0);
        run(&e, MS);
        assert_int_equal(lbh__connections(e.h), 0);
        assert_int_equal(e.nrep, 1);
        assert_int_equal(e.rep[0].verdict, LB_VERDICT_CLOSED_BY_CLIENT);
        assert_int_equal(STAT_OF(&e, tls_malformed), 0);
        assert_int_equal(STAT_OF(&e, tls_hellos), 0);
        env_close(&e);
}

/* The hello and the client's FIN in one segment: bound, and the FIN goes
 * to the broker after the replay. */
static void test_hello_with_fin(void **state)
{
        struct env e;
        struct tc c;
        uint8_t hello[1024], got[2048];
        size_t n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});
        const struct lbh_frame *f;
        bool fin = false;

        (void)state;
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 47300);
        send_c(&c, TCP_OUT_ACK | TCP_OUT_FIN, c.c_nxt, c.c_rcv, hello, (uint32_t)n);
        c.c_nxt += (uint32_t)n + 1;
        run(&e, MS);
        take_syn(&c);
        send_b(&c, TCP_OUT_SYN | TCP_OUT_ACK, 900000, c.b_isn + 1, 65535, NULL, 0);
        run(&e, MS);
        {
                uint32_t len = 0;

                for (unsigned i = 0; (f = broker_frame(&e, i)); i++) {
                        memcpy(got + len, f->payload, f->plen);
                        len += f->plen;
                        fin |= (f->flags & TCP_OUT_FIN) != 0;
                        if (f->flags & TCP_OUT_FIN)
                                assert_int_equal(f->seq + f->plen, c.b_isn + 1 + n);
                }
                assert_int_equal(len, n);
                assert_memory_equal(got, hello, n);
        }
        assert_true(fin);
        env_close(&e);
}

/* Real clients' ClientHellos (tests/fixtures/tls/, captured by capture.sh),
 * when they are there: each one bound, and replayed exactly. */
static void test_fixtures(void **state)
{
        static const char *const names[] = {
            "curl_h2.bin",          "curl_tls12_http11.bin",
            "mosquitto_pub.bin",    "openssl_fragmented.bin",
            "openssl_large.bin",    "openssl_no_sni.bin",
            "openssl_sni_alpn.bin", "openssl_tls12.bin",
            "python_ssl.bin",
        };
        char dir[512], path[600];
        const char *slash;
        unsigned ran = 0;

        (void)state;
        snprintf(dir, sizeof(dir), "%s", __FILE__);
        slash = strrchr(dir, '/');
        if (!slash)
                skip();
        snprintf(dir + (slash - dir), sizeof(dir) - (size_t)(slash - dir), "/../fixtures/tls");
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
                static uint8_t bytes[16384 + 64], got[16384 + 512];
                struct env e;
                struct tc c;
                FILE *fp;
                size_t n;

                snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
                fp = fopen(path, "rb");
                if (!fp)
                        continue;
                n = fread(bytes, 1, sizeof(bytes), fp);
                fclose(fp);
                assert_true(n > 5 && n < sizeof(bytes));
                env_open(&e, NULL);
                tc_open(&e, &c, PORT_TLS, (uint16_t)(48000 + k));
                for (size_t at = 0; at < n; at += 1000) /* segments of 1000 bytes at most */
                        client_data(&c, bytes + at, (uint32_t)(n - at < 1000 ? n - at : 1000));
                run(&e, MS);
                if (STAT_OF(&e, tls_hellos) != 1)
                        fail_msg("%s: not read as a ClientHello (malformed %llu)", names[k],
                                 (unsigned long long)STAT_OF(&e, tls_malformed));
                take_syn(&c);
                assert_int_equal(broker_accept(&c, got, sizeof(got)), n);
                assert_memory_equal(got, bytes, n);
                data_both_ways(&c);
                env_close(&e);
                ran++;
        }
        if (!ran)
                skip();
}

/* ---- PROXY v2 ------------------------------------------------------------------ */

struct proxy {
        uint32_t len; /* the header's, signature included */
        uint8_t src[4], dst[4];
        uint16_t sport, dport;
        char alpn[256], authority[256];
        bool has_alpn, has_authority;
};

/* Parses a PROXY v2 header (IPv4) at p: false when it is not one. */
static bool proxy_parse(const uint8_t *p, uint32_t n, struct proxy *out)
{
        static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                        0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
        uint32_t len, at;

        memset(out, 0, sizeof(*out));
        if (n < 16 || memcmp(p, sig, 12) || p[12] != 0x21 || p[13] != 0x11)
                return false;
        len = (uint32_t)(p[14] << 8 | p[15]);
        if (len < 12 || 16 + len > n)
                return false;
        memcpy(out->src, p + 16, 4);
        memcpy(out->dst, p + 20, 4);
        out->sport = (uint16_t)(p[24] << 8 | p[25]);
        out->dport = (uint16_t)(p[26] << 8 | p[27]);
        out->len = 16 + len;
        for (at = 28; at < 16 + len;) {
                uint8_t type;
                uint16_t l;

                if (at + 3 > 16 + len)
                        return false;
                type = p[at];
                l = (uint16_t)(p[at + 1] << 8 | p[at + 2]);
                if (at + 3 + l > 16 + len)
                        return false;
                if (type == 0x01 && !out->has_alpn) {
                        out->has_alpn = true;
                        memcpy(out->alpn, p + at + 3, l);
                } else if (type == 0x02 && !out->has_authority) {
                        out->has_authority = true;
                        memcpy(out->authority, p + at + 3, l);
                } else {
                        return false; /* none other expected, none twice */
                }
                at += 3u + l;
        }
        return true;
}

/* proxy_protocol: true; the hello o on PORT_TLS; the header parsed, and the
 * rest of the replay is the hello exactly. */
static void proxied(const struct hello *o, uint16_t cport, struct proxy *px)
{
        struct env e;
        struct tc c;
        uint8_t hello[1024], got[2048];
        size_t n = hello_build(hello, sizeof(hello), o);
        uint32_t len;

        env_open(&e, "proxy_protocol: true\n");
        tc_open(&e, &c, PORT_TLS, cport);
        client_data(&c, hello, (uint32_t)n);
        run(&e, MS);
        take_syn(&c);
        len = broker_accept(&c, got, sizeof(got));
        assert_true(proxy_parse(got, len, px));
        assert_int_equal(len, px->len + n);
        assert_memory_equal(got + px->len, hello, n);
        assert_memory_equal(px->src, ((uint8_t[]){10, 10, 0, 1}), 4);
        assert_memory_equal(px->dst, ((uint8_t[]){10, 10, 0, 100}), 4);
        assert_int_equal(px->sport, cport);
        assert_int_equal(px->dport, PORT_TLS);
        data_both_ways(&c);
        env_close(&e);
}

static void test_proxy_v2(void **state)
{
        struct proxy px;

        (void)state;
        /* the alpn route's protocol (not the client's first), the name as sent */
        proxied(&(struct hello){.sni = "Apples.Example.NET.", .alpn = {"h2", "mqtt"}}, 42000, &px);
        assert_true(px.has_alpn);
        assert_string_equal(px.alpn, "mqtt");
        assert_true(px.has_authority);
        assert_string_equal(px.authority, "Apples.Example.NET.");
        /* no alpn route matches: the client's first protocol */
        proxied(&(struct hello){.sni = "x.pears.example.net", .alpn = {"h2", "http/1.1"}}, 42001,
                &px);
        assert_string_equal(px.alpn, "h2");
        assert_string_equal(px.authority, "x.pears.example.net");
        /* ALPN only */
        proxied(&(struct hello){.alpn = {"mqtt"}}, 42002, &px);
        assert_true(px.has_alpn);
        assert_string_equal(px.alpn, "mqtt");
        assert_false(px.has_authority);
        /* neither: the addresses alone */
        proxied(&(struct hello){0}, 42003, &px);
        assert_false(px.has_alpn);
        assert_false(px.has_authority);
        assert_int_equal(px.len, 16 + 12);
        /* a long name and a long protocol */
        {
                char name[254], proto[256];

                for (int i = 0; i < 253; i++)
                        name[i] = (i + 1) % 50 == 0 ? '.' : 'n';
                name[253] = '\0';
                memset(proto, 'p', 255);
                proto[255] = '\0';
                proxied(&(struct hello){.sni = name, .alpn = {proto}}, 42004, &px);
                assert_string_equal(px.authority, name);
                assert_string_equal(px.alpn, proto);
        }
}

/* ---- refused streams --------------------------------------------------------------- */

/* bytes on PORT_TLS: closed with a bare FIN, no broker, counted by reason;
 * the report says malformed and why. */
static void malformed(const uint8_t *bytes, uint32_t n, enum tls_hello_err why, uint16_t cport)
{
        struct env e;
        struct tc c;
        const struct lbh_frame *f;

        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, cport);
        client_data(&c, bytes, n);
        run(&e, MS);
        f = client_frame(&c, 0);
        assert_non_null(f);
        assert_null(client_frame(&c, 1));
        assert_int_equal(f->flags, TCP_OUT_FIN | TCP_OUT_ACK);
        assert_int_equal(f->plen, 0);
        assert_int_equal(f->seq, c.c_rcv);
        assert_int_equal(f->ack, c.c_nxt); /* what it sent is ACKed */
        assert_int_equal(broker_frames(&e), 0);
        assert_int_equal(STAT_OF(&e, tls_malformed), 1);
        assert_int_equal(tls_malformed_by(&e, why), 1);
        assert_int_equal(STAT_OF(&e, tls_hellos), 0);
        assert_int_equal(STAT_OF(&e, malformed), 0); /* the MQTT counter */
        assert_int_equal(STAT_OF(&e, tls_bound_sni) + STAT_OF(&e, tls_bound_alpn) +
                             STAT_OF(&e, tls_bound_default),
                         0);
        /* the same bytes again (a retransmission) change nothing */
        send_c(&c, TCP_OUT_ACK, c.c_nxt - n, c.c_rcv, bytes, n);
        run(&e, 10 * MS);
        assert_int_equal(broker_frames(&e), 0);
        for (unsigned i = 0; client_frame(&c, i); i++)
                assert_int_equal(client_frame(&c, i)->plen, 0);
        client_finishes(&c, f);
        assert_int_equal(broker_frames(&e), 0);
        assert_int_equal(e.nrep, 1);
        assert_int_equal(e.rep[0].verdict, LB_VERDICT_MALFORMED);
        assert_int_equal(e.rep[0].tls_err, why);
        assert_int_equal(e.rep[0].err, MQTT_OK);
        assert_int_equal(e.rep[0].bound_at, LB_BOUND_NONE);
        assert_false(e.rep[0].has_pool);
        assert_int_equal(tls_malformed_by(&e, why), 1);
        env_close(&e);
}

static void test_malformed(void **state)
{
        static const uint8_t connect[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                          0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};
        /* SSL 2.0 CLIENT-HELLO: 2-byte header with bit 7 set (RFC 6101 E.2) */
        static const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00,
                                        0x10, 0x01, 0x00, 0x80, 0x03, 0x00, 0x80, 0x07, 0x00, 0xc0,
                                        0x06, 0x00, 0x40, 0x02, 0x00, 0x80, 0x04, 0x00, 0x80, 0x00,
                                        0x00, 0x04, 0x00, 0xfe, 0xff, 0x41, 0x42, 0x43, 0x44, 0x45,
                                        0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f};
        static const char http[] = "GET / HTTP/1.1\r\nHost: apples.example.net\r\n\r\n";
        uint8_t rnd[300], hello[1024];
        uint64_t x = 0x9e3779b97f4a7c15ull;
        size_t n;

        (void)state;
        malformed(connect, sizeof(connect), TLS_HELLO_ERR_NOT_HANDSHAKE, 43000);
        malformed((const uint8_t *)http, sizeof(http) - 1, TLS_HELLO_ERR_NOT_HANDSHAKE, 43001);
        malformed(sslv2, sizeof(sslv2), TLS_HELLO_ERR_SSLV2, 43002);
        /* random bytes (xorshift64, fixed seed): refused by their first byte */
        for (size_t i = 0; i < sizeof(rnd); i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                rnd[i] = (uint8_t)(x >> 32);
        }
        assert_int_not_equal(rnd[0], 22);
        malformed(rnd, sizeof(rnd),
                  rnd[0] & 0x80 ? TLS_HELLO_ERR_SSLV2 : TLS_HELLO_ERR_NOT_HANDSHAKE, 43003);
        rnd[0] = 0x41; /* and once more, not SSLv2-looking */
        malformed(rnd, sizeof(rnd), TLS_HELLO_ERR_NOT_HANDSHAKE, 43004);
        /* a well-formed hello but for one extension twice */
        n = hello_build(
            hello, sizeof(hello),
            &(struct hello){.sni = "apples.example.net", .alpn = {"mqtt"}, .dup_ext = true});
        malformed(hello, (uint32_t)n, TLS_HELLO_ERR_DUPLICATE_EXTENSION, 43005);
        /* split over records, the duplicate in the second one */
        n = hello_build(
            hello, sizeof(hello),
            &(struct hello){.sni = "apples.example.net", .dup_ext = true, .records = 2});
        malformed(hello, (uint32_t)n, TLS_HELLO_ERR_DUPLICATE_EXTENSION, 43006);
}

/* A server name that is not a host name: refused as bad_sni, nothing sent on. */
static void test_malformed_fields(void **state)
{
        uint8_t hello[1024];
        size_t n;

        (void)state;
        n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "bad name.example.net"});
        malformed(hello, (uint32_t)n, TLS_HELLO_ERR_BAD_SNI, 43100);
        n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples..example.net"});
        malformed(hello, (uint32_t)n, TLS_HELLO_ERR_BAD_SNI, 43101);
        n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});
        hello[0] = 23; /* application_data */
        malformed(hello, (uint32_t)n, TLS_HELLO_ERR_NOT_HANDSHAKE, 43102);
        n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});
        hello[1] = 2, hello[2] = 0; /* record version 0x0200 */
        malformed(hello, (uint32_t)n, TLS_HELLO_ERR_RECORD_VERSION, 43103);
        n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});
        hello[5] = 2; /* server_hello */
        malformed(hello, (uint32_t)n, TLS_HELLO_ERR_NOT_CLIENT_HELLO, 43104);
}

/* A hello that stops short, then silence: closed at bind_timeout (2 s), no
 * broker ever. */
static void test_truncated_timeout(void **state)
{
        struct env e;
        struct tc c;
        uint8_t hello[1024];
        size_t n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});
        const struct lbh_frame *f = NULL;
        uint64_t start;

        (void)state;
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 44000);
        start = e.t;
        client_data(&c, hello, (uint32_t)(n - 10));
        run(&e, MS);
        assert_int_equal(client_frame(&c, 0)->ack, c.c_nxt);
        assert_int_equal(broker_frames(&e), 0);
        /* nothing until the bind timeout */
        while (e.t < start + 1900 * MS) {
                run(&e, 100 * MS);
                assert_int_equal(broker_frames(&e), 0);
                assert_null(client_frame(&c, 0));
        }
        for (int i = 0; i < 20 && !f; i++) {
                run(&e, 20 * MS);
                assert_int_equal(broker_frames(&e), 0);
                f = client_frame(&c, 0);
        }
        assert_non_null(f);
        assert_true(e.t >= start + 2000 * MS && e.t <= start + 2150 * MS);
        assert_int_equal(f->flags, TCP_OUT_FIN | TCP_OUT_ACK);
        assert_int_equal(f->plen, 0);
        assert_int_equal(f->seq, c.c_rcv);
        client_finishes(&c, f);
        assert_int_equal(e.nrep, 1);
        assert_int_equal(e.rep[0].verdict, LB_VERDICT_TIMEOUT);
        assert_int_equal(e.rep[0].tls_err, TLS_HELLO_OK);
        assert_int_equal(e.rep[0].bound_at, LB_BOUND_NONE);
        assert_int_equal(STAT_OF(&e, timeouts), 1);
        assert_int_equal(STAT_OF(&e, tls_malformed), 0);
        assert_int_equal(STAT_OF(&e, tls_hellos), 0);
        assert_int_equal(STAT_OF(&e, bound_timeout), 0); /* not bound to the default pool */
        env_close(&e);
}

/* Only the TCP handshake, then silence: also closed at bind_timeout. */
static void test_silent_timeout(void **state)
{
        struct env e;
        struct tc c;
        const struct lbh_frame *f = NULL;

        (void)state;
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_TLS, 44001);
        send_c(&c, TCP_OUT_ACK, c.c_nxt, c.c_rcv, NULL, 0); /* the handshake's last ACK */
        run(&e, MS);
        assert_int_equal(lbh__connections(e.h), 1);
        for (int i = 0; i < 30 && !f; i++) {
                run(&e, 100 * MS);
                assert_int_equal(broker_frames(&e), 0);
                f = client_frame(&c, 0);
        }
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_FIN | TCP_OUT_ACK);
        assert_int_equal(f->plen, 0);
        client_finishes(&c, f);
        assert_int_equal(e.rep[0].verdict, LB_VERDICT_TIMEOUT);
        env_close(&e);
}

/* No broker of the pool answers: every SYN of both brokers unanswered; the
 * client gets a bare FIN (no CONNACK: it speaks TLS). */
static void no_broker(const char *extra, unsigned syn_retries)
{
        struct env e;
        struct tc c;
        const struct lbh_frame *fin = NULL;
        unsigned syns[2] = {0, 0};
        bool other = false;

        env_open(&e, extra);
        bind_hello(&e, &c, PORT_TLS, 45000, &(struct hello){.sni = "apples.example.net"});
        syns[c.broker[3] == 12]++;
        for (int i = 0; i < 400 && !fin; i++) {
                run(&e, 50 * MS);
                for (unsigned k = 0; broker_frame(&e, k); k++) {
                        const struct lbh_frame *f = broker_frame(&e, k);

                        if (f->flags & TCP_OUT_RST)
                                continue; /* a leg given up may be reset */
                        assert_int_equal(f->flags, TCP_OUT_SYN);
                        if (f->daddr[2] == 1 && (f->daddr[3] == 11 || f->daddr[3] == 12))
                                syns[f->daddr[3] == 12]++;
                        else
                                other = true;
                }
                for (unsigned k = 0; client_frame(&c, k); k++) {
                        const struct lbh_frame *f = client_frame(&c, k);

                        assert_int_equal(f->plen, 0); /* no byte of ours on a TLS stream */
                        if (f->flags & TCP_OUT_RST)
                                fail_msg("the client got an RST, not a FIN, after %u SYNs to "
                                         ".11 and %u to .12 (syn_retries %u each); verdict %s, "
                                         "no_broker %llu, timeouts %llu",
                                         syns[0], syns[1], syn_retries,
                                         e.nrep ? lb_verdict__str(e.rep[0].verdict) : "none",
                                         (unsigned long long)STAT_OF(&e, no_broker),
                                         (unsigned long long)STAT_OF(&e, timeouts));
                        if (f->flags & TCP_OUT_FIN)
                                fin = f;
                }
        }
        assert_non_null(fin);
        assert_false(other);
        /* each broker: its SYN and syn_retries more */
        assert_int_equal(syns[0], 1 + syn_retries);
        assert_int_equal(syns[1], 1 + syn_retries);
        assert_int_equal(fin->flags, TCP_OUT_FIN | TCP_OUT_ACK);
        assert_int_equal(fin->seq, c.c_rcv);
        assert_int_equal(fin->ack, c.c_nxt);
        assert_int_equal(STAT_OF(&e, no_broker), 1);
        assert_int_equal(STAT_OF(&e, broker_failovers), 1);
        assert_int_equal(STAT_OF(&e, spliced), 0);
        assert_int_equal(STAT_OF(&e, self_connack), 0);
        client_finishes(&c, fin);
        assert_int_equal(e.nrep, 1);
        assert_int_equal(e.rep[0].verdict, LB_VERDICT_NO_BROKER);
        assert_int_equal(e.rep[0].bound_at, LB_BOUND_CLIENT_HELLO);
        assert_string_equal(e.rep[0].pool, "apples-tls");
        assert_string_equal(e.rep[0].sni, "apples.example.net");
        env_close(&e);
}

static void test_no_broker(void **state)
{
        (void)state;
        no_broker(NULL, 2);
}

/* The same with more SYN retries over both brokers (6 + 6) than the
 * connection's retransmission limit (CONN_RTO_MAX, 8): each broker still
 * gets syn_retries retries (docs/config.md), and the client still a bare
 * FIN and the verdict no_broker. */
static void test_no_broker_many_retries(void **state)
{
        (void)state;
        no_broker("connections: {bind_timeout: 2s, connect_timeout: 10ms, syn_retries: 6}\n", 6);
}

/* ---- the MQTT listener beside ---------------------------------------------- */

static void test_mqtt_listener(void **state)
{
        static const uint8_t connect[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                          0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};
        static const uint8_t publish[] = {0x30, 0x0f, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e',
                                          's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};
        static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
        struct env e;
        struct tc c, t;
        const struct lbh_frame *f;
        uint8_t got[256], hello[1024];
        size_t n;

        (void)state;
        env_open(&e, NULL);
        tc_open(&e, &c, PORT_MQTT, 46000);
        client_data(&c, connect, sizeof(connect));
        run(&e, MS);
        f = client_frame(&c, 0);
        assert_non_null(f);
        assert_int_equal(f->plen, 4); /* the balancer's CONNACK */
        assert_memory_equal(f->payload, connack, 4);
        assert_int_equal(broker_frames(&e), 0);
        c.c_rcv += 4;
        client_data(&c, publish, sizeof(publish));
        run(&e, MS);
        take_syn(&c);
        assert_true(broker_is(&c, 10, 20, 0, 11));
        assert_int_equal(c.brk.port, 1883);
        assert_int_equal(broker_accept(&c, got, sizeof(got)), sizeof(connect) + sizeof(publish));
        assert_memory_equal(got, connect, sizeof(connect));
        assert_memory_equal(got + sizeof(connect), publish, sizeof(publish));
        /* the broker's CONNACK is eaten (the client had ours) */
        send_b(&c, TCP_OUT_ACK, c.b_nxt, c.b_rcv, 1000, connack, 4);
        c.b_nxt += 4;
        run(&e, MS);
        for (unsigned i = 0; client_frame(&c, i); i++)
                assert_int_equal(client_frame(&c, i)->plen, 0);
        assert_int_equal(STAT_OF(&e, bound_publish), 1);
        assert_int_equal(STAT_OF(&e, self_connack), 1);
        /* a TLS client at the same time, then more MQTT */
        n = hello_build(hello, sizeof(hello), &(struct hello){.sni = "apples.example.net"});
        tc_open(&e, &t, PORT_TLS, 46001);
        client_data(&t, hello, (uint32_t)n);
        run(&e, MS);
        take_syn(&t);
        assert_true(broker_is(&t, 10, 20, 1, 11) || broker_is(&t, 10, 20, 1, 12));
        client_data(&c, publish, sizeof(publish));
        run(&e, MS);
        assert_int_equal(broker_frames(&e), 1);
        f = broker_frame(&e, 0);
        assert_int_equal(f->seq, c.b_rcv);
        assert_memory_equal(f->payload, publish, sizeof(publish));
        c.b_rcv += sizeof(publish);
        /* MQTT bytes on the MQTT listener are never TLS-malformed, and the
         * other way round */
        assert_int_equal(STAT_OF(&e, tls_malformed), 0);
        assert_int_equal(STAT_OF(&e, malformed), 0);
        assert_int_equal(STAT_OF(&e, tls_hellos), 1);
        assert_int_equal(STAT_OF(&e, publishes), 2);
        /* a ClientHello on the MQTT listener is an MQTT protocol error */
        {
                struct tc m;

                tc_open(&e, &m, PORT_MQTT, 46002);
                client_data(&m, hello, (uint32_t)n);
                run(&e, MS);
                assert_int_equal(broker_frames(&e), 0);
                assert_int_equal(STAT_OF(&e, malformed), 1);
                assert_int_equal(STAT_OF(&e, tls_malformed), 0);
        }
        env_close(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sni_exact),         cmocka_unit_test(test_split_hello),
            cmocka_unit_test(test_byte_by_byte),      cmocka_unit_test(test_routes),
            cmocka_unit_test(test_bytes_after_hello), cmocka_unit_test(test_broker_by_address),
            cmocka_unit_test(test_fin_before_hello),  cmocka_unit_test(test_hello_with_fin),
            cmocka_unit_test(test_fixtures),          cmocka_unit_test(test_proxy_v2),
            cmocka_unit_test(test_malformed),         cmocka_unit_test(test_malformed_fields),
            cmocka_unit_test(test_truncated_timeout), cmocka_unit_test(test_silent_timeout),
            cmocka_unit_test(test_no_broker),         cmocka_unit_test(test_no_broker_many_retries),
            cmocka_unit_test(test_mqtt_listener),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
