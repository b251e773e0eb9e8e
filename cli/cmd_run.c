/*
 * mqttlb run -c FILE: the balancer in the foreground. The configuration
 * becomes a plan; the datapath runs the balancer's handler on every worker;
 * the control thread keeps the brokers' next hops resolved and the plan in
 * step with the health checks (run_plan.c); the counters are served on the
 * admin socket and /metrics (run_admin.c). SIGHUP reloads FILE. SIGTERM or
 * SIGINT drains: new connections are refused, open ones get up to the drain
 * timeout to end, then the rest are reset on both legs; the learned bindings
 * are saved, the counters printed, the frame ledger checked. A second signal
 * ends the drain at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <signal.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "core/util/log.h"
#include "core/config/plan.h"
#include "core/datapath/rss.h"
#include "core/util/clock.h"

static const char USAGE[] =
    "usage: mqttlb run -c FILE [-d SECONDS] [--drain-timeout S] [--log-format text|json] [--json]\n"
    "\n"
    "Runs the balancer on the interfaces of FILE until SIGINT or SIGTERM (then drains).\n"
    "SIGHUP reloads FILE: pools, brokers, routes and weights for new connections.\n"
    "  -c, --config FILE       the configuration (docs/config.md)\n"
    "  -d, --duration S        stop by itself after S seconds (tests; no drain)\n"
    "      --drain-timeout S   on SIGTERM/SIGINT, how long open connections may take to\n"
    "                          end before they are reset (default 10; 0: reset at once)\n"
    "      --log-format F      text (default) or json: one JSON object per log line\n"
    "      --json              the counters at exit as one JSON object on stdout\n"
    "  -h, --help              this text\n";

struct run_args {
        const char *path;
        double duration, drain;
        bool json;
};

/* The brokers' next hops, from the control thread's table: out of the port
 * whose interface the kernel's route uses. */
static int nexthop(void *ctx, const struct ip_addr *dst, struct lb_nexthop *out)
{
        const struct run *r = ctx;
        const struct nh_entry *e = nh_table__lookup(control__nexthops(r->ctl), dst);

        if (!e || e->state == NH_INCOMPLETE)
                return -EAGAIN;
        if (e->state != NH_RESOLVED)
                return -EHOSTUNREACH;
        for (uint32_t i = 0; i < r->cfg->ninterfaces; i++)
                if (r->ifindex[i] == e->ifindex) {
                        out->port = (uint16_t)i;
                        memcpy(out->src_mac, e->src_mac, 6);
                        memcpy(out->dst_mac, e->dst_mac, 6);
                        return 0;
                }
        return -EHOSTUNREACH; /* routed through an interface we do not own */
}

static int parse_args(int argc, char **argv, struct run_args *a)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"duration", required_argument, NULL, 'd'},
            {"drain-timeout", required_argument, NULL, 'D'},
            {"log-format", required_argument, NULL, 'l'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        enum log_format lf;
        char *end;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c': a->path = optarg; break;
                case 'd': a->duration = atof(optarg); break;
                case 'D':
                        a->drain = strtod(optarg, &end);
                        if (end == optarg || *end || a->drain < 0 || a->drain > 86400) {
                                cli__error("run: --drain-timeout: '%s' is not a number of seconds "
                                           "from 0 to 86400",
                                           optarg);
                                return EXIT_USER;
                        }
                        break;
                case 'l':
                        if (log__parse_format(optarg, &lf)) {
                                cli__error("run: --log-format: '%s': expected text or json",
                                           optarg);
                                return EXIT_USER;
                        }
                        log__set_format(lf);
                        break;
                case 'j': a->json = true; break;
                case 'h': fputs(USAGE, stdout); return -1;
                default: fputs(USAGE, stderr); return EXIT_USER;
                }
        }
        if (optind < argc) {
                cli__error("run: unexpected argument '%s'", argv[optind]);
                return EXIT_USER;
        }
        if (!a->path) {
                cli__error("run: -c FILE is required");
                return EXIT_USER;
        }
        return 0;
}

