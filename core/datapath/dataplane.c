/*
 * Setting up and tearing down the datapath (dataplane.h). Runs at start and
 * stop only. Acquisition order: redirectors (each takes its interface's
 * instance lock first), UMEM, frame pool, AF_XDP registration, sockets, their
 * XSKMAP entries, handover rings, threads; teardown is the reverse.
 */
#include "core/datapath/dataplane.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <linux/if_xdp.h>

#define HANDOVER_SIZE 1024u /* per ordered pair of workers; a power of two */

struct dataplane {
        struct dataplane_cfg cfg;
        struct redirector *redir[WORKER_PORTS_MAX];
        struct umem_area area;
        struct frame_pool *pool;
        struct xsk_umem_set *uset;
        struct frame_cache *caches; /* [nworkers] */
        struct port *ports[WORKER_MAX][WORKER_PORTS_MAX];
        struct handover_ring *rings[WORKER_MAX][WORKER_MAX]; /* [from][to] */
        struct worker *workers;                              /* [nworkers] */
        pthread_t threads[WORKER_MAX];
        uint32_t nthreads;
        atomic_bool stop;
        struct worker_source sources[WORKER_SOURCES_MAX];
        struct worker_wake wakes[WORKER_MAX]; /* fd -1 with one worker: none to wake */
};

static uint32_t default_frames(const struct dataplane_cfg *c)
{
        uint32_t ring = c->ring_size ? c->ring_size : 2048;
        /* fill (2 x ring) + TX ring per socket, a full cache and a full inbox
         * per worker */
        uint64_t need = (uint64_t)c->nworkers * c->nifs * 3 * ring +
                        (uint64_t)c->nworkers * (FRAME_CACHE + HANDOVER_SIZE * c->nworkers);
        /* whole 2 MiB huge pages (512 frames), at least 4096 frames */
        need = (need + 511) / 512 * 512;
        return need < 4096 ? 4096 : (uint32_t)need;
}

static int check_cfg(const struct dataplane_cfg *c, char *err, size_t errlen)
{
        if (!c->nifs || c->nifs > WORKER_PORTS_MAX) {
                snprintf(err, errlen, "between 1 and %d interfaces, not %u", WORKER_PORTS_MAX,
                         c->nifs);
                return -EINVAL;
        }
        if (!c->nworkers || c->nworkers > WORKER_MAX || c->nworkers > LB_XSKS_MAX) {
                snprintf(err, errlen, "between 1 and %d workers, not %u", WORKER_MAX, c->nworkers);
                return -EINVAL;
        }
        if (c->nsources > WORKER_SOURCES_MAX) {
                snprintf(err, errlen, "at most %d source addresses, not %u", WORKER_SOURCES_MAX,
                         c->nsources);
                return -EINVAL;
        }
        if (!c->ops || !c->ops->handle) {
                snprintf(err, errlen, "no packet handler");
                return -EINVAL;
        }
        return 0;
}

static int attach_redirectors(struct dataplane *dp, char *err, size_t errlen)
{
        const struct dataplane_cfg *c = &dp->cfg;
        int e;

        for (uint32_t i = 0; i < c->nifs; i++) {
                e = redirector__attach(&dp->redir[i], c->ifnames[i], c->xdp_mode, c->ipv6, err,
                                       errlen);
                if (e)
                        return e;
                for (uint32_t l = 0; l < c->nlisteners && !e; l++)
                        e = redirector__add_listener(dp->redir[i], &c->listeners[l], l);
                for (uint32_t s = 0; s < c->nsources && !e; s++)
                        e = redirector__add_source(dp->redir[i], &c->sources[s].key,
                                                   c->sources[s].port_lo, c->sources[s].port_hi);
                if (!e)
                        e = redirector__set_syn_limit(dp->redir[i], c->syn_rate, c->syn_burst);
                if (!e)
                        e = redirector__set_client_limit(dp->redir[i], c->per_source_rate,
                                                         c->per_source_burst,
                                                         c->per_source_prefix6);
                if (e) {
                        snprintf(err, errlen, "%s: cannot fill the redirector's maps: %s",
                                 c->ifnames[i], strerror(-e));
                        return e;
                }
        }
        return 0;
}

