/*
 * The plan `mqttlb run` publishes, kept in step with the broker health
 * checks and with SIGHUP reloads. Everything that publishes a plan runs on
 * the control thread (lb__set_plan wants one writer): the checker's ring is
 * watched by the control loop, and a reload is handed to it with
 * control__call. A published plan is built from the running configuration,
 * with the brokers the checks say are down taken out of their pools and the
 * self-answered CONNACK promising no more than every up broker keeps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli/run.h"
#include "core/util/log.h"
#include "mqtt/caps.h"

/* The distinct brokers of c (by name) its pools check, as health targets.
 * A pool with health: none has none (its brokers are always up); a broker
 * listed in several pools is checked as the first of them says. */
static int targets_of(const struct config *c, struct health_target **out, uint32_t *n)
{
        uint32_t cap = 0, k = 0;
        struct health_target *t;

        for (uint32_t i = 0; i < c->npools; i++)
                cap += c->pools[i].nbrokers;
        t = calloc(cap ? cap : 1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        for (uint32_t i = 0; i < c->npools; i++)
                for (uint32_t b = 0; b < c->pools[i].nbrokers; b++) {
                        const struct config_pool *cp = &c->pools[i];
                        const struct config_broker *cb = &cp->brokers[b];
                        uint32_t j = 0;

                        while (j < k && strcmp(t[j].name, cb->name))
                                j++;
                        if (j < k || cp->health == CONFIG_HEALTH_NONE)
                                continue;
                        t[k].addr = cb->addr;
                        t[k].port = cb->port;
                        snprintf(t[k].name, sizeof(t[k].name), "%s", cb->name);
                        t[k].kind =
                            cp->health == CONFIG_HEALTH_TCP ? HEALTH_CHECK_TCP : HEALTH_CHECK_MQTT;
                        t[k].tls = cp->tls;
                        t[k].server_name = cp->tls_opts.server_name;
                        t[k].cert_file = cp->tls_opts.cert;
                        t[k].key_file = cp->tls_opts.key;
                        t[k].ca_file = cp->tls_opts.ca;
                        k++;
                }
        *out = t;
        *n = k;
        return 0;
}

static int target_of(const struct run *r, const char *name)
{
        for (uint32_t i = 0; i < r->ntargets; i++)
                if (!strcmp(r->targets[i].name, name))
                        return (int)i;
        return -1;
}

/* Whether broker name is out of its pool for an ICMP unreachable it sent
 * (udp pools) less than connections.udp_down_hold ago. */
static bool udp_down(const struct run *r, const char *name)
{
        uint64_t at = lb__udp_down_ns(r->lb, name);
        struct timespec ts;

        if (!at)
                return false;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - at <
               (uint64_t)r->cur->connections.udp_down_hold_ms * 1000000u;
}

/* What a plan would depend on: which targets are down, which UDP backends
 * are out for an ICMP unreachable, and the caps. */
static uint64_t digest(const struct run *r, const struct mqtt_caps *caps)
{
        XXH64_state_t *s = XXH64_createState();
        uint64_t d;

        XXH64_reset(s, 0);
        for (uint32_t i = 0; i < r->ntargets; i++) {
                uint8_t up = health__up(r->health, i);

                XXH64_update(s, &up, 1);
        }
        for (uint32_t i = 0; i < r->cur->npools; i++)
                for (uint32_t b = 0; r->cur->pools[i].udp && b < r->cur->pools[i].nbrokers; b++) {
                        uint8_t down = udp_down(r, r->cur->pools[i].brokers[b].name);

                        XXH64_update(s, &down, 1);
                }
        XXH64_update(s, caps, sizeof(*caps));
        d = XXH64_digest(s);
        XXH64_freeState(s);
        return d;
}

/* The capabilities every up broker keeps (a broker not checked yet over
 * MQTT 5, or one that speaks 3.1.1 only, keeps none: no alias). */
static void up_caps(const struct run *r, struct mqtt_caps *out)
{
        bool first = true;

        memset(out, 0, sizeof(*out)); /* no up broker: no property */
        for (uint32_t i = 0; i < r->ntargets; i++) {
                struct mqtt_caps k = {0};

                if (!health__up(r->health, i))
                        continue;
                health__caps(r->health, i, &k);
                if (first)
                        *out = k;
                else
                        mqtt_caps__meet(out, &k);
                first = false;
        }
}

/* Builds and publishes the plan of r->cur as health sees the brokers now;
 * with force false, only when that changed since the last one. */
static int publish(struct run *r, bool force, char *err, size_t errlen)
{
        struct mqtt_caps caps;
        struct plan *p;
        uint64_t d;
        int e;

        up_caps(r, &caps);
        d = digest(r, &caps);
        if (!force && d == r->published)
                return 0;
        if ((e = plan__build(r->cur, &p, err, errlen)))
                return e;
        for (uint32_t i = 0; i < p->npools; i++)
                for (uint32_t b = 0; b < p->pools[i].nbrokers; b++) {
                        int t = target_of(r, p->pools[i].brokers[b].name);

                        if ((t >= 0 && !health__up(r->health, (uint32_t)t)) ||
                            udp_down(r, p->pools[i].brokers[b].name))
                                pool__set_up(p->pools[i].pool, b, false);
                }
        plan__set_connack_caps(p, &caps);
        if ((e = lb__set_plan(r->lb, p))) {
                snprintf(err, errlen, "more than %d distinct brokers since the start",
                         PLAN_BROKERS_MAX);
                return e;
        }
        /* what `mqttlb stats` says of each broker (read by other threads);
         * p is the current plan now, with its gids: only this thread publishes */
        for (uint32_t g = 0; g < PLAN_BROKERS_MAX; g++)
                atomic_store_explicit(&r->gid_health[g], STATS_HEALTH_UNKNOWN,
                                      memory_order_relaxed);
        for (uint32_t i = 0; i < p->npools; i++)
                for (uint32_t b = 0; b < p->pools[i].nbrokers; b++) {
                        int t = target_of(r, p->pools[i].brokers[b].name);

                        atomic_store_explicit(
                            &r->gid_health[p->pools[i].brokers[b].gid],
                            udp_down(r, p->pools[i].brokers[b].name) ? STATS_HEALTH_DOWN
                            : t < 0                                  ? STATS_HEALTH_UNKNOWN
                            : health__up(r->health, (uint32_t)t)     ? STATS_HEALTH_UP
                                                                     : STATS_HEALTH_DOWN,
                            memory_order_relaxed);
                }
        r->published = d;
        return 0;
}

static void on_change(void *ctx, uint32_t idx, bool up, const char *reason)
{
        struct run *r = ctx;

        if (up)
                log__info("broker_up", "broker %s up: %s", r->targets[idx].name, reason);
        else
                log__warn("broker_down", "broker %s down: %s", r->targets[idx].name, reason);
}

/* The control loop saw the checker's ring readable. */
static void on_health(void *ctx)
{
        struct run *r = ctx;
        char err[256];

        health__run(r->health);
        if (publish(r, false, err, sizeof(err)))
                log__error("plan", "cannot publish a new plan: %s", err);
}

static int new_checker(struct run *r, const struct config *c, struct health **out,
                       struct health_target **t, uint32_t *n, char *err, size_t errlen)
{
        int e = targets_of(c, t, n);

        if (e) {
                snprintf(err, errlen, "health checks: %s", strerror(-e));
                return e;
        }
        e = health__new(out,
                        &(struct health_cfg){.interval_ms = c->health.interval_ms,
                                             .timeout_ms = c->health.timeout_ms,
                                             .rise = c->health.rise,
                                             .fall = c->health.fall},
                        *t, *n, on_change, r, err, errlen);
        if (e)
                free(*t);
        return e;
}

/* Four times a second: a UDP backend that answered ICMP unreachable leaves
 * its pool (and comes back after udp_down_hold): a new plan when that
 * changed what the last one said. */
static void on_udp_tick(void *ctx)
{
        struct run *r = ctx;
        uint64_t ticks;
        char err[256];

        if (read(r->udp_timer, &ticks, sizeof(ticks)) < 0)
                return;
        if (publish(r, false, err, sizeof(err)))
                log__error("plan", "cannot publish a new plan: %s", err);
}

/* The UDP backends' tick, when a udp listener is configured. */
static int start_udp_tick(struct run *r, char *err, size_t errlen)
{
        struct itimerspec its = {.it_interval = {0, 250000000}, .it_value = {0, 250000000}};
        bool udp = false;

        r->udp_timer = r->udp_slot = -1;
        for (uint32_t i = 0; i < r->cur->nlisteners; i++)
                udp |= r->cur->listeners[i].proto == CONFIG_PROTO_UDP ||
                       r->cur->listeners[i].proto == CONFIG_PROTO_MQTTSN;
        if (!udp)
                return 0;
        r->udp_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (r->udp_timer < 0 || timerfd_settime(r->udp_timer, 0, &its, NULL)) {
                snprintf(err, errlen, "timerfd: %s", strerror(errno));
                return -errno;
        }
        r->udp_slot = control__watch(r->ctl, r->udp_timer, on_udp_tick, r);
        return r->udp_slot < 0 ? r->udp_slot : 0;
}

struct start_req {
        struct run *r;
        char *err;
        size_t errlen;
        int rc;
};

static void start_on_control(void *ctx)
{
        struct start_req *q = ctx;
        struct run *r = q->r;

        q->rc = new_checker(r, r->cur, &r->health, &r->targets, &r->ntargets, q->err, q->errlen);
        if (q->rc)
                return;
        r->health_slot = control__watch(r->ctl, health__fd(r->health), on_health, r);
        q->rc = r->health_slot < 0 ? r->health_slot : start_udp_tick(r, q->err, q->errlen);
        if (!q->rc)
                q->rc = publish(r, true, q->err, q->errlen);
        if (!q->rc)
                health__run(r->health); /* the first checks go out now */
}

int run_plan__start(struct run *r, char *err, size_t errlen)
{
        struct start_req q = {.r = r, .err = err, .errlen = errlen};

        for (uint32_t g = 0; g < PLAN_BROKERS_MAX; g++)
                atomic_init(&r->gid_health[g], STATS_HEALTH_UNKNOWN);
        control__call(r->ctl, start_on_control, &q);
        return q.rc;
}

static void stop_on_control(void *ctx)
{
        struct run *r = ctx;

        if (r->health_slot >= 0 && r->health)
                control__rewatch(r->ctl, r->health_slot, -1);
        if (r->udp_slot >= 0)
                control__rewatch(r->ctl, r->udp_slot, -1);
        if (r->udp_timer >= 0)
                close(r->udp_timer);
        r->udp_timer = r->udp_slot = -1;
        health__free(r->health);
        r->health = NULL;
        free(r->targets);
        r->targets = NULL;
        r->ntargets = 0;
}

void run_plan__stop(struct run *r)
{
        if (r->ctl)
                control__call(r->ctl, stop_on_control, r);
}

/* What a reload cannot change (sockets, XDP maps, threads are set up at
 * start): the first such section that differs, or NULL. */
static const char *fixed_change(const struct config *a, const struct config *b)
{
        if (a->ninterfaces != b->ninterfaces)
                return "interfaces";
        for (uint32_t i = 0; i < a->ninterfaces; i++)
                if (strcmp(a->interfaces[i], b->interfaces[i]))
                        return "interfaces";
        if (a->nlisteners != b->nlisteners)
                return "listeners";
        for (uint32_t i = 0; i < a->nlisteners; i++)
                if (!ip_addr__equal(&a->listeners[i].addr, &b->listeners[i].addr) ||
                    a->listeners[i].port != b->listeners[i].port ||
                    a->listeners[i].proto != b->listeners[i].proto)
                        return "listeners";
        if (a->nsources != b->nsources)
                return "source_addresses";
        for (uint32_t i = 0; i < a->nsources; i++)
                if (!ip_addr__equal(&a->sources[i].addr, &b->sources[i].addr) ||
                    a->sources[i].port_lo != b->sources[i].port_lo ||
                    a->sources[i].port_hi != b->sources[i].port_hi)
                        return "source_addresses";
        if (a->workers != b->workers || memcmp(a->cores, b->cores, sizeof(a->cores)))
                return "workers/cores";
        if (memcmp(&a->xsk, &b->xsk, sizeof(a->xsk)))
                return "xsk";
        if (a->connections.max_connections != b->connections.max_connections)
                return "connections.max_connections";
        if (strcmp(a->admin.socket ? a->admin.socket : "",
                   b->admin.socket ? b->admin.socket : "") ||
            strcmp(a->admin.metrics ? a->admin.metrics : "",
                   b->admin.metrics ? b->admin.metrics : ""))
                return "admin";
        return NULL;
}

struct reload_req {
        struct run *r;
        struct config *nc;
        char err[CONFIG_ERR_MAX];
        int rc;
};

static void reload_on_control(void *ctx)
{
        struct reload_req *q = ctx;
        struct run *r = q->r;
        struct health *h, *old_h = r->health;
        struct health_target *t, *old_t = r->targets;
        struct config *old_c = r->cur;
        struct ip_addr *hops;
        uint32_t n, old_n = r->ntargets;

        q->rc = new_checker(r, q->nc, &h, &t, &n, q->err, sizeof(q->err));
        if (q->rc)
                return;
        /* a broker kept keeps its state: no flap up and down again */
        for (uint32_t i = 0; i < n; i++)
                for (uint32_t j = 0; j < old_n; j++)
                        if (!strcmp(t[i].name, old_t[j].name))
                                health__set_up(h, i, health__up(old_h, j));
        r->health = h;
        r->targets = t;
        r->ntargets = n;
        r->cur = q->nc;
        q->rc = publish(r, true, q->err, sizeof(q->err));
        if (q->rc) { /* back to what ran */
                r->health = old_h;
                r->targets = old_t;
                r->ntargets = old_n;
                r->cur = old_c;
                health__free(h);
                free(t);
                return;
        }
        control__rewatch(r->ctl, r->health_slot, health__fd(h));
        health__free(old_h);
        free(old_t);
        if (old_c != r->cfg)
                config__free(old_c);
        q->nc = NULL; /* taken */
        hops = calloc(n ? n : 1, sizeof(*hops));
        if (hops) {
                for (uint32_t i = 0; i < n; i++)
                        hops[i] = t[i].addr;
                control__set_nexthops(r->ctl, hops, n);
                free(hops);
        }
        health__run(h);
}

int run_plan__reload(struct run *r)
{
        struct reload_req q = {.r = r};
        const char *what;
        int e;

        e = config__load(r->path, &q.nc, q.err, sizeof(q.err));
        if (e) {
                log__error("reload", "reload refused: %s (the running configuration stays)", q.err);
                return -1;
        }
        if ((what = fixed_change(r->cfg, q.nc))) {
                log__error("reload",
                           "reload refused: %s: %s changed: that needs a restart (the running "
                           "configuration stays)",
                           r->path, what);
                config__free(q.nc);
                return -1;
        }
        control__call(r->ctl, reload_on_control, &q);
        if (q.rc) {
                log__error("reload", "reload refused: %s: %s (the running configuration stays)",
                           r->path, q.err);
                config__free(q.nc);
                return -1;
        }
        if (r->dp && (e = dataplane__set_syn_limit(r->dp, r->cur->connections.syn_rate,
                                                   r->cur->connections.syn_burst)))
                log__error("reload", "reload: connections.syn_rate not applied: %s (the rest is)",
                           strerror(-e));
        if (r->dp && (e = dataplane__set_client_limit(r->dp, r->cur->connections.per_source_rate,
                                                      r->cur->connections.per_source_burst,
                                                      r->cur->connections.per_source_prefix6)))
                log__error("reload",
                           "reload: connections.per_source_rate not applied: %s (the rest is)",
                           strerror(-e));
        atomic_fetch_add(&r->stats.reloads, 1);
        log__info("reload", "reloaded %s: %u pool(s), %u broker(s), %u route(s)", r->path,
                  r->cur->npools, r->ntargets, r->cur->nroutes);
        return 0;
}
