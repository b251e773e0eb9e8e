/*
 * Limits and protection (core/lb/lb_budget.c, docs/config.md): what hostile
 * clients can make the balancer hold, through the real balancer on the
 * offline harness (tests/lib/lb_harness).
 *
 * Checked: a CONNECT that cannot fit the buffer is malformed at its fixed
 * header, before it is buffered; a closing connection holds no buffer and a
 * client that never answers our FIN gets an RST after close_timeout; the
 * budget's reserves refuse new connections when spent (and take them again
 * once freed), its growth half slows (window) the connections that fill their
 * buffers while new ones still get their reserve, and what the worker holds
 * never passes buffer_total; per_source_max refuses the connection over it
 * from one address, counts IPv6 by prefix, and frees its count at the end;
 * freed client buffers are kept for the next connections, and given back to
 * malloc when nobody takes them.
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

static const char BASE[] = "interfaces: [{name: lb0}]\n"
                           "listeners: [{address: 10.10.0.100, port: 1883}, "
                           "{address: \"fd00:10::100\", port: 1883}]\n"
                           "source_addresses: [10.20.0.1]\n"
                           "workers: 1\n"
                           "pools: [{name: apples, brokers: [\"10.20.0.11:1883\"]}]\n"
                           "default_pool: apples\n";

struct t {
        struct lbh *h;
        uint64_t now;
};

static void open_h(struct t *t, const char *connections)
{
        char yaml[1024], err[256];

        snprintf(yaml, sizeof(yaml), "%sconnections: {%s}\n", BASE, connections);
        memset(t, 0, sizeof(*t));
        if (lbh__open(&t->h, &(struct lbh_cfg){.yaml = yaml}, err, sizeof(err)))
                fail_msg("harness: %s", err);
        t->now = 1000 * MS;
}

static void run(struct t *t, uint64_t dt)
{
        lbh__clear(t->h);
        t->now += dt;
        lbh__run(t->h, t->now);
}

static struct lb_stats stats(const struct t *t)
{
        struct lb_stats s;

        lbh__stats(t->h, &s);
        return s;
}

/* A client of the harness: its address, port and sequence numbers. */
struct cli {
        struct lbh_peer p;
        uint32_t nxt, rcv;
        bool refused; /* the final ACK drew an RST */
};

static void peer_of(struct cli *c, int family, uint32_t addr_n, uint16_t port)
{
        memset(c, 0, sizeof(*c));
        c->p.family = (uint8_t)family;
        c->p.port = port;
        c->p.to_port = 1883;
        if (family == 4) {
                memcpy(c->p.addr, (uint8_t[]){10, 10, (uint8_t)(addr_n >> 8), (uint8_t)addr_n}, 4);
                memcpy(c->p.to, (uint8_t[]){10, 10, 0, 100}, 4);
        } else {
                /* fd00:10::/64 + addr_n in the interface id, or another /64 */
                uint8_t a[16] = {0xfd, 0, 0, 0x10};
                uint8_t v[16] = {0xfd, 0, 0, 0x10};

                a[7] = (uint8_t)(addr_n >> 16); /* the /64 */
                a[14] = (uint8_t)(addr_n >> 8);
                a[15] = (uint8_t)addr_n;
                v[15] = 0x00, v[14] = 0x01; /* fd00:10::100 */
                memcpy(c->p.addr, a, 16);
                memcpy(c->p.to, v, 16);
        }
}

/* Handshake, then the final ACK with data[0..n). */
static void connect_with(struct t *t, struct cli *c, const void *data, uint32_t n)
{
        const struct lbh_frame *f = NULL;

        assert_int_equal(
            lbh__send(t->h, &c->p,
                      &(struct lbh_seg){.flags = TCP_OUT_SYN, .seq = 99, .win = 65535}),
            0);
        run(t, MS);
        for (uint32_t i = 0; i < t->h->nout; i++)
                if (t->h->out[i].flags == (TCP_OUT_SYN | TCP_OUT_ACK))
                        f = &t->h->out[i];
        assert_non_null(f);
        c->nxt = 100;
        c->rcv = f->seq + 1;
        assert_int_equal(lbh__send(t->h, &c->p,
                                   &(struct lbh_seg){.flags = TCP_OUT_ACK,
                                                     .seq = c->nxt,
                                                     .ack = c->rcv,
                                                     .win = 65535,
                                                     .data = data,
                                                     .len = n}),
                         0);
        c->nxt += n;
        run(t, MS);
        c->refused = false;
        for (uint32_t i = 0; i < t->h->nout; i++)
                if (t->h->out[i].flags & TCP_OUT_RST)
                        c->refused = true;
}

