/*
 * The connect window (core/lb/lb_setup.c; lb_conn.h "lb_setup.c: the
 * connect window"), through the real balancer (tests/lib lb_harness: the
 * worker and core/lb/ files on a virtual clock, one worker loop): clients
 * bind, their broker legs' SYNs are counted as they reach the broker, the
 * broker answers leg by leg, and the counters connect_queued,
 * connect_waiting and connect_queue_timeouts are read. Which connection a
 * broker leg belongs to is read from its replay (the broker's SYN-ACK draws
 * it): every client's CONNECT carries its own client id, "cli0" to "cli5".
 *
 * Checked: with connections.connect_window W, at most W legs per broker are
 * between their SYN and the broker's first byte; the rest wait, oldest
 * first, and each is started at the tick after a slot came free (a bind in
 * the same round as the slot came free queues behind them). A SYN-ACK or a
 * pure ACK of the replay keeps the slot, a payload byte (the CONNACK) or a
 * FIN frees it. A waiting connection whose client resets it, or that the
 * balancer closes (a malformed packet), leaves the queue and never sends a
 * SYN; one closed with its SYN out frees its slot. A connection that waits
 * longer than bind_timeout is refused (a CONNACK "server unavailable" for a
 * client that still waits for its CONNACK, else a FIN) and counted; the
 * deadline holds for a client that sent CONNECT and PUBLISH in one segment
 * too, whose CONNACK is sent again meanwhile if lost. A leg whose
 * broker never answers gives its slot up when it fails over to the next
 * broker, or when the connection is refused with no broker left. A SYN sent
 * again, and a leg made again after the broker's RST, keep their slot.
 * connect_window 0: no limit.
 *
 * The window is shared out among the workers, ceil(W / workers) slots per
 * broker each: the harness opens the balancer with several workers
 * (lbh_cfg.nworkers) and drives worker 0 of them, whose share is checked
 * (W 3 of 2 workers: 2 slots; 1 of 2: 1; 4 of 4: 1; 5 of 4: 2). How the
 * other workers use theirs is not checked here: the harness runs one
 * worker loop.
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

#define MS   1000000ull
#define NCLI 6

static const uint8_t PUBLISH[] = {0x30, 0x0f, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e',
                                  's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};
static const uint8_t CONNACK[] = {0x20, 0x02, 0x00, 0x00};
/* CONNACK, return code 3: server unavailable (3.1.1 §3.2.2.3) */
static const uint8_t REFUSED[] = {0x20, 0x02, 0x00, 0x03};

#define CONNECT_LEN 18
#define CONNECT_ID  17 /* the offset of the client id's last character */

/* MQTT 3.1.1 CONNECT of client id "cli<i>"; persistent: clean session 0,
 * which binds at the CONNECT (DESIGN.md "When to bind"); otherwise the
 * balancer answers it and the first PUBLISH binds. */
static void connect_pkt(uint8_t out[CONNECT_LEN], unsigned i, bool persistent)
{
        static const uint8_t base[CONNECT_LEN] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                                  0x02, 0x00, 0x3c, 0x00, 0x04, 'c', 'l', 'i', '0'};

        memcpy(out, base, CONNECT_LEN);
        out[9] = persistent ? 0x00 : 0x02;
        out[CONNECT_ID] = (uint8_t)('0' + i);
}

struct cli {
        struct lbh_peer p;
        uint32_t nxt, rcv; /* next sequence to send, next expected */
};

/* A broker leg, as the broker sees it. */
struct leg {
        struct lbh_peer p;
        uint32_t isn;      /* the balancer's ISN toward the broker */
        uint32_t nxt, rcv; /* the broker's next sequence to send, next expected */
};

struct cw {
        struct lbh *h;
        uint64_t t;
        struct cli c[NCLI];
};

/* Pools: one broker, or two under source-ip balance (every client of
 * 10.10.0.1 is the first one's). */
static const char ONE_BROKER[] = "brokers: [\"10.20.0.11:1883\"]";
static const char TWO_BROKERS[] =
    "balance: source-ip, brokers: [\"10.20.0.11:1883\", \"10.20.0.12:1883\"]";

/* Configuration: one pool (pool: its keys), the connections: settings
 * given; a balancer of nworkers workers (the harness drives the first). */
