/*
 * The splice, segment by segment (DESIGN.md "The splice must be invisible to
 * TCP"): a connection is opened through the real balancer (tests/lib
 * lb_harness: the worker and core/lb/ files on a virtual clock), bound at its
 * first PUBLISH, its broker leg opened and spliced; then segments go in from
 * either side and the segments that come out are checked field by field.
 *
 * Checked: duplicate ACKs reach the client; both edges of every SACK block
 * are translated, both ways, and blocks the receiver cannot use are taken
 * out; RSTs are checked as RFC 5961 says (exact tears down, in the window
 * draws a challenge ACK, outside is dropped) both ways; the RSTs the
 * balancer sends on idle timeout and misroute disconnect are exact for their
 * receivers; a SYN sent again keeps its ISN; the fast and the general
 * rewrite produce the same bytes; window updates go through and windows are
 * rescaled between legs with unequal shifts; sequence numbers wrap at 2^32;
 * the replay is sent again after three duplicate ACKs; a segment of a broker
 * leg the balancer no longer holds draws an exact RST. Each case runs with
 * sequence numbers far from and across the 2^32 wrap.
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

static const char CONFIG[] = "interfaces: [{name: lb0}]\n"
                             "listeners: [{address: 10.10.0.100, port: 1883}]\n"
                             "source_addresses: [10.20.0.1]\n"
                             "workers: 1\n"
                             "pools:\n"
                             "  - name: apples\n"
                             "    brokers: [\"10.20.0.11:1883\"]\n"
                             "  - name: pears\n"
                             "    brokers: [\"10.20.0.13:1883\"]\n"
                             "routes: [{topic: \"apples/#\", pool: apples}, "
                             "{topic: \"pears/#\", pool: pears}]\n"
                             "default_pool: apples\n"
                             "misroute: disconnect\n"
                             "connections: {idle_timeout: 5s, connect_timeout: 250ms}\n";

#define MS          1000000ull
#define LEG_RETRIES 3 /* CONN_LEG_RETRIES (core/lb/lb_conn.h) */

