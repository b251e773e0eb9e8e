/*
 * The counters users see: the snapshot (stats__snapshot) and its three
 * renderings. See stats.h for what is read from where and docs/stats.md for
 * the JSON shape and every Prometheus family.
 *
 * JSON is written by the small writer below rather than a library: the
 * output is a fixed shape of objects, arrays, unsigned integers and a few
 * strings (pool, broker, interface names, the config path), so escaping
 * strings is all it needs, and the runtime gains no dependency.
 *
 * Why 1,000 lines: the three renderings walk the same snapshot with the
 * same helpers (names, labels, escaping); splitting them is issue 16's
 * remaining work.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "core/config/plan.h"
#include "core/route/pool.h"
#include "core/ops/stats.h"
#include "mqtt/topic.h"
#include "core/util/clock.h"

/* ---- the output buffer ---------------------------------------------------- */

static int buf_grow(struct stats_buf *b, size_t need)
{
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        if (b->err)
                return b->err;
        if (b->len + need + 1 <= b->cap)
                return 0;
        while (cap < b->len + need + 1) {
                if (cap > SIZE_MAX / 2)
                        return b->err = -ENOMEM;
                cap *= 2;
        }
        p = realloc(b->data, cap);
        if (!p)
                return b->err = -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int stats_buf__put(struct stats_buf *b, const char *s, size_t n)
{
        if (buf_grow(b, n))
                return b->err;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int stats_buf__printf(struct stats_buf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->err)
                return b->err;
        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return b->err = -EINVAL;
        if (buf_grow(b, (size_t)n))
                return b->err;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

void stats_buf__reset(struct stats_buf *b)
{
        b->len = 0;
        b->err = 0;
        if (b->data)
                b->data[0] = '\0';
}

void stats_buf__free(struct stats_buf *b)
{
        free(b->data);
        *b = (struct stats_buf){0};
}

static int puts_(struct stats_buf *b, const char *s)
{
        return stats_buf__put(b, s, strlen(s));
}

/* ---- names ------------------------------------------------------------------ */

static const char *const FORMATS[] = {
    [STATS_TEXT] = "text",
    [STATS_JSON] = "json",
    [STATS_PROMETHEUS] = "prometheus",
};

int stats_format__parse(const char *s, enum stats_format *out)
{
        for (size_t i = 0; i < sizeof(FORMATS) / sizeof(FORMATS[0]); i++)
                if (!strcmp(s, FORMATS[i])) {
                        *out = (enum stats_format)i;
                        return 0;
                }
        return -EINVAL;
}

const char *stats_format__str(enum stats_format f)
{
        return (unsigned)f < sizeof(FORMATS) / sizeof(FORMATS[0]) ? FORMATS[f] : "?";
}

const char *stats_health__str(enum stats_health h)
{
        switch (h) {
        case STATS_HEALTH_UP: return "up";
        case STATS_HEALTH_DOWN: return "down";
        default: return "unknown";
        }
}

#define KERNEL_DOC_(name, doc) doc,
static const char *const KERNEL_DOCS[] = {DATAPLANE_KERNEL_COUNTERS(KERNEL_DOC_)};
#undef KERNEL_DOC_

static bool is_drop(const char *worker_counter)
{
        return !strncmp(worker_counter, "drop_", 5);
}

/* ---- the snapshot --------------------------------------------------------- */

static void copy_name(char *dst, size_t n, const char *src)
{
        snprintf(dst, n, "%s", src ? src : "");
}

static void sum_u64(void *dst, const void *src, size_t bytes)
{
        uint64_t *d = dst;
        const uint64_t *s = src;

        for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
                d[i] += s[i];
}

static uint64_t now_ns(void)
{
        return clock__mono_ns();
}

/* The pools and brokers of the current plan, with their counters: the
 * plan is read as an RCU reader (stats.h). */
static int snap_pools(const struct stats_src *src, struct stats_snapshot *s)
{
        const struct plan *p;
        struct lb_broker_stats *per = NULL, *sum = NULL;
        struct stats_broker *brokers;
        int e = 0;

        rcu_register_thread();
        rcu_read_lock();
        p = lb__plan(src->lb);
        if (!p || p->nbrokers > PLAN_BROKERS_MAX) {
                e = -EINVAL;
                goto out;
        }
        s->pools = calloc(p->npools + 1, sizeof(*s->pools));
        if (!s->pools) {
                e = -ENOMEM;
                goto out;
        }
        /* One array for every pool's brokers, owned through pools[0]. */
        brokers = s->pools[0].brokers = calloc(p->nbrokers + 1, sizeof(*brokers));
        per = calloc(p->nbrokers + 1, sizeof(*per));
        sum = calloc(p->nbrokers + 1, sizeof(*sum));
        if (!per || !sum || !brokers) {
                e = -ENOMEM;
                goto out;
        }
        for (uint32_t w = 0; w < src->nworkers; w++) {
                if (!src->lw || !src->lw[w])
                        continue;
                lb_worker__broker_stats(src->lw[w], per, p->nbrokers);
                sum_u64(sum, per, p->nbrokers * sizeof(*per));
        }
        s->npools = p->npools;
        for (uint32_t i = 0, nb = 0; i < p->npools; i++) {
                const struct plan_pool *pp = &p->pools[i];
                struct stats_pool *sp = &s->pools[i];

                copy_name(sp->name, sizeof(sp->name), pp->name);
                sp->balance = pp->pool ? pool_policy__str(pool__policy(pp->pool)) : "?";
                sp->brokers = brokers + nb;
                for (uint32_t b = 0; b < pp->nbrokers && nb < p->nbrokers; b++, nb++) {
                        const struct plan_broker *pb = &pp->brokers[b];
                        struct stats_broker *sb = &sp->brokers[sp->nbrokers++];

                        copy_name(sb->name, sizeof(sb->name), pb->name);
                        sb->gid = pb->gid;
                        sb->health = src->health ? src->health(src->health_ctx, pb->gid)
                                                 : STATS_HEALTH_UNKNOWN;
                        if (pb->gid < p->nbrokers)
                                sb->c = sum[pb->gid];
                }
        }
out:
        rcu_read_unlock();
        rcu_unregister_thread();
        free(per);
        free(sum);
        return e;
}

int stats__snapshot(const struct stats_src *src, struct stats_snapshot **out)
{
        struct stats_snapshot *s;
        uint64_t now = now_ns();
        int e;

        *out = NULL;
        if (!src->lb || src->nworkers > WORKER_MAX || src->nifs > WORKER_PORTS_MAX)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->uptime_s =
            src->start_ns && now > src->start_ns ? (double)(now - src->start_ns) / 1e9 : 0.0;
        s->reloads = atomic_load_explicit(&src->reloads, memory_order_relaxed);
        copy_name(s->config_path, sizeof(s->config_path), src->config_path);

        s->nworkers = src->nworkers;
        s->workers = calloc(src->nworkers + 1, sizeof(*s->workers));
        if (!s->workers) {
                e = -ENOMEM;
                goto fail;
        }
        for (uint32_t w = 0; w < src->nworkers; w++) {
                struct stats_worker *sw = &s->workers[w];
                const uint64_t *v = (const uint64_t *)&sw->dp;
                struct lb_stats ls;

                if (src->lw && src->lw[w]) {
                        lb_worker__stats(src->lw[w], &ls);
                        sum_u64(&s->lb, &ls, sizeof(ls));
                        sw->conn_active = ls.conn_active;
                }
                if (src->dp && w < dataplane__nworkers(src->dp)) {
                        dataplane__worker_stats(src->dp, w, &sw->dp);
                        dataplane__kernel_stats(src->dp, w, &sw->kernel);
                        sw->has_dp = sw->has_kernel = true;
                } else if (!src->dp && src->workers && src->workers[w]) {
                        worker__stats(src->workers[w], &sw->dp);
                        sw->has_dp = true;
                }
                for (size_t k = 0; k < WORKER_NCOUNTERS; k++)
                        if (is_drop(worker_counter_names[k]))
                                sw->dropped += v[k];
        }

        if (src->dp && src->nifs) {
                s->xdp = calloc(src->nifs, sizeof(*s->xdp));
                if (!s->xdp) {
                        e = -ENOMEM;
                        goto fail;
                }
                s->nxdp = src->nifs;
                for (uint32_t i = 0; i < src->nifs; i++) {
                        copy_name(s->xdp[i].ifname, sizeof(s->xdp[i].ifname), src->ifnames[i]);
                        s->xdp[i].ok = dataplane__xdp_counters(src->dp, i, s->xdp[i].c) == 0;
                        if (!s->xdp[i].ok)
                                memset(s->xdp[i].c, 0, sizeof(s->xdp[i].c));
                }
        }

        e = snap_pools(src, s);
        if (e)
                goto fail;
        *out = s;
        return 0;
fail:
        stats__snapshot_free(s);
        return e;
}

void stats__snapshot_free(struct stats_snapshot *s)
{
        if (!s)
                return;
        if (s->pools)
                free(s->pools[0].brokers); /* one array for every pool's brokers */
        free(s->pools);
        free(s->workers);
        free(s->xdp);
        free(s);
}

static const uint64_t *lb_values(const struct stats_snapshot *s)
{
        return (const uint64_t *)&s->lb;
}

/* ---- JSON ----------------------------------------------------------------- */

#define JSON_DEPTH 8

struct jw {
        struct stats_buf *b;
        int depth;
        bool first[JSON_DEPTH];
};

static void json_string(struct stats_buf *b, const char *s)
{
        const char *run = s;

        puts_(b, "\"");
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                const char *esc = NULL;
                char u[8];

                switch (c) {
                case '"': esc = "\\\""; break;
                case '\\': esc = "\\\\"; break;
                case '\n': esc = "\\n"; break;
                case '\r': esc = "\\r"; break;
                case '\t': esc = "\\t"; break;
                default:
                        if (c < 0x20 || c == 0x7f) {
                                snprintf(u, sizeof(u), "\\u%04x", c);
                                esc = u;
                        }
                }
                if (!esc)
                        continue; /* bytes >= 0x80: UTF-8, passed through */
                stats_buf__put(b, run, (size_t)(s - run));
                puts_(b, esc);
                run = s + 1;
        }
        stats_buf__put(b, run, (size_t)(s - run));
        puts_(b, "\"");
}

/* A comma when needed, then "key": when in an object. */
static void jw_key(struct jw *j, const char *key)
{
        if (!j->first[j->depth])
                puts_(j->b, ",");
        j->first[j->depth] = false;
        if (key) {
                json_string(j->b, key);
                puts_(j->b, ":");
        }
}

static void jw_open(struct jw *j, const char *key, const char *bracket)
{
        jw_key(j, key);
        puts_(j->b, bracket);
        if (j->depth + 1 < JSON_DEPTH)
                j->first[++j->depth] = true;
}

static void jw_close(struct jw *j, const char *bracket)
{
        puts_(j->b, bracket);
        if (j->depth > 0)
                j->depth--;
}

static void jw_u64(struct jw *j, const char *key, uint64_t v)
{
        jw_key(j, key);
        stats_buf__printf(j->b, "%llu", (unsigned long long)v);
}

static void jw_str(struct jw *j, const char *key, const char *v)
{
        jw_key(j, key);
        json_string(j->b, v);
}

static void jw_bool(struct jw *j, const char *key, bool v)
{
        jw_key(j, key);
        puts_(j->b, v ? "true" : "false");
}

/* Worker counters under their JSON names: rx and tx as rx_packets and
 * tx_packets (CONTRACT.md's "packets rx/tx"), the rest by name. */
static const char *worker_json_name(size_t k)
{
        const char *n = worker_counter_names[k];

        return !strcmp(n, "rx") ? "rx_packets" : !strcmp(n, "tx") ? "tx_packets" : n;
}

int stats__json(const struct stats_snapshot *s, struct stats_buf *out)
{
        struct jw j = {.b = out, .first = {true}};
        const uint64_t *lv = lb_values(s);

        jw_open(&j, NULL, "{");
        jw_key(&j, "uptime_s");
        stats_buf__printf(out, "%.3f", s->uptime_s);
        if (s->config_path[0])
                jw_str(&j, "config", s->config_path);
        jw_u64(&j, "reloads", s->reloads);

        jw_open(&j, "workers", "[");
        for (uint32_t w = 0; w < s->nworkers; w++) {
                const struct stats_worker *sw = &s->workers[w];
                const uint64_t *v = (const uint64_t *)&sw->dp;
                const uint64_t *kv = (const uint64_t *)&sw->kernel;

                jw_open(&j, NULL, "{");
                jw_u64(&j, "id", w);
                jw_u64(&j, "rx_packets", sw->dp.rx);
                jw_u64(&j, "tx_packets", sw->dp.tx);
                jw_u64(&j, "dropped", sw->dropped);
                for (size_t k = 0; k < WORKER_NCOUNTERS; k++)
                        if (strcmp(worker_counter_names[k], "rx") &&
                            strcmp(worker_counter_names[k], "tx"))
                                jw_u64(&j, worker_json_name(k), v[k]);
                for (size_t k = 0; k < DATAPLANE_NKERNEL; k++)
                        jw_u64(&j, dataplane_kernel_counter_names[k], kv[k]);
                jw_u64(&j, "connections_active", sw->conn_active);
                jw_close(&j, "}");
        }
        jw_close(&j, "]");

        jw_open(&j, "connections", "{");
        jw_u64(&j, "active", s->lb.conn_active);
        jw_u64(&j, "total", s->lb.conn_total);
        jw_open(&j, "bound", "{");
        jw_u64(&j, "connect", s->lb.bound_connect);
        jw_u64(&j, "publish", s->lb.bound_publish);
        jw_u64(&j, "subscribe", s->lb.bound_subscribe);
        jw_u64(&j, "timeout", s->lb.bound_timeout);
        jw_close(&j, "}");
        jw_close(&j, "}");

        jw_open(&j, "syncookies", "{");
        jw_u64(&j, "sent", s->lb.syncookies_sent);
        jw_u64(&j, "validated", s->lb.syncookies_validated);
        jw_u64(&j, "rejected", s->lb.syncookies_rejected);
        jw_close(&j, "}");

        jw_open(&j, "counters", "{");
        for (size_t k = 0; k < LB_NSTATS; k++)
                jw_u64(&j, lb_stat_names[k], lv[k]);
        jw_close(&j, "}");

        jw_open(&j, "malformed", "{");
        for (int e = MQTT_OK + 1; e < MQTT_ERR__COUNT; e++)
                jw_u64(&j, mqtt_err__str((enum mqtt_err)e), s->lb.malformed_by[e]);
        jw_close(&j, "}");

        jw_open(&j, "pools", "[");
        for (uint32_t i = 0; i < s->npools; i++) {
                const struct stats_pool *p = &s->pools[i];

                jw_open(&j, NULL, "{");
                jw_str(&j, "name", p->name);
                jw_str(&j, "balance", p->balance);
                jw_open(&j, "brokers", "[");
                for (uint32_t b = 0; b < p->nbrokers; b++) {
                        const struct stats_broker *sb = &p->brokers[b];

                        jw_open(&j, NULL, "{");
                        jw_str(&j, "name", sb->name);
                        jw_str(&j, "state", stats_health__str(sb->health));
                        jw_u64(&j, "active", sb->c.active);
                        jw_u64(&j, "total", sb->c.total);
                        jw_u64(&j, "publishes", sb->c.publishes);
                        jw_u64(&j, "publish_bytes", sb->c.publish_bytes);
                        jw_u64(&j, "failures", sb->c.failures);
                        jw_close(&j, "}");
                }
                jw_close(&j, "]");
                jw_close(&j, "}");
        }
        jw_close(&j, "]");

        jw_open(&j, "xdp", "[");
        for (uint32_t i = 0; i < s->nxdp; i++) {
                jw_open(&j, NULL, "{");
                jw_str(&j, "interface", s->xdp[i].ifname);
                jw_bool(&j, "available", s->xdp[i].ok);
                for (uint32_t c = 0; c < LB_CNT__MAX; c++)
                        jw_u64(&j, lb_counter__name(c), s->xdp[i].c[c]);
                jw_close(&j, "}");
        }
        jw_close(&j, "]");
        jw_close(&j, "}");
        puts_(out, "\n");
        return out->err;
}

/* ---- Prometheus text format 0.0.4 ----------------------------------------- */

/* HELP text: backslash and newline escaped. */
static void prom_help_text(struct stats_buf *b, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        puts_(b, "\\\\");
                else if (*s == '\n')
                        puts_(b, "\\n");
                else
                        stats_buf__put(b, s, 1);
        }
}