static int open_ports(struct dataplane *dp, char *err, size_t errlen)
{
        const struct dataplane_cfg *c = &dp->cfg;
        int e;

        for (uint32_t w = 0; w < c->nworkers; w++) {
                for (uint32_t i = 0; i < c->nifs; i++) {
                        struct xsk_port_cfg pc = {.ifname = c->ifnames[i],
                                                  .queue = w,
                                                  .mode = c->xsk_mode,
                                                  .ring_size = c->ring_size,
                                                  .busy_poll_us = c->busy_poll_us,
                                                  .busy_budget = c->busy_budget};

                        e = xsk_port__open(&dp->ports[w][i], dp->uset, &pc, &dp->caches[w], err,
                                           errlen);
                        if (e)
                                return e;
                        e = redirector__set_xsk(dp->redir[i], w, xsk_port__fd(dp->ports[w][i]));
                        if (e) {
                                snprintf(err, errlen, "%s queue %u: cannot register the socket: %s",
                                         c->ifnames[i], w, strerror(-e));
                                return e;
                        }
                }
        }
        return 0;
}

static int make_rings(struct dataplane *dp)
{
        for (uint32_t a = 0; a < dp->cfg.nworkers; a++)
                for (uint32_t b = 0; b < dp->cfg.nworkers; b++) {
                        int e;

                        if (a == b)
                                continue;
                        e = handover_ring__new(&dp->rings[a][b], HANDOVER_SIZE);
                        if (e)
                                return e;
                }
        return 0;
}

static void worker_cfg_for(struct dataplane *dp, uint32_t w, struct worker_cfg *wc)
{
        const struct dataplane_cfg *c = &dp->cfg;

        memset(wc, 0, sizeof(*wc));
        wc->id = w;
        wc->nworkers = c->nworkers;
        wc->core = c->pin ? c->cores[w] : -1;
        wc->nports = c->nifs;
        for (uint32_t i = 0; i < c->nifs; i++) {
                wc->ports[i] = dp->ports[w][i];
                wc->fds[i] = xsk_port__fd(dp->ports[w][i]);
        }
        wc->cache = &dp->caches[w];
        for (uint32_t o = 0; o < c->nworkers; o++) {
                wc->inbox[o] = dp->rings[o][w];
                wc->outbox[o] = dp->rings[w][o];
        }
        wc->sources = dp->sources;
        wc->nsources = c->nsources;
        wc->idle_rounds = c->busy_poll_us ? 0 : 64;
        wc->ops = c->ops;
        wc->ctx = c->ctx[w];
        wc->stop = &dp->stop;
        for (uint32_t o = 0; o < c->nworkers; o++)
                wc->wake[o] = &dp->wakes[o];
}