static const uint8_t CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                  0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};
static const uint8_t PUBLISH[] = {0x30, 0x0f, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e',
                                  's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};
static const uint8_t PEARS[] = {0x30, 0x0e, 0x00, 0x07, 'p', 'e', 'a', 'r',
                                's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};
static const uint8_t CONNACK[] = {0x20, 0x02, 0x00, 0x00};

/* One spliced connection and both endpoints' view of it. */
struct sp {
        struct lbh *h;
        struct lbh_peer cli, brk;
        uint64_t t;
        uint32_t c_nxt, c_rcv; /* client: next sequence to send, next expected */
        uint32_t b_nxt, b_rcv; /* broker: the same */
        uint32_t b_isn;        /* the balancer's ISN toward the broker */
        uint8_t c_ws, b_ws;    /* shifts the client and the broker offer */
};

/* The parameters a case runs with. */
struct params {
        uint32_t c_isn, r_isn;
        uint8_t c_ws, b_ws;
};

static const struct params FAR = {1000, 5000000, 7, 7};
static const struct params WRAP = {0xffffffe0u, 0xfffffff0u, 2, 9};

static bool to_client(const struct lbh_frame *f)
{
        return f->family == 4 && f->daddr[0] == 10 && f->daddr[1] == 10;
}

static bool to_broker(const struct lbh_frame *f)
{
        return f->family == 4 && f->daddr[0] == 10 && f->daddr[1] == 20;
}

/* The n-th frame of this round toward the client (or the broker), or NULL. */
static const struct lbh_frame *nth(const struct sp *s, bool client, unsigned n)
{
        for (uint32_t i = 0; i < s->h->nout; i++) {
                const struct lbh_frame *f = &s->h->out[i];

                if (client ? to_client(f) : to_broker(f)) {
                        assert_true(f->ok); /* every frame out has right checksums */
                        if (!n--)
                                return f;
                }
        }
        return NULL;
}

static unsigned count(const struct sp *s, bool client)
{
        unsigned n = 0;

        while (nth(s, client, n))
                n++;
        return n;
}

static void run(struct sp *s, uint64_t dt)
{
        lbh__clear(s->h);
        s->t += dt;
        lbh__run(s->h, s->t);
}

static void send_c(struct sp *s, uint8_t flags, uint32_t seq, uint32_t ack, const void *data,
                   uint32_t len, const struct tcp_sack_block *sack, unsigned nsack)
{
        assert_int_equal(
            lbh__send(s->h, &s->cli,
                      &(struct lbh_seg){.flags = flags,
                                        .seq = seq,
                                        .ack = ack,
                                        .win = 1000,
                                        .sack = sack,
                                        .nsack = nsack,
                                        .data = data,
                                        .len = len,
                                        .syn = &(struct tcp_out_syn_opts){1460, s->c_ws, true}}),
            0);
}

static void send_b(struct sp *s, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
                   const void *data, uint32_t len, const struct tcp_sack_block *sack,
                   unsigned nsack)
{
        assert_int_equal(
            lbh__send(s->h, &s->brk,
                      &(struct lbh_seg){.flags = flags,
                                        .seq = seq,
                                        .ack = ack,
                                        .win = win,
                                        .sack = sack,
                                        .nsack = nsack,
                                        .data = data,
                                        .len = len,
                                        .syn = &(struct tcp_out_syn_opts){1460, s->b_ws, true}}),
            0);
}

/* Client data: sent, and the client's next sequence moves on. */
static uint32_t client_data(struct sp *s, const void *d, uint32_t n)
{
        uint32_t seq = s->c_nxt;

        send_c(s, TCP_OUT_ACK, seq, s->c_rcv, d, n, NULL, 0);
        s->c_nxt += n;
        return seq;
}

/* The harness on yaml and a client at 10.10.0.1:port (window shift 7, SACK)
 * that has sent nothing yet. */
static void open_client(struct sp *s, const char *yaml, uint16_t port)
{
        char err[256];

        memset(s, 0, sizeof(*s));
        if (lbh__open(&s->h, &(struct lbh_cfg){.yaml = yaml}, err, sizeof(err)))
                fail_msg("harness: %s", err);
        s->c_ws = 7;
        s->b_ws = 7;
        s->cli = (struct lbh_peer){.family = 4,
                                   .addr = {10, 10, 0, 1},
                                   .to = {10, 10, 0, 100},
                                   .port = port,
                                   .to_port = 1883};
        s->t = 1000 * MS;
}

/* The client's handshake (ISN 1000) and CONNECT; the balancer's CONNACK
 * (4 bytes) taken. */
static void client_connect(struct sp *s)
{
        send_c(s, TCP_OUT_SYN, 1000, 0, NULL, 0, NULL, 0);
        run(s, MS);
        s->c_nxt = 1001;
        s->c_rcv = nth(s, true, 0)->seq + 1;
        client_data(s, CONNECT, sizeof(CONNECT));
        run(s, MS);
        s->c_rcv += 4;
}

/* The broker leg's SYN, the first frame to the broker: s->brk addresses
 * the leg from here, s->b_isn is its ISN. */
static void leg_of_syn(struct sp *s)
{
        const struct lbh_frame *f = nth(s, false, 0);

        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_SYN);
        s->b_isn = f->seq;
        s->brk = (struct lbh_peer){.family = 4,
                                   .to = {10, 20, 0, 1},
                                   .port = 1883,
                                   .to_port = f->sport,
                                   .mac = LBH_BROKER_MAC};
        memcpy(s->brk.addr, f->daddr, 4);
}

static void open_conn(struct sp *s, const char *yaml, const struct params *pp)
{
        const struct lbh_frame *f;

        open_client(s, yaml, 40000);
        s->c_ws = pp->c_ws;
        s->b_ws = pp->b_ws;
        /* handshake: the cookie SYN-ACK */
        send_c(s, TCP_OUT_SYN, pp->c_isn, 0, NULL, 0, NULL, 0);
        run(s, MS);
        f = nth(s, true, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_SYN | TCP_OUT_ACK);
        s->c_nxt = pp->c_isn + 1;
        s->c_rcv = f->seq + 1;
        /* CONNECT: ACKed, CONNACK answered by the balancer */
        send_c(s, TCP_OUT_ACK, s->c_nxt, s->c_rcv, CONNECT, sizeof(CONNECT), NULL, 0);
        s->c_nxt += sizeof(CONNECT);
        run(s, MS);
        f = nth(s, true, 0);
        assert_non_null(f);
        assert_int_equal(f->plen, 4);
        s->c_rcv += 4;
        /* the first PUBLISH binds: SYN to the broker */
        client_data(s, PUBLISH, sizeof(PUBLISH));
        run(s, MS);
        leg_of_syn(s);
        /* SYN-ACK: the replay (CONNECT + PUBLISH) comes */
        send_b(s, TCP_OUT_SYN | TCP_OUT_ACK, pp->r_isn, s->b_isn + 1, 65535, NULL, 0, NULL, 0);
        run(s, MS);
        s->b_nxt = pp->r_isn + 1;
        s->b_rcv = s->b_isn + 1 + sizeof(CONNECT) + sizeof(PUBLISH);
        f = nth(s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->plen, sizeof(CONNECT) + sizeof(PUBLISH));
        /* the broker ACKs it and sends its CONNACK, which the balancer eats */
        send_b(s, TCP_OUT_ACK, s->b_nxt, s->b_rcv, 1000, CONNACK, 4, NULL, 0);
        s->b_nxt += 4;
        run(s, MS);
        for (unsigned i = 0; nth(s, true, i); i++)
                assert_int_equal(nth(s, true, i)->plen, 0); /* the CONNACK is not forwarded */
        assert_int_equal(lbh__connections(s->h), 1);
}

static void close_conn(struct sp *s)
{
        assert_int_equal(lbh__close(s->h), 0); /* every frame back in the pool */
}

static uint64_t stat(const struct sp *s, size_t off)
{
        struct lb_stats st;

        lbh__stats(s->h, &st);
        return *(const uint64_t *)((const uint8_t *)&st + off);
}
#define STAT_OF(s, name) stat(s, offsetof(struct lb_stats, name))

/* Translation offsets as the endpoints see them: client seq + c2b = broker
 * seq of the same byte; broker seq + b2c = client seq. */
static uint32_t c2b(const struct sp *s)
{
        return s->b_rcv - s->c_nxt;
}

static uint32_t b2c(const struct sp *s)
{
        return s->c_rcv - s->b_nxt;
}

/* ---- duplicate ACKs and SACK ------------------------------------------------ */

static void dup_acks_and_sack(const struct params *pp)
{
        struct sp s;
        uint32_t a, b, e, d;
        const struct lbh_frame *f;

        open_conn(&s, CONFIG, pp);
        d = c2b(&s);
        /* segment A is lost on the way to the broker, B arrives */
        a = client_data(&s, PUBLISH, sizeof(PUBLISH));
        b = client_data(&s, PUBLISH, sizeof(PUBLISH));
        e = s.c_nxt;
        run(&s, MS);
        assert_int_equal(count(&s, false), 2);
        assert_int_equal(nth(&s, false, 0)->seq, a + d);
        assert_int_equal(nth(&s, false, 1)->seq, b + d);
        /* three duplicate ACKs from the broker, SACKing B */
        for (int i = 0; i < 3; i++) {
                struct tcp_sack_block blk = {b + d, e + d};

                send_b(&s, TCP_OUT_ACK, s.b_nxt, a + d, 1000, NULL, 0, &blk, 1);
                run(&s, MS);
                f = nth(&s, true, 0);
                assert_non_null(f); /* forwarded: the client's fast retransmit */
                assert_int_equal(f->ack, a);
                assert_int_equal(f->seq, s.c_rcv);
                assert_int_equal(f->nsack, 1);
                assert_int_equal(f->sack[0].start, b); /* both edges in client space */
                assert_int_equal(f->sack[0].end, e);
        }
        /* and plain duplicates, without SACK blocks: each one goes through */
        for (int i = 0; i < 3; i++) {
                send_b(&s, TCP_OUT_ACK, s.b_nxt, a + d, 1000, NULL, 0, NULL, 0);
                run(&s, MS);
                f = nth(&s, true, 0);
                assert_non_null(f);
                assert_int_equal(f->ack, a);
                assert_int_equal(f->nsack, 0);
        }
        /* the retransmission of A, and the cumulative ACK */
        send_c(&s, TCP_OUT_ACK, a, s.c_rcv, PUBLISH, sizeof(PUBLISH), NULL, 0);
        run(&s, MS);
        assert_int_equal(nth(&s, false, 0)->seq, a + d);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, e + d, 1000, NULL, 0, NULL, 0);
        run(&s, MS);
        assert_int_equal(nth(&s, true, 0)->ack, e);
        close_conn(&s);
}