static void send_data(struct t *t, struct cli *c, const void *data, uint32_t n)
{
        assert_int_equal(lbh__send(t->h, &c->p,
                                   &(struct lbh_seg){.flags = TCP_OUT_ACK,
                                                     .seq = c->nxt,
                                                     .ack = c->rcv,
                                                     .win = 65535,
                                                     .data = data,
                                                     .len = n}),
                         0);
        c->nxt += n;
}

/* The window the balancer last advertised to c (bytes; our shift is 7). */
static uint32_t last_window(const struct t *t)
{
        for (uint32_t i = t->h->nout; i-- > 0;)
                if (!(t->h->out[i].flags & TCP_OUT_RST))
                        return (uint32_t)t->h->out[i].win << 7;
        return UINT32_MAX;
}

/* The start of a 3.1.1 CONNECT whose client id announces id_len bytes (the
 * rest of the packet sent or not). */
static uint32_t connect_head(uint8_t *b, uint32_t id_len)
{
        uint32_t rl = 10 + 2 + id_len, n = 0;

        b[n++] = 0x10;
        do {
                b[n++] = (uint8_t)((rl & 0x7f) | (rl > 0x7f ? 0x80 : 0));
                rl >>= 7;
        } while (rl);
        memcpy(b + n, (uint8_t[]){0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c}, 10);
        n += 10;
        b[n++] = (uint8_t)(id_len >> 8);
        b[n++] = (uint8_t)id_len;
        return n;
}

/* A CONNECT announcing more than the buffer: malformed at its fixed header,
 * nothing buffered, the client closed. */
static void test_connect_over_buffer(void **state)
{
        struct t t;
        struct cli c;
        uint8_t b[64];
        uint32_t n;
        struct lb_stats s;

        (void)state;
        open_h(&t, "buffer: 8k");
        n = connect_head(b, 9000);
        peer_of(&c, 4, 1, 40000);
        connect_with(&t, &c, b, 5); /* the fixed header and a little */
        s = stats(&t);
        assert_int_equal(s.malformed, 1);
        assert_int_equal(s.malformed_by[MQTT_ERR_TOO_LARGE], 1);
        assert_int_equal(s.buffer_held, 0); /* closing: nothing held */
        (void)n;
        assert_int_equal(lbh__close(t.h), 0);
}

/* Closed (malformed) and the client never answers the FIN: RST after
 * close_timeout, counted, gone. */
static void test_close_timeout(void **state)
{
        struct t t;
        struct cli c;
        uint8_t b[64];
        uint32_t n, fin_end = 0;
        bool rst = false;

        (void)state;
        open_h(&t, "close_timeout: 500ms");
        n = connect_head(b, 4);
        b[2] = 'X'; /* not "MQTT": a bad protocol name */
        peer_of(&c, 4, 1, 40000);
        connect_with(&t, &c, b, n + 4);
        for (uint32_t i = 0; i < t.h->nout; i++)
                if (t.h->out[i].flags & TCP_OUT_FIN) /* our FIN: the client's RCV.NXT after it */
                        fin_end = t.h->out[i].seq + t.h->out[i].plen + 1;
        assert_int_not_equal(fin_end, 0);
        assert_int_equal(stats(&t).malformed, 1);
        assert_int_equal(lbh__connections(t.h), 1); /* our FIN sent, waiting */
        assert_int_equal(stats(&t).buffer_held, 0);
        run(&t, 300 * MS);
        assert_int_equal(lbh__connections(t.h), 1);
        run(&t, 300 * MS);
        for (uint32_t i = 0; i < t.h->nout; i++)
                if (t.h->out[i].flags & TCP_OUT_RST)
                        rst = t.h->out[i].seq == fin_end;
        assert_true(rst);
        assert_int_equal(lbh__connections(t.h), 0);
        assert_int_equal(stats(&t).close_timeouts, 1);
        assert_int_equal(lbh__close(t.h), 0);
}