/* Label value: backslash, double quote and newline escaped. */
static void prom_label_value(struct stats_buf *b, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        puts_(b, "\\\\");
                else if (*s == '"')
                        puts_(b, "\\\"");
                else if (*s == '\n')
                        puts_(b, "\\n");
                else
                        stats_buf__put(b, s, 1);
        }
}

static void prom_family(struct stats_buf *b, const char *name, const char *type, const char *help)
{
        stats_buf__printf(b, "# HELP %s ", name);
        prom_help_text(b, help);
        stats_buf__printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{k="v",...} (labels: NULL-terminated key, value pairs; may be NULL). */
static void prom_name(struct stats_buf *b, const char *name, const char *const *labels)
{
        puts_(b, name);
        if (!labels || !labels[0])
                return;
        puts_(b, "{");
        for (size_t i = 0; labels[i]; i += 2) {
                stats_buf__printf(b, "%s%s=\"", i ? "," : "", labels[i]);
                prom_label_value(b, labels[i + 1]);
                puts_(b, "\"");
        }
        puts_(b, "}");
}

static void prom_u64(struct stats_buf *b, const char *name, const char *const *labels, uint64_t v)
{
        prom_name(b, name, labels);
        stats_buf__printf(b, " %llu\n", (unsigned long long)v);
}

/* The Prometheus name of balancer counter k: conn_active and conn_total as
 * connections_*, buffer_held as the gauge buffer_held_bytes, malformed as
 * malformed_connections_total (malformed_total is the family by reason), the rest NAME_total. */
static void lb_prom_name(size_t k, char *out, size_t n, const char **type)
{
        const char *name = lb_stat_names[k];

        *type = "counter";
        if (!strcmp(name, "conn_active")) {
                snprintf(out, n, "mqttlb_connections_active");
                *type = "gauge";
        } else if (!strcmp(name, "buffer_held")) {
                snprintf(out, n, "mqttlb_buffer_held_bytes");
                *type = "gauge";
        } else if (!strcmp(name, "conn_total")) {
                snprintf(out, n, "mqttlb_connections_total");
        } else if (!strcmp(name, "malformed")) {
                snprintf(out, n, "mqttlb_malformed_connections_total");
        } else {
                snprintf(out, n, "mqttlb_%s_total", name);
        }
}

static void prom_workers(const struct stats_snapshot *s, struct stats_buf *b)
{
        char id[16], name[96], help[192];

        prom_family(b, "mqttlb_packets_total", "counter",
                    "frames a worker received (rx) from its ports or handed to them for sending "
                    "(tx)");
        for (int dir = 0; dir < 2; dir++)
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(
                            b, "mqttlb_packets_total",
                            (const char *[]){"worker", id, "direction", dir ? "tx" : "rx", NULL},
                            dir ? s->workers[w].dp.tx : s->workers[w].dp.rx);
                }

        prom_family(b, "mqttlb_dropped_total", "counter",
                    "frames a worker dropped, by reason (the worker counters drop_REASON)");
        for (size_t k = 0; k < WORKER_NCOUNTERS; k++) {
                if (!is_drop(worker_counter_names[k]))
                        continue;
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(b, "mqttlb_dropped_total",
                                 (const char *[]){"worker", id, "reason",
                                                  worker_counter_names[k] + 5, NULL},
                                 ((const uint64_t *)&s->workers[w].dp)[k]);
                }
        }

        /* The other worker counters, one family each. */
        for (size_t k = 0; k < WORKER_NCOUNTERS; k++) {
                const char *n = worker_counter_names[k];

                if (is_drop(n) || !strcmp(n, "rx") || !strcmp(n, "tx"))
                        continue;
                snprintf(name, sizeof(name), "mqttlb_%s_total", n);
                prom_family(b, name, "counter", worker_counter_docs[k]);
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(b, name, (const char *[]){"worker", id, NULL},
                                 ((const uint64_t *)&s->workers[w].dp)[k]);
                }
        }

        for (size_t k = 0; k < DATAPLANE_NKERNEL; k++) {
                snprintf(name, sizeof(name), "mqttlb_%s_total", dataplane_kernel_counter_names[k]);
                snprintf(help, sizeof(help), "%s (XDP_STATISTICS of the worker's sockets)",
                         KERNEL_DOCS[k]);
                prom_family(b, name, "counter", help);
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        if (!s->workers[w].has_kernel)
                                continue;
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(b, name, (const char *[]){"worker", id, NULL},
                                 ((const uint64_t *)&s->workers[w].kernel)[k]);
                }
        }

        prom_family(b, "mqttlb_worker_connections_active", "gauge",
                    "client connections open now, per worker");
        for (uint32_t w = 0; w < s->nworkers; w++) {
                snprintf(id, sizeof(id), "%u", w);
                prom_u64(b, "mqttlb_worker_connections_active",
                         (const char *[]){"worker", id, NULL}, s->workers[w].conn_active);
        }
}