static void test_dup_acks_and_sack(void **state)
{
        (void)state;
        dup_acks_and_sack(&FAR);
        dup_acks_and_sack(&WRAP);
}

/* The client SACKs broker data: three blocks, every edge translated; a
 * block over bytes the other leg never carried is taken out. */
static void sack_to_broker(const struct params *pp)
{
        struct sp s;
        uint8_t data[100];
        uint32_t seg[4], d;
        const struct lbh_frame *f;

        memset(data, 'x', sizeof(data));
        data[0] = 0x30, data[1] = 98; /* a PUBLISH frame over the 100 bytes, for the parser */
        open_conn(&s, CONFIG, pp);
        d = b2c(&s);
        for (int i = 0; i < 4; i++) {
                seg[i] = s.b_nxt;
                send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, data, 25, NULL, 0);
                s.b_nxt += 25;
        }
        run(&s, MS);
        assert_int_equal(count(&s, true), 4);
        for (int i = 0; i < 4; i++)
                assert_int_equal(nth(&s, true, (unsigned)i)->seq, seg[i] + d);
        /* the client got segments 0 and 2: ACK 1, SACK 2 (and a D-SACK of 0) */
        {
                struct tcp_sack_block blk[2] = {{seg[2] + d, seg[3] + d}, {seg[0] + d, seg[1] + d}};

                send_c(&s, TCP_OUT_ACK, s.c_nxt, seg[1] + d, NULL, 0, blk, 2);
        }
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->ack, seg[1]);
        assert_int_equal(f->nsack, 1); /* the D-SACK below the ACK is out */
        assert_int_equal(f->sack[0].start, seg[2]);
        assert_int_equal(f->sack[0].end, seg[3]);
        /* three blocks */
        {
                struct tcp_sack_block blk[3] = {{seg[3] + d, seg[3] + 25 + d},
                                                {seg[2] + d, seg[2] + 10 + d},
                                                {seg[2] + 15 + d, seg[3] + d}};

                send_c(&s, TCP_OUT_ACK, s.c_nxt, seg[1] + d, NULL, 0, blk, 3);
        }
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_int_equal(f->nsack, 3);
        assert_int_equal(f->sack[0].start, seg[3]);
        assert_int_equal(f->sack[0].end, seg[3] + 25);
        assert_int_equal(f->sack[1].start, seg[2]);
        assert_int_equal(f->sack[1].end, seg[2] + 10);
        assert_int_equal(f->sack[2].start, seg[2] + 15);
        assert_int_equal(f->sack[2].end, seg[3]);
        close_conn(&s);
}

static void test_sack_to_broker(void **state)
{
        (void)state;
        sack_to_broker(&FAR);
        sack_to_broker(&WRAP);
}

/* A broker SACK block over replayed bytes (the balancer ACKed them to the
 * client itself): not the client's to hear. */
static void test_sack_over_replay_removed(void **state)
{
        struct sp s;
        struct tcp_sack_block blk = {0, 0};
        const struct lbh_frame *f;
        uint32_t a;

        (void)state;
        open_conn(&s, CONFIG, &FAR);
        a = client_data(&s, PUBLISH, sizeof(PUBLISH));
        run(&s, MS);
        blk.start = s.b_isn + 1;
        blk.end = s.b_isn + 10;
        send_b(&s, TCP_OUT_ACK, s.b_nxt, a + c2b(&s), 1000, NULL, 0, &blk, 1);
        run(&s, MS);
        f = nth(&s, true, 0);
        assert_non_null(f);
        assert_int_equal(f->ack, a);
        assert_int_equal(f->nsack, 0);
        close_conn(&s);
}

/* ---- RST (RFC 5961 3.2) ------------------------------------------------------- */

enum rst_want { GONE, CHALLENGED, IGNORED };

static const struct {
        const char *name;
        int32_t off; /* from the receiver's RCV.NXT */
        enum rst_want want;
} RST_CASES[] = {
    {"exact", 0, GONE},
    {"in window", 100, CHALLENGED},
    {"just past the window", 0x7fff0000, IGNORED},
    {"behind", -1, IGNORED},
    {"far behind", -100000, IGNORED},
};