/* buffer_total 128k: 8 reserves of 8k, 64k to grow into. */
static void test_budget(void **state)
{
        struct t t;
        struct cli c[12];
        uint8_t head[64], fill[1400];
        uint32_t n;
        struct lb_stats s;

        (void)state;
        memset(fill, 'a', sizeof(fill));
        open_h(&t, "buffer: 16k, buffer_total: 128k, bind_timeout: 1h");
        n = connect_head(head, 16000);
        /* eight stalled connections each push 15k of a 16k client id */
        for (int i = 0; i < 8; i++) {
                peer_of(&c[i], 4, (uint32_t)(1 + i), (uint16_t)(40000 + i));
                connect_with(&t, &c[i], head, n);
                assert_false(c[i].refused);
                for (int k = 0; k < 11; k++) {
                        send_data(&t, &c[i], fill, sizeof(fill));
                        run(&t, MS);
                }
                s = stats(&t);
                assert_true(s.buffer_held <= 128 * 1024);
        }
        s = stats(&t);
        assert_true(s.budget_slowed >= 1); /* the growth half ran out */
        assert_true(s.window_full >= 1);
        /* windows closed on the slowed ones */
        send_data(&t, &c[7], fill, 100);
        run(&t, MS);
        assert_true(last_window(&t) < 16 * 1024);
        /* the ninth gets nothing: every reserve is taken */
        peer_of(&c[8], 4, 9, 40008);
        connect_with(&t, &c[8], head, n);
        assert_true(c[8].refused);
        assert_int_equal(stats(&t).budget_refused, 1);
        assert_int_equal(lbh__connections(t.h), 8);
        /* one closes (RST): its reserve and growth come back */
        assert_int_equal(
            lbh__send(t.h, &c[0].p, &(struct lbh_seg){.flags = TCP_OUT_RST, .seq = c[0].nxt}), 0);
        run(&t, MS);
        assert_int_equal(lbh__connections(t.h), 7);
        peer_of(&c[9], 4, 10, 40009);
        connect_with(&t, &c[9], head, n);
        assert_false(c[9].refused);
        assert_true(stats(&t).buffer_held <= 128 * 1024);
        assert_int_equal(lbh__close(t.h), 0);
}

/* Freed client buffers are kept for the next connections (lb_bufcache.c):
 * a closed connection's 8 KiB buffer is counted in buffer_cached and taken
 * by the next one; a buffer grown past 8 KiB is not kept; what nobody takes
 * for a whole second goes back to malloc within two. */
static void test_buffer_cache(void **state)
{
        static const uint8_t CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                          0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};
        struct t t;
        struct cli c[6];
        uint8_t head[64], fill[1400];
        uint32_t n;

        (void)state;
        memset(fill, 'a', sizeof(fill));
        open_h(&t, "buffer: 32k, bind_timeout: 1h");
        assert_int_equal(stats(&t).buffer_cached, 0);
        /* three connections waiting for their PUBLISH hold a buffer each */
        for (int i = 0; i < 3; i++) {
                peer_of(&c[i], 4, (uint32_t)(1 + i), (uint16_t)(40000 + i));
                connect_with(&t, &c[i], CONNECT, sizeof(CONNECT));
                assert_false(c[i].refused);
        }
        assert_int_equal(stats(&t).buffer_cached, 0);
        /* two leave (RST): their buffers are kept, not freed */
        for (int i = 0; i < 2; i++)
                assert_int_equal(
                    lbh__send(t.h, &c[i].p,
                              &(struct lbh_seg){.flags = TCP_OUT_RST, .seq = c[i].nxt}),
                    0);
        run(&t, MS);
        assert_int_equal(lbh__connections(t.h), 1);
        assert_int_equal(stats(&t).buffer_cached, 2 * 8192);
        /* a new connection takes one of them */
        peer_of(&c[3], 4, 4, 40003);
        connect_with(&t, &c[3], CONNECT, sizeof(CONNECT));
        assert_false(c[3].refused);
        assert_int_equal(stats(&t).buffer_cached, 8192);
        /* a client id of 20k grows its buffer past 8k: not kept at the end */
        n = connect_head(head, 20000);
        peer_of(&c[4], 4, 5, 40004);
        connect_with(&t, &c[4], head, n);
        assert_int_equal(stats(&t).buffer_cached, 0); /* it took the last one */
        for (int k = 0; k < 10; k++) {
                send_data(&t, &c[4], fill, sizeof(fill));
                run(&t, MS);
        }
        assert_true(stats(&t).buffer_held > 8192);
        assert_int_equal(
            lbh__send(t.h, &c[4].p, &(struct lbh_seg){.flags = TCP_OUT_RST, .seq = c[4].nxt}), 0);
        run(&t, MS);
        assert_int_equal(stats(&t).buffer_cached, 0);
        /* one more kept, then nobody comes: freed within two seconds */
        assert_int_equal(
            lbh__send(t.h, &c[3].p, &(struct lbh_seg){.flags = TCP_OUT_RST, .seq = c[3].nxt}), 0);
        run(&t, MS);
        assert_int_equal(stats(&t).buffer_cached, 8192);
        for (int k = 0; k < 20 && stats(&t).buffer_cached; k++)
                run(&t, 100 * MS);
        assert_int_equal(stats(&t).buffer_cached, 0);
        /* the connection left open still works: its buffer was its own */
        assert_int_equal(lbh__connections(t.h), 1);
        peer_of(&c[5], 4, 6, 40005);
        connect_with(&t, &c[5], CONNECT, sizeof(CONNECT));
        assert_false(c[5].refused);
        assert_int_equal(lbh__connections(t.h), 2);
        assert_int_equal(lbh__close(t.h), 0);
}