/* One family per broker counter. */
struct broker_family {
        const char *name, *type, *help;
        size_t off;
};

static const struct broker_family BROKER_FAMILIES[] = {
    {"mqttlb_broker_connections_active", "gauge",
     "client connections spliced to the broker and open now",
     offsetof(struct lb_broker_stats, active)},
    {"mqttlb_broker_connections_total", "counter",
     "client connections spliced to the broker (its leg established)",
     offsetof(struct lb_broker_stats, total)},
    {"mqttlb_broker_publishes_total", "counter",
     "PUBLISH packets from clients counted against the broker",
     offsetof(struct lb_broker_stats, publishes)},
    {"mqttlb_broker_publish_bytes_total", "counter", "bytes of those PUBLISH packets",
     offsetof(struct lb_broker_stats, publish_bytes)},
    {"mqttlb_broker_failures_total", "counter",
     "legs to the broker given up before they were established (no SYN-ACK after the "
     "retries, a reset, no route, no free local port)",
     offsetof(struct lb_broker_stats, failures)},
};

static void prom_pools(const struct stats_snapshot *s, struct stats_buf *b)
{
        prom_family(b, "mqttlb_pool_info", "gauge",
                    "the pools of the current plan and their balance policy (always 1)");
        for (uint32_t i = 0; i < s->npools; i++)
                prom_u64(b, "mqttlb_pool_info",
                         (const char *[]){"pool", s->pools[i].name, "balance", s->pools[i].balance,
                                          NULL},
                         1);

        prom_family(b, "mqttlb_broker_up", "gauge",
                    "1 when the health checks say the broker is up, 0 when down; absent while "
                    "unknown");
        for (uint32_t i = 0; i < s->npools; i++)
                for (uint32_t k = 0; k < s->pools[i].nbrokers; k++) {
                        const struct stats_broker *sb = &s->pools[i].brokers[k];

                        if (sb->health == STATS_HEALTH_UNKNOWN)
                                continue;
                        prom_u64(
                            b, "mqttlb_broker_up",
                            (const char *[]){"pool", s->pools[i].name, "broker", sb->name, NULL},
                            sb->health == STATS_HEALTH_UP);
                }

        for (size_t f = 0; f < sizeof(BROKER_FAMILIES) / sizeof(BROKER_FAMILIES[0]); f++) {
                const struct broker_family *bf = &BROKER_FAMILIES[f];

                prom_family(b, bf->name, bf->type, bf->help);
                for (uint32_t i = 0; i < s->npools; i++)
                        for (uint32_t k = 0; k < s->pools[i].nbrokers; k++) {
                                const struct stats_broker *sb = &s->pools[i].brokers[k];
                                uint64_t v;

                                memcpy(&v, (const char *)&sb->c + bf->off, sizeof(v));
                                prom_u64(b, bf->name,
                                         (const char *[]){"pool", s->pools[i].name, "broker",
                                                          sb->name, NULL},
                                         v);
                        }
        }
}