static void rst_from_client(const struct params *pp)
{
        for (size_t i = 0; i < sizeof(RST_CASES) / sizeof(RST_CASES[0]); i++) {
                struct sp s;
                const struct lbh_frame *f;

                open_conn(&s, CONFIG, pp);
                send_c(&s, TCP_OUT_RST, s.c_nxt + (uint32_t)RST_CASES[i].off, 0, NULL, 0, NULL, 0);
                run(&s, MS);
                switch (RST_CASES[i].want) {
                case GONE:
                        f = nth(&s, false, 0);
                        assert_non_null(f);
                        assert_true(f->flags & TCP_OUT_RST);
                        assert_int_equal(f->seq, s.b_rcv); /* exact for the broker */
                        assert_int_equal(lbh__connections(s.h), 0);
                        break;
                case CHALLENGED:
                        assert_int_equal(count(&s, false), 0);
                        f = nth(&s, true, 0);
                        assert_non_null(f);
                        assert_int_equal(f->flags, TCP_OUT_ACK);
                        assert_int_equal(f->seq, s.c_rcv);
                        assert_int_equal(f->ack, s.c_nxt);
                        assert_int_equal(lbh__connections(s.h), 1);
                        assert_int_equal(STAT_OF(&s, rst_challenged), 1);
                        break;
                case IGNORED:
                        assert_int_equal(s.h->nout, 0);
                        assert_int_equal(lbh__connections(s.h), 1);
                        assert_int_equal(STAT_OF(&s, rst_ignored), 1);
                        break;
                }
                if (RST_CASES[i].want != GONE) { /* and the connection still works */
                        client_data(&s, PUBLISH, sizeof(PUBLISH));
                        run(&s, MS);
                        assert_int_equal(count(&s, false), 1);
                }
                close_conn(&s);
        }
}

static void test_rst_from_client(void **state)
{
        (void)state;
        rst_from_client(&FAR);
        rst_from_client(&WRAP);
}

static void rst_from_broker(const struct params *pp)
{
        for (size_t i = 0; i < sizeof(RST_CASES) / sizeof(RST_CASES[0]); i++) {
                struct sp s;
                const struct lbh_frame *f;

                open_conn(&s, CONFIG, pp);
                send_b(&s, TCP_OUT_RST, s.b_nxt + (uint32_t)RST_CASES[i].off, 0, 0, NULL, 0, NULL,
                       0);
                run(&s, MS);
                switch (RST_CASES[i].want) {
                case GONE:
                        f = nth(&s, true, 0);
                        assert_non_null(f);
                        assert_true(f->flags & TCP_OUT_RST);
                        assert_int_equal(f->seq, s.c_rcv); /* exact for the client */
                        assert_int_equal(lbh__connections(s.h), 0);
                        break;
                case CHALLENGED:
                        assert_int_equal(count(&s, true), 0);
                        f = nth(&s, false, 0);
                        assert_non_null(f);
                        assert_int_equal(f->flags, TCP_OUT_ACK);
                        assert_int_equal(f->ack, s.b_nxt);
                        assert_int_equal(lbh__connections(s.h), 1);
                        break;
                case IGNORED:
                        assert_int_equal(s.h->nout, 0);
                        assert_int_equal(lbh__connections(s.h), 1);
                        break;
                }
                close_conn(&s);
        }
}

static void test_rst_from_broker(void **state)
{
        (void)state;
        rst_from_broker(&FAR);
        rst_from_broker(&WRAP);
}

/* ---- the RSTs the balancer sends ------------------------------------------- */

/* The broker sent something after its CONNACK: the client's RCV.NXT is
 * past our own bytes. The idle timeout's RSTs must be exact for both. */
static void idle_timeout_rst(const struct params *pp)
{
        static const uint8_t pub[] = {0x30, 0x06, 0x00, 0x01, 'a', 'h', 'e', 'y'};
        struct sp s;
        const struct lbh_frame *f;

        open_conn(&s, CONFIG, pp);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, pub, sizeof(pub), NULL, 0);
        s.b_nxt += sizeof(pub);
        run(&s, MS);
        f = nth(&s, true, 0);
        assert_non_null(f);
        assert_int_equal(f->seq, s.c_rcv);
        s.c_rcv += sizeof(pub);
        send_c(&s, TCP_OUT_ACK, s.c_nxt, s.c_rcv, NULL, 0, NULL, 0);
        run(&s, MS);
        run(&s, 6000 * MS); /* idle_timeout 5s */
        f = nth(&s, true, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_RST);
        assert_int_equal(f->seq, s.c_rcv);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_RST);
        assert_int_equal(f->seq, s.b_rcv);
        assert_int_equal(lbh__connections(s.h), 0);
        assert_int_equal(STAT_OF(&s, timeouts), 1);
        close_conn(&s);
}

static void test_idle_timeout_rst(void **state)
{
        (void)state;
        idle_timeout_rst(&FAR);
        idle_timeout_rst(&WRAP);
}

/* misroute: disconnect, after the broker sent bytes: both RSTs exact. */
static void test_misroute_disconnect(void **state)
{
        static const uint8_t pub[] = {0x30, 0x06, 0x00, 0x01, 'a', 'h', 'e', 'y'};
        struct sp s;
        const struct lbh_frame *f;

        (void)state;
        open_conn(&s, CONFIG, &WRAP);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, pub, sizeof(pub), NULL, 0);
        s.b_nxt += sizeof(pub);
        run(&s, MS);
        s.c_rcv += sizeof(pub);
        client_data(&s, PEARS, sizeof(PEARS));
        run(&s, MS);
        f = nth(&s, true, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_RST);
        assert_int_equal(f->seq, s.c_rcv);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_RST);
        assert_int_equal(f->seq, s.b_rcv);
        assert_int_equal(lbh__connections(s.h), 0);
        assert_int_equal(STAT_OF(&s, misroute_disconnects), 1);
        close_conn(&s);
}

/* ---- the broker leg's SYN and replay ---------------------------------------------- */

/*
 * A broker that resets its leg before it sent a byte or ACKed the replay
 * (a SYN-cookie answer from a full accept queue, a stale SYN-ACK): the
 * client hears nothing of it, the leg is made again from another local port
 * and the whole replay goes to it; the connection then works. A reset after
 * the broker spoke goes to the client as before, and so does the fourth in
 * a row.
 */
