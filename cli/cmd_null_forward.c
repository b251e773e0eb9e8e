/*
 * mqttlb null-forward: the datapath with the null forwarder as its handler
 * (core/datapath/nullfwd.h). It takes the frames the redirector hands over (TCP to a
 * --listen address:port, or to a --source address within its port range),
 * swaps them back or forwards them to the other interface, and at the end
 * prints every counter and the frame ledger. Exit 2 when a frame is missing
 * from the ledger (a leak), so a test can rely on the exit code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/datapath/dataplane.h"
#include "core/util/netaddr.h"
#include "core/control/control.h"
#include "core/datapath/nullfwd.h"
#include "core/util/clock.h"

static const char USAGE[] =
    "usage: mqttlb null-forward -i IF [-i IF2] [options]\n"
    "\n"
    "Runs the AF_XDP datapath with no MQTT: each frame of a listener or of a\n"
    "source port range is sent back with its addresses swapped (--mode swap)\n"
    "or forwarded to the other interface (--mode cross). Prints the counters\n"
    "and the frame ledger at exit (SIGINT/SIGTERM or --duration).\n"
    "\n"
    "  -i, --interface IF      an interface (twice for --mode cross)\n"
    "  -w, --workers N         workers = queues used on every interface (default 1)\n"
    "      --cores A,B,...     pin worker i to core i of the list\n"
    "  -m, --mode swap|cross   (default swap)\n"
    "  -l, --listen ADDR:PORT  a listener (repeatable)\n"
    "  -s, --source ADDR[:LO-HI]  a source address and its port range\n"
    "                          (repeatable; default range 10000-59999): frames to\n"
    "                          it belong to worker port %% workers (handover)\n"
    "      --peer-mac N=MAC    cross: destination MAC out of interface N (0, 1)\n"
    "      --next-hop N=IP     cross: MACs out of interface N from the kernel's\n"
    "                          neighbour entry for IP (resolved, kept fresh)\n"
    "      --xsk-mode auto|zerocopy|copy   (default auto)\n"
    "      --xdp-mode auto|native|generic  (default auto)\n"
    "      --busy-poll US      busy polling (SO_PREFER_BUSY_POLL); workers spin\n"
    "      --ring N            ring entries (default 2048)\n"
    "      --frames N          UMEM frames (default: enough for every ring)\n"
    "      --ipv6              redirect IPv6 too\n"
    "  -d, --duration S        stop after S seconds (default: until a signal)\n"
    "      --json              print the final counters as one JSON object\n"
    "  -h, --help\n";

struct opts {
        struct dataplane_cfg dp;
        struct nullfwd nf;
        struct lb_listener_key listeners[LB_LISTENERS_MAX];
        struct dataplane_source sources[WORKER_SOURCES_MAX];
        int ncores; /* in --cores */
        double duration;
        bool json;
};

/* A decimal number from 0 to max. */
static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || !*s || v > max)
                return -EINVAL;
        *out = (uint32_t)v;
        return 0;
}

/* --cores A,B,...: the list into c->cores; how many, or -EINVAL. */
static int parse_cores(const char *s, struct dataplane_cfg *c)
{
        char buf[256], *save, *tok;
        uint32_t n = 0, v;

        snprintf(buf, sizeof(buf), "%s", s);
        for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (n == WORKER_MAX || parse_u32(tok, 4095, &v))
                        return -EINVAL;
                c->cores[n++] = (int)v;
        }
        c->pin = n > 0;
        return n ? (int)n : -EINVAL;
}

/* -l ADDR:PORT: one more listener. */
static int add_listener(struct opts *o, const char *s)
{
        struct net_addr a;
        const char *why;
        struct lb_listener_key *k;

        if (net_addr__parse(s, true, &a, &why)) {
                cli__error("--listen %s: %s", s, why);
                return -EINVAL;
        }
        if (o->dp.nlisteners == LB_LISTENERS_MAX) {
                cli__error("--listen %s: at most %d listeners", s, LB_LISTENERS_MAX);
                return -EINVAL;
        }
        k = &o->listeners[o->dp.nlisteners++];
        memset(k, 0, sizeof(*k));
        k->family = a.ip.family;
        k->proto = IPPROTO_TCP;
        k->port = htons(a.port);
        memcpy(k->addr, a.ip.addr, 16);
        return 0;
}