int stats__prometheus(const struct stats_snapshot *s, struct stats_buf *out)
{
        const uint64_t *lv = lb_values(s);
        char name[96];
        const char *type;

        prom_family(out, "mqttlb_uptime_seconds", "gauge", "seconds since mqttlb started");
        stats_buf__printf(out, "mqttlb_uptime_seconds %.3f\n", s->uptime_s);
        prom_family(out, "mqttlb_reloads_total", "counter",
                    "configuration reloads applied (SIGHUP)");
        prom_u64(out, "mqttlb_reloads_total", NULL, s->reloads);

        prom_workers(s, out);

        for (size_t k = 0; k < LB_NSTATS; k++) {
                lb_prom_name(k, name, sizeof(name), &type);
                prom_family(out, name, type, lb_stat_docs[k]);
                prom_u64(out, name, NULL, lv[k]);
        }
        prom_family(out, "mqttlb_malformed_total", "counter",
                    "client streams that broke the MQTT protocol, by the parser's reason");
        for (int e = MQTT_OK + 1; e < MQTT_ERR__COUNT; e++)
                prom_u64(out, "mqttlb_malformed_total",
                         (const char *[]){"reason", mqtt_err__str((enum mqtt_err)e), NULL},
                         s->lb.malformed_by[e]);

        prom_pools(s, out);

        prom_family(out, "mqttlb_xdp_frames_total", "counter",
                    "frames the XDP redirector saw, by interface and outcome (each frame moves "
                    "exactly one)");
        for (uint32_t c = 0; c < LB_CNT__MAX; c++)
                for (uint32_t i = 0; i < s->nxdp; i++) {
                        if (!s->xdp[i].ok)
                                continue;
                        prom_u64(out, "mqttlb_xdp_frames_total",
                                 (const char *[]){"interface", s->xdp[i].ifname, "outcome",
                                                  lb_counter__name(c), NULL},
                                 s->xdp[i].c[c]);
                }
        return out->err;
}

