/*
 * The counters users see: the snapshot (stats__snapshot), the output
 * buffer and the choice of rendering; the renderings are stats_json.c,
 * stats_prom.c and stats_text.c. See stats.h for what is read from where
 * and docs/stats.md for the JSON shape and every Prometheus family.
 *
 * JSON is written by a small writer (stats_json.c) rather than a library: the
 * output is a fixed shape of objects, arrays, unsigned integers and a few
 * strings (pool, broker, interface names, the config path), so escaping
 * strings is all it needs, and the runtime gains no dependency.
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
#include "core/ops/stats-int.h"
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

int stats__puts(struct stats_buf *b, const char *s)
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
const char *const stats_kernel_docs[] = {DATAPLANE_KERNEL_COUNTERS(KERNEL_DOC_)};
#undef KERNEL_DOC_

bool stats__is_drop(const char *worker_counter)
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
                        if (stats__is_drop(worker_counter_names[k]))
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

const uint64_t *stats__lb_values(const struct stats_snapshot *s)
{
        return (const uint64_t *)&s->lb;
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
