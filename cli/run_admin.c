/*
 * The counters of `mqttlb run` for whoever asks: the admin Unix socket
 * (`mqttlb stats`) and Prometheus /metrics, both rendering snapshots of the
 * same source (core/ops/stats.h) from their own threads.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "cli/run.h"
#include "core/ops/admin.h"
#include "core/util/log.h"
#include "core/ops/metrics.h"
#include "core/util/clock.h"

static enum stats_health broker_health(void *ctx, uint32_t gid)
{
        struct run *r = ctx;

        return gid < PLAN_BROKERS_MAX ? (enum stats_health)atomic_load_explicit(
                                            &r->gid_health[gid], memory_order_relaxed)
                                      : STATS_HEALTH_UNKNOWN;
}

int run_admin__start(struct run *r, char *err, size_t errlen)
{
        struct stats_src *s = &r->stats;
        int e;

        s->lb = r->lb;
        s->lw = r->lw;
        s->nworkers = r->cfg->workers;
        s->dp = r->dp;
        for (uint32_t i = 0; i < r->cfg->ninterfaces && i < WORKER_PORTS_MAX; i++)
                s->ifnames[i] = r->cfg->interfaces[i];
        s->nifs = r->cfg->ninterfaces;
        s->health = broker_health;
        s->health_ctx = r;
        s->config_path = r->path;
        s->start_ns = clock__mono_ns();
        if (r->cfg->admin.socket && r->cfg->admin.socket[0] &&
            (e = admin__start(&r->admin, r->cfg->admin.socket, stats__render_src, s, err, errlen)))
                return e;
        if (r->cfg->admin.metrics && (e = metrics__start(&r->metrics, r->cfg->admin.metrics,
                                                         stats__render_src, s, err, errlen))) {
                admin__stop(r->admin);
                r->admin = NULL;
                return e;
        }
        return 0;
}

void run_admin__stop(struct run *r)
{
        metrics__stop(r->metrics);
        admin__stop(r->admin);
        r->metrics = NULL;
        r->admin = NULL;
}
