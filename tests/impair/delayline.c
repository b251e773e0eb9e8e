/*
 * mqttlb-delayline: an L2 delay line between two devices, for the live
 * impaired-wire tests (topo.sh --wire puts it in the PREFIX-wire namespace,
 * between the clients and the balancer). A test tool, not installed.
 *
 *   mqttlb-delayline --a DEV --b DEV [--delay MS] [--jitter MS] [--loss PPM]
 *                    [--dup PPM] [--queue N] [--seed N] [--stats FILE]
 *                    [--ready FILE]
 *
 * Every frame received on one device (AF_PACKET raw socket, ETH_P_ALL) is held
 * for --delay ± --jitter milliseconds (uniform, never below zero) and then
 * sent out of the other device unchanged. Held frames wait in a binary heap
 * ordered by release time (ties by arrival), so jitter reorders frames for
 * real, as a cellular link does; --loss drops and --dup sends twice (each copy
 * with its own delay) a per-million fraction. The queue holds at most --queue
 * frames; a frame that finds it full is dropped and counted. Frames larger than
 * a slot (2,048 bytes: GSO super-segments, see DESIGN.md's traps) are dropped
 * and counted as oversize.
 *
 * Counters (one line of key=value, to stderr at exit and to --stats FILE every
 * second and at exit): frames received per direction, sent, lost, duplicated,
 * dropped_full, oversize, tx_errors, reordered (sent after a frame of the same
 * direction that arrived later), queue_max. SIGTERM/SIGINT: counters, exit 0.
 * Single-threaded; poll() sleeps until the next release or the next frame.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT_SIZE 2048

static const char *prog_name = "mqttlb-delayline";
static volatile sig_atomic_t stop;

struct held {
        uint64_t release_ns; /* CLOCK_MONOTONIC */
        uint64_t seq;        /* arrival order (ties; reordering) */
        uint32_t slot;       /* index into the frame slab */
        uint16_t len;
        uint8_t to_b; /* direction: 1 a→b, 0 b→a */
};

struct line {
        int fd[2];      /* [0] on a, [1] on b */
        int ifindex[2]; /* same */
        const char *dev[2];
        uint64_t delay_ns, jitter_ns;
        uint32_t loss_ppm, dup_ppm;
        uint32_t cap;      /* heap capacity, frames */
        struct held *heap; /* min-heap by (release_ns, seq) */
        uint32_t n;
        uint8_t *slab; /* cap slots of SLOT_SIZE */
        uint32_t *free_slots;
        uint32_t nfree;
        uint64_t rng;
        uint64_t seq;
        uint64_t max_sent_seq[2]; /* per direction (index: to_b), +1; 0 none */
        /* counters */
        uint64_t rx[2]; /* [1] a→b, [0] b→a */
        uint64_t tx[2];
        uint64_t lost, duplicated, dropped_full, oversize, tx_errors, reordered, queue_max;
        const char *stats_path;
};

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct line *l)
{
        uint64_t x = l->rng; /* xorshift64* */

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        l->rng = x;
        return x * 0x2545f4914f6cdd1dull;
}

static bool heap_less(const struct held *a, const struct held *b)
{
        return a->release_ns < b->release_ns || (a->release_ns == b->release_ns && a->seq < b->seq);
}

static void heap_push(struct line *l, struct held h)
{
        uint32_t i = l->n++;

        while (i) {
                uint32_t p = (i - 1) / 2;

                if (!heap_less(&h, &l->heap[p]))
                        break;
                l->heap[i] = l->heap[p];
                i = p;
        }
        l->heap[i] = h;
        if (l->n > l->queue_max)
                l->queue_max = l->n;
}

static struct held heap_pop(struct line *l)
{
        struct held top = l->heap[0], last = l->heap[--l->n];
        uint32_t i = 0;

        for (;;) {
                uint32_t c = 2 * i + 1;

                if (c >= l->n)
                        break;
                if (c + 1 < l->n && heap_less(&l->heap[c + 1], &l->heap[c]))
                        c++;
                if (!heap_less(&l->heap[c], &last))
                        break;
                l->heap[i] = l->heap[c];
                i = c;
        }
        if (l->n)
                l->heap[i] = last;
        return top;
}

static void write_stats(struct line *l, FILE *f)
{
        fprintf(f,
                "a=%s b=%s rx_a_to_b=%" PRIu64 " rx_b_to_a=%" PRIu64 " tx_a_to_b=%" PRIu64
                " tx_b_to_a=%" PRIu64 " lost=%" PRIu64 " duplicated=%" PRIu64
                " dropped_full=%" PRIu64 " oversize=%" PRIu64 " tx_errors=%" PRIu64
                " reordered=%" PRIu64 " queue_max=%" PRIu64 " queued=%u\n",
                l->dev[0], l->dev[1], l->rx[1], l->rx[0], l->tx[1], l->tx[0], l->lost,
                l->duplicated, l->dropped_full, l->oversize, l->tx_errors, l->reordered,
                l->queue_max, l->n);
}