/* ---- the table for people ------------------------------------------------- */

#define TABLE_COLS 12

/* Rows of cells, printed with every column as wide as its widest cell; the
 * first row is the heading. Columns flagged in right are right-aligned. */
struct table {
        uint32_t ncols, ncells, cap;
        char **cells;
        size_t width[TABLE_COLS];
        uint32_t right; /* bit per column */
        int err;
};

static void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void table_cell(struct table *t, const char *fmt, ...)
{
        va_list ap;
        char *c = NULL;
        size_t len;

        if (t->err)
                return;
        if (t->ncells == t->cap) {
                uint32_t cap = t->cap ? t->cap * 2 : 64;
                char **p = realloc(t->cells, cap * sizeof(*p));

                if (!p) {
                        t->err = -ENOMEM;
                        return;
                }
                t->cells = p;
                t->cap = cap;
        }
        va_start(ap, fmt);
        if (vasprintf(&c, fmt, ap) < 0) {
                va_end(ap);
                t->err = -ENOMEM;
                return;
        }
        va_end(ap);
        len = strlen(c);
        if (len > t->width[t->ncells % t->ncols])
                t->width[t->ncells % t->ncols] = len;
        t->cells[t->ncells++] = c;
}

static void table_print(struct table *t, struct stats_buf *b)
{
        if (t->err) {
                b->err = b->err ? b->err : t->err;
        } else {
                for (uint32_t i = 0; i < t->ncells; i++) {
                        uint32_t col = i % t->ncols;
                        int w = (int)t->width[col];
                        bool last = col == t->ncols - 1;

                        if (t->right & (1u << col))
                                stats_buf__printf(b, "%*s", w, t->cells[i]);
                        else if (last)
                                stats_buf__printf(b, "%s", t->cells[i]);
                        else
                                stats_buf__printf(b, "%-*s", w, t->cells[i]);
                        puts_(b, last ? "\n" : "  ");
                }
        }
        for (uint32_t i = 0; i < t->ncells; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (struct table){0};
}

static void text_uptime(struct stats_buf *b, double up)
{
        uint64_t s = (uint64_t)up;

        if (s >= 86400)
                stats_buf__printf(b, "%llud ", (unsigned long long)(s / 86400));
        if (s >= 3600)
                stats_buf__printf(b, "%lluh ", (unsigned long long)(s / 3600 % 24));
        if (s >= 60)
                stats_buf__printf(b, "%llum ", (unsigned long long)(s / 60 % 60));
        stats_buf__printf(b, "%llus", (unsigned long long)(s % 60));
}

/* The counters shown in their own lines above; "other counters" lists the
 * rest when not zero. */
static bool text_shown_above(const char *name)
{
        static const char *const shown[] = {
            "conn_active",         "conn_total",    "bound_connect",   "bound_publish",
            "bound_subscribe",     "bound_timeout", "syncookies_sent", "syncookies_validated",
            "syncookies_rejected", "misroutes",     "malformed",
        };

        for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
                if (!strcmp(name, shown[i]))
                        return true;
        return false;
}

int stats__text(const struct stats_snapshot *s, struct stats_buf *out)
{
        const struct lb_stats *l = &s->lb;
        const uint64_t *lv = lb_values(s);
        struct table t = {0};
        bool any;

        puts_(out, "mqttlb: up ");
        text_uptime(out, s->uptime_s);
        if (s->config_path[0])
                stats_buf__printf(out, ", config %s", s->config_path);
        stats_buf__printf(out, ", %llu reload%s\n\n", (unsigned long long)s->reloads,
                          s->reloads == 1 ? "" : "s");
        stats_buf__printf(
            out,
            "connections  %llu active, %llu total; bound at connect %llu, "
            "publish %llu, subscribe %llu, timeout %llu\n",
            (unsigned long long)l->conn_active, (unsigned long long)l->conn_total,
            (unsigned long long)l->bound_connect, (unsigned long long)l->bound_publish,
            (unsigned long long)l->bound_subscribe, (unsigned long long)l->bound_timeout);
        stats_buf__printf(out, "syn cookies  %llu sent, %llu validated, %llu rejected\n",
                          (unsigned long long)l->syncookies_sent,
                          (unsigned long long)l->syncookies_validated,
                          (unsigned long long)l->syncookies_rejected);
        stats_buf__printf(out, "misroutes    %llu; malformed %llu\n\n",
                          (unsigned long long)l->misroutes, (unsigned long long)l->malformed);

        t.ncols = 9;
        t.right = 0x1f0; /* columns 4..8 */
        table_cell(&t, "POOL");
        table_cell(&t, "BALANCE");
        table_cell(&t, "BROKER");
        table_cell(&t, "STATE");
        table_cell(&t, "ACTIVE");
        table_cell(&t, "TOTAL");
        table_cell(&t, "PUBLISHES");
        table_cell(&t, "BYTES");
        table_cell(&t, "FAILURES");
        for (uint32_t i = 0; i < s->npools; i++)
                for (uint32_t k = 0; k < s->pools[i].nbrokers; k++) {
                        const struct stats_broker *sb = &s->pools[i].brokers[k];

                        table_cell(&t, "%s", k ? "" : s->pools[i].name);
                        table_cell(&t, "%s", k ? "" : s->pools[i].balance);
                        table_cell(&t, "%s", sb->name);
                        table_cell(&t, "%s", stats_health__str(sb->health));
                        table_cell(&t, "%llu", (unsigned long long)sb->c.active);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.total);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.publishes);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.publish_bytes);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.failures);
                }
        table_print(&t, out);
        puts_(out, "\n");

        t.ncols = 7;
        t.right = 0x7e;
        table_cell(&t, "WORKER");
        table_cell(&t, "RX");
        table_cell(&t, "TX");
        table_cell(&t, "DROPPED");
        table_cell(&t, "HANDED_OVER");
        table_cell(&t, "KERNEL_DROPS");
        table_cell(&t, "CONNECTIONS");
        for (uint32_t w = 0; w < s->nworkers; w++) {
                const struct stats_worker *sw = &s->workers[w];

                table_cell(&t, "%u", w);
                table_cell(&t, "%llu", (unsigned long long)sw->dp.rx);
                table_cell(&t, "%llu", (unsigned long long)sw->dp.tx);
                table_cell(&t, "%llu", (unsigned long long)sw->dropped);
                table_cell(&t, "%llu", (unsigned long long)sw->dp.handed_over);
                table_cell(&t, "%llu",
                           (unsigned long long)(sw->kernel.kernel_rx_ring_full +
                                                sw->kernel.kernel_rx_dropped));
                table_cell(&t, "%llu", (unsigned long long)sw->conn_active);
        }
        table_print(&t, out);

        for (uint32_t i = 0; i < s->nxdp; i++) {
                stats_buf__printf(out, "\nxdp %s:", s->xdp[i].ifname);
                if (!s->xdp[i].ok) {
                        puts_(out, " unavailable");
                        continue;
                }
                any = false;
                for (uint32_t c = 0; c < LB_CNT__MAX; c++)
                        if (s->xdp[i].c[c]) {
                                stats_buf__printf(out, "%s %s %llu", any ? "," : "",
                                                  lb_counter__name(c),
                                                  (unsigned long long)s->xdp[i].c[c]);
                                any = true;
                        }
                if (!any)
                        puts_(out, " nothing yet");
        }
        if (s->nxdp)
                puts_(out, "\n");

        t.ncols = 3;
        t.right = 0x2;
        for (size_t k = 0; k < LB_NSTATS; k++) {
                if (!lv[k] || text_shown_above(lb_stat_names[k]))
                        continue;
                table_cell(&t, "  %s", lb_stat_names[k]);
                table_cell(&t, "%llu", (unsigned long long)lv[k]);
                table_cell(&t, "%s", lb_stat_docs[k]);
        }
        if (t.ncells) {
                puts_(out, "\nother counters (not zero):\n");
                table_print(&t, out);
        }

        t.ncols = 2;
        t.right = 0x2;
        for (int e = MQTT_OK + 1; e < MQTT_ERR__COUNT; e++)
                if (l->malformed_by[e]) {
                        table_cell(&t, "  %s", mqtt_err__str((enum mqtt_err)e));
                        table_cell(&t, "%llu", (unsigned long long)l->malformed_by[e]);
                }
        if (t.ncells) {
                puts_(out, "\nmalformed by reason:\n");
                table_print(&t, out);
        }
        return out->err;
}

int stats__render(const struct stats_snapshot *s, enum stats_format f, struct stats_buf *out)
{
        switch (f) {
        case STATS_JSON: return stats__json(s, out);
        case STATS_PROMETHEUS: return stats__prometheus(s, out);
        case STATS_TEXT: return stats__text(s, out);
        }
        return -EINVAL;
}

int stats__render_src(void *src, enum stats_format f, struct stats_buf *out)
{
        struct stats_snapshot *s;
        int e = stats__snapshot(src, &s);

        if (e)
                return e;
        e = stats__render(s, f, out);
        stats__snapshot_free(s);
        return e;
}
