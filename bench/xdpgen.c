/*
 * xdpgen: a pktgen-style generator on AF_XDP. One thread per queue, each with
 * its own socket and frame cache on one shared UMEM; sends stamped TCP frames
 * (or SYNs) and, with --rx/--rx-only, counts what arrives: received, unique
 * (a bitmap over the sequence space, shared by the threads), duplicates, per
 * queue. This file owns the run: the interface's defaults, the UMEM and the
 * sockets, the threads and their pinning, the phases (send, wait for
 * stragglers, linger) and the progress lines, signals, the exit status (0 when
 * it ran, 1 on bad arguments, 2 on a runtime failure). Sending is gen_tx.c's,
 * counting gen_rx.c's, the report gen_report.c's, the frame format
 * gen_frame.c's, the command line gen_opts.c's.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "bench/gen.h"

#define UNTRACKED_BITS (1ull << 28) /* sequence space tracked without --count */
#define MAX_BITS       (1ull << 32)

static volatile sig_atomic_t signalled;

static void on_signal(int sig)
{
        (void)sig;
        signalled = 1;
}

static void *thread_main(void *arg)
{
        struct gen_thread *t = arg;
        struct gen *g = t->g;

        while (!__atomic_load_n(&g->go, __ATOMIC_ACQUIRE))
                gen_sleep_ns(50000);
        if (__atomic_load_n(&g->go, __ATOMIC_ACQUIRE) == 2)
                return NULL;
        if (t->rate)
                prctl(PR_SET_TIMERSLACK, 1000UL); /* the default 50 us would blur the rate */
        if (!g->cfg.rx_only)
                gen_thread__tx(t);
        if (!g->cfg.rx && !g->cfg.rx_only)
                return NULL;
        while (!gen_flag(&g->stop_rx)) {
                port__flush(t->port);
                if (!gen_thread__rx_burst(t))
                        poll(&(struct pollfd){.fd = xsk_port__fd(t->port), .events = POLLIN}, 1, 1);
        }
        return NULL;
}

/* ---- setup -------------------------------------------------------------- */

struct if_info {
        uint8_t mac[6];
        uint32_t mtu, ip;
        bool has_ip;
};

static int if_info__read(const char *dev, struct if_info *out)
{
        struct ifreq ifr = {0};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
        if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
                r = -errno;
                goto out;
        }
        memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
        if (ioctl(fd, SIOCGIFMTU, &ifr)) {
                r = -errno;
                goto out;
        }
        out->mtu = (uint32_t)ifr.ifr_mtu;
        out->has_ip = !ioctl(fd, SIOCGIFADDR, &ifr);
        if (out->has_ip)
                memcpy(&out->ip, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, 4);
out:
        close(fd);
        return r;
}

/* The interface's TX drop counter (rtnetlink stats, through getifaddrs). */
static uint32_t if_tx_dropped(const char *dev)
{
        struct ifaddrs *ifa, *i;
        uint32_t v = 0;

        if (getifaddrs(&ifa))
                return 0;
        for (i = ifa; i; i = i->ifa_next)
                if (i->ifa_addr && i->ifa_addr->sa_family == AF_PACKET && i->ifa_data &&
                    !strcmp(i->ifa_name, dev))
                        v = ((const struct rtnl_link_stats *)i->ifa_data)->tx_dropped;
        freeifaddrs(ifa);
        return v;
}

/* The kernel releases a closed socket's hold on its queue asynchronously: a
 * run right after another may find the queue busy for a moment. */
static int port__open_retry(struct gen_thread *t, const struct xsk_port_cfg *pc, char *err,
                            size_t errlen)
{
        int r = -EBUSY;

        for (int tries = 0; r == -EBUSY && tries < 20; tries++) {
                if (tries)
                        gen_sleep_ns(100000000);
                r = xsk_port__open(&t->port, t->g->umem, pc, &t->cache, err, errlen);
        }
        return r;
}