static void test_broker_reset_retried(void **state)
{
        struct sp s;
        const struct lbh_frame *f;
        uint16_t first_port;

        (void)state;
        open_client(&s, CONFIG, 40000);
        client_connect(&s);
        client_data(&s, PUBLISH, sizeof(PUBLISH));
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_SYN);
        first_port = f->sport;
        for (int round = 0; round < LEG_RETRIES + 1; round++) {
                s.b_isn = f->seq;
                s.brk = (struct lbh_peer){.family = 4,
                                          .to = {10, 20, 0, 1},
                                          .port = 1883,
                                          .to_port = f->sport,
                                          .mac = LBH_BROKER_MAC};
                memcpy(s.brk.addr, f->daddr, 4);
                /* SYN-ACK; the replay comes; the broker resets at its ACK */
                send_b(&s, TCP_OUT_SYN | TCP_OUT_ACK, 7000, s.b_isn + 1, 65535, NULL, 0, NULL, 0);
                run(&s, MS);
                f = nth(&s, false, 0);
                assert_non_null(f);
                assert_int_equal(f->plen, sizeof(CONNECT) + sizeof(PUBLISH));
                send_b(&s, TCP_OUT_RST, 7001, 0, 0, NULL, 0, NULL, 0);
                run(&s, MS);
                if (round == LEG_RETRIES)
                        break;
                /* nothing to the client; a new SYN from another port */
                assert_int_equal(count(&s, true), 0);
                f = nth(&s, false, 0);
                assert_non_null(f);
                assert_true(f->flags & TCP_OUT_SYN);
                assert_int_not_equal(f->sport, first_port);
                first_port = f->sport;
                assert_int_equal(STAT_OF(&s, broker_leg_retries), (uint64_t)round + 1);
                assert_int_equal(lbh__connections(s.h), 1);
        }
        /* the fourth reset: no more retries, the client gets it */
        f = nth(&s, true, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_RST);
        assert_int_equal(STAT_OF(&s, broker_leg_retries), LEG_RETRIES);
        assert_int_equal(lbh__connections(s.h), 0);
        close_conn(&s);

        /* one reset, then a broker that works: the connection carries on */
        open_client(&s, CONFIG, 40001);
        client_connect(&s);
        client_data(&s, PUBLISH, sizeof(PUBLISH));
        run(&s, MS);
        f = nth(&s, false, 0);
        s.brk = (struct lbh_peer){.family = 4,
                                  .to = {10, 20, 0, 1},
                                  .port = 1883,
                                  .to_port = f->sport,
                                  .mac = LBH_BROKER_MAC};
        memcpy(s.brk.addr, f->daddr, 4);
        send_b(&s, TCP_OUT_SYN | TCP_OUT_ACK, 7000, f->seq + 1, 65535, NULL, 0, NULL, 0);
        run(&s, MS);
        send_b(&s, TCP_OUT_RST, 7001, 0, 0, NULL, 0, NULL, 0);
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        s.b_isn = f->seq;
        s.brk.to_port = f->sport;
        send_b(&s, TCP_OUT_SYN | TCP_OUT_ACK, 9000, s.b_isn + 1, 65535, NULL, 0, NULL, 0);
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->plen, sizeof(CONNECT) + sizeof(PUBLISH)); /* the whole replay */
        s.b_nxt = 9001;
        s.b_rcv = s.b_isn + 1 + sizeof(CONNECT) + sizeof(PUBLISH);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, CONNACK, 4, NULL, 0);
        s.b_nxt += 4;
        run(&s, MS);
        assert_int_equal(count(&s, true), 0 + (nth(&s, true, 0) ? 1 : 0)); /* no RST, no CONNACK */
        for (unsigned i = 0; nth(&s, true, i); i++)
                assert_false(nth(&s, true, i)->flags & TCP_OUT_RST);
        /* a reset now (the broker took the replay): the client gets it */
        send_b(&s, TCP_OUT_RST, s.b_nxt, 0, 0, NULL, 0, NULL, 0);
        run(&s, MS);
        f = nth(&s, true, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_RST);
        assert_int_equal(STAT_OF(&s, broker_leg_retries), 1);
        close_conn(&s);
}

/* A client connected and bound by its first PUBLISH, the broker leg's SYN
 * sent. */
static void bound_syn(struct sp *s)
{
        open_client(s, CONFIG, 40000);
        client_connect(s);
        client_data(s, PUBLISH, sizeof(PUBLISH));
        run(s, MS);
        leg_of_syn(s);
}

/* After wait, the leg's SYN again: the same 4-tuple and ISN. */
static void syn_again(struct sp *s, uint64_t wait)
{
        const struct lbh_frame *f;

        run(s, wait);
        f = nth(s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_SYN);
        assert_int_equal(f->sport, s->brk.to_port);
        assert_int_equal(f->seq, s->b_isn);
}

static void test_syn_retry_keeps_isn(void **state)
{
        struct sp s;

        (void)state;
        bound_syn(&s);
        /* the SYN-ACK is lost: the SYN again, same 4-tuple, same ISN */
        for (int i = 0; i < 2; i++)
                syn_again(&s, 300 * MS << i);
        assert_int_equal(STAT_OF(&s, broker_syn_retries), 2);
        assert_int_equal(lbh__close(s.h), 0);
}

/* The broker still holds the leg's 4-tuple from an earlier connection
 * (TIME-WAIT) and answers our SYN with an ACK of that one: an RST with
 * <SEQ=SEG.ACK> (RFC 9293 3.10.7.3), counted, no failover; the SYN sent
 * again, same 4-tuple and ISN, then opens the leg. An RST with a wrong ACK
 * draws nothing. */