/* -s ADDR[:LO-HI]: one more source address and its port range. */
static int add_source(struct opts *o, const char *s)
{
        char host[64];
        const char *why, *range = NULL, *colon = strrchr(s, ':');
        struct net_addr a;
        struct dataplane_source *src;

        snprintf(host, sizeof(host), "%s", s);
        /* the range follows the last colon unless that colon is inside an IPv6 address */
        if (colon && strchr(colon, '-') && (s[0] == '[' || strchr(s, ':') == colon)) {
                host[colon - s] = 0;
                range = colon + 1;
        }
        if (host[0] == '[') {
                memmove(host, host + 1, strlen(host));
                host[strcspn(host, "]")] = 0;
        }
        if (net_addr__parse(host, false, &a, &why)) {
                cli__error("--source %s: %s", s, why);
                return -EINVAL;
        }
        if (o->dp.nsources == WORKER_SOURCES_MAX) {
                cli__error("--source %s: at most %d source addresses", s, WORKER_SOURCES_MAX);
                return -EINVAL;
        }
        src = &o->sources[o->dp.nsources++];
        memset(src, 0, sizeof(*src));
        src->key.family = a.ip.family;
        memcpy(src->key.addr, a.ip.addr, 16);
        src->port_lo = 10000;
        src->port_hi = 59999;
        if (range && port_range__parse(range, &src->port_lo, &src->port_hi)) {
                cli__error("--source %s: the port range is not LO-HI within 1-65535", s);
                return -EINVAL;
        }
        return 0;
}

/* The MAC address of ifname (SIOCGIFHWADDR); 0 or -errno. */
static int interface_mac(const char *ifname, uint8_t mac[6])
{
        struct ifreq ifr = {0};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), e = 0;

        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(fd, SIOCGIFHWADDR, &ifr))
                e = -errno;
        else
                memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
        close(fd);
        return e;
}

enum {
        OPT_CORES = 256,
        OPT_PEER_MAC,
        OPT_NEXT_HOP,
        OPT_XSK_MODE,
        OPT_XDP_MODE,
        OPT_BUSY_POLL,
        OPT_RING,
        OPT_FRAMES,
        OPT_IPV6,
        OPT_JSON,
};

static const struct option LONGOPTS[] = {
    {"interface", required_argument, NULL, 'i'},
    {"workers", required_argument, NULL, 'w'},
    {"cores", required_argument, NULL, OPT_CORES},
    {"mode", required_argument, NULL, 'm'},
    {"listen", required_argument, NULL, 'l'},
    {"source", required_argument, NULL, 's'},
    {"peer-mac", required_argument, NULL, OPT_PEER_MAC},
    {"next-hop", required_argument, NULL, OPT_NEXT_HOP},
    {"xsk-mode", required_argument, NULL, OPT_XSK_MODE},
    {"xdp-mode", required_argument, NULL, OPT_XDP_MODE},
    {"busy-poll", required_argument, NULL, OPT_BUSY_POLL},
    {"ring", required_argument, NULL, OPT_RING},
    {"frames", required_argument, NULL, OPT_FRAMES},
    {"ipv6", no_argument, NULL, OPT_IPV6},
    {"duration", required_argument, NULL, 'd'},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {0},
};

/* Option values in the order of their enums. */
static const char *const MODES[] = {[NULLFWD_SWAP] = "swap", [NULLFWD_CROSS] = "cross", NULL};
static const char *const XSK_MODES[] = {
    [XSK_MODE_AUTO] = "auto", [XSK_MODE_ZEROCOPY] = "zerocopy", [XSK_MODE_COPY] = "copy", NULL};
static const char *const XDP_MODES[] = {[REDIRECTOR_AUTO] = "auto",
                                        [REDIRECTOR_NATIVE] = "native",
                                        [REDIRECTOR_GENERIC] = "generic",
                                        NULL};

/* The index of s in a NULL-terminated list, or -1 after saying "OPT s: expect". */
static int choice(const char *opt, const char *s, const char *const *names, const char *expect)
{
        for (int i = 0; names[i]; i++)
                if (!strcmp(s, names[i]))
                        return i;
        cli__error("%s %s: %s", opt, s, expect);
        return -1;
}

/* The interface number N of "N=...": 0 or 1, else -1. */
static int port_of(const char *s)
{
        return (s[0] == '0' || s[0] == '1') && s[1] == '=' ? s[0] - '0' : -1;
}

