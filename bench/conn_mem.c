/*
 * Memory per idle connection, offline: one worker of the real balancer
 * (tests/lib/lb_harness: the worker loop and lb_ops over a memory port)
 * with connections.max_connections = N is filled with N connections, each
 * a real struct conn in the flow table made the way a client makes it: a
 * SYN, the final ACK carrying the SYN cookie, a CONNECT with a client id of
 * its own, from a distinct client address:port. This program plays the
 * clients and the brokers; it answers whatever the balancer sends and never
 * keeps per-connection state itself (its own memory does not grow).
 *
 *   conn_mem [--conns N] [--unbound-conns M] [--mode both|bound|unbound]
 *            [--heap-bound B] [--window W]
 *   conn_mem --table CAP    the flow table lb_worker__new makes for
 *                           max_connections = CAP (flow_table__new with
 *                           sizeof(struct conn), then flow_table__stats), as
 *                           one JSON line: bench/scenarios/scale.sh reports it
 *
 * Two fills, each in a child process of its own (RSS is per process):
 *
 *   bound    (default N = 1,048,576) every connection binds at its CONNECT
 *            (route client_id "*"), the broker leg is made (SYN, SYN-ACK,
 *            the replay of the CONNECT, the broker's ACK and CONNACK), and
 *            the connection is spliced: the state an idle client is in for
 *            the rest of its life (a connection that sends nothing is bound
 *            to the default pool at bind_timeout, and spliced too).
 *   unbound  (default M = 262,080: the most one worker admits) the
 *            balancer answers the CONNECT itself and holds the connection
 *            open, unbound, with its CONNECT buffered (bind_timeout 1h).
 *            The state lasts bind_timeout (5 s by default), and the budget
 *            caps it: each such connection holds an 8 KiB reserve of
 *            connections.buffer_total (at most 4095m, half of it for
 *            reserves: 262,080 connections).
 *
 * Each fill reports VmRSS before the harness is opened, after (the flow
 * table is faulted in at lb_worker__new: region__map), and after the fill;
 * the heap in use (mallinfo2); the flow table's allocation
 * (flow_table__stats); bytes per connection; and checks
 *
 *   heap growth during the fill <= N x heap_bound             (mallinfo2)
 *   RSS growth during the fill  <= N x heap_bound + slack
 *   RSS after - RSS before open <= table bytes + N x heap_bound + slack
 *                                  + the harness's own (UMEM, out array)
 *
 * with heap_bound = 256 bytes bound, 8,192 + 256 unbound (--heap-bound
 * overrides the bound fill's), slack = 16 MiB + W x 8 KiB (32 MiB): at
 * most W (--window, default 4,096) connections are between their SYN and
 * their CONNACK at once, each holding its 8 KiB buffer until the broker
 * ACKs the replay (buffer_total is 16 KiB x W, at least 256m); the
 * allocator keeps those pages when the buffers are freed. Exit status 0
 * when every check holds, 1 when one does not, 2 on a usage error or a fill
 * that did not complete.
 *
 * Not a ctest: the test build's sanitizers make a connection cost about
 * 150 us (1 M: minutes); the Release build takes about 5 us (bench/conn-mem.sh).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/lb/lb_conn.h"
#include "lb_harness.h"

#define NSOURCES 16 /* x NBROKERS x 31,744 ports: about 4 M broker legs */
#define NBROKERS 8
#define WINDOW   4096 /* default: connections between their SYN and their CONNACK */
#define BATCH    1024 /* SYNs injected per run */
#define CID_LEN  20
/* client i: address 11.0.0.0 + (i >> 14), port 1024 + (i & 0x3fff) */
#define CLIENT_BASE 0x0b000000u
#define PORT_BITS   14
#define SLACK       ((16ull << 20) + (uint64_t)window * CONN_BUF_RESERVE)

