/*
 * The balancer's handler (lb.h): per segment, the flow lookup and the
 * dispatch to the client leg, the broker leg or the splice; per round, the
 * timers; per connection, its end (report, counters, memory back).
 */
#include "core/lb/lb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <urcu-qsbr.h>
#include <xxhash.h>

#include "core/route/learned.h"
#include "core/lb/lb_conn.h"

#define LB_COOKIE_PERIOD_NS (64ull * 1000000000ull) /* a key per syncookie slot length */

#define LB_NAME_(name, doc) #name,
#define LB_DOC_(name, doc)  doc,
const char *const lb_stat_names[] = {LB_STATS(LB_NAME_)};
const char *const lb_stat_docs[] = {LB_STATS(LB_DOC_)};
#undef LB_NAME_
#undef LB_DOC_

size_t lb_stats__nonzero(const struct lb_stats *s, char *buf, size_t len)
{
        const uint64_t *v = (const uint64_t *)s;
        size_t n = 0;

        if (!len)
                return 0;
        buf[0] = '\0';
        for (size_t k = 0; k < LB_NSTATS && n < len - 1; k++) {
                int w;

                if (!v[k])
                        continue;
                w = snprintf(buf + n, len - n, " %s %llu", lb_stat_names[k],
                             (unsigned long long)v[k]);
                if (w < 0)
                        break;
                n = (size_t)w < len - n ? n + (size_t)w : len - 1;
        }
        return n;
}

uint64_t lb__udp_down_ns(const struct lb *lb, const char *name)
{
        for (uint32_t g = 0; g < lb->ngids; g++)
                if (!strcmp(lb->gid_name[g], name))
                        return __atomic_load_n(&lb->udp_down_ns[g], __ATOMIC_RELAXED);
        return 0;
}

const char *lb_bound_at__str(enum lb_bound_at b)
{
        static const char *const s[] = {"none",      "connect", "publish",
                                        "subscribe", "timeout", "client_hello"};

        return (unsigned)b < sizeof(s) / sizeof(s[0]) ? s[b] : "?";
}

const char *lb_verdict__str(enum lb_verdict v)
{
        static const char *const s[] = {"spliced",   "closed_by_client", "refused", "malformed",
                                        "no_broker", "timeout",          "open"};

        return (unsigned)v < sizeof(s) / sizeof(s[0]) ? s[v] : "?";
}

/* Gives p's brokers their stable gids (by name: a broker keeps its counters
 * across reloads) and points least-connections at the shared counts. */
static int adopt_plan(struct lb *lb, struct plan *p)
{
        for (uint32_t i = 0; i < p->npools; i++)
                for (uint32_t b = 0; b < p->pools[i].nbrokers; b++) {
                        struct plan_broker *pb = &p->pools[i].brokers[b];
                        uint32_t g = 0;

                        while (g < lb->ngids && strcmp(lb->gid_name[g], pb->name))
                                g++;
                        if (g == lb->ngids) {
                                if (g == PLAN_BROKERS_MAX)
                                        return -E2BIG;
                                snprintf(lb->gid_name[g], sizeof(lb->gid_name[g]), "%s", pb->name);
                                lb->ngids++;
                        }
                        pb->gid = g;
                        pool__broker(p->pools[i].pool, b)->active_ref = &lb->active[g];
                }
        p->nbrokers = lb->ngids;
        return 0;
}

int lb__new(struct lb **out, const struct lb_cfg *cfg)
{
        struct lb *lb = calloc(1, sizeof(*lb));
        int rc = -ENOMEM;

        *out = NULL;
        if (!lb)
                goto fail_plan;
        lb->learned = learned__new();
        if (!lb->learned)
                goto fail_lb;
        if (cfg->plan->per_source_max &&
            !(lb->source_counts = calloc(LB_SOURCE_BUCKETS, sizeof(*lb->source_counts))))
                goto fail_learned;
        rc = adopt_plan(lb, cfg->plan);
        if (rc)
                goto fail_counts;
        lb->plan = cfg->plan;
        lb->nworkers = cfg->nworkers ? cfg->nworkers : 1;
        lb->nexthop = cfg->nexthop;
        lb->nexthop_ctx = cfg->nexthop_ctx;
        lb->report = cfg->report;
        lb->report_ctx = cfg->report_ctx;
        lb->keep_topics = cfg->keep_topics;
        lb->seed = cfg->seed;
        lb->deterministic = cfg->seed != 0;
        if (lb->deterministic) {
                for (size_t i = 0; i < sizeof(lb->cookie_master); i++)
                        lb->cookie_master[i] = (uint8_t)((lb->seed >> (8 * (i % 8))) ^ (i * 131u));
        } else if (getrandom(&lb->seed, sizeof(lb->seed), 0) != sizeof(lb->seed) ||
                   getrandom(lb->cookie_master, sizeof(lb->cookie_master), 0) !=
                       sizeof(lb->cookie_master)) {
                rc = -EAGAIN; /* no entropy yet (early boot) */
                goto fail_counts;
        }
        *out = lb;
        return 0;

fail_counts:
        free(lb->source_counts);
fail_learned:
        learned__free(lb->learned);
fail_lb:
        free(lb);
fail_plan:
        plan__put(cfg->plan); /* taken over, on failure too (lb.h) */
        return rc;
}