static void open_cw_n(struct cw *s, uint32_t nworkers, const char *pool, const char *connections)
{
        char yaml[1024], err[256];

        snprintf(yaml, sizeof(yaml),
                 "interfaces: [{name: lb0}]\n"
                 "listeners: [{address: 10.10.0.100, port: 1883}]\n"
                 "source_addresses: [10.20.0.1]\n"
                 "workers: %u\n"
                 "pools: [{name: apples, %s}]\n"
                 "default_pool: apples\n"
                 "connections: {%s}\n",
                 nworkers, pool, connections);
        memset(s, 0, sizeof(*s));
        if (lbh__open(&s->h, &(struct lbh_cfg){.yaml = yaml, .nworkers = nworkers}, err,
                      sizeof(err)))
                fail_msg("harness: %s", err);
        s->t = 1000 * MS;
        for (unsigned i = 0; i < NCLI; i++)
                s->c[i].p = (struct lbh_peer){.family = 4,
                                              .addr = {10, 10, 0, 1},
                                              .to = {10, 10, 0, 100},
                                              .port = (uint16_t)(40000 + i),
                                              .to_port = 1883};
}

/* One worker. */
static void open_cw(struct cw *s, bool two_brokers, const char *connections)
{
        open_cw_n(s, 1, two_brokers ? TWO_BROKERS : ONE_BROKER, connections);
}

static void close_cw(struct cw *s)
{
        assert_int_equal(lbh__close(s->h), 0); /* every frame back in the pool */
}

static uint64_t stat(const struct cw *s, size_t off)
{
        struct lb_stats st;

        lbh__stats(s->h, &st);
        return *(const uint64_t *)((const uint8_t *)&st + off);
}
#define STAT_OF(s, name) stat(s, offsetof(struct lb_stats, name))

static void run(struct cw *s, uint64_t dt)
{
        lbh__clear(s->h);
        s->t += dt;
        lbh__run(s->h, s->t);
}

static bool to_client(const struct cw *s, const struct lbh_frame *f, unsigned i)
{
        return f->family == 4 && f->daddr[0] == 10 && f->daddr[1] == 10 &&
               f->dport == s->c[i].p.port;
}

static bool to_broker(const struct lbh_frame *f)
{
        return f->family == 4 && f->daddr[0] == 10 && f->daddr[1] == 20;
}

static bool is_syn(const struct lbh_frame *f)
{
        return to_broker(f) && f->flags == TCP_OUT_SYN;
}

/* The n-th frame of this round toward client i, or NULL. */
static const struct lbh_frame *nth_c(const struct cw *s, unsigned i, unsigned n)
{
        for (uint32_t k = 0; k < s->h->nout; k++) {
                const struct lbh_frame *f = &s->h->out[k];

                if (to_client(s, f, i)) {
                        assert_true(f->ok);
                        if (!n--)
                                return f;
                }
        }
        return NULL;
}

/* The n-th frame of this round toward a broker (or the n-th SYN), or NULL. */
static const struct lbh_frame *nth_b(const struct cw *s, bool syn, unsigned n)
{
        for (uint32_t k = 0; k < s->h->nout; k++) {
                const struct lbh_frame *f = &s->h->out[k];

                if (syn ? is_syn(f) : to_broker(f)) {
                        assert_true(f->ok);
                        if (!n--)
                                return f;
                }
        }
        return NULL;
}

static unsigned count_b(const struct cw *s, bool syn)
{
        unsigned n = 0;

        while (nth_b(s, syn, n))
                n++;
        return n;
}

static unsigned count_c(const struct cw *s, unsigned i)
{
        unsigned n = 0;

        while (nth_c(s, i, n))
                n++;
        return n;
}

static void send_c(struct cw *s, unsigned i, uint8_t flags, const void *data, uint32_t len)
{
        struct cli *c = &s->c[i];

        assert_int_equal(lbh__send(s->h, &c->p,
                                   &(struct lbh_seg){.flags = flags,
                                                     .seq = flags & TCP_OUT_SYN ? 1000 : c->nxt,
                                                     .ack = c->rcv,
                                                     .win = 1000,
                                                     .data = data,
                                                     .len = len}),
                         0);
        c->nxt += len;
}

/* Client i's handshake (ISN 1000, the cookie SYN-ACK taken), not run on. */
static void client_open(struct cw *s, unsigned i)
{
        const struct lbh_frame *f;

        send_c(s, i, TCP_OUT_SYN, NULL, 0);
        run(s, MS);
        f = nth_c(s, i, 0);
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_SYN | TCP_OUT_ACK);
        s->c[i].nxt = 1001;
        s->c[i].rcv = f->seq + 1;
}