/* -i IF: an existing interface, at most two. */
static int add_interface(struct opts *o, const char *s)
{
        if (o->dp.nifs == 2) {
                cli__error("--interface %s: at most two interfaces", s);
                return -EINVAL;
        }
        if (!if_nametoindex(s)) {
                cli__error("--interface %s: no such interface", s);
                return -EINVAL;
        }
        o->dp.ifnames[o->dp.nifs++] = s;
        return 0;
}

/* -w N: workers, 1 to WORKER_MAX. */
static int set_workers(struct opts *o, const char *s)
{
        if (parse_u32(s, WORKER_MAX, &o->dp.nworkers) || !o->dp.nworkers) {
                cli__error("--workers %s: a number from 1 to %d", s, WORKER_MAX);
                return -EINVAL;
        }
        return 0;
}

/* --cores A,B,...: pin worker i to core i of the list. */
static int set_cores(struct opts *o, const char *s)
{
        o->ncores = parse_cores(s, &o->dp);
        if (o->ncores < 0) {
                cli__error("--cores %s: a comma-separated list of CPU numbers", s);
                return -EINVAL;
        }
        return 0;
}

/* -m swap|cross. */
static int set_mode(struct opts *o, const char *s)
{
        int i = choice("--mode", s, MODES, "swap or cross");

        if (i < 0)
                return -EINVAL;
        o->nf.mode = (enum nullfwd_mode)i;
        return 0;
}

/* --xsk-mode auto|zerocopy|copy. */
static int set_xsk_mode(struct opts *o, const char *s)
{
        int i = choice("--xsk-mode", s, XSK_MODES, "auto, zerocopy or copy");

        if (i < 0)
                return -EINVAL;
        o->dp.xsk_mode = (enum xsk_mode)i;
        return 0;
}

/* --xdp-mode auto|native|generic. */
static int set_xdp_mode(struct opts *o, const char *s)
{
        int i = choice("--xdp-mode", s, XDP_MODES, "auto, native or generic");

        if (i < 0)
                return -EINVAL;
        o->dp.xdp_mode = (enum redirector_mode)i;
        return 0;
}

/* --peer-mac N=MAC: the destination MAC out of interface N (cross). */
static int set_peer_mac(struct opts *o, const char *s)
{
        int n = port_of(s);

        if (n < 0 || mac__parse(s + 2, o->nf.peer_mac[n])) {
                cli__error("--peer-mac %s: N=MAC with N 0 or 1", s);
                return -EINVAL;
        }
        o->nf.peer_known[n] = true;
        return 0;
}

/* --next-hop N=IP: the MACs out of interface N from the neighbour entry of IP. */
static int set_next_hop(struct opts *o, const char *s)
{
        int n = port_of(s);

        if (n < 0 || ip_addr__parse(&o->nf.next_hop[n], s + 2)) {
                cli__error("--next-hop %s: N=IP with N 0 or 1", s);
                return -EINVAL;
        }
        o->nf.next_hop_set[n] = true;
        return 0;
}

/* --busy-poll US: up to a second. */
static int set_busy_poll(struct opts *o, const char *s)
{
        if (parse_u32(s, 1000000, &o->dp.busy_poll_us)) {
                cli__error("--busy-poll %s: microseconds", s);
                return -EINVAL;
        }
        return 0;
}

/* --ring N: a power of two from 64 to 65536. */
static int set_ring(struct opts *o, const char *s)
{
        uint32_t *n = &o->dp.ring_size;

        if (parse_u32(s, 1u << 16, n) || *n < 64 || (*n & (*n - 1))) {
                cli__error("--ring %s: a power of two from 64 to 65536", s);
                return -EINVAL;
        }
        return 0;
}

/* --frames N: UMEM frames, 1024 to 2^24. */
static int set_frames(struct opts *o, const char *s)
{
        if (parse_u32(s, 1u << 24, &o->dp.frames) || o->dp.frames < 1024) {
                cli__error("--frames %s: a number from 1024 to 16777216", s);
                return -EINVAL;
        }
        return 0;
}

/* -d S: seconds, more than 0. */
static int set_duration(struct opts *o, const char *s)
{
        char *end;

        o->duration = strtod(s, &end);
        if (*end || !(o->duration > 0)) {
                cli__error("--duration %s: seconds, more than 0", s);
                return -EINVAL;
        }
        return 0;
}

