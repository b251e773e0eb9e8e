/*
 * The counters users see (CONTRACT.md "Counters"): a snapshot of everything
 * countable in a running balancer, taken from its pieces (the balancer's
 * per-worker and per-broker counters, the datapath's per-worker and kernel
 * counters, the XDP redirector's per-interface counters, the brokers' health),
 * and three renderings of it: JSON (`mqttlb stats --json`), the Prometheus
 * text format 0.0.4 (`/metrics`) and a table for people (`mqttlb stats`).
 *
 * Owns the snapshot and the output buffer; reads the running pieces only
 * through their counter functions (relaxed loads), so it may run on any
 * thread while the workers run. Never prints, never touches the network
 * (admin.h and metrics.h serve what it renders).
 */
#ifndef MQTTLB_CORE_STATS_H
#define MQTTLB_CORE_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/lb_shared.h"
#include "core/datapath/dataplane.h"
#include "core/lb/lb.h"
#include "core/datapath/worker.h"

/* A growable output buffer: data is NUL-terminated once anything was put;
 * err is sticky (-ENOMEM) and every later put is a no-op. Zero-initialise. */
struct stats_buf {
        char *data;
        size_t len, cap;
        int err;
};

int stats_buf__put(struct stats_buf *b, const char *s, size_t n);
int stats_buf__printf(struct stats_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory (and clearing err). */
void stats_buf__reset(struct stats_buf *b);
void stats_buf__free(struct stats_buf *b);

enum stats_format {
        STATS_TEXT,
        STATS_JSON,
        STATS_PROMETHEUS,
};
/* "text", "json", "prometheus": 0, or -EINVAL. */
int stats_format__parse(const char *s, enum stats_format *out);
const char *stats_format__str(enum stats_format f);

/* What the health checks say about a broker. */
enum stats_health {
        STATS_HEALTH_UNKNOWN, /* no health checks (or not yet decided) */
        STATS_HEALTH_UP,
        STATS_HEALTH_DOWN,
};
const char *stats_health__str(enum stats_health h); /* "unknown", "up", "down" */
/* The state of broker gid (plan_broker.gid of the current plan). */
typedef enum stats_health stats_health_fn(void *ctx, uint32_t gid);

/*
 * Where the counters come from: filled by whoever runs the balancer (mqttlb
 * run), then only read, from any thread, while everything it points to
 * lives. Pointers may be NULL where said.
 */
struct stats_src {
        struct lb *lb;                         /* the plan: pools and brokers */
        struct lb_worker *const *lw;           /* [nworkers]: balancer counters */
        uint32_t nworkers;                     /* ≤ WORKER_MAX */
        const struct dataplane *dp;            /* datapath and kernel counters; NULL offline */
        struct worker *const *workers;         /* offline (dp NULL): [nworkers] or NULL */
        const char *ifnames[WORKER_PORTS_MAX]; /* the interfaces of the XDP counters (dp) */
        uint32_t nifs;                         /* ≤ WORKER_PORTS_MAX */
        stats_health_fn *health;               /* NULL: every broker "unknown"; called while the
                                                * plan is read (RCU): it must not wait for the
                                                * thread that publishes plans */
        void *health_ctx;
        const char *config_path;       /* NULL: none */
        uint64_t start_ns;             /* CLOCK_MONOTONIC at start; 0: uptime 0 */
        atomic_uint_least64_t reloads; /* the owner increments it at each reload */
};

struct stats_worker {
        bool has_dp;                          /* dp or workers given */
        bool has_kernel;                      /* dp given */
        struct worker_stats dp;               /* zero without has_dp */
        struct dataplane_kernel_stats kernel; /* zero without has_kernel */
        uint64_t dropped;                     /* sum of the drop_ counters */
        uint64_t conn_active;                 /* the balancer's, this worker's */
};

struct stats_broker {
        char name[64]; /* "ADDR:PORT" */
        uint32_t gid;
        enum stats_health health;
        struct lb_broker_stats c; /* summed over workers */
};

struct stats_pool {
        char name[64];
        const char *balance; /* pool_policy__str (static) */
        struct stats_broker *brokers;
        uint32_t nbrokers;
};

struct stats_xdp {
        char ifname[64];
        bool ok; /* the counters could be read */
        uint64_t c[LB_CNT__MAX];
};

struct stats_snapshot {
        double uptime_s;
        uint64_t reloads;
        char config_path[4096]; /* "" when none */
        struct lb_stats lb;     /* summed over workers */
        struct stats_worker *workers;
        uint32_t nworkers;
        struct stats_pool *pools;
        uint32_t npools;
        struct stats_xdp *xdp;
        uint32_t nxdp;
};

/*
 * Takes a snapshot. Reads the plan as an RCU reader: the calling thread must
 * not be registered with RCU (it registers for the call), which holds for
 * the admin and metrics threads and for the main thread. 0, -EINVAL (no lb,
 * too many workers or interfaces), -ENOMEM.
 */
int stats__snapshot(const struct stats_src *src, struct stats_snapshot **out);
void stats__snapshot_free(struct stats_snapshot *s);

/* The renderings, appended to out. 0 or out->err. */
int stats__json(const struct stats_snapshot *s, struct stats_buf *out);
int stats__prometheus(const struct stats_snapshot *s, struct stats_buf *out);
int stats__text(const struct stats_snapshot *s, struct stats_buf *out);
int stats__render(const struct stats_snapshot *s, enum stats_format f, struct stats_buf *out);

/* Renders something into out (admin.h and metrics.h call it from their own
 * threads, possibly at the same time). 0 or -errno. */
typedef int stats_render_fn(void *ctx, enum stats_format f, struct stats_buf *out);
/* The stats_render_fn of a struct stats_src (ctx): snapshot, render, free. */
int stats__render_src(void *src, enum stats_format f, struct stats_buf *out);

#endif