static void test_per_source_max(void **state)
{
        static const uint8_t CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                          0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};
        struct t t;
        struct cli c[8];

        (void)state;
        open_h(&t, "per_source_max: 2, per_source_prefix6: 64, bind_timeout: 1h");
        /* IPv4: two from 10.10.0.1, the third refused; another address fine */
        for (int i = 0; i < 3; i++) {
                peer_of(&c[i], 4, 1, (uint16_t)(40000 + i));
                connect_with(&t, &c[i], CONNECT, sizeof(CONNECT));
                assert_true(c[i].refused == (i == 2));
        }
        peer_of(&c[3], 4, 2, 40003);
        connect_with(&t, &c[3], CONNECT, sizeof(CONNECT));
        assert_false(c[3].refused);
        assert_int_equal(stats(&t).per_source_refused, 1);
        /* one of the two leaves: its place is free again */
        assert_int_equal(
            lbh__send(t.h, &c[0].p, &(struct lbh_seg){.flags = TCP_OUT_RST, .seq = c[0].nxt}), 0);
        run(&t, MS);
        peer_of(&c[4], 4, 1, 40004);
        connect_with(&t, &c[4], CONNECT, sizeof(CONNECT));
        assert_false(c[4].refused);
        /* IPv6: two addresses of one /64 count together, another /64 not */
        peer_of(&c[5], 6, 0x000101, 41000);
        connect_with(&t, &c[5], CONNECT, sizeof(CONNECT));
        peer_of(&c[6], 6, 0x000202, 41001);
        connect_with(&t, &c[6], CONNECT, sizeof(CONNECT));
        assert_false(c[5].refused || c[6].refused);
        peer_of(&c[7], 6, 0x000303, 41002);
        connect_with(&t, &c[7], CONNECT, sizeof(CONNECT));
        assert_true(c[7].refused);
        peer_of(&c[7], 6, 0x010303, 41003);
        connect_with(&t, &c[7], CONNECT, sizeof(CONNECT));
        assert_false(c[7].refused);
        assert_int_equal(stats(&t).per_source_refused, 2);
        assert_int_equal(lbh__close(t.h), 0);
}

/* A bad configuration: buffer_total under twice buffer, named. */
static void test_budget_config(void **state)
{
        char yaml[1024], err[256];
        struct lbh *h;

        (void)state;
        snprintf(yaml, sizeof(yaml), "%sconnections: {buffer: 64k, buffer_total: 100k}\n", BASE);
        assert_int_not_equal(lbh__open(&h, &(struct lbh_cfg){.yaml = yaml}, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "connections.buffer_total"));
        assert_non_null(strstr(err, "harness.yaml:"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_connect_over_buffer),
            cmocka_unit_test(test_close_timeout),
            cmocka_unit_test(test_budget),
            cmocka_unit_test(test_per_source_max),
            cmocka_unit_test(test_buffer_cache),
            cmocka_unit_test(test_budget_config),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