/* --ipv6: redirect IPv6 too. */
static int set_ipv6(struct opts *o, const char *s)
{
        (void)s;
        o->dp.ipv6 = true;
        return 0;
}

/* --json: the final counters as one JSON object on stdout. */
static int set_json(struct opts *o, const char *s)
{
        (void)s;
        o->json = true;
        return 0;
}

/* Each option's parser (getopt's value to function): 0, or -EINVAL after saying why. */
static const struct {
        int opt;
        int (*parse)(struct opts *o, const char *arg);
} PARSERS[] = {
    {'i', add_interface},
    {'w', set_workers},
    {OPT_CORES, set_cores},
    {'m', set_mode},
    {'l', add_listener},
    {'s', add_source},
    {OPT_PEER_MAC, set_peer_mac},
    {OPT_NEXT_HOP, set_next_hop},
    {OPT_XSK_MODE, set_xsk_mode},
    {OPT_XDP_MODE, set_xdp_mode},
    {OPT_BUSY_POLL, set_busy_poll},
    {OPT_RING, set_ring},
    {OPT_FRAMES, set_frames},
    {OPT_IPV6, set_ipv6},
    {'d', set_duration},
    {OPT_JSON, set_json},
};

/* One option through its parser; an unknown one (getopt named it) gets the usage. */
static int parse_option(struct opts *o, int c, const char *arg)
{
        for (size_t i = 0; i < sizeof(PARSERS) / sizeof(PARSERS[0]); i++)
                if (PARSERS[i].opt == c)
                        return PARSERS[i].parse(o, arg);
        fputs(USAGE, stderr);
        return -EINVAL;
}

/* What the options must add up to; -EINVAL after saying what is missing. */
static int check_args(int argc, char **argv, const struct opts *o)
{
        if (optind < argc) {
                cli__error("null-forward: unexpected argument '%s'", argv[optind]);
                return -EINVAL;
        }
        if (!o->dp.nifs) {
                cli__error("null-forward: --interface is required");
                return -EINVAL;
        }
        if (o->nf.mode == NULLFWD_CROSS && o->dp.nifs != 2) {
                cli__error("--mode cross: needs two --interface");
                return -EINVAL;
        }
        if (!o->dp.nlisteners && !o->dp.nsources) {
                cli__error("null-forward: give at least one --listen or --source (nothing "
                           "would be redirected)");
                return -EINVAL;
        }
        if (o->dp.pin && (uint32_t)o->ncores < o->dp.nworkers) {
                cli__error("--cores: %d cores for %u workers", o->ncores, o->dp.nworkers);
                return -EINVAL;
        }
        return 0;
}

/* Returns 0, or EXIT_USER after saying what is wrong; -1 for --help. */
static int parse_args(int argc, char **argv, struct opts *o)
{
        int c;

        o->dp.nworkers = 1;
        optind = 1;
        while ((c = getopt_long(argc, argv, "i:w:m:l:s:d:h", LONGOPTS, NULL)) != -1) {
                if (c == 'h') {
                        fputs(USAGE, stdout);
                        return -1;
                }
                if (parse_option(o, c, optarg))
                        return EXIT_USER;
        }
        return check_args(argc, argv, o) ? EXIT_USER : 0;
}