static void test_stale_ack_in_syn_sent(void **state)
{
        struct sp s;
        const struct lbh_frame *f;

        (void)state;
        bound_syn(&s);
        /* the old connection's ACK */
        send_b(&s, TCP_OUT_ACK, 5000, 777777, 65535, NULL, 0, NULL, 0);
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_RST);
        assert_int_equal(f->seq, 777777);
        assert_int_equal(f->sport, s.brk.to_port);
        assert_int_equal(STAT_OF(&s, broker_stale_acks), 1);
        /* an RST with a wrong ACK: nothing */
        send_b(&s, TCP_OUT_RST | TCP_OUT_ACK, 5000, 777777, 0, NULL, 0, NULL, 0);
        run(&s, MS);
        assert_int_equal(count(&s, false), 0);
        assert_int_equal(STAT_OF(&s, broker_failovers), 0);
        /* the SYN again; the SYN-ACK opens the leg and the replay comes */
        syn_again(&s, 300 * MS);
        send_b(&s, TCP_OUT_SYN | TCP_OUT_ACK, 9000, s.b_isn + 1, 65535, NULL, 0, NULL, 0);
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->plen, sizeof(CONNECT) + sizeof(PUBLISH));
        assert_int_equal(STAT_OF(&s, broker_stale_acks), 1);
        assert_int_equal(STAT_OF(&s, broker_failovers), 0);
        assert_int_equal(lbh__close(s.h), 0);
}

/* An ACK 2^31 past what we sent, while the broker leg is being opened: not
 * taken (serial arithmetic cannot order it), and the SYN's retransmission
 * timer sends nothing of ours from 2 GB away (found by fuzz.lb: an
 * out-of-bounds read of the own-bytes array). */
static void test_ack_half_the_space_away(void **state)
{
        struct sp s;
        const struct lbh_frame *f;

        (void)state;
        open_client(&s, CONFIG, 40000);
        client_connect(&s);
        client_data(&s, PUBLISH, sizeof(PUBLISH)); /* ACKs the CONNACK, binds */
        run(&s, MS);
        send_c(&s, TCP_OUT_ACK | TCP_OUT_FIN, s.c_nxt, s.c_rcv + 0x80000000u, NULL, 0, NULL, 0);
        run(&s, MS);
        run(&s, 300 * MS); /* the SYN's timer */
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_SYN);
        for (unsigned i = 0; nth(&s, true, i); i++)
                assert_true(nth(&s, true, i)->plen <= 4);
        assert_int_equal(lbh__close(s.h), 0);
}

/* Three duplicate ACKs during the replay: sent again at once, not after
 * the RTO (250 ms). */
static void test_replay_fast_retransmit(void **state)
{
        struct sp s;
        const struct lbh_frame *f;
        uint8_t big[3000];

        (void)state;
        memset(big, 'x', sizeof(big));
        /* a PUBLISH of 3000 bytes after CONNECT: bound at it, replayed in
         * three segments (MSS 1460) */
        big[0] = 0x30, big[1] = 0xb5, big[2] = 0x17; /* remaining length 2997 */
        big[3] = 0x00, big[4] = 0x08;
        memcpy(big + 5, "apples/x", 8);
        open_client(&s, CONFIG, 40000);
        client_connect(&s);
        client_data(&s, big, 1400);
        client_data(&s, big + 1400, 1400);
        client_data(&s, big + 2800, 200);
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_SYN);
        s.b_isn = f->seq;
        s.brk = (struct lbh_peer){.family = 4,
                                  .to = {10, 20, 0, 1},
                                  .port = 1883,
                                  .to_port = f->sport,
                                  .mac = LBH_BROKER_MAC};
        memcpy(s.brk.addr, f->daddr, 4);
        send_b(&s, TCP_OUT_SYN | TCP_OUT_ACK, 777, s.b_isn + 1, 65535, NULL, 0, NULL, 0);
        run(&s, MS);
        assert_true(count(&s, false) >= 3);
        /* the first replay segment was lost: the broker ACKs the SYN only */
        for (int i = 0; i < 3; i++) {
                send_b(&s, TCP_OUT_ACK, 778, s.b_isn + 1, 65535, NULL, 0, NULL, 0);
                run(&s, MS);
        }
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->seq, s.b_isn + 1);
        assert_true(f->plen > 0);
        assert_int_equal(STAT_OF(&s, retransmits), 1);
        assert_int_equal(lbh__close(s.h), 0);
}

/* ---- rewrite paths ------------------------------------------------------------ */

/* A segment through the general path (it builds the leg's template), then
 * the same segment again (a retransmission) through the fast path: the
 * same bytes out. Both ways. */
static void test_fast_equals_general(void **state)
{
        static const uint8_t pub[] = {0x30, 0x06, 0x00, 0x01, 'a', 'h', 'e', 'y'};
        struct sp s;
        uint8_t first[2048];
        uint32_t len, seq;

        (void)state;
        open_conn(&s, CONFIG, &WRAP);
        seq = client_data(&s, PUBLISH, sizeof(PUBLISH));
        run(&s, MS);
        len = nth(&s, false, 0)->len;
        memcpy(first, nth(&s, false, 0)->bytes, len);
        send_c(&s, TCP_OUT_ACK, seq, s.c_rcv, PUBLISH, sizeof(PUBLISH), NULL, 0);
        run(&s, MS);
        assert_int_equal(nth(&s, false, 0)->len, len);
        assert_memory_equal(nth(&s, false, 0)->bytes, first, len);

        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, pub, sizeof(pub), NULL, 0);
        run(&s, MS);
        len = nth(&s, true, 0)->len;
        memcpy(first, nth(&s, true, 0)->bytes, len);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, pub, sizeof(pub), NULL, 0);
        run(&s, MS);
        assert_int_equal(nth(&s, true, 0)->len, len);
        assert_memory_equal(nth(&s, true, 0)->bytes, first, len);
        close_conn(&s);
}

/* A pure window update from the broker reaches the client, rescaled from
 * the broker's shift to ours; the client's zero-window probe reaches the
 * broker. */