/* Client i's handshake and CONNECT. Not persistent: the balancer's own
 * CONNACK taken (the PUBLISH binds); persistent: bound at it. */
static void client_connect(struct cw *s, unsigned i, bool persistent)
{
        uint8_t pkt[CONNECT_LEN];

        client_open(s, i);
        connect_pkt(pkt, i, persistent);
        send_c(s, i, TCP_OUT_ACK, pkt, sizeof(pkt));
        run(s, MS);
        if (!persistent) {
                const struct lbh_frame *f = nth_c(s, i, 0);

                assert_non_null(f);
                assert_int_equal(f->plen, sizeof(CONNACK));
                assert_memory_equal(f->payload, CONNACK, sizeof(CONNACK));
                s->c[i].rcv += sizeof(CONNACK);
        }
}

/* Client i's PUBLISH (it binds an unbound connection), run. */
static void client_publish(struct cw *s, unsigned i)
{
        send_c(s, i, TCP_OUT_ACK, PUBLISH, sizeof(PUBLISH));
        run(s, MS);
}

/* The leg of the SYN f. */
static void leg_of(struct leg *l, const struct lbh_frame *f)
{
        assert_non_null(f);
        assert_int_equal(f->flags, TCP_OUT_SYN);
        memset(l, 0, sizeof(*l));
        l->p = (struct lbh_peer){
            .family = 4, .port = 1883, .to_port = f->sport, .mac = LBH_BROKER_MAC};
        memcpy(l->p.addr, f->daddr, 4);
        memcpy(l->p.to, f->saddr, 4);
        l->isn = f->seq;
}

static void send_b(struct cw *s, const struct leg *l, uint8_t flags, uint32_t seq, uint32_t ack,
                   const void *data, uint32_t len)
{
        assert_int_equal(lbh__send(s->h, &l->p,
                                   &(struct lbh_seg){.flags = flags,
                                                     .seq = seq,
                                                     .ack = ack,
                                                     .win = 65535,
                                                     .data = data,
                                                     .len = len}),
                         0);
}

/* The broker's SYN-ACK to leg l: the replay comes. Returns the client the
 * leg is of (its CONNECT's client id); no new SYN went out. */
static unsigned leg_synack(struct cw *s, struct leg *l)
{
        const struct lbh_frame *f;

        send_b(s, l, TCP_OUT_SYN | TCP_OUT_ACK, 5000, l->isn + 1, NULL, 0);
        run(s, MS);
        assert_int_equal(count_b(s, true), 0); /* a SYN-ACK keeps the slot */
        f = nth_b(s, false, 0);
        assert_non_null(f);
        assert_int_equal(f->sport, l->p.to_port);
        assert_int_equal(f->seq, l->isn + 1);
        assert_true(f->plen >= CONNECT_LEN);
        assert_int_equal(f->payload[0], 0x10); /* the CONNECT first */
        l->nxt = 5001;
        l->rcv = l->isn + 1 + f->plen;
        return (unsigned)(f->payload[CONNECT_ID] - '0');
}

/* The broker ACKs the replay (no payload), run. */
static void leg_ack(struct cw *s, const struct leg *l)
{
        send_b(s, l, TCP_OUT_ACK, l->nxt, l->rcv, NULL, 0);
        run(s, MS);
}

/* The broker's bytes, run. */
static void leg_data(struct cw *s, struct leg *l, const void *data, uint32_t len)
{
        send_b(s, l, TCP_OUT_ACK, l->nxt, l->rcv, data, len);
        l->nxt += len;
        run(s, MS);
}

/* The broker's CONNACK (its first payload byte), run. */
static void leg_connack(struct cw *s, struct leg *l)
{
        leg_data(s, l, CONNACK, sizeof(CONNACK));
}

/* The broker's FIN (no payload), run. */
static void leg_fin(struct cw *s, struct leg *l)
{
        send_b(s, l, TCP_OUT_ACK | TCP_OUT_FIN, l->nxt, l->rcv, NULL, 0);
        l->nxt++;
        run(s, MS);
}

/* The one SYN of this round: its leg (f checked to be a fresh one). */
static void one_syn(struct cw *s, struct leg *l)
{
        assert_int_equal(count_b(s, true), 1);
        leg_of(l, nth_b(s, true, 0));
}

/* ---- the window and its queue --------------------------------------------- */

/* connect_window 2, five binds: two SYNs, three wait. A SYN-ACK or an ACK
 * of the replay frees nothing; the broker's first byte (a CONNACK) or its
 * FIN frees the slot, and the oldest waiting connection's SYN goes out at
 * the next tick, one per slot freed. A bind in the same round as the slot
 * came free does not take it before those waiting. */