/* The counters per worker and interface, the ledger and the rate, on stderr. */
static void print_text(struct dataplane *dp, const struct opts *o, const struct dataplane_ledger *l,
                       double secs)
{
        uint64_t rx = 0;

        for (uint32_t w = 0; w < dataplane__nworkers(dp); w++) {
                struct worker_stats s;
                const uint64_t *v = (const uint64_t *)&s;

                struct dataplane_kernel_stats ks;
                const uint64_t *kv = (const uint64_t *)&ks;

                dataplane__worker_stats(dp, w, &s);
                dataplane__kernel_stats(dp, w, &ks);
                rx += s.rx;
                fprintf(stderr, "worker %u:", w);
                for (size_t k = 0; k < WORKER_NCOUNTERS; k++)
                        if (v[k])
                                fprintf(stderr, " %s %llu", worker_counter_names[k],
                                        (unsigned long long)v[k]);
                for (size_t k = 0; k < DATAPLANE_NKERNEL; k++)
                        if (kv[k])
                                fprintf(stderr, " %s %llu", dataplane_kernel_counter_names[k],
                                        (unsigned long long)kv[k]);
                fputc('\n', stderr);
        }
        for (uint32_t i = 0; i < o->dp.nifs; i++) {
                uint64_t c[LB_CNT__MAX];

                if (dataplane__xdp_counters(dp, i, c))
                        continue;
                fprintf(stderr, "xdp %s:", o->dp.ifnames[i]);
                for (uint32_t k = 0; k < LB_CNT__MAX; k++)
                        if (c[k])
                                fprintf(stderr, " %s %llu", lb_counter__name(k),
                                        (unsigned long long)c[k]);
                fputc('\n', stderr);
        }
        fprintf(stderr,
                "frames: total %llu = pool %llu + caches %llu + kernel %llu + handover %llu%s\n",
                (unsigned long long)l->total, (unsigned long long)l->pool,
                (unsigned long long)l->caches, (unsigned long long)l->in_kernel,
                (unsigned long long)l->handover, l->sum == l->total ? "" : "  LEAK");
        fprintf(stderr, "%.1f s, %.0f frames/s received\n", secs, secs > 0 ? rx / secs : 0.0);
}

/* The same counters as one JSON object on stdout (--json). */
static void print_json(struct dataplane *dp, const struct opts *o, const struct dataplane_ledger *l,
                       double secs)
{
        printf("{\"seconds\":%.3f,\"zerocopy\":%s,\"workers\":[", secs,
               dataplane__zerocopy(dp) ? "true" : "false");
        for (uint32_t w = 0; w < dataplane__nworkers(dp); w++) {
                struct worker_stats s;
                const uint64_t *v = (const uint64_t *)&s;

                struct dataplane_kernel_stats ks;
                const uint64_t *kv = (const uint64_t *)&ks;

                dataplane__worker_stats(dp, w, &s);
                dataplane__kernel_stats(dp, w, &ks);
                printf("%s{\"worker\":%u", w ? "," : "", w);
                for (size_t k = 0; k < WORKER_NCOUNTERS; k++)
                        printf(",\"%s\":%llu", worker_counter_names[k], (unsigned long long)v[k]);
                for (size_t k = 0; k < DATAPLANE_NKERNEL; k++)
                        printf(",\"%s\":%llu", dataplane_kernel_counter_names[k],
                               (unsigned long long)kv[k]);
                putchar('}');
        }
        printf("],\"xdp\":[");
        for (uint32_t i = 0; i < o->dp.nifs; i++) {
                uint64_t c[LB_CNT__MAX] = {0};

                dataplane__xdp_counters(dp, i, c);
                printf("%s{\"interface\":\"%s\",\"native\":%s", i ? "," : "", o->dp.ifnames[i],
                       dataplane__xdp_native(dp, i) ? "true" : "false");
                for (uint32_t k = 0; k < LB_CNT__MAX; k++)
                        printf(",\"%s\":%llu", lb_counter__name(k), (unsigned long long)c[k]);
                putchar('}');
        }
        printf("],\"frames\":{\"total\":%llu,\"pool\":%llu,\"caches\":%llu,\"in_kernel\":%llu,"
               "\"handover\":%llu,\"leaked\":%lld}}\n",
               (unsigned long long)l->total, (unsigned long long)l->pool,
               (unsigned long long)l->caches, (unsigned long long)l->in_kernel,
               (unsigned long long)l->handover, (long long)(l->total - l->sum));
}

/* The monotonic clock in seconds. */
static double now_s(void)
{
        return (double)clock__mono_ns() / 1e9;
}

/* The null forwarder's next hops: the control thread's neighbour table. */
static bool resolve(void *ctx, const struct ip_addr *dst, uint8_t src_mac[6], uint8_t dst_mac[6])
{
        const struct nh_entry *e = nh_table__lookup(control__nexthops(ctx), dst);

        if (!e || e->state != NH_RESOLVED)
                return false;
        memcpy(src_mac, e->src_mac, 6);
        memcpy(dst_mac, e->dst_mac, 6);
        return true;
}