static void dump_stats(struct line *l)
{
        char tmp[4096];
        FILE *f;

        if (!l->stats_path)
                return;
        snprintf(tmp, sizeof(tmp), "%s.tmp", l->stats_path);
        f = fopen(tmp, "w");
        if (!f)
                return;
        write_stats(l, f);
        if (fclose(f) == 0)
                rename(tmp, l->stats_path);
}

/* Holds a copy of frame (len bytes) arriving from side `from` (0 a, 1 b). */
static void hold(struct line *l, const uint8_t *frame, size_t len, int from, uint64_t t)
{
        uint64_t d = l->delay_ns;
        uint32_t slot;

        if (!l->nfree) {
                l->dropped_full++;
                return;
        }
        if (l->jitter_ns) {
                uint64_t span = 2 * l->jitter_ns + 1, r = rnd(l) % span;

                d = d + r >= l->jitter_ns ? d + r - l->jitter_ns : 0;
        }
        slot = l->free_slots[--l->nfree];
        memcpy(l->slab + (size_t)slot * SLOT_SIZE, frame, len);
        heap_push(l, (struct held){.release_ns = t + d,
                                   .seq = ++l->seq,
                                   .slot = slot,
                                   .len = (uint16_t)len,
                                   .to_b = (uint8_t)(from == 0)});
}

static void receive(struct line *l, int from)
{
        static uint8_t buf[65536];

        for (int burst = 0; burst < 256; burst++) {
                struct sockaddr_ll sll;
                socklen_t sl = sizeof(sll);
                ssize_t n = recvfrom(l->fd[from], buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
                                     (struct sockaddr *)&sll, &sl);
                uint64_t t = now_ns();
                uint32_t r;

                if (n < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                                fprintf(stderr, "%s: receive on %s: %s\n", prog_name, l->dev[from],
                                        strerror(errno));
                        return;
                }
                if (sll.sll_pkttype == PACKET_OUTGOING)
                        continue; /* our own sends (PACKET_IGNORE_OUTGOING missing) */
                l->rx[from == 0]++;
                if ((size_t)n > SLOT_SIZE) {
                        l->oversize++;
                        continue;
                }
                r = (uint32_t)(rnd(l) % 1000000);
                if (r < l->loss_ppm) {
                        l->lost++;
                        continue;
                }
                hold(l, buf, (size_t)n, from, t);
                if (r - l->loss_ppm < l->dup_ppm) {
                        l->duplicated++;
                        hold(l, buf, (size_t)n, from, t);
                }
        }
}