static void fill_datapath(struct run *r, struct dataplane_cfg *dc)
{
        const struct config *c = r->cfg;

        memset(dc, 0, sizeof(*dc));
        for (uint32_t i = 0; i < c->ninterfaces; i++) {
                dc->ifnames[i] = c->interfaces[i];
                r->ifindex[i] = (int)if_nametoindex(c->interfaces[i]);
        }
        dc->nifs = c->ninterfaces;
        dc->nworkers = c->workers;
        dc->pin = c->cores[0] >= 0;
        for (uint32_t w = 0; w < c->workers; w++)
                dc->cores[w] = c->cores[w];
        dc->xsk_mode = c->xsk.mode == CONFIG_XSK_ZEROCOPY ? XSK_MODE_ZEROCOPY
                       : c->xsk.mode == CONFIG_XSK_COPY   ? XSK_MODE_COPY
                                                          : XSK_MODE_AUTO;
        dc->xdp_mode = c->xsk.xdp == CONFIG_XDP_NATIVE    ? REDIRECTOR_NATIVE
                       : c->xsk.xdp == CONFIG_XDP_GENERIC ? REDIRECTOR_GENERIC
                                                          : REDIRECTOR_AUTO;
        dc->ring_size = c->xsk.ring_size;
        dc->frames = c->xsk.frames;
        dc->syn_rate = c->connections.syn_rate;
        dc->syn_burst = c->connections.syn_burst;
        dc->per_source_rate = c->connections.per_source_rate;
        dc->per_source_burst = c->connections.per_source_burst;
        dc->per_source_prefix6 = c->connections.per_source_prefix6;
        dc->busy_poll_us = c->xsk.busy_poll_us;
        dc->huge_pages = c->xsk.huge_pages;
        for (uint32_t i = 0; i < c->nlisteners && i < LB_LISTENERS_MAX; i++) {
                struct lb_listener_key *k = &r->listeners[i];

                k->family = c->listeners[i].addr.family;
                k->proto = c->listeners[i].proto == CONFIG_PROTO_UDP ||
                                   c->listeners[i].proto == CONFIG_PROTO_MQTTSN
                               ? IPPROTO_UDP
                               : IPPROTO_TCP;
                k->port = htons(c->listeners[i].port);
                memcpy(k->addr, c->listeners[i].addr.addr, 16);
                dc->ipv6 |= k->family == 6;
        }
        dc->listeners = r->listeners;
        dc->nlisteners = c->nlisteners;
        for (uint32_t i = 0; i < c->nsources && i < WORKER_SOURCES_MAX; i++) {
                struct dataplane_source *s = &r->sources[i];

                s->key.family = c->sources[i].addr.family;
                memcpy(s->key.addr, c->sources[i].addr.addr, 16);
                s->port_lo = c->sources[i].port_lo;
                s->port_hi = c->sources[i].port_hi;
                dc->ipv6 |= s->key.family == 6;
        }
        dc->sources = r->sources;
        dc->nsources = c->nsources;
        dc->ops = &lb_ops;
        for (uint32_t w = 0; w < c->workers; w++)
                dc->ctx[w] = r->lw[w];
}

static int start_control(struct run *r, char *err, size_t errlen)
{
        const struct plan *p = lb__plan(r->lb);
        struct ip_addr *hops = calloc(p->nbrokers ? p->nbrokers : 1, sizeof(*hops));
        struct control_cfg cc = {.nexthops = hops};
        int e;

        if (!hops)
                return -ENOMEM;
        for (uint32_t i = 0; i < p->npools; i++)
                for (uint32_t b = 0; b < p->pools[i].nbrokers; b++)
                        hops[cc.nnexthops++] = p->pools[i].brokers[b].addr;
        e = control__start(&r->ctl, &cc, err, errlen);
        free(hops);
        return e;
}

