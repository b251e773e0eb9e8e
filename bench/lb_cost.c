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

#include "core/config.h"
#include "core/lb.h"
#include "core/packet.h"
#include "core/plan.h"
#include "core/tcp_out.h"
#include "core/worker.h"
#include "xsk/mem_port.h"

#define FRAMES 4096

static const char CONFIG[] = "interfaces: [{name: lb0}]\n"
                             "listeners: [{address: 10.10.0.100, port: 1883}]\n"
                             "source_addresses: [10.20.0.1]\n"
                             "workers: 1\n"
                             "pools:\n"
                             "  - {name: apples, brokers: [\"10.20.0.11:1883\"]}\n"
                             "routes: [{topic: \"apples/#\", pool: apples}]\n"
                             "default_pool: apples\n";

static const uint8_t CLIENT_MAC[6] = {2, 0, 0, 0, 0, 0xc1}, LB_MAC[6] = {2, 0, 0, 0, 0, 1},
                     BROKER_MAC[6] = {2, 0, 0, 0, 0, 0xb1};

struct bench {
        struct umem_area umem;
        struct frame_pool *pool;
        struct frame_cache cache;
        struct port *port;
        struct worker w;
        struct lb *lb;
        struct lb_worker *lw;
        uint64_t clock;
};

static int nexthop(void *ctx, const struct nh_addr *dst, struct lb_nexthop *out)
{
        (void)ctx;
        (void)dst;
        out->port = 0;
        memcpy(out->src_mac, LB_MAC, 6);
        memcpy(out->dst_mac, BROKER_MAC, 6);
        return 0;
}

static void die(const char *what)
{
        fprintf(stderr, "lb_cost: %s\n", what);
        exit(1);
}

static void setup(struct bench *b)
{
        struct config *cfg = NULL;
        struct plan *plan = NULL;
        char err[256];
        struct worker_cfg wc = {0};
        static struct worker_source src = {
            .family = 4, .addr = {10, 20, 0, 1}, .port_lo = 1024, .port_hi = 65535};
        static atomic_bool stop;

        if (config__load_string("bench", CONFIG, &cfg, err, sizeof(err)) ||
            plan__build(cfg, &plan, err, sizeof(err)))
                die(err);
        config__free(cfg);
        if (umem_area__map(&b->umem, FRAMES, UMEM_FRAME_SIZE, false) ||
            frame_pool__new(&b->pool, FRAMES, UMEM_FRAME_SIZE))
                die("no memory");
        frame_cache__init(&b->cache, b->pool);
        if (mem_port__open(&b->port, "mem", &b->umem, &b->cache))
                die("mem port");
        b->port->virtual_clock = true;
        if (lb__new(
                &b->lb,
                &(struct lb_cfg){.plan = plan, .nworkers = 1, .nexthop = nexthop, .seed = 42}) ||
            lb_worker__new(&b->lw, b->lb, 0, NULL, 0))
                die("lb");
        wc.nworkers = 1;
        wc.core = -1;
        wc.ports[0] = b->port;
        wc.fds[0] = -1;
        wc.nports = 1;
        wc.cache = &b->cache;
        wc.sources = &src;
        wc.nsources = 1;
        wc.ops = &lb_ops;
        wc.ctx = b->lw;
        wc.stop = &stop;
        worker__init(&b->w, &wc);
}

struct peer {
        uint8_t family;
        uint8_t addr[16], to[16];
        uint16_t port, to_port;
        const uint8_t *mac, *to_mac;
        uint32_t seq, ack;
};

static void send_seg(struct bench *b, const struct peer *p, uint8_t flags, const void *data,
                     size_t len)
{
        uint8_t frame[2048];
        struct tcp_out_hdr h = {.family = p->family,
                                .sport = p->port,
                                .dport = p->to_port,
                                .seq = p->seq,
                                .ack = p->ack,
                                .window = 65535};
        int n;

        memcpy(h.src_mac, p->mac, 6);
        memcpy(h.dst_mac, p->to_mac, 6);
        memcpy(h.saddr, p->addr, 16);
        memcpy(h.daddr, p->to, 16);
        if (flags & TCP_OUT_SYN)
                n = flags & TCP_OUT_ACK ? tcp_out__synack(frame, sizeof(frame), &h,
                                                          &(struct tcp_out_syn_opts){1460, 7, true})
                                        : tcp_out__syn(frame, sizeof(frame), &h,
                                                       &(struct tcp_out_syn_opts){1460, 7, true});
        else
                n = tcp_out__data(frame, sizeof(frame), &h, data, len, false);
        if (n < 0 || mem_port__inject(b->port, frame, (uint32_t)n))
                die("inject");
}

/* Runs a round; returns the frames the balancer sent (last one's header in
 * *last: seq/ack/ports), freeing them. */