static void test_window_fifo(void **state)
{
        struct cw s;
        struct leg l[6];

        (void)state;
        open_cw(&s, false, "connect_window: 2");
        for (unsigned i = 0; i < 6; i++)
                client_connect(&s, i, false);
        for (unsigned i = 0; i < 5; i++) {
                client_publish(&s, i);
                if (i < 2) {
                        one_syn(&s, &l[i]);
                } else {
                        assert_int_equal(count_b(&s, false), 0); /* nothing to a broker */
                }
        }
        assert_int_equal(l[0].p.addr[3], 11);
        assert_int_not_equal(l[0].p.to_port, l[1].p.to_port);
        assert_int_equal(STAT_OF(&s, connect_queued), 3);
        assert_int_equal(STAT_OF(&s, connect_waiting), 3);
        assert_int_equal(lbh__connections(s.h), 6);

        /* the SYN-ACKs: the replays of clients 0 and 1, nothing started */
        assert_int_equal(leg_synack(&s, &l[0]), 0);
        assert_int_equal(leg_synack(&s, &l[1]), 1);
        assert_int_equal(STAT_OF(&s, connect_waiting), 3);
        /* the replay ACKed, nothing said yet: still setting up */
        leg_ack(&s, &l[0]);
        assert_int_equal(count_b(&s, true), 0);
        run(&s, 10 * MS); /* ticks without a slot freed */
        assert_int_equal(count_b(&s, true), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 3);

        /* leg 0's CONNACK, and client 5 binds in the same round (before
         * the tick that starts the next): one SYN, the oldest waiting
         * connection's; client 5 waits behind the others */
        send_b(&s, &l[0], TCP_OUT_ACK, l[0].nxt, l[0].rcv, CONNACK, sizeof(CONNACK));
        l[0].nxt += sizeof(CONNACK);
        client_publish(&s, 5);
        one_syn(&s, &l[2]);
        assert_int_equal(STAT_OF(&s, connect_queued), 4);
        assert_int_equal(STAT_OF(&s, connect_waiting), 3);
        assert_int_equal(leg_synack(&s, &l[2]), 2);
        /* more bytes of leg 0 free nothing more */
        leg_data(&s, &l[0], PUBLISH, sizeof(PUBLISH));
        assert_int_equal(count_b(&s, true), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 3);

        /* leg 1's FIN, without a byte: the next one */
        leg_fin(&s, &l[1]);
        one_syn(&s, &l[3]);
        assert_int_equal(leg_synack(&s, &l[3]), 3);
        assert_int_equal(STAT_OF(&s, connect_waiting), 2);

        leg_connack(&s, &l[2]);
        one_syn(&s, &l[4]);
        assert_int_equal(leg_synack(&s, &l[4]), 4);
        leg_connack(&s, &l[3]);
        one_syn(&s, &l[5]);
        assert_int_equal(leg_synack(&s, &l[5]), 5);
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        assert_int_equal(STAT_OF(&s, connect_queued), 4); /* counted once each */
        assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 0);
        close_cw(&s);
}