static void print_counters(struct run *r, bool json)
{
        struct lb_stats sum = {0}, s;
        uint64_t *sv = (uint64_t *)&sum;
        const uint64_t *v = (const uint64_t *)&s;
        char line[2048];

        for (uint32_t w = 0; w < r->cfg->workers; w++) {
                lb_worker__stats(r->lw[w], &s);
                for (size_t k = 0; k < sizeof(s) / sizeof(uint64_t); k++)
                        sv[k] += v[k];
        }
        if (json) {
                printf("{");
                for (size_t k = 0; k < LB_NSTATS; k++)
                        printf("%s\"%s\":%llu", k ? "," : "", lb_stat_names[k],
                               (unsigned long long)sv[k]);
                printf("}\n");
                fflush(stdout);
        }
        lb_stats__nonzero(&sum, line, sizeof(line));
        log__info("counters", "counters:%s", line);
}

static void teardown(struct run *r)
{
        run_admin__stop(r);
        run_plan__stop(r);
        for (uint32_t w = 0; w < WORKER_MAX; w++)
                lb_worker__free(r->lw[w]);
        dataplane__free(r->dp);
        control__stop(r->ctl);
        lb__free(r->lb);
        rss__free(r->rss);
        if (r->cur != r->cfg)
                config__free(r->cur);
        config__free(r->cfg);
}

/* Warns when a source range overlaps the kernel's ephemeral ports: the XDP
 * program would take replies meant for the kernel's own connections from
 * that address (the health checks among them). */
static void check_port_ranges(const struct config *c)
{
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
        unsigned lo, hi;

        if (!f)
                return;
        if (fscanf(f, "%u %u", &lo, &hi) == 2)
                for (uint32_t i = 0; i < c->nsources; i++)
                        if (c->sources[i].port_lo <= hi && c->sources[i].port_hi >= lo)
                                log__warn("ports",
                                          "source_addresses[%u]: ports %u-%u overlap the kernel's "
                                          "ephemeral range %u-%u: the kernel's own connections "
                                          "from that address (health checks) may fail",
                                          i, c->sources[i].port_lo, c->sources[i].port_hi, lo, hi);
        fclose(f);
}

static double mono_s(void)
{
        return (double)clock__mono_ns() / 1e9;
}

/* Whole seconds since start (monotonic). */
static double since(double start)
{
        return mono_s() - start;
}

/* Until SIGINT/SIGTERM (or the -d duration); SIGHUP reloads on the way.
 * Returns true when a signal asked to stop (drain), false at the duration. */
static bool wait_stop(struct run *r, double duration)
{
        double start = mono_s();

        for (;;) {
                double left = duration > 0 ? duration - since(start) : 1.0;
                int sig;

                if (left <= 0)
                        return false;
                sig = cli__wait_signal(left < 1.0 ? (long)(left * 1000) + 1 : 1000);
                if (sig == SIGHUP)
                        run_plan__reload(r);
                else if (sig)
                        return true;
        }
}

/* Refuses new connections and waits up to drain seconds for the open ones
 * to end (a second SIGINT/SIGTERM cuts it short). */
static void drain(struct run *r, double drain)
{
        double start = mono_s(), next_log = 0;
        uint64_t open = 0;

        lb__drain(r->lb);
        for (;;) {
                open = 0;
                for (uint32_t w = 0; w < r->cfg->workers; w++)
                        open += lb_worker__active(r->lw[w]);
                if (!open || since(start) >= drain)
                        break;
                if (since(start) >= next_log) {
                        log__info("drain", "draining: %llu connection(s) open, %.0f s left",
                                  (unsigned long long)open, drain - since(start));
                        next_log += 5;
                }
                int sig = cli__wait_signal(100);

                if (sig && sig != SIGHUP)
                        break;
        }
        log__info("drain", "drained in %.1f s: %llu connection(s) left to reset", since(start),
                  (unsigned long long)open);
}