void lb__free(struct lb *lb)
{
        if (!lb)
                return;
        plan__put(lb->plan);
        learned__free(lb->learned);
        free(lb->source_counts);
        free(lb);
}

const struct plan *lb__plan(const struct lb *lb)
{
        return rcu_dereference(lb->plan);
}

int lb__set_plan(struct lb *lb, struct plan *p)
{
        struct plan *old;

        if (adopt_plan(lb, p)) {
                plan__put(p);
                return -E2BIG;
        }
        if (p->per_source_max && !lb->source_counts) {
                /* made once, when a plan first limits sources, and published
                 * before the plan that reads it (workers see a NULL until
                 * then and count nothing) */
                uint32_t *counts = calloc(LB_SOURCE_BUCKETS, sizeof(*counts));

                if (!counts) {
                        plan__put(p);
                        return -ENOMEM;
                }
                __atomic_store_n(&lb->source_counts, counts, __ATOMIC_RELEASE);
        }
        old = rcu_xchg_pointer(&lb->plan, p);
        synchronize_rcu(); /* no worker still reads old as the current plan */
        plan__put(old);    /* freed now, or by its last connection */
        return 0;
}

void lb__drain(struct lb *lb)
{
        __atomic_store_n(&lb->draining, true, __ATOMIC_RELAXED);
}

uint64_t lb_worker__active(const struct lb_worker *lw)
{
        return __atomic_load_n(&lw->stats.conn_active, __ATOMIC_RELAXED);
}

void lb__set_connack_caps(struct lb *lb, const struct mqtt_caps *caps)
{
        plan__set_connack_caps(lb->plan, caps);
}

int lb__load_bindings(struct lb *lb, const char *path)
{
        return learned__load(lb->learned, path, NULL);
}

int lb__save_bindings(const struct lb *lb, const char *path)
{
        return learned__save(lb->learned, path);
}

int lb_worker__new(struct lb_worker **out, struct lb *lb, uint32_t id, const struct rss *rss,
                   uint32_t queue)
{
        const struct plan *plan = lb__plan(lb);
        struct lb_worker *lw = calloc(1, sizeof(*lw));
        int rc;

        *out = NULL;
        if (!lw)
                return -ENOMEM;
        lw->lb = lb;
        lw->id = id;
        lw->rss = rss;
        lw->queue = queue;
        rc = flow_table__new(&lw->flows, plan->max_connections ? plan->max_connections : 65536,
                             sizeof(struct conn), lb->seed ^ (0x9e3779b97f4a7c15ull * (id + 1)));
        if (!rc)
                rc = timer_wheel__init(&lw->wheel, TIMER_WHEEL_TICK_NS_DEFAULT, 0);
        if (!rc && buf_cache__init(&lw->bufs))
                rc = -ENOMEM;
        if (rc) {
                lb_worker__free(lw);
                return rc;
        }
        lw->cookie_period = UINT64_MAX;
        *out = lw;
        return 0;
}

uint32_t lb_worker__connections(const struct lb_worker *lw)
{
        return flow_table__count(lw->flows);
}

void lb_worker__free(struct lb_worker *lw)
{
        if (!lw)
                return;
        flow_table__free(lw->flows);
        buf_cache__fini(&lw->bufs);
        free(lw);
}