/* connect_window 0: no limit, nothing waits. */
static void test_window_unlimited(void **state)
{
        struct cw s;
        struct leg l[5];

        (void)state;
        open_cw(&s, false, "connect_window: 0");
        for (unsigned i = 0; i < 5; i++)
                client_connect(&s, i, false);
        for (unsigned i = 0; i < 5; i++) {
                client_publish(&s, i);
                one_syn(&s, &l[i]);
        }
        assert_int_equal(STAT_OF(&s, connect_queued), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        for (unsigned i = 0; i < 5; i++)
                assert_int_equal(leg_synack(&s, &l[i]), i);
        close_cw(&s);
}

/* least-connections counts a connection against its broker from its bind,
 * not from the broker's SYN-ACK: six binds before any broker answered go
 * two to each of three brokers (counted at the SYN-ACK, all six would see
 * three idle brokers and go to the first, and with a connect window wait
 * in its queue while the others idle). A connection that ends gives its
 * count back: the next bind goes to its broker. */
static void test_least_conn_burst(void **state)
{
        struct cw s;
        unsigned per[3] = {0};
        struct leg l;

        (void)state;
        open_cw_n(&s, 1,
                  "balance: least-connections, brokers: [\"10.20.0.11:1883\", "
                  "\"10.20.0.12:1883\", \"10.20.0.13:1883\"]",
                  "connect_window: 64");
        for (unsigned i = 0; i < NCLI; i++)
                client_connect(&s, i, false);
        for (unsigned i = 0; i < NCLI; i++) {
                const struct lbh_frame *f;

                client_publish(&s, i);
                assert_int_equal(count_b(&s, true), 1);
                f = nth_b(&s, true, 0);
                assert_true(f->daddr[3] >= 11 && f->daddr[3] <= 13);
                per[f->daddr[3] - 11]++;
                if (i == NCLI - 1)
                        leg_of(&l, f);
        }
        assert_int_equal(per[0], 2);
        assert_int_equal(per[1], 2);
        assert_int_equal(per[2], 2);
        assert_int_equal(STAT_OF(&s, connect_queued), 0);
        /* the last client leaves (its leg not answered yet): its broker
         * has one connection fewer, and takes the next bind */
        send_c(&s, NCLI - 1, TCP_OUT_RST, NULL, 0);
        run(&s, MS);
        s.c[0].p.port = 41000; /* a new client in client 0's place, */
        s.c[0].nxt = s.c[0].rcv = 0;
        client_connect(&s, 0, true); /* bound at its CONNECT (a learned id) */
        assert_int_equal(count_b(&s, true), 1);
        assert_memory_equal(nth_b(&s, true, 0)->daddr, l.p.addr, 4);
        close_cw(&s);
}

/* The window shared out among the workers: of connect_window W and n
 * workers, this worker (the harness's) has ceil(W / n) slots per broker.
 * Five binds: that many SYNs, the rest wait; a slot freed starts the
 * oldest waiting one, and no more. The legs' local ports are worker 0's
 * (port % n == 0). */
static void test_window_per_worker(void **state)
{
        static const struct {
                uint32_t window, nworkers, slots;
        } cases[] = {{3, 2, 2}, {1, 2, 1}, {4, 4, 1}, {5, 4, 2}};
        char connections[64];

        (void)state;
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                const uint32_t slots = cases[k].slots;
                struct cw s;
                struct leg l[5];

                snprintf(connections, sizeof(connections), "connect_window: %u", cases[k].window);
                open_cw_n(&s, cases[k].nworkers, ONE_BROKER, connections);
                for (unsigned i = 0; i < 5; i++)
                        client_connect(&s, i, false);
                for (unsigned i = 0; i < 5; i++) {
                        client_publish(&s, i);
                        if (i < slots) {
                                one_syn(&s, &l[i]);
                                assert_int_equal(l[i].p.to_port % cases[k].nworkers, 0);
                        } else {
                                assert_int_equal(count_b(&s, false), 0);
                        }
                }
                assert_int_equal(STAT_OF(&s, connect_queued), 5 - slots);
                assert_int_equal(STAT_OF(&s, connect_waiting), 5 - slots);
                for (unsigned i = 0; i < slots; i++)
                        assert_int_equal(leg_synack(&s, &l[i]), i);
                run(&s, 10 * MS); /* ticks: nothing more starts */
                assert_int_equal(count_b(&s, true), 0);

                leg_connack(&s, &l[0]); /* one slot free: the oldest waiting one */
                one_syn(&s, &l[slots]);
                assert_int_equal(leg_synack(&s, &l[slots]), slots);
                assert_int_equal(STAT_OF(&s, connect_waiting), 4 - slots);
                assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 0);
                close_cw(&s);
        }
}

/* A waiting connection whose client resets it: out of the queue, no SYN
 * for it ever; the one behind it is started in its place. */
static void test_reset_while_waiting(void **state)
{
        struct cw s;
        struct leg l0, l2;

        (void)state;
        open_cw(&s, false, "connect_window: 1");
        for (unsigned i = 0; i < 3; i++)
                client_connect(&s, i, false);
        client_publish(&s, 0);
        one_syn(&s, &l0);
        client_publish(&s, 1);
        client_publish(&s, 2);
        assert_int_equal(count_b(&s, false), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 2);

        send_c(&s, 1, TCP_OUT_RST, NULL, 0); /* exact: at RCV.NXT */
        run(&s, MS);
        assert_int_equal(count_b(&s, false), 0); /* it had no leg: nothing to reset */
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        assert_int_equal(STAT_OF(&s, closed_by_client), 1);
        assert_int_equal(lbh__connections(s.h), 2);

        assert_int_equal(leg_synack(&s, &l0), 0);
        leg_connack(&s, &l0);
        one_syn(&s, &l2);
        assert_int_equal(leg_synack(&s, &l2), 2); /* client 2's, not 1's */
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        assert_int_equal(STAT_OF(&s, connect_queued), 2);
        leg_connack(&s, &l2);
        run(&s, 3000 * MS); /* and nothing later */
        assert_int_equal(count_b(&s, true), 0);
        assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 0);
        close_cw(&s);
}