int cmd_run(int argc, char **argv)
{
        static struct run r;
        struct run_args a = {.drain = 10};
        struct dataplane_cfg dc;
        struct dataplane_ledger l;
        struct plan *plan;
        char err[CONFIG_ERR_MAX] = "";
        int e, rc = 0;

        memset(&r, 0, sizeof(r));
        r.health_slot = -1;
        e = parse_args(argc, argv, &a);
        if (e)
                return e < 0 ? 0 : e;
        r.path = a.path;
        e = config__load(a.path, &r.cfg, err, sizeof(err));
        if (e) {
                cli__error("%s", err);
                return e == -ENOMEM ? EXIT_RUNTIME : EXIT_USER;
        }
        r.cur = r.cfg;
        if (plan__build(r.cfg, &plan, err, sizeof(err))) {
                cli__error("%s", err);
                teardown(&r);
                return EXIT_RUNTIME;
        }
        e = lb__new(&r.lb, &(struct lb_cfg){.plan = plan,
                                            .nworkers = r.cfg->workers,
                                            .nexthop = nexthop,
                                            .nexthop_ctx = &r});
        if (e) {
                cli__error("cannot start the balancer: %s", strerror(-e));
                teardown(&r);
                return EXIT_RUNTIME;
        }
        if (r.cfg->connections.state_file) {
                e = lb__load_bindings(r.lb, r.cfg->connections.state_file);
                if (e && e != -ENOENT)
                        log__warn("state", "%s: cannot read learned bindings: %s",
                                  r.cfg->connections.state_file, strerror(-e));
        }
        check_port_ranges(r.cfg);
        /* RSS on the broker side (the last interface): return traffic steered
         * to the worker that opened the leg, where the NIC says how */
        if (rss__read(r.cfg->interfaces[r.cfg->ninterfaces - 1], &r.rss, err, sizeof(err)))
                r.rss = NULL;
        for (uint32_t w = 0; w < r.cfg->workers; w++)
                if ((e = lb_worker__new(&r.lw[w], r.lb, w, r.rss, w))) {
                        cli__error("worker %u: %s", w, strerror(-e));
                        teardown(&r);
                        return EXIT_RUNTIME;
                }
        cli__block_signals();
        if ((e = start_control(&r, err, sizeof(err))) ||
            (e = run_plan__start(&r, err, sizeof(err)))) {
                cli__error("%s", err);
                teardown(&r);
                return EXIT_RUNTIME;
        }
        fill_datapath(&r, &dc);
        if ((e = dataplane__start(&r.dp, &dc, err, sizeof(err)))) {
                cli__error("%s", err);
                teardown(&r);
                return EXIT_RUNTIME;
        }
        if ((e = run_admin__start(&r, err, sizeof(err)))) {
                cli__error("%s", err);
                teardown(&r);
                return EXIT_RUNTIME;
        }
        log__info("start", "running %s: %u worker(s), %u pool(s), %s AF_XDP%s", a.path,
                  r.cfg->workers, lb__plan(r.lb)->npools,
                  dataplane__zerocopy(r.dp) ? "zero-copy" : "copy-mode",
                  r.rss ? ", RSS-steered broker ports" : "");
        if (wait_stop(&r, a.duration) && a.drain > 0)
                drain(&r, a.drain);
        dataplane__stop(r.dp);
        for (uint32_t w = 0; w < r.cfg->workers; w++) {
                struct worker *wk = dataplane__worker(r.dp, w);

                lb_worker__close_all(r.lw[w], wk);
                worker__flush(wk);
                if (lb_worker__connections(r.lw[w])) {
                        log__error("leak", "worker %u: %u connection(s) not freed", w,
                                   lb_worker__connections(r.lw[w]));
                        rc = EXIT_RUNTIME;
                }
        }
        dataplane__wait_tx(r.dp);
        print_counters(&r, a.json);
        if (r.cur->connections.state_file &&
            (e = lb__save_bindings(r.lb, r.cur->connections.state_file)))
                log__warn("state", "%s: cannot save learned bindings: %s",
                          r.cur->connections.state_file, strerror(-e));
        dataplane__ledger(r.dp, &l);
        if (l.sum != l.total) {
                log__error("leak", "frame ledger: %lld frame(s) unaccounted for",
                           (long long)(l.total - l.sum));
                rc = EXIT_RUNTIME;
        }
        log__info("stop", "stopped");
        teardown(&r);
        return rc;
}