static void release(struct line *l, uint64_t t)
{
        while (l->n && l->heap[0].release_ns <= t) {
                struct held h = heap_pop(l);
                int out = h.to_b ? 1 : 0;
                struct sockaddr_ll to = {
                    .sll_family = AF_PACKET, .sll_ifindex = l->ifindex[out], .sll_halen = ETH_ALEN};
                const uint8_t *frame = l->slab + (size_t)h.slot * SLOT_SIZE;

                memcpy(to.sll_addr, frame, ETH_ALEN);
                if (sendto(l->fd[out], frame, h.len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
                        l->tx_errors++;
                else
                        l->tx[h.to_b]++;
                if (h.seq < l->max_sent_seq[h.to_b])
                        l->reordered++;
                else
                        l->max_sent_seq[h.to_b] = h.seq;
                l->free_slots[l->nfree++] = h.slot;
        }
}

static int open_side(struct line *l, int side)
{
        struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
        struct packet_mreq mr = {.mr_type = PACKET_MR_PROMISC};
        int one = 1, fd, bufsz = 4 << 20;

        l->ifindex[side] = (int)if_nametoindex(l->dev[side]);
        if (!l->ifindex[side]) {
                fprintf(stderr, "%s: %s: no such device in this network namespace\n", prog_name,
                        l->dev[side]);
                return -1;
        }
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
        if (fd < 0) {
                fprintf(stderr, "%s: %s: AF_PACKET socket: %s (needs CAP_NET_RAW)\n", prog_name,
                        l->dev[side], strerror(errno));
                return -1;
        }
        sll.sll_ifindex = l->ifindex[side];
        if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
                fprintf(stderr, "%s: %s: bind: %s\n", prog_name, l->dev[side], strerror(errno));
                close(fd);
                return -1;
        }
        mr.mr_ifindex = l->ifindex[side];
        if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
                fprintf(stderr, "%s: %s: promiscuous mode: %s (continuing)\n", prog_name,
                        l->dev[side], strerror(errno));
        setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
        l->fd[side] = fd;
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: %s --a DEV --b DEV [--delay MS] [--jitter MS] [--loss PPM] [--dup PPM]\n"
                "                  [--queue N] [--seed N] [--stats FILE] [--ready FILE]\n"
                "Bridges DEV a and DEV b at L2 (AF_PACKET), holding every frame for --delay\n"
                "(one way, default 0) +- --jitter ms (uniform; jitter reorders), dropping\n"
                "--loss and sending twice --dup frames per million; at most --queue frames\n"
                "held (default 8192; beyond: dropped, counted). --ready FILE is written once\n"
                "both sockets are open; --stats FILE gets the counters every second and at\n"
                "exit. SIGTERM/SIGINT: exit 0. Exit 1 on setup errors, 2 on usage errors.\n",
                prog_name);
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || end == s || s[0] == '-' || v > max) {
                fprintf(stderr, "%s: %s '%s': expected an integer from 0 to %" PRIu64 "\n",
                        prog_name, opt, s, max);
                return -1;
        }
        *out = v;
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"a", required_argument, NULL, 'a'},     {"b", required_argument, NULL, 'b'},
            {"delay", required_argument, NULL, 'd'}, {"jitter", required_argument, NULL, 'j'},
            {"loss", required_argument, NULL, 'l'},  {"dup", required_argument, NULL, 'u'},
            {"queue", required_argument, NULL, 'q'}, {"seed", required_argument, NULL, 's'},
            {"stats", required_argument, NULL, 'S'}, {"ready", required_argument, NULL, 'r'},
            {"help", no_argument, NULL, 'h'},        {0},
        };
        struct line l = {.fd = {-1, -1}, .cap = 8192};
        const char *ready = NULL;
        uint64_t v, seed = 0, last_dump = 0;
        int c;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'a': l.dev[0] = optarg; break;
                case 'b': l.dev[1] = optarg; break;
                case 'd':
                        if (parse_u64("--delay", optarg, 60000, &v))
                                return 2;
                        l.delay_ns = v * 1000000ull;
                        break;
                case 'j':
                        if (parse_u64("--jitter", optarg, 60000, &v))
                                return 2;
                        l.jitter_ns = v * 1000000ull;
                        break;
                case 'l':
                        if (parse_u64("--loss", optarg, 1000000, &v))
                                return 2;
                        l.loss_ppm = (uint32_t)v;
                        break;
                case 'u':
                        if (parse_u64("--dup", optarg, 1000000, &v))
                                return 2;
                        l.dup_ppm = (uint32_t)v;
                        break;
                case 'q':
                        if (parse_u64("--queue", optarg, 1u << 20, &v) || v == 0) {
                                if (v == 0)
                                        fprintf(stderr, "%s: --queue must be at least 1\n",
                                                prog_name);
                                return 2;
                        }
                        l.cap = (uint32_t)v;
                        break;
                case 's':
                        if (parse_u64("--seed", optarg, UINT64_MAX, &seed))
                                return 2;
                        break;
                case 'S': l.stats_path = optarg; break;
                case 'r': ready = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc || !l.dev[0] || !l.dev[1]) {
                fprintf(stderr, "%s: %s\n", prog_name,
                        optind < argc ? "unexpected argument" : "--a and --b are required");
                usage(stderr);
                return 2;
        }
        if ((uint64_t)l.loss_ppm + l.dup_ppm > 1000000) {
                fprintf(stderr, "%s: --loss + --dup exceed one million per million\n", prog_name);
                return 2;
        }
        l.rng = seed ? seed * 0x9e3779b97f4a7c15ull : (now_ns() ^ (uint64_t)getpid() << 32);
        if (!l.rng)
                l.rng = 1;
        l.heap = calloc(l.cap, sizeof(*l.heap));
        l.free_slots = calloc(l.cap, sizeof(*l.free_slots));
        l.slab = malloc((size_t)l.cap * SLOT_SIZE);
        if (!l.heap || !l.free_slots || !l.slab) {
                fprintf(stderr, "%s: out of memory for %u frames\n", prog_name, l.cap);
                return 1;
        }
        for (uint32_t i = 0; i < l.cap; i++)
                l.free_slots[l.nfree++] = l.cap - 1 - i;
        if (open_side(&l, 0) || open_side(&l, 1))
                return 1;

        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        if (ready) {
                FILE *f = fopen(ready, "w");

                if (!f || fputs("ready\n", f) < 0 || fclose(f)) {
                        fprintf(stderr, "%s: --ready %s: %s\n", prog_name, ready, strerror(errno));
                        return 1;
                }
        }
        while (!stop) {
                struct pollfd pfd[2] = {{.fd = l.fd[0], .events = POLLIN},
                                        {.fd = l.fd[1], .events = POLLIN}};
                uint64_t t = now_ns();
                int timeout = 1000;

                if (l.n) {
                        uint64_t next = l.heap[0].release_ns;

                        /* round up: never wake before the frame is due */
                        timeout = next <= t ? 0 : (int)((next - t + 999999) / 1000000);
                        if (timeout > 1000)
                                timeout = 1000;
                }
                if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
                        fprintf(stderr, "%s: poll: %s\n", prog_name, strerror(errno));
                        return 1;
                }
                if (pfd[0].revents & POLLIN)
                        receive(&l, 0);
                if (pfd[1].revents & POLLIN)
                        receive(&l, 1);
                t = now_ns();
                release(&l, t);
                if (t - last_dump >= 1000000000ull) {
                        dump_stats(&l);
                        last_dump = t;
                }
        }
        dump_stats(&l);
        fprintf(stderr, "%s: ", prog_name);
        write_stats(&l, stderr);
        close(l.fd[0]);
        close(l.fd[1]);
        free(l.heap);
        free(l.free_slots);
        free(l.slab);
        return 0;
}