static int gen__open(struct gen *g, char *err, size_t errlen)
{
        const struct gen_cfg *c = &g->cfg;
        /* fill ring (filled at open, whatever the mode), TX ring, completion
         * ring, the cache and a burst in hand */
        uint32_t per_queue = (c->rx_only ? 1 : 3) * c->ring + FRAME_CACHE + FRAME_BATCH;
        uint32_t frames = (per_queue * c->queues + 511) / 512 * 512;
        int r;

        g->th = calloc(c->queues, sizeof(*g->th));
        if (!g->th)
                return -ENOMEM;
        if ((r = umem_area__map(&g->area, frames, UMEM_FRAME_SIZE, true))) {
                snprintf(err, errlen, "UMEM of %u frames: %s", frames, strerror(-r));
                return r;
        }
        if ((r = frame_pool__new(&g->pool, frames, UMEM_FRAME_SIZE)))
                return r;
        if ((r = xsk_umem_set__new(&g->umem, &g->area, c->ring))) {
                snprintf(err, errlen, "%s: cannot register the UMEM for AF_XDP: %s", c->dev,
                         strerror(-r));
                return r;
        }
        for (uint32_t q = 0; q < c->queues; q++) {
                struct gen_thread *t = &g->th[q];
                struct xsk_port_cfg pc = {.ifname = c->dev,
                                          .queue = q,
                                          .mode = c->xmode,
                                          .ring_size = c->ring,
                                          .load_default_prog = c->rx || c->rx_only};

                t->g = g;
                t->idx = q;
                frame_cache__init(&t->cache, g->pool);
                if (getrandom(&t->rng, sizeof(t->rng), 0) != sizeof(t->rng) || !t->rng)
                        t->rng = 0x9e3779b97f4a7c15ull * (q + 1) ^ gen_now_ns();
                if ((r = port__open_retry(t, &pc, err, errlen)))
                        return r;
                t->base_in_kernel = xsk_port__in_kernel(t->port);
                t->quota = c->count
                               ? (c->count > q ? (c->count - q + c->queues - 1) / c->queues : 0)
                               : UINT64_MAX;
                t->next_seq = q;
                t->rate = c->rate / c->queues + (q < c->rate % c->queues);
                if (gen_cfg__stamped(c) && !c->rx_only && (r = gen_thread__flows_init(t)))
                        return r;
        }
        if ((c->rx || c->rx_only) && gen_cfg__stamped(c)) {
                g->bits = c->count ? c->count : UNTRACKED_BITS;
                g->bits = g->bits > MAX_BITS ? MAX_BITS : g->bits;
                g->bitmap = calloc((g->bits + 63) / 64, sizeof(uint64_t));
                if (!g->bitmap)
                        return -ENOMEM;
        }
        return 0;
}

static void gen__close(struct gen *g)
{
        for (uint32_t q = 0; g->th && q < g->cfg.queues; q++) {
                port__close(g->th[q].port);
                if (g->th[q].cache.pool)
                        frame_cache__drain(&g->th[q].cache);
                free(g->th[q].flows);
                free(g->th[q].flow_frames);
        }
        xsk_umem_set__free(g->umem);
        frame_pool__free(g->pool);
        umem_area__unmap(&g->area);
        free(g->bitmap);
        free(g->th);
        free(g->flow_seq);
}

/* ---- the run ------------------------------------------------------------ */

/* Waits for the run to end, printing progress; stops the threads. */
static void gen__watch(struct gen *g)
{
        const struct gen_cfg *c = &g->cfg;
        uint64_t tick = g->start_ns + 1000000000ull, prev_sent = 0, prev_rx = 0;
        uint64_t rx_deadline = 0, linger_end = 0;
        bool rx = c->rx || c->rx_only;
        struct gen_totals s;

        for (;;) {
                gen_sleep_ns(2000000);
                uint64_t now = gen_now_ns();

                gen__sum(g, &s);
                if (signalled) {
                        __atomic_store_n(&g->stop_tx, true, __ATOMIC_RELEASE);
                        if (s.tx_done || c->rx_only)
                                break;
                }
                if (now >= tick) {
                        bool show = !c->quiet && (c->duration > 2 ||
                                                  (!c->duration && now - g->start_ns > 2.5e9));

                        if (show && !c->rx_only)
                                fprintf(stderr, "xdpgen: %3.0f s: sent %llu (%llu pps)%s",
                                        (double)(now - g->start_ns) / 1e9,
                                        (unsigned long long)s.sent,
                                        (unsigned long long)(s.sent - prev_sent), rx ? ", " : "\n");
                        else if (show)
                                fprintf(stderr,
                                        "xdpgen: %3.0f s: ", (double)(now - g->start_ns) / 1e9);
                        if (show && rx)
                                fprintf(stderr, "received %llu (%llu pps)\n",
                                        (unsigned long long)s.counted,
                                        (unsigned long long)(s.counted - prev_rx));
                        prev_sent = s.sent;
                        prev_rx = s.counted;
                        tick += 1000000000ull;
                }
                if (linger_end) {
                        if (now >= linger_end)
                                break;
                        continue;
                }
                if (c->rx_only) {
                        if (c->duration && now - g->start_ns >= c->duration * 1e9)
                                break;
                        if (c->count && s.counted >= c->count)
                                linger_end = now + c->rx_linger_ms * 1000000ull;
                        continue;
                }
                if (!s.tx_done)
                        continue;
                if (!rx)
                        break;
                if (!rx_deadline)
                        rx_deadline = now + c->rx_wait_ms * 1000000ull;
                if ((gen_cfg__stamped(c) ? s.unique : s.syn) >= s.sent && !s.overflow)
                        linger_end = now + c->rx_linger_ms * 1000000ull;
                else if (now >= rx_deadline)
                        break;
        }
        __atomic_store_n(&g->stop_tx, true, __ATOMIC_RELEASE);
        __atomic_store_n(&g->stop_rx, true, __ATOMIC_RELEASE);
}