static uint32_t round_(struct bench *b, uint32_t *seq, uint32_t *ack, uint16_t *sport,
                       uint8_t *flags)
{
        struct frame_desc d[64];
        uint32_t n, total = 0;

        b->clock += 10000; /* 10 us per round */
        b->port->clock_ns = b->clock;
        worker__round(&b->w);
        while ((n = mem_port__drain(b->port, d, 64))) {
                for (uint32_t i = 0; i < n; i++) {
                        const uint8_t *f = b->umem.base + d[i].addr;
                        struct packet m;

                        /* the last frame, unless a SYN came before it */
                        if (packet__parse(f, d[i].len, &m) == PACKET_OK && seq &&
                            !(total + i && (*flags & TCP_OUT_SYN))) {
                                const uint8_t *t = f + m.l4;

                                *seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 |
                                       (uint32_t)t[6] << 8 | t[7];
                                *ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 |
                                       (uint32_t)t[10] << 8 | t[11];
                                *sport = m.sport;
                                *flags = t[13];
                        }
                        frame_cache__put(&b->cache, d[i].addr);
                }
                total += n;
        }
        return total;
}

static uint8_t CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                            0x02, 0x00, 0x3c, 0x00, 0x04, 'c', 'o', 's', 't'};
static const uint8_t PUBLISH[] = {0x30, 0x0f, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e',
                                  's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};

/* One connection from SYN to spliced; leaves the peers' state in c and br. */
static void connect_one(struct bench *b, uint16_t cport, struct peer *c, struct peer *br)
{
        uint32_t seq = 0, ack = 0;
        uint16_t sport = 0;
        uint8_t fl = 0;

        /* a client id of its own: a known one would bind at CONNECT (learned) */
        char id[5];

        snprintf(id, sizeof(id), "%04x", cport);
        memcpy(CONNECT + 14, id, 4);
        *c = (struct peer){.family = 4,
                           .addr = {10, 10, 0, 1},
                           .to = {10, 10, 0, 100},
                           .port = cport,
                           .to_port = 1883,
                           .mac = CLIENT_MAC,
                           .to_mac = LB_MAC,
                           .seq = 1000u * cport};
        send_seg(b, c, TCP_OUT_SYN, NULL, 0);
        round_(b, &seq, &ack, &sport, &fl);
        c->seq++;
        c->ack = seq + 1;
        send_seg(b, c, TCP_OUT_ACK, CONNECT, sizeof(CONNECT));
        c->seq += sizeof(CONNECT);
        round_(b, &seq, &ack, &sport, &fl); /* ACK + CONNACK */
        c->ack += 4;
        send_seg(b, c, TCP_OUT_ACK, PUBLISH, sizeof(PUBLISH));
        c->seq += sizeof(PUBLISH);
        round_(b, &seq, &ack, &sport, &fl); /* ACK to the client, SYN to the broker */
        if (!(fl & TCP_OUT_SYN)) {
                struct lb_stats st;

                lb_worker__stats(b->lw, &st);
                for (size_t k = 0; k < LB_NSTATS; k++)
                        if (((uint64_t *)&st)[k])
                                fprintf(stderr, "%s %llu\n", lb_stat_names[k],
                                        (unsigned long long)((uint64_t *)&st)[k]);
                die("no SYN to the broker");
        }
        *br = (struct peer){.family = 4,
                            .addr = {10, 20, 0, 11},
                            .to = {10, 20, 0, 1},
                            .port = 1883,
                            .to_port = sport,
                            .mac = BROKER_MAC,
                            .to_mac = LB_MAC,
                            .seq = 77777u * cport,
                            .ack = seq + 1};
        send_seg(b, br, TCP_OUT_SYN | TCP_OUT_ACK, NULL, 0);
        br->seq++;
        round_(b, &seq, &ack, &sport, &fl); /* the replay */
        br->ack = seq + (uint32_t)(sizeof(CONNECT) + sizeof(PUBLISH));
        send_seg(b, br, TCP_OUT_ACK, (const uint8_t[]){0x20, 0x02, 0x00, 0x00}, 4);
        br->seq += 4; /* its CONNACK, consumed */
        round_(b, &seq, &ack, &sport, &fl);
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        static struct bench b;
        struct lb_stats st;
        struct peer c, br;
        uint32_t n = argc > 2 ? (uint32_t)atoi(argv[2]) : 10000, frames = 0;
        double t0;

        if (argc < 2 || (strcmp(argv[1], "splice") && strcmp(argv[1], "connect")))
                die("usage: lb_cost splice|connect N");
        setup(&b);
        if (!strcmp(argv[1], "splice")) {
                connect_one(&b, 40000, &c, &br);
                t0 = now_s();
                for (uint32_t i = 0; i < n; i++) {
                        send_seg(&b, &c, TCP_OUT_ACK, PUBLISH, sizeof(PUBLISH));
                        c.seq += sizeof(PUBLISH);
                        br.ack += sizeof(PUBLISH);
                        send_seg(&b, &br, TCP_OUT_ACK, NULL, 0); /* a window update: forwarded */
                        frames += round_(&b, NULL, NULL, NULL, NULL);
                }
        } else {
                t0 = now_s();
                for (uint32_t i = 0; i < n; i++)
                        connect_one(&b, (uint16_t)(10000 + i % 50000), &c, &br);
                frames = n;
        }
        double dt = now_s() - t0;

        lb_worker__stats(b.lw, &st);
        printf("%s: %u iterations, %u frames out, %.0f ns per iteration; spliced %llu, "
               "publishes %llu\n",
               argv[1], n, frames, dt * 1e9 / n, (unsigned long long)st.spliced,
               (unsigned long long)st.publishes);
        lb_worker__close_all(b.lw, &b.w);
        lb_worker__free(b.lw);
        lb__free(b.lb);
        return 0;
}
