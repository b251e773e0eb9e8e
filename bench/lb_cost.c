/*
 * Cost of the balancer's handler, offline: one worker with lb_ops over a
 * port in memory, a client and a broker played by this program.
 *
 *   lb_cost splice N    one connection taken to the splice, then N small
 *                       PUBLISH segments client -> broker and N ACKs
 *                       broker -> client through it
 *   lb_cost connect M   M connections, each from SYN to spliced (SYN,
 *                       final ACK, CONNECT, PUBLISH, the broker's SYN-ACK,
 *                       its ACK of the replay)
 *
 * Prints frames handled and nanoseconds per frame (noisy); bench/lb-cost.sh
 * runs it under callgrind for instructions (lb_handle's inclusive cost).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb_harness.h"

static const char CONFIG[] = "interfaces: [{name: lb0}]\n"
                             "listeners: [{address: 10.10.0.100, port: 1883}]\n"
                             "source_addresses: [10.20.0.1]\n"
                             "workers: 1\n"
                             "pools:\n"
                             "  - {name: apples, brokers: [\"10.20.0.11:1883\"]}\n"
                             "routes: [{topic: \"apples/#\", pool: apples}]\n"
                             "default_pool: apples\n";

static void die(const char *what)
{
        fprintf(stderr, "lb_cost: %s\n", what);
        exit(1);
}

/* An endpoint of the harness and where its stream stands. */
struct peer {
        struct lbh_peer p;
        uint32_t seq, ack;
};

static void send_seg(struct lbh *h, const struct peer *p, uint8_t flags, const void *data,
                     uint32_t len)
{
        if (lbh__send(h, &p->p,
                      &(struct lbh_seg){.flags = flags | (len ? TCP_OUT_PSH : 0),
                                        .seq = p->seq,
                                        .ack = p->ack,
                                        .win = 65535,
                                        .data = data,
                                        .len = len}))
                die("inject");
}

/* Runs the balancer (10 us per round) and returns the frames it sent; the
 * last one (or the SYN among them) in *last. */
static uint32_t round_(struct lbh *h, uint64_t *clock, struct lbh_frame *last)
{
        uint32_t n;

        lbh__clear(h);
        *clock += 10000;
        n = lbh__run(h, *clock);
        if (last && h->nout) {
                *last = h->out[h->nout - 1];
                for (uint32_t i = 0; i < h->nout; i++)
                        if (h->out[i].flags & TCP_OUT_SYN)
                                *last = h->out[i];
        }
        return n;
}

static uint8_t CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                            0x02, 0x00, 0x3c, 0x00, 0x04, 'c', 'o', 's', 't'};
static const uint8_t PUBLISH[] = {0x30, 0x0f, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e',
                                  's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};
static const uint8_t CONNACK[] = {0x20, 0x02, 0x00, 0x00};

/* One connection from SYN to spliced; leaves the peers' state in c and br. */
static void connect_one(struct lbh *h, uint64_t *clock, uint16_t cport, struct peer *c,
                        struct peer *br)
{
        static struct lbh_frame f;
        /* a client id of its own: a known one would bind at CONNECT (learned) */
        char id[5];

        snprintf(id, sizeof(id), "%04x", cport);
        memcpy(CONNECT + 14, id, 4);
        *c = (struct peer){.p = {.family = 4,
                                 .addr = {10, 10, 0, 1},
                                 .to = {10, 10, 0, 100},
                                 .port = cport,
                                 .to_port = 1883},
                           .seq = 1000u * cport};
        send_seg(h, c, TCP_OUT_SYN, NULL, 0);
        round_(h, clock, &f);
        c->seq++;
        c->ack = f.seq + 1;
        send_seg(h, c, TCP_OUT_ACK, CONNECT, sizeof(CONNECT));
        c->seq += sizeof(CONNECT);
        round_(h, clock, &f); /* ACK + CONNACK */
        c->ack += 4;
        send_seg(h, c, TCP_OUT_ACK, PUBLISH, sizeof(PUBLISH));
        c->seq += sizeof(PUBLISH);
        round_(h, clock, &f); /* ACK to the client, SYN to the broker */
        if (!(f.flags & TCP_OUT_SYN)) {
                struct lb_stats st;
                char buf[2048];

                lbh__stats(h, &st);
                lb_stats__nonzero(&st, buf, sizeof(buf));
                fprintf(stderr, "counters:%s\n", buf);
                die("no SYN to the broker");
        }
        *br = (struct peer){.p = {.family = 4,
                                  .addr = {10, 20, 0, 11},
                                  .to = {10, 20, 0, 1},
                                  .port = 1883,
                                  .to_port = f.sport,
                                  .mac = LBH_BROKER_MAC},
                            .seq = 77777u * cport,
                            .ack = f.seq + 1};
        send_seg(h, br, TCP_OUT_SYN | TCP_OUT_ACK, NULL, 0);
        br->seq++;
        round_(h, clock, &f); /* the replay */
        br->ack += (uint32_t)(sizeof(CONNECT) + sizeof(PUBLISH));
        send_seg(h, br, TCP_OUT_ACK, CONNACK, sizeof(CONNACK));
        br->seq += sizeof(CONNACK); /* its CONNACK, consumed */
        round_(h, clock, &f);
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        struct lbh *h;
        struct lb_stats st;
        struct peer c, br;
        uint32_t n = argc > 2 ? (uint32_t)atoi(argv[2]) : 10000, frames = 0;
        uint64_t clock = 0;
        char err[256];
        double t0;

        if (argc < 2 || (strcmp(argv[1], "splice") && strcmp(argv[1], "connect")))
                die("usage: lb_cost splice|connect N");
        if (lbh__open(&h, &(struct lbh_cfg){.yaml = CONFIG, .seed = 42}, err, sizeof(err)))
                die(err);
        if (!strcmp(argv[1], "splice")) {
                connect_one(h, &clock, 40000, &c, &br);
                t0 = now_s();
                for (uint32_t i = 0; i < n; i++) {
                        send_seg(h, &c, TCP_OUT_ACK, PUBLISH, sizeof(PUBLISH));
                        c.seq += sizeof(PUBLISH);
                        br.ack += sizeof(PUBLISH);
                        send_seg(h, &br, TCP_OUT_ACK, NULL, 0); /* its ACK: forwarded */
                        frames += round_(h, &clock, NULL);
                }
        } else {
                t0 = now_s();
                for (uint32_t i = 0; i < n; i++)
                        connect_one(h, &clock, (uint16_t)(10000 + i % 50000), &c, &br);
                frames = n;
        }
        double dt = now_s() - t0;

        lbh__stats(h, &st);
        printf("%s: %u iterations, %u frames out, %.0f ns per iteration (the harness's copies "
               "included); spliced %llu, publishes %llu\n",
               argv[1], n, frames, dt * 1e9 / n, (unsigned long long)st.spliced,
               (unsigned long long)st.publishes);
        if (lbh__close(h))
                die("frames not back in the pool");
        return 0;
}
