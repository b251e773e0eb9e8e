/*
 * Cost of the worker loop per frame, offline: the worker (core/datapath/worker.c)
 * with the null forwarder as handler, fed by a port over memory whose "wire"
 * is a ring of UMEM addresses (rx pops frames, tx pushes them back), so what
 * is measured is the worker: parse, ownership, handler, batching, the
 * handover ring. bench/worker-cost.sh runs it under callgrind and divides the
 * inclusive cost of worker__round by the frames.
 *
 *   worker_cost CASE ROUNDS
 *     swap       one worker, 64-byte TCP frames to a listener, swapped back
 *     handover   two workers; every frame lands on worker 0 and belongs to
 *                worker 1 (a source address, odd port): handed over, then
 *                swapped and sent by worker 1
 *     pcap       one worker, swap, reading ROUNDS x 64 frames from a capture
 *                through the pcap port (the offline path of the tests and
 *                of replay: libpcap's read and the copy into the UMEM count)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/datapath/handover.h"
#include "core/datapath/nullfwd.h"
#include "core/datapath/worker.h"
#include "xsk/pcap_port.h"
#include "xsk/umem.h"

#include <pcap/pcap.h>
#include <unistd.h>

#define FRAMES 4096u
#define WIRE   1024u /* frames on the wire, in flight */

struct mem_port {
        struct port port;
        uint64_t ring[FRAMES];
        uint32_t head, tail, len;
};

static uint32_t mem_rx(struct port *p, struct frame_desc *d, uint32_t n)
{
        struct mem_port *m = (struct mem_port *)p;
        uint32_t k = 0;

        for (; k < n && m->tail != m->head; k++, m->tail++)
                d[k] = (struct frame_desc){.addr = m->ring[m->tail % FRAMES], .len = m->len};
        p->rx_frames += k;
        return k;
}

static uint32_t mem_tx(struct port *p, const struct frame_desc *d, uint32_t n)
{
        struct mem_port *m = (struct mem_port *)p;

        for (uint32_t k = 0; k < n; k++)
                m->ring[m->head++ % FRAMES] = d[k].addr;
        p->tx_frames += n;
        return n;
}

static void mem_flush(struct port *p)
{
        (void)p;
}

static void mem_close(struct port *p)
{
        (void)p;
}

static const struct port_ops MEM_OPS = {mem_rx, mem_tx, mem_flush, mem_close};

/* A 64-byte Ethernet/IPv4/TCP frame from 10.10.0.1:40000+i to dst:dport. */
static void build_frame(uint8_t *f, uint32_t i, uint32_t dst, uint16_t dport)
{
        static const uint8_t head[] = {
            0x02, 0, 0, 0,  0, 0x02, 0x02, 0, 0,  0, 0, 0x01, 0x08, 0x00, /* Ethernet */
            0x45, 0, 0, 50, 0, 0,    0x40, 0, 64, 6, 0, 0,                /* IPv4, 50 bytes */
        };
        uint32_t src = htonl(0x0a0a0001);
        uint16_t sport = htons((uint16_t)(40000 + i)), dp = htons(dport);

        memset(f, 0, 64);
        memcpy(f, head, sizeof(head));
        memcpy(f + 26, &src, 4);
        memcpy(f + 30, &dst, 4);
        memcpy(f + 34, &sport, 2);
        memcpy(f + 36, &dp, 2);
        f[46] = 0x50; /* doff 5 */
        f[47] = 0x18; /* PSH|ACK */
        memcpy(f + 54, "mqttlb-bench", 10);
}

struct bench {
        struct umem_area area;
        struct frame_pool *pool;
        struct frame_cache cache[2];
        struct mem_port port[2];
        struct handover_ring *ring[2][2];
        struct worker w[2];
        struct nullfwd nf;
        struct worker_source src;
        atomic_bool stop;
};

static void setup(struct bench *b, uint32_t nworkers, uint32_t dst, uint16_t dport)
{
        if (umem_area__map(&b->area, FRAMES, UMEM_FRAME_SIZE, false) ||
            frame_pool__new(&b->pool, FRAMES, UMEM_FRAME_SIZE)) {
                fprintf(stderr, "worker_cost: cannot map the UMEM\n");
                exit(2);
        }
        b->src.addr.family = 4;
        b->src.port_lo = 10000;
        b->src.port_hi = 59999;
        memcpy(b->src.addr.addr, &dst, 4);
        for (uint32_t w = 0; w < nworkers; w++) {
                frame_cache__init(&b->cache[w], b->pool);
                b->port[w].port = (struct port){
                    .ops = &MEM_OPS, .name = "mem", .umem = &b->area, .cache = &b->cache[w]};
                b->port[w].len = 64;
                for (uint32_t o = 0; o < nworkers; o++)
                        if (o != w && handover_ring__new(&b->ring[w][o], 1024))
                                exit(2);
        }
        for (uint32_t w = 0; w < nworkers; w++) {
                struct worker_cfg c = {.id = w,
                                       .nworkers = nworkers,
                                       .core = -1,
                                       .nports = 1,
                                       .cache = &b->cache[w],
                                       .sources = &b->src,
                                       .nsources = nworkers > 1,
                                       .ops = &nullfwd_ops,
                                       .ctx = &b->nf,
                                       .stop = &b->stop};

                c.ports[0] = &b->port[w].port;
                c.fds[0] = -1;
                for (uint32_t o = 0; o < nworkers; o++) {
                        c.inbox[o] = b->ring[o][w];
                        c.outbox[o] = b->ring[w][o];
                }
                worker__init(&b->w[w], &c);
        }
        /* the wire holds WIRE frames, all arriving at worker 0's port */
        for (uint32_t i = 0; i < WIRE; i++) {
                uint64_t addr;

                if (frame_cache__alloc(&b->cache[0], &addr, 1) != 1)
                        exit(2);
                build_frame(umem_area__data(&b->area, addr), i % 16, dst, dport);
                b->port[0].ring[b->port[0].head++ % FRAMES] = addr;
        }
}

