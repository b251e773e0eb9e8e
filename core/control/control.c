/*
 * The control thread's loop (control.h) on io_uring: a poll on the netlink
 * watch socket, a timeout for the periodic rebuild, and an eventfd to stop.
 * Never on the packet path; it may block (netlink round trips, RCU grace
 * periods) without holding anything a worker waits for.
 */
#include "core/control/control.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <urcu-qsbr.h>

enum { EV_WATCH = 1, EV_TIMER, EV_STOP, EV_CALL, EV_IGNORE, EV_USER = 16 };

/* A watched fd: user data EV_USER + slot, plus its generation in the high
 * half so a completion for an fd no longer watched is told apart. */
struct control_watch {
        int fd; /* -1: none */
        control_fn *cb;
        void *ctx;
        uint32_t gen;
        bool armed;
};

struct control_req {
        control_fn *fn;
        void *ctx;
        bool done;
        struct control_req *next;
};

struct control {
        struct control_cfg cfg;
        struct ip_addr *dsts;
        struct nh_resolver *resolver;
        struct nh_watch *watch;
        struct io_uring ring;
        bool ring_ok;
        int stop_fd;
        pthread_t thread;
        bool running;
        struct nh_table *table; /* RCU-published */
        _Atomic uint64_t generation;
        struct control_watch watches[CONTROL_WATCHES];
        uint32_t nwatches;
        int call_fd;
        pthread_mutex_t lock; /* calls: the queue and their completion */
        pthread_cond_t done;
        struct control_req *calls;
};

/* Builds a new table and publishes it; the old one goes after a grace period. */
static void refresh(struct control *c)
{
        struct nh_table *t, *old;

        if (nh_table__build(c->resolver, c->dsts, c->cfg.nnexthops, &t))
                return; /* keep the table we have; the timer tries again */
        old = rcu_xchg_pointer(&c->table, t);
        if (old) {
                synchronize_rcu();
                nh_table__free(old);
        }
        atomic_fetch_add(&c->generation, 1);
}

static void arm_watch(struct control *c)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

        io_uring_prep_poll_add(sqe, nh_watch__fd(c->watch), POLLIN);
        io_uring_sqe_set_data64(sqe, EV_WATCH);
}

static void arm_timer(struct control *c, struct __kernel_timespec *ts)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

        io_uring_prep_timeout(sqe, ts, 0, 0);
        io_uring_sqe_set_data64(sqe, EV_TIMER);
}

static uint64_t watch_tag(uint32_t slot, uint32_t gen)
{
        return ((uint64_t)gen << 32) | (EV_USER + slot);
}

static void arm_user(struct control *c, uint32_t slot)
{
        struct control_watch *w = &c->watches[slot];
        struct io_uring_sqe *sqe;

        if (w->fd < 0 || w->armed)
                return;
        sqe = io_uring_get_sqe(&c->ring);
        if (!sqe) { /* full: submit what is queued and take the next */
                io_uring_submit(&c->ring);
                sqe = io_uring_get_sqe(&c->ring);
        }
        io_uring_prep_poll_add(sqe, w->fd, POLLIN);
        io_uring_sqe_set_data64(sqe, watch_tag(slot, w->gen));
        w->armed = true;
}

static void on_user(struct control *c, uint64_t tag)
{
        uint32_t slot = (uint32_t)tag - EV_USER;
        struct control_watch *w;

        if (slot >= c->nwatches)
                return;
        w = &c->watches[slot];
        if ((uint32_t)(tag >> 32) != w->gen)
                return; /* a poll on an fd no longer watched, cancelled */
        w->armed = false;
        if (w->fd >= 0) {
                w->cb(w->ctx);
                arm_user(c, slot);
        }
}

static void arm_call(struct control *c, uint64_t *buf)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

        io_uring_prep_read(sqe, c->call_fd, buf, sizeof(*buf), 0);
        io_uring_sqe_set_data64(sqe, EV_CALL);
}

static void run_calls(struct control *c)
{
        struct control_req *r;

        pthread_mutex_lock(&c->lock);
        while ((r = c->calls)) {
                c->calls = r->next;
                pthread_mutex_unlock(&c->lock);
                r->fn(r->ctx);
                pthread_mutex_lock(&c->lock);
                r->done = true;
                pthread_cond_broadcast(&c->done);
        }
        pthread_mutex_unlock(&c->lock);
}

int control__watch(struct control *c, int fd, control_fn *cb, void *ctx)
{
        uint32_t slot = c->nwatches;

        if (slot == CONTROL_WATCHES)
                return -ENOSPC;
        c->watches[slot] = (struct control_watch){.fd = fd, .cb = cb, .ctx = ctx};
        c->nwatches++;
        if (c->running)
                arm_user(c, slot);
        return (int)slot;
}

void control__rewatch(struct control *c, int slot, int fd)
{
        struct control_watch *w = &c->watches[slot];

        if (w->armed) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

                if (!sqe) {
                        io_uring_submit(&c->ring);
                        sqe = io_uring_get_sqe(&c->ring);
                }
                io_uring_prep_cancel64(sqe, watch_tag((uint32_t)slot, w->gen), 0);
                io_uring_sqe_set_data64(sqe, EV_IGNORE);
                io_uring_submit(&c->ring); /* cancelled before the caller closes the fd */
        }
        w->gen++;
        w->armed = false;
        w->fd = fd;
        if (c->running)
                arm_user(c, (uint32_t)slot);
}

