/*
 * Inside `mqttlb run` (cmd_run.c): the running instance's parts, shared by
 * its files. cmd_run.c starts and stops them; run_plan.c keeps the plan the
 * workers read in step with the health checks and SIGHUP reloads (on the
 * control thread); run_admin.c serves the counters. Not an API.
 */
#ifndef MQTTLB_CLI_RUN_H
#define MQTTLB_CLI_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/control/control.h"
#include "core/datapath/dataplane.h"
#include "core/control/health.h"
#include "core/lb/lb.h"
#include "core/ops/stats.h"

struct admin;
struct metrics;

struct run {
        const char *path;
        struct config *cfg; /* as started: interfaces, listeners, sources, workers */
        struct config *cur; /* as running now (== cfg until a reload) */
        struct control *ctl;
        struct dataplane *dp;
        struct lb *lb;
        struct lb_worker *lw[WORKER_MAX];
        struct rss *rss;
        int ifindex[WORKER_PORTS_MAX];
        struct lb_listener_key listeners[LB_LISTENERS_MAX];
        struct dataplane_source sources[WORKER_SOURCES_MAX];

        /* health checks (control thread): one target per distinct broker */
        struct health *health;
        struct health_target *targets;
        uint32_t ntargets;
        int health_slot;                          /* the control loop's watch of the checker */
        _Atomic int gid_health[PLAN_BROKERS_MAX]; /* enum stats_health, by gid (stats) */
        uint64_t published;                       /* digest of the downs and caps last published */
        int udp_timer;                            /* timerfd: UDP backends' ICMP downs, 4 Hz */
        int udp_slot;

        /* counters */
        struct stats_src stats;
        struct admin *admin;
        struct metrics *metrics;
};

/* Health checks started for r->cur's brokers and the first plan adjusted
 * to them, on the control thread. -errno with the reason in err. */
int run_plan__start(struct run *r, char *err, size_t errlen);
/* SIGHUP: loads r->path again; applies it (new plan, health targets, next
 * hops) or logs why not and keeps what runs. 0 applied, -1 refused. */
int run_plan__reload(struct run *r);
/* Stops the checks (control thread). */
void run_plan__stop(struct run *r);

/* The admin socket and /metrics as the config says; logs and returns -errno
 * when one cannot start. */
int run_admin__start(struct run *r, char *err, size_t errlen);
void run_admin__stop(struct run *r);

#endif