static void window_update(const struct params *pp)
{
        struct sp s;
        const struct lbh_frame *f;

        open_conn(&s, CONFIG, pp);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 0, NULL, 0, NULL, 0);
        run(&s, MS);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 300, NULL, 0, NULL, 0);
        run(&s, MS);
        f = nth(&s, true, 0);
        assert_non_null(f);
        /* the same bytes of window on both legs (to a unit of our shift) */
        {
                uint64_t want = (uint64_t)300 << pp->b_ws, got = (uint64_t)f->win << 7;

                if (want > ((uint64_t)65535 << 7))
                        want = (uint64_t)65535 << 7;
                assert_true(got <= want && got + 128 > want);
        }
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 0, NULL, 0, NULL, 0);
        run(&s, MS);
        client_data(&s, "x", 1); /* a probe into the zero window */
        run(&s, MS);
        assert_int_equal(count(&s, false), 1);
        close_conn(&s);
}

static void test_window_update(void **state)
{
        (void)state;
        window_update(&FAR);
        window_update(&WRAP);
}

/* After the idle timeout, a late broker segment to the leg draws an RST at
 * its own ACK: the broker does not keep a half-open session. */
static void test_stray_broker_segment_reset(void **state)
{
        struct sp s;
        const struct lbh_frame *f;

        (void)state;
        open_conn(&s, CONFIG, &FAR);
        run(&s, 6000 * MS);
        assert_int_equal(lbh__connections(s.h), 0);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, "\xd0\x00", 2, NULL, 0);
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_RST);
        assert_int_equal(f->seq, s.b_rcv);
        assert_int_equal(STAT_OF(&s, stray_reset), 1);
        close_conn(&s);
}

/* Every source address of the configuration carries broker legs: 20
 * sources, 20 connections, 20 different source addresses (only 16 were
 * ever used while the balancer had its own, smaller, limit). */
static void test_all_sources_used(void **state)
{
        char yaml[2048], err[256];
        size_t n;
        bool seen[21] = {false};
        unsigned distinct = 0;
        struct sp s;

        (void)state;
        n = (size_t)snprintf(yaml, sizeof(yaml), "%s",
                             "interfaces: [{name: lb0}]\n"
                             "listeners: [{address: 10.10.0.100, "
                             "port: 1883}]\n"
                             "source_addresses: [");
        for (int i = 1; i <= 20; i++)
                n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "%s10.20.0.%d", i > 1 ? ", " : "",
                                      i);
        snprintf(yaml + n, sizeof(yaml) - n,
                 "]\nworkers: 1\npools: [{name: apples, brokers: [\"10.20.1.11:1883\"]}]\n"
                 "default_pool: apples\n");
        memset(&s, 0, sizeof(s));
        if (lbh__open(&s.h, &(struct lbh_cfg){.yaml = yaml}, err, sizeof(err)))
                fail_msg("harness: %s", err);
        s.c_ws = 7;
        s.t = 1000 * MS;
        for (int i = 0; i < 20; i++) {
                const struct lbh_frame *f;

                s.cli = (struct lbh_peer){.family = 4,
                                          .addr = {10, 10, 0, 1},
                                          .to = {10, 10, 0, 100},
                                          .port = (uint16_t)(40000 + i),
                                          .to_port = 1883};
                send_c(&s, TCP_OUT_SYN, 1000, 0, NULL, 0, NULL, 0);
                run(&s, MS);
                s.c_nxt = 1001;
                s.c_rcv = nth(&s, true, 0)->seq + 1;
                client_data(&s, CONNECT, sizeof(CONNECT));
                run(&s, MS);
                /* bound at CONNECT once the client id is learned, else at
                 * its PUBLISH */
                if (!(f = nth(&s, false, 0))) {
                        s.c_rcv += 4;
                        client_data(&s, PUBLISH, sizeof(PUBLISH));
                        run(&s, MS);
                        f = nth(&s, false, 0);
                }
                assert_non_null(f);
                assert_true(f->flags & TCP_OUT_SYN);
                assert_int_equal(f->saddr[2], 0);
                assert_true(f->saddr[3] >= 1 && f->saddr[3] <= 20);
                if (!seen[f->saddr[3]]++)
                        distinct++;
        }
        assert_int_equal(distinct, 20);
        assert_int_equal(lbh__close(s.h), 0);
}

/* Found by sim.splice (seeds 3, 11, 12): a SACK block starting at the ACK
 * (Linux discards it) is taken out. */
static void test_sack_at_ack_removed(void **state)
{
        static const uint8_t pub[] = {0x30, 0x06, 0x00, 0x01, 'a', 'h', 'e', 'y'};
        struct sp s;
        uint32_t seg0, d;
        struct tcp_sack_block blk;

        (void)state;
        open_conn(&s, CONFIG, &FAR);
        d = b2c(&s);
        seg0 = s.b_nxt;
        for (int i = 0; i < 2; i++) {
                send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv, 1000, pub, sizeof(pub), NULL, 0);
                s.b_nxt += sizeof(pub);
        }
        run(&s, MS);
        blk = (struct tcp_sack_block){seg0 + d, seg0 + sizeof(pub) + d};
        send_c(&s, TCP_OUT_ACK, s.c_nxt, seg0 + d, NULL, 0, &blk, 1);
        run(&s, MS);
        assert_non_null(nth(&s, false, 0));
        assert_int_equal(nth(&s, false, 0)->nsack, 0);
        close_conn(&s);
}

/* Found by sim.splice (seed 9): a later segment of a good client overtakes
 * its first; its cookie cannot be checked without the ISN the first
 * carries: dropped, not reset; the first makes the connection. */