/* The datapath's settings beyond the options: tables, handler, own MACs; 0 or EXIT_RUNTIME. */
static int setup_datapath(struct opts *o)
{
        int e;

        o->dp.listeners = o->listeners;
        o->dp.sources = o->sources;
        o->dp.ops = &nullfwd_ops;
        o->dp.huge_pages = true;
        for (uint32_t i = 0; i < o->dp.nifs; i++)
                if ((e = interface_mac(o->dp.ifnames[i], o->nf.own_mac[i]))) {
                        cli__error("%s: cannot read its MAC address: %s", o->dp.ifnames[i],
                                   strerror(-e));
                        return EXIT_RUNTIME;
                }
        for (uint32_t w = 0; w < o->dp.nworkers; w++)
                o->dp.ctx[w] = &o->nf;
        return 0;
}

/* With --next-hop: the control thread that keeps the next hops resolved; 0 or EXIT_RUNTIME. */
static int start_control(struct opts *o, struct control **ctl)
{
        struct ip_addr hops[WORKER_PORTS_MAX]; /* copied by control__start */
        struct control_cfg cc = {.nexthops = hops};
        char err[512] = "";

        for (uint32_t i = 0; i < WORKER_PORTS_MAX; i++)
                if (o->nf.next_hop_set[i])
                        hops[cc.nnexthops++] = o->nf.next_hop[i];
        if (!cc.nnexthops)
                return 0;
        if (control__start(ctl, &cc, err, sizeof(err))) {
                cli__error("%s", err);
                return EXIT_RUNTIME;
        }
        o->nf.resolve = resolve;
        o->nf.resolve_ctx = *ctl;
        return 0;
}

/* Starts the datapath and prints the line scripts wait for; 0 or EXIT_RUNTIME. */
static int start_datapath(struct opts *o, struct dataplane **dp)
{
        char err[512] = "";

        if (dataplane__start(dp, &o->dp, err, sizeof(err))) {
                cli__error("%s", err);
                return EXIT_RUNTIME;
        }
        fprintf(stderr, "mqttlb null-forward: %u worker(s) on", o->dp.nworkers);
        for (uint32_t i = 0; i < o->dp.nifs; i++)
                fprintf(stderr, " %s (%s XDP)", o->dp.ifnames[i],
                        dataplane__xdp_native(*dp, i) ? "native" : "generic");
        fprintf(stderr, ", %s AF_XDP, UMEM on %s pages\n",
                dataplane__zerocopy(*dp) ? "zero-copy" : "copy-mode",
                dataplane__huge_pages(*dp) ? "huge" : "4 KiB");
        return 0;
}

/* Until SIGINT/SIGTERM or the end of the duration (0: none); the seconds it waited. */
static double wait_stop(double duration)
{
        double start = now_s();

        for (;;) {
                double left = duration > 0 ? start + duration - now_s() : 1.0;
                int sig;

                if (left <= 0)
                        break;
                sig = cli__wait_signal(left < 1.0 ? (long)(left * 1000) + 1 : 1000);
                if (sig && sig != SIGHUP) /* nothing to reload here */
                        break;
        }
        return now_s() - start;
}

/* Stops and frees everything, prints the counters; EXIT_RUNTIME when a frame leaked. */
static int finish(struct dataplane *dp, struct control *ctl, const struct opts *o, double secs)
{
        struct dataplane_ledger l;

        dataplane__stop(dp);
        dataplane__ledger(dp, &l);
        if (o->json)
                print_json(dp, o, &l, secs);
        print_text(dp, o, &l, secs);
        dataplane__free(dp);
        control__stop(ctl);
        if (l.sum != l.total) {
                cli__error("frame ledger: %lld frame(s) unaccounted for",
                           (long long)(l.total - l.sum));
                return EXIT_RUNTIME;
        }
        return 0;
}

/* mqttlb null-forward: parse, start, wait for the end, print and check the ledger. */
int cmd_null_forward(int argc, char **argv)
{
        static struct opts o; /* large: keep it off the stack */
        struct control *ctl = NULL;
        struct dataplane *dp;
        int r;

        memset(&o, 0, sizeof(o));
        r = parse_args(argc, argv, &o);
        if (r)
                return r < 0 ? 0 : r;
        r = setup_datapath(&o);
        if (r)
                return r;
        cli__block_signals();
        r = start_control(&o, &ctl);
        if (r)
                return r;
        r = start_datapath(&o, &dp);
        if (r) {
                control__stop(ctl);
                return r;
        }
        return finish(dp, ctl, &o, wait_stop(o.duration));
}