static uint32_t window = WINDOW; /* --window */
static const uint8_t VIP[4] = {10, 10, 0, 100};
static const uint8_t CONNACK[] = {0x20, 0x02, 0x00, 0x00};
#define CONNECT_LEN (2 + 10 + 2 + CID_LEN)

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rss_kib(void)
{
        char line[256];
        uint64_t v = 0;
        FILE *f = fopen("/proc/self/status", "r");

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, "VmRSS:", 6)) {
                        v = strtoull(line + 6, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

static uint64_t heap_bytes(void)
{
        struct mallinfo2 mi = mallinfo2();

        return mi.uordblks + mi.hblkhd;
}

static uint32_t mix32(uint32_t x)
{
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        return x ^ (x >> 16);
}

/* Client i: its address, port and initial sequence number. */
static void client_peer(struct lbh_peer *p, uint32_t i)
{
        uint32_t a = CLIENT_BASE | (i >> PORT_BITS);

        memset(p, 0, sizeof(*p));
        p->family = 4;
        p->addr[0] = (uint8_t)(a >> 24), p->addr[1] = (uint8_t)(a >> 16);
        p->addr[2] = (uint8_t)(a >> 8), p->addr[3] = (uint8_t)a;
        memcpy(p->to, VIP, 4);
        p->port = (uint16_t)(1024 + (i & ((1u << PORT_BITS) - 1)));
        p->to_port = 1883;
}

static uint32_t client_iss(uint32_t i)
{
        return mix32(i * 2 + 1);
}

/* The client a frame to a client address is for; UINT32_MAX when none. */
static uint32_t client_of(const struct lbh_frame *f, uint32_t n)
{
        uint32_t a = (uint32_t)f->daddr[0] << 24 | (uint32_t)f->daddr[1] << 16 |
                     (uint32_t)f->daddr[2] << 8 | f->daddr[3];
        uint32_t i;

        if ((a & 0xff000000u) != CLIENT_BASE || f->dport < 1024)
                return UINT32_MAX;
        i = (a & 0x00ffffffu) << PORT_BITS | (uint32_t)(f->dport - 1024);
        return (uint32_t)(f->dport - 1024) < (1u << PORT_BITS) && i < n ? i : UINT32_MAX;
}

static void connect_packet(uint8_t out[CONNECT_LEN], uint32_t i)
{
        static const uint8_t head[] = {
            0x10, CONNECT_LEN - 2, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c,
            0x00, CID_LEN};
        char id[CID_LEN + 1];

        memcpy(out, head, sizeof(head));
        snprintf(id, sizeof(id), "conn-mem-%011u", i);
        memcpy(out + sizeof(head), id, CID_LEN);
}

static int send_(struct lbh *h, const struct lbh_peer *p, uint8_t flags, uint32_t seq, uint32_t ack,
                 const void *data, uint32_t len)
{
        return lbh__send(h, p,
                         &(struct lbh_seg){.flags = flags | (len ? TCP_OUT_PSH : 0),
                                           .seq = seq,
                                           .ack = ack,
                                           .win = 65535,
                                           .data = data,
                                           .len = len});
}

struct fill {
        uint32_t n;
        uint32_t done;    /* clients that have their CONNACK (and ACKed it) */
        uint64_t frames;  /* frames the balancer sent */
        uint32_t unknown; /* frames this program could not place */
};

/* A frame the balancer sent: answered as its client or broker would. */
static int answer(struct lbh *h, struct fill *fl, const struct lbh_frame *f)
{
        struct lbh_peer p;
        uint32_t i;

        if (!f->ok) {
                fl->unknown++;
                return 0;
        }
        if (f->daddr[0] == 10 && f->daddr[1] == 20 && f->daddr[2] == 1) {
                /* to a broker, from one of our source addresses */
                uint32_t iss = mix32((uint32_t)f->saddr[3] << 16 | f->sport) ^ f->daddr[3];

                memset(&p, 0, sizeof(p));
                p.family = 4;
                memcpy(p.addr, f->daddr, 4);
                memcpy(p.to, f->saddr, 4);
                p.port = f->dport;
                p.to_port = f->sport;
                p.mac = LBH_BROKER_MAC;
                if (f->flags & TCP_OUT_RST)
                        return 0;
                if (f->flags & TCP_OUT_SYN)
                        return send_(h, &p, TCP_OUT_SYN | TCP_OUT_ACK, iss, f->seq + 1, NULL, 0);
                if (f->plen && f->ack == iss + 1) /* the replay: ACK it, CONNACK */
                        return send_(h, &p, TCP_OUT_ACK, iss + 1, f->seq + f->plen, CONNACK,
                                     sizeof(CONNACK));
                if (f->plen)
                        return send_(h, &p, TCP_OUT_ACK, f->ack, f->seq + f->plen, NULL, 0);
                return 0; /* an ACK (the client's, forwarded) */
        }
        i = client_of(f, fl->n);
        if (i == UINT32_MAX) {
                fl->unknown++;
                return 0;
        }
        client_peer(&p, i);
        if (f->flags & TCP_OUT_RST) {
                fl->unknown++;
                return 0;
        }
        if ((f->flags & (TCP_OUT_SYN | TCP_OUT_ACK)) == (TCP_OUT_SYN | TCP_OUT_ACK)) {
                uint8_t connect[CONNECT_LEN];

                connect_packet(connect, i);
                return send_(h, &p, TCP_OUT_ACK, client_iss(i) + 1, f->seq + 1, connect,
                             CONNECT_LEN);
        }
        if (f->plen) { /* the CONNACK (the broker's, or the balancer's own) */
                if (f->plen >= 4 && f->payload[0] == 0x20)
                        fl->done++;
                return send_(h, &p, TCP_OUT_ACK, client_iss(i) + 1 + CONNECT_LEN, f->seq + f->plen,
                             NULL, 0);
        }
        return 0;
}

static void counters(struct lbh *h)
{
        struct lb_stats st;
        char buf[4096];

        lbh__stats(h, &st);
        lb_stats__nonzero(&st, buf, sizeof(buf));
        fprintf(stderr, "conn_mem: the balancer's counters:%s\n", buf);
}

/* Makes fl->n connections; 0, or -1 when they stopped coming. */
static int fill(struct lbh *h, struct fill *fl, uint64_t *clock)
{
        uint32_t next = 0, stuck = 0;

        while (fl->done < fl->n) {
                uint32_t before = fl->done, sent;

                for (uint32_t k = 0; k < BATCH && next < fl->n && next - fl->done < window;
                     k++, next++) {
                        struct lbh_peer p;

                        client_peer(&p, next);
                        if (send_(h, &p, TCP_OUT_SYN, client_iss(next), 0, NULL, 0))
                                return fprintf(stderr, "conn_mem: inject failed\n"), -1;
                }
                *clock += 2000; /* 2 us a run: no timer comes due during the fill */
                lbh__clear(h);
                sent = lbh__run(h, *clock);
                if (h->out_lost)
                        return fprintf(stderr,
                                       "conn_mem: %llu frames past the harness's out array\n",
                                       (unsigned long long)h->out_lost),
                               -1;
                fl->frames += sent;
                for (uint32_t k = 0; k < h->nout; k++)
                        if (answer(h, fl, &h->out[k]))
                                return fprintf(stderr, "conn_mem: inject failed\n"), -1;
                stuck = fl->done == before && !sent ? stuck + 1 : 0;
                if (stuck > 1000) {
                        fprintf(stderr, "conn_mem: stuck at %u of %u connections\n", fl->done,
                                fl->n);
                        counters(h);
                        return -1;
                }
        }
        return 0;
}

static const char *yaml(bool bound, uint32_t cap)
{
        static char y[4096];
        uint64_t mib;
        int n = 0;

        n += snprintf(y + n, sizeof(y) - (size_t)n,
                      "interfaces: [{name: lb0}]\n"
                      "listeners: [{address: 10.10.0.100, port: 1883}]\n"
                      "source_addresses: [");
        for (int s = 1; s <= NSOURCES; s++)
                n += snprintf(y + n, sizeof(y) - (size_t)n, "%s10.20.0.%d", s > 1 ? ", " : "", s);
        n += snprintf(y + n, sizeof(y) - (size_t)n,
                      "]\nworkers: 1\npools:\n  - {name: p, brokers: [");
        for (int b = 1; b <= NBROKERS; b++)
                n += snprintf(y + n, sizeof(y) - (size_t)n, "%s\"10.20.1.%d:1883\"",
                              b > 1 ? ", " : "", b);
        n += snprintf(y + n, sizeof(y) - (size_t)n, "]}\n%sdefault_pool: p\n",
                      bound ? "routes: [{client_id: \"*\", pool: p}]\n" : "");
        /* bound: a reserve for every connection of the window (as
         * scale.sh sizes it: 16 KiB a connection, at least 256m) */
        mib = ((uint64_t)window * 16 + 1023) / 1024;
        mib = mib < 256 ? 256 : mib > 4095 ? 4095 : mib;
        snprintf(y + n, sizeof(y) - (size_t)n,
                 "connections:\n  max_connections: %u\n  buffer_total: %um\n  bind_timeout: %s\n",
                 cap, bound ? (unsigned)mib : 4095u, bound ? "5s" : "1h");
        return y;
}

/* One fill in this process; the exit status (0 bounded, 1 not, 2 failed). */
static int run(bool bound, uint32_t n, uint64_t heap_bound)
{
        const char *what = bound ? "bound" : "unbound";
        uint32_t frames = 4 * window + 4096;
        uint64_t rss0, rss1, rss2, heap1, heap2, clock = 0, table, fixed, lim_fill, lim_total;
        struct fill fl = {.n = n};
        struct flow_table_stats st;
        struct lbh *h;
        char err[256];
        double t0, dt;
        int ok = 1;

        rss0 = rss_kib();
        if (lbh__open(&h,
                      &(struct lbh_cfg){.yaml = yaml(bound, n),
                                        .seed = 42,
                                        .frames = frames,
                                        .out_max = 4 * window + 4 * BATCH},
                      err, sizeof(err))) {
                fprintf(stderr, "conn_mem: %s\n", err);
                return 2;
        }
        /* the harness's own memory in RSS now, not during the fill */
        memset(h->umem.base, 0, h->umem.size);
        memset(h->out, 0, (size_t)h->out_max * sizeof(*h->out));
        rss1 = rss_kib();
        heap1 = heap_bytes();
        t0 = now_s();
        if (fill(h, &fl, &clock))
                return 2;
        dt = now_s() - t0;
        rss2 = rss_kib();
        heap2 = heap_bytes();
        flow_table__stats(h->lw->flows, &st);
        table = st.bytes;
        /* the harness's own: the UMEM and its parsed copies of sent frames */
        fixed =
            (uint64_t)frames * UMEM_FRAME_SIZE + (uint64_t)h->out_max * sizeof(struct lbh_frame);
        lim_fill = (uint64_t)n * heap_bound;
        lim_total = table + lim_fill + fixed + SLACK;

        printf("%s: %u connections in %.1f s (%.0f ns each, %llu frames from the balancer); "
               "sizeof(struct conn) %zu, stride %zu\n",
               what, fl.done, dt, dt * 1e9 / n, (unsigned long long)fl.frames, sizeof(struct conn),
               st.entry_stride);
        printf("  flow table: capacity %u, flows %u, keys %u, index %u slots x 8 B, entries "
               "%u x %zu B, port hints 256 KiB; %llu bytes = %.1f MiB = %.1f B per connection; "
               "probe mean %.2f max %u, probe_fail %llu\n",
               st.capacity, st.flows, st.keys, st.slots, st.capacity, st.entry_stride,
               (unsigned long long)table, table / 1048576.0, (double)table / n, st.mean_probe,
               st.max_probe, (unsigned long long)st.probe_fail);
        printf("  VmRSS: before open %llu KiB, after open %llu KiB (+%.1f MiB: table, UMEM %.1f "
               "MiB, out array %.1f MiB), after the fill %llu KiB (+%.1f MiB)\n",
               (unsigned long long)rss0, (unsigned long long)rss1, (rss1 - rss0) / 1024.0,
               (double)frames * UMEM_FRAME_SIZE / 1048576.0,
               (double)h->out_max * sizeof(struct lbh_frame) / 1048576.0, (unsigned long long)rss2,
               (rss2 - rss1) / 1024.0);
        printf(
            "  per connection: RSS during the fill %.1f B, heap in use %.1f B (mallinfo2 %llu -> "
            "%llu), table %.1f B; all: %.1f B (RSS after the fill - before open - the "
            "harness's UMEM and out array, over N)\n",
            (rss2 - rss1) * 1024.0 / n, (double)(heap2 - heap1) / n, (unsigned long long)heap1,
            (unsigned long long)heap2, (double)table / n,
            ((double)(rss2 - rss0) * 1024.0 - (double)fixed) / n);
        if ((rss2 - rss1) * 1024 > lim_fill + SLACK) {
                printf("  FAIL: RSS grew %llu B in the fill, bound %u x %llu + %llu = %llu B\n",
                       (unsigned long long)((rss2 - rss1) * 1024), n,
                       (unsigned long long)heap_bound, (unsigned long long)SLACK,
                       (unsigned long long)(lim_fill + SLACK));
                ok = 0;
        }
        if (heap2 - heap1 > lim_fill) {
                printf("  FAIL: the heap grew %llu B in the fill, bound %llu B\n",
                       (unsigned long long)(heap2 - heap1), (unsigned long long)lim_fill);
                ok = 0;
        }
        if ((rss2 - rss0) * 1024 > lim_total) {
                printf("  FAIL: RSS %llu B over the harness's start, bound table + N x %llu + "
                       "harness + slack = %llu B\n",
                       (unsigned long long)((rss2 - rss0) * 1024), (unsigned long long)heap_bound,
                       (unsigned long long)lim_total);
                ok = 0;
        }
        if (fl.unknown) {
                printf("  FAIL: %u frames from the balancer were not what a fill expects\n",
                       fl.unknown);
                counters(h);
                ok = 0;
        }
        if (ok)
                printf("  ok: the fill grew the heap by %.1f B and RSS by %.1f B per connection "
                       "(bound %llu B each + %.0f MiB), in all %.1f MiB <= %.1f MiB\n",
                       (double)(heap2 - heap1) / n, (rss2 - rss1) * 1024.0 / n,
                       (unsigned long long)heap_bound, SLACK / 1048576.0, (rss2 - rss0) / 1024.0,
                       lim_total / 1048576.0);
        fflush(stdout);
        if (lbh__connections(h) != n) {
                printf("  FAIL: the worker holds %u connections\n", lbh__connections(h));
                ok = 0;
        }
        /* not lbh__close: closing a million connections sends a million RSTs
         * through the harness's out array; the process exits instead */
        return ok ? 0 : 1;
}

static int in_child(bool bound, uint32_t n, uint64_t heap_bound)
{
        pid_t pid;
        int status;

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return perror("conn_mem: fork"), 2;
        if (!pid)
                _exit(run(bound, n, heap_bound));
        if (waitpid(pid, &status, 0) < 0)
                return perror("conn_mem: waitpid"), 2;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

/* The table of a worker with max_connections = cap, as lb_worker__new makes it. */
static int table(uint32_t cap)
{
        struct flow_table *t;
        struct flow_table_stats st;
        int rc = flow_table__new(&t, cap, sizeof(struct conn), 42);

        if (rc) {
                fprintf(stderr, "conn_mem: flow_table__new(%u): %s\n", cap, strerror(-rc));
                return 2;
        }
        flow_table__stats(t, &st);
        printf("{\"capacity\":%u,\"sizeof_conn\":%zu,\"stride\":%zu,\"slots\":%u,\"slot_bytes\":8,"
               "\"port_hint_bytes\":262144,\"bytes\":%zu}\n",
               st.capacity, sizeof(struct conn), st.entry_stride, st.slots, st.bytes);
        flow_table__free(t);
        return 0;
}

static int usage(void)
{
        fprintf(stderr,
                "usage: conn_mem [--conns N] [--unbound-conns M] [--mode both|bound|unbound] "
                "[--heap-bound BYTES] [--window W]\n       conn_mem --table MAX_CONNECTIONS\n");
        return 2;
}

int main(int argc, char **argv)
{
        uint32_t n = 1u << 20, m = (4095u << 20) / 2 / CONN_BUF_RESERVE;
        uint64_t heap_bound = 256;
        const char *mode = "both";
        int rc = 0, r;

        for (int i = 1; i < argc; i++) {
                if (i + 1 >= argc)
                        return usage();
                if (!strcmp(argv[i], "--conns"))
                        n = (uint32_t)strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--unbound-conns"))
                        m = (uint32_t)strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--mode"))
                        mode = argv[++i];
                else if (!strcmp(argv[i], "--heap-bound"))
                        heap_bound = strtoull(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--window"))
                        window = (uint32_t)strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--table"))
                        return table((uint32_t)strtoul(argv[++i], NULL, 0));
                else
                        return usage();
        }
        if (!n || !m || n > (1u << 24) || m > (1u << 24) || !window || window > (1u << 20) ||
            (strcmp(mode, "both") && strcmp(mode, "bound") && strcmp(mode, "unbound")))
                return usage();
        if (strcmp(mode, "unbound")) {
                r = in_child(true, n, heap_bound);
                rc = r > rc ? r : rc;
        }
        if (strcmp(mode, "bound")) {
                r = in_child(false, m, CONN_BUF_RESERVE + 256);
                rc = r > rc ? r : rc;
        }
        return rc;
}