void lb_worker__stats(const struct lb_worker *lw, struct lb_stats *out)
{
        const uint64_t *src = (const uint64_t *)&lw->stats;
        uint64_t *dst = (uint64_t *)out;

        for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
                dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void lb_worker__broker_stats(const struct lb_worker *lw, struct lb_broker_stats *out, uint32_t n)
{
        for (uint32_t i = 0; i < n && i < PLAN_BROKERS_MAX; i++) {
                const uint64_t *src = (const uint64_t *)&lw->brokers[i];
                uint64_t *dst = (uint64_t *)&out[i];

                for (size_t k = 0; k < sizeof(out[i]) / sizeof(uint64_t); k++)
                        dst[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
        }
}

void conn__arm_rto(struct lb_worker *lw, struct conn *c)
{
        unsigned shift = c->rto_tries < 6 ? c->rto_tries : 6;

        timer__arm(&lw->wheel, &c->f.timer[CONN_T_RTO], lw->now_ns + (CONN_RTO_NS << shift),
                   CONN_T_RTO);
}

static void report(struct lb_worker *lw, const struct conn *c, enum lb_verdict v)
{
        const struct plan *plan = c->plan;
        const struct plan_broker *b = conn__broker(c, plan);
        struct lb_report r = {
            .family = c->f.client.family,
            .client_port = c->f.client.sport,
            .client_id = c->cid,
            .client_id_len = c->cid_len,
            .pool =
                c->pool >= 0 && (uint32_t)c->pool < plan->npools ? plan->pools[c->pool].name : NULL,
            .broker = b ? b->name : NULL,
            .bound_at = (enum lb_bound_at)c->bound_at,
            .verdict = v,
            .err = c->proto == PLAN_PROTO_MQTT ? (enum mqtt_err)c->err : MQTT_OK,
            .tls_err = c->proto == PLAN_PROTO_TLS ? (enum tls_hello_err)c->err : TLS_HELLO_OK,
            .sni = conn__hello(c) && conn__hello(c)->has_sni ? conn__hello(c)->sni : NULL,
            .refusal = c->refusal,
            .topics = c->topics,
            .ntopics = c->ntopics,
            .bytes_from_client = c->bytes_from_client,
            .publishes = c->publishes,
        };

        memcpy(r.client_addr, c->f.client.saddr, 16);
        if (c->brk.synack_rcvd) /* the broker leg was up */
                r.bytes_to_broker =
                    (uint32_t)(c->brk.t.snd_una - c->brk.t.iss - 1 - c->brk.prox) -
                    (c->fin_c2s && seq_lt(c->brk.replay_end, c->brk.t.snd_una) ? 1 : 0);
        lw->lb->report(lw->lb->report_ctx, &r);
}

void conn__end(struct lb_worker *lw, struct conn *c, enum lb_verdict v)
{
        if (v == LB_VERDICT_SPLICED && c->err && c->parse_dead && !c->bytes_from_client)
                v = LB_VERDICT_MALFORMED;
        if (v == LB_VERDICT_SPLICED && c->refusal)
                v = LB_VERDICT_REFUSED;
        switch (v) {
        case LB_VERDICT_CLOSED_BY_CLIENT: STAT(lw, closed_by_client); break;
        case LB_VERDICT_TIMEOUT: STAT(lw, timeouts); break;
        default: break;
        }
        conn__uncount(lw, c);
        if (lw->lb->report)
                report(lw, c, v);
        for (int i = 0; i < FLOW_TIMERS; i++)
                timer__cancel(&lw->wheel, &c->f.timer[i]);
        budget__release(lw, c);
        conn__setup_done(lw, c);
        conn__binder(c)->fini(c);
        conn__prefix_free(c);
        conn__buf_free(lw, c);
        free(c->cid);
        for (uint8_t i = 0; i < c->ntopics; i++)
                free((void *)c->topics[i].ptr);
        free(c->topics);
        plan__put(c->plan);
        flow__free(lw->flows, &c->f);
        STAT_DEC(lw, conn_active);
}

/* Retransmission: whatever of ours is not ACKed yet, on either leg. */
static void on_rto(struct lb_worker *lw, struct conn *c)
{
        const struct plan *plan = c->plan;
        uint32_t own_end = conn__own_fin_end(c);
        bool again = false;

        /* waiting for the connect window: no SYN yet, only its own bytes
         * to the client to send again */
        bool queued = c->setup == CONN_SETUP_QUEUED;

        if (c->f.state == CONN_CONNECTING && !queued) {
                if (c->syn_tries > plan->syn_retries) {
                        conn__failover(lw, c);
                        return;
                }
                if (c->brk.syn_sent)
                        STAT(lw, broker_syn_retries);
                conn__connect(lw, c); /* the SYN again (same port), or the next hop again */
                again = true;
        }
        /* SYNs to brokers count against syn_retries per broker, not here */
        if ((c->f.state != CONN_CONNECTING || queued) && ++c->rto_tries > CONN_RTO_MAX) {
                conn__rst_client(lw, c);
                conn__rst_broker(lw, c);
                conn__end(lw, c, LB_VERDICT_TIMEOUT);
                return;
        }
        if (seq_lt(c->cli.t.snd_una, own_end)) {
                STAT(lw, retransmits);
                conn__send_client(lw, c, c->cli.t.snd_una, c->cli.fin_sent);
                again = true;
        }
        if (c->f.state == CONN_SPLICED && c->buf &&
            seq_lt(c->brk.t.snd_una, c->brk.replay_end + (c->brk.replay_fin ? 1 : 0))) {
                conn__replay_again(lw, c);
                again = true;
        }
        if (again && (c->f.state != CONN_CONNECTING || queued))
                conn__arm_rto(lw, c);
        else if (!again)
                c->rto_tries = 0;
}

/* Bind timeout, the connect window's deadline, idle timeout, linger. */
static void on_life(struct lb_worker *lw, struct conn *c)
{
        const struct plan *plan = conn__rebase(lw, c);

        switch (c->f.state) {
        case CONN_OPEN: conn__binder(c)->timeout(lw, c); return;
        case CONN_CONNECTING: /* the connect window's deadline (lb_setup.c) */
                if (c->setup == CONN_SETUP_QUEUED)
                        conn__setup_expired(lw, c);
                return;
        case CONN_SPLICED:
                if (conn__fins_acked(c)) {
                        conn__end(lw, c, LB_VERDICT_SPLICED);
                        return;
                }
                if (lw->now_ns - c->last_ns >= plan->idle_timeout_ns) {
                        conn__rst_client(lw, c);
                        conn__rst_broker(lw, c);
                        conn__end(lw, c, LB_VERDICT_TIMEOUT);
                        return;
                }
                timer__arm(&lw->wheel, &c->f.timer[CONN_T_LIFE], c->last_ns + plan->idle_timeout_ns,
                           CONN_T_LIFE);
                return;
        case CONN_CLOSING:
                if (!(c->cli.fin_rcvd && c->cli.t.snd_una == conn__own_fin_end(c))) {
                        /* our FIN unanswered for close_timeout: whatever is
                         * left of the close is the client's to learn by RST */
                        STAT(lw, close_timeouts);
                        conn__rst_client(lw, c);
                }
                conn__end(lw, c, c->verdict);
                return;
        default: return;
        }
}

static void on_timer(void *ctx, struct timer *t, uint32_t cb_id, uint64_t now_ns)
{
        struct lb_worker *lw = ctx;
        struct conn *c = (struct conn *)flow__from_timer(t, cb_id);

        (void)now_ns;
        if (c->f.state == CONN_UDP)
                lb__udp_timer(lw, &c->f);
        else if (cb_id == CONN_T_RTO)
                on_rto(lw, c);
        else
                on_life(lw, c);
}

/* The SYN cookie key of a period: XXH3-128 of the master key and the period
 * number, 16 bytes at a time (every worker derives the same keys). */
static void cookie_key(const struct lb *lb, uint64_t period, uint8_t key[SYNCOOKIE_KEY_SIZE])
{
        for (size_t i = 0; i < SYNCOOKIE_KEY_SIZE; i += 16) {
                XXH128_hash_t h = XXH3_128bits_withSeed(lb->cookie_master,
                                                        sizeof(lb->cookie_master), period * 64 + i);

                memcpy(key + i, &h, 16);
        }
}

static void lb_tick(void *ctx, struct worker *w, uint64_t now_ns)
{
        struct lb_worker *lw = ctx;
        uint64_t period = now_ns / LB_COOKIE_PERIOD_NS;
        uint8_t key[SYNCOOKIE_KEY_SIZE];

        lw->w = w;
        lw->now_ns = now_ns;
        if (period != lw->cookie_period) {
                /* the previous key first, so that cookies of the last period still check */
                cookie_key(lw->lb, period - 1, key);
                syncookie_secret__rotate_to(&lw->secret, key);
                cookie_key(lw->lb, period, key);
                syncookie_secret__rotate_to(&lw->secret, key);
                lw->cookie_period = period;
        }
        timer_wheel__advance(&lw->wheel, now_ns, on_timer, lw);
        lb__setup_pump(lw);
        lb__buf_trim(lw, now_ns);
}

/* The one dispatch on a connection's state: which part of the balancer
 * reads a segment of which leg. */
enum worker_verdict conn__segment(struct lb_worker *lw, struct conn *c, enum flow_leg leg,
                                  struct worker_pkt *p)
{
        bool client = leg == FLOW_LEG_CLIENT;

        switch ((enum conn_state)c->f.state) {
        case CONN_SPLICED: return client ? lb__splice_c2s(lw, c, p) : lb__splice_s2c(lw, c, p);
        case CONN_CONNECTING:
                return client ? lb__client_segment(lw, c, p) : lb__broker_synack(lw, c, p);
        case CONN_OPEN:
        case CONN_CLOSING: /* no broker leg: it is made at CONNECTING, gone at CLOSING */
                return client ? lb__client_segment(lw, c, p) : WORKER_DROP;
        case CONN_UDP: return WORKER_DROP; /* a UDP flow's keys never match a TCP segment */
        }
        return WORKER_DROP;
}

static enum worker_verdict lb_handle(void *ctx, struct worker *w, struct worker_pkt *p)
{
        struct lb_worker *lw = ctx;
        const struct plan *plan;
        enum flow_leg leg;
        struct flow_key k;
        struct flow *f;
        uint8_t flags;

        lw->w = w;
        if (p->m.proto != IPPROTO_TCP_)
                return lb__udp(lw, p);
        flow_key__from_packet(&k, p->data, &p->m);
        f = flow_table__lookup(lw->flows, &k, &leg);
        if (f)
                return conn__segment(lw, (struct conn *)f, leg, p);
        plan = lb__plan(lw->lb);
        flags = p->data[p->m.l4 + 13];
        const struct plan_listener *l = plan__listener(plan, k.family, k.daddr, k.dport);

        if (l && l->proto != PLAN_PROTO_UDP) {
                if ((flags & (TCP_OUT_SYN | TCP_OUT_ACK | TCP_OUT_RST)) == TCP_OUT_SYN)
                        return lb__client_syn(lw, p, &k);
                if ((flags & (TCP_OUT_SYN | TCP_OUT_ACK | TCP_OUT_RST)) == TCP_OUT_ACK)
                        return lb__client_ack_new(lw, p, &k, l);
        }
        STAT(lw, stray);
        if (!(flags & TCP_OUT_RST) && plan__source(plan, k.family, k.daddr)) {
                /* a broker leg we no longer hold (closed, timed out, reset by
                 * a client): an RST at the segment's own ACK, as a closed
                 * port would (RFC 9293 3.10.7.1), so that the broker does
                 * not keep a half-open session */
                struct seg s;

                seg__read(p, &s);
                STAT(lw, stray_reset);
                return lb__reset_stray(lw, p, &k, &s);
        }
        return WORKER_DROP;
}

/* When the worker must run a round by itself, frames or not: the next
 * timer; now while the connect window has slots to hand out or the buffer
 * cache a trim to finish; the buffer cache's next trim while it holds any. */
static uint64_t lb_next_ns(void *ctx, struct worker *w)
{
        struct lb_worker *lw = ctx;
        uint64_t next = timer_wheel__next_ns(&lw->wheel);

        (void)w;
        for (uint32_t i = 0; i < PLAN_BROKERS_MAX / 64; i++)
                if (lw->setup_freed[i])
                        return 0;
        if (lw->bufs.surplus)
                return 0;
        if (lw->bufs.n && lw->bufs.next_trim_ns < next)
                next = lw->bufs.next_trim_ns;
        return next;
}

const struct worker_ops lb_ops = {.handle = lb_handle, .tick = lb_tick, .next_ns = lb_next_ns};

static int close_one(void *ctx, struct flow *f)
{
        struct lb_worker *lw = ctx;
        struct conn *c = (struct conn *)f;

        if (f->state == CONN_UDP) {
                lb__udp_close(lw, f);
                return 0;
        }
        if (c->f.state != CONN_CLOSING)
                conn__rst_client(lw, c);
        conn__rst_broker(lw, c);
        conn__end(lw, c, LB_VERDICT_OPEN);
        return 0;
}

void lb_worker__close_all(struct lb_worker *lw, struct worker *w)
{
        lw->w = w;
        flow_table__for_each(lw->flows, close_one, lw);
}