/* Connections the balancer closes (conn__close_client: here a malformed
 * packet from the client) give their place up: a waiting one leaves the
 * queue without a SYN, one whose SYN is out frees its slot (and its leg
 * is reset); the next waiting one is started. */
static void test_closed_while_setting_up(void **state)
{
        static const uint8_t BAD[] = {0x00, 0x00}; /* packet type 0: reserved */
        struct cw s;
        struct leg l0, l2;
        const struct lbh_frame *f;

        (void)state;
        open_cw(&s, false, "connect_window: 1");
        for (unsigned i = 0; i < 3; i++)
                client_connect(&s, i, false);
        client_publish(&s, 0);
        one_syn(&s, &l0); /* unanswered: the slot held */
        client_publish(&s, 1);
        client_publish(&s, 2);
        assert_int_equal(STAT_OF(&s, connect_waiting), 2);

        send_c(&s, 1, TCP_OUT_ACK, BAD, sizeof(BAD)); /* waiting: closed */
        run(&s, MS);
        assert_int_equal(STAT_OF(&s, malformed), 1);
        f = nth_c(&s, 1, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_FIN);
        assert_int_equal(count_b(&s, false), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);

        send_c(&s, 0, TCP_OUT_ACK, BAD, sizeof(BAD)); /* its SYN out: closed */
        run(&s, MS);
        assert_int_equal(STAT_OF(&s, malformed), 2);
        assert_non_null(nth_c(&s, 0, 0));
        assert_true(nth_c(&s, 0, 0)->flags & TCP_OUT_FIN);
        assert_int_equal(count_b(&s, false), 2); /* leg 0's RST, client 2's SYN */
        f = nth_b(&s, false, 0)->flags & TCP_OUT_RST ? nth_b(&s, false, 0) : nth_b(&s, false, 1);
        assert_int_equal(f->flags & TCP_OUT_RST, TCP_OUT_RST);
        assert_int_equal(f->sport, l0.p.to_port);
        one_syn(&s, &l2);
        assert_int_not_equal(l2.p.to_port, l0.p.to_port);
        assert_int_equal(leg_synack(&s, &l2), 2);
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 0);
        close_cw(&s);
}

/* bind_timeout 200 ms, connect_window 1, the slot held by a leg the broker
 * accepted but has not answered: the two waiting connections are refused
 * after bind_timeout, not before. Client 1 bound at its CONNECT (persistent)
 * and still waits for its CONNACK: it gets "server unavailable", then our
 * FIN; client 2 had the balancer's CONNACK (MQTT 3.1.1 has no server
 * DISCONNECT): our FIN only. Neither ever sent a SYN. */
static void test_queue_deadline(void **state)
{
        struct cw s;
        struct leg l0;
        const struct lbh_frame *f;
        bool fin;

        (void)state;
        open_cw(&s, false, "connect_window: 1, bind_timeout: 200ms");
        client_connect(&s, 0, false);
        client_publish(&s, 0);
        one_syn(&s, &l0);
        assert_int_equal(leg_synack(&s, &l0), 0);
        leg_ack(&s, &l0);
        client_connect(&s, 1, true); /* bound at the CONNECT: waits */
        assert_int_equal(count_c(&s, 1), 1);
        assert_int_equal(nth_c(&s, 1, 0)->plen, 0); /* the ACK of the CONNECT, nothing of ours */
        client_connect(&s, 2, false);
        client_publish(&s, 2);
        assert_int_equal(STAT_OF(&s, connect_queued), 2);
        assert_int_equal(STAT_OF(&s, connect_waiting), 2);

        run(&s, 150 * MS); /* 150 ms of 200 */
        assert_int_equal(count_c(&s, 1) + count_c(&s, 2), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 2);
        assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 0);

        run(&s, 100 * MS);                       /* past it */
        assert_int_equal(count_b(&s, false), 0); /* no SYN, no RST */
        assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 2);
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        assert_int_equal(STAT_OF(&s, connect_queued), 2);
        /* client 1: CONNACK return code 3, and our FIN */
        f = nth_c(&s, 1, 0);
        assert_non_null(f);
        assert_int_equal(f->seq, s.c[1].rcv);
        assert_int_equal(f->plen, sizeof(REFUSED));
        assert_memory_equal(f->payload, REFUSED, sizeof(REFUSED));
        fin = false;
        for (unsigned n = 0; nth_c(&s, 1, n); n++) {
                assert_false(nth_c(&s, 1, n)->flags & TCP_OUT_RST);
                fin |= (nth_c(&s, 1, n)->flags & TCP_OUT_FIN) != 0;
        }
        assert_true(fin);
        /* client 2: our FIN, no bytes */
        f = nth_c(&s, 2, 0);
        assert_non_null(f);
        assert_true(f->flags & TCP_OUT_FIN);
        assert_int_equal(f->plen, 0);
        assert_int_equal(f->seq, s.c[2].rcv);
        /* the leg that held the slot is untouched, and nothing is started */
        run(&s, 1000 * MS);
        assert_int_equal(count_b(&s, true), 0);
        close_cw(&s);
}