/* The interface-dependent defaults and checks; 0 or a message in err. */
static int resolve(struct gen *g, char *err, size_t errlen)
{
        struct gen_cfg *c = &g->cfg;
        struct if_info ii = {0};
        int r = if_info__read(c->dev, &ii);

        if (r) {
                snprintf(err, errlen, "--dev: %s: %s", c->dev, strerror(-r));
                return r;
        }
        if (gen_cfg__stamped(c) && !c->rx_only && c->size > ii.mtu + GEN_ETH_LEN) {
                snprintf(err, errlen, "--size: %u exceeds the MTU of %s (%u) + %u", c->size, c->dev,
                         ii.mtu, GEN_ETH_LEN);
                return -EINVAL;
        }
        memcpy(g->addrs.src_mac, c->src_mac_set ? c->src_mac : ii.mac, 6);
        memcpy(g->addrs.dst_mac, c->dst_mac, 6);
        g->addrs.src_ip = c->src_ip_set || !ii.has_ip ? c->src_ip : ii.ip;
        g->addrs.dst_ip = c->dst_ip;
        return 0;
}

int main(int argc, char **argv)
{
        static struct gen g;
        char err[512] = "";
        int r = gen_cfg__parse(&g.cfg, argc, argv, err, sizeof(err));
        const struct gen_cfg *c = &g.cfg;
        uint32_t dev_dropped;
        struct gen_totals s;
        uint32_t started = 0;

        if (r == 1)
                return 0;
        /* libxdp/libbpf narrate their fallbacks (no bpffs under ip netns
         * exec: no dispatcher); what matters is reported by us */
        libxdp_set_print(NULL);
        libbpf_set_print(NULL);
        if (r || resolve(&g, err, sizeof(err)) ||
            (c->flow_seq && gen__flow_seq_load(&g, err, sizeof(err)))) {
                fprintf(stderr, "xdpgen: %s\n", err);
                free(g.flow_seq);
                return 1;
        }
        if (c->run_id_set)
                g.run_id = c->run_id;
        else if (!c->rx_only)
                while (!g.run_id)
                        if (getrandom(&g.run_id, sizeof(g.run_id), 0) != sizeof(g.run_id))
                                g.run_id = (uint32_t)gen_now_ns();
        /* best effort: root's CAP_IPC_LOCK covers the UMEM anyway */
        setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){RLIM_INFINITY, RLIM_INFINITY});
        sigaction(SIGINT, &(struct sigaction){.sa_handler = on_signal}, NULL);
        sigaction(SIGTERM, &(struct sigaction){.sa_handler = on_signal}, NULL);
        if ((r = gen__open(&g, err, sizeof(err)))) {
                fprintf(stderr, "xdpgen: %s\n", *err ? err : strerror(-r));
                gen__close(&g);
                return 2;
        }
        fprintf(stderr, "xdpgen: ready: %s queues 0-%u, %s mode, %s, run id %#x%s\n", c->dev,
                c->queues - 1, xsk_port__zerocopy(g.th[0].port) ? "zero-copy" : "copy",
                c->rx_only                ? "receiving"
                : c->mode == GEN_MODE_SYN ? "sending SYNs"
                                          : "sending",
                g.run_id, g.run_id ? "" : " (the first one seen)");
        dev_dropped = if_tx_dropped(c->dev);
        for (; started < c->queues; started++) {
                pthread_attr_t attr;
                cpu_set_t cpus;

                pthread_attr_init(&attr);
                if (c->ncores) {
                        CPU_ZERO(&cpus);
                        CPU_SET(c->cores[started], &cpus);
                        pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
                }
                r = pthread_create(&g.th[started].tid, &attr, thread_main, &g.th[started]);
                pthread_attr_destroy(&attr);
                if (r) {
                        fprintf(stderr, "xdpgen: thread of queue %u%s: %s\n", started,
                                c->ncores ? " (--cores)" : "", strerror(r));
                        break;
                }
        }
        g.start_ns = gen_now_ns();
        __atomic_store_n(&g.go, started < c->queues ? 2 : 1, __ATOMIC_RELEASE);
        if (started < c->queues) {
                for (uint32_t q = 0; q < started; q++)
                        pthread_join(g.th[q].tid, NULL);
                gen__close(&g);
                return 2;
        }
        gen__watch(&g);
        for (uint32_t q = 0; q < c->queues; q++)
                pthread_join(g.th[q].tid, NULL);
        gen__sum(&g, &s);
        s.kernel_dropped = gen__kernel_rx_dropped(&g);
        dev_dropped = if_tx_dropped(c->dev) - dev_dropped;
        gen__report(&g, &s, dev_dropped);
        gen__close(&g);
        return 0;
}