static void test_overtaking_segment_not_reset(void **state)
{
        struct sp s;

        (void)state;
        open_client(&s, CONFIG, 40000);
        send_c(&s, TCP_OUT_SYN, 1000, 0, NULL, 0, NULL, 0);
        run(&s, MS);
        s.c_rcv = nth(&s, true, 0)->seq + 1;
        /* the second segment (PUBLISH) first, then a pure ACK after it */
        send_c(&s, TCP_OUT_ACK, 1001 + sizeof(CONNECT), s.c_rcv, PUBLISH, sizeof(PUBLISH), NULL, 0);
        send_c(&s, TCP_OUT_ACK, 1001 + sizeof(CONNECT) + sizeof(PUBLISH), s.c_rcv, NULL, 0, NULL,
               0);
        run(&s, MS);
        assert_int_equal(s.h->nout, 0);
        assert_int_equal(lbh__connections(s.h), 0);
        /* the first one comes again: the connection is made, nothing reset */
        send_c(&s, TCP_OUT_ACK, 1001, s.c_rcv, CONNECT, sizeof(CONNECT), NULL, 0);
        run(&s, MS);
        assert_int_equal(lbh__connections(s.h), 1);
        for (unsigned i = 0; nth(&s, true, i); i++)
                assert_false(nth(&s, true, i)->flags & TCP_OUT_RST);
        assert_int_equal(lbh__close(s.h), 0);
}

/* Found by sim.splice (seed 1563): both FINs seen but the broker's last
 * bytes and FIN not yet ACKed by a slow client: the connection is kept
 * (the broker retransmits them) until they are, then lingers. */
static void test_linger_after_fins_acked(void **state)
{
        static const uint8_t pub[] = {0x30, 0x06, 0x00, 0x01, 'a', 'h', 'e', 'y'};
        struct sp s;

        (void)state;
        open_conn(&s, CONFIG, &WRAP);
        send_b(&s, TCP_OUT_ACK | TCP_OUT_FIN, s.b_nxt, s.b_rcv, 1000, pub, sizeof(pub), NULL, 0);
        s.b_nxt += sizeof(pub) + 1;
        run(&s, MS);
        /* the client closes too, ACKing nothing of it yet */
        send_c(&s, TCP_OUT_ACK | TCP_OUT_FIN, s.c_nxt, s.c_rcv, NULL, 0, NULL, 0);
        s.c_nxt++;
        run(&s, MS);
        send_b(&s, TCP_OUT_ACK, s.b_nxt, s.b_rcv + 1, 1000, NULL, 0, NULL, 0); /* its FIN ACKed */
        run(&s, MS);
        run(&s, 3000 * MS);
        assert_int_equal(lbh__connections(s.h), 1); /* 3 s on: still there */
        send_c(&s, TCP_OUT_ACK, s.c_nxt, s.c_rcv + sizeof(pub) + 1, NULL, 0, NULL, 0);
        run(&s, MS);
        run(&s, 2500 * MS); /* the linger */
        assert_int_equal(lbh__connections(s.h), 0);
        close_conn(&s);
}

/* Found by sim.splice: a SYN-ACK to a broker leg the balancer gave up on
 * draws <SEQ=SEG.ACK><CTL=RST> (RFC 9293 3.10.7.1), not a seq-0 RST the
 * broker would drop. */
static void test_stray_synack_reset(void **state)
{
        struct sp s;
        const struct lbh_frame *f;

        (void)state;
        open_conn(&s, CONFIG, &FAR);
        s.brk.to_port = (uint16_t)(s.brk.to_port + 1); /* a port of no leg */
        send_b(&s, TCP_OUT_SYN | TCP_OUT_ACK, 424242, 777777, 65535, NULL, 0, NULL, 0);
        run(&s, MS);
        f = nth(&s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_RST);
        assert_int_equal(f->seq, 777777);
        close_conn(&s);
}

/* Found by fuzz.lb: a client segment half the sequence space away moved
 * the broker leg's SND.MAX, and three duplicate ACKs then made the replay
 * read 2 GB past its buffer. Such a segment is dropped and counted, both
 * ways, and the connection goes on. */
static void test_insane_segments_dropped(void **state)
{
        struct sp s;

        (void)state;
        open_conn(&s, CONFIG, &WRAP);
        send_c(&s, TCP_OUT_ACK, s.c_nxt + 0x80000000u, s.c_rcv, NULL, 0, NULL, 0);
        send_c(&s, TCP_OUT_ACK, s.c_nxt, s.c_rcv + 0x50000000u, NULL, 0, NULL, 0);
        send_b(&s, TCP_OUT_ACK, s.b_nxt - 0x60000000u, s.b_rcv, 1000, NULL, 0, NULL, 0);
        run(&s, MS);
        assert_int_equal(s.h->nout, 0);
        assert_int_equal(STAT_OF(&s, insane_segments), 3);
        client_data(&s, PUBLISH, sizeof(PUBLISH));
        run(&s, MS);
        assert_int_equal(count(&s, false), 1);
        close_conn(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_dup_acks_and_sack),
            cmocka_unit_test(test_sack_to_broker),
            cmocka_unit_test(test_sack_over_replay_removed),
            cmocka_unit_test(test_rst_from_client),
            cmocka_unit_test(test_rst_from_broker),
            cmocka_unit_test(test_idle_timeout_rst),
            cmocka_unit_test(test_misroute_disconnect),
            cmocka_unit_test(test_syn_retry_keeps_isn),
            cmocka_unit_test(test_stale_ack_in_syn_sent),
            cmocka_unit_test(test_broker_reset_retried),
            cmocka_unit_test(test_ack_half_the_space_away),
            cmocka_unit_test(test_replay_fast_retransmit),
            cmocka_unit_test(test_fast_equals_general),
            cmocka_unit_test(test_window_update),
            cmocka_unit_test(test_stray_broker_segment_reset),
            cmocka_unit_test(test_all_sources_used),
            cmocka_unit_test(test_sack_at_ack_removed),
            cmocka_unit_test(test_overtaking_segment_not_reset),
            cmocka_unit_test(test_linger_after_fins_acked),
            cmocka_unit_test(test_stray_synack_reset),
            cmocka_unit_test(test_insane_segments_dropped),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