/* A client that sends its CONNECT and first PUBLISH in one segment (MQTT
 * allows it, and clients pipeline so) binds in the segment that also takes
 * the balancer's CONNACK. Its wait in the queue is bind_timeout as for any
 * other: still waiting after 300 ms of a 2 s bind_timeout, and started once
 * the slot comes free. Meanwhile the CONNACK, lost, is sent again (the
 * retransmission timer still serves the client leg while it waits). */
static void test_pipelined_connect_keeps_deadline(void **state)
{
        struct cw s;
        struct leg l0, l1;
        uint8_t seg[CONNECT_LEN + sizeof(PUBLISH)];
        const struct lbh_frame *f;

        (void)state;
        open_cw(&s, false, "connect_window: 1, bind_timeout: 2s");
        client_connect(&s, 0, false);
        client_publish(&s, 0);
        one_syn(&s, &l0);
        assert_int_equal(leg_synack(&s, &l0), 0);
        leg_ack(&s, &l0);
        client_open(&s, 1);
        connect_pkt(seg, 1, false);
        memcpy(seg + CONNECT_LEN, PUBLISH, sizeof(PUBLISH));
        send_c(&s, 1, TCP_OUT_ACK, seg, sizeof(seg));
        run(&s, MS);
        f = nth_c(&s, 1, 0);
        assert_non_null(f);
        assert_int_equal(f->plen, sizeof(CONNACK)); /* the balancer's CONNACK */
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        assert_int_equal(STAT_OF(&s, retransmits), 0);

        run(&s, 300 * MS); /* the CONNACK was lost: sent again */
        assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        f = nth_c(&s, 1, 0);
        assert_non_null(f);
        assert_int_equal(f->seq, s.c[1].rcv);
        assert_int_equal(f->plen, sizeof(CONNACK));
        assert_int_equal(STAT_OF(&s, retransmits), 1);
        for (unsigned n = 0; nth_c(&s, 1, n); n++)
                assert_false(nth_c(&s, 1, n)->flags & (TCP_OUT_FIN | TCP_OUT_RST));
        s.c[1].rcv += sizeof(CONNACK);
        send_c(&s, 1, TCP_OUT_ACK, NULL, 0); /* ACKed now */
        run(&s, MS);
        run(&s, 1000 * MS); /* 1.3 s of 2: still waiting, quietly */
        assert_int_equal(count_c(&s, 1), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        assert_int_equal(STAT_OF(&s, connect_queue_timeouts), 0);

        leg_connack(&s, &l0);
        one_syn(&s, &l1);
        assert_int_equal(leg_synack(&s, &l1), 1);
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        close_cw(&s);
}

/* ---- legs that fail ----------------------------------------------------------- */

/* A broker that never answers the SYN (connect_timeout 10 ms, syn_retries 1:
 * SYNs at 0 and 10 ms, given up at 30 ms). The SYN sent again keeps the
 * slot. With a second broker in the pool the leg fails over to it and the
 * first broker's slot goes to the connection waiting there; with none, the
 * connection is refused and the slot goes on the same. */
static void test_failover_frees_slot(void **state)
{
        struct cw s;
        struct leg a, x, y;
        uint16_t first;

        (void)state;
        /* two brokers (source-ip: both clients hash to the same one) */
        open_cw(&s, true, "connect_window: 1, connect_timeout: 10ms, syn_retries: 1");
        client_connect(&s, 0, false);
        client_connect(&s, 1, false);
        client_publish(&s, 0); /* t = 0 */
        one_syn(&s, &a);
        first = a.p.to_port;
        client_publish(&s, 1);
        assert_int_equal(count_b(&s, false), 0);
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        run(&s, 10 * MS); /* t = 11 ms: the SYN again, same leg, same slot */
        one_syn(&s, &x);
        assert_int_equal(x.p.to_port, first);
        assert_int_equal(x.isn, a.isn);
        assert_int_equal(STAT_OF(&s, broker_syn_retries), 1);
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        assert_int_equal(STAT_OF(&s, connect_queued), 1);
        run(&s, 25 * MS); /* t = 36 ms: failed over */
        assert_int_equal(STAT_OF(&s, broker_failovers), 1);
        assert_int_equal(count_b(&s, true), 2);
        leg_of(&x, nth_b(&s, true, 0));
        leg_of(&y, nth_b(&s, true, 1));
        if (x.p.addr[3] != a.p.addr[3]) { /* x: the first broker's */
                struct leg t = x;

                x = y;
                y = t;
        }
        assert_int_equal(x.p.addr[3], a.p.addr[3]);
        assert_int_not_equal(y.p.addr[3], a.p.addr[3]);
        assert_int_equal(leg_synack(&s, &x), 1); /* the first broker: client 1 */
        assert_int_equal(leg_synack(&s, &y), 0); /* the second: client 0, failed over */
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        assert_int_equal(STAT_OF(&s, connect_queued), 1);
        close_cw(&s);

        /* one broker: the connection is refused, the slot still comes free */
        open_cw(&s, false, "connect_window: 1, connect_timeout: 10ms, syn_retries: 1");
        client_connect(&s, 0, false);
        client_connect(&s, 1, false);
        client_publish(&s, 0);
        one_syn(&s, &a);
        client_publish(&s, 1);
        run(&s, 10 * MS);
        one_syn(&s, &x);
        assert_int_equal(x.p.to_port, a.p.to_port);
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        run(&s, 25 * MS);
        assert_int_equal(STAT_OF(&s, no_broker), 1);
        assert_non_null(nth_c(&s, 0, 0)); /* client 0: closed */
        assert_true(nth_c(&s, 0, 0)->flags & TCP_OUT_FIN);
        one_syn(&s, &x);
        assert_int_not_equal(x.p.to_port, a.p.to_port);
        assert_int_equal(leg_synack(&s, &x), 1);
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        close_cw(&s);
}

/* The broker resets a leg after its SYN-ACK, before a byte (the leg is made
 * again, conn__broker_retry): the new leg's SYN goes out at once, in the
 * same slot; the connection waiting behind it still waits, and nothing is
 * queued anew. */
static void test_leg_retry_keeps_slot(void **state)
{
        struct cw s;
        struct leg l0, r0, l1;

        (void)state;
        open_cw(&s, false, "connect_window: 1");
        client_connect(&s, 0, false);
        client_connect(&s, 1, false);
        client_publish(&s, 0);
        one_syn(&s, &l0);
        client_publish(&s, 1);
        assert_int_equal(STAT_OF(&s, connect_queued), 1);
        assert_int_equal(leg_synack(&s, &l0), 0);
        send_b(&s, &l0, TCP_OUT_RST, l0.nxt, 0, NULL, 0);
        run(&s, MS);
        assert_int_equal(STAT_OF(&s, broker_leg_retries), 1);
        assert_int_equal(count_c(&s, 0), 0); /* the client hears nothing of it */
        one_syn(&s, &r0);
        assert_int_not_equal(r0.p.to_port, l0.p.to_port);
        assert_int_equal(STAT_OF(&s, connect_queued), 1);
        assert_int_equal(STAT_OF(&s, connect_waiting), 1);
        assert_int_equal(leg_synack(&s, &r0), 0); /* client 0's, again */
        leg_connack(&s, &r0);
        one_syn(&s, &l1);
        assert_int_equal(leg_synack(&s, &l1), 1);
        assert_int_equal(STAT_OF(&s, connect_waiting), 0);
        close_cw(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_window_fifo),
            cmocka_unit_test(test_window_unlimited),
            cmocka_unit_test(test_least_conn_burst),
            cmocka_unit_test(test_window_per_worker),
            cmocka_unit_test(test_reset_while_waiting),
            cmocka_unit_test(test_closed_while_setting_up),
            cmocka_unit_test(test_queue_deadline),
            cmocka_unit_test(test_pipelined_connect_keeps_deadline),
            cmocka_unit_test(test_failover_frees_slot),
            cmocka_unit_test(test_leg_retry_keeps_slot),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