void control__call(struct control *c, control_fn *fn, void *ctx)
{
        struct control_req r = {.fn = fn, .ctx = ctx};
        uint64_t one = 1;

        if (!c->running || pthread_equal(pthread_self(), c->thread)) {
                fn(ctx);
                return;
        }
        pthread_mutex_lock(&c->lock);
        r.next = c->calls;
        c->calls = &r;
        pthread_mutex_unlock(&c->lock);
        if (write(c->call_fd, &one, sizeof(one)) != sizeof(one))
                abort(); /* an eventfd write cannot fail below its maximum */
        pthread_mutex_lock(&c->lock);
        while (!r.done)
                pthread_cond_wait(&c->done, &c->lock);
        pthread_mutex_unlock(&c->lock);
}

int control__set_nexthops(struct control *c, const struct ip_addr *dsts, size_t n)
{
        struct ip_addr *d = calloc(n ? n : 1, sizeof(*d));

        if (!d)
                return -ENOMEM;
        if (n)
                memcpy(d, dsts, n * sizeof(*d));
        free(c->dsts);
        c->dsts = d;
        c->cfg.nnexthops = n;
        c->cfg.nexthops = NULL; /* the caller's array is not kept */
        if (c->running)
                refresh(c);
        return 0;
}

static void *control_loop(void *arg)
{
        struct control *c = arg;
        uint32_t ms = c->cfg.refresh_ms ? c->cfg.refresh_ms : 1000;
        struct __kernel_timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        struct io_uring_sqe *sqe;
        struct io_uring_cqe *cqe;
        uint64_t stop_buf, call_buf;
        bool stop = false;

        pthread_setname_np(pthread_self(), "mqttlb-ctl");
        arm_watch(c);
        arm_timer(c, &ts);
        sqe = io_uring_get_sqe(&c->ring);
        io_uring_prep_read(sqe, c->stop_fd, &stop_buf, sizeof(stop_buf), 0);
        io_uring_sqe_set_data64(sqe, EV_STOP);
        arm_call(c, &call_buf);
        for (uint32_t i = 0; i < c->nwatches; i++)
                arm_user(c, i);
        while (!stop) {
                bool dirty = false;

                io_uring_submit_and_wait(&c->ring, 1);
                unsigned head, seen = 0;

                io_uring_for_each_cqe(&c->ring, head, cqe)
                {
                        seen++;
                        switch (io_uring_cqe_get_data64(cqe)) {
                        case EV_WATCH:
                                if (nh_watch__drain(c->watch, c->table) > 0)
                                        dirty = true;
                                arm_watch(c);
                                break;
                        case EV_TIMER:
                                dirty = true;
                                arm_timer(c, &ts);
                                break;
                        case EV_STOP: stop = true; break;
                        case EV_CALL:
                                run_calls(c);
                                arm_call(c, &call_buf);
                                break;
                        case EV_IGNORE: break;
                        default: on_user(c, io_uring_cqe_get_data64(cqe)); break;
                        }
                }
                io_uring_cq_advance(&c->ring, seen);
                if (dirty && !stop)
                        refresh(c);
        }
        return NULL;
}

int control__start(struct control **out, const struct control_cfg *cfg, char *err, size_t errlen)
{
        struct control *c = calloc(1, sizeof(*c));
        int e;

        if (!c)
                return -ENOMEM;
        c->cfg = *cfg;
        c->stop_fd = c->call_fd = -1;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->done, NULL);
        c->dsts = calloc(cfg->nnexthops ? cfg->nnexthops : 1, sizeof(*c->dsts));
        if (!c->dsts) {
                e = -ENOMEM;
                goto fail;
        }
        if (cfg->nnexthops)
                memcpy(c->dsts, cfg->nexthops, cfg->nnexthops * sizeof(*c->dsts));
        if ((e = nh_resolver__new(&c->resolver)) || (e = nh_watch__new(&c->watch))) {
                snprintf(err, errlen, "netlink: %s", strerror(-e));
                goto fail;
        }
        e = io_uring_queue_init(32, &c->ring, 0);
        if (e) {
                snprintf(err, errlen, "io_uring: %s", strerror(-e));
                goto fail;
        }
        c->ring_ok = true;
        c->stop_fd = eventfd(0, EFD_CLOEXEC);
        c->call_fd = eventfd(0, EFD_CLOEXEC);
        if (c->stop_fd < 0 || c->call_fd < 0) {
                e = -errno;
                snprintf(err, errlen, "eventfd: %s", strerror(-e));
                goto fail;
        }
        e = nh_table__build(c->resolver, c->dsts, cfg->nnexthops, &c->table);
        if (e) {
                snprintf(err, errlen, "next hops: %s", strerror(-e));
                goto fail;
        }
        atomic_store(&c->generation, 1);
        c->running = true; /* before the thread reads it */
        e = pthread_create(&c->thread, NULL, control_loop, c);
        if (e) {
                c->running = false;
                e = -e;
                snprintf(err, errlen, "cannot start the control thread: %s", strerror(-e));
                goto fail;
        }
        *out = c;
        return 0;
fail:
        control__stop(c);
        return e;
}

void control__stop(struct control *c)
{
        if (!c)
                return;
        if (c->running) {
                uint64_t one = 1;

                if (write(c->stop_fd, &one, sizeof(one)) == sizeof(one))
                        pthread_join(c->thread, NULL);
        }
        if (c->stop_fd >= 0)
                close(c->stop_fd);
        if (c->call_fd >= 0)
                close(c->call_fd);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->done);
        if (c->ring_ok)
                io_uring_queue_exit(&c->ring);
        nh_table__free(c->table);
        nh_watch__free(c->watch);
        nh_resolver__free(c->resolver);
        free(c->dsts);
        free(c);
}

const struct nh_table *control__nexthops(const struct control *c)
{
        return rcu_dereference(c->table);
}

uint64_t control__generation(const struct control *c)
{
        return atomic_load(&c->generation);
}