/* The eventfds that wake a sleeping worker for a handed-over frame. */
static int make_wakes(struct dataplane *dp)
{
        for (uint32_t w = 0; w < WORKER_MAX; w++)
                dp->wakes[w].fd = -1;
        if (dp->cfg.nworkers < 2)
                return 0;
        for (uint32_t w = 0; w < dp->cfg.nworkers; w++)
                if ((dp->wakes[w].fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
                        return -errno;
        return 0;
}

static int start_threads(struct dataplane *dp, char *err, size_t errlen)
{
        for (uint32_t w = 0; w < dp->cfg.nworkers; w++) {
                pthread_attr_t attr;
                int e;

                pthread_attr_init(&attr);
                if (dp->cfg.pin) {
                        cpu_set_t set;

                        CPU_ZERO(&set);
                        CPU_SET(dp->cfg.cores[w], &set);
                        pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
                }
                e = pthread_create(&dp->threads[w], &attr, worker__run, &dp->workers[w]);
                pthread_attr_destroy(&attr);
                if (e) {
                        snprintf(err, errlen, "worker %u: cannot start its thread%s: %s", w,
                                 dp->cfg.pin ? " on its core" : "", strerror(e));
                        return -e;
                }
                dp->nthreads++;
        }
        return 0;
}

int dataplane__start(struct dataplane **out, const struct dataplane_cfg *cfg, char *err,
                     size_t errlen)
{
        struct dataplane *dp;
        int e = check_cfg(cfg, err, errlen);

        if (e)
                return e;
        dp = calloc(1, sizeof(*dp));
        if (!dp)
                return -ENOMEM;
        dp->cfg = *cfg;
        e = make_wakes(dp);
        if (e) {
                snprintf(err, errlen, "cannot make the workers' eventfds: %s", strerror(-e));
                goto fail;
        }
        for (uint32_t s = 0; s < cfg->nsources; s++) {
                dp->sources[s].addr.family = cfg->sources[s].key.family;
                memcpy(dp->sources[s].addr.addr, cfg->sources[s].key.addr, 16);
                dp->sources[s].port_lo = cfg->sources[s].port_lo;
                dp->sources[s].port_hi = cfg->sources[s].port_hi;
        }
        e = attach_redirectors(dp, err, errlen);
        if (e)
                goto fail;
        e = umem_area__map(&dp->area, cfg->frames ? cfg->frames : default_frames(cfg),
                           UMEM_FRAME_SIZE, cfg->huge_pages);
        if (!e)
                e = frame_pool__new(&dp->pool, dp->area.frames, dp->area.frame_size);
        if (!e)
                e = xsk_umem_set__new(&dp->uset, &dp->area, cfg->ring_size);
        if (e) {
                snprintf(err, errlen, "cannot set up the UMEM (%u frames): %s",
                         cfg->frames ? cfg->frames : default_frames(cfg), strerror(-e));
                goto fail;
        }
        dp->caches = calloc(cfg->nworkers, sizeof(*dp->caches));
        dp->workers = calloc(cfg->nworkers, sizeof(*dp->workers));
        if (!dp->caches || !dp->workers) {
                e = -ENOMEM;
                goto fail;
        }
        for (uint32_t w = 0; w < cfg->nworkers; w++)
                frame_cache__init(&dp->caches[w], dp->pool);
        e = open_ports(dp, err, errlen);
        if (e)
                goto fail;
        e = make_rings(dp);
        if (e) {
                snprintf(err, errlen, "cannot allocate the handover rings: %s", strerror(-e));
                goto fail;
        }
        for (uint32_t w = 0; w < cfg->nworkers; w++) {
                struct worker_cfg wc;

                worker_cfg_for(dp, w, &wc);
                worker__init(&dp->workers[w], &wc);
        }
        e = start_threads(dp, err, errlen);
        if (e)
                goto fail;
        *out = dp;
        return 0;
fail:
        dataplane__stop(dp);
        dataplane__free(dp);
        return e;
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t tx_in_flight(struct dataplane *dp)
{
        uint64_t n = 0;

        for (uint32_t w = 0; w < dp->cfg.nworkers; w++)
                for (uint32_t i = 0; i < dp->cfg.nifs; i++)
                        if (dp->ports[w][i]) {
                                port__flush(dp->ports[w][i]);
                                n += xsk_port__tx_in_flight(dp->ports[w][i]);
                        }
        return n;
}

void dataplane__stop(struct dataplane *dp)
{
        if (!dp)
                return;
        atomic_store(&dp->stop, true);
        for (uint32_t t = 0; t < dp->nthreads; t++) /* an idle one sleeps up to 100 ms */
                if (dp->wakes[t].fd >= 0)
                        (void)eventfd_write(dp->wakes[t].fd, 1);
        for (uint32_t t = 0; t < dp->nthreads; t++)
                pthread_join(dp->threads[t], NULL);
        dp->nthreads = 0;
        dataplane__wait_tx(dp);
}

struct worker *dataplane__worker(struct dataplane *dp, uint32_t w)
{
        return w < dp->cfg.nworkers ? &dp->workers[w] : NULL;
}

void dataplane__wait_tx(struct dataplane *dp)
{
        uint64_t deadline;

        /* frames still on TX complete within microseconds; 200 ms is generous */
        deadline = now_ms() + 200;
        while (tx_in_flight(dp) && now_ms() < deadline) {
                struct timespec ts = {0, 1000000};

                nanosleep(&ts, NULL);
        }
}

void dataplane__ledger(struct dataplane *dp, struct dataplane_ledger *l)
{
        memset(l, 0, sizeof(*l));
        if (!dp->pool)
                return;
        l->total = frame_pool__total(dp->pool);
        l->pool = frame_pool__count(dp->pool);
        for (uint32_t w = 0; w < dp->cfg.nworkers; w++) {
                l->caches += dp->caches[w].n;
                for (uint32_t i = 0; i < dp->cfg.nifs; i++)
                        if (dp->ports[w][i])
                                l->in_kernel += xsk_port__in_kernel(dp->ports[w][i]);
                for (uint32_t o = 0; o < dp->cfg.nworkers; o++)
                        if (dp->rings[w][o])
                                l->handover += handover_ring__count(dp->rings[w][o]);
        }
        l->sum = l->pool + l->caches + l->in_kernel + l->handover;
}

void dataplane__free(struct dataplane *dp)
{
        if (!dp)
                return;
        for (uint32_t w = 0; w < WORKER_MAX; w++) {
                for (uint32_t i = 0; i < WORKER_PORTS_MAX; i++) {
                        if (dp->ports[w][i] && dp->redir[i])
                                redirector__set_xsk(dp->redir[i], w, -1);
                        port__close(dp->ports[w][i]);
                }
                for (uint32_t o = 0; o < WORKER_MAX; o++)
                        handover_ring__free(dp->rings[w][o]);
        }
        for (uint32_t i = 0; i < WORKER_PORTS_MAX; i++)
                redirector__detach(dp->redir[i]);
        for (uint32_t w = 0; w < WORKER_MAX; w++)
                if (dp->wakes[w].fd >= 0)
                        close(dp->wakes[w].fd);
        xsk_umem_set__free(dp->uset);
        if (dp->caches)
                for (uint32_t w = 0; w < dp->cfg.nworkers; w++)
                        frame_cache__drain(&dp->caches[w]);
        free(dp->caches);
        free(dp->workers);
        frame_pool__free(dp->pool);
        umem_area__unmap(&dp->area);
        free(dp);
}

uint32_t dataplane__nworkers(const struct dataplane *dp)
{
        return dp->cfg.nworkers;
}

void dataplane__worker_stats(const struct dataplane *dp, uint32_t w, struct worker_stats *out)
{
        worker__stats(&dp->workers[w], out);
}

#define DATAPLANE_KERNEL_NAME_(name, doc) #name,
const char *const dataplane_kernel_counter_names[] = {
    DATAPLANE_KERNEL_COUNTERS(DATAPLANE_KERNEL_NAME_)};

void dataplane__kernel_stats(const struct dataplane *dp, uint32_t w,
                             struct dataplane_kernel_stats *out)
{
        memset(out, 0, sizeof(*out));
        for (uint32_t i = 0; i < dp->cfg.nifs; i++) {
                struct xdp_statistics st;

                if (!dp->ports[w][i] || xsk_port__kernel_stats(dp->ports[w][i], &st))
                        continue;
                out->kernel_rx_ring_full += st.rx_ring_full;
                out->kernel_rx_dropped += st.rx_dropped + st.rx_invalid_descs;
                out->kernel_fill_empty += st.rx_fill_ring_empty_descs;
                out->kernel_tx_invalid += st.tx_invalid_descs;
        }
}

int dataplane__xdp_counters(const struct dataplane *dp, uint32_t i, uint64_t *out)
{
        return redirector__counters(dp->redir[i], out);
}

int dataplane__set_syn_limit(struct dataplane *dp, uint32_t rate, uint32_t burst)
{
        for (uint32_t i = 0; i < dp->cfg.nifs; i++) {
                int e = redirector__set_syn_limit(dp->redir[i], rate, burst);

                if (e)
                        return e;
        }
        return 0;
}

int dataplane__set_client_limit(struct dataplane *dp, uint32_t rate, uint32_t burst,
                                uint32_t prefix6)
{
        for (uint32_t i = 0; i < dp->cfg.nifs; i++) {
                int e = redirector__set_client_limit(dp->redir[i], rate, burst, prefix6);

                if (e)
                        return e;
        }
        return 0;
}

bool dataplane__zerocopy(const struct dataplane *dp)
{
        return dp->ports[0][0] && xsk_port__zerocopy(dp->ports[0][0]);
}

bool dataplane__xdp_native(const struct dataplane *dp, uint32_t i)
{
        return redirector__native(dp->redir[i]);
}

bool dataplane__huge_pages(const struct dataplane *dp)
{
        return dp->area.huge;
}