/* Worker 1's frames go back onto worker 0's wire, swapped back so that they
 * are again addressed to worker 1 (outside the measured worker__round). */
static void recirculate(struct bench *b)
{
        struct frame_desc d[WORKER_BURST];
        struct packet m;
        uint32_t n;

        while ((n = mem_rx(&b->port[1].port, d, WORKER_BURST))) {
                for (uint32_t i = 0; i < n; i++) {
                        uint8_t *f = umem_area__data(&b->area, d[i].addr);

                        if (packet__parse(f, d[i].len, &m) == PACKET_OK)
                                packet__swap(f, &m);
                }
                mem_tx(&b->port[0].port, d, n);
        }
}

/* ROUNDS x 64 frames to the listener into a temporary capture, then one
 * worker over a pcap port reading it. Returns the frames the worker took. */
static uint64_t run_pcap(struct bench *b, long rounds)
{
        char path[] = "/tmp/worker_cost.XXXXXX";
        int fd = mkstemp(path);
        pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
        pcap_dumper_t *dump = fd >= 0 ? pcap_dump_fopen(dead, fdopen(fd, "w")) : NULL;
        struct pcap_pkthdr h = {.caplen = 64, .len = 64};
        uint8_t f[64];
        struct port *p;
        char err[256];
        uint64_t frames = 0;
        uint32_t n;

        if (!dump) {
                fprintf(stderr, "worker_cost: cannot write %s\n", path);
                exit(2);
        }
        for (long i = 0; i < rounds * WORKER_BURST; i++) {
                build_frame(f, (uint32_t)(i % 16), htonl(0x0a0a0064), 1883);
                pcap_dump((u_char *)dump, &h, f);
        }
        pcap_dump_close(dump);
        pcap_close(dead);
        if (umem_area__map(&b->area, FRAMES, UMEM_FRAME_SIZE, false) ||
            frame_pool__new(&b->pool, FRAMES, UMEM_FRAME_SIZE))
                exit(2);
        frame_cache__init(&b->cache[0], b->pool);
        if (pcap_port__open(&p, path, NULL, &b->area, &b->cache[0], err, sizeof(err))) {
                fprintf(stderr, "worker_cost: %s\n", err);
                exit(2);
        }
        struct worker_cfg c = {.id = 0,
                               .nworkers = 1,
                               .core = -1,
                               .nports = 1,
                               .cache = &b->cache[0],
                               .ops = &nullfwd_ops,
                               .ctx = &b->nf,
                               .stop = &b->stop};

        c.ports[0] = p;
        c.fds[0] = -1;
        worker__init(&b->w[0], &c);
        while ((n = worker__round(&b->w[0])))
                frames += n;
        port__close(p);
        unlink(path);
        return frames;
}

int main(int argc, char **argv)
{
        static struct bench b;
        const char *mode = argc > 1 ? argv[1] : "swap";
        long rounds = argc > 2 ? atol(argv[2]) : 100000;
        bool handover = !strcmp(mode, "handover"), pcap = !strcmp(mode, "pcap");
        uint64_t frames = 0;
        struct timespec t0, t1;

        if (!handover && !pcap && strcmp(mode, "swap")) {
                fprintf(stderr, "usage: worker_cost swap|handover|pcap [ROUNDS]\n");
                return 1;
        }
        if (!pcap)
                setup(&b, handover ? 2 : 1, htonl(handover ? 0x0a140001 : 0x0a0a0064),
                      handover ? 20001 : 1883);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (pcap)
                frames = run_pcap(&b, rounds);
        for (long r = 0; !pcap && r < rounds; r++) {
                frames += worker__round(&b.w[0]);
                if (handover) {
                        worker__round(&b.w[1]);
                        recirculate(&b);
                }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
        struct worker_stats s0, s1 = {0};

        worker__stats(&b.w[0], &s0);
        if (handover)
                worker__stats(&b.w[1], &s1);
        printf("%-9s rounds %ld frames %llu tx %llu handed_over %llu  %.1f ns/frame  %.2f "
               "Mframes/s\n",
               mode, rounds, (unsigned long long)frames, (unsigned long long)(s0.tx + s1.tx),
               (unsigned long long)s0.handed_over, ns / (double)frames, frames / ns * 1e3);
        return frames && s0.tx + s1.tx == frames ? 0 : 2;
}
